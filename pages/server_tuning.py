"""Settings of the Streamlit runtime that this app needs, applied once per server process.

After every script run, fragment reruns included, Streamlit 1.67 calls
``keras.backend.clear_session()`` when Keras is imported (``_clean_problem_modules`` in
``streamlit.runtime.scriptrunner.script_runner``), for apps that build a model on every
rerun. This app builds none in a script (models are ``st.cache_resource``-d and never
changed), and the call cost it dearly: a full garbage collection plus TensorFlow's kernel
cache thrown away, 1-2 s holding the GIL after each run on the 2-core machine, so that
Predict's background analysis, polled every second by a fragment, ran at a fraction of its
speed (issue 14: a first Predict visit took 84 s against 6 s in-process). It also reset
Keras' global state while another thread could be cloning a model.

:func:`keep_keras_session` replaces that clean-up by its matplotlib half (closing the
figures left open), and leaves Keras alone. Streamlit's own post-run ``gc.collect`` is
turned off in ``.streamlit/config.toml`` (``runner.postScriptGC``) and made cheap anyway by
:func:`mcalc.models.warmup.freeze_heap`.

:func:`log_script_runs` (only when ``MCALC_RUN_LOG`` is set) records the server's own time
of every script run, so that ``bench/load.py`` can tell the server's share of a reader's
wait from the browser's.

:func:`one_blas_thread` keeps numpy's BLAS (OpenBLAS) on one thread in the server: its
second thread, after each matrix product (Predict's maps are resampled by two products,
in :mod:`mcalc.explain.sliding`), spun waiting for more work, 15-16 % of the server's CPU
samples during a cold case's analysis (``perf``, 5 December 2026), taking a core from
TensorFlow's two threads and the browser beside them on the 2-core machine.

:func:`share_watched_module_paths` has Streamlit's file watcher make each imported module's
paths once per process rather than once per browser session: with TensorFlow loaded, each
new session's look at 5,100 modules held the event loop for 0.6-0.7 s at the end of its
first run, and nothing reached any browser meanwhile.

:func:`tune_server` applies them all, and is called by every page's frame
(:func:`pages.common.frame`), not only by ``app.py``: with a ``pages/`` folder beside it,
Streamlit runs ``app.py`` only for the Home page (its multipage v1 mode), so a server whose
readers all opened a page by its address (``/browse``) never ran it and cleared the Keras
session after every run.

:func:`run_app_for_every_page` ends that v1 mode for the process, as ``st.navigation`` in
``app.py`` does once it runs: Streamlit then runs ``app.py`` for every page, the page inside
it (:func:`pages.common.run_app`), which is what lets the reading viewer's frame outlive a
page switch (:func:`pages.viewer_component.viewer_slot`). ``app.py`` calls it when the
server imports it, before any session; :func:`tune_server` again (a server started
otherwise).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import weakref
from functools import partial
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_COOKIE",
    "keep_keras_session",
    "log_script_runs",
    "log_work",
    "one_blas_thread",
    "prime_watched_module_paths",
    "run_app_for_every_page",
    "share_watched_module_paths",
    "tune_server",
]

log = logging.getLogger(__name__)

#: Streamlit's own clean-up, as found before :func:`keep_keras_session` replaced it.
streamlit_clean_up: Any = None


def _close_figures() -> None:
    """Streamlit's clean-up without ``keras.backend.clear_session()``."""
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def keep_keras_session() -> bool:
    """Stop Streamlit from clearing the Keras session after each script run (idempotent).

    Returns ``True`` when the clean-up is (now) the one of this module, ``False`` when this
    Streamlit has no such hook (a newer version: nothing to do, logged).
    """
    from streamlit.runtime.scriptrunner import script_runner

    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is _close_figures:
        return True
    if current is None:
        log.info("streamlit has no _clean_problem_modules: nothing to keep from it")
        return False
    global streamlit_clean_up
    streamlit_clean_up = current
    script_runner._clean_problem_modules = _close_figures
    return True


#: A cookie naming the browser session in the run log (``bench/load.py`` sets it).
BENCH_COOKIE = "mcalc_bench"
_LOG_LOCK = threading.Lock()
_TAGS: dict[str, str] = {}


def _tag(session_id: str) -> str:
    """The session's :data:`BENCH_COOKIE` (read once per session), or ``""``."""
    if session_id not in _TAGS:
        import streamlit as st

        try:
            value = st.context.cookies.get(BENCH_COOKIE)
        except Exception:  # no client context (a test harness): untagged, never a failure
            value = None
        _TAGS[session_id] = value if isinstance(value, str) else ""
    return _TAGS[session_id]


