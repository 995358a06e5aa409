"""Streamlit's clean-up after each script run leaves Keras alone (pages/server_tuning.py)."""

from __future__ import annotations

import os
import sys
import types

from streamlit.runtime.scriptrunner import script_runner

from pages import server_tuning
from pages.server_tuning import keep_keras_session


def test_the_clean_up_closes_figures_but_never_clears_the_keras_session(monkeypatch) -> None:
    cleared, closed = [], []
    fake_keras = types.SimpleNamespace(
        backend=types.SimpleNamespace(clear_session=lambda: cleared.append(1))
    )
    fake_plt = types.SimpleNamespace(close=closed.append)
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", fake_plt)
    # Streamlit's own clean-up, also when another test of this process (an AppTest of
    # app.py) has already replaced it.
    original = server_tuning.streamlit_clean_up or script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", original)
    monkeypatch.setattr(server_tuning, "streamlit_clean_up", None)
    script_runner._clean_problem_modules()
    assert cleared == [1], "Streamlit no longer clears the Keras session: drop the module"
    assert keep_keras_session() and keep_keras_session()  # idempotent
    cleared.clear(), closed.clear()
    script_runner._clean_problem_modules()
    assert cleared == [] and closed == ["all"]


def _a_script() -> None:
    import time

    time.sleep(0.05)


def test_script_runs_are_logged_with_their_time_when_asked(monkeypatch, tmp_path) -> None:
    import json
    import time

    from streamlit.testing.v1 import AppTest

    from pages.server_tuning import log_script_runs

    runner = script_runner.ScriptRunner
    monkeypatch.setattr(runner, "_run_script", runner._run_script)  # undone after the test
    log = tmp_path / "runs.jsonl"
    assert not log_script_runs(None)  # not asked: nothing patched
    assert log_script_runs(log) and log_script_runs(log)  # idempotent: one line per run
    at = AppTest.from_function(_a_script, default_timeout=60)  # not 3 s: a busy machine
    before = time.time()
    at.run()
    at.run()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["session"] and lines[0]["tag"] == ""
    assert all(before <= x["start"] <= time.time() and x["wall"] >= 0.05 for x in lines)
    assert all(0 <= x["cpu"] <= x["wall"] for x in lines)  # a sleep: little CPU


def test_a_background_work_is_logged_beside_the_runs_and_skipped_as_a_run(tmp_path) -> None:
    import json
    import time

    from bench.load_stats import read_run_log
    from mcalc.progress import BackgroundWork
    from pages.server_tuning import log_work

    log = tmp_path / "runs.jsonl"
    log_work(None, "nothing", "done", 0.0, 0.0)  # not asked: no file
    assert not log.exists()
    before = time.time()
    work = BackgroundWork(lambda progress: time.sleep(0.05), label="analysis of x").start()
    assert work.wait(10)
    assert before + 0.05 <= work.finished_at <= time.time()
    log_work(log, work.label, work.state, work.finished_at, work.seconds)
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["work"] == "analysis of x" and line["state"] == "done"
    assert before - 0.01 <= line["start"] <= line["start"] + line["wall"] <= time.time()
    assert line["wall"] >= 0.05
    assert read_run_log(log) == []  # not a script run


_BLAS_PROBE = """
import json, os, sys
import numpy, scipy.linalg  # loaded before the server is tuned, as in the app
from pages.server_tuning import tune_server
tune_server(None)
tune_server(None)  # idempotent
from threadpoolctl import threadpool_info
print(json.dumps([[i["filepath"], i["num_threads"]] for i in threadpool_info()
                  if i["user_api"] == "blas"] + [os.environ.get("OPENBLAS_NUM_THREADS")]))
"""


