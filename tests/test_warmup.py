"""TensorFlow's start-up in a background thread: once per process, off on request, and
importing the starter does not import TensorFlow; the default model loaded and traced there
is the one Predict's loaders hand out."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mcalc.models.warmup as warmup
from mcalc.config import get_settings


def test_importing_the_starter_does_not_import_tensorflow() -> None:
    code = "import sys, mcalc.models.warmup; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """A warm-up not started yet whose two stages only note their call (1: TensorFlow, 2:
    the default model), Keras not imported, on unless a test turns it off."""
    out: list[int] = []
    monkeypatch.setattr(warmup, "warm_up_tensorflow", lambda: out.append(1))
    monkeypatch.setattr(warmup, "warm_up_model", lambda models_dir: out.append(2))
    monkeypatch.setattr(warmup, "_THREAD", None)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("MCALC_WARM_TF", "1")
    return out


def test_started_once_per_process_and_off_on_request(calls, monkeypatch) -> None:
    monkeypatch.setenv("MCALC_WARM_TF", "0")
    assert get_settings().warm_tensorflow is False
    assert warmup.start_tensorflow_warmup() is None and not calls
    monkeypatch.setenv("MCALC_WARM_TF", "1")
    thread = warmup.start_tensorflow_warmup()
    assert thread is not None and thread.daemon
    thread.join(10)
    assert calls == [1, 2]  # TensorFlow, then the default model
    assert warmup.start_tensorflow_warmup() is None and calls == [1, 2]


def test_waits_for_the_page_that_started_it(calls) -> None:
    """With ``after`` (the page's script run) nothing is imported until that run ended."""
    page_done = threading.Event()
    page = threading.Thread(target=page_done.wait, args=(10,))
    page.start()
    thread = warmup.start_tensorflow_warmup(after=page)
    assert thread is not None
    thread.join(0.3)
    assert calls == [] and thread.is_alive()  # the page still runs
    page_done.set()
    thread.join(10)
    assert calls == [1, 2]


def test_the_default_model_is_warmed_once_and_handed_to_predict(tmp_path, monkeypatch) -> None:
    """The registry's first model is loaded and traced (its explainer's clone built) in the
    warm-up, and Predict's cached loaders return those very objects; any other model (or
    the same folder with another model file) is not the warm-up's."""
    import keras  # noqa: F401  (a broken install fails here, not skips)

    from mcalc.explain.results import model_key
    from mcalc.models.registry import list_models
    from pages import predict_run
    from tests.explain_fixtures import register, spot_model

    root = tmp_path / "models"
    register(root, "a-spot", spot_model())
    asked = threading.Event()

    class AskedOnceLoaded(dict):  # a page asks for the model as soon as it is handed over
        def __setitem__(self, key, value) -> None:
            super().__setitem__(key, value)
            asked.set()

    monkeypatch.setattr(warmup, "_MODELS", AskedOnceLoaded())
    monkeypatch.setattr(warmup, "_WANTED", [])
    monkeypatch.setattr(warmup, "_THREAD", None)
    monkeypatch.setattr(warmup, "_ASKED", asked)
    (first,) = list_models(root).models
    # A page that asks for the model while it is being traced stops the trace: the model is
    # handed over untraced (the page's analysis traces it, with the processor to itself).
    key = warmup.warm_up_model(root)
    assert key is not None and len(warmup.warm_model(*key)[1]._clones) == 0
    asked.clear()
    monkeypatch.setattr(warmup, "_MODELS", {})
    key = warmup.warm_up_model(root)
    assert key == (str(first.path), model_key(first))
    warm = warmup.warm_model(*key)
    assert warm is not None
    loaded, xp = warm
    assert loaded.card.id == first.id and xp.model is loaded.model
    assert len(xp._clones) == 1  # the tiny analysis built (and traced) the Grad-CAM clone
    assert warmup.warm_model(str(root / "b-spot"), "b-spot@file") is None
    assert warmup.warm_model(str(first.path), "a-spot@another-file") is None
    predict_run.loaded_model.clear()
    predict_run.explainer.clear()
    try:
        assert predict_run.loaded_model(*key) is loaded
        assert predict_run.explainer(*key) is xp
    finally:
        predict_run.loaded_model.clear()
        predict_run.explainer.clear()


def test_freeze_heap_moves_what_is_alive_out_of_the_collectors_reach() -> None:
    import gc

    # Left frozen, as the suite's workers freeze their heap anyway (tests/conftest.py
    # ``_freeze_heap_after_large_imports``, which does not look for an unfrozen heap).
    frozen = warmup.freeze_heap()
    # Frozen objects can still die (their count drops when another thread, such as
    # pytest-xdist's, drops the last reference to one), never be added to by others.
    assert frozen >= gc.get_freeze_count() > 0.99 * frozen > 1000
    assert len(gc.get_objects()) < frozen  # a full collection walks only the rest


def test_a_page_that_comes_while_tensorflow_imports_loads_its_own_and_the_warmup_none(
    tmp_path, monkeypatch
) -> None:
    release = threading.Event()
    importing = threading.Thread(target=release.wait, daemon=True)  # the warm-up, importing
    importing.start()
    monkeypatch.setattr(warmup, "_THREAD", importing)
    monkeypatch.setattr(warmup, "_WANTED", [])
    monkeypatch.setattr(warmup, "_ASKED", threading.Event())
    try:
        assert warmup.warm_model(str(tmp_path / "a-spot"), "a-spot@file") is None  # at once
        (tmp_path / "models").mkdir()
        monkeypatch.setattr(
            "mcalc.models.registry.list_models",
            lambda root: type("L", (), {"models": [_Card(tmp_path / "a-spot")]})(),
        )
        assert warmup.warm_up_model(tmp_path / "models") is None  # the page loaded its own
    finally:
        release.set()


class _Card:
    """Just what :func:`warmup.warm_up_model` reads before it decides to load."""

    def __init__(self, path) -> None:
        self.path = path
        self.id = "a-spot"

    def fingerprint(self) -> str:
        return "file"


def test_the_warm_up_loads_the_default_model_not_the_newest(tmp_path, monkeypatch) -> None:
    """The warm-up (and so the analysis ahead of Predict's first case) takes the model the
    page opens on: the registry's default, not a newer quick try."""
    import json
    from types import SimpleNamespace

    import mcalc.explain.explainer as explainer
    import mcalc.models.inference as inference
    from mcalc.models.registry import set_default_model

    root = tmp_path / "models"
    for model_id, created in (("chosen", "2024"), ("quick-try", "2025")):
        (root / model_id).mkdir(parents=True)
        (root / model_id / "model.keras").write_bytes(b"not read")
        card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"],
                "patch": {"size": 32}, "created": created}  # fmt: skip
        (root / model_id / "card.json").write_text(json.dumps(card))
    loaded: list[str] = []
    monkeypatch.setattr(
        inference,
        "load_model",
        lambda path, *_: loaded.append(Path(path).name) or SimpleNamespace(temporal=True),
    )
    monkeypatch.setattr(explainer.Explainer, "for_model", staticmethod(lambda m: None))
    for name, value in (("_MODELS", {}), ("_WANTED", []), ("_ASKED", threading.Event())):
        monkeypatch.setattr(warmup, name, value)
    set_default_model(root, "chosen", role="admin")
    key = warmup.warm_up_model(root)
    assert loaded == ["chosen"] and key is not None and key[0] == str((root / "chosen").resolve())


