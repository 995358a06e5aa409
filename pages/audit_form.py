"""Audit's verdict form: a reader picks the model and the image and enters the score they
were shown (filled in, with the regions to call, where the model's result was computed
before: Predict's analyses on this server or a batch run's table); nothing is run here.
(:mod:`pages.audit` draws it; Predict records a verdict on the result it shows itself.)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from mcalc.batch.table import RESULTS_PARQUET
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError, ModelError
from mcalc.explain.known_results import KnownResult, batch_scores, known_scores, predict_score
from mcalc.explain.results import model_key
from mcalc.explain.runs import results_cache, shared_analyses
from mcalc.explain.scoring import decision_threshold
from mcalc.jobs.batch import model_run_folders
from mcalc.models.card import ModelCard
from mcalc.models.registry import list_models
from mcalc.present.image_pick import ImageChoices, image_choices, narrow
from mcalc.present.words import plain
from mcalc.store import StoreConflictError, StoreError
from mcalc.store.audit import AuditStore, record_verdict
from pages import common, default_model, reader_forms, state, views

OTHER = "another model (type its id)"
IMAGE_KEY = "audit_image"
FIND_KEY = "audit_image_find"  # words narrowing the image picker
SHOW_KEY = "audit_image_show"  # the picker's filter by the reader's audit (SHOW)
SAVED_FOR_KEY = "audit_saved_for"  # the image of the verdict the form last saved
SCORE_KEY = "audit_score_input"
#: (model, image, score) the score field was last filled with from a computed result.
PREFILL_KEY = "audit_score_prefill"
THUMB_SIDE = 256  # the form's picture of the image judged, longest side in pixels
#: The verdict form's inputs and their blank values (verdict_inputs' defaults here).
FORM_BLANK: dict[str, object] = {
    SCORE_KEY: None,
    "audit_verdict": None,  # no answer chosen beforehand (reader_forms.verdict_inputs)
    "audit_plausible": "not judged",
    "audit_comment": "",
}


@st.cache_data(show_spinner=False, ttl=30)
def model_cards(models_dir: str) -> dict[str, ModelCard]:
    """Registry cards by model id (empty when there is no registry yet)."""
    try:
        return {c.id: c for c in list_models(models_dir).models}
    except (ModelError, OSError):
        return {}


def _in_case(case: CaseRecord, like: ImageRecord | None) -> ImageRecord:
    """The image of ``case`` to open: the view and exam of ``like`` (the image the reader
    had picked) when the case has it, else the recent first view, else its first."""
    for view, exam in (
        (like.view, like.timepoint) if like is not None else (VIEWS[0], TIMEPOINTS[-1]),
        (VIEWS[0], TIMEPOINTS[-1]),
    ):
        rec = case.image(view, exam)
        if rec is not None:
            return rec
    return case.images[0]


def _image_picked(choices: ImageChoices) -> None:
    """The reader picked an image here: its case becomes theirs on every page."""
    state.show_case(choices.case_of(st.session_state[IMAGE_KEY]))


#: The picker's filter by the reader's audit of the model (:func:`status_sets`).
SHOW = {
    "all": "All images",
    "unaudited": "Not yet audited by me",
    "audited": "Audited by me",
    "scored": "Scored by the model, highest first",
}


def status_sets(
    show: str, reader: str, model: str, card: ModelCard | None
) -> tuple[Collection[str] | None, set[str], Mapping[str, float] | None]:
    """The images ``show`` keeps (``None``: all), those it leaves out, and the scores that
    order them (``None``: the index's order): the reader's verdicts on ``model`` (read only
    for the filters that need them), or the images the model scored, by score (a batch run,
    or Predict on this server: :func:`known_result`'s sources)."""
    if show == "scored":
        if card is None:
            return set(), set(), None
        shared = shared_analyses(results_cache(common.settings().cache_dir / "predict"))
        scores = known_scores(_batch_results(card), shared, model_key(card))
        return scores, set(), scores
    if show not in ("audited", "unaudited"):
        return None, set(), None
    try:
        verdicts = AuditStore(common.settings().store_dir).verdicts(model)
    except StoreError:
        verdicts = []
    mine = {v.image_key for v in verdicts if v.reader == reader}
    return (mine, set(), None) if show == "audited" else (None, mine, None)


def image_ui(
    where: Any, index: DatasetIndex, reader: str, model: str, card: ModelCard | None
) -> ImageRecord:
    """The image picker, on the reader's current case (pages.state): the case they were on
    in Browse, Predict or Annotate, or the address' (``?case=``, which then names the case
    of the image picked); a pick here is the case those pages open on. Images
    are named by case, side, view, round and exam year; the reader narrows them by words
    and by their audit of the model, and picks among at most
    :data:`~mcalc.present.image_pick.PICK_LIMIT` (a collection holds ~20,000)."""
    choices = image_choices(index)  # made once per index
    picked = choices.records.get(str(st.session_state.get(IMAGE_KEY, "")))
    shown = state.current_case(choices.cases)
    if picked is None or (shown is not None and picked.case_id != shown):
        case = choices.cases[shown or index.cases[0].case_id]
        st.session_state[IMAGE_KEY] = _in_case(case, picked).key
    f1, f2 = where.columns(2)
    text = f1.text_input(
        "Find an image",
        key=FIND_KEY,
        # A placeholder that fits the half column (it read "case, side, view, r…" on a
        # projector's 1280 px at 125 %); the help says the rest.
        placeholder="case, side, view",
        help="Words of the image's name: case, side, view, exam (prior or recent), exam year.",
        persist_state="session",
    )
    show = f2.selectbox(
        "Show", list(SHOW), format_func=SHOW.__getitem__, key=SHOW_KEY, persist_state="session"
    )
    within, without, scores = status_sets(show, reader, model, card)
    keep = st.session_state[IMAGE_KEY]
    offer = narrow(choices, text, within=within, without=without, keep=keep, scores=scores)
    image_key: str = where.selectbox(
        "Image",
        offer.options,
        format_func=lambda k: choices.names.get(k, k),
        key=IMAGE_KEY,
        persist_state="session",
        on_change=_image_picked,
        args=(choices,),
    )
    note = offer.note()
    if note:
        where.caption(note)
    case_id = choices.case_of(image_key)
    state.show_case(case_id)
    # The address names the image's case (``?case=``), as Predict's does: a link opens the
    # case on the view and exam this page opens a case on (:func:`_in_case`).
    state.keep_case_in_url(case_id)
    return choices.records[image_key]


def case_in_url(index: DatasetIndex) -> None:
    """Name the reader's case in the address (``?case=``) while the form waits for the
    reader's name: the case :func:`image_ui` opens on once it is typed. It was named only
    then, so that an address copied first linked to no case."""
    choices = image_choices(index)  # made once per index
    shown = state.current_case(choices.cases)
    state.keep_case_in_url(shown or index.cases[0].case_id)


def fresh_form(image_key: str) -> None:
    """After a verdict was saved, another image starts with a blank form (score, answers,
    region calls, comment). The form is kept while the reader looks at the image elsewhere; kept past
    its save too, the words saved for one image went with the next image's verdict."""
    saved_for = st.session_state.get(SAVED_FOR_KEY)
    if saved_for is None or saved_for == image_key:
        return
    for key, blank in FORM_BLANK.items():
        st.session_state[key] = blank
    for key in [k for k in st.session_state if str(k).startswith("audit_region_call_")]:
        del st.session_state[key]
    del st.session_state[SAVED_FOR_KEY]


def _boxes(regions: Sequence[Any]) -> views.Boxes:
    """The ``regions`` offered to call as the thumbnail boxes and numbers them."""
    return tuple((str(r.rank), tuple(r.box)) for r in regions)


def thumbnail_ui(where: Any, rec: ImageRecord, name: str, regions: Sequence[Any] = ()) -> None:
    """The image the verdict is about, small (:data:`THUMB_SIDE`, cached once per image),
    the ``regions`` offered to call boxed and numbered.

    The model's map is not drawn: this form records a verdict on a score the reader was
    shown elsewhere (a verdict saved on Predict keeps the image and map its reader judged;
    one saved here on a computed result keeps this picture: :func:`judged_picture`).
    """
    boxes = _boxes(regions)
    try:
        jpeg = views.cached_thumbnail(rec, THUMB_SIDE, boxes)
    except ImageReadError as exc:
        where.caption(f"{name} cannot be shown: {exc}")
        return
    where.image(jpeg, width="stretch")
    # Short parts, a line each: the column is a fifth of the page (about 160 px on a
    # projector's 1280 px at 125 %), where the sentence wrapped to 7 lines of 2-3 words.
    boxed = " · regions numbered" if boxes else ""
    where.caption(f"{name}  \n{THUMB_SIDE} px{boxed}  \nno model map")


def judged_picture(rec: ImageRecord, regions: Sequence[Any]) -> np.ndarray | None:
    """The thumbnail :func:`thumbnail_ui` showed with ``regions`` boxed (RGB uint8), for the
    verdict to keep (``None``: the image cannot be read now; the verdict is kept without)."""
    try:
        return views.thumbnail_picture(rec, THUMB_SIDE, _boxes(regions))
    except ImageReadError:
        return None


@st.cache_data(show_spinner=False, max_entries=16)
def _batch_index(mkey: str, runs: tuple[tuple[str, float], ...]) -> dict[str, KnownResult]:
    """Every image's latest batch result of one model version: read again only when a
    run's table changes (``runs``: each folder and its table's modification time)."""
    return batch_scores(((Path(f).name, Path(f)) for f, _ in runs), mkey)


def _table_stamp(folder: Path) -> float:
    try:
        return (folder / RESULTS_PARQUET).stat().st_mtime
    except OSError:
        return 0.0


def _batch_results(card: ModelCard) -> dict[str, KnownResult]:
    """Every image's latest batch result of ``card``'s model (read once per table change)."""
    runs = tuple(
        (str(f), _table_stamp(f)) for f in model_run_folders(str(card.id), common.settings())
    )
    return _batch_index(model_key(card), runs) if runs else {}


def known_result(card: ModelCard, image_key: str) -> KnownResult | None:
    """The model's score for the image computed before (Predict's analyses in this server,
    else the batch runs' tables); nothing is run. A rerun costs a stat of the batch root
    (listed again when a run folder is made or removed: :func:`model_run_folders`) and one
    per run table of the model; the tables are read once per change."""
    mkey = model_key(card)
    settings = common.settings()
    found = predict_score(
        shared_analyses(results_cache(settings.cache_dir / "predict")), mkey, image_key
    )
    if found is not None:
        return found
    return _batch_results(card).get(image_key)


def known_score_ui(
    where: Any, model: str, card: ModelCard | None, image_key: str, name: str
) -> KnownResult | None:
    """What the model scored on the image (``name``: its words), if it was computed, with
    its source and settings; the score field is filled with it unless the reader typed one.
    Returns it (``None``: none computed)."""
    known = known_result(card, image_key) if card is not None else None
    if card is None:
        where.caption(
            f"{plain(model or '?')} is not a registered model: no computed score to show."
        )
    elif known is None:
        where.caption(
            f"No score of `{model}` for {name} has been computed yet (no batch run holds "
            "it, and Predict has not analysed it on this server); this page never runs the "
            "model. Type the score you were shown, or leave it blank."
        )
    else:
        where.info(f"{model} on {name}: {known.text()}.", icon=":material/analytics:")
        if known.warning:  # a flat map: the score and its regions are no evidence to judge
            where.warning(f"{model} on {name}: {known.warning}.")
        if (changed := known.threshold_note(decision_threshold(card))) is not None:
            where.warning(changed, icon=":material/tune:")
    prev = st.session_state.get(PREFILL_KEY)
    if prev is not None and tuple(prev[:2]) == (model, image_key):
        return known  # filled for this pair already: the reader's changes stay
    current = st.session_state.get(SCORE_KEY)
    if current is None or (prev is not None and current == prev[2]):
        score = None if known is None else known.score
        st.session_state[SCORE_KEY] = score
        st.session_state[PREFILL_KEY] = (model, image_key, score)
    return known


#: The model last preselected from :func:`pages.state.selected_model` (not a widget).
MODEL_APPLIED_KEY = "audit_model_applied"


def _model_chosen() -> None:
    """The reader chose a model here: Predict opens on it too (not "another model")."""
    model = st.session_state.get("audit_model")
    if isinstance(model, str) and model != OTHER:
        state.select_model(model)
        st.session_state[MODEL_APPLIED_KEY] = model


def verdict_ui(reader: str, index: DatasetIndex, names: Mapping[str, str]) -> None:
    """The form "Record a verdict" of ``reader``: model, image (named by ``names``), the
    computed score and its regions where known, the reader's answers and comment, saved
    on top of the version the form started from (a save made meanwhile in another tab is
    shown, not replaced)."""
    st.header("Record a verdict")
    ordered, choice = default_model.ordered(
        list(model_cards(str(common.settings().models_dir)).values())
    )
    cards = {c.id: c for c in ordered}
    options = [*cards, OTHER]
    # The model last chosen on Predict (or Train's "open on Predict"), once per choice: a
    # reader who judged a model's results there opened Audit on another (its own default).
    wanted = state.selected_model(list(cards))
    if wanted is not None and st.session_state.get(MODEL_APPLIED_KEY) != wanted:
        st.session_state["audit_model"] = wanted
        st.session_state[MODEL_APPLIED_KEY] = wanted
    # The page's width, as the name field above: in a column two fifths wide a model id as
    # `train` makes them (~40 characters) lost its time and suffix, what tells runs apart
    # ("efficientnet-calcification-20261207-22" on a projector's 1280 px at 125 %).
    model = st.selectbox(
        "Model",
        options,
        key="audit_model",
        persist_state="session",
        on_change=_model_chosen,
        format_func=lambda m: m + default_model.label(choice, m),
    )
    if model in cards:
        default_model.default_ui(choice, model, "audit", picker="audit_model")
    if model == OTHER:
        model = st.text_input("Model id", key="audit_model_typed", persist_state="session").strip()
    c2, c_image = st.columns([4, 1])
    rec = image_ui(c2, index, reader, model, cards.get(model))
    image_key = rec.key
    name = names.get(image_key, image_key)
    fresh_form(image_key)
    known = known_score_ui(st, model, cards.get(model), image_key, name)
    current = reader_forms.earlier_verdict_ui("audit", model, image_key, reader)
    c3, c4, c5 = st.columns([1, 1, 1])
    score = c3.number_input(
        "Model score shown (optional)",
        min_value=0.0,
        max_value=1.0,
        value=None,
        step=0.001,
        format="%.3f",
        key=SCORE_KEY,
        persist_state="session",
    )
    prefill = st.session_state.get(PREFILL_KEY)
    from_known = (
        score is not None and prefill is not None and tuple(prefill) == (model, image_key, score)
    )
    if from_known:
        c3.caption("From the computed result above.")
    # No explanation is shown here, so none is judged (Predict's form, under its map, asks).
    # The answers are kept while the reader looks at the image elsewhere, as the model and
    # image are.
    verdict, plausible = reader_forms.verdict_inputs(
        "audit", c4, c5, explanation_shown=False, persist=True
    )
    # The regions of the computed result, when the verdict is on it (its score above).
    offered = known.regions if from_known and known is not None else ()
    thumbnail_ui(c_image, rec, name, offered)  # drawn in its column, above
    calls = ()
    if offered:
        st.markdown("**Regions** of the computed result above")
        calls = reader_forms.region_calls_ui("audit", f"{model}_{image_key}", offered, persist=True)
    comment = st.text_area("Comment", key="audit_comment", height=80, persist_state="session")
    # The version of this reader's verdict the form started from: a save on top of another
    # is refused (saved meanwhile in another tab), and the conflict shown under the button.
    base = reader_forms.verdict_base("audit", model, image_key, reader) if model else 0
    if model:
        reader_forms.verdict_damaged_ui("audit", model, image_key, reader)
    save = st.button("Save verdict", key="audit_save", type="primary")
    on_top = reader_forms.verdict_conflict_ui("audit", model, image_key, reader, name)
    if save or on_top is not None:
        if not model:
            st.error("Choose a model, or type its id.")
            return
        if verdict is None:
            st.error(reader_forms.NO_VERDICT)
            return
        try:
            v = record_verdict(
                common.settings(),
                model_id=model,
                model_card=cards.get(model),
                image_key=image_key,
                reader=reader,
                agree=verdict,
                plausible=plausible,
                comment=comment,
                score=score,
                # The decision shown above with the computed score (the record said "decision
                # shown n/a" beside "score 0.992 (calcification)" on the form); none with a
                # score the reader typed.
                predicted=(known.predicted or None) if from_known and known else None,
                regions=calls,
                # The picture the form showed with the computed result (the thumbnail, its
                # regions boxed and numbered), shown under "What a verdict was about"; a
                # score typed in was judged on no result of the model's: none is kept.
                snapshot=judged_picture(rec, offered) if from_known and known else None,
                base_version=base if on_top is None else on_top,
            )
        except StoreConflictError as exc:
            reader_forms.verdict_refused("audit", model, image_key, reader, exc.stored_version)
            st.rerun()  # the conflict and its choices, under the button
        except (StoreError, ValueError) as exc:
            st.error(f"Verdict not saved: {plain(str(exc))}")
            return
        reader_forms.verdict_saved(
            "audit", model, image_key, reader, v.version or 0, verdict=v, shown=current
        )
        st.session_state[SAVED_FOR_KEY] = v.image_key
        st.success(
            f"Verdict saved for {v.model_id} on {name} (version {v.version}). The form "
            "starts blank on another image."
        )
        reader_forms.recorded_card_ui(v.model_card)
