"""TensorFlow's start-up, once per process, in a background thread.

Importing TensorFlow and Keras and running a first operation takes seconds on a small
machine (about 6 s on the 2-core one this was written on). The app starts
:func:`start_tensorflow_warmup` when its process starts, so that the pages that run models
(Predict, Train, Evaluate) find TensorFlow ready; the other pages never import it and are
not delayed (the import runs beside them). ``MCALC_WARM_TF=0`` turns it off
(:attr:`mcalc.config.Settings.warm_tensorflow`).

Then :func:`warm_up_model` loads the model Predict opens with (the registry's first) into
memory once, builds its explainer and analyses one tiny synthetic image with it, which
traces the model's compiled functions (the dense pass, the Grad-CAM); Predict's cached
loaders take that very model and explainer (:func:`warm_model`), so the first visit pays
neither the load nor the tracing (about 1 s of a first analysis on the 2-core machine).
One model per process, the one the page would hold anyway: no memory beyond it. A page that
comes while TensorFlow is still importing loads its model itself and the warm-up then loads
none; one that comes while the model is being traced takes it and stops the trace.

Once TensorFlow is in, :func:`freeze_heap` moves every object then alive out of the garbage
collector's reach: TensorFlow and Keras leave about 400 000 tracked objects, and every full
collection walked them all (about 1 s on the 2-core machine, holding the GIL, so a model
running in another thread stopped meanwhile); after the freeze a full collection takes a
few milliseconds (``docs/measurements.md``, issue 14).

Example:
    >>> thread = start_tensorflow_warmup()  # doctest: +SKIP
    >>> thread is None or thread.name  # doctest: +SKIP
    'mcalc-tensorflow-warmup'
"""

from __future__ import annotations

import gc
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.config import Settings, get_settings, prepare_tensorflow
from mcalc.progress import Cancelled

if TYPE_CHECKING:
    from mcalc.explain.explainer import Explainer
    from mcalc.models.inference import LoadedModel

__all__ = [
    "warm_up_tensorflow",
    "warm_up_model",
    "warm_model",
    "start_tensorflow_warmup",
    "warmup_seconds",
    "freeze_heap",
]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_THREAD: threading.Thread | None = None
_SECONDS: list[float] = []
#: The model warmed up: ``(path, model key)`` -> ``(LoadedModel, Explainer)`` (one entry).
_MODELS: dict[tuple[str, str], tuple[LoadedModel, Explainer]] = {}
#: The ``(path, model key)`` the warm-up thread is loading or has loaded, once it knows it.
_WANTED: list[tuple[str, str]] = []
#: Set when a page asked for a model while the warm-up ran: a trace going on stops, and a
#: model not yet loaded is not loaded (the page did).
_ASKED = threading.Event()


def warm_up_tensorflow() -> float:
    """Import TensorFlow, Keras and the model modules, run one tiny convolution; seconds."""
    t0 = time.perf_counter()
    prepare_tensorflow()
    import keras
    import numpy as np

    import mcalc.explain.explainer
    import mcalc.models.inference  # noqa: F401

    keras.layers.Conv2D(1, 3)(np.zeros((1, 8, 8, 1), np.float32))  # kernels and threads
    freeze_heap()
    seconds = time.perf_counter() - t0
    _SECONDS.append(seconds)
    log.info("TensorFlow warmed up in %.1f s", seconds)
    return seconds


