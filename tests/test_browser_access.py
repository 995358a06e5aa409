"""In a real browser, with accounts on: an anonymous visitor sees the sign-in form and no
image; a reader signs in, and a fresh load of any page (a reload, a deep link) keeps them
signed in through the cookie, never showing the sign-in again; the reader cannot open
Train; signing out forgets the cookie. (Roles page by page: tests/test_access.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from mcalc.access import UsersFile
from tests.browser import (
    ARTIFACTS,
    VIEWER,
    browser_page,
    open_app,
    page_point,
    runs,
    shared_app,
    viewer_frame,
    wait_for_app_idle,
    wait_for_marking,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-9"
COOKIE = "mcalc_auth"
#: Records, from the first byte of every page load, whether the sign-in was ever drawn.
WATCH_SIGN_IN = """
window.__signInShown = false;
new MutationObserver(() => {
  if (!window.__signInShown && document.body &&
      /Sign in to mcalc|sign-in required/.test(document.body.innerText)) {
    window.__signInShown = true;
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture
def accounts_app(tiny_demo, tmp_path_factory):
    """A server of its own (accounts exist, so sign-in is required), shared by this file."""

    def prepare() -> tuple[Path, dict[str, str]]:
        root = tmp_path_factory.mktemp("accounts-app")
        users = UsersFile(root / "users.yaml", bcrypt_rounds=4)
        users.add("rita", "reader", password=PASSWORD)
        users.add("adam", "admin", password=PASSWORD)
        env = {
            "MCALC_DEMO_DIR": str(tiny_demo),
            "MCALC_USERS": str(users.path),
            # No page here runs a model (a reader cannot open Train): no TensorFlow warm-up
            # (6-7 CPU-s beside these tests' pages, for nothing they use).
            "MCALC_WARM_TF": "0",
            **{f"MCALC_{n.upper()}": str(root / n) for n in ("cache", "store", "runs", "models")},
        }
        return root, env

    return shared_app("accounts", prepare)


def _auth_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None)


def _wait_for_cookie(page, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not _auth_cookie(page):
        assert time.monotonic() < deadline, f"no sign-in cookie: {page.context.cookies()}"
        page.wait_for_timeout(100)


def _sign_in_form(page, since: int) -> None:
    """Wait for the sign-in form, drawn by the run after the page's first ``since`` run
    requests. (The form asks for no rerun of its own: see ``test_access``.)"""
    runs(page).wait_settled(since + 1)
    page.locator("input[type=password]").wait_for(timeout=60_000)


def test_sign_in_survives_a_fresh_load_and_sign_out_forgets_it(accounts_app):
    url = accounts_app.url
    with browser_page(width=1400, height=1400) as page:
        open_app(page, f"{url}/browse")
        _sign_in_form(page, 0)
        page.screenshot(path=str(ARTIFACTS / "access-anonymous.png"))
        assert page.locator("img, canvas, .js-plotly-plot").count() == 0
        assert _auth_cookie(page) is None

        page.get_by_label("Username").fill("rita")
        page.locator("input[type=password]").fill(PASSWORD)
        before = runs(page).requests
        page.get_by_role("button", name="Sign in").click()
        # One click, one run, signed in: a Sign in click that signed nobody in (a component's
        # rerun cut its run short) fails here.
        page.get_by_text("Signed in as rita").wait_for(timeout=60_000)
        assert runs(page).requests == before + 1
        # The sign-in run's own script writes the cookie (drawn with the run, no rerun).
        _wait_for_cookie(page)

        # A fresh load (what a reload or a bookmark does) is signed in from the first draw.
        page.add_init_script(WATCH_SIGN_IN)
        for path, wanted in (("/train", "cannot open this page"), ("/annotate", "Reader: rita")):
            open_app(page, f"{url}{path}")
            page.get_by_text(wanted).first.wait_for(timeout=90_000)
            assert page.get_by_text("Signed in as rita").is_visible()
            assert not page.evaluate("window.__signInShown"), f"{path}: the sign-in flashed"
            if path == "/train":
                page.screenshot(path=str(ARTIFACTS / "access-reader-train.png"))

        # A sign-out with marks not saved in the viewer asks first (it signed out without a
        # word, and the marks stayed in the tab: the next reader's reload asked about them).
        frame = viewer_frame(page)
        key = frame.eval_on_selector(VIEWER, "e => e.dataset.case")
        panel = frame.eval_on_selector_all(".panel", "els => els.map(e => e.dataset.key)")
        wait_for_marking(frame, key)
        frame.focus(VIEWER)
        frame.press(VIEWER, "a")
        w, h = frame.eval_on_selector_all(
            ".panel", "els => els.map(e => [e.clientWidth, e.clientHeight])"
        )[panel.index(key)]
        page.mouse.click(*page_point(page, frame, panel.index(key), w / 2 - 15, h / 2 + 20))
        assert frame.eval_on_selector(VIEWER, "e => e.dataset.marks") == "1"
        asked: list[str] = []
        answers = iter([False, True])  # Cancel (stay, marks kept), then OK (discard them)

        def answer(dialog) -> None:  # type: ignore[no-untyped-def]
            asked.append(dialog.message)
            dialog.accept() if next(answers) else dialog.dismiss()

        page.on("dialog", answer)
        sign_out = page.locator("[data-testid='stSidebar']").get_by_role("button", name="Sign out")
        sign_out.click()
        page.wait_for_timeout(1000)
        assert len(asked) == 1 and "unsaved marks" in asked[0], asked
        assert page.get_by_text("Signed in as rita").is_visible()  # Cancel: still signed in
        assert viewer_frame(page).eval_on_selector(VIEWER, "e => e.dataset.marks") == "1"

        # Signing out forgets the cookie: the next fresh load asks again.
        before = runs(page).requests
        sign_out.click()
        _sign_in_form(page, before)
        assert len(asked) == 2, asked
        # Discarded, as the reader answered: none left in the tab for the next reader's
        # reload to ask about.
        drafts = "[...(window.__mcalcViewerDrafts || new Map()).keys()]"
        assert page.evaluate(drafts) == [], page.evaluate(drafts)
        open_app(page, f"{url}/annotate")
        page.locator("input[type=password]").wait_for(timeout=60_000)
        assert page.get_by_text("Signed in as").count() == 0
        assert _auth_cookie(page) is None


def test_import_of_another_readers_marks_is_refused_by_the_check(accounts_app, tmp_path):
    """Signed in, a reader imports only their own marks. The file's check said "no problem
    found" (green) with an Import button, and only the click said it was refused; the
    check now says so, with no Import button."""
    from mcalc.dataset import open_dataset

    key = open_dataset(Path(accounts_app.env["MCALC_DEMO_DIR"])).images()[0].key
    marks = tmp_path / "anns_marks.csv"
    marks.write_text(f"image_key,reader,row,col,label\n{key},ann,20,20,benign\n")
    with browser_page(width=1400, height=1400) as page:
        open_app(page, f"{accounts_app.url}/annotate")
        _sign_in_form(page, 0)
        page.get_by_label("Username").fill("rita")
        page.locator("input[type=password]").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Reader: rita").wait_for(timeout=90_000)
        # The file is given once the page is still (the sign-in's and the viewer's runs
        # ended): a run going on can redraw the uploader under it (one lost upload seen in
        # a clean-clone CI run under load).
        wait_for_app_idle(page)
        page.get_by_text("Export and import").click()
        uploader = page.locator("input[type=file]")
        uploader.wait_for(state="attached", timeout=30_000)
        wait_for_app_idle(page)
        # The file's chip says the uploader took it; a run that redrew the uploader just as
        # the file was given (twice in CI runs under load, the uploader then empty in the
        # failure's screenshot) loses it: give it again, as a reader would.
        for attempt in range(3):
            uploader.set_input_files(str(marks))
            try:
                page.get_by_test_id("stFileChipName").first.wait_for(timeout=20_000)
                break
            except PlaywrightTimeoutError:
                assert attempt < 2, "the uploader never took the file"
                wait_for_app_idle(page)
        page.get_by_text("you can import only your own marks").wait_for(timeout=60_000)
        assert page.get_by_text("no problem found").count() == 0
        assert page.get_by_role("button", name="Import", exact=True).count() == 0
    assert not list(Path(accounts_app.env["MCALC_STORE"]).rglob("ann-*.json"))  # nothing