def test_a_failed_warm_up_logs_where_it_failed(monkeypatch, caplog) -> None:
    """A warm-up that fails is logged with its traceback (the page loads the model itself
    and says what is wrong; the log alone tells where the warm-up broke)."""
    import logging

    def fails(models_dir):
        raise ValueError("Only input tensors may be passed as positional arguments")

    monkeypatch.setattr(warmup, "warm_up_tensorflow", lambda: 0.0)
    monkeypatch.setattr(warmup, "warm_up_model", fails)
    monkeypatch.setattr(warmup, "_WANTED", [])
    with caplog.at_level(logging.WARNING, logger=warmup.__name__):
        warmup._run(Path("models"))
    (record,) = [r for r in caplog.records if "warm-up failed" in r.getMessage()]
    assert record.getMessage().startswith("model warm-up failed: Only input tensors")
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "fails" in caplog.text  # the traceback names the function that raised


def test_an_exit_waits_for_the_stage_going_on_and_starts_no_other(tmp_path) -> None:
    """A process that exits while the warm-up imports TensorFlow (here a stage that takes
    1 s, then imports what TensorFlow's import does) lets that stage end before any atexit
    callback runs, then starts no other stage, and says so. Before, the interpreter shut
    down under the daemon thread; a real one then failed inside Keras, "Only input tensors
    may be passed as positional arguments" (optree's atexit callbacks, registered while
    Keras imports, had emptied its registry), or crashed the process at exit."""
    code = f"""
import atexit, logging, sys, threading, time
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
import mcalc.models.warmup as warmup
assert "concurrent.futures.process" not in sys.modules
started, exited = threading.Event(), threading.Event()
def tensorflow():
    started.set()
    time.sleep(1.0)
    import concurrent.futures.process  # as importing TensorFlow does
    with open({str(tmp_path / "tensorflow")!r}, "w") as f:
        f.write("atexit ran" if exited.is_set() else "ended first")
def model(models_dir):
    open({str(tmp_path / "model")!r}, "w").close()
warmup.warm_up_tensorflow = tensorflow
warmup.warm_up_model = model
assert warmup.start_tensorflow_warmup() is not None
atexit.register(exited.set)  # as optree's, registered while Keras imports
assert started.wait(30)
"""  # the main thread ends here, with the warm-up in its first stage
    env = {**os.environ, "MCALC_WARM_TF": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tensorflow").exists(), f"the stage going on did not end: {out.stderr}"
    assert (tmp_path / "tensorflow").read_text() == "ended first"
    assert not (tmp_path / "model").exists(), "a stage started while the process exited"
    said = "INFO warm-up stopped before the model's warm-up: the process is exiting"
    assert said in out.stderr, out.stderr
    assert "failed" not in out.stderr, out.stderr


def test_a_stage_broken_by_the_exit_is_logged_as_stopped_not_failed(monkeypatch, caplog) -> None:
    """Once the process exits, a stage that raises (an import that registers an exit
    hook: "can't register atexit after shutdown") is no warm-up failure; the same error
    before the exit is a warning (Predict's first visit will be slow)."""
    import logging

    def fails():
        if exiting:
            warmup._STOP.set()  # the process begins to exit while the stage runs
        raise RuntimeError("can't register atexit after shutdown")

    exiting = False
    monkeypatch.setattr(warmup, "warm_up_tensorflow", fails)
    monkeypatch.setattr(warmup, "_WANTED", [])
    monkeypatch.setattr(warmup, "_STOP", threading.Event())
    with caplog.at_level(logging.INFO, logger=warmup.__name__):
        warmup._run(Path("models"))
        exiting = True
        warmup._run(Path("models"))
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        ("WARNING", "TensorFlow warm-up failed: can't register atexit after shutdown"),
        ("INFO", "TensorFlow warm-up stopped: the process is exiting "
                 "(can't register atexit after shutdown)"),
    ]  # fmt: skip


