"""What a reader answers and takes away on the pages that show a model's result (Audit,
Predict): the two audit questions and the call on each region, worded alike on both, the
model card a verdict recorded, and the case's PDF report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from mcalc.errors import McalcError
from mcalc.models.card import ModelCard
from mcalc.models.card_text import card_facts, card_from_summary
from mcalc.plural import counted
from mcalc.present.words import plain
from pages import common, signin
from pages.readers import read_policy

#: The explanation question's answer where no map is shown with the form.
NOT_SHOWN_ANSWER = "not judged"
#: Why the explanation question cannot be answered on a form that shows no map (Audit's).
EXPLANATION_NOT_SHOWN = (
    "This form shows the image without the model's map, so the explanation is not judged "
    "here: judge it on Predict's *Record a verdict (audit)*, under the map it is about."
)


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
    if not (Audit's form draws no map), the explanation question is shown answered "not
    judged" and cannot be changed: a plausibility recorded there judged a map the form never
    showed, and counted in the audit's "plausible explanations" with no explanation kept.
    ``persist``: the answers are kept while the reader is on another page (Audit's form)."""
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
    if not explanation_shown:
        # A value kept from before (persist) would not show a disabled radio's answer.
        st.session_state[f"{prefix}_plausible"] = NOT_SHOWN_ANSWER
    plausible = (explanation_slot or st).radio(
        "The explanation is",
        ["plausible", "implausible", NOT_SHOWN_ANSWER],
        index=None,  # unanswered, or (no map shown) "not judged" through the state above
        horizontal=True,
        key=f"{prefix}_plausible",
        persist_state="session" if persist else None,
        disabled=not explanation_shown,
        help=None if explanation_shown else EXPLANATION_NOT_SHOWN,
    )
    if not explanation_shown:
        return verdict, None
    return verdict, {"plausible": True, "implausible": False}.get(str(plausible))


def region_calls_ui(
    prefix: str, scope: str, regions: Sequence[Any], *, persist: bool = False
) -> tuple[Any, ...]:
    """The reader's call on each of ``regions`` (the top regions of the result judged):
    one row of choices per region, numbered as in the viewer, "not judged" until the reader
    picks (a grid cell's select box, tried first, took a double click and then a click to
    open, and a canvas grid is a poor read for a screen reader). ``scope``: what the
    regions are of (the image; on Audit the model and image). Returns the calls
    (:func:`mcalc.store.region_calls.calls_from_answers`)."""
    from mcalc.store.region_calls import NOT_JUDGED, REGION_CALLS, calls_from_answers

    if not regions:
        st.caption("No region is listed for this image: no region to call.")
        return ()
    st.caption(
        "Each region the model listed for this image, numbered as in Predict's viewer and "
        "regions table: is there a calcification? A region left *not judged* is not kept."
    )
    # Keyed by the image and its regions: another image's or another analysis' regions
    # start at "not judged".
    digest = ",".join(f"{r.rank}:{r.center[0]:.0f}:{r.center[1]:.0f}" for r in regions)
    answers = {
        r.rank: str(
            st.radio(
                f"Region {r.rank} · score {r.score:.3f} · row {r.center[0]:.0f}, "
                f"col {r.center[1]:.0f}",
                [NOT_JUDGED, *REGION_CALLS],
                horizontal=True,
                key=f"{prefix}_region_call_{scope}_{digest}_{r.rank}",
                persist_state="session" if persist else None,
            )
        )
        for r in regions
    }
    return calls_from_answers(regions, answers)


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
    """The colour map of the case's PDF report (:mod:`mcalc.report`; default the print-safe
    one, as the command line's ``--cmap``) and a button that makes it, then its download,
    which names the map it was made in."""
    from mcalc.explain.overlay import COLORMAPS
    from mcalc.report import case_report
    from mcalc.report.case import REPORT_CMAP, REPORT_CMAP_WHY

    key = f"{prefix}_report_{case_id}_{model_id}"
    maps = list(COLORMAPS)
    cmap = st.selectbox(
        "Report's colour map",
        maps,
        index=maps.index(REPORT_CMAP),
        key=f"{prefix}_report_cmap",
        help=REPORT_CMAP_WHY,
        width=260,
    )
    if st.button("Make the case report (PDF)", key=f"{prefix}_report_make"):
        user = signin.current_user()
        with st.spinner("Writing the case report…"):
            try:
                st.session_state[key] = (
                    cmap,
                    case_report(
                        common.current_data_path(),
                        case_id,
                        model=model_id,
                        user=user["name"] if user else "",
                        settings=common.settings(),
                        # Independent reads: only what this reader may see of the others'.
                        reads=read_policy(),
                        cmap=cmap,
                    ),
                )
            except McalcError as exc:
                st.error(f"No report: {exc}")
    made = st.session_state.get(key)
    if made:
        made_in, pdf = made
        st.download_button(
            f"Download the {made_in} report of {case_id} (PDF)",
            pdf,
            help=f"Its model pictures are in the {made_in} colour map; for another, choose it "
            "above and make the report again.",
            file_name=f"{case_id}_report.pdf",
            mime="application/pdf",
            key=f"{prefix}_report_download",
            on_click="ignore",
        )


