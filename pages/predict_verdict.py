"""Predict's verdict form: a reader records whether the model's score and explanation hold,
with the context they looked at (model, map, explanation, threshold) and a snapshot."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mcalc.explain.service import CaseAnalysis
from mcalc.models.card import ModelCard
from pages import common, reader_forms


def verdict_context(card: ModelCard, case: CaseAnalysis, result: Any) -> Any:
    """What the reader looked at for ``result``: model, map, explanation and threshold."""
    from dataclasses import asdict

    from mcalc.explain.scoring import MAP_SCORE_VERSION, REGION_RULE_VERSION
    from mcalc.store.audit import VerdictContext

    cam = result.cam
    return VerdictContext(
        model_fingerprint=card.fingerprint(),
        method=cam.settings.method if cam is not None else None,
        layer=cam.layer if cam is not None else None,
        target=cam.target if cam is not None else None,
        scope=cam.settings.scope if cam is not None else None,
        threshold=case.threshold.value,
        threshold_source=case.threshold.source,
        map_settings={
            **{k: v for k, v in asdict(case.settings.sliding).items() if _plain(v)},
            "map_score_rule": MAP_SCORE_VERSION,
            "region_rule": REGION_RULE_VERSION,
            "tolerance_mm": case.settings.tolerance_mm,
            **({"weighting": cam.settings.weighting} if cam is not None else {}),
        },
    )


def verdict_picture(case: CaseAnalysis, result: Any) -> Any:
    """What the reader judged, as one picture: the map shown (explanation, else probability
    map) over the image, its hot spots ringed and the top regions boxed and numbered as the
    regions the reader called, with its colour bar and key
    (:func:`mcalc.present.result_picture.shown_picture`). The map alone, blended by its
    heat, left a sharp explanation all but invisible (a few pixels at its peaks)."""
    from mcalc.present.result_picture import shown_picture

    return shown_picture(case, result)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


#: Session key of the verdict section's open state (:func:`pages.common.opened_section`).
VERDICT_OPEN = "predict_verdict_open"


def verdict_ui(
    card: ModelCard, case: CaseAnalysis, labels: dict[str, str], *, stale: str | None = None
) -> None:
    """The verdict form for ``case``, the result on screen, its images named by ``labels``
    (image key -> the panels' titles); ``stale``: the title of that result when it is not
    the one of the chosen model and settings (kept on screen until Run): a verdict then
    would pair one model's card with another's score, so none is taken."""
    from mcalc.store import StoreConflictError, StoreError
    from mcalc.store.audit import record_verdict
    from pages.readers import read_note_ui, read_policy, reader_ui

    # Drawn only while open: with a reader known (signed in, or a name given), the form
    # (two questions, a row of choices per region, the saved record's table) cost every
    # run of the result a render (issue 14: the browser renders each element a run sends).
    box = common.opened_section("Record a verdict (audit)", VERDICT_OPEN)
    if box is None:
        return
    with box:
        if stale is not None:
            st.info(
                f"The result on screen is **{stale}**, not the one of `{card.id}` with these "
                "settings: press **Run** (or choose those settings again) to record a verdict "
                "on what you see."
            )
            return
        reader = reader_ui("predict")
        if reader is None:
            return
        # Only this reader's own verdict is shown here; the note says that the others'
        # are hidden elsewhere too (Audit, the case report) while reads are independent.
        read_note_ui(read_policy(), "verdicts")
        by_key = {r.key: r for r in case.images}
        keys = list(by_key)
        # Outside the form: the regions to call are the picked image's (a pick reruns this
        # fragment only). The recent exam is what a reader rates first; it is listed last.
        key = st.selectbox(
            "Image",
            keys,
            index=len(keys) - 1,
            format_func=lambda k: labels.get(k, k),
            key="predict_verdict_image",
        )
        current = reader_forms.earlier_verdict_ui("predict", card.id, key, reader)
        if (flat := by_key[key].flat_note) is not None:  # no evidence to judge
            st.warning(f"{labels.get(key, key)}: {flat}")
        # The form keeps its values after saving: the reader sees what was recorded.
        with st.form("predict_verdict_form", clear_on_submit=False):
            agree, plausible = reader_forms.verdict_inputs("predict")
            calls = reader_forms.region_calls_ui("predict", key, by_key[key].regions)
            comment = st.text_area("Comment", key="predict_comment", height=70)
            sent = st.form_submit_button("Save verdict")
        # Saved on top of the version this reader's verdict had when the form showed the
        # image: one saved meanwhile in another tab is not replaced without a word.
        name = labels.get(key, key)
        base = reader_forms.verdict_base("predict", card.id, key, reader)
        reader_forms.verdict_damaged_ui("predict", card.id, key, reader)
        on_top = reader_forms.verdict_conflict_ui("predict", card.id, key, reader, name)
        if (sent or on_top is not None) and agree is None:  # never a verdict not given
            st.error(reader_forms.NO_VERDICT)
        elif (sent or on_top is not None) and agree is not None:
            try:
                result = by_key[key]
                v = record_verdict(
                    common.settings(),
                    model_id=card.id,
                    model_card=card,
                    image_key=key,
                    reader=reader,
                    agree=agree,
                    plausible=plausible,
                    comment=comment,
                    score=result.score,  # rounded as every verdict's (SCORE_DECIMALS)
                    predicted=case.predicted(result),
                    context=verdict_context(card, case, result),
                    regions=calls,
                    snapshot=verdict_picture(case, result),
                    base_version=base if on_top is None else on_top,
                )
            except StoreConflictError as exc:
                reader_forms.verdict_refused("predict", card.id, key, reader, exc.stored_version)
                st.rerun()  # the conflict and its choices, under the form
            except (StoreError, ValueError) as exc:
                st.error(f"Verdict not saved: {exc}")
            else:
                reader_forms.verdict_saved(
                    "predict", card.id, key, reader, v.version or 0, verdict=v, shown=current
                )
                st.session_state["predict_saved_verdict"] = v.row()
        saved = st.session_state.get("predict_saved_verdict")
        if saved:
            st.success(
                f"Saved: {saved['reader']} on "
                f"{labels.get(saved['image_key'], saved['image_key'])} with {saved['model_id']} "
                f"(version {saved['version']}, {saved['recorded_at']})."
            )
            common.dataframe(
                pd.DataFrame([{k: v for k, v in saved.items() if k != "model_card"}]),
                hide_index=True,
                width="stretch",
            )
            reader_forms.recorded_card_ui(saved["model_card"])
