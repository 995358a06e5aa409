"""TensorFlow's start-up, once per process, in a background thread.

Importing TensorFlow and Keras and running a first operation takes seconds on a small
machine (about 6 s on the 2-core one this was written on). The app starts
:func:`start_tensorflow_warmup` when its process starts, so that the pages that run models
(Predict, Train, Evaluate) find TensorFlow ready; the other pages never import it and are
not delayed (the import runs beside them). ``MCALC_WARM_TF=0`` turns it off
(:attr:`mcalc.config.Settings.warm_tensorflow`).

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
import sys
import threading
import time

from mcalc.config import Settings, get_settings, prepare_tensorflow

__all__ = ["warm_up_tensorflow", "start_tensorflow_warmup", "warmup_seconds", "freeze_heap"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_THREAD: threading.Thread | None = None
_SECONDS: list[float] = []


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


def _run() -> None:
    try:
        warm_up_tensorflow()
    except Exception as exc:  # a broken install shows up where a model is used, not here
        log.warning("TensorFlow warm-up failed: %s", exc)


def start_tensorflow_warmup(settings: Settings | None = None) -> threading.Thread | None:
    """Start :func:`warm_up_tensorflow` in a daemon thread, once per process.

    Returns the thread, or ``None`` when it was started before, is turned off, or Keras
    is imported already.
    """
    global _THREAD
    settings = settings or get_settings()
    with _LOCK:
        if _THREAD is not None or not settings.warm_tensorflow or "keras" in sys.modules:
            return None
        _THREAD = threading.Thread(target=_run, name="mcalc-tensorflow-warmup", daemon=True)
        _THREAD.start()
        return _THREAD


def warmup_seconds() -> float | None:
    """How long the warm-up took in this process (``None``: not done)."""
    return _SECONDS[-1] if _SECONDS else None
