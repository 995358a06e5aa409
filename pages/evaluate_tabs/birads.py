"""Evaluate's BI-RADS tab: case-level classification of the chosen models (normal, benign,
suspicious; and suspicious vs not), with the aggregation rule chosen and stated, the
metrics on every case and on the biopsy-confirmed ones, and the published results beside
ours."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc.errors import McalcError
from mcalc.explain.birads_run import birads_for_model
from mcalc.explain.detection_eval import DetectionEvalSettings, detection_for_model
from mcalc.explain.scoring import decision_threshold
from mcalc.models.birads_eval import AGGREGATIONS, GROUPS, RULE_TEXT, SUBSETS
from mcalc.models.card import ModelCard
from mcalc.models.published import REPRODUCTION_NOTE, reproduction_rows
from mcalc.present.eval_figures import confusion_figure
from mcalc.present.report import (
    birads_rows,
    birads_threshold_rows,
    birads_threshold_words,
    ours_for_reproduction,
)
from mcalc.present.words import plain
from pages import common, theme
from pages.evaluate_tabs.shared import (
    BOOTSTRAP_CHOICES,
    PUBLISHED_IN_VIEW,
    birads_store,
    detection_store,
    fitted_table,
    latest_detection,
    result_key,
)

#: Short enough for the rule's box at 1024 px of page (a projector at 125 %): "max: the
#: most suspicious image decides" read "max: the most suspicious image d…"; the help says
#: the rest.
RULE_LABELS = {
    "max": "max: most suspicious image",
    "mean": "mean of the case's images",
    "logistic": "logistic (training patients)",
}


def controls_ui() -> tuple[str, float | None, int, bool]:
    """Aggregation rule, threshold (``None``: each model's own, see
    :func:`mcalc.explain.birads_run.case_threshold`), bootstrap and temporal change of the
    case-level classification."""
    c1, c2, c3 = st.columns([3, 3, 2])
    rule = c1.selectbox(
        "Case aggregation rule",
        list(AGGREGATIONS),
        format_func=RULE_LABELS.__getitem__,
        key="evaluate_birads_rule",
        persist_state="session",
        help="How the model's outputs over a case's images (CC/MLO × prior/recent) make one "
        "case score. Max: the most suspicious image decides. Mean: over the case's images. "
        "Logistic: a logistic regression fitted on the model's training patients only "
        "(features: highest and mean map score, detections, detected clusters).",
    )
    operating = c2.toggle(
        # Fits its third of the page ("Each model's operating thres…" at 1024 px).
        "Operating thresholds",
        value=True,
        key="evaluate_birads_operating",
        persist_state="session",
        help="Each model's operating threshold. Max and mean: the case scores are map "
        "scores, read at each model's card "
        "threshold (its operating point, at which Predict decides). Logistic: 0.5 on the "
        "regression's probability, another unit. Off: the slider's threshold for every model. "
        "Detections are counted at the operating threshold either way.",
    )
    threshold = c2.slider(
        "Threshold on the case score (suspicious)",
        0.0,
        1.0,
        0.5,
        0.01,
        key="evaluate_birads_threshold",
        persist_state="session",
        disabled=operating,
    )
    n_boot = c3.selectbox(
        "Bootstrap resamples (95% CI)",
        BOOTSTRAP_CHOICES,
        index=BOOTSTRAP_CHOICES.index(500),
        key="evaluate_birads_bootstrap",
        persist_state="session",
    )
    temporal = st.toggle(
        "Count new findings since the prior (temporal change)",
        key="evaluate_birads_change",
        persist_state="session",
        help="Registers each case's prior to its recent image and counts the detections with "
        "no counterpart on the prior; the logistic rule uses the count as a feature.",
    )
    return str(rule), None if operating else float(threshold), int(n_boot), bool(temporal)


def _classify(
    cards: list[ModelCard], fingerprint: str, keys: dict[str, str], rule: str,
    threshold: float | None, n_boot: int, temporal: bool,
) -> None:  # fmt: skip
    """Classify the cases with every model that has no result for these settings yet; a
    model without detections is first slid over the images (default detection settings)."""
    data, models_dir = common.current_data_path(), common.settings().models_dir
    store = birads_store()
    bar = st.progress(0.0, text="Sliding the models over the images…")
    todo = [c for c in cards if keys[c.id] not in store]
    failed = False
    for i, card in enumerate(todo):

        def progress(done: int, total: int, message: str, i: int = i) -> None:
            bar.progress(min((i + done / max(total, 1)) / len(todo), 1.0), text=message)

        try:
            detection = latest_detection(card.id, fingerprint)
            if detection is None:
                settings = DetectionEvalSettings()
                detection = detection_for_model(
                    card.path, data, models_dir, settings, progress=progress
                )
                skey = f"{result_key(card.id, fingerprint)}|default"
                detection_store()[skey] = detection
            store[keys[card.id]] = birads_for_model(
                card.path,
                data,
                models_dir,
                detection,
                rule=rule,
                threshold=threshold,
                n_boot=n_boot,
                temporal=temporal,
                progress=progress,
            )
        except (McalcError, ValueError) as exc:
            failed = True
            st.error(f"**{card.id}**: no case classification: {exc}", icon=":material/error:")
    bar.empty()
    if not failed:
        st.rerun()  # the button and everything below show the new results


def result_ui(model_id: str, b: dict, i: int) -> None:
    """One model's case-level metrics, per-class AUCs, 3x3 confusion matrix and notes."""
    st.markdown(f"**{model_id}** · rule *{b['rule']}*: {b['rule_text']}")
    if words := birads_threshold_words(b, "the slider's"):
        st.caption(words)
    # Two tables under the model's name: one row of 14 columns scrolled sideways at a
    # projector's 1024 px of page (h/projector).
    rows, at = [], []
    subsets = [(name, label) for name, label in SUBSETS if name in b]
    for name, label in subsets:
        for row in birads_rows(b[name]):
            rows.append({"subset": label} | {k: v for k, v in row.items() if ": " not in k})
        at += [{"subset": label} | row for row in birads_threshold_rows(b[name])]
    fitted_table(pd.DataFrame(rows), key=f"evaluate_birads_table_{i}")
    if at:
        fitted_table(pd.DataFrame(at), key=f"evaluate_birads_at_{i}")
    m = b["all"]
    if "per_class_auc" in m:
        c1, c2 = st.columns([2, 3])
        per = [{"group": k, "one-vs-rest AUC": v} for k, v in m["per_class_auc"].items()]
        with c1:
            fitted_table(pd.DataFrame(per), key=f"evaluate_birads_per_class_{i}")
            st.caption(
                f"Three groups, decided by the largest score: accuracy {m['accuracy_3class']:.3f}."
            )
        c2.plotly_chart(
            theme.styled(
                confusion_figure(
                    m["confusion_matrix_3class"], list(GROUPS), f"{model_id} · 3 groups"
                )
            ),
            width="stretch",
            key=f"evaluate_birads_confusion_{i}",
        )
    with st.expander(f"{model_id}: every case's score"):
        cases = [{k: v for k, v in c.items() if k != "group_scores"} for c in b["cases"]]
        common.dataframe(pd.DataFrame(cases), hide_index=True, key=f"evaluate_birads_cases_{i}")
    # A note several subsets share is said once, naming them all.
    where: dict[str, list[str]] = {}
    for name, label in subsets:
        for note in b[name].get("notes", []):
            where.setdefault(note, []).append(label)
    for note, labels in where.items():
        st.caption(f"{model_id} · {'; '.join(labels)}: {note}")


