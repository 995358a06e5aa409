"""Streamlit's clean-up after each script run leaves Keras alone (pages/server_tuning.py)."""

from __future__ import annotations

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