def freeze_heap() -> int:
    """Collect garbage once, then freeze what is left (:func:`gc.freeze`); the number of
    objects frozen in all.

    Frozen objects are never collected nor walked again: call this when what is alive is
    meant to live as long as the process (modules, TensorFlow's registries), as after
    :func:`warm_up_tensorflow`.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def warm_up_model(models_dir: str | Path) -> tuple[str, str] | None:
    """Load the registry's first model (the one Predict opens with), build its explainer and
    analyse one tiny synthetic image (256x208 px, of a set made once in the cache folder:
    :data:`TINY_SET`; no result cached) so that the model's
    compiled functions are traced; keep both for :func:`warm_model`. Returns their key
    ``(path, model key)``, or ``None`` when the registry has no model.

    A temporal model is loaded but not traced (it needs a registered pair).
    """
    from mcalc.explain.results import model_key
    from mcalc.models.registry import list_models

    cards = list_models(models_dir).models
    if not cards:
        return None
    card = cards[0]
    key = (str(card.path), model_key(card))
    with _LOCK:
        if _ASKED.is_set():  # a page needed a model before: it loaded its own
            return None
        _WANTED[:] = [key]
    t0 = time.perf_counter()
    from mcalc.explain.explainer import Explainer
    from mcalc.models.inference import load_model

    loaded = load_model(card.path, Path(card.path).parent)
    xp = Explainer.for_model(loaded)
    _MODELS.clear()
    _MODELS[key] = (loaded, xp)  # a page may take it now: the trace then stops (_ASKED)
    traced = False
    if not loaded.temporal:
        try:
            _trace(loaded, xp)
            traced = True
        except Cancelled:
            pass
    log.info(
        "model %s warmed up in %.1f s (%s)",
        card.id,
        time.perf_counter() - t0,
        "traced" if traced else "not traced",
    )
    return key


def _trace(loaded: LoadedModel, xp: Explainer) -> None:
    """One analysis of a tiny synthetic image with the default settings (Predict's); stops
    at its next progress report once a page asked for the model (its own analysis then
    traces what is left, with the processor to itself)."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.service import AnalysisSettings, CamSettings, ImageInput, analyse_case
    from mcalc.synthetic import generate_demo

    def report(done: int, total: int, message: str = "") -> None:
        if _ASKED.is_set():
            raise Cancelled("a page asked for the model")

    data = _tiny_set(get_settings().cache_dir / TINY_SET, generate_demo)
    record = open_dataset(data).cases[0].images[0]
    settings = AnalysisSettings(cam=CamSettings("gradcam", scope="auto"))
    report(0, 1)
    analyse_case(loaded, [ImageInput.from_record(record)], settings, report, explainer=xp)


#: The warm-up's tiny synthetic set, under the cache folder (made once, not every start).
TINY_SET = "warmup-demo-v1"


def _tiny_set(path: Path, generate: Any) -> Path:
    """``path``, a 3-case 256x208 synthetic set made once (in a temporary folder beside
    it, then renamed: two processes starting together both end with a whole set); a
    temporary one when the cache folder cannot be written."""
    if (path / "Description.xlsx").exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".warmup-", dir=path.parent))
    except OSError:
        tmp = Path(tempfile.mkdtemp(prefix="mcalc-warmup-"))
        path = tmp / "demo"
    generate(tmp / "demo", cases=3, seed=0, shape=(256, 208))
    if tmp / "demo" == path:
        return path
    try:
        (tmp / "demo").rename(path)
    except OSError:  # another process made it first
        if not (path / "Description.xlsx").exists():
            return tmp / "demo"
    shutil.rmtree(tmp, ignore_errors=True)
    return path


def warm_model(path: str | Path, key: str) -> tuple[LoadedModel, Explainer] | None:
    """The warmed-up model and explainer of ``path`` at ``key`` (its
    :func:`~mcalc.explain.results.model_key`), waiting for the warm-up thread while it is
    loading that very model (never loaded twice); ``None`` for any other model, and while
    TensorFlow is still importing (the caller loads the model itself as soon as the import
    ends, and the warm-up then loads none: waiting for its first operation, its heap
    freeze and its load would cost a page that came early more than loading it).

    A call while the warm-up thread runs stops its trace: the page's own analysis needs
    the processor."""
    thread = _THREAD
    wanted = (str(path), key)
    if thread is not None and thread is not threading.current_thread() and thread.is_alive():
        with _LOCK:
            if not _WANTED:  # TensorFlow still importing: the page loads its model itself
                _ASKED.set()  # (as soon as the import ends) and the warm-up loads none
                return None
        while thread.is_alive() and _WANTED[0] == wanted and wanted not in _MODELS:
            thread.join(0.05)  # this model loading
        _ASKED.set()  # a trace going on stops: the page needs the processor now
    return _MODELS.get(wanted)


def _cpu_now() -> tuple[float, float, float]:
    """``(monotonic s, this process's CPU s, the machine's idle CPU s)``; the last is NaN
    where ``/proc/stat`` cannot be read (then only the process is watched)."""
    idle = math.nan
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        hz = os.sysconf("SC_CLK_TCK")
        idle = (int(fields[4]) + int(fields[5])) / hz  # idle + iowait, all CPUs
    except (OSError, ValueError, IndexError):
        pass
    return time.monotonic(), time.process_time(), idle


