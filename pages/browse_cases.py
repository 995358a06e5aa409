"""Browse's case picker: the case table, *Previous*/*Next* and the *Go to case* list, all
kept in step with the reader's current case (``state.CASE_KEY``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc.dataset.records import CaseRecord, DatasetIndex
from mcalc.plural import counted
from pages import common, state

CASE_KEY = state.CASE_KEY
TABLE_KEY = "browse_table"
SHOWN_KEY = "browse_table_ids"  # the case ids of the table as last drawn
GOTO_KEY = "browse_goto"  # the "Go to case" list: the table's keyboard way
PREDICT_PAGE = "pages/predict.py"


#: The case table's count columns say what they count: the marks of the case's four images
#: added up (CC and MLO are two projections of one breast, prior and recent two rounds), so
#: one cluster seen in all four is "4", which a bare "clusters" heading read as four clusters.
#: "marks" says it in a word: "calcifications (all images)" and "clusters (all images)" made
#: the table 795 px wide, a sideways scroll on a 1280 px projector at 125 % (676 px of page
#: beside the sidebar); the help says the rest.
_ADDED = (
    "annotated on each of the case's images, added up over CC and MLO, prior and recent: "
    "the same {what} seen on a case's four images counts 4 (the temporal views below track "
    "them across exams, view by view)"
)
#: The case table's headings in words, as its filters name them (the data keep their keys).
TABLE_COLUMNS = {
    "case_id": st.column_config.Column("case"),
    "laterality": st.column_config.Column("side"),
    "birads": st.column_config.Column("BI-RADS"),
    "years_between": st.column_config.NumberColumn(
        "years between", help="years between the prior and the recent exam"
    ),
    "calcifications": st.column_config.NumberColumn(
        "calc marks", help="calcification marks " + _ADDED.format(what="calcification")
    ),
    "clusters": st.column_config.NumberColumn(
        "cluster marks", help="cluster marks " + _ADDED.format(what="cluster")
    ),
    "unannotated": st.column_config.NumberColumn(
        "images without annotation",
        help="images of the case whose annotation file is missing: their calcifications are "
        "unknown and not in the counts beside (the case's warning names them)",
    ),
}


#: *Go to case*'s width: at least the demo's (``suspicious-12`` fits), at most a third of a
#: 1280 px window's main area. Between, as wide as the longest id: 150 px cut a VinDr-Mammo
#: id (``4e3a578fe535ea4f5258d3f7f4419db8-R``, 226 px of 14 px Source Sans in Chromium) to
#: its first 15 characters, in the box and in its list alike.
GOTO_MIN_PX, GOTO_MAX_PX = 150, 420
#: Per character (ids' hex digits, letters and ``_``: 6.6-6.7 px measured; 7.2 leaves room)
#: and for the box's padding and arrow (a 150 px box showed 100 px of text).
GOTO_CHAR_PX, GOTO_CHROME_PX = 7.2, 56


def goto_width(ids: list[str]) -> int:
    """The *Go to case* list's width in px for case ids ``ids``.

    >>> goto_width(["normal-1", "suspicious-12"]), goto_width(["4e3a578fe535ea4f5258d3f7f4419db8-R"])
    (150, 301)
    """
    longest = max((len(i) for i in ids), default=0)
    need = round(longest * GOTO_CHAR_PX + GOTO_CHROME_PX)
    return max(GOTO_MIN_PX, min(GOTO_MAX_PX, need))


#: Scrolls the case table to the current case's row when it is out of sight: *Go to case*
#: and *Next* ticked a row the table's five showed not, which looked like nothing happened
#: (a radiologist's walk, 7 December 2026). Streamlit's grid has no scroll-to-row, so a
#: script in the page does it, once per case (the element is the same while the case is,
#: so a reader's own scrolling stays; a grid drawn anew within seconds is scrolled too);
#: a row in sight is left where it is (a click).
#: Rows are Streamlit's 35 px, the heading row included.
_SCROLL_TO_ROW = """<script>
(() => {
  const row = ROW, px = 35, until = Date.now() + 4000, done = new WeakSet();
  const go = () => {  // each grid drawn in the next seconds (a run can draw it anew)
    for (const grid of document.querySelectorAll(".st-key-browse_table .dvn-scroller")) {
      if (done.has(grid) || grid.scrollHeight <= grid.clientHeight) continue;
      done.add(grid);
      const top = row * px, seen = grid.clientHeight - px;
      if (top < grid.scrollTop || top + px > grid.scrollTop + seen)
        grid.scrollTop = Math.max(0, top - (seen - px) / 2);
    }
    if (Date.now() < until) setTimeout(go, 100);
  };
  go();
})();
</script>"""


def _ticked(rows: list[int]) -> dict[str, dict[str, list[int]]]:
    """The case table's selection state with only ``rows`` ticked."""
    return {"selection": {"rows": rows, "columns": [], "cells": []}}


