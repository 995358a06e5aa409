"""Audit: readers' verdicts on model predictions, and the audit table of each model.

A reader picks the model and the image and enters the score they were shown (filled in,
with the regions to call, where the model's result was computed before: the form is
:mod:`pages.audit_form`); Predict records a verdict on the result it shows itself
(:func:`mcalc.store.audit.record_verdict`). Below it, each model's audit table, the
readers' agreement (:mod:`pages.audit_agreement`) and what each verdict was about.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from mcalc.access.reads import ReadPolicy, visible_verdicts
from mcalc.models.card_text import card_from_summary
from mcalc.plural import counted
from mcalc.present.image_pick import choices_of, narrow
from mcalc.present.reading import image_names
from mcalc.present.words import plain
from mcalc.store import StoreError
from mcalc.store.audit import AuditStore, AuditVerdict, audit_table
from mcalc.store.exchange import ExportError, audit_csv, region_calls_csv
from mcalc.store.region_calls import call_words, calls_table
from pages import common, reader_forms
from pages.audit_agreement import agreement_ui
from pages.audit_form import case_in_url, model_cards, verdict_ui
from pages.readers import read_note_ui, read_policy, reader_ui

common.frame()


def card_ui(model_id: str, recorded: str) -> None:
    """The verdict's model card in words (:func:`mcalc.models.card_text.card_facts`): the
    registry's card while the model is registered, else what the verdict recorded."""
    card = model_cards(str(common.settings().models_dir)).get(model_id)
    source = "the registry's card"
    if card is None and recorded:
        card, source = (
            card_from_summary(recorded),
            "what the verdict recorded (the model is no longer registered)",
        )
    words = reader_forms.card_markdown(card) if card is not None else ""
    # As typed: a verdict stored before model ids were checked may name any text.
    with st.expander(f"Model card of {plain(model_id)}", expanded=True):
        if not words:
            st.caption("No model card was recorded with this verdict.")
            return
        st.markdown(words)
        st.caption(f"From {source}.")


JUDGED_KEY = "audit_judged"  # the verdict shown (its image key and reader)
FOLLOWED_KEY = "audit_judged_followed"  # the form's last save, once shown
JUDGED_FIND_KEY = "audit_judged_find"  # words narrowing the verdict picker


def verdict_pick_ui(verdicts: list[AuditVerdict], names: Mapping[str, str]) -> AuditVerdict | None:
    """The verdict picker: narrowed by words of the image's name and the reader's, at most
    :data:`~mcalc.present.image_pick.PICK_LIMIT` of the model's verdicts offered (a store
    may hold one per image and reader of a 20,000-image collection)."""
    # One verdict per image and reader: the pick is named by those alone. A label that
    # changed with each save (its time and version) stayed as it was in the browser
    # (headless Chromium, 5 December 2026: v4 named beside v5's answers).
    by_key = {f"{v.image_key}|{v.reader}": v for v in verdicts}
    choices = choices_of(
        {k: f"{names.get(v.image_key, v.image_key)} · {v.reader}" for k, v in by_key.items()}
    )
    # A verdict just saved on the form above is the one shown (another reader's stayed).
    saved = reader_forms.last_saved("audit")
    if saved is not None and saved != st.session_state.get(FOLLOWED_KEY):
        st.session_state[FOLLOWED_KEY] = saved
        key = f"{saved[1]}|{saved[2]}"
        if key in by_key and by_key[key].model_id == saved[0]:
            st.session_state[JUDGED_KEY] = key
    if st.session_state.get(JUDGED_KEY) not in by_key:
        st.session_state.pop(JUDGED_KEY, None)  # a verdict no longer in the store
    text = st.text_input(
        "Find a verdict",
        key=JUDGED_FIND_KEY,
        placeholder="case, side, view, reader",
        persist_state="session",
    )
    offer = narrow(choices, text, keep=st.session_state.get(JUDGED_KEY), noun="verdict")
    pick = st.selectbox(
        "Verdict", offer.options, format_func=choices.names.__getitem__, key=JUDGED_KEY
    )
    note = offer.note()
    if note:
        st.caption(note)
    return None if pick is None else by_key[pick]


def judged_ui(store: AuditStore, verdicts: list[AuditVerdict], names: Mapping[str, str]) -> None:
    """One of ``verdicts`` (one model's) with the picture its reader judged (image and map
    as shown); images named by ``names`` (their key where the dataset in use has no such
    image)."""
    if not verdicts:
        return
    st.markdown("**What a verdict was about**")
    v = verdict_pick_ui(verdicts, names)
    if v is None:
        return
    name = names.get(v.image_key, v.image_key)
    c1, c2 = st.columns([2, 1])
    picture = store.snapshot_path(v)
    if picture.is_file():
        c1.image(str(picture), caption=f"{name} as {v.reader} saw it", width="stretch")
    else:
        c1.info(
            "No picture was kept with this verdict: it was recorded without one (on this "
            "page's form on a score typed in, not a computed result; from Python; or before "
            "pictures were kept). A verdict saved on Predict keeps the image and map its "
            "reader judged; one saved on this page's form on a computed result, the image "
            "with the result's regions boxed and numbered, as the form showed it."
        )
    ctx = v.context
    c2.caption(f"Version {v.version}, recorded {v.recorded_at} by {plain(v.reader)}")
    c2.markdown(
        f"**{v.score_verdict}** with score {'n/a' if v.score is None else f'{v.score:.3f}'} "
        f"({v.predicted or 'no decision shown'}); explanation "
        f"{ {True: 'plausible', False: 'implausible', None: 'not judged'}[v.explanation_plausible] }"
    )
    if ctx is not None:
        c2.caption(
            f"Map: {ctx.text()}; threshold source: {ctx.threshold_source or 'n/a'}; model "
            f"fingerprint `{ctx.model_fingerprint}`; map settings: {ctx.settings_text()}"
        )
    if v.regions:
        c2.markdown("Regions called:\n" + "\n".join(f"- {call_words(c)}" for c in v.regions))
    if v.comment:
        # Typed by a reader: shown as typed (an image in it was fetched by the browser).
        c2.caption(f"Comment: {plain(v.comment)}")
    with c2:
        card_ui(v.model_id, v.model_card)
        reader_forms.case_report_ui(v.image_key.split("/")[0], v.model_id, "audit")


