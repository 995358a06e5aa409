"""In a real browser, with accounts on: an anonymous visitor sees the sign-in form and no
image; a reader signs in, annotates as themselves and cannot open Train; an admin can."""

from __future__ import annotations

import pytest

from mcalc.access import UsersFile
from tests.browser import ARTIFACTS, browser_page, require_chromium, running_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-9"


def _sign_in(page, url: str, name: str) -> None:
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(1500)  # the cookie component's rerun
    wait_for_app_idle(page)
    page.locator("input[type=password]").wait_for(timeout=60_000)
    page.get_by_label("Username").fill(name)
    page.locator("input[type=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=60_000)
    wait_for_app_idle(page)


def test_sign_in_and_roles_in_a_browser(app_env, tmp_path):
    require_chromium()
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password=PASSWORD)
    users.add("adam", "admin", password=PASSWORD)
    env = {
        "MCALC_DEMO_DIR": str(app_env),
        "MCALC_USERS": str(users.path),
        "MCALC_CACHE": str(tmp_path / "cache"),
        "MCALC_STORE": str(tmp_path / "store"),
        "MCALC_RUNS": str(tmp_path / "runs"),
        "MCALC_MODELS": str(tmp_path / "models"),
    }
    with running_app(env) as url:
        with browser_page(width=1400, height=1400) as page:
            page.goto(f"{url}/browse", wait_until="networkidle")
            page.get_by_text("Sign in to mcalc").wait_for(timeout=60_000)
            # The cookie component answers with a rerun: wait until the form is back.
            page.wait_for_timeout(1500)
            wait_for_app_idle(page)
            page.locator("input[type=password]").wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "access-anonymous.png"))
            assert page.locator("img, canvas, .js-plotly-plot").count() == 0
            assert page.locator("input[type=password]").count() == 1

            _sign_in(page, f"{url}/annotate", "rita")
            page.get_by_text("Reader: rita").wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "access-reader-annotate.png"))
            # Through the menu, in the same session. (A fresh page load re-reads the sign-in
            # cookie; in two clean-clone runs that path timed out here: to be looked into.)
            page.locator("[data-testid='stSidebar']").get_by_role("link", name="Train").click()
            page.wait_for_timeout(1000)
            wait_for_app_idle(page)
            page.get_by_text("cannot open this page").wait_for(timeout=90_000)
            page.screenshot(path=str(ARTIFACTS / "access-reader-train.png"))

        with browser_page(width=1400, height=1400) as page:
            _sign_in(page, f"{url}/train", "adam")
            page.get_by_text("Trainable parameters").first.wait_for(timeout=90_000)
            assert page.get_by_text("cannot open this page").count() == 0
            page.screenshot(path=str(ARTIFACTS / "access-admin-train.png"))
