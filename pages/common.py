"""UI helpers shared by the pages: the frame, the dataset in use, cached loaders, banners.

Only Streamlit glue lives here; all work is done by :mod:`mcalc`.

Why every page calls :func:`frame`: ``app.py`` runs the frame and then the page through
``st.navigation``. But because this repository has a ``pages/`` folder, Streamlit runs a
page script *directly* (its v1 multipage mode) when a browser's first request is a deep
link such as ``/browse``, and AppTest does so on every rerun. :func:`frame` is idempotent
within one script run, so the page gets the same frame either way.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from mcalc import viewer
from mcalc.access import AccessError, AuthMode, UsersFile, allows, auth_mode, required_role
from mcalc.cache import ImageCache
from mcalc.config import PathRefused, Settings, check_data_path, get_settings, prepare_tensorflow
from mcalc.dataset import open_dataset
from mcalc.dataset.records import DatasetIndex
from mcalc.errors import McalcError
from mcalc.models.warmup import start_tensorflow_warmup
from pages.server_tuning import tune_server

DATA_KEY = "mcalc_data_path"
# Per script thread, not in session_state: a page that ends with st.stop() must not leave a
# stale "frame already drawn" behind for the next run (session_state writes made while a
# stop unwinds are not reliable; a plain attribute is).
_RUN = threading.local()

#: The app's pages: (script, title, icon). One list for st.navigation and the sidebar menu;
#: pages whose script does not exist (yet) are left out.
PAGES: list[tuple[str, str, str]] = [
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/browse.py", "Browse", ":material/radiology:"),
    ("pages/annotate.py", "Annotate", ":material/edit_location_alt:"),
    ("pages/predict.py", "Predict", ":material/neurology:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate", ":material/monitoring:"),
    ("pages/batch.py", "Batch", ":material/stacks:"),
    ("pages/audit.py", "Audit", ":material/fact_check:"),
]
#: One line per page for the home page.
PAGE_BLURBS: dict[str, str] = {
    "pages/browse.py": "prior and recent exams with the radiologists' annotations",
    "pages/annotate.py": "mark calcifications yourself, compare with the dataset",
    "pages/predict.py": "run a model on a case and explain it, prior beside recent",
    "pages/train.py": "retrain a model in the background with a freeze strategy",
    "pages/evaluate.py": "ROC, sensitivity, specificity; compare models",
    "pages/batch.py": "run a model over the whole dataset in the background; sortable table",
    "pages/audit.py": "readers' verdicts on model predictions, per-model audit table",
}
_ROOT = Path(__file__).resolve().parent.parent


def available_pages() -> list[tuple[str, str, str]]:
    return [p for p in PAGES if (_ROOT / p[0]).is_file()]


def settings() -> Settings:
    return get_settings()


def cli_data_flag(argv: list[str] | None = None) -> str | None:
    """``--data PATH`` given as ``streamlit run app.py -- --data PATH``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.data


def default_data_path() -> str:
    """The dataset to open when the user has not chosen one: flag, then env, then demo."""
    flag = cli_data_flag()
    if flag:
        return flag
    s = settings()
    return str(s.data_dir) if s.data_dir is not None else str(s.demo_dir)


def _tree_token(path: Path) -> float:
    """Changes when files are added to or removed from the dataset's top folders."""
    try:
        token = path.stat().st_mtime
        for child in path.iterdir() if path.is_dir() else []:
            token += child.stat().st_mtime
        return token
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Indexing the dataset…", max_entries=4)
def load_index(path: str, token: float) -> DatasetIndex:
    """The dataset index (cached per path; ``token`` invalidates it when files change)."""
    return open_dataset(path)


@st.cache_resource(show_spinner=False)
def image_cache(cache_dir: str) -> ImageCache:
    s = settings()
    return ImageCache(cache_dir, default_spacing_mm=s.default_pixel_spacing_mm)


def get_image_cache() -> ImageCache:
    return image_cache(str(settings().cache_dir))


@st.cache_data(show_spinner="Checking that every image can be read…", max_entries=4)
def unreadable_images(_index: DatasetIndex, root: str, n_images: int) -> pd.DataFrame:
    """The images of the dataset that cannot be read (left out of every count), cached per
    dataset (``root`` and ``n_images`` are the cache key)."""
    rows = viewer.unreadable_images(get_image_cache(), _index)
    return pd.DataFrame(rows, columns=["image", "file", "reason"])


