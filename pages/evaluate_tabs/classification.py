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
    CASE_SETS,
    LevelAnalysis,
    analyse,
    class_metrics,
    paired_comparison,
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
from mcalc.models.published import COMPARABILITY_NOTE, PAIR_NOTE, pair_rows
from mcalc.models.scores import LEVEL_RULES, LEVELS, EvalScores, positive_rule
from mcalc.models.tasks import PAPERS_TASK, PAPERS_TASK_TEXT, has_papers_task
from mcalc.plural import counted
from mcalc.present.eval_figures import CurveEntry, confusion_figure, pr_figure, roc_figure
from mcalc.present.report import ReportInput, evaluation_report
from mcalc.present.report_pdf import evaluation_report_pdf
from pages import common, theme
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
    at = "each model's Youden threshold" if youden else threshold_label(threshold)
    st.subheader(f"Metrics at {at}")
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
    st.caption(evaluation_threshold_note(at, level, cards))
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
    paired_ui(results, fingerprint, level, n_boot, temporal, thresholds)


@st.cache_data(show_spinner="Comparing the models on the same cases…", max_entries=32)
def _paired(
    _a: EvalScores,
    _b: EvalScores,
    key: str,
    level: str,
    n_boot: int,
    cases: str = "all",
    thresholds: tuple[tuple[float, str], tuple[float, str]] | None = None,
) -> dict:
    """:func:`paired_comparison` of two evaluations (``key`` names them)."""
    return paired_comparison(
        _a, _b, level, n_boot=max(n_boot, 1), cases=cases, thresholds=thresholds
    )


#: The choice of cases compared (:data:`mcalc.models.analysis.CASE_SETS`).
CASE_LABELS = {
    "all": "Every case (suspicious vs the rest)",
    PAPERS_TASK: PAPERS_TASK_TEXT[0].upper() + PAPERS_TASK_TEXT[1:] + " (the papers' task)",
}


def _offers_papers_task(scored: dict[str, EvaluationResult], level: str) -> bool:
    """The papers' task is offered at the case level when every model answers it
    (``birads`` models)."""
    return level == "case" and all(
        r.scores is not None and has_papers_task(r.scores.classes) for r in scored.values()
    )


def cases_ui(scored: dict[str, EvaluationResult], level: str) -> str:
    """Which cases the paired comparison is made on (:func:`_offers_papers_task`)."""
    if not _offers_papers_task(scored, level):
        return "all"
    return str(
        st.radio(
            "Cases compared",
            list(CASE_SETS),
            format_func=CASE_LABELS.__getitem__,
            horizontal=True,
            key="evaluate_paired_cases",
            persist_state="session",
            help="The published work classifies benign vs suspicious per case, the normal "
            "(BI-RADS 1) cases left out; its results are set beside that comparison.",
        )
    )


