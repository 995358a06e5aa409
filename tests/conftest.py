"""Shared fixtures: tiny seeded synthetic datasets and isolated settings.

No real patient data, no network, no large weights: every dataset used by the tests is
generated here by :func:`mcalc.synthetic.generate_demo` at a tiny size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mcalc.config import prepare_tensorflow

# What the CLI and the app do: no CUDA noise on a CPU-only machine.
prepare_tensorflow()
# Caches, training runs and readers' stores the tests write land in a throw-away folder,
# never in the user's ~/.cache/mcalc or the clone's data/ (subprocesses inherit these).
# Tests that need their own folders set the variables again.
_TEST_ROOT = tempfile.mkdtemp(prefix="mcalc-tests-")
os.environ["MCALC_CACHE"] = os.path.join(_TEST_ROOT, "cache")
os.environ["MCALC_RUNS"] = os.path.join(_TEST_ROOT, "runs")
os.environ["MCALC_STORE"] = os.path.join(_TEST_ROOT, "store")
# No accounts unless a test makes them (a clone's data/users.yaml would turn the commands'
# names into account checks: mcalc.cli.common.recorded_user).
os.environ["MCALC_USERS"] = os.path.join(_TEST_ROOT, "users.yaml")
# No analysis ahead in the tests' own process (Predict's AppTests would analyse the next
# case beside the test, and a case chosen next would be cached): tests of it turn it on.
os.environ["MCALC_ANALYSE_AHEAD"] = "0"

TINY_SHAPE = (256, 208)
REPO = Path(__file__).resolve().parent.parent


def _scan_installed_components_once() -> None:
    """Every new ``AppTest`` looked through all installed packages' metadata for Streamlit's
    v2 component manifests (``BidiComponentManager.discover_and_register_components``, on
    its first run): 0.17 CPU-s each, 215 times in the suite's AppTest modules, for the same
    answer (the packages do not change during the tests; none here has one). The scan's
    answer is kept for the process; a server (browser tests) scans as shipped."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    scan = functools.cache(manifest_scanner.scan_component_manifests)

    def scan_once(max_workers: int | None = None) -> list:
        return list(scan())  # a new list each call, as the scan gives

    manifest_scanner.scan_component_manifests = scan_once


_scan_installed_components_once()


def _wait_for_app_test_runs_without_polling() -> None:
    """``AppTest.run`` waited for its script thread's end by polling: a 1 ms sleep, then a
    scan of every event of the run so far (``require_widgets_deltas``), about 280 times a
    second for the whole run, each wake-up taking the GIL from the script thread that does
    the work. It waits on the run's end event now (the same event, the same timeout and
    error as Streamlit's; measured in docs/measurements.md, h/suite2)."""
    import threading

    from streamlit.runtime.scriptrunner import ScriptRunnerEvent
    from streamlit.testing.v1 import local_script_runner

    def require_widgets_deltas(runner, timeout: float = 3) -> None:
        ended = threading.Event()

        def on_event(sender, event, **kwargs) -> None:
            if event == ScriptRunnerEvent.SHUTDOWN:
                ended.set()

        runner.on_event.connect(on_event, weak=False)
        try:
            if runner.script_stopped() or ended.wait(timeout):
                return
            if runner.script_stopped():  # the same check as Streamlit's, once more
                return
        finally:
            runner.on_event.disconnect(on_event)
        runner.request_stop()
        runner.join()
        raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")

    local_script_runner.require_widgets_deltas = require_widgets_deltas


_wait_for_app_test_runs_without_polling()