def test_stop_at_exit_waits_a_bounded_time_for_a_thread_that_does_not_end(monkeypatch) -> None:
    """A stage that never ends does not hold the exit longer than the bound."""
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, daemon=True)
    stuck.start()
    monkeypatch.setattr(warmup, "_THREAD", stuck)
    monkeypatch.setattr(warmup, "_STOP", threading.Event())
    try:
        t0 = time.perf_counter()
        assert warmup.stop_at_exit(0.2) is False
        assert 0.2 <= time.perf_counter() - t0 < 5 and warmup._STOP.is_set()
        release.set()
        assert warmup.stop_at_exit(5) is True
    finally:
        release.set()


def _until_started(work, timeout: float = 60) -> None:
    """Wait until the warm-up's thread has started ``work`` (its stages before it done)."""
    deadline = time.monotonic() + timeout
    while not work.running:
        assert time.monotonic() < deadline, f"the opening analysis did not start in {timeout} s"
        time.sleep(0.01)


def _stages_in_order(monkeypatch, order: list[str], work) -> None:
    """The warm-up's stages as stand-ins that note their order; the opening case's analysis
    ahead is ``work`` (a BackgroundWork), started where the warm-up starts it."""
    monkeypatch.setattr(warmup, "warm_up_tensorflow", lambda: order.append("tensorflow"))
    monkeypatch.setattr(warmup, "warm_up_model", lambda models_dir: order.append("model") or "k")
    monkeypatch.setattr(warmup, "analyse_opening", lambda *a: work.start())
    monkeypatch.setattr(warmup, "_WANTED", [])