def skipped_images_ui(index: DatasetIndex, key: str) -> int:
    """Say which images cannot be read and are left out (nothing drawn when all can be);
    returns how many. Large collections are checked on request only."""
    n = len(index.images())
    if n > 120 and not st.toggle("Check that every image can be read", key=key):
        return 0
    frame = unreadable_images(index, str(index.root), n)
    if len(frame):
        st.warning(
            f"{len(frame)} of {n} image(s) cannot be read and are left out of the counts: "
            + ", ".join(frame["image"])
        )
        with st.expander("Images left out and why"):
            st.dataframe(frame, hide_index=True, width="stretch")
    return len(frame)


def current_data_path() -> str:
    if DATA_KEY not in st.session_state:
        st.session_state[DATA_KEY] = default_data_path()
    return str(st.session_state[DATA_KEY])


def current_index() -> DatasetIndex | None:
    """The index of the dataset in use, or ``None`` (with an error drawn) if it cannot open."""
    path = current_data_path()
    try:
        return load_index(path, _tree_token(Path(path)))
    except McalcError as exc:
        st.error(f"The dataset at `{path}` cannot be opened: {exc}")
        st.info(
            "Choose another folder in the sidebar (the folder that holds `Dataset/`, the "
            "`Dataset/` folder itself, or a manifest CSV), or switch back to the demo data."
        )
        return None


def require_index() -> DatasetIndex:
    """The dataset in use, or stop the page with a message."""
    index = current_index()
    if index is None:
        st.stop()
    if not index.cases:
        st.warning("The dataset has no usable case. See the problems listed on the home page.")
        st.stop()
    return index  # type: ignore[return-value]


def synthetic_banner(index: DatasetIndex) -> None:
    if index.synthetic:
        st.caption(
            ":orange-background[SYNTHETIC DEMO DATA] generated by mcalc — not patient images, "
            "not for clinical use."
        )


def problem_note(index: DatasetIndex) -> str | None:
    """What the home page's problem count is made of, in words (``None``: no problem).

    The real archive misspells some file names and mcalc reads them loosely; the synthetic
    demo copies those quirks on purpose, so its warnings are expected, not a fault.
    """
    shown = [p for p in index.problems if p.severity != "info"]
    if not shown:
        return None
    loose_paths = {
        str(rec.image_path.parent / name) for rec in index.images() for name in rec.loose_names
    }
    loose = sum(p.severity == "warning" and p.path in loose_paths for p in shown)
    parts = []
    if loose:
        why = (
            "the demo copies the real archive's quirks on purpose"
            if index.synthetic
            else "read as the names the layout expects"
        )
        parts.append(f"{loose} loosely matched name{'s' if loose != 1 else ''} ({why})")
    if len(shown) > loose:
        parts.append(f"{len(shown) - loose} other problem{'s' if len(shown) - loose != 1 else ''}")
    return "Problems: " + ", ".join(parts) + "; the list is below."


