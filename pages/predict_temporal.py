"""Predict's section across rounds: the model's findings in the recent and the prior exam.

UI only: the analysis the page made -> :func:`mcalc.explain.temporal_findings.temporal_findings`
(registration, findings mapped to the prior, matched across rounds, a temporal model's
evidence by channel) -> :func:`mcalc.present.temporal_figures.temporal_figure` and a table.
The page calls :func:`temporal_ui` in one line. The registration (seconds: several times
the analysis of a pair with the small model) is asked for with the section's toggle, on by
default for a temporal model only (issue 14: expensive work on an explicit action, so a
first visit or a new case settles with its analysis); it then runs in the background, with
its progress in this section, so the result does not wait for it and a click meanwhile does
not restart it. The toggle stays as the reader set it for the next cases.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc.dataset.records import CaseRecord
from mcalc.errors import McalcError
from mcalc.explain.ahead import AHEAD
from mcalc.explain.service import CaseAnalysis
from mcalc.explain.temporal_findings import (
    FINDING_TOLERANCE_MM,
    SCORE_RISE,
    TemporalFindings,
    temporal_findings,
)
from mcalc.models.inference import LoadedModel
from mcalc.present.reading_temporal import notes_beside_flag, registration_caption
from mcalc.present.temporal_figures import COLUMN_HELP, READING, status_legend, temporal_figure
from mcalc.progress import BackgroundWork, ProgressFn
from mcalc.temporal.pair import not_compared_reason
from pages import charts, common
from pages.predict_run import POLL_S, POLL_WAIT_S

#: Second panel choices: the prior as filed (findings at their mapped place), the
#: subtraction, the registered prior in flicker or swipe.
PANELS = {
    "prior": "Prior (findings mapped)",
    "subtraction": "Subtraction",
    "flicker": "Flicker",
    "swipe": "Swipe",
}


#: The findings being computed or computed: ``(key, BackgroundWork)``; not a widget.
WORK_KEY = "predict_temporal_work"
#: The section's toggle (register and compare, or not).
ON_KEY = "predict_temporal_on"


def _findings_work(
    case: CaseRecord, analysis: CaseAnalysis, loaded: LoadedModel, key: str, view: str
) -> BackgroundWork[TemporalFindings]:
    """The findings of ``key`` in the background (started once; another key replaces it)."""
    held = st.session_state.get(WORK_KEY)
    if held is not None and held[0] == key:
        return held[1]
    if held is not None:
        held[1].cancel()
    cache = common.get_image_cache()

    def register(progress: ProgressFn) -> TemporalFindings:
        # The reader asked for it: no analysis ahead beside it (the one going on stops).
        with AHEAD.foreground(("registration", key), progress):
            return temporal_findings(cache, case, view, analysis, loaded)

    work = BackgroundWork(
        register,
        key=key,
        label=f"registration of {case.case_id} {view}",
    ).start()
    st.session_state[WORK_KEY] = (key, work)
    return work


@st.fragment(run_every=POLL_S)
def _wait_ui(work: BackgroundWork[TemporalFindings]) -> None:
    """The registration's progress, polled; a full rerun once it ends."""
    if work.wait(POLL_WAIT_S):
        st.rerun()
    st.progress(0.0, text=f"Registering the prior to the recent exam… {work.elapsed():.0f} s")


def temporal_ui(loaded: LoadedModel, case: CaseRecord, view: str, analysis: CaseAnalysis) -> None:
    """The findings of ``view`` in both rounds, when the case has both."""
    if case.image(view, "prior") is None or case.image(view, "recent") is None:
        # Said, not hidden: a missing exam read as a switched-off feature.
        st.caption(
            f"No comparison across exams for {view}: {not_compared_reason(case, view)} "
            "of this view in this case."
        )
        return
    st.header("Across exams")
    if loaded.temporal:
        st.caption(
            "A temporal model: it read each recent patch with the subtraction of the prior "
            "registered to it (recent − registered prior). The table says how much of each "
            "finding's evidence came from that change."
        )
    if not any(r.key.endswith(f"{view}_recent") for r in analysis.images):
        st.info(f"Analyse the {view} recent image to see its findings in the prior exam.")
        return
    if not st.toggle(
        "Compare with the prior exam (registers the pair: seconds, in the background)",
        value=bool(loaded.temporal),
        key=ON_KEY,
        persist_state="session",
    ):
        st.caption(
            "Off: turn it on to see the findings in both exams (new, stable, score rose, "
            "resolved); "
            "it stays on for the next cases."
        )
        return
    regions = "|".join(
        f"{r.key}:{[(round(g.center[0]), round(g.center[1])) for g in r.regions]}"
        for r in analysis.images
    )
    work = _findings_work(
        case, analysis, loaded, f"{case.case_id}|{loaded.model_id}|{regions}|{view}", view
    )
    if work.running:
        _wait_ui(work)
        return
    if isinstance(work.error, (McalcError, ValueError)):
        st.warning(f"{view}: no comparison across exams: {work.error}")
        return
    if work.error is not None:
        raise work.error
    found = work.result
    assert found is not None
    panel = st.radio(
        "Second panel",
        list(PANELS),
        format_func=PANELS.__getitem__,
        index=1 if loaded.temporal else 0,
        horizontal=True,
        key="predict_temporal_panel",
    )
    st.markdown(f"**{found.summary}**")
    recent = found.view.recent
    charts.image_pair_chart(
        temporal_figure(found.view, panel, case=case),
        recent.shape[0] / recent.shape[1],
        key=f"predict_temporal_{view}",
        config={"scrollZoom": True, "displaylogo": False},
    )
    reg = found.view.registration
    st.caption(
        f"{READING[panel]}  \n{registration_caption(reg)} Each finding is marked in the "
        "recent image and at its place in the prior (through the registration); "
        f"{status_legend(('finding', 'new', 'stable', 'score rose', 'resolved'))}."
    )
    for note in notes_beside_flag(found.notes, reg):
        st.caption(f"{view}: {note}")
    if found.rows:
        common.dataframe(
            pd.DataFrame(found.rows),
            hide_index=True,
            column_config={
                **common.column_help(found.rows, COLUMN_HELP),
                # A number (it sorts as one), shown signed.
                "score change": st.column_config.NumberColumn(
                    format="%+.2f", help=COLUMN_HELP.get("score change")
                ),
            },
            key="predict_temporal_table",
        )
        if found.prior_read:
            st.caption(
                "stable: found in both exams (within "
                f"{FINDING_TOLERANCE_MM:g} mm after registration); score rose: "
                f"found in both, its score at least {SCORE_RISE:g} higher now (more than the "
                "scores of unchanged findings moved between exams); new: in the recent exam "
                "only; resolved: in the prior only."
            )