def test_then_runs_last_once_the_opening_analysis_ended(monkeypatch) -> None:
    """``then`` (the app's own start-up work: Predict's page modules) is called in the
    warm-up's thread after the model and after the analysis ahead of the opening case has
    ended, not beside it; not at all when the model's warm-up failed."""
    from mcalc.progress import BackgroundWork

    order: list[str] = []
    release = threading.Event()

    def opening(progress):
        release.wait(10)
        order.append("opening analysed")

    work = BackgroundWork(opening, key="opening")
    _stages_in_order(monkeypatch, order, work)
    runner = threading.Thread(
        target=warmup._run, args=(Path("models"),), kwargs={"then": lambda: order.append("then")}
    )
    runner.start()
    _until_started(work)  # not a fixed 0.3 s: a busy machine's runner can take longer
    runner.join(0.3)  # time for a ``then`` that did not wait to come
    assert order == ["tensorflow", "model"] and runner.is_alive()  # waits for the analysis
    release.set()
    runner.join(10)
    assert order == ["tensorflow", "model", "opening analysed", "then"]

    order.clear()  # no analysis ahead started (none asked for, or it failed): at once
    monkeypatch.setattr(warmup, "analyse_opening", lambda *a: None)
    warmup._run(Path("models"), then=lambda: order.append("then"))
    assert order == ["tensorflow", "model", "then"]

    def fails(models_dir):
        raise OSError("no model folder")

    order.clear()
    monkeypatch.setattr(warmup, "warm_up_model", fails)
    warmup._run(Path("models"), then=lambda: order.append("then"))
    assert order == ["tensorflow"]


def test_a_failing_then_is_logged(monkeypatch, caplog) -> None:
    import logging

    def broken() -> None:
        raise ImportError("No module named 'pages.nosuch'")

    monkeypatch.setattr(warmup, "warm_up_tensorflow", lambda: 0.0)
    monkeypatch.setattr(warmup, "warm_up_model", lambda models_dir: "k")
    monkeypatch.setattr(warmup, "analyse_opening", lambda *a: None)
    monkeypatch.setattr(warmup, "_WANTED", [])
    with caplog.at_level(logging.WARNING, logger=warmup.__name__):
        warmup._run(Path("models"), then=broken)
    (record,) = [r for r in caplog.records if "last step" in r.getMessage()]
    assert "pages.nosuch" in record.getMessage() and record.exc_info is not None


def test_the_app_warm_up_imports_predicts_page_last(monkeypatch) -> None:
    """The app's frame starts the warm-up with Predict's page modules as its last step,
    with the modules Streamlit imports on first use (its first cold case's alert), and
    then the file watchers' paths of every module imported by then."""
    import pages.common as common
    from pages.preload import STREAMLIT_ON_FIRST_USE

    seen: list[dict] = []
    monkeypatch.setattr(common, "start_tensorflow_warmup", lambda **kw: seen.append(kw))
    monkeypatch.setattr(common.st, "set_page_config", lambda **kw: None)
    monkeypatch.setattr(common, "_RUN", type("Run", (), {"frame_done": True})())
    common.frame()
    (kw,) = seen
    assert kw["then"] is common.after_warmup
    steps: list[object] = []
    monkeypatch.setattr(common, "import_page_modules", lambda *a: steps.append(("import", a)))
    monkeypatch.setattr(common, "prime_watched_module_paths", lambda: steps.append("paths"))
    kw["then"]()
    assert steps == [("import", (common.PREDICT_SCRIPT, STREAMLIT_ON_FIRST_USE)), "paths"]
    assert common.PREDICT_SCRIPT.name == "predict.py"
    assert common.PREDICT_SCRIPT.is_file()


def test_an_exit_cancels_the_opening_analysis_and_skips_then(monkeypatch, caplog) -> None:
    """An exit while the warm-up waits for its analysis ahead of the opening case cancels
    that analysis (a model running in a daemon thread too), does not call ``then``, and
    waits for both, far less than the 60 s ``then`` may wait for the analysis."""
    import logging

    from mcalc.progress import BackgroundWork

    order: list[str] = []

    def opening(progress):
        for _ in range(1000):  # a model's analysis: reports its progress now and then
            time.sleep(0.01)
            progress(0, 1)
        order.append("opening analysed")

    work = BackgroundWork(opening, key="opening")
    _stages_in_order(monkeypatch, order, work)
    monkeypatch.setattr(warmup, "_OPENING", [])
    monkeypatch.setattr(warmup, "_STOP", threading.Event())
    runner = threading.Thread(
        target=warmup._run, args=(Path("models"),), kwargs={"then": lambda: order.append("then")}
    )
    monkeypatch.setattr(warmup, "_THREAD", runner)
    with caplog.at_level(logging.INFO, logger=warmup.__name__):
        runner.start()
        _until_started(work)  # not a fixed 0.3 s: a busy machine's runner can take longer
        runner.join(0.3)
        assert runner.is_alive() and work.running  # waiting for the opening analysis
        t0 = time.perf_counter()
        assert warmup.stop_at_exit(10) is True
    assert time.perf_counter() - t0 < 5
    assert order == ["tensorflow", "model"] and work.state == "cancelled"
    assert "warm-up stopped before its last step: the process is exiting" in caplog.text
