"""Browse's temporal views in the reading viewer: each view's prior registered to its
recent exam (once per case, cached) and, under the viewer, the registration's figures and
the change table, whose ticked row centres both rounds on that spot."""

from __future__ import annotations

import functools
import time

import pandas as pd
import streamlit as st

from mcalc.config import VIEWS
from mcalc.dataset.records import CaseRecord
from mcalc.errors import McalcError
from mcalc.present.reading_temporal import (
    TemporalPanel,
    notes_beside_flag,
    registration_caption,
    temporal_panel,
)
from mcalc.present.temporal_figures import COLUMN_HELP, TABLE_READING, tracked_rows
from mcalc.temporal.change import status_meaning
from mcalc.viewer import DisplayOptions
from pages import common
from pages.views import cached_view, case_files_now

#: The change table's row to centre both rounds on (the viewer's ``focus``).
FOCUS_KEY = "browse_temporal_focus"


#: Said while a case registers (the caller's spinner: a cached function's own spinner is
#: drawn over the page, here over the viewer's toolbar).
REGISTERING = "Registering the prior to the recent exam (a few seconds per view, once per case)…"


def case_temporal(
    case: CaseRecord, opts: DisplayOptions, max_side: int
) -> tuple[list[TemporalPanel], list[str]]:
    """Per view, the registered rounds for the viewer's temporal modes, and problems found;
    cached for every session, keyed by the case's files as they are now (a prior replaced
    under the same name kept its old registration, subtraction and changes)."""
    return _case_temporal(case, opts, max_side, case_files_now(case))


@st.cache_data(show_spinner=False, max_entries=8)
def _case_temporal(
    case: CaseRecord,
    opts: DisplayOptions,
    max_side: int,
    files: tuple[tuple[str | None, str | None], ...],
) -> tuple[list[TemporalPanel], list[str]]:
    out, problems = [], []
    for view in VIEWS:
        prior_rec, recent_rec = case.image(view, "prior"), case.image(view, "recent")
        if prior_rec is None or recent_rec is None:
            problems.append(f"{view}: no temporal view: this case lacks one of the exams.")
            continue
        try:
            prior = cached_view(prior_rec, opts, max_side, case.laterality)
            recent = cached_view(recent_rec, opts, max_side, case.laterality)
            out.append(
                temporal_panel(
                    common.get_image_cache(), case, view, recent, prior, max_side=max_side
                )
            )
        except McalcError as exc:
            problems.append(f"{view}: no temporal view: {exc}")
    return out, problems


def _on_tracked_pick(case_id: str, view: str, items: list[dict]) -> None:
    """A ticked row of a change table: both rounds of ``view`` centre on that spot."""
    rows = st.session_state[f"browse_tracked_{view}"]["selection"]["rows"]
    if rows and rows[0] < len(items):
        item = items[rows[0]]
        st.session_state[FOCUS_KEY] = {
            "case": case_id,
            "view": view,
            "key": f"{view}-{item['id']}-{time.time()}",
            **item,
        }


def temporal_tables(case_id: str, tpanels: list[TemporalPanel], summary: str) -> None:
    """Under the viewer: the case summary, each view's registration and its change table."""
    st.markdown(f"**Changes between exams: {summary}**")
    for tp in tpanels:
        reg = tp.registration
        st.caption(f"{tp.view}: {registration_caption(reg)}")
        for note in notes_beside_flag(tp.notes, reg):
            st.caption(f"{tp.view}: {note}")
        rows = tracked_rows(tp.tracked)
        if rows:
            common.dataframe(
                pd.DataFrame(rows),
                hide_index=True,
                column_config=common.column_help(rows, COLUMN_HELP),
                key=f"browse_tracked_{tp.view}",
                on_select=functools.partial(
                    _on_tracked_pick, case_id, tp.view, tp.payload["tracked"]
                ),
                selection_mode="single-row",
            )
    st.caption(
        "Tick a row to centre both exams of that view on the calcification or cluster. "
        + f"{TABLE_READING} "
        + status_meaning()
    )