def pytest_sessionfinish(session, exitstatus) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: report what it started
        from tests.browser import COUNTS

        workeroutput["browser_counts"] = dict(COUNTS)
    shutil.rmtree(_TEST_ROOT, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist: add a finished worker's servers and Chromiums to the summary's."""
    from tests.browser import COUNTS

    for key, n in getattr(node, "workeroutput", {}).get("browser_counts", {}).items():
        COUNTS[key] += n


@pytest.fixture(autouse=True)
def _no_prefetch_left_running() -> None:
    """No test starts beside a Browse prefetch thread another test of this process left
    running (a Browse run starts one for the next cases; measured still running at the
    next test's start, 7 December 2026): it reads, builds and encodes images through
    module functions a test may replace or count (``cache.read_image``,
    ``viewer.prepare_view``, ``pixels.encode_fullres``), and fills the process's panel and
    pixel caches a test may have just cleared. Seen under ``-n 2`` in
    tests/test_panel_cache.py, whose builds counted its."""
    import threading

    if any(t.name.startswith("mcalc-") for t in threading.enumerate()):
        from tests.app_pages import prefetch_ended

        prefetch_ended()


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """A 6-case synthetic dataset in the real layout (256x208 images), shared read-only.

    ``difficulty="easy"``: plainly visible calcifications, which the hand-made ``spot``
    detector (tests/explain_fixtures.py) finds, so pipeline tests have a known answer."""
    from mcalc.synthetic import generate_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(out, cases=6, seed=7, shape=TINY_SHAPE, difficulty="easy")
    return out


@pytest.fixture
def app_env(tiny_demo, tmp_path, monkeypatch) -> Path:
    """Point the app at the tiny demo set, with its own cache, store, runs folder and
    registry: a copy of the committed ``demo-custom`` in ``tmp_path/registry`` (so neither
    the app's start-up warm-up nor a page reads or writes models a checkout holds beyond
    it). A test that registers, deletes or makes a model default points ``MCALC_MODELS``
    at a folder of its own."""
    registry = tmp_path / "registry"
    shutil.copytree(REPO / "models" / "demo-custom", registry / "demo-custom")
    monkeypatch.setenv("MCALC_DEMO_DIR", str(tiny_demo))
    monkeypatch.delenv("MCALC_DATA", raising=False)
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MCALC_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MCALC_MODELS", str(registry))
    return tiny_demo


# -- Predict's AppTests (tests/test_app_predict*.py; steps in tests/predict_fixtures.py) --
@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory) -> Path:
    """Tiny models for Predict (:func:`tests.predict_fixtures.make_registry`), made once per
    test module that asks (TensorFlow is imported then, not by every test session)."""
    from tests.predict_fixtures import make_registry

    return make_registry(tmp_path_factory.mktemp("predict-page") / "models")


@pytest.fixture
def page_env(app_env, registry_dir, monkeypatch) -> Path:
    """:func:`app_env` with :func:`registry_dir` as the registry; a reader's choice waits
    for its analysis in its own run (``WAIT_MAX_S``) up to 100 s, not 15 s: past it the
    progress poll, a fragment AppTest never runs, would draw the result, and the tests
    that check the result drawn by the choice's run would depend on a loaded machine's
    speed (about 1 s here under load; tests of the hand-over set a short limit)."""
    import pages.predict_run

    monkeypatch.setenv("MCALC_MODELS", str(registry_dir))
    monkeypatch.setattr(pages.predict_run, "WAIT_MAX_S", 100.0)
    return registry_dir


# -- browser tests: shared app servers and one Chromium (tests/browser.py) ---------------
@pytest.fixture
def demo_app(tiny_demo, tmp_path_factory):
    """The shared app server on the tiny demo set (started by the first test that asks)."""
    from tests.browser import prepare_demo_app, shared_app

    return shared_app(
        "demo", lambda: prepare_demo_app(tiny_demo, tmp_path_factory.mktemp("demo-app"))
    )


#: Test files with a ``slow`` test (browser tests aside), filled at collection.
_MODULES_WITH_SLOW: set[str] = set()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """Work units of pytest-xdist (``scripts/test.sh`` runs ``-n 2 --dist loadgroup
    --no-loadscope-reorder``): every browser test goes to one worker, one after the other,
    so they share one app server and one Chromium (see ``pytest_runtest_teardown`` below);
    every other test goes with its module, so a module's fixtures are made once and its
    tests run in their order, as in a run in one process. A test that names its own
    ``xdist_group`` keeps it.

    In a worker the units are handed out longest first: the browser tests, then the
    modules with a ``slow`` test, then the rest (short units last even out the two
    workers' ends)."""
    modules_with_slow = _MODULES_WITH_SLOW
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("browser"):
            modules_with_slow.add(item.nodeid.split("::")[0])
        if item.get_closest_marker("xdist_group"):
            continue
        group = "browser" if item.get_closest_marker("browser") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):

        def rank(item) -> int:
            if item.get_closest_marker("browser"):
                return 0
            return 1 if item.nodeid.split("::")[0] in modules_with_slow else 2

        items.sort(key=rank)  # stable: collection order within each rank


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem) -> None:
    """Stop the shared servers and the browser once the browser tests are over; collect the
    garbage of a module with slow tests as it ends (:func:`_collect_what_a_slow_module_left`);
    freeze the heap after large imports (:func:`_freeze_heap_after_large_imports`)."""
    if item.get_closest_marker("browser") and (
        nextitem is None or not nextitem.get_closest_marker("browser")
    ):
        from tests.browser import stop_shared

        stop_shared()
    module = item.nodeid.split("::")[0]
    if module in _MODULES_WITH_SLOW and (
        nextitem is None or nextitem.nodeid.split("::")[0] != module
    ):
        _collect_what_a_slow_module_left()
    _freeze_heap_after_large_imports()


def _collect_what_a_slow_module_left() -> None:
    """A full collection as a module with ``slow`` tests ends, its module fixtures gone.
    Such modules leave TensorFlow's objects (models, datasets, functions) in cycles. Left
    to a later collection, during another module's tests, one collection took 10-25 s in
    three of seven runs at ``-n 1`` that had test_training, and 39 s in the CI of
    7 December, 18:32 (test_image_pick's ``gc.collect()``). Collected here: 0.2-0.9 s,
    and no later collection passed that in three runs (docs/measurements.md, h/suite)."""
    import gc

    gc.collect()


_FROZEN_WITH_MODULES = [0]  # len(sys.modules) at this process's last freeze


def _freeze_heap_after_large_imports() -> None:
    """After a test that imported much (TensorFlow and Keras, Streamlit, Ray, the app's
    pages: 300 modules or more since the last freeze), collect once and freeze what is
    alive (:func:`gc.freeze`), as the app's server does after its warm-up
    (:func:`mcalc.models.warmup.freeze_heap`). TensorFlow, Keras and mcalc's model modules
    leave some 400,000 objects that live as long as the process; every full collection
    walked them all again, 0.3-1.5 s each, dozens of times per worker in the suite.
    Frozen objects are never collected: what is alive at a freeze and dies later in a
    cycle is kept (a few fixtures, a few times per worker).

    Runs after every test, so it must cost nothing: ``gc.get_freeze_count()`` counts the
    frozen objects one by one (0.05-0.14 s with TensorFlow's frozen; it was called here
    after every test, 315 s of the two workers' 1306 s in the run of 7 December, 21:44),
    so it is never called here. No test unfreezes the heap (tests/test_warmup.py leaves
    it frozen)."""
    import gc
    import sys

    if len(sys.modules) - _FROZEN_WITH_MODULES[0] >= 300:
        gc.collect()
        gc.freeze()
        _FROZEN_WITH_MODULES[0] = len(sys.modules)


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.browser import COUNTS

    if COUNTS["servers"] or COUNTS["browsers"]:
        terminalreporter.write_line(
            f"browser tests: {COUNTS['servers']} app server(s) and "
            f"{COUNTS['browsers']} Chromium(s) started"
        )