# -- a verdict saved meanwhile --------------------------------------------------------------
# A reader's verdicts on an image are one versioned record: a form saves on top of the
# version it started from (read when the reader came to the image), so that a verdict the
# same reader saved meanwhile in another tab or session is not replaced without a word (a
# user check, 6 December: the later save became the newest version, the other one buried
# in the history). A refused save is kept as a conflict copy; the form then shows the
# stored verdict and lets the reader keep it or save theirs on top.


def _base_key(prefix: str) -> str:
    return f"{prefix}_verdict_base"


def _conflict_key(prefix: str) -> str:
    return f"{prefix}_verdict_conflict"


def verdict_base(prefix: str, model_id: str, image_key: str, reader: str) -> int:
    """The version of ``reader``'s verdict on the image the form started from (0: none):
    read from the store when the reader comes to this model, image and name, then kept
    (one read per image, not per rerun) until a save moves it on."""
    from mcalc.store.audit import AuditStore

    ident = [model_id, image_key, reader]
    held = st.session_state.get(_base_key(prefix))
    if held is not None and list(held[:3]) == ident:
        return int(held[3])
    from mcalc.store.record import StoreReadError

    st.session_state.pop(_damaged_key(prefix), None)
    try:
        latest = AuditStore(common.settings().store_dir).latest(model_id, image_key, reader)
    except StoreReadError as exc:  # their own record, damaged: verdict_damaged_ui offers it
        st.session_state[_damaged_key(prefix)] = [*ident, str(exc)]
        latest = None
    except (McalcError, ValueError, OSError):
        latest = None  # the save says what is wrong with the store or the name
    version = latest.version if latest is not None and latest.version else 0
    st.session_state[_base_key(prefix)] = [*ident, version]
    return version


def _earlier_key(prefix: str) -> str:
    return f"{prefix}_verdict_earlier"


def _current_words(model_id: str, v: Any) -> str:
    """The reader's current verdict ``v`` (:class:`mcalc.store.audit.Verdict`) in words,
    above the form."""
    judged = {True: "plausible", False: "implausible", None: "not judged"}
    return (
        f"Your verdict on this image with `{model_id}` now: version {v.version} "
        f"({v.recorded_at}), **{v.score_verdict}** with the score, explanation "
        f"{judged[v.explanation_plausible]}, {counted(len(v.regions), 'region call')}. Saving "
        "records what this form holds as a new version, which replaces it (every version "
        "is kept)."
    )


def earlier_verdict_ui(
    prefix: str, model_id: str, image_key: str, reader: str, where: Any = st
) -> Any:
    """Above the form, the reader's current verdict on this image, when there is one: the
    form does not start from it and a save replaces it with what the form holds (a reader
    who judged an image on Audit, then saved score and explanation on Predict, lost the
    region calls from the current verdict without a word; a user walk, 7 December).

    Returns its place, which :func:`verdict_saved` fills with the verdict a save wrote in
    the same run (it named the version before the save until the next rerun)."""
    from mcalc.store.audit import AuditStore

    slot = where.empty()
    version = verdict_base(prefix, model_id, image_key, reader) if model_id else 0
    if not version:
        return slot
    # Its words kept with the version they describe: read once per image and version, as
    # verdict_base reads its version, not on every rerun of the page.
    ident = [model_id, image_key, reader, version]
    held = st.session_state.get(_earlier_key(prefix))
    if held is not None and list(held[:4]) == ident:
        words = held[4]
    else:
        try:
            v = AuditStore(common.settings().store_dir).latest(model_id, image_key, reader)
        except (McalcError, ValueError, OSError):
            return slot  # verdict_damaged_ui and the save say what is wrong
        if v is None:
            return slot
        words = _current_words(model_id, v)
        st.session_state[_earlier_key(prefix)] = [*ident, words]
    slot.caption(words)
    return slot


def _damaged_key(prefix: str) -> str:
    return f"{prefix}_verdict_damaged"


