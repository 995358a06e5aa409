"""Sign-in for the app: the visitor's account, the sign-in forms, the gate and the role check.

Accounts live in :class:`mcalc.access.UsersFile` (the owner); this module is only the
Streamlit side of it: who is signed in (in ``st.session_state``), the password form
(streamlit-authenticator's checks over the file's bcrypt hashes) or OpenID Connect through
``st.login``, the sign-in cookie, and the message of a role that may not do something.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from mcalc.access import (
    SIGN_IN_THROTTLE,
    SIGN_OUTS,
    AccessError,
    AuthMode,
    UsersFile,
    allows,
    required_role,
)
from mcalc.errors import McalcError, suggested_command

#: The signed-in account of this browser session: {"name": ..., "role": ...}.
USER_KEY = "mcalc_user"
#: When this session's sign-in happened (Unix seconds; a cookie's: when it was issued): a
#: sign-out of the account since, in another tab or window, ends it (mcalc.access.signouts).
SINCE_KEY = "mcalc_signed_in_at"
#: Why this session was signed out (a sign-out elsewhere, its sign-in expired): the form
#: says so once.
_ENDED_KEY = "mcalc_signed_out_elsewhere"
_WHY_ENDED = {
    "elsewhere": "You were signed out: this account signed out in another tab or window, "
    "which ends its sessions on this server. Sign in again to go on.",
    "expired": "Your sign-in expired (a sign-in lasts as long as its cookie: `expiry_days` "
    "of the users file). Sign in again to go on.",
}


def current_user() -> dict[str, str] | None:
    """The signed-in account (``name``, ``role``), or ``None`` (demo mode, accounts off)."""
    user = st.session_state.get(USER_KEY)
    return dict(user) if isinstance(user, dict) else None


def current_role() -> str:
    """The role that decides what this visitor may do; without accounts, every role."""
    user = current_user()
    return user["role"] if user else "admin"


#: Who a record names when no one signed in (demo mode, or accounts off): a record that
#: named nobody read "(set on 2026-12-06)" in `models default`, as if the name were lost.
NO_ACCOUNT = "a visitor of the app (no account)"


def acting_name() -> str:
    """The name an action is recorded under: the signed-in account's, else :data:`NO_ACCOUNT`."""
    user = current_user()
    return user["name"] if user else NO_ACCOUNT


def _oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section for ``st.login``."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises its own types
        return False


def _sign_in_with_provider(accounts: UsersFile) -> dict[str, str] | None:
    """OpenID Connect through ``st.login``; the e-mail must belong to a listed account."""
    if not st.user.get("is_logged_in", False):
        st.button("Sign in with your organisation's account", key="app_oidc", on_click=st.login)
        return None
    try:
        user = accounts.account_for_claims(st.user.to_dict())
    except AccessError as exc:
        st.error(f"Not signed in: {exc}")
        st.button("Sign out", key="app_oidc_out", on_click=st.logout)
        return None
    return {"name": user.name, "role": user.role, "via": "oidc"}


def _sign_in_with_password(accounts: UsersFile) -> dict[str, str] | None:
    """A sign-in form checked by streamlit-authenticator over the users file's bcrypt hashes.

    The form is drawn here rather than by ``Authenticate.login``: that one also draws the
    library's cookie component (an iframe, key ``init``) whose value arrives by a rerun of
    its own, at a time the browser decides. When it came while the run of a Sign in click
    was still going (the frame remounts it when the first run of a deep link is followed by
    the app's own), that run was cut short before the password was checked and the click
    signed nobody in (about 2 runs in 6 of the browser test on a busy machine). The app
    reads and writes the cookie itself (:func:`_user_from_cookie`, :func:`_write_cookie`),
    so nothing in the sign-in asks for a rerun but the click; and the library's 0.7 s
    pause before every drawing of its form goes too.
    """
    from streamlit_authenticator.controllers import AuthenticationController

    config = accounts.authenticator_config()
    # auto_hash=False: the file holds hashes only; never hash (or accept) plain text.
    check = AuthenticationController(config["credentials"], auto_hash=False)
    if not st.session_state.get("authentication_status"):
        with st.form("app_login"):
            st.header("Sign in to mcalc")
            name = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            if not st.form_submit_button("Sign in"):
                return None
        # Server-wide, per name: the library counts attempts per browser session only.
        wait = SIGN_IN_THROTTLE.wait(name)
        if wait > 0:
            st.error(
                "Too many wrong passwords for this user name on this server: try again in "
                f"{wait:.0f} s (or ask an admin)."
            )
            return None
        # As the library reads the name. An unknown one costs the same password check as
        # an account's: the time of the answer does not tell which names are accounts.
        known = accounts.get(name.strip().lower()) if name and password else None
        if name and password and (known is None or not known.has_password):
            accounts.verify(name, password)
            SIGN_IN_THROTTLE.failed(name)
            st.error("Wrong user name or password.")
            return None
        try:
            check.login(name, password)
        except Exception as exc:  # the library raises its own error types (LoginError...)
            SIGN_IN_THROTTLE.failed(name)
            st.error(f"Sign-in failed: {exc}")
            return None
        if not st.session_state.get("authentication_status"):
            SIGN_IN_THROTTLE.failed(name)
            st.error("Wrong user name or password.")
            return None
        SIGN_IN_THROTTLE.succeeded(name)
    user = accounts.get(str(st.session_state.get("username")))
    if user is None:  # removed since: the form again on the next run
        st.session_state["authentication_status"] = None
        return None
    return {"name": user.name, "role": user.role, "via": "password"}


