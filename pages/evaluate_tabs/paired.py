"""Evaluate's paired comparison of the chosen models on the same images or cases: the
difference in AUC (paired patient bootstrap, DeLong's test), in accuracy at one threshold on
both models' scores (McNemar's exact test), and on the papers' task the published pairs
beside ours (:func:`mcalc.models.analysis.paired_comparison`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc.explain.metrics_threshold import paired_threshold_source
from mcalc.explain.scoring import DecisionThreshold, threshold_label
from mcalc.models.analysis import CASE_SETS, paired_comparison
from mcalc.models.evaluate import EvaluationResult
from mcalc.models.published import PAIR_NOTE, pair_rows
from mcalc.models.scores import EvalScores
from mcalc.models.tasks import PAPERS_TASK, PAPERS_TASK_TEXT, has_papers_task
from mcalc.plural import counted
from pages import common
from pages.evaluate_tabs.shared import fitted_table, result_key

__all__ = ["paired_ui", "paired_threshold"]


def paired_threshold(
    cards: dict[str, DecisionThreshold], level: str, threshold: float, youden: bool
) -> tuple[float, str]:
    """The threshold both models' accuracies are read at, and why: the slider's, on the
    scores' own units (:func:`paired_threshold_source`), even when the metrics above are at
    each model's Youden threshold: that one is chosen on these very items, which favours
    each model on them and biases McNemar's test of their difference."""
    given = "the slider's" + (
        f" (not each model's Youden threshold, the metrics' above: chosen on these very "
        f"{level}s, it would bias McNemar's test)"
        if youden
        else ""
    )
    return threshold, paired_threshold_source(cards, level, given)


@st.cache_data(show_spinner="Comparing the models on the same cases…", max_entries=32)
def _paired(
    _a: EvalScores,
    _b: EvalScores,
    key: str,
    level: str,
    n_boot: int,
    cases: str = "all",
    threshold: tuple[float, str] | None = None,
) -> dict:
    """:func:`paired_comparison` of two evaluations (``key`` names them)."""
    return paired_comparison(_a, _b, level, n_boot=max(n_boot, 1), cases=cases, threshold=threshold)


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
    cards: dict[str, DecisionThreshold],
    threshold: float,
    youden: bool,
) -> None:
    """The first chosen model against each other one on the same images or cases: the
    difference in AUC by a paired patient bootstrap and by DeLong's test, and in accuracy
    at the slider's ``threshold`` on both models' scores (:func:`paired_threshold`; each
    card's decision threshold, ``cards``, is named in other units) by McNemar's exact test;
    on the papers' task, the published pairs (without vs with the prior) beside ours
    (``temporal``: which models read the subtraction of the registered prior)."""
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
        if ra.scores is None or rb.scores is None:  # not in ``scored``: said for mypy
            continue
        key = f"{result_key(first, fingerprint)}@{ra.created}|{other}@{rb.created}"
        try:
            pair = {m: cards[m] for m in (first, other) if m in cards}
            at = paired_threshold(pair, level, threshold, youden)
            c = _paired(ra.scores, rb.scores, key, level, n_boot, cases, at)
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
                "threshold": acc["threshold"],
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
        every = {m: cards[m] for m in scored if m in cards}
        why = paired_threshold(every, level, threshold, youden)[1]
        st.caption(
            f"Accuracy at {threshold_label(threshold)}: {why}. McNemar's exact test on the "
            f"{level}s only one model got right (items independent)."
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
