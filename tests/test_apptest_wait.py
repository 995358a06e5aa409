"""The suite's wait for an AppTest run (tests/conftest.py replaces Streamlit's polling one):
a run's end is seen at once, and a run past its timeout is stopped and named as
Streamlit names it."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest, local_script_runner

SLOW = """
import time
import streamlit as st
st.write("started")
for _ in range(400):
    time.sleep(0.01)
    st.empty()  # a point where a stop request is taken
st.write("never reached in time")
"""


def test_the_wait_is_the_suites_and_sees_a_run_end_at_once() -> None:
    assert local_script_runner.require_widgets_deltas.__module__ == "tests.conftest"
    at = AppTest.from_string("import streamlit as st\nst.write('hello')")
    began = time.perf_counter()
    at.run(timeout=30)
    assert time.perf_counter() - began < 5
    assert [m.value for m in at.markdown] == ["hello"]


def test_a_run_past_its_timeout_is_stopped_and_named() -> None:
    at = AppTest.from_string(SLOW)
    began = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"AppTest script run timed out after 0.3\(s\)"):
        at.run(timeout=0.3)
    assert time.perf_counter() - began < 3.5  # stopped, not run to its end (4 s)
