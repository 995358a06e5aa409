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
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["keep_keras_session"]

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
    script_runner._clean_problem_modules = _close_figures  # type: ignore[attr-defined]
    return True