def ensure_demo() -> None:
    """Generate the synthetic demo set on first start, with a progress bar."""
    from mcalc.synthetic import generate_demo, is_synthetic

    s = settings()
    if str(s.demo_dir) != current_data_path() or is_synthetic(s.demo_dir):
        return
    bar = st.progress(0.0, text="First start: generating the synthetic demo dataset…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(done / max(total, 1), text=f"Generating synthetic demo data: {message}")

    try:
        generate_demo(s.demo_dir, cases=s.demo_cases, seed=s.demo_seed, progress=progress)
    except (OSError, ValueError) as exc:
        st.error(f"Could not generate the demo dataset in `{s.demo_dir}`: {exc}")
        st.stop()
    bar.empty()
    load_index.clear()


def _keep_typed() -> None:
    st.session_state["app_data_text"] = st.session_state["app_data_input"]


def _open_typed() -> None:
    _keep_typed()
    typed = str(st.session_state["app_data_input"]).strip()
    try:
        check_data_path(typed, settings())
    except PathRefused as exc:
        st.session_state["app_data_refused"] = str(exc)
        return
    st.session_state.pop("app_data_refused", None)
    st.session_state[DATA_KEY] = typed


def _open_demo() -> None:
    demo = str(settings().demo_dir)
    st.session_state[DATA_KEY] = demo
    st.session_state["app_data_text"] = demo


def sidebar() -> None:
    """The shared sidebar: page menu and dataset choice."""
    with st.sidebar:
        for script, title, icon in available_pages():
            st.page_link(script, label=title, icon=icon)
        st.divider()
        st.markdown("### Dataset")
        # Streamlit forgets a widget's state when the page changes: keep the text in a
        # plain key and hand it back to the widget on every run.
        st.session_state["app_data_input"] = st.session_state.get(
            "app_data_text", current_data_path()
        )
        st.text_input(
            "Dataset folder or manifest CSV",
            key="app_data_input",
            on_change=_keep_typed,
            help="The folder holding `Dataset/` (or `Dataset_v3/`), the `Dataset/` folder "
            "itself, a manifest CSV, or a folder with `manifest.csv`.",
        )
        c1, c2 = st.columns(2)
        c1.button("Open", key="app_open", width="stretch", on_click=_open_typed)
        c2.button("Demo data", key="app_demo", width="stretch", on_click=_open_demo)
        refused = st.session_state.get("app_data_refused")
        if refused:
            st.error(f"Not opened: {refused}.")
        index = current_index()
        if index is not None:
            label = "SYNTHETIC demo" if index.synthetic else index.source
            st.caption(f"{len(index.cases)} cases · {len(index.images())} images · {label}")


# -- accounts -----------------------------------------------------------------------------
#: The signed-in account of this browser session: {"name": ..., "role": ...}.
USER_KEY = "mcalc_user"


def users_file() -> UsersFile:
    return UsersFile(settings().users_file)


def current_mode() -> AuthMode:
    """Demo (no accounts), accounts (sign-in required) or off, for the dataset in use."""
    return auth_mode(settings(), current_data_path(), has_users=users_file().exists())


def current_user() -> dict[str, str] | None:
    """The signed-in account (``name``, ``role``), or ``None`` (demo mode, accounts off)."""
    user = st.session_state.get(USER_KEY)
    return dict(user) if isinstance(user, dict) else None


def current_role() -> str:
    """The role that decides what this visitor may do; without accounts, every role."""
    user = current_user()
    return user["role"] if user else "admin"


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
            st.subheader("Sign in to mcalc")
            name = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            if not st.form_submit_button("Sign in"):
                return None
        try:
            check.login(name, password)
        except Exception as exc:  # the library raises its own error types (LoginError...)
            st.error(f"Sign-in failed: {exc}")
            return None
        if not st.session_state.get("authentication_status"):
            st.error("Wrong user name or password.")
            return None
    user = accounts.get(str(st.session_state.get("username")))
    if user is None:  # removed since: the form again on the next run
        st.session_state["authentication_status"] = None
        return None
    return {"name": user.name, "role": user.role, "via": "password"}


def _sign_out() -> None:
    st.session_state.pop(USER_KEY, None)
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
    st.sidebar.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


def _user_from_cookie(accounts: UsersFile) -> dict[str, str] | None:
    """The account of a valid sign-in cookie sent with this page load (a reload, a deep
    link): signed in at once, before anything is drawn. Not after a sign-out here."""
    if st.session_state.get("logout") or not accounts.exists():
        return None
    try:
        user = accounts.user_from_cookies(st.context.cookies)
    except McalcError:
        return None
    return None if user is None else {"name": user.name, "role": user.role, "via": "password"}


def access_gate() -> None:
    """Sign-in when the mode asks for it: nothing else (no image) is drawn until then."""
    mode = current_mode()
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
        accounts = users_file()
        known = accounts.get(current_user()["name"])  # type: ignore[index]
        if known is not None:  # role changes take effect at once; removal signs out
            st.session_state[USER_KEY] = {**current_user(), "role": known.role}  # type: ignore[dict-item]
            return
        _sign_out()
    accounts = users_file()
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
        if not accounts.exists() and not _oidc_configured():
            st.error(
                f"No accounts exist yet ({accounts.path}). Create the first one on the server: "
                "`python -m mcalc users add NAME --role admin`. (To run without accounts, which "
                "shows every image to anyone who reaches this server, set `MCALC_AUTH=off`.)"
            )
            st.stop()
        user = _sign_in_with_provider(accounts) if _oidc_configured() else None
        if user is None and accounts.exists():
            user = _sign_in_with_password(accounts)
    if user is None:
        st.stop()
    slot.empty()
    st.session_state[USER_KEY] = user
    if user.get("via") == "password":
        cookie = accounts.sign_in_cookie(user["name"])
        if cookie is not None:
            _write_cookie(cookie.name, cookie.value, cookie.expires)


def user_box() -> None:
    """Who is signed in, in the sidebar, with a sign-out button."""
    user = current_user()
    if user is None:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user['name']}** ({user['role']})")
        st.button("Sign out", key="app_sign_out", on_click=_sign_out)


def require(action: str) -> None:
    """Stop the page with a message when the visitor's role may not ``action``."""
    if not allows(current_role(), action):
        st.error(
            f"Your role ({current_role()}) cannot open this page: it needs "
            f"{required_role(action)} or above. Ask an admin."
        )
        st.stop()