def _sign_out(record: bool = True) -> None:
    """Sign this session out; ``record``: the reader's own *Sign out*, which ends every
    session of the account on this server at its next run (other tabs and windows), not a
    sign-out this one is made to do (its account removed, or signed out elsewhere)."""
    user = current_user()
    if record and user is not None:
        SIGN_OUTS.record(user["name"])
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(SINCE_KEY, None)
    for key in ("authentication_status", "username", "name", "roles"):
        st.session_state[key] = None
    st.session_state["logout"] = True  # streamlit-authenticator then ignores its cookie
    st.session_state[_FORGET_COOKIE] = True  # the gate's next run deletes it in the browser
    if _oidc_configured() and st.user.get("is_logged_in", False):
        st.logout()


#: Set by a sign-out: the next run deletes the sign-in cookie in the browser.
_FORGET_COOKIE = "mcalc_forget_cookie"


def _write_cookie(name: str, value: str, expires: float) -> None:
    """Set (or with ``expires`` in the past, delete) a cookie in the browser.

    A script in the page itself, run as soon as the browser receives it: the cookie
    component of streamlit-authenticator is an iframe that must load first, and a rerun
    right after the sign-in removed it before it had set the cookie (a reload then asked
    for the password again).
    """
    import json
    from email.utils import formatdate

    cookie = f"{name}={value}; path=/; expires={formatdate(expires, usegmt=True)}; SameSite=Strict"
    # Secure over https (behind the README's TLS proxy: this server sees plain http), so
    # that the browser never sends it in clear to an http:// address of the same host.
    secure = 'location.protocol === "https:" ? "; Secure" : ""'
    st.sidebar.html(
        f"<script>document.cookie = {json.dumps(cookie)} + ({secure});</script>",
        unsafe_allow_javascript=True,
    )


def _user_from_cookie(accounts: UsersFile) -> dict[str, str] | None:
    """The account of a valid sign-in cookie sent with this page load (a reload, a deep
    link): signed in at once, before anything is drawn. Not after a sign-out here."""
    if st.session_state.get("logout") or not accounts.exists():
        return None
    try:
        found = accounts.cookie_sign_in(st.context.cookies)
    except McalcError:
        return None
    if found is None or SIGN_OUTS.ended(found[0].name, found[1]):
        return None  # a cookie from before a sign-out (the page load's, still sent)
    user, issued = found
    st.session_state[SINCE_KEY] = issued
    return {"name": user.name, "role": user.role, "via": "password"}