def verdict_damaged_ui(prefix: str, model_id: str, image_key: str, reader: str) -> None:
    """The reader's verdict record on this image cannot be read (cut short, damaged; found
    by :func:`verdict_base`): said, with a button that gives back the whole versions it
    still holds, the damaged file kept beside it (:meth:`AuditStore.recover`). Only "move
    it out of the store" was said (above Audit's table), which a reader cannot do, and
    every save on the image failed."""
    from mcalc.store import StoreError
    from mcalc.store.audit import AuditStore

    held = st.session_state.get(_damaged_key(prefix))
    if held is None or list(held[:3]) != [model_id, image_key, reader]:
        return
    slot = st.empty()
    with slot.container():
        st.error(f"Your verdict record on this image cannot be read: {held[3]}")
        recover = st.button(
            "Recover the versions it still holds",
            key=f"{prefix}_verdict_recover",
            icon=":material/healing:",
            help="The whole versions before the damage become your verdicts again (none: "
            "you start afresh); the damaged file is kept beside it, untouched, for an "
            "admin to look at.",
        )
    if not recover:
        return
    try:
        kept, aside = AuditStore(common.settings().store_dir).recover(model_id, image_key, reader)
    except StoreError as exc:
        st.error(f"Nothing recovered: {exc}")
        return
    slot.empty()
    st.session_state.pop(_damaged_key(prefix), None)
    st.session_state.pop(_base_key(prefix), None)  # read again on the next run
    st.success(
        f"{counted(kept, 'version')} of your verdict recovered from the damaged file, which is kept "
        f"as `{aside}`."
    )


def verdict_saved(
    prefix: str,
    model_id: str,
    image_key: str,
    reader: str,
    version: int,
    *,
    verdict: Any = None,
    shown: Any = None,
) -> None:
    """After a save: the form now stands on that version; no conflict left. ``verdict``:
    the verdict the save wrote (:class:`mcalc.store.audit.Verdict`), now the reader's
    current one in words, kept with its version and drawn in ``shown``
    (:func:`earlier_verdict_ui`'s place) in this run, without reading the store."""
    st.session_state[_base_key(prefix)] = [model_id, image_key, reader, version]
    if verdict is not None and version:
        words = _current_words(model_id, verdict)
        st.session_state[_earlier_key(prefix)] = [model_id, image_key, reader, version, words]
        if shown is not None:
            shown.caption(words)
    st.session_state[f"{prefix}_verdict_last_saved"] = [model_id, image_key, reader, version]
    st.session_state.pop(_conflict_key(prefix), None)


def last_saved(prefix: str) -> list[Any] | None:
    """``[model_id, image_key, reader, version]`` of the verdict this session saved last on
    the form ``prefix``, or ``None``."""
    return st.session_state.get(f"{prefix}_verdict_last_saved")


def verdict_refused(prefix: str, model_id: str, image_key: str, reader: str, stored: int) -> None:
    """A save refused because version ``stored`` was saved meanwhile: shown by
    :func:`verdict_conflict_ui` while the form is on that image."""
    st.session_state[_conflict_key(prefix)] = [model_id, image_key, reader, stored]


def verdict_conflict_ui(
    prefix: str, model_id: str, image_key: str, reader: str, name: str
) -> int | None:
    """The stored verdict beside a refused save, and the reader's two ways on: keep it (the
    form then stands on it) or save theirs on top. Returns the version to save on top of
    when the reader chose theirs in this run, else ``None``."""
    from mcalc.store.audit import AuditStore
    from mcalc.store.region_calls import calls_text

    held = st.session_state.get(_conflict_key(prefix))
    if held is None or list(held[:3]) != [model_id, image_key, reader]:
        return None
    stored = int(held[3])
    latest = AuditStore(common.settings().store_dir).latest(model_id, image_key, reader)
    words = {"agree": "right (agree)", "disagree": "wrong (disagree)"}
    said = ""
    if latest is not None:
        plausible = {True: "plausible", False: "implausible", None: "not judged"}
        said = (
            f" It says: the score is **{words.get(latest.score_verdict, latest.score_verdict)}**"
            f", the explanation **{plausible[latest.explanation_plausible]}**"
            + (f", regions: {calls_text(latest.regions)}" if latest.regions else "")
            + (f', comment "{plain(latest.comment)}"' if latest.comment else ", no comment")
            + f" (saved {latest.recorded_at})."
        )
    slot = st.empty()  # cleared at once when the reader saves theirs
    with slot.container():
        st.error(
            f"Your verdict on {name} was **not saved**: {reader} saved version {stored} of "
            f"it meanwhile (another tab or session).{said} Yours is kept aside as a conflict "
            "copy: keep the saved one, or save yours as the newest version."
        )
        c1, c2 = st.columns(2)
        keep = c1.button("Keep the saved verdict", key=f"{prefix}_conflict_keep")
        mine = c2.button(
            "Save mine as the newest version", key=f"{prefix}_conflict_mine", type="primary"
        )
    if keep:
        verdict_saved(prefix, model_id, image_key, reader, stored)
        st.rerun()
    if mine:
        slot.empty()
        return stored
    return None
