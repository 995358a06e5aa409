"""pages.common.rerun_fragment_next: the rerun of a keyed fragment asked for at the end of a
script run runs that fragment once, as drawn in that run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _a_page() -> None:
    """A page whose keyed fragment moves (one element more above it on the second run), as
    Predict's result area does between cases (a missing-image warning, the rounds' note);
    the second run asks for the fragment's rerun, as Pending.finish does, then reads the
    session (as app.py's viewer slot does after every page): Streamlit's yield point."""
    import streamlit as st

    from pages.common import rerun_fragment_next

    runs = st.session_state.setdefault("runs", [])
    runs.append("page")
    if len(runs) > 1:
        st.caption("one element more above the fragment")

    @st.fragment(key="an_area")
    def area() -> None:
        st.session_state["runs"].append("fragment")
        st.toggle("A toggle", key="an_area_toggle")

    area()
    if runs.count("page") == 2:
        assert rerun_fragment_next("an_area")
    st.session_state.get("after")  # the session read after the page (viewer_slot)


def test_a_fragment_that_moved_is_rerun_once_as_drawn_in_this_run() -> None:
    """Failed before: the fragment's rerun ran its old place too (Streamlit resolves a
    key to every registration the last completed run left, and a session read after the
    request ends the run before it drops them), so its toggle was made twice in one run:
    StreamlitDuplicateElementKey, the error Predict's `predict_use_viewer` met."""
    at = AppTest.from_function(_a_page, default_timeout=60)
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["runs"] == ["page", "fragment", "page", "fragment", "fragment"]
    assert [t.key for t in at.toggle] == ["an_area_toggle"]