def wait_until_quiet(
    max_s: float, window_s: float = 1.0, poll_s: float = 0.2, sample: Any = _cpu_now
) -> float:
    """Wait until the app server and the machine have been quiet for ``window_s``: this
    process used under :data:`QUIET_PROCESS_CORES` of a core (no script run, no request
    being served) and the machine had at least :data:`QUIET_IDLE_CORES` cores idle (a
    browser on the same machine done drawing); at most ``max_s``, and no longer once a page
    asked for a model. Returns the seconds waited.

    After the first page's script run the page is not drawn yet: the browser still builds
    it, fetches the viewer's bundle and pixels and draws them, and the server answers those
    requests; importing TensorFlow then (seconds holding the GIL and a core) delayed it."""
    cores = os.cpu_count() or 1
    seen = [sample()]
    start = seen[0][0]
    while not _ASKED.is_set():
        now = seen[-1]
        if now[0] - start >= max_s:
            break
        past = [s for s in seen if now[0] - s[0] >= window_s]
        if past:
            then = past[-1]
            dt = now[0] - then[0]
            busy = (now[1] - then[1]) / dt
            idle = (now[2] - then[2]) / dt  # NaN without /proc/stat: not a reason to wait
            if busy < QUIET_PROCESS_CORES and not idle < min(QUIET_IDLE_CORES, cores):
                break
            seen = seen[seen.index(then) :]
        time.sleep(poll_s)
        seen.append(sample())
    return seen[-1][0] - start


def _run(models_dir: Path, after: threading.Thread | None = None) -> None:
    if after is not None:  # the page that started it draws first (the import holds the GIL)
        after.join(AFTER_MAX_S)
        waited = wait_until_quiet(QUIET_MAX_S)
        log.info("TensorFlow warm-up starts after %.1f s of waiting for a quiet moment", waited)
    try:
        warm_up_tensorflow()
    except Exception as exc:  # a broken install shows up where a model is used, not here
        log.warning("TensorFlow warm-up failed: %s", exc)
        return
    try:
        warm_up_model(models_dir)
    except Exception as exc:  # the page loads the model itself and says what is wrong
        log.warning("model warm-up failed: %s", exc)
    finally:
        _WANTED[:] = [("", "")]  # nothing more is loading: nobody waits any more


#: The longest the warm-up waits for the thread given as ``after`` (a page's script run).
AFTER_MAX_S = 10.0
#: Then the longest it waits for a quiet moment (:func:`wait_until_quiet`): the page drawn.
#: 0 (no wait): measured quiet on 3 December (10:07-10:12, `bench/browser_predict.py --warm
#: 30 --cold 3`, two pairs), a 3 s wait drew Predict's first visit 4.35/4.19 s after the
#: click against 3.93/2.70 s without it, and a cold case 2.10/2.36 s against 2.04/1.77 s;
#: the first page's gain from the wait (about 1.2x -> 1.0x its time without a warm-up,
#: busy machine) is the smaller one.
QUIET_MAX_S = 0.0
#: Quiet: this process below this share of one core, and at least this many cores idle.
QUIET_PROCESS_CORES = 0.15
QUIET_IDLE_CORES = 1.0


def start_tensorflow_warmup(
    settings: Settings | None = None, *, after: threading.Thread | None = None
) -> threading.Thread | None:
    """Start :func:`warm_up_tensorflow` (then :func:`warm_up_model`) in a daemon thread,
    once per process; with ``after`` (the script run of the page that starts it), once that
    thread has ended or :data:`AFTER_MAX_S` passed: importing TensorFlow holds the GIL for
    seconds, and the first page a fresh server drew beside it took about twice as long
    (5.2 -> 9.4-12.7 s for /browse in a browser, 3 December 2026).

    Returns the thread, or ``None`` when it was started before, is turned off, or Keras
    is imported already.
    """
    global _THREAD
    settings = settings or get_settings()
    with _LOCK:
        if _THREAD is not None or not settings.warm_tensorflow or "keras" in sys.modules:
            return None
        _THREAD = threading.Thread(
            target=_run,
            args=(settings.models_dir, after),
            name="mcalc-tensorflow-warmup",
            daemon=True,
        )
        _THREAD.start()
        return _THREAD


def warmup_seconds() -> float | None:
    """How long the warm-up took in this process (``None``: not done)."""
    return _SECONDS[-1] if _SECONDS else None
