"""Accounts, roles, sign-in modes and the data-root allow-list (issue 16)."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from mcalc.access import AccessError, UsersFile, allows, auth_mode
from mcalc.cli import main
from mcalc.config import PathRefused, Settings, check_data_path

APP = "../app.py"
PASSWORD = "correct-horse-9"


# -- users file ----------------------------------------------------------------------------
def test_users_file_stores_only_hashes_and_checks_passwords(tmp_path):
    f = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    f.add("ana", "reader", password=PASSWORD)
    f.add("root", "admin", password="another-pass-1")
    text = f.path.read_text()
    assert PASSWORD not in text and "another-pass-1" not in text
    assert "$2b$" in text  # bcrypt
    assert oct(f.path.stat().st_mode & 0o777) == "0o600"
    assert f.verify("ana", PASSWORD) and not f.verify("ana", "wrong-one-1")
    assert not f.verify("nobody", PASSWORD)
    assert [(u.name, u.role) for u in f.users()] == [("ana", "reader"), ("root", "admin")]
    f.remove("ana")
    assert f.get("ana") is None


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("ana", "boss", PASSWORD, "role must be one of"),
        ("../x", "reader", PASSWORD, "user name must be"),
        ("ana", "reader", "short", "at least 8 characters, got 5"),
        ("ana", "reader", None, "give a password, or an e-mail"),
    ],
)
def test_users_file_refuses_bad_input(tmp_path, name, role, password, message):
    with pytest.raises(AccessError, match=message):
        UsersFile(tmp_path / "u.yaml", bcrypt_rounds=4).add(name, role, password=password)


def test_adding_twice_needs_replace(tmp_path):
    f = UsersFile(tmp_path / "u.yaml", bcrypt_rounds=4)
    f.add("ana", "reader", password=PASSWORD)
    with pytest.raises(AccessError, match="exists"):
        f.add("ana", "admin", password=PASSWORD)
    assert f.add("ana", "admin", password=PASSWORD, replace=True).role == "admin"


def test_roles_are_ordered():
    assert allows("reader", "annotate") and allows("reader", "verdict")
    assert not allows("reader", "train") and not allows("reader", "evaluate")
    assert allows("researcher", "train") and not allows("researcher", "manage_users")
    assert allows("admin", "delete_model") and not allows(None, "browse")


def test_users_cli_add_list_remove(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "u.yaml"))

    def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["users", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, _, err = cli("add", "ana", "--role", "researcher", "--password-stdin", stdin=PASSWORD)
    assert code == 0, err
    assert PASSWORD not in (tmp_path / "u.yaml").read_text()
    assert "ana\tresearcher" in cli("list")[1]
    # A name that exists is refused before a password is asked (an empty stdin was
    # answered "password must be at least 8 characters, got 0").
    code, _, err = cli("add", "ana", "--role", "reader", "--password-stdin")
    assert (
        code == 2
        and "user 'ana' exists; use `python -m mcalc users add ana --role reader --replace`" in err
    ), err
    code, _, err = cli("add", "bob", "--role", "reader")  # no terminal to prompt on
    assert code == 2 and "--password-stdin" in err
    assert cli("remove", "ana")[0] == 0
    code, _, err = cli("remove", "ana")
    assert code == 2 and "no user 'ana'" in err


def test_users_cli_hints_keep_the_file_given(tmp_path, monkeypatch, capsys):
    """`users --file F list` on an empty file said to run `python -m mcalc users add`,
    which writes to the default file, not F; the same of `--replace`."""
    f = tmp_path / "other users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
    assert main(["users", "--file", str(f), "list"]) == 0
    quoted = f"'{f}'"
    assert capsys.readouterr().out == (
        f"no users in {f}; add one with "
        f"`python -m mcalc users --file {quoted} add NAME --role reader|researcher|admin`\n"
    )
    assert (
        main(["users", "--file", str(f), "add", "ana", "--role", "admin", "--password-stdin"]) == 0
    )
    capsys.readouterr()
    assert main(["users", "--file", str(f), "add", "ana", "--role", "reader"]) == 2
    assert capsys.readouterr().err == (
        f"error: user 'ana' exists; use `python -m mcalc users --file {quoted} add ana "
        "--role reader --replace` to change it\n"
    )


# -- modes ---------------------------------------------------------------------------------
def test_modes(tiny_demo, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    s = Settings(demo_dir=tiny_demo)
    assert auth_mode(s, tiny_demo, has_users=False).kind == "demo"
    assert auth_mode(s, real, has_users=False).kind == "accounts"
    assert auth_mode(s, tiny_demo, has_users=True).kind == "accounts"
    assert auth_mode(s.with_overrides(auth="off"), real, has_users=True).kind == "off"
    assert auth_mode(s.with_overrides(auth="on"), tiny_demo, has_users=False).kind == "accounts"


def test_sign_in_cookie_names_its_user_until_it_expires(tmp_path):
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    t = time.time()  # after the account was made: a cookie from before it signs no one in
    cookie = users.sign_in_cookie("rita", now=t)
    assert cookie is not None and cookie.name == "mcalc_auth"
    assert cookie.expires == t + 86400
    jar = {cookie.name: cookie.value, "other": "x"}
    assert users.user_from_cookies(jar, now=t).name == "rita"
    assert users.user_from_cookies(jar, now=cookie.expires) is None  # expired
    assert users.user_from_cookies({}, now=t) is None
    forged = cookie.value[:-4] + ("AAAA" if not cookie.value.endswith("AAAA") else "BBBB")
    assert users.user_from_cookies({cookie.name: forged}, now=t) is None
    assert users.user_from_cookies({cookie.name: "not-a-token"}, now=t) is None
    # Signed with another file's key: refused.
    other = UsersFile(tmp_path / "other.yaml", bcrypt_rounds=4)
    other.add("rita", "reader", password=PASSWORD)
    assert users.user_from_cookies({cookie.name: other.sign_in_cookie("rita").value}) is None
    # A removed account is signed out even with a valid cookie.
    users.remove("rita")
    assert users.user_from_cookies(jar, now=t) is None


def test_a_new_password_or_a_new_account_of_the_name_ends_the_cookies_issued_before(tmp_path):
    """A cookie (a day long) stayed good after `users add NAME --replace` gave a new password
    (a password reset after a leak let the old cookie in), and after the name was removed
    and given to someone else."""
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    before = users.sign_in_cookie("rita")
    users.add("rita", "reader", password=PASSWORD + "-new", replace=True)
    after = users.sign_in_cookie("rita")
    assert users.user_from_cookies({before.name: before.value}) is None
    assert users.user_from_cookies({after.name: after.value}).name == "rita"
    users.remove("rita")
    users.add("rita", "admin", password=PASSWORD)  # the name given to another person
    assert users.user_from_cookies({after.name: after.value}) is None


def test_sign_in_cookie_is_streamlit_authenticators_own(tmp_path, monkeypatch):
    """Our sign-in cookie is in the library's own format: it reads ours and we read its (the
    oracle: the library's own code), so a cookie of its form still signs in."""
    import types

    from streamlit_authenticator.models import cookie_model
    from streamlit_authenticator.models.cookie_model import CookieModel

    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    cookie = users.sign_in_cookie("rita")
    theirs = CookieModel.__new__(CookieModel)  # no component: __init__ draws one
    theirs.cookie_key = users.authenticator_config()["cookie"]["key"]
    theirs.token = cookie.value
    claims = theirs._token_decode()
    assert claims["username"] == "rita" and claims["exp_date"] == cookie.expires
    theirs.cookie_expiry_days, theirs.exp_date = 1.0, cookie.expires
    monkeypatch.setattr(
        cookie_model, "st", types.SimpleNamespace(session_state={"username": "rita"})
    )
    token = theirs._token_encode()
    assert users.user_from_cookies({cookie.name: token}).name == "rita"


