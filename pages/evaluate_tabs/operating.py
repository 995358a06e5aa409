"""Evaluate's operating points: each chosen model's decision threshold and its source, and
one action that chooses it on the model's validation patients
(:func:`mcalc.explain.operating.choose_operating_point`) and records it on its card
(:func:`mcalc.models.operating_point.set_threshold`). All work is done by :mod:`mcalc`.
"""

from __future__ import annotations

import streamlit as st

from mcalc.dataset.records import DatasetIndex
from mcalc.errors import McalcError
from mcalc.explain.scoring import MAP_SCORE, decision_threshold
from mcalc.models.card import ModelCard
from mcalc.models.operating_point import ThresholdRule
from pages import common, signin

__all__ = ["operating_point_ui"]

#: What the last choice left to say, by model id: ``(kind, text)``, shown once.
NOTICE_KEY = "evaluate_operating_notice"
_RULES = {"youden": "Youden's J (sensitivity + specificity − 1)", "sensitivity": "a sensitivity"}


def _choose(card: ModelCard, rule: ThresholdRule, index: DatasetIndex) -> None:
    """Choose and record ``card``'s threshold; what happened goes to :data:`NOTICE_KEY`."""
    from mcalc.explain.operating import choose_operating_point
    from mcalc.explain.runs import results_cache
    from mcalc.models.inference import load_model
    from mcalc.models.operating_point import set_threshold

    user = signin.current_user()
    try:
        with st.spinner(f"Scoring the validation images of {card.id}…"):
            loaded = load_model(card.path, common.settings().models_dir)
            choice, skipped = choose_operating_point(
                loaded,
                index,
                rule,
                by=user["name"] if user else "",
                results=results_cache(common.settings().cache_dir / "predict"),
            )
        change = set_threshold(
            card.path, choice, role=signin.current_role(), user=signin.acting_name()
        )
    except McalcError as exc:
        st.session_state[NOTICE_KEY] = (card.id, "error", f"Not set: {exc}")
        return
    old = (change.old or {}).get("value", decision_threshold(card).value)
    left = f" Left out: {', '.join(skipped)}." if skipped else ""
    st.session_state[NOTICE_KEY] = (
        card.id,
        "success",
        f"`{card.id}` now decides at {choice.value:.4g} (was {old:.4g}): sensitivity "
        f"{choice.sensitivity:.3f}, specificity {choice.specificity:.3f} on its validation "
        f"images. The card it replaced is kept as `{change.kept.name}`.{left}",
    )
    # Predict and Audit list the registry for 30 s: they decide at the new threshold now.
    from pages.audit_form import model_cards
    from pages.predict_run import registry

    registry.clear()
    model_cards.clear()


def _rule_ui(card: ModelCard) -> ThresholdRule:
    c1, c2 = st.columns([2, 1])
    kind = c1.radio(
        "Rule",
        list(_RULES),
        format_func=_RULES.__getitem__,
        horizontal=True,
        key=f"evaluate_operating_rule_{card.id}",
    )
    if kind == "youden":
        return ThresholdRule("youden")
    target = c2.number_input(
        "Least sensitivity",
        min_value=0.05,
        max_value=1.0,
        value=0.9,
        step=0.05,
        key=f"evaluate_operating_target_{card.id}",
        help="The highest threshold whose sensitivity on the validation images reaches it.",
    )
    return ThresholdRule("sensitivity", float(target))


def operating_point_ui(cards: list[ModelCard], index: DatasetIndex, fingerprint: str) -> None:
    """Each model's decision threshold with its source; a researcher may choose it on the
    model's validation patients of the dataset open (its training data) with one click."""
    st.subheader("Operating points")
    st.caption(
        f"The {MAP_SCORE} at and above which Predict, Batch, Audit and the reports read an "
        "image as the positive class. Chosen on a model's **validation** patients, never its "
        "test patients (whose figures this page shows): a threshold chosen on the test "
        "patients would make them optimistic."
    )
    notice = st.session_state.pop(NOTICE_KEY, None)
    for card in cards:
        t = decision_threshold(card)
        st.markdown(f"**{card.id}** decides at **{t.value:.4g}** ({t.source}).")
        if notice is not None and notice[0] == card.id:
            (st.success if notice[1] == "success" else st.error)(notice[2])
        if not signin.may("set_threshold"):
            st.caption("A researcher or an admin may choose it here.")
            continue
        if not card.split.val:
            st.caption(
                "Its card names no validation patients: set a threshold by hand with "
                f"`python -m mcalc models threshold {card.id} --value V --source TEXT`."
            )
            continue
        if card.data.fingerprint != fingerprint:
            st.warning(
                f"The dataset open is not the one {card.id} was trained on "
                f"(`{card.data.path or 'not recorded'}`): its validation patients are not "
                "here. Open that dataset to choose its threshold, or set one by hand with "
                f"`python -m mcalc models threshold {card.id} --value V --source TEXT`.",
                icon=":material/block:",
            )
            continue
        with st.expander(f"Choose {card.id}'s threshold on its validation patients"):
            rule = _rule_ui(card)
            val = card.split.val
            st.caption(
                f"On the images of its {len(val)} validation patients "
                f"({', '.join(val[:6])}{'…' if len(val) > 6 else ''}), not the "
                f"{len(card.split.test)} test patients evaluated below. The card it replaces "
                "is kept beside it."
            )
            if st.button(
                "Choose and record", key=f"evaluate_operating_set_{card.id}", type="primary"
            ):
                _choose(card, rule, index)
                st.rerun()
