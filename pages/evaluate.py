"""Evaluate: compare registered models on the current dataset with ROC and PR curves, AUC
with patient-bootstrap confidence intervals, metrics at a threshold and confusion matrices.

All work is done by :mod:`mcalc.models` (evaluation, cache, analysis, figures); this page
reads widgets and draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from mcalc.dataset.records import DatasetIndex
from mcalc.errors import McalcError
from mcalc.explain.detection_eval import DetectionEvalSettings, detection_for_model
from mcalc.models.analysis import (
    LevelAnalysis,
    analyse,
    class_metrics,
    summary_row,
    threshold_metrics,
)
from mcalc.models.card import ModelCard
from mcalc.models.compare import comparison_rows
from mcalc.models.curves import DEFAULT_BOOTSTRAP, OperatingPoint
from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM, DetectionSettings
from mcalc.models.evaluate import (
    EvaluationResult,
    evaluate_model,
    evaluation_scope,
    load_evaluation,
)
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.froc import CPM_CONVENTION, DEFAULT_TOLERANCE_MM
from mcalc.models.published import COMPARABILITY_NOTE
from mcalc.models.registry import RegistryListing, list_models
from mcalc.models.scores import LEVEL_RULES, LEVELS, EvalScores
from mcalc.present.eval_figures import CurveEntry, confusion_figure, pr_figure, roc_figure
from mcalc.present.froc_figures import froc_figure, summary_rows
from mcalc.present.report import evaluation_report
from pages import common, evaluate_paired

common.frame("evaluate")

RESULTS_KEY = "evaluate_results"
ERRORS_KEY = "evaluate_errors"
DETECTION_KEY = "evaluate_detection"
REGISTRY_COLUMNS = {
    "model": "model",
    "architecture": "architecture",
    "task": "task",
    "input": "input",
    "strategy": "freeze",
    "weights": "weights",
    "pre-trained": "pre-trained",
    "synthetic data": "synthetic",
    "test AUC": "AUC",
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
}
#: The metrics table in two, so that each fits the page's width: threshold-free results,
#: then the metrics at the operating threshold (columns of ``summary_row``).
RANKING_COLUMNS = [
    "model",
    "level",
    "positive class",
    "n",
    "positives",
    "patients",
    "AUC",
    "AUC 95% CI",
    "AP",
    "Youden threshold",
]
THRESHOLD_COLUMNS = [
    "model",
    "threshold",
    "sensitivity",
    "specificity",
    "PPV",
    "NPV",
    "accuracy",
    "F1",
]
_DECIMAL_COLUMNS = {
    "@0.5 FP",
    "@1 FP",
    "@2 FP",
    "@4 FP",
    "mean",
    "AUC",
    "AP",
    "Youden threshold",
    "threshold",
    "sensitivity",
    "specificity",
    "PPV",
    "NPV",
    "accuracy",
    "F1",
}
LEVEL_LABELS = {
    "patch": "Patch",
    "image": f"Image ({LEVEL_RULES['image']})",
    "case": f"Case ({LEVEL_RULES['case']})",
}
BOOTSTRAP_CHOICES = [0, 200, 500, DEFAULT_BOOTSTRAP, 2000]


def _result_key(model_id: str, fingerprint: str) -> str:
    return f"{model_id}@{fingerprint}"


@st.cache_data(show_spinner="Bootstrapping confidence intervals…", max_entries=64)
def level_analysis(_scores: EvalScores, key: str, level: str, n_boot: int) -> LevelAnalysis:
    """Curves, AUC and CI of one evaluation at one level (``key`` names the evaluation)."""
    return analyse(_scores, level, n_boot=n_boot, seed=0)


def fitted_table(table: pd.DataFrame, *, key: str, height: int | None = None) -> None:
    """A table as wide as the page, its columns sized to their contents (the model id's at
    most medium), metrics with 3 decimals. Callers keep tables to a few short-named
    columns so that they fit without a horizontal scroll bar."""
    config = {
        column: st.column_config.NumberColumn(format="%.3f")
        for column in table.columns
        if column in _DECIMAL_COLUMNS
    }
    if "model" in table.columns:  # a long id is cut with an ellipsis (whole on hover)
        config["model"] = st.column_config.TextColumn(width="medium")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=height if height is not None else "auto",
        column_config=config,
        key=key,
    )


def registry_ui(listing: RegistryListing) -> None:
    """The registry as a table, and the folders that were skipped with their reason."""
    st.subheader("Registered models")
    if listing.models:
        rows = pd.DataFrame(comparison_rows(listing.models))[list(REGISTRY_COLUMNS)]
        fitted_table(
            rows.rename(columns=REGISTRY_COLUMNS),
            key="evaluate_registry",
            height=min(38 + 35 * len(rows), 320),
        )
        st.caption(
            "AUC, accuracy, sensitivity and specificity on the held-out test patients, as "
            "recorded in each model's card (patch level, threshold 0.5). Training times: "
            "the Train page."
        )
    for problem in listing.problems:
        st.warning(
            f"Skipped model folder `{Path(problem['path']).name}`: {problem['message']}",
            icon=":material/folder_off:",
        )


def choose_ui(cards: list[ModelCard]) -> list[ModelCard]:
    """The models to compare (default: the newest); returns their cards."""
    by_id = {c.id: c for c in cards}
    if "evaluate_models" not in st.session_state:
        st.session_state["evaluate_models"] = [cards[0].id]
    st.session_state["evaluate_models"] = [
        m for m in st.session_state["evaluate_models"] if m in by_id
    ]
    chosen = st.multiselect(
        "Models to compare",
        list(by_id),
        key="evaluate_models",
        format_func=lambda m: f"{m} ({by_id[m].architecture}, {by_id[m].task_name})",
    )
    return [by_id[m] for m in chosen]


def scope_ui(cards: list[ModelCard], index: DatasetIndex, fingerprint: str) -> None:
    """What each model is evaluated on, and warnings about how it was trained."""
    n = len(index.cases)
    for card in cards:
        scope, cases = evaluation_scope(card, index, fingerprint)
        if scope == "test-split":
            st.markdown(
                f"**{card.id}**: on the **held-out test patients** of its training data "
                f"({len(cases)} of {n} cases: {', '.join(cases[:8])}"
                f"{'…' if len(cases) > 8 else ''})."
            )
        else:
            st.markdown(
                f"**{card.id}**: on **all {n} patients** of this dataset (not the data it "
                "was trained on, so no held-out split applies)."
            )
            seen = set(card.split.train) | set(card.split.val)
            overlap = sorted(seen & {c.case_id for c in index.cases})
            if overlap:
                st.caption(
                    f":orange[{len(overlap)} of these case ids are among its training/validation "
                    "cases. If this is the same data (e.g. a regenerated demo set whose files "
                    "differ slightly), the numbers below are optimistic.]"
                )
        flags = []
        if card.data.synthetic:
            flags.append(
                "was trained on **synthetic** demo data: its numbers say nothing about "
                "real mammograms"
            )
        if not card.pretrained:
            detail = card.weights.detail or "random initialisation"
            flags.append(f"started from random weights, not pre-trained ({detail})")
        if card.skipped_images:
            flags.append(
                f"was trained without {len(card.skipped_images)} unreadable image(s): "
                + ", ".join(f"{k} ({v})" for k, v in card.skipped_images.items())
            )
        if flags:
            st.warning(f"**{card.id}** " + "; ".join(flags) + ".", icon=":material/warning:")


def stored_results(cards: list[ModelCard], fingerprint: str) -> dict[str, EvaluationResult]:
    """Results of this session, else cached on disk, of the chosen models on this dataset."""
    results: dict[str, EvaluationResult] = st.session_state.setdefault(RESULTS_KEY, {})
    out = {}
    for card in cards:
        key = _result_key(card.id, fingerprint)
        if key not in results:
            cached = load_evaluation(card, fingerprint)
            if cached is not None:
                results[key] = cached
        if key in results:
            out[card.id] = results[key]
    return out


def run_ui(cards: list[ModelCard], data: str, fingerprint: str, have: set[str]) -> None:
    """The Evaluate button: evaluates the chosen models that have no result yet, then
    reruns the page so that everything below shows the new results. Errors are kept in
    the session and shown beside the button until the next attempt."""
    errors: dict[str, str] = st.session_state.setdefault(ERRORS_KEY, {})
    todo = [c for c in cards if c.id not in have]
    label = f"Evaluate {len(todo)} model{'s' if len(todo) != 1 else ''}" if todo else "Evaluated"
    clicked = st.button(label, key="evaluate_run", type="primary", disabled=not todo)
    if not clicked:
        for card in todo:
            if _result_key(card.id, fingerprint) in errors:
                message = errors[_result_key(card.id, fingerprint)]
                st.error(
                    f"**{card.id}** could not be evaluated: {message}", icon=":material/error:"
                )
        return
    results: dict[str, EvaluationResult] = st.session_state.setdefault(RESULTS_KEY, {})
    bar = st.progress(0.0, text="Loading TensorFlow and the first model…")
    models_dir = common.settings().models_dir
    for i, card in enumerate(todo):

        def progress(done: int, total: int, message: str, i: int = i, name: str = card.id) -> None:
            frac = (i + done / max(total, 1)) / len(todo)
            bar.progress(min(frac, 1.0), text=f"{name}: {message} ({done}/{total})")

        key = _result_key(card.id, fingerprint)
        errors.pop(key, None)
        try:
            results[key] = evaluate_model(
                card.path, data, models_dir, progress=progress, cache=True
            )
        except McalcError as exc:
            errors[key] = str(exc)
    bar.empty()
    st.rerun()


def controls_ui(binary_names: list[str]) -> tuple[str, float, bool, int]:
    """Level, threshold, operating-point rule and bootstrap size."""
    c1, c2, c3 = st.columns([2, 3, 2])
    level = c1.radio(
        "Level",
        list(LEVELS),
        key="evaluate_level",
        format_func=LEVEL_LABELS.get,
        help="Image score: the maximum over the image's sampled patches; case score: the "
        "maximum over its images. An image or case is positive when any of its patches is. "
        "(Not Predict's map score, which slides a window over the whole mammogram.)",
    )
    threshold = c2.slider(
        f"Operating threshold on p({' / '.join(sorted(set(binary_names)))})",
        0.0,
        1.0,
        0.5,
        0.01,
        key="evaluate_threshold",
        help="A patch, image or case is called positive when its score is at least this.",
    )
    youden = c2.toggle("Use each model's Youden threshold instead", key="evaluate_youden")
    n_boot = c3.selectbox(
        "Bootstrap resamples (95% CI)",
        BOOTSTRAP_CHOICES,
        index=BOOTSTRAP_CHOICES.index(DEFAULT_BOOTSTRAP),
        key="evaluate_bootstrap",
        help="Resamples of patients (not patches: patches of one patient are correlated). "
        "0: no interval.",
    )
    return str(level), float(threshold), bool(youden), int(n_boot)


def results_ui(
    results: dict[str, EvaluationResult],
    fingerprint: str,
    level: str,
    threshold: float,
    youden: bool,
    n_boot: int,
) -> None:
    """Curves, the metrics table, confusion matrices and per-class metrics."""
    entries, rows, confusions, notes = [], [], [], []
    for model_id, result in results.items():
        scores = result.scores
        if scores is None:
            continue
        key = f"{_result_key(model_id, fingerprint)}@{result.created}"
        analysis = level_analysis(scores, key, level, n_boot)
        t = analysis.youden.threshold if youden and analysis.youden is not None else threshold
        at = threshold_metrics(scores, level, t)
        point = None
        if at.sensitivity is not None and at.specificity is not None:
            point = OperatingPoint(t, at.sensitivity, at.specificity, 0.0)
        entries.append(CurveEntry(model_id, analysis, t, point))
        rows.append(summary_row(model_id, analysis, at))
        labels = [f"not {scores.positive_label}", scores.positive_label]
        confusions.append((model_id, at.confusion_matrix, labels, t))
        notes += [f"{model_id}: {n}" for n in analysis.notes]
        how = "from the cache" if result.from_cache else "just now"
        seconds = f" in {result.seconds:.1f} s" if result.seconds is not None else ""
        notes.append(
            f"{model_id}: {analysis.n} {level}-level scores from {len(scores)} patches of "
            f"{len(set(scores.case_ids))} cases "
            f"({'held-out test patients' if result.scope == 'test-split' else 'all patients'}), "
            f"scored {how} (computed {result.created}{seconds})."
        )
        notes += [
            f"{model_id}: {key} left out, it cannot be read ({reason})."
            for key, reason in result.skipped_images.items()
        ]
    if not entries:
        return
    c1, c2 = st.columns(2)
    title = LEVEL_LABELS[level].split(" (")[0]
    c1.plotly_chart(
        roc_figure(entries, title=f"ROC · {title} level"), width="stretch", key="evaluate_roc"
    )
    c2.plotly_chart(
        pr_figure(entries, title=f"Precision-recall · {title} level"),
        width="stretch",
        key="evaluate_pr",
    )
    if level != "patch":
        st.caption(
            f"{title} score: the {LEVEL_RULES[level]} (an {level} is positive when any of its "
            "patches is). Not Predict's map score of a whole mammogram."
        )
    st.info(COMPARABILITY_NOTE, icon=":material/menu_book:")

    st.subheader("Metrics at the operating threshold")
    table = pd.DataFrame(rows)
    st.caption("Without a threshold: ranking (AUC with its 95% CI, average precision).")
    fitted_table(table[RANKING_COLUMNS], key="evaluate_ranking")
    st.caption("At the operating threshold (positive when the score is at least it).")
    fitted_table(table[THRESHOLD_COLUMNS], key="evaluate_metrics")
    for note in notes:
        st.caption(note)

    st.subheader("Confusion matrices")
    cols = st.columns(2)  # compact matrices, two to a row
    for i, (model_id, matrix, labels, t) in enumerate(confusions):
        cols[i % len(cols)].plotly_chart(
            confusion_figure(matrix, labels, f"{model_id} · threshold {t:.2f}"),
            width="stretch",
            key=f"evaluate_confusion_{i}",
        )
    per_class_ui(results, level)


def per_class_ui(results: dict[str, EvaluationResult], level: str) -> None:
    """Per-class metrics (one vs rest, argmax) of the models with more than two classes."""
    for i, (model_id, result) in enumerate(results.items()):
        if result.scores is None:
            continue
        m = class_metrics(result.scores, level)
        if m is None:
            continue
        st.subheader(f"{model_id}: per class ({level} level, decided by argmax)")
        rows = [
            {"class": name, "n": m["support"][name]}
            | {k: pc.get(k) for k in ("auc", "sensitivity", "specificity", "accuracy")}
            for name, pc in m["per_class"].items()
        ]
        c1, c2 = st.columns([3, 2])
        c1.dataframe(
            pd.DataFrame(rows), hide_index=True, width="stretch", key=f"evaluate_per_class_{i}"
        )
        c1.caption(
            f"Accuracy {m['accuracy']:.3f}; {m['auc_kind']} AUC "
            + (f"{m['auc']:.3f}" if m.get("auc") is not None else "n/a")
            + ". Image and case probabilities are the mean over their patches."
        )
        c2.plotly_chart(
            confusion_figure(m["confusion_matrix"], m["classes"], f"{model_id} · argmax"),
            width="stretch",
            key=f"evaluate_class_confusion_{i}",
        )


def classification_ui(cards: list[ModelCard], fingerprint: str) -> None:
    """The classification tab: evaluate, then curves and tables of the chosen models."""
    results = stored_results(cards, fingerprint)
    run_ui(cards, common.current_data_path(), fingerprint, set(results))
    results = stored_results(cards, fingerprint)
    if not results:
        st.info("Press **Evaluate** to score the chosen models on this dataset.")
        return
    binary_names = [r.scores.positive_label for r in results.values() if r.scores is not None]
    level, threshold, youden, n_boot = controls_ui(binary_names)
    results_ui(results, fingerprint, level, threshold, youden, n_boot)
    evaluate_paired.paired_ui(results, level, n_boot)
    report_ui(cards, results, fingerprint, threshold, n_boot)


@st.cache_data(show_spinner="Writing the report…", max_entries=16)
def _report_html(
    _result: EvaluationResult,
    _card: ModelCard,
    _detection: dict | None,
    key: str,
    threshold: float,
    n_boot: int,
) -> str:
    """The evaluation report of one model (``key`` names the evaluation and detection)."""
    settings = {"threshold": threshold, "bootstrap": n_boot, "data": _result.data}
    return evaluation_report(
        _result, _card, detection=_detection, settings=settings, threshold=threshold, n_boot=n_boot
    )


def report_ui(
    cards: list[ModelCard],
    results: dict[str, EvaluationResult],
    fingerprint: str,
    threshold: float,
    n_boot: int,
) -> None:
    """A download button per evaluated model: the self-contained HTML report (with its
    detection results when the Detection tab computed them)."""
    st.subheader("Evaluation report")
    st.caption(
        "One HTML file per model, opens offline: card, data fingerprint, every curve and "
        "table, the settings (same as `python -m mcalc evaluate ... --report FILE`)."
    )
    store: dict[str, dict] = st.session_state.get(DETECTION_KEY, {})
    cols = st.columns(min(len(results), 3) or 1)
    for i, card in enumerate(c for c in cards if c.id in results):
        result = results[card.id]
        prefix = f"{_result_key(card.id, fingerprint)}|"
        found = [k for k in store if k.startswith(prefix)]
        detection = store[found[-1]] if found else None
        key = f"{prefix}{result.created}|{found[-1] if found else ''}"
        cols[i % len(cols)].download_button(
            f"Report · {card.id}",
            _report_html(result, card, detection, key, threshold, n_boot),
            file_name=f"evaluation-{card.id}.html",
            mime="text/html",
            key=f"evaluate_report_{i}",
            icon=":material/download:",
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
        help="A detection hits an annotated calcification within this distance (one-to-one).",
    )
    min_distance = c2.number_input(
        "Min. distance between detections (mm)",
        0.1,
        20.0,
        DEFAULT_MIN_DISTANCE_MM,
        0.1,
        key="evaluate_det_min_distance",
    )
    n_boot = c3.selectbox(
        "Bootstrap resamples (bands)",
        BOOTSTRAP_CHOICES,
        index=BOOTSTRAP_CHOICES.index(200),
        key="evaluate_det_bootstrap",
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
    store: dict[str, dict] = st.session_state.setdefault(DETECTION_KEY, {})
    skey = json.dumps(settings.as_dict(), sort_keys=True)
    keys = {c.id: f"{_result_key(c.id, fingerprint)}|{skey}" for c in cards}
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
                store[keys[card.id]] = ev.as_dict()
            except (McalcError, ValueError) as exc:
                failed = True
                st.error(f"**{card.id}**: no detection evaluation: {exc}", icon=":material/error:")
        bar.empty()
        if not failed:
            st.rerun()
    done = {c.id: store[keys[c.id]] for c in cards if keys[c.id] in store}
    if not done:
        st.info("Press **Detect** to run the chosen models over the whole images.")
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(froc_figure(done), width="stretch", key="evaluate_froc")
    c2.plotly_chart(
        froc_figure(
            done,
            kind="cluster_froc",
            title="FROC · clusters (3+ within 1 cm²)",
            x_title="mean false-positive clusters per image",
        ),
        width="stretch",
        key="evaluate_cluster_froc",
    )
    st.subheader("Detection summary")
    st.caption("Sensitivity at 0.5, 1, 2 and 4 false positives per image; individual findings.")
    fitted_table(pd.DataFrame(summary_rows(done)), key="evaluate_det_summary")
    st.caption("The same for clusters (false-positive clusters per image).")
    fitted_table(pd.DataFrame(summary_rows(done, "cluster_froc")), key="evaluate_det_clusters")
    for name, ev in done.items():
        for message in ev["skipped"]:
            st.caption(f"{name}: skipped {message}")


index = common.require_index()
st.title("Evaluate")
common.synthetic_banner(index)
st.caption(
    "Compare registered models on the current dataset: ROC and precision-recall curves, AUC "
    "with a 95% confidence interval (bootstrap over patients), sensitivity and specificity "
    "at a threshold, confusion matrices. Evaluations are cached per model and dataset."
)

listing = list_models(common.settings().models_dir)
registry_ui(listing)
if not listing.models:
    st.info(
        "No usable model in the registry. Train one on the Train page or with "
        "`python -m mcalc train`."
    )
    st.stop()

st.subheader("Compare on this dataset")
cards = choose_ui(listing.models)
if not cards:
    st.info("Pick one or more models to compare.")
    st.stop()
fingerprint = dataset_fingerprint(index)
scope_ui(cards, index, fingerprint)
classification_tab, detection_tab = st.tabs(["Classification", "Detection"])
with classification_tab:
    classification_ui(cards, fingerprint)
with detection_tab:
    detection_ui(cards, fingerprint)