def log_script_runs(path: Path | None) -> bool:
    """Append one JSON line to ``path`` per script run (idempotent; ``None``: nothing).

    A line is ``{"session", "tag", "start", "wall", "cpu"}``: the Streamlit session, its
    :data:`BENCH_COOKIE`, the start (Unix seconds), and the run's wall-clock and script
    thread CPU seconds. A run is one call of Streamlit's ``ScriptRunner._run_script``,
    reruns asked during it (``st.rerun``) and fragment runs included. Returns whether
    runs are logged.
    """
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    runner = script_runner.ScriptRunner
    current = runner._run_script
    if path is None:
        return bool(getattr(current, "mcalc_run_log", None))
    if getattr(current, "mcalc_run_log", None) == str(path):
        return True
    original = getattr(current, "__wrapped__", current)

    def _run_script(self: Any, rerun_data: Any) -> None:
        start, cpu = time.time(), time.thread_time()
        try:
            original(self, rerun_data)
        finally:
            ctx = get_script_run_ctx(suppress_warning=True)
            sid = ctx.session_id if ctx is not None else ""
            line = {
                "session": sid,
                "tag": _tag(sid) if sid else "",
                "start": round(start, 4),
                "wall": round(time.time() - start, 4),
                "cpu": round(time.thread_time() - cpu, 4),
            }
            with _LOG_LOCK, open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")

    _run_script.__wrapped__ = original  # type: ignore[attr-defined]
    _run_script.mcalc_run_log = str(path)  # type: ignore[attr-defined]
    runner._run_script = _run_script  # type: ignore[method-assign]
    return True


def log_work(path: Path | None, label: str, state: str, end: float, wall: float) -> None:
    """Append a background work's line to the run log (nothing when ``path`` is
    ``None``): ``{"work", "state", "start", "wall"}``, its label, how it ended, its start
    (Unix seconds) and wall-clock seconds; readers of script runs skip it (no ``tag``).
    Predict logs its analyses so that a bench can set the analysis in the app beside the
    same analysis in its own process."""
    if path is None:
        return
    line = {"work": label, "state": state, "start": round(end - wall, 4), "wall": round(wall, 4)}
    with _LOG_LOCK, open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def run_app_for_every_page() -> None:
    """Have Streamlit run ``app.py`` for every page of this process, not the page's script
    alone: the flag ``st.navigation`` sets (``PagesManager.uses_pages_directory``, Streamlit
    1.67), set before the first run instead of by it. Until then a server whose readers
    opened pages only by their addresses ran each page without ``app.py``, and without
    the viewer's slot. (Streamlit's ``AppTest`` resets the flag before every run: its runs
    of a page run the page alone, and the page draws its viewer itself.)"""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # moved in another Streamlit: app.py's st.navigation still sets it
        log.warning("Streamlit's PagesManager not found: pages run app.py once Home ran")
        return
    PagesManager.uses_pages_directory = False


#: The variable OpenBLAS reads its thread count from: a value the user set is left alone.
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
_blas_limited = False


def one_blas_thread() -> None:
    """BLAS on one thread in this process, once (idempotent; cheap after the first call).

    OpenBLAS' worker threads spin after each call waiting for the next one (about a tenth
    of a second of CPU per Predict analysis, see the module's docstring): the BLAS
    libraries loaded (numpy's, by the time a page's frame runs) get one thread
    (``threadpoolctl``), unless the user set :data:`BLAS_THREADS_ENV`. The environment is
    not changed, so that the processes the server starts (training jobs, Ray's batch
    workers, which set their own thread counts) are not tuned by it; nor are the library
    and its CLI. The browser bench's floor (the same analysis in its own process,
    ``bench/browser.py`` ``_floors``) runs with the same one-thread limit, like for like.
    """
    global _blas_limited
    if _blas_limited:
        return
    import os

    from threadpoolctl import threadpool_limits

    if BLAS_THREADS_ENV not in os.environ:
        threadpool_limits(limits=1, user_api="blas")
    _blas_limited = True


#: Each module's paths as Streamlit's file watcher keeps them (:func:`share_watched_module_paths`),
#: by module name: a weak reference to the module, the watch blacklist they were filtered
#: by, and the paths.
_MODULE_PATHS: dict[str, tuple[Any, tuple[str, ...], frozenset[str]]] = {}
#: Streamlit's own ``update_watched_modules``, as found before
#: :func:`share_watched_module_paths` replaced it.
streamlit_update_watched_modules: Any = None


def _known_paths(name: str, module: Any, blacklist: tuple[str, ...], make: Any) -> set[str]:
    """``make(module)`` (a module's paths, filtered by the watch blacklist) made once per
    module object and blacklist in this process, then given again."""
    hit = _MODULE_PATHS.get(name)
    if hit is not None and hit[0]() is module and hit[1] == blacklist:
        return set(hit[2])
    paths: set[str] = make(module)
    try:
        ref: Any = weakref.ref(module)
    except TypeError:  # sys.modules may hold another object (cffi's ``_openssl.lib``): kept
        ref = partial(_same, module)
    _MODULE_PATHS[name] = (ref, blacklist, frozenset(paths))
    return paths


def _same(obj: object) -> object:
    return obj


def _watch_blacklist() -> tuple[str, ...]:
    """The folders Streamlit's file watcher leaves out (``server.folderWatchBlacklist``)."""
    from streamlit import config

    return tuple(config.get_option("server.folderWatchBlacklist") or ())


