"""TensorFlow's start-up in a background thread: once per process, off on request, and
importing the starter does not import TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import mcalc.models.warmup as warmup
from mcalc.config import get_settings


def test_importing_the_starter_does_not_import_tensorflow() -> None:
    code = "import sys, mcalc.models.warmup; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_started_once_per_process_and_off_on_request(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(warmup, "warm_up_tensorflow", lambda: calls.append(1))
    monkeypatch.setattr(warmup, "_THREAD", None)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("MCALC_WARM_TF", "0")
    assert get_settings().warm_tensorflow is False
    assert warmup.start_tensorflow_warmup() is None and not calls
    monkeypatch.setenv("MCALC_WARM_TF", "1")
    thread = warmup.start_tensorflow_warmup()
    assert thread is not None and thread.daemon
    thread.join(10)
    assert calls == [1]
    assert warmup.start_tensorflow_warmup() is None and calls == [1]


def test_freeze_heap_moves_what_is_alive_out_of_the_collectors_reach() -> None:
    import gc

    try:
        frozen = warmup.freeze_heap()
        assert frozen == gc.get_freeze_count() > 1000
        assert len(gc.get_objects()) < frozen  # a full collection walks only the rest
    finally:
        gc.unfreeze()
