"""TensorFlow's start-up, once per process, in a background thread.

Importing TensorFlow and Keras and running a first operation takes seconds on a small
machine (about 6 s on the 2-core one this was written on). The app starts
:func:`start_tensorflow_warmup` when its process starts, so that the pages that run models
(Predict, Train, Evaluate) find TensorFlow ready; the other pages never import it and are
not delayed (the import runs beside them). ``MCALC_WARM_TF=0`` turns it off
(:attr:`mcalc.config.Settings.warm_tensorflow`).

Then :func:`warm_up_model` loads the model Predict opens with (the registry's default,
else its newest) into
memory once, builds its explainer and analyses one tiny synthetic image with it, which
traces the model's compiled functions (the dense pass, the Grad-CAM); Predict's cached
loaders take that very model and explainer (:func:`warm_model`), so the first visit pays
neither the load nor the tracing (about 1 s of a first analysis on the 2-core machine).
One model per process, the one the page would hold anyway: no memory beyond it. A page that
comes while TensorFlow is still importing loads its model itself and the warm-up then loads
none; one that comes while the model is being traced takes it and stops the trace.

Then :func:`analyse_opening` analyses the case Predict opens with, with the page's default
settings, into the results cache the page reads, as an analysis ahead
(:mod:`mcalc.explain.ahead`: it stops for any run a reader asks for, and a first visit
that comes meanwhile waits for it rather than computing it again): a first visit then
draws a cached result, its viewer's pixels encoded too when the caller says how
(``pixels_ahead``: the app passes :func:`mcalc.present.reading_overlays.warm_pixels`, a
layer above this one). ``MCALC_ANALYSE_AHEAD=0`` turns that off.

A process that exits with the warm-up in flight waits for the stage going on (at most
:data:`EXIT_WAIT_S`) and runs no further one (:func:`stop_at_exit`), as soon as its main
thread ends, before any :mod:`atexit` callback: those of optree, registered while Keras
imports, empty its registry, after which Keras's ``tree`` no longer takes a tuple apart and
a layer called then failed ("Only input tensors may be passed as positional arguments",
1 pytest run in 8 of two Audit AppTests), and a daemon thread left inside TensorFlow while
the interpreter shuts down can crash it. A stage that fails then, because of the exit, is
logged as stopped, not as a failure; any other failure is a warning with its traceback
(Predict's first visit will load and trace the model itself).

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
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.config import TIMEPOINTS, VIEWS, Settings, get_settings, prepare_tensorflow
from mcalc.progress import Cancelled, at_main_thread_exit

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset import ImageRecord
    from mcalc.explain.ahead import DoneFn
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.service import CaseAnalysis
    from mcalc.models.inference import LoadedModel
    from mcalc.progress import BackgroundWork

#: Encodes the viewer pixels of a case's images ahead: ``(image cache, records,
#: laterality)``; given by the entry point (the presentation layer knows the viewer's bytes).
PixelsAhead = Callable[["ImageCache", Sequence["ImageRecord"], "str | None"], object]

__all__ = [
    "PixelsAhead",
    "warm_up_tensorflow",
    "warm_up_model",
    "warm_model",
    "analyse_opening",
    "start_tensorflow_warmup",
    "warmup_seconds",
    "freeze_heap",
    "stop_at_exit",
    "EXIT_WAIT_S",
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
#: Set when the process exits: the warm-up ends its stage going on and starts no other.
_STOP = threading.Event()
#: The analysis ahead of Predict's first case the warm-up started (cancelled at the exit).
_OPENING: list[BackgroundWork[CaseAnalysis]] = []
#: The longest an exiting process waits for the warm-up's stage going on (importing
#: TensorFlow took about 6 s on the quiet 2-core machine, more under load).
EXIT_WAIT_S = 30.0


class _Stopped(Exception):
    """The process is exiting: the warm-up does not start the stage named."""


def _check_stop(then: str) -> None:
    """Raise :class:`_Stopped` (naming the stage ``then``, which would come next) once the
    process exits."""
    if _STOP.is_set():
        raise _Stopped(then)


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
    """Load the registry's default model, else its newest (the one Predict opens with:
    :func:`~mcalc.models.registry.default_first`), build its explainer and
    analyse one tiny synthetic image (256x208 px, of a set made once in the cache folder:
    :data:`TINY_SET`; no result cached) so that the model's
    compiled functions are traced; keep both for :func:`warm_model`. Returns their key
    ``(path, model key)``, or ``None`` when the registry has no model.

    A temporal model is loaded but not traced (it needs a registered pair).
    """
    from mcalc.explain.results import model_key
    from mcalc.models.registry import default_first, list_models

    card = default_first(list_models(models_dir).models, models_dir)[1].card
    if card is None:
        return None
    key = (str(card.path), model_key(card))
    with _LOCK:
        if _ASKED.is_set():  # a page needed a model before: it loaded its own
            return None
        _WANTED[:] = [key]
    _check_stop("the model's load")
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
        if _STOP.is_set():
            raise Cancelled("the process is exiting")

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


def analyse_opening(
    key: tuple[str, str] | None,
    data: str | Path | None,
    done: DoneFn | None = None,
    pixels_ahead: PixelsAhead | None = None,
) -> BackgroundWork[CaseAnalysis] | None:
    """Start the analysis ahead of the case Predict opens with (:func:`~mcalc.explain.
    opening.opening_request` of the dataset at ``data``) with the warmed-up model ``key``
    (:func:`warm_up_model`'s), into Predict's results cache, its default detections found
    too; ``None`` when nothing starts (turned off, no such model or case, a run a reader
    asked for going on, or the result there already). ``done`` as in
    :meth:`mcalc.explain.ahead.AheadSlot.start`; ``pixels_ahead``, when given, then encodes
    the viewer pixels of the case's first view (a failure there is logged, not raised)."""
    settings = get_settings()
    if key is None or data is None or not settings.analyse_ahead or key not in _MODELS:
        return None
    from mcalc.cache import shared_image_cache
    from mcalc.dataset import open_dataset
    from mcalc.explain.opening import default_detections, opening_request
    from mcalc.explain.runs import results_cache, start_ahead

    loaded, xp = _MODELS[key]
    index = open_dataset(data)
    request = opening_request(loaded, xp, index)
    if request is None:
        return None
    det = default_detections(loaded)
    image_cache = shared_image_cache(settings.cache_dir, settings.default_pixel_spacing_mm)
    first = index.cases[0]
    records = [r for r in (first.image(VIEWS[0], tp) for tp in TIMEPOINTS) if r is not None]

    def find(case: CaseAnalysis) -> None:
        for r in case.images:
            r.detections(det)
        if pixels_ahead is None:
            return
        # Its viewer's pixels too: their encoding would be on the first visit's way.
        try:
            pixels_ahead(image_cache, records, first.laterality)
        except Exception as exc:  # the page makes them itself, and says what is wrong
            log.warning("the viewer pixels of Predict's first case were not made ahead: %s", exc)

    return start_ahead(
        loaded,
        request,
        explainer=xp,
        results=results_cache(settings.cache_dir / "predict"),
        image_cache=image_cache,
        then=find,
        done=done,
    )


def _run(
    models_dir: Path,
    after: threading.Thread | None = None,
    data: str | Path | None = None,
    done: DoneFn | None = None,
    pixels_ahead: PixelsAhead | None = None,
    then: Callable[[], object] | None = None,
) -> None:
    if after is not None:  # the page that started it draws first (the import holds the GIL)
        after.join(AFTER_MAX_S)
    try:
        _check_stop("TensorFlow's import")
        warm_up_tensorflow()
        _check_stop("the model's warm-up")
    except Exception as exc:  # a broken install shows up where a model is used, not here
        _failed("TensorFlow warm-up", exc)
        return
    try:
        key = warm_up_model(models_dir)
        _check_stop("the analysis of Predict's first case")
    except Exception as exc:  # the page loads the model itself and says what is wrong
        _failed("model warm-up", exc)
        return
    finally:
        _WANTED[:] = [("", "")]  # nothing more is loading: nobody waits any more
    work = None
    try:
        work = analyse_opening(key, data, done, pixels_ahead)
    except Exception as exc:  # the page runs the analysis itself and says what is wrong
        log.warning("the analysis ahead of Predict's first case failed to start: %s", exc)
    if work is not None:
        _OPENING[:] = [work]  # an exit cancels it and waits for it (stop_at_exit)
    if then is None:
        return
    if work is not None:  # not beside it: the opening case is what a first visit waits for
        deadline = time.monotonic() + THEN_AFTER_MAX_S
        while not work.wait(0.1) and not _STOP.is_set() and time.monotonic() < deadline:
            pass
    try:
        _check_stop("its last step")
        then()
    except Exception as exc:  # the page does the same work itself and says what is wrong
        _failed("the warm-up's last step", exc)


def _failed(stage: str, exc: Exception) -> None:
    """Log a stage that raised: a warning with its traceback (Predict's first visit will be
    slow), unless the process is exiting, which stops (or breaks) a stage on purpose."""
    if isinstance(exc, _Stopped):
        log.info("warm-up stopped before %s: the process is exiting", exc)
    elif _STOP.is_set():
        log.info("%s stopped: the process is exiting (%s)", stage, exc)
    else:
        log.warning("%s failed: %s", stage, exc, exc_info=True)


def stop_at_exit(wait_s: float | None = None) -> bool:
    """Stop the warm-up: the stage going on ends (a model's trace at its next step) and no
    other starts, the analysis ahead it started is cancelled; wait for both at most ``wait_s`` (default :data:`EXIT_WAIT_S`).
    Registered when the thread starts, to run when the main thread ends (before the
    :mod:`atexit` callbacks: :func:`_at_exit`), so that neither they nor the interpreter's
    shutdown run under it. Whether no warm-up thread is left running."""
    _STOP.set()
    thread = _THREAD
    if thread is None or thread is threading.current_thread():
        return True
    wait_s = EXIT_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    thread.join(wait_s)
    for work in _OPENING:  # the analysis ahead it started: a model running too
        work.cancel()
        work.wait(max(0.0, deadline - time.monotonic()))
    if thread.is_alive() or any(w.running for w in _OPENING):
        log.warning(
            "the TensorFlow warm-up (or its analysis ahead) was still running %.0f s after "
            "the process began to exit; it is left to the interpreter's shutdown",
            wait_s,
        )
        return False
    return True


def _at_exit(func: Callable[[], object]) -> None:
    """:func:`mcalc.progress.at_main_thread_exit`: ``func`` runs when the main thread ends,
    before any :mod:`atexit` callback (optree's, registered while Keras imports)."""
    at_main_thread_exit(func)


#: The longest the warm-up waits for the thread given as ``after`` (a page's script run).
AFTER_MAX_S = 10.0
#: The longest ``then`` waits for the analysis ahead of the opening case.
THEN_AFTER_MAX_S = 60.0
#: No wait for a quiet moment after that (the page drawn, the machine idle): tried on 3
#: December 2026 and measured quiet (10:07-10:12, `bench/browser_predict.py --warm 30 --cold
#: 3`, two pairs): a wait of up to 3 s drew Predict's first visit 4.35/4.19 s after the
#: click against 3.93/2.70 s without it, and a cold case 2.10/2.36 s against 2.04/1.77 s;
#: the first page's gain (about 1.2x -> 1.0x its time without a warm-up) was the smaller
#: one, so the wait was removed.


def start_tensorflow_warmup(
    settings: Settings | None = None,
    *,
    after: threading.Thread | None = None,
    data: str | Path | None = None,
    done: DoneFn | None = None,
    pixels_ahead: PixelsAhead | None = None,
    then: Callable[[], object] | None = None,
) -> threading.Thread | None:
    """Start :func:`warm_up_tensorflow` (then :func:`warm_up_model`) in a daemon thread,
    once per process, stopped and waited for at the process's exit (:func:`stop_at_exit`); with ``after`` (the script run of the page that starts it), once that
    thread has ended or :data:`AFTER_MAX_S` passed: importing TensorFlow holds the GIL for
    seconds, and the first page a fresh server drew beside it took about twice as long
    (5.2 -> 9.4-12.7 s for /browse in a browser, 3 December 2026). With ``data`` (the
    dataset the app opens), the case Predict opens with is then analysed ahead
    (:func:`analyse_opening`, told ``done`` and ``pixels_ahead``). ``then``: the caller's
    own start-up work, called in the same thread last, once the model is warm and the
    analysis ahead of the opening case (if one started) ended or :data:`THEN_AFTER_MAX_S`
    passed; not called when TensorFlow or the model failed to warm up; an exception it
    raises is logged (the app imports Predict's page modules there,
    :mod:`pages.preload`).

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
            args=(settings.models_dir, after, data, done, pixels_ahead, then),
            name="mcalc-tensorflow-warmup",
            daemon=True,
        )
        try:
            _at_exit(stop_at_exit)
        except RuntimeError:  # the process is exiting already: nothing to warm up
            _THREAD = None
            return None
        _THREAD.start()
        return _THREAD


def warmup_seconds() -> float | None:
    """How long the warm-up took in this process (``None``: not done)."""
    return _SECONDS[-1] if _SECONDS else None
