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
from pages import common, predict_temporal
from pages.predict_controls import case_ui, controls_ui, model_ui
from pages.predict_result import pending_ui, prefetch_ui, result_ui
from pages.predict_run import (
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

common.frame()

index = common.require_index()
st.title("Predict and explain")
common.synthetic_banner(index)
settings = common.settings()

try:
    cards, problems = registry(str(settings.models_dir))
except (ModelError, OSError) as exc:
    cards, problems = [], [{"path": str(settings.models_dir), "message": str(exc)}]
if problems:
    with st.expander(f"{len(problems)} model folder(s) skipped"):
        for p in problems:
            st.caption(f"`{p['path']}`: {p['message']}")
if not cards:
    st.info(
        f"No model in `{settings.models_dir}`. Train one on the Train page, or with "
        "`python -m mcalc train`."
    )
    st.stop()

card = model_ui(cards)
try:
    fingerprint = model_key(card)
    loaded = loaded_model(card.path, fingerprint)
    check_model_fits(loaded)
    xp = explainer(card.path, fingerprint)
except McalcError as exc:
    st.error(f"Model `{card.id}` cannot be used here: {exc}")
    st.info("Choose another model above; the rest of the app keeps working.")
    st.stop()

case, view, times = case_ui(index)
ctl = controls_ui(loaded, xp)
records: dict[str, ImageRecord] = {}
for tp in times:
    rec = case.image(view, tp)
    if rec is None:
        st.warning(f"{view} {tp}: this case has no such image.")
    else:
        records[rec.key] = rec
request = view_request(loaded, case, view, times, ctl.analysis)
meta = Shown(
    key=request.key,
    title=f"{card.id} · {case.case_id} · {view} {' and '.join(times)}",
    records=records,
    labels={key: f"{rec.view} {rec.timepoint}" for key, rec in records.items()},
    laterality=case.laterality,
    view=view,
)
shown, pending = shown_ui(loaded, xp, request, meta, ctl.display.detections)
if pending is not None and shown is None:  # first visit: the images now, the result later
    pop_prefetch()  # the images are made here
    pending_ui(pending.meta, ctl.display)
    pending.finish()
prefetch_ui(ctl.display)  # a new case or Run: its images made (and sent) while it computes
drawn = result_ui(shown, ctl.display) if shown is not None else None
if drawn is not None and shown is not None:
    every = [ImageInput.from_record(r) for r in case.images]
    case_score_ui(
        loaded, xp, case_request(loaded, every, replace(ctl.analysis, cam=None)), case.case_id
    )
    predict_temporal.temporal_ui(loaded, case, view, drawn)
    # A verdict is about the result on screen: only when it is this model's and settings'.
    verdict_ui(card, drawn, stale=None if shown.key == request.key else shown.title)
    common.case_report_ui(case.case_id, card.id, "predict")
    after = next_case(index, case.case_id)
    if pending is None and shown.key == request.key and after is not None:
        nxt = view_request(loaded, after, view, times, ctl.analysis)
        analyse_next(loaded, xp, nxt, ctl.display.detections)
if pending is not None:  # the reader's choice, the last result on screen: drawn when done
    pending.finish()
