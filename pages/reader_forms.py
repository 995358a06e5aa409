"""What a reader answers and takes away on the pages that show a model's result (Audit,
Predict): the two audit questions, worded alike on both, the model card a verdict
recorded, and the case's PDF report."""

from __future__ import annotations

import streamlit as st

from mcalc.errors import McalcError
from mcalc.models.card import ModelCard
from mcalc.models.card_text import card_facts, card_from_summary
from pages import common, signin


def verdict_inputs(
    prefix: str,
    score_slot=None,
    explanation_slot=None,
    explanation_shown: bool = True,
    persist: bool = False,
) -> tuple[str | None, bool | None]:
    """The two audit questions, worded the same on every page, none answered beforehand (a
    default "agree" recorded agreement for a reader who never answered: automation bias).

    Returns the score verdict (``agree``/``disagree``; ``None``: not answered, the caller
    refuses to save) and whether the explanation is plausible (``None``: not judged or left
    unanswered). ``*_slot``: the containers to draw in (default: here). ``explanation_shown``:
    if not, the question starts at "not judged". ``persist``: the answers are kept while
    the reader is on another page (Audit's form)."""
    from mcalc.store.audit import SCORE_VERDICTS

    words = {"agree": "right (agree)", "disagree": "wrong (disagree)"}
    verdict = (score_slot or st).radio(
        "The score is",
        list(SCORE_VERDICTS),
        index=None,
        horizontal=True,
        key=f"{prefix}_verdict",
        format_func=lambda v: words.get(v, v),
        persist_state="session" if persist else None,
    )
    plausible = (explanation_slot or st).radio(
        "The explanation is",
        ["plausible", "implausible", "not judged"],
        index=None if explanation_shown else 2,
        horizontal=True,
        key=f"{prefix}_plausible",
        persist_state="session" if persist else None,
    )
    return verdict, {"plausible": True, "implausible": False}.get(str(plausible))


#: What a Save without an answer to "The score is" says (nothing is saved).
NO_VERDICT = (
    "Say whether the score is right or wrong before saving (the form has no default "
    "answer): nothing was saved."
)


def card_markdown(card: ModelCard) -> str:
    """A model card in words (:func:`mcalc.models.card_text.card_facts`) as a Markdown
    list, one fact a line; empty when the card says nothing."""
    return "\n".join(f"- **{label}:** {value}" for label, value in card_facts(card))


def recorded_card_ui(summary: str) -> None:
    """The model card a saved verdict recorded (its one-line summary) in words, if any."""
    words = card_markdown(card_from_summary(summary)) if summary else ""
    if words:
        st.markdown(f"Model card recorded with it:\n{words}")


def case_report_ui(case_id: str, model_id: str | None, prefix: str) -> None:
    """A button that makes the case's PDF report (:mod:`mcalc.report`), then its download."""
    from mcalc.report import case_report

    key = f"{prefix}_report_{case_id}_{model_id}"
    if st.button("Make the case report (PDF)", key=f"{prefix}_report_make"):
        user = signin.current_user()
        with st.spinner("Writing the case report…"):
            try:
                st.session_state[key] = case_report(
                    common.current_data_path(),
                    case_id,
                    model=model_id,
                    user=user["name"] if user else "",
                    settings=common.settings(),
                )
            except McalcError as exc:
                st.error(f"No report: {exc}")
    if st.session_state.get(key):
        st.download_button(
            f"Download the report of {case_id} (PDF)",
            st.session_state[key],
            file_name=f"{case_id}_report.pdf",
            mime="application/pdf",
            key=f"{prefix}_report_download",
            on_click="ignore",
        )