def access_gate(
    mode: AuthMode, accounts: UsersFile, back: Callable[[], None] | None = None
) -> None:
    """Sign-in when ``mode`` asks for it: nothing else (no image) is drawn until then.

    ``accounts``: the users file of this server (:func:`pages.common.users_file`).
    ``back``: opens the synthetic demo, offered where no account exists yet (the demo
    needs none in ``MCALC_AUTH=auto``): a real dataset named by the address left the
    visitor on a form nobody could sign in with, with no sidebar, a reload the only way out.
    """
    if mode.kind == "demo":
        st.session_state.pop(USER_KEY, None)
        st.sidebar.caption(":orange-background[demo mode, no accounts] synthetic data only")
        return
    if mode.kind == "off":
        st.session_state.pop(USER_KEY, None)
        st.warning(
            "Accounts are turned off (`MCALC_AUTH=off`): anyone who reaches this server sees "
            "every image and writes under any name.",
            icon=":material/lock_open:",
        )
        return
    if current_user() is not None:
        name = current_user()["name"]  # type: ignore[index]
        known = accounts.get(name)
        since = float(st.session_state.get(SINCE_KEY, 0.0))
        ended = SIGN_OUTS.ended(name, since)
        # As old as a cookie lives: a tab left open stayed signed in for ever.
        expired = accounts.sign_in_expired(since)
        # A new password (or the name removed and given again) since the sign-in ends it.
        if known is not None and not ended and not expired and since >= known.sessions_from:
            # role changes take effect at once
            st.session_state[USER_KEY] = {**current_user(), "role": known.role}  # type: ignore[dict-item]
            return
        st.session_state[_ENDED_KEY] = "elsewhere" if ended else "expired" if expired else ""
        _sign_out(record=False)  # removed, or signed out in another tab or window
    user = _user_from_cookie(accounts)
    if user is not None:
        st.session_state[USER_KEY] = user
        return
    if st.session_state.pop(_FORGET_COOKIE, False):
        _write_cookie(accounts.authenticator_config()["cookie"]["name"], "", 0.0)
    # The sign-in is drawn in a slot that is emptied once it succeeds; the page then draws
    # in the same run (no rerun: nothing left behind half-done).
    slot = st.empty()
    with slot.container():
        st.title("mcalc")
        st.caption(f"{mode.reason}.")
        why = _WHY_ENDED.get(st.session_state.pop(_ENDED_KEY, ""))
        if why:
            st.info(why, icon=":material/logout:")
        if not accounts.exists() and not _oidc_configured():
            add = suggested_command(
                "users", "--file", accounts.path, "add", "NAME", "--role", "admin"
            )
            st.error(
                f"No accounts exist yet ({accounts.path}). Create the first one on the server: "
                f"`{add}`. (To run without accounts, which shows every image to anyone who "
                "reaches this server, set `MCALC_AUTH=off`.)"
            )
            if back is not None:
                st.button(
                    "Open the demo data instead",
                    key="app_signin_demo",
                    icon=":material/arrow_back:",
                    on_click=back,
                    help="The synthetic demo needs no account.",
                )
            st.stop()
        user = _sign_in_with_provider(accounts) if _oidc_configured() else None
        if user is None and accounts.exists():
            user = _sign_in_with_password(accounts)
    if user is None:
        st.stop()
    slot.empty()
    st.session_state[USER_KEY] = user
    st.session_state[SINCE_KEY] = time.time()
    if user.get("via") == "password":
        cookie = accounts.sign_in_cookie(user["name"])
        if cookie is not None:
            _write_cookie(cookie.name, cookie.value, cookie.expires)


#: Asks before *Sign out* while the reader has marks not saved in the reading viewer (its
#: image now, or drafts it keeps in the tab for images left: components/viewer's
#: ``__mcalcViewerDrafts``, by ``[reader, image]``). Signing out lost them without a word,
#: and the drafts stayed in the tab, where the next reader's reload asked about them (a
#: radiologist's walk, 7 December 2026). Cancel stays signed in with the marks; OK discards
#: them, as said, so that nothing of this reader's is left in the tab. The viewer's frame,
#: when one is open, says which of its marks are unsaved (``__mcalcViewerLive``, set by its
#: own capture listener on the window, which runs before this one on the document) and
#: keeps nothing at its unmount when told they were discarded (``__mcalcViewerDiscard``).
_SIGN_OUT_GUARD = """<script>
(() => {
  const w = window;
  w.__mcalcSignOutReader = READER;
  if (w.__mcalcSignOutGuard) return;
  w.__mcalcSignOutGuard = true;
  document.addEventListener("click", (e) => {
    if (!(e.target instanceof Element) || !e.target.closest(".st-key-app_sign_out button")) return;
    const me = w.__mcalcSignOutReader;
    const drafts = w.__mcalcViewerDrafts instanceof Map ? w.__mcalcViewerDrafts : new Map();
    const mine = [...drafts.keys()].filter((k) => JSON.parse(k)[0] === me);
    const live = w.__mcalcViewerLive || "";
    const n = new Set([...mine, ...(live && JSON.parse(live)[0] === me ? [live] : [])]).size;
    if (n === 0) return;
    const what = n === 1 ? "1 image" : n + " images";
    if (!w.confirm("You have unsaved marks on " + what + " in the reading viewer. Sign out "
        + "and discard them? (Cancel keeps them: save them on Annotate, Save marks.)")) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    mine.forEach((k) => drafts.delete(k));
    if (live) w.__mcalcViewerDiscard = me;
  }, true);
})();
</script>"""


def user_box() -> None:
    """Who is signed in, in the sidebar, with a sign-out button (which asks first while
    the reader has marks not saved in the reading viewer: :data:`_SIGN_OUT_GUARD`)."""
    import json

    user = current_user()
    if user is None:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user['name']}** ({user['role']})")
        st.button("Sign out", key="app_sign_out", on_click=_sign_out)
        st.html(
            _SIGN_OUT_GUARD.replace("READER", json.dumps(user["name"])),
            unsafe_allow_javascript=True,
        )


def may(action: str) -> bool:
    """Whether the visitor's role may do ``action`` (a key of :data:`mcalc.access.ACTIONS`)."""
    return allows(current_role(), action)


def require(action: str) -> None:
    """Stop the page with a message when the visitor's role may not ``action``."""
    if not may(action):
        st.error(
            f"Your role ({current_role()}) cannot open this page: it needs "
            f"{required_role(action)} or above. Ask an admin."
        )
        st.stop()