def paired_ui(
    results: dict[str, EvaluationResult],
    fingerprint: str,
    level: str,
    n_boot: int,
    temporal: dict[str, bool],
    thresholds: dict[str, tuple[float, str]],
) -> None:
    """The first chosen model against each other one on the same images or cases: the
    difference in AUC by a paired patient bootstrap and by DeLong's test, and in accuracy
    at each model's card threshold (``thresholds``) by McNemar's exact test; on the papers'
    task, the published pairs (without vs with the prior) beside ours (``temporal``: which
    models read the subtraction of the registered prior)."""
    scored = {m: r for m, r in results.items() if r.scores is not None}
    if len(scored) < 2:
        return
    st.subheader("Paired comparison on the same cases")
    if level == "patch":
        st.caption("Choose the image or case level: patches are sampled per model.")
        return
    cases = cases_ui(scored, level)
    (first, ra), *others = scored.items()
    rows, accuracy, published = [], [], []
    for other, rb in others:
        key = f"{result_key(first, fingerprint)}@{ra.created}|{other}@{rb.created}"
        try:
            pair = (thresholds[first], thresholds[other])
            c = _paired(ra.scores, rb.scores, key, level, n_boot, cases, pair)
        except ValueError as exc:
            st.caption(f"{first} vs {other}: {exc}")
            continue
        if cases == PAPERS_TASK:
            # Several pairs: each of our rows says which (they read alike up to the
            # "without / with" column, off the page's edge at 1280 px).
            label = "ours" if len(others) == 1 else f"ours: {first} vs {other}"
            published.append(
                _pair_rows(c | {"model_a": first, "model_b": other}, (ra, rb), temporal, label)
            )
        d, acc = c["delong"], c["accuracy"]
        rows.append(
            {
                "model A": first,
                "model B": other,
                "n": c["n"],
                "AUC A": c["auc_a"],
                "AUC B": c["auc_b"],
                "A − B": c["difference"],
                "bootstrap 95% CI": "n/a"
                if c["ci"] is None
                else f"{c['ci'][0]:.3f} to {c['ci'][1]:.3f}",
                "bootstrap p": c["p_value"],
                "DeLong 95% CI": f"{d['low']:.3f} to {d['high']:.3f}" if "low" in d else "n/a",
                "DeLong p": d.get("p_value"),
            }
        )
        accuracy.append(
            {
                "model A": first,
                "model B": other,
                "n": acc["n"],
                "threshold A": acc["threshold_a"],
                "threshold B": acc["threshold_b"],
                "accuracy A": acc["accuracy_a"],
                "accuracy B": acc["accuracy_b"],
                "accuracy A − B": acc["difference"],
                "only A right": acc["a_only"],
                "only B right": acc["b_only"],
                "McNemar p": acc["p_value"],
            }
        )
        notes = [*c["notes"], *([d["note"]] if "note" in d else []), *acc["notes"]]
        if c.get("restricted_to_common_images"):
            notes.append(
                f"compared on the {c['images']} images both scored (a temporal model scores "
                "recent images only: the other model's cases are built from them too)"
            )
        if c["left_out"]:
            notes.append(f"{counted(c['left_out'], 'normal case')} left out ({PAPERS_TASK_TEXT})")
        for note in notes:
            st.caption(f"{first} vs {other}: {note}")
    if rows:
        fitted_table(pd.DataFrame(rows), key="evaluate_paired")
        st.caption(
            f"The {level}s both models scored; bootstrap: {max(n_boot, 1)} resamples of "
            "patients, both AUCs recomputed on each; DeLong et al. 1988 (items independent)."
        )
        fitted_table(pd.DataFrame(accuracy), key="evaluate_paired_accuracy")
        st.caption(
            "Accuracy at each model's decision threshold from its card, not the threshold "
            "above, never tuned on these items: "
            + " and ".join(
                f"{m} {threshold_label(thresholds[m][0])} ({thresholds[m][1]})" for m in scored
            )
            + "; McNemar's exact test on the items only one model got right (items "
            "independent)."
        )
    if published:
        st.subheader("Published results beside ours")
        # The published rows once, then our row of each pair.
        table = [*published[0][:-1], *(p[-1] for p in published)]
        fitted_table(pd.DataFrame(table), key="evaluate_paired_published")
        st.info(PAIR_NOTE, icon=":material/menu_book:")
    elif rows and cases == "all" and _offers_papers_task(scored, level):
        st.caption(
            "The published results (benign vs suspicious, without and with the prior) are "
            "set beside the papers' task: choose it under *Cases compared* above."
        )


def _pair_rows(
    comparison: dict,
    results: tuple[EvaluationResult, EvaluationResult],
    temporal: dict[str, bool],
    label: str,
) -> list[dict[str, object]]:
    """:func:`pair_rows` of one comparison, our data being the dataset open, our row
    named ``label``."""
    index = common.current_index()
    scopes = {r.scope for r in results}
    return pair_rows(
        comparison,
        (temporal.get(comparison["model_a"], False), temporal.get(comparison["model_b"], False)),
        synthetic=None if index is None else index.synthetic,
        source="" if index is None else index.source,
        protocol="held-out test patients" if scopes == {"test-split"} else "all patients",
        label=label,
    )


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