def frame(action: str | None = None) -> None:
    """Page config, sign-in, first-start demo data and the shared sidebar; once per script run.

    ``action``: what the page does (a key of :data:`mcalc.access.ACTIONS`); a role that may
    not do it gets a message and the page stops (checked on every call).
    """
    prepare_tensorflow()  # before any page imports TensorFlow
    # Here, not only in app.py: Streamlit runs app.py for the Home page only (its "pages/"
    # folder mode), and a server whose readers open /browse directly must be tuned too.
    tune_server(settings().run_log)
    start_tensorflow_warmup()  # once per process; a deep link to any page starts it too
    if not getattr(_RUN, "frame_done", False):
        st.set_page_config(page_title="mcalc", page_icon=":material/biotech:", layout="wide")
        access_gate()
        ensure_demo()
        sidebar()
        user_box()
    if action is not None:
        require(action)


def run_app() -> None:
    """What ``app.py`` does: register the pages, draw the frame, run the selected page.

    ``st.navigation`` comes first: the sidebar's page links need the pages registered.
    """
    pages = [
        st.Page(script, title=title, icon=icon, default=script == "pages/home.py")
        for script, title, icon in available_pages()
    ]
    selected = st.navigation(pages, position="hidden")
    frame()
    _RUN.frame_done = True
    try:
        selected.run()
    finally:
        _RUN.frame_done = False


def window_controls(prefix: str, top: int = 4095) -> dict[str, object]:
    """Window preset, level/width sliders, invert and CLAHE (drawn where called).

    Returns keyword arguments for :class:`mcalc.viewer.DisplayOptions`. ``top`` is the
    largest representable value of the image (the sliders' range); widget keys start with
    ``prefix``.
    """
    from mcalc.imaging import WINDOW_PRESETS

    preset = st.selectbox("Window preset", [*WINDOW_PRESETS, "manual"], key=f"{prefix}_preset")
    center = width = None
    if preset == "manual":
        center = st.slider("Level (centre)", 0, top, (top + 1) // 2, key=f"{prefix}_center")
        width = st.slider("Window (width)", 1, top + 1, top + 1, key=f"{prefix}_width")
    invert = st.toggle("Invert", key=f"{prefix}_invert")
    clahe = st.toggle("Contrast enhancement (CLAHE)", key=f"{prefix}_clahe")
    clip = st.slider("CLAHE clip limit", 1.0, 6.0, 2.0, 0.5, key=f"{prefix}_clip") if clahe else 2.0
    return {
        "preset": preset,
        "center": center,
        "width": width,
        "invert": invert,
        "clahe": clahe,
        "clahe_clip": clip,
    }


def verdict_inputs(prefix: str, score_slot=None, explanation_slot=None) -> tuple[str, bool | None]:
    """The two audit questions, worded the same on every page.

    Returns the score verdict (``agree``/``disagree``, as :data:`mcalc.store.audit.SCORE_VERDICTS`)
    and whether the explanation is plausible (``None``: not judged). ``*_slot`` are the
    containers (e.g. columns) to draw in; default: where called.
    """
    from mcalc.store.audit import SCORE_VERDICTS

    words = {"agree": "right (agree)", "disagree": "wrong (disagree)"}
    verdict = (score_slot or st).radio(
        "The score is",
        list(SCORE_VERDICTS),
        horizontal=True,
        key=f"{prefix}_verdict",
        format_func=lambda v: words.get(v, v),
    )
    plausible = (explanation_slot or st).radio(
        "The explanation is",
        ["plausible", "implausible", "not judged"],
        horizontal=True,
        key=f"{prefix}_plausible",
    )
    return verdict, {"plausible": True, "implausible": False}.get(plausible)


def case_report_ui(case_id: str, model_id: str | None, prefix: str) -> None:
    """A button that makes the case's PDF report (:mod:`mcalc.report`), then its download."""
    from mcalc.report import case_report

    key = f"{prefix}_report_{case_id}_{model_id}"
    if st.button("Make the case report (PDF)", key=f"{prefix}_report_make"):
        user = current_user()
        with st.spinner("Writing the case report…"):
            try:
                st.session_state[key] = case_report(
                    current_data_path(),
                    case_id,
                    model=model_id,
                    user=user["name"] if user else "",
                    settings=settings(),
                )
            except McalcError as exc:
                st.error(f"No report: {exc}")
    if st.session_state.get(key):
        st.download_button(
            f"Download the report of {case_id} (PDF)",
            st.session_state[key],
            file_name=f"{case_id}_report.pdf",
            mime="application/pdf",
            key=f"{prefix}_report_download",
            on_click="ignore",
        )
