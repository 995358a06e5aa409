"""Evaluate's classification tab: ROC and precision-recall curves of the chosen models, AUC
with patient-bootstrap intervals, metrics at a threshold, confusion matrices, per-class
metrics, and the evaluation report (HTML or PDF) of each model."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from mcalc.errors import McalcError
from mcalc.explain.metrics_threshold import METRICS_THRESHOLD, evaluation_threshold_note
from mcalc.explain.scoring import DecisionThreshold, decision_threshold, threshold_label
from mcalc.models.analysis import (
    LevelAnalysis,
    analyse,
    class_metrics,
    summary_row,
    threshold_metrics,
)
from mcalc.models.card import ModelCard
from mcalc.models.curves import DEFAULT_BOOTSTRAP, OperatingPoint
from mcalc.models.evaluate import (
    EvaluationResult,
    data_files,
    evaluate_model,
    evaluation_scope,
    load_evaluation,
)
from mcalc.models.published import COMPARABILITY_NOTE
from mcalc.models.scores import LEVEL_RULES, LEVELS, EvalScores, positive_rule
from mcalc.present.eval_figures import CurveEntry, confusion_figure, pr_figure, roc_figure
from mcalc.present.report import ReportInput, evaluation_report
from mcalc.present.report_pdf import evaluation_report_pdf
from pages import common, theme
from pages.evaluate_tabs.paired import paired_ui
from pages.evaluate_tabs.shared import (
    BOOTSTRAP_CHOICES,
    ERRORS_KEY,
    RESULTS_KEY,
    fitted_table,
    latest_birads,
    latest_detection,
    result_key,
)

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
LEVEL_LABELS = {
    "patch": "Patch",
    "image": f"Image ({LEVEL_RULES['image']})",
    "case": f"Case ({LEVEL_RULES['case']})",
}


@st.cache_data(show_spinner="Bootstrapping confidence intervals…", max_entries=64)
def _when(created: str) -> str:
    """``created`` (ISO 8601) as the page says a time: ``2026-12-07 11:32 UTC``; the ISO
    form (``2026-12-07T11:32:22+00:00``) broke inside the date on a 1280 px page."""
    try:
        return datetime.fromisoformat(created).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return created


def level_analysis(_scores: EvalScores, key: str, level: str, n_boot: int) -> LevelAnalysis:
    """Curves, AUC and CI of one evaluation at one level (``key`` names the evaluation)."""
    return analyse(_scores, level, n_boot=n_boot, seed=0)


def stored_results(cards: list[ModelCard], fingerprint: str) -> dict[str, EvaluationResult]:
    """Results of this session, else cached on disk, of the chosen models on this dataset."""
    results: dict[str, EvaluationResult] = st.session_state.setdefault(RESULTS_KEY, {})
    index = common.current_index()
    out = {}
    for card in cards:
        key = result_key(card.id, fingerprint)
        if key not in results and index is not None:
            cases = evaluation_scope(card, index, fingerprint)[1]
            cached = load_evaluation(card, fingerprint, data_files(index, cases))
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
            if result_key(card.id, fingerprint) in errors:
                message = errors[result_key(card.id, fingerprint)]
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

        key = result_key(card.id, fingerprint)
        errors.pop(key, None)
        try:
            results[key] = evaluate_model(
                card.path, data, models_dir, progress=progress, cache=True
            )
        except McalcError as exc:
            errors[key] = str(exc)
    bar.empty()
    st.rerun()


#: Where the threshold slider starts: the command line's default too (``evaluate``), so
#: that both read one evaluation at one threshold (:mod:`mcalc.explain.metrics_threshold`).
SLIDER_START = METRICS_THRESHOLD


def controls_ui(binary_names: list[str]) -> tuple[str, float, bool, int]:
    """Level, threshold, operating-point rule and bootstrap size."""
    c1, c2, c3 = st.columns([2, 3, 2])
    level = c1.radio(
        "Level",
        list(LEVELS),
        key="evaluate_level",
        persist_state="session",
        format_func=LEVEL_LABELS.get,
        help="Image score: the maximum over the image's sampled patches; case score: the "
        "maximum over its images. An image or case is positive when any of its patches is. "
        "(Not Predict's map score, which slides a window over the whole mammogram.)",
    )
    threshold = c2.slider(
        f"Threshold on p({' / '.join(sorted(set(binary_names)))})",
        0.0,
        1.0,
        SLIDER_START,
        0.01,
        key="evaluate_threshold",
        persist_state="session",
        help="A patch, image or case is called positive when its score is at least this. "
        "Not a model's operating threshold (its card's, a map-score threshold at which "
        "Predict decides: Operating points), which is in other units.",
    )
    # A label that fits its column at 1024 px ("Use each model's Youden threshold instead"
    # read "Use each model's Youden thre…"); the help says the rest.
    youden = c2.toggle(
        "Youden threshold per model",
        key="evaluate_youden",
        persist_state="session",
        help="Instead of the slider's threshold, each model at its own Youden threshold: "
        "the one that maximises sensitivity + specificity − 1 (the tables list it).",
    )
    n_boot = c3.selectbox(
        "Bootstrap resamples (95% CI)",
        BOOTSTRAP_CHOICES,
        index=BOOTSTRAP_CHOICES.index(DEFAULT_BOOTSTRAP),
        key="evaluate_bootstrap",
        persist_state="session",
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
    temporal: dict[str, bool],
    thresholds: dict[str, tuple[float, str]],
) -> None:
    """Curves, the metrics table, confusion matrices, per-class metrics and the paired
    comparison (``temporal``: which models read the subtraction of the registered prior;
    ``thresholds``: each model's decision threshold from its card, and its source)."""
    entries, rows, confusions, notes = [], [], [], []
    for model_id, result in results.items():
        scores = result.scores
        if scores is None:
            continue
        key = f"{result_key(model_id, fingerprint)}@{result.created}"
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
            f"scored {how} (computed {_when(result.created)}{seconds})."
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
        theme.styled(roc_figure(entries, title=f"ROC · {title} level")),
        width="stretch",
        key="evaluate_roc",
    )
    c2.plotly_chart(
        theme.styled(pr_figure(entries, title=f"Precision-recall · {title} level")),
        width="stretch",
        key="evaluate_pr",
    )
    if level != "patch":
        st.caption(
            f"{title} score: the {LEVEL_RULES[level]} ({positive_rule(level)}). Not "
            "Predict's map score of a whole mammogram."
        )
    st.info(COMPARABILITY_NOTE, icon=":material/menu_book:")

    # The threshold in force, not "the operating threshold": the slider's is on patch
    # probabilities, each card's on map scores (the caption below says both).
    in_force = "each model's Youden threshold" if youden else threshold_label(threshold)
    st.subheader(f"Metrics at {in_force}")
    table = pd.DataFrame(rows)
    st.caption("Without a threshold: ranking (AUC with its 95% CI, average precision).")
    # The level and class (the same in every row, said above) one click away: with a new
    # model's id beside the demo's the table scrolled sideways on a projector (h/projector).
    fitted_table(
        table[RANKING_COLUMNS],
        key="evaluate_ranking",
        in_view=[c for c in RANKING_COLUMNS if c not in ("level", "positive class")],
    )
    cards = {k: DecisionThreshold(*thresholds[k]) for k in results if k in thresholds}
    st.caption(evaluation_threshold_note(in_force, level, cards))
    fitted_table(table[THRESHOLD_COLUMNS], key="evaluate_metrics")
    for note in notes:
        st.caption(note)

    st.subheader("Confusion matrices")
    cols = st.columns(2)  # compact matrices, two to a row
    for i, (model_id, matrix, labels, t) in enumerate(confusions):
        cols[i % len(cols)].plotly_chart(
            theme.styled(confusion_figure(matrix, labels, f"{model_id} · threshold {t:.2f}")),
            width="stretch",
            key=f"evaluate_confusion_{i}",
        )
    per_class_ui(results, level)
    paired_ui(results, fingerprint, level, n_boot, temporal, cards, threshold, youden)


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
            theme.styled(
                confusion_figure(m["confusion_matrix"], m["classes"], f"{model_id} · argmax")
            ),
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
    temporal = {c.id: c.patch.temporal for c in cards}
    thresholds = {c.id: (t.value, t.source) for c in cards for t in [decision_threshold(c)]}
    results_ui(results, fingerprint, level, threshold, youden, n_boot, temporal, thresholds)
    report_ui(cards, results, fingerprint, threshold, n_boot)


