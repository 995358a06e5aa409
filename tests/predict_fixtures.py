"""The Predict page's AppTest steps, shared by its test modules (``test_app_predict*.py``):
a registry of tiny models (:func:`make_registry`, behind the ``registry_dir`` and
``page_env`` fixtures of ``tests/conftest.py``, which every test module gets without
importing them), the page opened on it, a run waited for."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import keras  # noqa: F401  (a broken install fails here, not skips)
from streamlit.testing.v1 import AppTest

from tests.explain_fixtures import register, spot_model

APP = "../app.py"
PAGE = "pages/predict.py"


def make_registry(root: Path) -> Path:
    """A registry in ``root``: ``spot`` (hand-made detector), ``rand-birads``, a folder
    whose model file is corrupt and one whose model does not match its card's patch size."""
    from tests.explain_fixtures import random_model

    register(root, "spot", spot_model())
    register(root, "rand-birads", random_model(3), task="birads")
    broken = register(root, "broken", spot_model())
    (broken / "model.keras").write_bytes(b"not a keras archive")
    mismatch = register(root, "mismatch", spot_model(48))
    card = json.loads((mismatch / "card.json").read_text())
    card["patch"]["size"] = 32
    (mismatch / "card.json").write_text(json.dumps(card))
    return root


def settle(at: AppTest, timeout: float = 120) -> AppTest:
    """Wait for the page's background run (if any) to end, then rerun to show its result."""
    from pages.predict_run import WORK_KEY
    from pages.predict_temporal import WORK_KEY as ACROSS_KEY

    for _ in range(20):
        pending = []
        with contextlib.suppress(KeyError):
            pending.append(at.session_state[WORK_KEY][0])
        try:  # the section across rounds registers in the background too
            across = at.session_state[ACROSS_KEY][1]
            if across.running or at.get("progress"):
                pending.append(across)
        except KeyError:
            pass
        if not pending:
            return at
        for work in pending:
            assert work.wait(timeout), "the background run did not finish"
        at.run()
    raise AssertionError("the page kept running")


def press_run(at: AppTest) -> AppTest:
    """Press Run (the settings changed) and wait for the result."""
    at.button(key="predict_run").click().run()
    return settle(at)


def open_predict(model: str = "spot", timeout: float = 120, *, case: bool = True) -> AppTest:
    """Predict on ``model`` (and suspicious-1), first visit: the page runs by itself."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.session_state["predict_model"] = model
    at.session_state["predict_use_viewer"] = False  # the classic figure (the viewer: below)
    if case:
        at.session_state["predict_case"] = "suspicious-1"
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]  # the visit's own run too
    return settle(at)


def sidebar_popovers(at: AppTest) -> dict[str, set[str]]:
    """The sidebar's popovers: label -> keys of the widgets inside."""
    out: dict[str, set[str]] = {}

    def keys(node) -> set[str]:
        found = {getattr(node, "key", None)} - {None}
        for child in getattr(node, "children", {}).values():
            found |= keys(child)
        return found

    def walk(node) -> None:
        if getattr(node, "type", None) == "popover":
            out[node.proto.popover.label] = {k for k in keys(node) if k.startswith("predict_")}
            return
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.sidebar)
    return out


def image_figure(at: AppTest, key_part: str = "predict_fig") -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if any(t.get("type") == "image" for t in spec["data"]) and key_part in el.proto.id:
            return spec
    raise AssertionError("no image figure drawn")


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