#: The audit table's columns in words (the data and its CSV keep the record's names).
AUDIT_LABELS = {
    "model_id": "model",
    "image_key": "image",
    "score_verdict": "the score is",
    "explanation_plausible": "explanation plausible",
    "score": "score shown",
    "predicted": "decision shown",
    "explanation": "explanation shown",
    "regions": "regions called",
    "recorded_at": "recorded (UTC)",
    "model_card": "model card",
}
AUDIT_COLUMNS = {k: st.column_config.Column(v) for k, v in AUDIT_LABELS.items()}


def _named(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """``table`` as shown: its ``image`` (the record's key) in words (:func:`image_names`);
    the data and the CSV keep the key."""
    if "image_key" not in table.columns:
        return table
    return table.assign(image_key=[names.get(k, k) for k in table["image_key"]])


def table_ui(names: Mapping[str, str], policy: ReadPolicy) -> None:
    st.header("Audit table per model")
    read_note_ui(policy, "verdicts")
    store = AuditStore(common.settings().store_dir)
    skipped: list[str] = []
    try:  # read once a rerun: the models, the table and the verdict shown all come from it
        every = store.verdicts(skipped=skipped)
    except StoreError as exc:
        st.error(str(exc))
        return
    if skipped:  # left out of every count below: said, not only logged
        said = "; ".join(skipped).rstrip(".")  # each says what to do with its file
        st.warning(
            f"{counted(len(skipped), 'verdict file')} cannot be read and {'is' if len(skipped) == 1 else 'are'} left out of the tables "
            f"below (each left as it is): {said}. Its reader can also recover the versions "
            "it still holds under *Record a verdict*, on its model and image.",
            icon=":material/broken_image:",
        )
    if common.current_mode().kind == "demo":
        # Demo mode asks for no account and shows synthetic images only: verdicts on other
        # datasets (recorded with accounts off, or from Python) carry their reader, comment
        # and a picture of the real image, all drawn here to any visitor.
        others = sum(v.image_key not in names for v in every)
        every = [v for v in every if v.image_key in names]
        if others:
            st.caption(
                f"{counted(others, 'verdict')} on other datasets {'is' if others == 1 else 'are'} not shown in demo mode (they "
                "need an account: create one with `python -m mcalc users add`)."
            )
    # Independent reads: the table, its figures, the pictures and the CSV hold only what
    # this reader may see (mcalc.access.reads decides).
    every = visible_verdicts(every, policy)
    models = sorted({v.model_id for v in every})
    if not models:
        st.info(
            "No verdict of yours recorded yet (the others' are hidden: independent reads)."
            if policy.blinded
            else "No verdicts recorded yet."
        )
        return
    model = st.selectbox("Model", models, key="audit_table_model", persist_state="session")
    verdicts = [v for v in every if v.model_id == model]
    s = audit_table(common.settings(), model, verdicts=verdicts)
    m = st.columns(6 if s.regions_judged else 5)
    m[0].metric("Images reviewed", s.n_images)
    m[1].metric("Verdicts", s.n_verdicts)
    m[2].metric("Readers", s.n_readers)
    m[3].metric(
        "Agree with score", "n/a" if s.agreement_rate is None else f"{s.agreement_rate:.0%}"
    )
    m[4].metric(
        "Plausible explanations", "n/a" if s.plausible_rate is None else f"{s.plausible_rate:.0%}"
    )
    if s.regions_judged:
        rate = s.regions_confirmed_rate
        m[5].metric(
            "Regions confirmed",
            "n/a" if rate is None else f"{rate:.0%}",
            help=f"Of the {s.regions_judged} regions readers called (on Predict's or this "
            "page's verdict form), the share called calcification among those called either "
            "way (unsure left out)",
        )
    st.markdown(f"**To look at again ({len(s.disagreements)})**")
    common.dataframe(
        _named(s.disagreements.drop(columns=["model_card"]), names),
        hide_index=True,
        width="stretch",
        column_config=AUDIT_COLUMNS,
    )
    with st.expander("All verdicts"):
        common.dataframe(
            _named(s.table, names), hide_index=True, width="stretch", column_config=AUDIT_COLUMNS
        )
    agreement_ui(store, model, verdicts, names, policy)
    judged_ui(store, verdicts, names)
    try:
        st.download_button(
            "Download the audit table (CSV)",
            audit_csv(s.table),
            file_name=f"audit_{model}.csv",
            mime="text/csv",
            key="audit_download",
        )
    except ExportError as exc:
        st.caption(str(exc))
    if s.regions_judged:  # one row per region call: what the table's counts come from
        st.download_button(
            "Download the region calls (CSV)",
            region_calls_csv(calls_table(verdicts)),
            file_name=f"region_calls_{model}.csv",
            mime="text/csv",
            key="audit_calls_download",
        )


index = common.require_index()
st.title("Audit")
common.synthetic_banner(index)
names = image_names(index)  # case, side, view, round and exam year of each image
reader = reader_ui("audit")
policy = read_policy()
if reader is not None:
    verdict_ui(reader, index, names)
else:
    case_in_url(index)
table_ui(names, policy)
