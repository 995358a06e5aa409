"""Predict: run a registered model over a case, explain it, and compare with the annotations.

UI only: widgets (:mod:`pages.predict_controls`) -> a request of
:mod:`mcalc.explain.runs` (the analysis the CLI makes too, :func:`analyse_case`), shown at
once when cached, else computed on *Run* in the background with progress and *Cancel*
(:mod:`pages.predict_run`), the last result staying on screen -> figures of
:mod:`mcalc.present.predict_figures` (:mod:`pages.predict_result`).
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.errors import McalcError, ModelError
from mcalc.explain.opening import next_case, view_request
from mcalc.explain.runs import case_request
from mcalc.explain.service import ImageInput, check_model_fits, model_key
from mcalc.plural import counted
from mcalc.present.reading import laterality_note, missing_image, panel_label, shown_note
from pages import common, default_model, predict_temporal, reader_forms
from pages.predict_controls import case_ui, controls_ui, model_ui
from pages.predict_result import pending_ui, prefetch_ui, result_ui
from pages.predict_run import (
    RESULT_FRAGMENT,
    SHOWN_KEY,
    Shown,
    analyse_next,
    case_score_ui,
    explainer,
    loaded_model,
    pop_prefetch,
    registry,
    shown_ui,
)
from pages.predict_verdict import verdict_ui
from pages.predict_viewer import case_moved
from pages.problems import laterality_problems

common.frame()

index = common.require_index()
st.title("Predict and explain")
common.synthetic_banner(index)
settings = common.settings()

try:
    cards, problems = registry(str(default_model.registry_folder()))
except (ModelError, OSError) as exc:
    cards, problems = [], [{"path": str(settings.models_dir), "message": str(exc)}]
if problems:
    with st.expander(f"{counted(len(problems), 'model folder')} skipped"):
        for p in problems:
            st.caption(f"`{p['path']}`: {p['message']}")
if not cards:
    st.info(
        f"No model in `{settings.models_dir}`. Train one on the Train page, or with "
        "`python -m mcalc train`."
    )
    st.stop()

card = model_ui(cards, index)
try:
    fingerprint = model_key(card)
    # The card as listed now: its decision threshold changes without the model file.
    loaded = loaded_model(card.path, fingerprint).with_card(card)
    check_model_fits(loaded)
    xp = explainer(card.path, fingerprint)
except McalcError as exc:
    st.error(f"Model `{card.id}` cannot be used here: {exc}")
    st.info("Choose another model above; the rest of the app keeps working.")
    st.stop()

case, view, times, asked_view = case_ui(index)
ctl = controls_ui(loaded, xp)
records: dict[str, ImageRecord] = {}
for tp in times:
    rec = case.image(view, tp)
    if rec is not None:
        records[rec.key] = rec
    elif not (len(times) > 1 and case.one_round):  # a one-round case: no gap (the note)
        st.warning(missing_image(case, view, tp))
note = shown_note(case, asked_view, view, times)  # another view, one round: said once
if note:
    st.caption(note)
shown_paths = {str(rec.image_path) for rec in records.values()}
sides = laterality_note(case, [p for p in laterality_problems(index) if p.path in shown_paths])
if sides:  # a file's tag contradicts the spreadsheet: the panels are titled by the latter
    st.caption(f":orange[:material/warning: {sides}]")
request = view_request(loaded, case, view, times, ctl.analysis)
meta = Shown(
    key=request.key,
    title=f"{card.id} · {case.case_id} · {view} {' and '.join(times)}",
    records=records,
    # Side, view, round and exam year, as Browse and Annotate title their panels.
    labels={key: panel_label(case, rec.view, rec.timepoint) for key, rec in records.items()},
    laterality=case.laterality,
    view=view,
)
shown, pending = shown_ui(loaded, xp, request, meta, ctl.display.detections)
if pending is None or shown is not None:
    prefetch_ui(ctl.display)  # a new case or Run: its images made (and sent) while it computes


@st.fragment(key=RESULT_FRAGMENT)
def result_area(first: Shown | None) -> None:
    """The result on screen and what depends on it (case score, rounds, verdict, report,
    the next case ahead); ``first``: the request whose images the first visit draws while
    nothing is on screen. A fragment: the end of a run reruns it alone
    (:meth:`pages.predict_run.Pending.finish`), its arguments those of the page's run
    that waited (the reader's choices), the result taken from the session."""
    if case_moved():  # the viewer's next/previous case (first visit's images)
        st.rerun()
    shown: Shown | None = st.session_state.get(SHOWN_KEY)
    if shown is None:
        if first is not None:  # first visit: the images now, the result later
            pop_prefetch()  # the images are made here
            pending_ui(first, ctl.display)
        return
    drawn = result_ui(shown, ctl.display)
    if drawn is None:
        return
    every = [ImageInput.from_record(r) for r in case.images]
    case_score_ui(
        loaded, xp, case_request(loaded, every, replace(ctl.analysis, cam=None)), case.case_id
    )
    predict_temporal.temporal_ui(loaded, case, view, drawn)
    # A verdict is about the result on screen: only when it is this model's and settings'.
    verdict_ui(card, drawn, shown.labels, stale=None if shown.key == request.key else shown.title)
    reader_forms.case_report_ui(case.case_id, card.id, "predict")
    after = next_case(index, case.case_id)
    if shown.key == request.key and after is not None:  # none while a run goes on
        nxt = view_request(loaded, after, after.view_shown(asked_view), times, ctl.analysis)
        analyse_next(loaded, xp, nxt, ctl.display.detections)


result_area(pending.meta if pending is not None and shown is None else None)
if pending is not None:  # the result drawn by a rerun of result_area once the run ends
    pending.finish()
