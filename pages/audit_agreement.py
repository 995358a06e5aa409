"""Audit: agreement between readers on one model's verdicts, and first reads apart from
revisions (:mod:`mcalc.store.verdict_agreement`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from mcalc.access.reads import ReadPolicy, independence_note
from mcalc.store import StoreError
from mcalc.store.audit import AuditStore, AuditVerdict
from mcalc.store.region_calls import RegionCall
from mcalc.store.verdict_agreement import (
    QUESTIONS,
    agreement_rows,
    first_reads,
    revisions,
    verdict_agreement,
    verdict_histories,
)
from pages import common

OPEN_KEY = "audit_agreement_open"


Answers = tuple[tuple[str, str, str, bool | None, tuple[RegionCall, ...]], ...]


@st.cache_data(show_spinner=False, max_entries=16)
def _cached(answers: Answers, question: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The agreement of these answers (each an image, reader, score verdict, explanation
    and region calls), made once: the bootstrap over 2,000 images and 8 readers took ~2 s."""
    ag = verdict_agreement(
        [
            AuditVerdict("m", i, r, s, explanation_plausible=e, regions=c)
            for i, r, s, e, c in answers
        ],
        question,
    )
    return agreement_rows(ag), ag.caveats


def _table(verdicts: list[AuditVerdict], question: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    answers = tuple(
        sorted(
            (v.image_key, v.reader, v.score_verdict, v.explanation_plausible, v.regions)
            for v in verdicts
        )
    )
    return _cached(answers, question)


def agreement_ui(
    store: AuditStore,
    model: str,
    verdicts: list[AuditVerdict],
    names: Mapping[str, str],
    policy: ReadPolicy,
) -> None:
    """Cohen's kappa per pair of readers and Krippendorff's alpha over all, on ``verdicts``
    (those the viewer may see); for a viewer who sees everything, the same on first reads
    and which verdicts were revised after the others' were recorded."""
    if len({v.reader for v in verdicts}) < 2:
        return
    box = common.opened_section("Agreement between readers", OPEN_KEY)
    if box is None:  # closed: no bootstrap, no second read of the histories
        return
    with box:
        question = st.radio(
            "On",
            list(QUESTIONS),
            format_func=QUESTIONS.__getitem__,
            horizontal=True,
            key="audit_agreement_question",
        )
        if policy.blinded:
            st.caption("Computed over the verdicts you may see (independent reads).")
        rows, caveats = _table(verdicts, question)
        st.markdown("**Current verdicts**")
        common.dataframe(rows, hide_index=True, width="stretch")
        for c in caveats:
            st.caption(c)
        if policy.mode == "off":
            # Kappa reads as agreement between independent reads; a reader who records after
            # another saw that one's verdict here (a radiologist's walk, 7 December 2026).
            st.caption(independence_note(policy.mode))
        if policy.blinded:  # the others' first reads are theirs: an admin's analysis
            return
        try:
            histories = verdict_histories(store, model)
        except StoreError as exc:
            st.error(str(exc))
            return
        shown = {(v.image_key, v.reader) for v in verdicts}  # demo mode: the demo's only
        histories = {k: h for k, h in histories.items() if k in shown}
        st.markdown("**First reads** (each reader's first verdict on each image)")
        first, _ = _table(first_reads(histories), question)
        common.dataframe(first, hide_index=True, width="stretch")
        table = revisions(histories)
        revised = table[table["versions"] > 1] if len(table) else table
        st.markdown(f"**Revised verdicts ({len(revised)})**")
        if len(revised):
            st.caption(
                "Revised after others were shown: a later version was saved after another "
                "reader's first verdict on that image (under independent reads `on`, once "
                "both had judged it, each saw the other's)."
            )
            common.dataframe(
                revised.assign(image_key=[names.get(k, k) for k in revised["image_key"]]).rename(
                    columns={"image_key": "image"}
                ),
                hide_index=True,
                width="stretch",
            )