# -- allow-list ----------------------------------------------------------------------------
def test_data_roots_refuse_dotdot_and_symlink_escapes(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "set").mkdir(parents=True)
    outside.mkdir()
    (root / "link").symlink_to(outside)
    s = Settings(demo_dir=tmp_path / "demo", data_roots=(root,))
    assert check_data_path(root / "set", s) == (root / "set").resolve()
    for bad in (root / ".." / "outside", root / "link", root / "link" / "x.csv", Path("/etc")):
        with pytest.raises(PathRefused, match="outside the allowed data folders"):
            check_data_path(bad, s)
    with pytest.raises(PathRefused, match="no path given"):
        check_data_path("  ", s)


# -- the app -------------------------------------------------------------------------------
def _run(page: str = "pages/home.py") -> AppTest:
    # Always name the page: keyless widgets (the sign-in form's) change id between a first
    # run without a page and the next runs under AppTest.
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(page)
    return at.run()


@pytest.fixture
def accounts(app_env, tmp_path, monkeypatch) -> UsersFile:
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    users.add("adam", "admin", password=PASSWORD)
    monkeypatch.setenv("MCALC_USERS", str(users.path))
    return users


def _sign_in(at: AppTest, name: str) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    return at.run()


def test_demo_mode_needs_no_sign_in_and_says_so(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    at = _run("pages/browse.py")
    assert not at.exception
    assert any("demo mode, no accounts" in c.value for c in at.sidebar.caption)


def _real_copy(tiny_demo: Path, target: Path) -> Path:
    """The tiny demo without its marker: real data to the access rules."""
    import shutil

    shutil.copytree(tiny_demo, target)
    (target / "mcalc_demo.json").unlink()
    return target


def test_demo_mode_says_a_real_dataset_needs_an_account_and_keeps_the_demo_open(
    app_env, tmp_path, monkeypatch
):
    """Without accounts, opening a real collection in the sidebar turned every page into a
    sign-in form nobody could use, with no sidebar: only a reload got back. Now the
    sidebar says why it does not open it and how to create an account; the demo stays."""
    users = tmp_path / "no users.yaml"
    monkeypatch.setenv("MCALC_USERS", str(users))
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path / "roots"))
    real = _real_copy(app_env, tmp_path / "roots" / "real")
    at = _run("pages/browse.py")
    at.text_input(key="app_data_input").input(str(real))
    at.button(key="app_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert error.startswith(f"Not opened: {real} is real data") and "no account yet" in error
    assert f"python -m mcalc users --file '{users}' add NAME --role admin" in error, error
    assert at.session_state["mcalc_data_path"] == str(app_env)  # the demo stays open
    assert at.get("page_link") and "Username" not in [t.label for t in at.text_input]
    # With an account, the same folder opens (behind the sign-in, as before).
    UsersFile(users, bcrypt_rounds=4).add("adam", "admin", password=PASSWORD)
    signed = _sign_in(_run("pages/home.py"), "adam")
    signed.text_input(key="app_data_input").input(str(real))
    signed.button(key="app_open").click().run()
    assert not signed.error and signed.session_state["mcalc_data_path"] == str(real)


def test_a_sign_in_no_one_can_pass_offers_the_way_back_to_the_demo(app_env, tmp_path, monkeypatch):
    """A link naming a real dataset (``?data=``) on a server without accounts gave a sign-in
    form with no account to sign in with, no sidebar, no way back but a reload."""
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path / "roots"))
    real = _real_copy(app_env, tmp_path / "roots" / "real")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["data"] = str(real)
    at.switch_page("pages/browse.py")
    at.run()
    (error,) = [e.value for e in at.error]
    assert "No accounts exist yet" in error
    assert f"`python -m mcalc users --file {tmp_path / 'none.yaml'} add NAME" in error, error
    assert not at.get("page_link") and not at.get("component_instance")  # still no image
    at.button(key="app_signin_demo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["mcalc_data_path"] == str(app_env)
    assert at.get("page_link") and at.get("component_instance")  # the demo's Browse
    assert "data" not in at.query_params


def test_no_way_round_the_sign_in_where_accounts_exist_or_are_required(
    accounts, tmp_path, monkeypatch
):
    """The way back to the demo is offered only where the demo needs no account."""
    at = _run("pages/browse.py")
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not [b for b in at.button if b.key == "app_signin_demo"]
    monkeypatch.setenv("MCALC_AUTH", "on")
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    at = _run("pages/browse.py")
    assert any("No accounts exist yet" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "app_signin_demo"]


def test_anonymous_visitor_sees_the_sign_in_form_and_no_image(accounts):
    at = _run("pages/browse.py")
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.get("plotly_chart")
    assert not any(type(e).__name__ == "Image" for e in at.main)
    assert not at.get("page_link")  # not even the menu
    # No component iframe: its value would come back as a rerun of its own, which cut the
    # run of a Sign in click short (streamlit-authenticator's cookie component did).
    assert not at.get("component_instance")


def test_wrong_password_is_refused(accounts):
    at = _run()
    at.text_input[0].input("rita")
    at.text_input[1].input("not-the-password")
    at.button[0].click()
    at.run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert "mcalc_user" not in at.session_state


def test_an_unknown_name_costs_a_password_check_as_a_known_one_does(accounts, monkeypatch):
    """A wrong password for an account took a bcrypt check (253 ms at cost 12 here), an
    unknown name none (0.8 ms): the answer's time told which names are accounts. Now an
    unknown name is checked against a hash of the same cost; the message is the same."""
    import bcrypt

    from mcalc.access import SIGN_IN_THROTTLE

    real = bcrypt.checkpw
    checks: list[bytes] = []

    def counted(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    said = {}
    for name in ("rita", "nobody-here"):
        checks.clear()
        at = _run()
        at.text_input[0].input(name)
        at.text_input[1].input("wrong-password")
        at.button[0].click()
        at.run()
        SIGN_IN_THROTTLE.succeeded(name)
        said[name] = [e.value for e in at.error]
        assert len(checks) == 1, (name, checks)
        assert (
            checks[0][:7]
            == accounts.authenticator_config()["credentials"]["usernames"]["rita"][
                "password"
            ].encode()[:7]
        )  # the same algorithm and cost: "$2b$04$"
    assert said["rita"] == said["nobody-here"] == ["Wrong user name or password."]


def test_wrong_passwords_make_the_names_next_tries_wait_across_sessions(accounts, monkeypatch):
    """Each new session (a reload, a script's new connection) could guess again at once,
    limited only by bcrypt's cost; now a name's wrong passwords slow its next tries on
    the whole server, the right one included, while other names sign in."""
    from mcalc.access import SIGN_IN_THROTTLE, throttle
    from mcalc.access.throttle import FREE_TRIES

    # The first wait is the longest (300 s, not 2 s): the right password's session comes
    # 0.2 s after the last wrong one here, but a slower machine's past 2 s would sign in.
    monkeypatch.setattr(throttle, "FIRST_WAIT_S", throttle.MAX_WAIT_S)

    def attempt(name: str, password: str) -> AppTest:
        at = _run()
        at.text_input[0].input(name)
        at.text_input[1].input(password)
        at.button[0].click()
        return at.run()

    SIGN_IN_THROTTLE.succeeded("rita")  # another test's wrong password counts otherwise
    try:
        for _ in range(FREE_TRIES + 1):  # each in a new session
            at = attempt("rita", "wrong-password")
            assert any("Wrong user name or password" in e.value for e in at.error)
        at = attempt("rita", PASSWORD)
        assert "mcalc_user" not in at.session_state
        assert any("Too many wrong passwords" in e.value for e in at.error)
        assert attempt("adam", PASSWORD).session_state["mcalc_user"]["name"] == "adam"
    finally:
        SIGN_IN_THROTTLE.succeeded("rita")
    assert attempt("rita", PASSWORD).session_state["mcalc_user"]["name"] == "rita"


def test_reader_annotates_as_themselves_and_cannot_open_train(accounts):
    at = _sign_in(_run(), "rita")
    assert not at.exception
    assert at.session_state["mcalc_user"]["role"] == "reader"
    at.switch_page("pages/annotate.py").run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "annotate_reader_input"]  # no free name
    assert any("Reader: **rita**" in c.value for c in at.caption)
    at.switch_page("pages/train.py").run()
    assert any("cannot open this page" in e.value for e in at.error)


def test_a_sign_out_in_one_tab_signs_the_accounts_other_tabs_out(accounts):
    """Two tabs of rita (two sessions) and one of adam: rita's *Sign out* in one tab ends
    her other tab at its next run, with a word on why (it stayed signed in and could
    record verdicts under her name: a user check); adam's stays; rita signs in again."""
    tab_a, tab_b = _sign_in(_run(), "rita"), _sign_in(_run(), "rita")
    other = _sign_in(_run(), "adam")
    assert tab_a.session_state["mcalc_user"]["name"] == "rita"
    tab_b.button(key="app_sign_out").click().run()
    assert "mcalc_user" not in tab_b.session_state
    tab_a.run()
    assert not tab_a.exception
    assert "mcalc_user" not in tab_a.session_state
    assert [t.label for t in tab_a.text_input] == ["Username", "Password"]
    assert any("signed out in another tab or window" in i.value for i in tab_a.info)
    other.run()
    assert other.session_state["mcalc_user"]["name"] == "adam"  # another account: stays
    again = _sign_in(tab_a, "rita")
    assert again.session_state["mcalc_user"]["name"] == "rita" and not again.info


def test_a_new_password_signs_the_accounts_open_tabs_out(accounts):
    """An admin resetting a password (`users add rita --replace`) left a tab signed in
    before it signed in as rita, recording verdicts under her name."""
    tab = _sign_in(_run(), "rita")
    assert tab.session_state["mcalc_user"]["name"] == "rita"
    accounts.add("rita", "reader", password=PASSWORD, replace=True)
    tab.run()
    assert not tab.exception
    assert "mcalc_user" not in tab.session_state
    assert [t.label for t in tab.text_input] == ["Username", "Password"]


def test_a_sign_in_older_than_the_cookies_expiry_ends_in_an_open_tab(accounts):
    """A tab left open stayed signed in for ever: the sign-in's age was never checked, only
    the cookie's when a page loads (a user check, 6 December 2026). A session whose sign-in
    is older than the users file's ``expiry_days`` (1) now asks for the password again,
    saying why; a younger one stays."""
    # An account of its own: sign-outs are recorded per server process, by name.
    accounts.add("vera", "reader", password=PASSWORD)
    data = yaml.safe_load(accounts.path.read_text())
    data["credentials"]["usernames"]["vera"]["sessions_from"] = time.time() - 2 * 86400
    accounts.path.write_text(yaml.safe_dump(data))  # an account made two days ago
    tab = _sign_in(_run(), "vera")
    tab.session_state["mcalc_signed_in_at"] = time.time() - 0.9 * 86400
    tab.run()
    assert tab.session_state["mcalc_user"]["name"] == "vera"
    tab.session_state["mcalc_signed_in_at"] = time.time() - 1.1 * 86400
    tab.run()
    assert not tab.exception
    assert "mcalc_user" not in tab.session_state
    assert [t.label for t in tab.text_input] == ["Username", "Password"]
    assert any("expired" in i.value for i in tab.info), [i.value for i in tab.info]
    assert _sign_in(tab, "vera").session_state["mcalc_user"]["name"] == "vera"


def test_the_sign_in_cookie_is_secure_over_https(accounts):
    """The cookie was set without ``Secure``: behind the README's TLS proxy a browser sent
    it in clear to any http:// address of the same host. The page's script adds it when
    the page came over https (the server behind the proxy cannot tell)."""
    at = _sign_in(_run(), "rita")
    (script,) = [h.proto.body for h in at.sidebar.get("html") if "document.cookie" in h.proto.body]
    assert "mcalc_auth=" in script and "SameSite=Strict" in script
    assert 'location.protocol === "https:" ? "; Secure" : ""' in script


def test_a_cookie_issued_before_a_sign_out_no_longer_signs_in(tmp_path):
    from mcalc.access import SignOuts

    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    t = time.time()  # after the account was made
    old = users.sign_in_cookie("rita", now=t + 1000.0)
    new = users.sign_in_cookie("rita", now=t + 1200.0)
    outs = SignOuts()
    outs.record("rita", at=t + 1100.0)
    user, issued = users.cookie_sign_in({old.name: old.value}, now=t + 1300.0)
    assert (user.name, issued) == ("rita", t + 1000.0) and outs.ended("rita", issued)
    _, issued = users.cookie_sign_in({new.name: new.value}, now=t + 1300.0)
    assert not outs.ended("rita", issued)


def test_the_menus_list_only_the_pages_a_role_may_open(accounts):
    """A reader's sidebar and home page listed Train, Evaluate and Batch, each opening on
    "Your role (reader) cannot open this page" (seen walking the app as a reader); an admin
    gets every page. The address of such a page still answers with the refusal."""
    reader = _sign_in(_run(), "rita")
    assert not reader.exception
    links = [el.proto.label for el in reader.get("page_link")]
    home = [el.proto.label for el in reader.main.get("page_link")]
    assert "Browse" in links and any(label.startswith("Predict — ") for label in home)
    for title in ("Train", "Evaluate", "Batch"):
        assert title not in links and not any(label.startswith(title) for label in home), title
    admin = _sign_in(_run(), "adam")
    links = [el.proto.label for el in admin.get("page_link")]
    assert {"Train", "Evaluate", "Batch", "Audit"} <= set(links)


def test_page_action_names_what_each_page_asks_for():
    """The pages ask menu.page_action for the action they need, by their own path."""
    from mcalc.access import ACTIONS
    from pages.menu import PAGE_ACTIONS, page_action

    root = Path(__file__).resolve().parent.parent
    assert page_action(str(root / "pages/train.py")) == "train"
    assert page_action("pages/batch.py") == "predict_collection"
    assert page_action(str(root / "pages/browse.py")) is None
    assert set(PAGE_ACTIONS.values()) <= set(ACTIONS)
    for script in PAGE_ACTIONS:
        assert "common.frame(menu.page_action(__file__))" in (root / script).read_text()


def test_signed_in_reader_imports_only_their_own_marks_json(accounts, app_env):
    """A Marks JSON is imported as the other formats are: signed in as rita, ann's file is
    refused at the check (no Import button, nothing written); rita's own imports."""
    import json

    from mcalc.config import get_settings
    from mcalc.dataset import open_dataset
    from mcalc.store import ImageMarks, MarkStore

    rec = open_dataset(app_env).cases[0].image("CC", "recent")
    assert rec is not None
    store = MarkStore(get_settings().store_dir)
    at = _sign_in(_run(), "rita")
    at.switch_page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = False
    at.session_state["annotate_exchange_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shape = at.session_state["annotate_work"][(rec.key, "rita")].marks.image_shape
    for reader in ("ann", "rita"):
        marks = ImageMarks(rec.key, reader, image_shape=shape).add_point(20, 20, "benign")
        data = json.dumps(marks.to_payload(), indent=1).encode()
        at.get("file_uploader")[0].set_value((f"{reader}.json", data, "application/json"))
        at.run()
        if reader == "ann":
            errors = " ".join(e.value for e in at.error).replace("\\", "")
            assert "ann.json: the file holds marks of ann; signed in as rita" in errors
            assert "annotate_import" not in [b.key for b in at.button]
            assert store.readers(rec.key) == []
    at.button(key="annotate_import").click().run()
    assert store.readers(rec.key) == ["rita"]
    assert len(store.load(rec.key, "rita").marks.points) == 1


@pytest.mark.slow  # the Train page imports TensorFlow
def test_admin_opens_train(accounts):
    at = _sign_in(_run(), "adam")
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert not any("cannot open this page" in e.value for e in at.error)


def test_accounts_off_is_shown_on_every_page(app_env, monkeypatch):
    monkeypatch.setenv("MCALC_AUTH", "off")
    for page in ("pages/home.py", "pages/browse.py"):
        at = _run(page)
        assert any("MCALC_AUTH=off" in w.value for w in at.warning)


def test_sidebar_refuses_a_path_outside_the_roots(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    at = _run()
    at.text_input(key="app_data_input").input("/etc")
    at.button(key="app_open").click().run()
    assert any("outside the allowed data folders" in e.value for e in at.error)
    assert at.session_state["mcalc_data_path"] == str(app_env)


def test_sidebar_opens_the_folder_of_the_servers_data_flag(app_env, tmp_path, monkeypatch):
    """`streamlit run app.py -- --data X` opened X, but the sidebar refused X itself ("X is
    outside the allowed data folders"), Open pressed on the path it showed, or after *Demo
    data*: the flag's folder was no allowed root, as README says it is (MCALC_DATA's is)."""
    import shutil

    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    flagged = tmp_path / "flagged"
    shutil.copytree(app_env, flagged)  # outside the demo folder, the only root otherwise
    monkeypatch.setattr(sys, "argv", ["app.py", "--data", str(flagged)])
    at = _run()
    assert at.session_state["mcalc_data_path"] == str(flagged)
    at.button(key="app_demo").click().run()
    assert at.session_state["mcalc_data_path"] == str(app_env)
    at.text_input(key="app_data_input").input(str(flagged))
    at.button(key="app_open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["mcalc_data_path"] == str(flagged)


def test_sidebar_refuses_a_path_with_a_nul_byte(app_env, tmp_path, monkeypatch):
    """A NUL in the typed path (a crafted message: the field cannot type one) raised
    'embedded null byte' out of the Open button's callback, a traceback on the page."""
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    at = _run()
    at.text_input(key="app_data_input").input(f"{app_env}\x00/x")
    at.button(key="app_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("NUL" in e.value for e in at.error)
    assert at.session_state["mcalc_data_path"] == str(app_env)


OIDC_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-only-secret",
    "client_id": "mcalc",
    "client_secret": "test-only",
    "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration",
}


def _oidc_app(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = OIDC_SECRETS
    if user is not None:
        at.user = user  # what st.user holds after the provider's redirect
    at.switch_page("pages/browse.py")
    return at.run()


def test_openid_connect_provider_offers_its_sign_in_and_no_image(accounts):
    at = _oidc_app()
    assert not at.exception
    assert at.button(key="app_oidc").label == "Sign in with your organisation's account"
    assert not at.get("plotly_chart") and not at.get("page_link")


# -- admin-only deletion -------------------------------------------------------------------
def _fake_model(models: Path, model_id: str) -> None:
    import json

    from mcalc.models.registry import register_model

    def write(folder: Path) -> None:
        (folder / "model.keras").write_bytes(b"not loaded here")
        card = {"architecture": "custom", "task": "calcification", "classes": [], "patch": {}}
        (folder / "card.json").write_text(json.dumps(card))

    register_model(models, model_id, write)


def test_only_an_admin_deletes_a_model_and_the_deletion_is_recorded(tmp_path):
    from mcalc.access import NotAllowed, read_actions
    from mcalc.errors import ModelError
    from mcalc.models.registry import delete_model, list_models

    models = tmp_path / "models"
    _fake_model(models, "m1")
    for role in ("reader", "researcher", None):
        with pytest.raises(NotAllowed, match="may not delete a model: it needs the admin role"):
            delete_model(models, "m1", role=role, user="rita")
    assert [c.id for c in list_models(models).models] == ["m1"]
    delete_model(models, "m1", role="admin", user="adam")
    assert list_models(models).models == [] and not list(models.glob(".deleted-*"))
    [entry] = read_actions(models)
    assert (entry["action"], entry["id"], entry["by"], entry["role"]) == (
        "delete_model", "m1", "adam", "admin",
    )  # fmt: skip
    with pytest.raises(ModelError, match="no model 'm1'"):
        delete_model(models, "m1", role="admin", user="adam")
    with pytest.raises(ModelError, match=r"no model '\.\./x'"):
        delete_model(models, "../x", role="admin")


def test_only_an_admin_deletes_a_finished_job(tiny_demo, tmp_path):
    from mcalc import jobs
    from mcalc.access import NotAllowed, read_actions
    from mcalc.errors import JobError

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=tmp_path / "models")
    config = jobs.TrainConfig(data=str(tiny_demo), epochs=1, batch=8, max_steps=1, patch_size=32)
    job = jobs.submit(config, settings, start=False, user="rex")
    assert job.config.trained_by == "rex"  # the card will say who trained it
    with pytest.raises(JobError, match="is queued: cancel it first"):
        jobs.delete_job(job.id, settings, role="admin", user="adam")
    jobs.cancel(job.id, settings)
    with pytest.raises(NotAllowed, match="rex \\(researcher\\) may not delete a job"):
        jobs.delete_job(job.id, settings, role="researcher", user="rex")
    jobs.delete_job(job.id, settings, role="admin", user="adam")
    assert jobs.list_jobs(settings) == []
    assert read_actions(jobs.jobs_root(settings))[0]["by"] == "adam"
    # Where no job was ever made: an error, and no jobs folder (or lock) made for it.
    empty = Settings(runs_dir=tmp_path / "none")
    with pytest.raises(JobError, match="no job 'nosuch'"):
        jobs.delete_job("nosuch", empty, role="admin", user="adam")
    assert not (tmp_path / "none").exists()


def test_delete_cli_needs_a_signed_in_admin(tmp_path, monkeypatch, capsys):
    from mcalc.models.registry import list_models

    models = tmp_path / "models"
    _fake_model(models, "m1")
    users = UsersFile(tmp_path / "u.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    users.add("adam", "admin", password=PASSWORD)
    monkeypatch.setenv("MCALC_USERS", str(users.path))

    def delete(*extra: str, stdin: str = PASSWORD) -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["delete", "model", "m1", "--models", str(models), *extra])
        return code, capsys.readouterr().err

    code, err = delete()
    assert code == 2 and "deleting needs an admin: add --as NAME" in err
    code, err = delete("--as", "rita", "--password-stdin")
    assert code == 2 and "rita (reader) may not delete a model" in err
    code, err = delete("--as", "adam", "--password-stdin", stdin="not-his-password")
    assert code == 2 and "wrong user name or password" in err
    assert [c.id for c in list_models(models).models] == ["m1"]
    code, err = delete("--as", "adam", "--password-stdin")
    assert code == 0, err
    assert list_models(models).models == []
    assert "was the default model" not in capsys.readouterr().out


def test_delete_cli_says_when_it_cleared_the_default_model(tmp_path, monkeypatch, capsys):
    from mcalc.models.registry import default_model_id, set_default_model

    models = tmp_path / "models"
    _fake_model(models, "m1")
    _fake_model(models, "m2")
    set_default_model(models, "m1", role="researcher", user="rob")
    monkeypatch.setenv("MCALC_AUTH", "off")
    assert main(["delete", "model", "m2", "--models", str(models)]) == 0
    assert "default" not in capsys.readouterr().out and default_model_id(models) == "m1"
    assert main(["delete", "model", "m1", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted model m1\nm1 was the default model: no default is set now")
    assert f"`python -m mcalc models --models {models} default ID`" in out
    assert default_model_id(models) is None


def test_delete_cli_with_no_account_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    """A fresh clone has no account: `delete model ID --as ana` answered "wrong user name
    or password for 'ana'" (after asking for one), as if ana existed."""
    from mcalc.models.registry import list_models

    models = tmp_path / "models"
    _fake_model(models, "m1")
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "users.yaml"))  # no such file yet
    monkeypatch.setattr(sys, "stdin", io.StringIO("anything\n"))
    args = ["delete", "model", "m1", "--models", str(models), "--as", "ana", "--password-stdin"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no account in" in err and "users add NAME --role admin" in err, err
    assert "wrong user name or password" not in err
    # Given --file, the account must go to that file: the command names it, quoted.
    users = tmp_path / "my users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("anything\n"))
    assert main([*args[:2], "--file", str(users), *args[2:]]) == 2
    err = capsys.readouterr().err
    assert f"`python -m mcalc users --file '{users}' add NAME --role admin`" in err, err
    assert [c.id for c in list_models(models).models] == ["m1"]


def test_openid_connect_claims_map_to_an_account(tmp_path):
    users = UsersFile(tmp_path / "u.yaml", bcrypt_rounds=4)
    users.add("olga", "researcher", email="olga@example.org")
    assert users.account_for_claims({"email": "olga@example.org"}).role == "researcher"
    for claims, message in (
        ({}, "sent no e-mail address"),
        ({"email": "olga@example.org", "email_verified": False}, "has not verified"),
        ({"email": "eve@example.org"}, "eve@example.org has no mcalc role"),
    ):
        with pytest.raises(AccessError, match=message):
            users.account_for_claims(claims)


def test_openid_connect_sign_in_gives_the_account_role_or_nothing(accounts):
    accounts.add("olga", "researcher", email="olga@example.org")
    at = _oidc_app({"is_logged_in": True, "email": "olga@example.org", "email_verified": True})
    assert not at.exception
    assert at.session_state["mcalc_user"] == {"name": "olga", "role": "researcher", "via": "oidc"}
    at = _oidc_app({"is_logged_in": True, "email": "eve@example.org"})
    assert any("eve@example.org has no mcalc role" in e.value for e in at.error)
    assert "mcalc_user" not in at.session_state and not at.get("page_link")


# -- names the command line records --------------------------------------------------------
@pytest.fixture
def cli_accounts(tmp_path, monkeypatch, capsys):
    """An admin ``ana``, a reader ``rita`` and a researcher ``olga`` in MCALC_USERS, and a
    ``cli(*args)`` that runs ``python -m mcalc`` in-process: ``(status, stdout, stderr)``."""
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    for name, role in (("ana", "admin"), ("rita", "reader"), ("olga", "researcher")):
        users.add(name, role, password=PASSWORD)
    monkeypatch.setenv("MCALC_USERS", str(users.path))
    monkeypatch.delenv("MCALC_AUTH", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "root")  # a login name that is no account

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return cli


def _models(root: Path) -> Path:
    """A registry of one model ``m1`` (its card only: nothing is loaded)."""
    import json

    (root / "m1").mkdir(parents=True)
    (root / "m1" / "model.keras").write_bytes(b"not read")
    card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"],
            "patch": {"size": 32}, "created": "2026"}  # fmt: skip
    (root / "m1" / "card.json").write_text(json.dumps(card))
    return root


def test_report_refuses_a_user_who_is_no_account(cli_accounts, tiny_demo, tmp_path):
    """`report --user NAME` wrote any name into the PDF, accounts or not (a user check,
    6 December): where accounts exist an unknown name, or the login name when --user is
    left out, is refused in one line that names the accounts, and nothing is written."""
    out = tmp_path / "r.pdf"
    base = ["report", "--data", str(tiny_demo), "--case", "suspicious-1", "--out", str(out)]
    code, _, err = cli_accounts(*base, "--user", "nobody")
    assert code == 2 and not out.exists()
    assert err.splitlines() == [
        f"error: --user 'nobody' is not an account of {tmp_path / 'users.yaml'} "
        "(accounts: ana, olga, rita); nothing written"
    ]
    code, _, err = cli_accounts(*base)
    assert code == 2 and not out.exists()
    assert "your login name 'root' is not an account" in err and "pass --user NAME" in err


def test_report_in_demo_mode_says_the_name_is_not_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    monkeypatch.delenv("MCALC_AUTH", raising=False)
    code = main(["report", "--data", str(tmp_path / "nope"), "--case", "c", "--user", "nobody",
                 "--out", str(tmp_path / "r.pdf")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2  # the missing dataset, after the note
    assert "note: --user 'nobody' is not checked: there are no accounts in" in err, err


def test_models_default_by_names_an_account_that_may_set_it(cli_accounts, tmp_path):
    """`models default ID --by NAME` recorded any name, as an admin. Where accounts exist
    the name must be one, with a role that may choose the default model (as in the app),
    and the record carries that role."""
    from mcalc.access import read_actions
    from mcalc.models.registry import default_model_id

    models = _models(tmp_path / "models")
    code, _, err = cli_accounts(
        "models", "default", "m1", "--by", "nobody", "--models", str(models)
    )
    assert code == 2 and default_model_id(models) is None and read_actions(models) == []
    assert err.splitlines() == [
        f"error: --by 'nobody' is not an account of {tmp_path / 'users.yaml'} "
        "(accounts: ana, olga, rita); the default model is unchanged"
    ]
    code, _, err = cli_accounts("models", "default", "m1", "--by", "rita", "--models", str(models))
    assert code == 2 and default_model_id(models) is None
    assert "rita (reader) may not choose the default model" in err, err
    code, _, err = cli_accounts("models", "default", "m1", "--models", str(models))  # login
    assert code == 2 and "your login name 'root' is not an account" in err and "--by NAME" in err
    assert cli_accounts("models", "default", "m1", "--by", "olga", "--models", str(models))[0] == 0
    assert default_model_id(models) == "m1"
    assert [(a["by"], a["role"]) for a in read_actions(models)] == [("olga", "researcher")]
    code, _, err = cli_accounts(
        "models", "default", "--clear", "--by", "x", "--models", str(models)
    )
    assert code == 2 and default_model_id(models) == "m1" and "--by 'x'" in err
    assert cli_accounts("models", "default", "--models", str(models))[0] == 0  # showing: no name


def test_models_default_in_demo_mode_says_the_name_is_not_checked(tmp_path, monkeypatch, capsys):
    from mcalc.access import read_actions

    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    monkeypatch.delenv("MCALC_AUTH", raising=False)
    models = _models(tmp_path / "models")
    assert main(["models", "default", "m1", "--by", "lead", "--models", str(models)]) == 0
    assert "note: --by 'lead' is not checked: there are no accounts" in capsys.readouterr().err
    assert [(a["by"], a["role"]) for a in read_actions(models)] == [("lead", "admin")]


def test_train_trained_by_and_temporal_reader_name_accounts(
    cli_accounts, tiny_demo, tmp_path, monkeypatch
):
    """The other commands that take a person's name: `train --trained-by` (written to the
    card) is refused before any work; `temporal --reader` (whose marks to track) takes an
    account or a reader with saved marks on the case (marks saved before the accounts)."""
    from mcalc.cli.temporal import _check_reader
    from mcalc.dataset import open_dataset
    from mcalc.store.mark_store import MarkStore
    from mcalc.store.marks import ImageMarks

    code, _, err = cli_accounts("train", "--data", str(tiny_demo), "--trained-by", "nobody",
                                "--models", str(tmp_path / "m"))  # fmt: skip
    assert code == 2 and "--trained-by 'nobody' is not an account" in err
    assert err.rstrip().endswith("nothing trained") and not (tmp_path / "m").exists()
    code, _, err = cli_accounts("train", "--data", str(tiny_demo), "--trained-by", "rita")
    assert code == 2 and "rita (reader) may not train" in err, err

    code, _, err = cli_accounts("temporal", "--data", str(tiny_demo), "--case", "suspicious-1",
                                "--reader", "nobody")  # fmt: skip
    assert code == 2 and "--reader 'nobody' is not an account" in err, err
    assert err.rstrip().endswith("nothing done")
    case = open_dataset(tiny_demo).case("suspicious-1")
    store = tmp_path / "store"
    monkeypatch.setenv("MCALC_STORE", str(store))
    key = case.images[0].key
    MarkStore(store).save(ImageMarks(key, "old-name").add_point(5, 5, "benign"), base_version=0)
    _check_reader(case, "old-name")  # marks saved under a name that is no account
    _check_reader(case, "rita")  # an account without marks
    with pytest.raises(AccessError, match="marks on suspicious-1 by old-name"):
        _check_reader(case, "nobody")
