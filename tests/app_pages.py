"""Opening one page of the app in Streamlit's AppTest, for the page tests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def shown(table: Any) -> pd.DataFrame:
    """An AppTest dataframe element's data as the grid shows them: a missing value is the
    element's placeholder (what ``pages.common.dataframe`` sets), or "None", Streamlit's
    default, where it has none. Other values are left as they are (numbers stay numbers)."""
    frame = table.value
    text = table.proto.placeholder if table.proto.HasField("placeholder") else "None"
    return frame.astype(object).where(frame.notna(), text)


#: The names of the threads Browse starts to make the next cases ahead: the reading
#: viewer's (:mod:`mcalc.present.panel_prefetch`) and the simple viewer's
#: (:func:`mcalc.viewer.prefetch_in_background`).
PREFETCH_THREADS = ("mcalc-panel-prefetch", "mcalc-prefetch")


def prefetch_ended(timeout: float = 60) -> None:
    """Let Browse's prefetch threads (a run starts one for the next cases once its viewer
    is out) end. A test that then runs the viewer's ask for the next case finds its pixels
    made: the page waits for them at most ``AHEAD_WAIT_S`` (5 s), which a loaded CI
    machine once exceeded (3 of the 4 were ready). ``tests/conftest.py`` calls it before
    every test, so that none finds one left by another test still reading, building and
    encoding images through the functions it replaces or counts."""
    for thread in threading.enumerate():
        if thread.name in PREFETCH_THREADS:
            thread.join(timeout=timeout)


def open_page(page: str, timeout: float = 90) -> AppTest:
    """A fresh session of the app, switched to ``page`` (e.g. ``pages/train.py``) and run.

    Fails the test when the page raised, naming the exceptions.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


#: A reader's choice on a page: (AppTest accessor such as ``"selectbox"``, widget key, value).
Choice = tuple[str, str, Any]


def choices_after_another_page(at: AppTest, page: str, choices: list[Choice]) -> dict[str, Any]:
    """Make each choice on ``page`` (in order, as a reader would, each checked to differ
    from what the widget showed, so that a lost choice cannot pass for a kept one), visit
    the home page, come back; returns each widget's value as drawn then, by key.

    Streamlit forgets a widget's value when a run does not draw it (another page's run):
    the page tests check with this that their reader's choices are kept."""
    for kind, key, value in choices:
        widget = getattr(at, kind)(key=key)
        assert widget.value != value, f"{key}: {value!r} is what it shows: choose another"
        widget.set_value(value).run()
        assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/home.py").run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return {key: getattr(at, kind)(key=key).value for kind, key, _ in choices}


def record_viewer_pixels(monkeypatch: Any) -> list[tuple[str, list[str]]]:
    """Every reading viewer drawn from now on: its widget key and the pixel ids its render
    carried as bytes (a page's pending draw and its result's both, which ``AppTest`` shows
    only the last of)."""
    from pages import viewer_component

    drawn: list[tuple[str, list[str]]] = []
    real = viewer_component.reading_viewer

    def spy(panels, **kwargs):
        index = (kwargs.get("pixels") or ([], b""))[0]
        drawn.append((kwargs["key"], [str(e["id"]) for e in index]))
        return real(panels, **kwargs)

    monkeypatch.setattr(viewer_component, "reading_viewer", spy)
    return drawn


# -- one image cache per test module (tests/test_app.py, test_app_annotate.py, test_app_audit.py)
@pytest.fixture(scope="module")
def images_cache(tmp_path_factory) -> Path:
    """One image cache for a module's tests on the tiny demo set, as a server's sessions
    share one: each test decoded and prepared the same 24 images again (~5 CPU-s over
    tests/test_app.py). Its entries are keyed by the files as they are
    (:func:`mcalc.cache.file_key`: a test's own copy of the data has entries of its own); a
    test that checks what a cold cache does sets ``MCALC_CACHE`` again. A module takes it
    with :func:`app_env_sharing_images`, imported."""
    return tmp_path_factory.mktemp("app-images-cache")


@pytest.fixture(name="app_env")
def app_env_sharing_images(
    app_env: Path, images_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """:func:`tests.conftest.app_env`, with the module's shared :func:`images_cache` (a
    module imports both: ``from tests.app_pages import app_env_sharing_images,
    images_cache``)."""
    monkeypatch.setenv("MCALC_CACHE", str(images_cache))
    return app_env