@st.cache_data(show_spinner="Writing the report…", max_entries=16)
def _report(_report_input: ReportInput, key: str, kind: str, synthetic: bool) -> bytes:
    """The evaluation report of one model as HTML or PDF bytes (``key`` names the
    evaluation, its detection and BI-RADS results and the settings)."""
    if kind == "pdf":
        return evaluation_report_pdf(_report_input)
    return evaluation_report(_report_input).encode("utf-8")


def report_ui(
    cards: list[ModelCard],
    results: dict[str, EvaluationResult],
    fingerprint: str,
    threshold: float,
    n_boot: int,
) -> None:
    """Download buttons per evaluated model: the report as one HTML file and as a PDF (with
    the detection and BI-RADS results when those tabs computed them)."""
    st.subheader("Evaluation report")
    st.caption(
        "Per model, one HTML file that opens offline, or a PDF: card, data fingerprint, "
        "every curve and table, the published results beside ours, the settings (as "
        "`python -m mcalc evaluate ... --report FILE.html|FILE.pdf`)."
    )
    index = common.current_index()
    synthetic = index.synthetic if index else False
    # One row of buttons as wide as their words, wrapping: in a third of a 1024 px page
    # "HTML report · birads-recent" read "HTML report · birad…".
    row = st.container(horizontal=True)
    for i, card in enumerate(c for c in cards if c.id in results):
        result = results[card.id]
        detection = latest_detection(card.id, fingerprint)
        birads = latest_birads(card.id, fingerprint)
        settings = {"threshold": threshold, "bootstrap": n_boot, "data": result.data}
        report = ReportInput(
            result,
            card,
            detection=None if detection is None else detection.as_dict(),
            birads=birads,
            settings=settings,
            threshold=threshold,
            n_boot=n_boot,
            synthetic_data=synthetic,
            data_source=index.source if index else None,
        )
        key = (
            f"{result_key(card.id, fingerprint)}|{result.created}|{id(detection)}|"
            f"{id(birads)}|{threshold}|{n_boot}"
        )
        for kind, mime in (("html", "text/html"), ("pdf", "application/pdf")):
            row.download_button(
                f"{kind.upper()} report · {card.id}",
                _report(report, key, kind, synthetic),
                file_name=f"evaluation-{card.id}.{kind}",
                mime=mime,
                key=f"evaluate_report_{kind}_{i}",
                icon=":material/download:",
            )
