"""Evaluate's paired comparison of two models on the same patients (issue 11).

UI only: the two chosen evaluations -> :func:`mcalc.models.analysis.paired_comparison` (the
call ``python -m mcalc compare`` makes) -> the difference in AUC with its interval. Meant for
a temporal model against a recent-only one trained on the same split, the published
comparison (Loizidou et al. 2021); any two models of one task can be compared.
"""

from __future__ import annotations

import streamlit as st

from mcalc.models.analysis import paired_comparison
from mcalc.models.evaluate import EvaluationResult
from mcalc.models.published import PUBLISHED


@st.cache_data(show_spinner="Comparing the two models by patient…", max_entries=16)
def _paired(_a: EvaluationResult, _b: EvaluationResult, key: str, level: str, n_boot: int) -> dict:
    return paired_comparison(_a.scores, _b.scores, level, n_boot=n_boot)  # type: ignore[arg-type]


def paired_ui(results: dict[str, EvaluationResult], level: str, n_boot: int) -> None:
    """With exactly two evaluated models: their AUC difference, paired by patient."""
    if len(results) != 2:
        return
    st.subheader("Paired comparison (same patients)")
    (id_a, a), (id_b, b) = results.items()
    if a.scores is None or b.scores is None:
        st.info("An evaluation without patch scores: evaluate both models again.")
        return
    paired_level = level if level in ("image", "case") else "case"
    try:
        out = _paired(
            a, b, f"{id_a}|{a.created}|{id_b}|{b.created}", paired_level, max(n_boot, 200)
        )
    except ValueError as exc:
        st.info(f"No paired comparison: {exc}")
        return
    c = st.columns(3)
    c[0].metric(f"AUC · {id_a}", "—" if out["auc_a"] is None else f"{out['auc_a']:.3f}")
    c[1].metric(f"AUC · {id_b}", "—" if out["auc_b"] is None else f"{out['auc_b']:.3f}")
    ci = out["ci"]
    diff = "—" if out["difference"] is None else f"{out['difference']:+.3f}"
    c[2].metric(
        "Difference",
        diff,
        help="95% interval from a paired bootstrap over patients",
    )
    st.caption(
        f"{out['n']} {paired_level}s ({out['positives']} positive) of {out['patients']} "
        f"patients, {out['images']} images both models scored"
        + (
            " (a temporal model scores recent images only: the other is restricted to them)"
            if out["restricted_to_common_images"]
            else ""
        )
        + (
            f"; 95% CI {ci[0]:+.3f} to {ci[1]:+.3f}, p {out['p_value']:.3f}"
            if ci
            else "; no interval (too few items)"
        )
        + f". {out['method']}. Published (Loizidou 2021, real data, per case): "
        + "; ".join(f"{p.label}: accuracy {p.accuracy:.1%}, AUC {p.auc:.2f}" for p in PUBLISHED)
        + "."
    )