def _blas_in_a_server(**env: str) -> tuple[list[tuple[str, int]], str | None]:
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", _BLAS_PROBE],
        cwd=root,
        env={**clean, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    *libs, var = json.loads(out.strip().splitlines()[-1])
    return [(str(a), int(b)) for a, b in libs], var


def test_the_server_runs_blas_on_one_thread() -> None:
    """OpenBLAS' second thread spun after each product, beside Predict's analysis (a
    process of its own: the limit is for the whole process)."""
    libs, var = _blas_in_a_server()
    assert libs, "expected numpy's BLAS among the loaded libraries, found none"
    assert all(n == 1 for _, n in libs), f"expected every BLAS on 1 thread, got {libs}"
    assert var is None  # the environment, which the server's subprocesses inherit, untouched
    # A value the user set is theirs: nothing limited.
    libs, var = _blas_in_a_server(OPENBLAS_NUM_THREADS="2")
    assert var == "2" and all(n == min(2, os.cpu_count() or 1) for _, n in libs), libs


def test_modules_paths_are_made_once_per_process_for_every_session_watcher(monkeypatch) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.watcher import local_sources_watcher as lsw

    from mcalc.config import REPO_ROOT

    watcher_class = lsw.LocalSourcesWatcher
    # Streamlit's own, also when an earlier test's app run has shared the paths already.
    theirs_update = (
        server_tuning.streamlit_update_watched_modules or watcher_class.update_watched_modules
    )
    assert not getattr(theirs_update, "mcalc_shared", False)
    monkeypatch.setattr(watcher_class, "update_watched_modules", theirs_update)
    monkeypatch.setattr(server_tuning, "_MODULE_PATHS", {})
    # Not every entry of sys.modules can be weakly referenced (cffi's _openssl.lib).
    monkeypatch.setitem(sys.modules, "mcalc_not_a_module", _Slotted("mcalc_not_a_module"))
    looked: list[str] = []
    real = lsw.get_module_paths
    monkeypatch.setattr(lsw, "get_module_paths", lambda m: looked.append(m.__name__) or real(m))

    def session() -> list[tuple[str, str | None]]:
        """The files a new session's watcher registers after a run (no watcher started)."""
        watcher = watcher_class(PagesManager(str(REPO_ROOT / "app.py")))
        got: list[tuple[str, str | None]] = []

        def register(path: str, name: str | None, is_directory: bool = False) -> None:
            got.append((path, name))
            watcher._watched_modules[path] = None

        watcher._register_watcher = register
        watcher.update_watched_modules()
        return sorted(got)

    theirs = session()
    assert len(looked) >= 0.9 * len(sys.modules)  # Streamlit: every module, every session
    assert server_tuning.share_watched_module_paths()
    assert server_tuning.share_watched_module_paths()  # idempotent
    looked.clear()
    first = session()
    assert len(looked) >= 0.9 * len(sys.modules)  # the process' first session: every module
    looked.clear()
    second = session()
    assert looked == []  # a later session looks at none again
    assert first == second == theirs  # the same files watched, by the same modules
    assert any(path.endswith(os.path.join("pages", "server_tuning.py")) for path, _ in first)


def test_module_paths_made_ahead_leave_a_new_session_nothing_to_look_at(monkeypatch) -> None:
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.watcher import local_sources_watcher as lsw

    from mcalc.config import REPO_ROOT

    assert server_tuning.share_watched_module_paths()
    monkeypatch.setattr(server_tuning, "_MODULE_PATHS", {})
    looked: list[str] = []
    real = lsw.get_module_paths
    monkeypatch.setattr(lsw, "get_module_paths", lambda m: looked.append(m.__name__) or real(m))
    monkeypatch.setattr(config, "get_option", _option(config.get_option, "none"))
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    assert server_tuning.prime_watched_module_paths() == 0 and looked == []  # nothing watched
    monkeypatch.setattr(config, "get_option", _option(config.get_option, "poll"))
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: False))
    # No app server in the process (AppTest, a bare script): no session has a watcher.
    assert server_tuning.prime_watched_module_paths() == 0 and looked == []
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    made = server_tuning.prime_watched_module_paths()
    assert made >= 0.9 * len(sys.modules) and len(looked) == made
    looked.clear()
    watcher = lsw.LocalSourcesWatcher(PagesManager(str(REPO_ROOT / "app.py")))
    got: list[str] = []
    watcher._register_watcher = lambda path, name, is_directory=False: got.append(path)
    watcher.update_watched_modules()
    assert looked == []  # the warm-up made them all
    assert any(path.endswith(os.path.join("pages", "server_tuning.py")) for path in got)


def _option(real, watcher_type: str):
    return lambda key: watcher_type if key == "server.fileWatcherType" else real(key)


class _Slotted:
    """An entry of ``sys.modules`` that no weak reference can point to."""

    __slots__ = ("__name__",)

    def __init__(self, name: str) -> None:
        self.__name__ = name
