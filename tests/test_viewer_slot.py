"""pages.viewer_component.viewer_slot: when the kept reading viewer (Browse's, Annotate's)
is drawn, relative to the page's own run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _a_page() -> None:
    """app.py's run of a page in the slot, the component replaced by a recorder: the
    order of the page's run and the slot's viewer (``hidden`` or shown)."""
    import streamlit as st

    from pages import viewer_component as vc

    calls = st.session_state.setdefault("calls", [])
    real = vc._get
    vc._get = lambda: lambda **kw: calls.append(f"viewer hidden={kw.get('hidden', False)}")
    try:
        st.session_state[vc._SHOWN] = True  # a page showed the viewer earlier in the session
        hands = st.session_state.get("hands", False)
        with vc.viewer_slot(hands_viewer=hands):
            calls.append("page")
            if hands:
                vc.reading_viewer([], case_key="a case", key="a_page_viewer")
    finally:
        vc._get = real


def test_a_page_without_the_viewer_hides_it_before_its_run() -> None:
    """Failed before (the hidden viewer drawn after the page's run): Predict, opened from
    Browse on a fresh server, showed Browse's four panels under its own content for the
    whole of its first run (the model's loading, the first analysis: 10 s), the spinner
    "Loading the model…" drawn over the viewer's toolbar."""
    at = AppTest.from_function(_a_page, default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["calls"] == ["viewer hidden=True", "page"]


def test_a_page_with_the_viewer_draws_it_after_its_run() -> None:
    """Browse and Annotate hand their viewer to the slot, drawn once their run ended."""
    at = AppTest.from_function(_a_page, default_timeout=30)
    at.session_state["hands"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["calls"] == ["page", "viewer hidden=False"]
