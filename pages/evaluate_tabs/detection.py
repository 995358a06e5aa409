"""Evaluate's detection tab: FROC and cluster FROC of the chosen models on one plot each,
with their patient-bootstrap bands, and the summary tables."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from mcalc.errors import McalcError
from mcalc.explain.detection_eval import DetectionEvalSettings, detection_for_model
from mcalc.models.card import ModelCard
from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM, DetectionSettings
from mcalc.models.froc import CPM_CONVENTION, DEFAULT_TOLERANCE_MM
from mcalc.present.froc_figures import froc_figure, summary_notes, summary_rows
from pages import common, theme
from pages.evaluate_tabs.shared import (
    BOOTSTRAP_CHOICES,
    detection_store,
    fitted_table,
    result_key,
)


def detection_settings_ui() -> DetectionEvalSettings:
    """Hit tolerances, detection spacing and bootstrap of the detection tab."""
    c1, c2, c3 = st.columns(3)
    tolerance = c1.number_input(
        "Hit tolerance (mm)",
        0.1,
        20.0,
        DEFAULT_TOLERANCE_MM,
        0.1,
        key="evaluate_det_tolerance",
        persist_state="session",
        help="A detection hits an annotated calcification within this distance (one-to-one).",
    )
    min_distance = c2.number_input(
        "Min. distance between detections (mm)",
        0.1,
        20.0,
        DEFAULT_MIN_DISTANCE_MM,
        0.1,
        key="evaluate_det_min_distance",
        persist_state="session",
    )
    n_boot = c3.selectbox(
        "Bootstrap resamples (bands)",
        BOOTSTRAP_CHOICES,
        index=BOOTSTRAP_CHOICES.index(200),
        key="evaluate_det_bootstrap",
        persist_state="session",
    )
    return DetectionEvalSettings(
        detection=DetectionSettings(min_distance_mm=float(min_distance)),
        tolerance_mm=float(tolerance),
        n_boot=int(n_boot),
    )


def detection_ui(cards: list[ModelCard], fingerprint: str) -> None:
    """The detection tab: FROC and cluster FROC of the chosen models, and the summary."""
    st.caption(
        "Each model slides over every evaluated image (maps cached with Predict's); the "
        "peaks of its map are detections. FROC: sensitivity against mean false positives "
        f"per image over all thresholds. Mean = {CPM_CONVENTION}."
    )
    settings = detection_settings_ui()
    store = detection_store()
    skey = json.dumps(settings.as_dict(), sort_keys=True)
    keys = {c.id: f"{result_key(c.id, fingerprint)}|{skey}" for c in cards}
    todo = [c for c in cards if keys[c.id] not in store]
    label = f"Detect with {len(todo)} model{'s' if len(todo) != 1 else ''}" if todo else "Detected"
    if st.button(label, key="evaluate_detect", disabled=not todo):
        bar = st.progress(0.0, text="Sliding the models over the images…")
        for i, card in enumerate(todo):

            def progress(done: int, total: int, message: str, i: int = i) -> None:
                bar.progress(min((i + done / max(total, 1)) / len(todo), 1.0), text=message)

            failed = False
            try:
                ev = detection_for_model(
                    card.path,
                    common.current_data_path(),
                    common.settings().models_dir,
                    settings,
                    progress=progress,
                )
                store[keys[card.id]] = ev
            except (McalcError, ValueError) as exc:
                failed = True
                st.error(f"**{card.id}**: no detection evaluation: {exc}", icon=":material/error:")
        bar.empty()
        if not failed:
            st.rerun()
    done = {c.id: store[keys[c.id]].as_dict() for c in cards if keys[c.id] in store}
    if not done:
        st.info(f"Press **{label}** to run the chosen models over the whole images.")
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(theme.styled(froc_figure(done)), width="stretch", key="evaluate_froc")
    c2.plotly_chart(
        theme.styled(
            froc_figure(
                done,
                kind="cluster_froc",
                title="FROC · clusters (3+ within 1 cm²)",
                # Short enough for half a 1024 px page (the full words ran out of it);
                # the caption under the tables says them.
                x_title="mean FP clusters per image",
            )
        ),
        width="stretch",
        key="evaluate_cluster_froc",
    )
    st.subheader("Detection summary")
    st.caption("Sensitivity at 0.5, 1, 2 and 4 false positives per image; individual findings.")
    fitted_table(pd.DataFrame(summary_rows(done)), key="evaluate_det_summary")
    for note in summary_notes(done):
        st.caption(note)
    st.caption("The same for clusters (false-positive clusters per image).")
    fitted_table(pd.DataFrame(summary_rows(done, "cluster_froc")), key="evaluate_det_clusters")
    for note in summary_notes(done, "cluster_froc"):
        st.caption(note)
    for name, shown in done.items():
        for message in shown["skipped"]:
            st.caption(f"{name}: skipped {message}")