def birads_ui(cards: list[ModelCard], fingerprint: str) -> None:
    """The BI-RADS tab: classify the chosen models' cases, then their metrics side by side
    with the published results."""
    st.caption(
        "Cases (a breast: CC and MLO, prior and recent) classified as normal (BI-RADS 1), "
        "benign (2) or suspicious (4–5) from each model's outputs over the case's images: "
        "suspicious vs not, and benign vs suspicious with the normal cases left out (the "
        "published work's task, which the published results are set beside). Sensitivity and specificity at "
        "each model's operating threshold (or the slider's) and at Youden's; the "
        "biopsy-confirmed cases again on their own."
    )
    rule, threshold, n_boot, temporal = controls_ui()
    st.caption(f"Rule *{rule}*: {RULE_TEXT[rule]}.")
    # The card's threshold in the key: a threshold chosen since classifies the cases again.
    keys = {
        c.id: f"{result_key(c.id, fingerprint)}|{rule}|{threshold}|{n_boot}|{temporal}"
        f"|{decision_threshold(c).value}"
        for c in cards
    }
    store = birads_store()
    todo = [c for c in cards if keys[c.id] not in store]
    label = (
        f"Classify cases with {len(todo)} model{'s' if len(todo) != 1 else ''}"
        if todo
        else "Classified"
    )
    if st.button(label, key="evaluate_birads_run", disabled=not todo):
        _classify(cards, fingerprint, keys, rule, threshold, n_boot, temporal)
    done = {c.id: store[keys[c.id]] for c in cards if keys[c.id] in store}
    if not done:
        st.info(
            "Press **Classify cases**: each model slides over the whole images (maps cached "
            "with Predict's and the Detection tab's)."
        )
        return
    index = common.current_index()
    synthetic = bool(index is not None and index.synthetic)
    source = index.source if index is not None else "real-layout"
    for i, (model_id, b) in enumerate(done.items()):
        result_ui(model_id, b, i)
    st.subheader("Published results beside ours")
    temporal_input = {c.id: c.patch.temporal for c in cards}  # not the toggle's `temporal`
    for model_id, b in done.items():
        ours, what, prior = ours_for_reproduction(b, None, temporal=temporal_input[model_id])
        rows = reproduction_rows(ours, synthetic=synthetic, source=source, what=what, prior=prior)
        # A table per model, named above it: in one table a model column (an id as `train`
        # makes them, ~40 characters) pushed "our AUC" out of a projector's 690 px.
        st.markdown(f"Ours: **{plain(model_id)}**")
        fitted_table(
            pd.DataFrame(rows),
            key=f"evaluate_birads_published_{model_id}",
            in_view=PUBLISHED_IN_VIEW,
            more="What differs",
        )
    st.info(REPRODUCTION_NOTE, icon=":material/menu_book:")