def _update_watched_modules(self: Any) -> None:
    """Streamlit 1.67's ``LocalSourcesWatcher.update_watched_modules`` with each module's
    paths made once per process instead of once per session (:func:`_known_paths`): the
    same modules and paths go to the session's watchers."""
    from streamlit.watcher import local_sources_watcher as lsw

    if not all(hasattr(self, name) for name in ("_is_closed", "_cached_sys_modules")):
        streamlit_update_watched_modules(self)  # another Streamlit's watcher: its own way
        return
    if self._is_closed:
        return
    if set(sys.modules) != self._cached_sys_modules:
        blacklist = _watch_blacklist()

        def make(module: Any) -> set[str]:
            return set(self._exclude_blacklisted_paths(lsw.get_module_paths(module)))

        modules_paths = {
            name: _known_paths(name, module, blacklist, make)
            for name, module in dict(sys.modules).items()
        }
        self._cached_sys_modules = set(sys.modules)
        self._register_necessary_watchers(modules_paths)


_update_watched_modules.mcalc_shared = True  # type: ignore[attr-defined]
#: The attributes of Streamlit's watcher that :func:`_update_watched_modules` uses.
_WATCHER_NEEDS = ("_exclude_blacklisted_paths", "_register_necessary_watchers")


def share_watched_module_paths() -> bool:
    """Make each imported module's paths once per process for Streamlit's file watcher,
    not once per browser session (idempotent). Returns whether it is in force.

    At the end of each successful script run Streamlit 1.67 brings a session's file
    watcher up to date with ``sys.modules``, and whenever a module was imported since that
    session's last look it looks at all of them again: every path of every module resolved
    (``os.path.realpath``, an ``lstat`` per folder) and matched against the blacklist, on
    the server's event loop. With TensorFlow loaded that is 5,100 modules, 0.6-0.7 s of
    CPU holding the event loop and the GIL, once per new session (a page opened by its
    address, a new tab, each reader of ``bench/load.py``) and again in every session after
    a lazy import. Meanwhile nothing else reached the browser: a first Predict visit by
    address saw its script run (62 ms) end a second after it began, and the viewer frame's
    ``index.html`` wait 0.2-0.35 s (py-spy and the page's timings, 6 December 2026,
    docs/measurements.md). The modules and their paths are the process's, the same for
    every session; which of them a session watches stays the session's own.

    A Streamlit without this method or these attributes keeps its own (logged).
    """
    try:
        from streamlit.watcher.local_sources_watcher import LocalSourcesWatcher, get_module_paths
    except ImportError:
        log.info("streamlit's file watcher moved: each session looks at every module itself")
        return False
    current = getattr(LocalSourcesWatcher, "update_watched_modules", None)
    if getattr(current, "mcalc_shared", False):
        return True
    if (
        current is None
        or get_module_paths is None
        or not all(hasattr(LocalSourcesWatcher, name) for name in _WATCHER_NEEDS)
    ):
        log.info("streamlit's file watcher changed: each session looks at every module itself")
        return False
    global streamlit_update_watched_modules
    streamlit_update_watched_modules = current
    LocalSourcesWatcher.update_watched_modules = _update_watched_modules  # type: ignore[method-assign]
    return True


def prime_watched_module_paths() -> int:
    """Make the paths of every module imported so far, as the file watcher of every session
    will ask for them (:func:`share_watched_module_paths`), in the calling thread: the app's
    warm-up calls it last, once TensorFlow, the model and Predict's page modules are
    imported, so that no session makes them on the event loop. Without it the first
    session's next run after the warm-up (Home loaded, then a click on Predict) found 5,000
    new modules and made their paths there: that first Predict visit from the menu took
    1.40 s against 0.97-1.02 s on a server without a watcher (6 December 2026). Returns how
    many modules' paths were made; 0 when the server watches no file or the paths are not
    shared, or in a process with no app server (``AppTest``, a bare script: no session
    there has a file watcher; 0.7 s of CPU saved per test process)."""
    from streamlit import config
    from streamlit.runtime import Runtime

    if config.get_option("server.fileWatcherType") == "none" or not Runtime.exists():
        return 0
    if streamlit_update_watched_modules is None:  # not shared: each session makes its own
        return 0
    from streamlit.watcher import local_sources_watcher as lsw

    names = _watch_blacklist()
    blacklist = lsw.FolderBlackList(list(names))
    made = 0

    def make(module: Any) -> set[str]:
        nonlocal made
        made += 1
        return {p for p in lsw.get_module_paths(module) if not blacklist.is_blacklisted(p)}

    for name, module in dict(sys.modules).items():
        _known_paths(name, module, names, make)
    log.debug("file watcher: the paths of %d modules made ahead", made)
    return made


def tune_server(run_log: Path | None) -> None:
    """:func:`keep_keras_session`, :func:`log_script_runs`, :func:`run_app_for_every_page`,
    :func:`one_blas_thread` and :func:`share_watched_module_paths` (idempotent and cheap:
    every page's frame calls it, see the module's docstring)."""
    keep_keras_session()
    share_watched_module_paths()
    log_script_runs(run_log)
    run_app_for_every_page()
    one_blas_thread()