def _on_table_pick() -> None:
    """A row ticked by the user becomes the case (the ids it indexes were shown with it)."""
    rows = list(st.session_state[TABLE_KEY]["selection"]["rows"])
    shown = st.session_state.get(SHOWN_KEY, [])
    if rows and rows[0] < len(shown):
        st.session_state[CASE_KEY] = shown[rows[0]]


def _go_to(case_id: str) -> None:
    st.session_state[CASE_KEY] = case_id


def _on_goto() -> None:
    """A case chosen in the *Go to case* list becomes the case."""
    case_id = st.session_state.get(GOTO_KEY)
    if case_id is not None:
        st.session_state[CASE_KEY] = case_id


def step(ids: list[str], current: str | None, delta: int) -> str | None:
    """The case *Next ▶* (``delta`` 1) or *◀ Previous* (-1) opens from ``current`` in the
    filtered ``ids``: from a case the filters leave out, *Next* opens the first of them."""
    if current in ids:
        pos = ids.index(current) + delta
        return ids[pos] if 0 <= pos < len(ids) else None
    return ids[0] if delta > 0 and ids else None


def case_picker(index: DatasetIndex, table: pd.DataFrame) -> CaseRecord | None:
    """The case table with previous/next buttons and a *Go to case* list; returns the
    selected case.

    ``CASE_KEY`` is the one source of truth: the table's tick, the buttons, the list and
    the caption all follow it (the tick and the list are set from it before they are
    drawn). The list is the keyboard's way to any case: the table's rows take no keys
    (Streamlit's data grid: its arrows move a cell cursor, Space and Enter pick no row). A filter never
    changes it: a current case the filters leave out stays shown, with no row ticked,
    until the reader picks one (a row, *Next*); only a session with no current case opens
    on the first filtered one.
    """
    ids = list(table["case_id"])
    if not ids:
        st.info("No case matches these filters. Clear a filter to see cases again.")
        return None
    case_id = state.current_case([c.case_id for c in index.cases]) or ids[0]
    st.session_state[CASE_KEY] = case_id
    state.keep_case_in_url(case_id)  # the address is a link to it (in this run: no run more)
    inside = case_id in ids
    pos = ids.index(case_id) if inside else -1
    # Set on every run, not only when it differs: a widget state set through the session
    # goes into the table's element, so a run that set it and the next that did not sent
    # two different elements for one table, and the browser drew the grid again on the run
    # after every case switch (the display toggle's). The same state each run: the same
    # element, which the browser keeps as it is.
    st.session_state[TABLE_KEY] = _ticked([pos] if inside else [])
    st.session_state[SHOWN_KEY] = ids
    st.session_state[GOTO_KEY] = case_id if inside else None  # the same, for the list

    common.dataframe(
        table,
        hide_index=True,
        width="stretch",
        # Five rows (scrolls for more): the images come higher on a 1080-line screen.
        height=min(35 * (len(table) + 1) + 3, 35 * 6 + 3),
        column_config=TABLE_COLUMNS,
        on_select=_on_table_pick,
        # "required" ticks the first row by itself, which would pick it for the reader.
        selection_mode="single-row-required" if inside else "single-row",
        key=TABLE_KEY,
    )
    if inside and len(ids) > 5:  # (five rows show). In the sidebar: an element here, even
        # of no height, put a second 16 px gap between the table and its buttons.
        st.sidebar.html(_SCROLL_TO_ROW.replace("ROW", str(pos)), unsafe_allow_javascript=True)
    # One row whose buttons are as wide as their words: in five weighted columns the
    # buttons' share of a narrow main area cut them ("◀ Previ…" at 1280 px, "◀…" and
    # "N…" at 1024 px, Chromium). What does not fit wraps onto a second row.
    row = st.container(horizontal=True, vertical_alignment="center")
    for label, key, delta in (("◀ Previous", "browse_prev", -1), ("Next ▶", "browse_next", 1)):
        target = step(ids, case_id, delta)
        row.button(label, key=key, disabled=target is None, on_click=_go_to, args=(target or "",))
    # Its label hidden (the row keeps the buttons' height; the images stay as high), named
    # for a screen reader all the same; typing filters it.
    row.selectbox(
        "Go to case",
        ids,
        key=GOTO_KEY,
        on_change=_on_goto,
        placeholder="Go to case…",
        label_visibility="collapsed",
        width=goto_width(ids),
    )
    if inside:
        row.markdown(f"Case **{case_id}** ({pos + 1} of {len(ids)})", width="stretch")
    else:
        row.markdown(
            f"Case **{case_id}** is outside these filters ({counted(len(ids), 'case')} {'matches' if len(ids) == 1 else 'match'}): pick "
            "one in the table, or *Next ▶* for the first.",
            width="stretch",
        )
    if row.button(
        "Predict this case",
        key="browse_predict",
        icon=":material/neurology:",
        help="Open this case on the Predict page (its model, view and explanation choices "
        "kept); the analysis starts there.",
    ):
        state.open_case_in_predict(case_id)
        st.switch_page(PREDICT_PAGE)
    return index.case(case_id)
