"""Predict's runs: cached results at once, expensive work on Run in the background.

The page never computes on a widget change. For the analysis the widgets ask for it shows,
in this order: the cached result (:func:`mcalc.explain.runs.cached_case`, no model call),
the result it showed before (named, with a *Run* button), and while a run goes on, its
progress with *Cancel* (the last result stays on screen): the script run that started it
waits for the :class:`~mcalc.progress.BackgroundWork` at its end, up to
:data:`WAIT_MAX_S`, and once it is done reruns on the server the page's result fragment
(:data:`RESULT_FRAGMENT`) alone (no poll, no round trip, and not the page around it);
past that, a fragment polls it. A new case (or view, or timepoint) chosen starts its run by
itself (:func:`case_chosen`, a callback of those widgets): the reader's choice is the
action, so no *Run* is asked for it, and the images of the new case are sent meanwhile;
a choice made while that run goes on stops it (never two runs at once, nothing queued),
and other settings still wait for *Run*. The first visit, with nothing to show yet, starts
a run by itself too: its script run draws the images in the viewer at once (its frame, bundle and
pixels load while the analysis runs), then waits for the analysis at its end (progress and
*Cancel* drawn) and reruns the result's fragment on the server to add the result as
layers of that same viewer;
while that run goes on and nothing is shown, a new choice replaces it. A new run stops the
one going on first and waits for it (its progress says so), so two analyses never share
the processor. Everything this module draws goes into one container, so the result below
keeps its place (and the viewer its frame) whatever the status shows.

Analyses ahead (:mod:`mcalc.explain.ahead`) fill the same results cache: the case the page
opens with, after the app's warm-up, so that a first visit usually finds it cached; and,
with a result on screen, the next case of the list (:func:`analyse_next`), so that choosing
it does too. Every run the page starts is a foreground run for them: the one going on
stops first, or, for the same request, is waited for and its result taken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.explain.runs import (
    CaseRequest,
    cached_case,
    results_cache,
    run_case,
    start_ahead,
    start_case,
    stop_ahead,
)
from mcalc.explain.service import CaseAnalysis, Explainer, ResultsCache
from mcalc.models.card import ModelCard
from mcalc.models.detection import DetectionSettings
from mcalc.models.inference import LoadedModel, load_model
from mcalc.models.registry import list_models
from mcalc.models.warmup import warm_model
from mcalc.plural import counted
from mcalc.present.reading_overlays import overlay_grids, viewer_maps
from mcalc.progress import BackgroundWork, ProgressFn
from pages import common, state
from pages.server_tuning import log_work

#: The result on screen (a :class:`Shown`), kept across reruns; not a widget.
SHOWN_KEY = "predict_shown"
#: The run going on: ``(BackgroundWork, Shown without analysis)``; not a widget.
WORK_KEY = "predict_work"
#: What the last finished run left to say: ``(request key, kind, text)`` (cancelled,
#: failed), shown while the widgets ask for that request.
NOTE_KEY = "predict_run_note"
#: Set once a run was started by the page itself (first visit) or cancelled.
AUTO_KEY = "predict_auto_started"
#: The request key of the run the page started by itself (not the reader), if any.
AUTO_RUN_KEY = "predict_auto_run"
#: The request a run was just started for (:class:`Shown` without analysis), so that the
#: run that follows prepares its images (:func:`pop_prefetch`); not a widget.
PREFETCH_KEY = "predict_prefetch"
#: The case score shown: ``(request key, CaseAnalysis)``.
CASE_SCORE_KEY = "predict_case_score"
#: Set by :func:`case_chosen` (the case, view or timepoint widget changed): the next run of
#: the page starts the analysis of the new choice by itself; not a widget.
CHOSEN_KEY = "predict_case_chosen"
#: The key of the fragment that draws the result and what depends on it (the page's
#: ``result_area``): a run's end reruns it alone (:meth:`Pending.finish`).
RESULT_FRAGMENT = "predict_result_area"
#: The case widget (:func:`pages.predict_controls.case_ui`).
CASE_WIDGET = "predict_case"
#: The Case box's cases in its order, for the viewer's next/previous case; not a widget.
CASE_IDS_KEY = "predict_case_ids"


# -- cached loaders (no widgets inside) ----------------------------------------------------


@st.cache_data(show_spinner=False, ttl=30)
def registry(models_dir: str) -> tuple[list[ModelCard], list[dict[str, str]]]:
    """Cards of the usable models and the folders skipped."""
    listing = list_models(models_dir)
    return listing.models, listing.problems


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def loaded_model(path: str, fingerprint: str) -> LoadedModel:
    """The model of a registry folder (shared by every session; never modified): the one
    the app's warm-up loaded when it is that model, else loaded now."""
    warm = warm_model(path, fingerprint)
    return warm[0] if warm is not None else load_model(path, Path(path).parent)


@st.cache_resource(show_spinner=False, max_entries=4)
def explainer(path: str, fingerprint: str) -> Explainer:
    """The model's explainer: clones and tf-keras-vis objects built once, then reused (the
    warm-up's, already traced, for the model it loaded)."""
    loaded = loaded_model(path, fingerprint)
    warm = warm_model(path, fingerprint)
    return warm[1] if warm is not None and warm[0] is loaded else Explainer.for_model(loaded)


def predict_results() -> ResultsCache:
    """Predict's results cache: the process' one (the analyses ahead fill it too)."""
    return results_cache(common.settings().cache_dir / "predict")


# -- what is on screen ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """An analysis and what the page needs to draw it (``analysis`` is ``None`` while it
    is being computed). ``title`` names it: ``model · case · view``."""

    key: str
    title: str
    records: dict[str, ImageRecord]
    labels: dict[str, str]
    laterality: str | None
    view: str
    analysis: CaseAnalysis | None = None


def _start(
    loaded: LoadedModel,
    xp: Explainer,
    request: CaseRequest,
    meta: Shown,
    detections: DetectionSettings | None,
    auto: bool = False,
) -> None:
    """Start ``request`` in the background (a callback: runs before the script), after
    stopping the run going on, if any (the new one waits for it to end); its thread then
    finds the ``detections`` the result will show. ``auto``: the page starts it by
    itself."""
    old = st.session_state.get(WORK_KEY)
    before = None
    if old is not None and old[0].running:
        old[0].cancel()
        before = old[0]
    work = start_case(
        loaded,
        request,
        explainer=xp,
        results=predict_results(),
        image_cache=common.get_image_cache(),
        after=before,
        then=partial(made_ahead, detections),
    )
    st.session_state[WORK_KEY] = (work, meta)
    st.session_state[AUTO_KEY] = True
    st.session_state[AUTO_RUN_KEY] = work.key if auto else None
    st.session_state[PREFETCH_KEY] = meta
    st.session_state.pop(NOTE_KEY, None)


def made_ahead(detections: DetectionSettings | None, case: CaseAnalysis) -> None:
    """In the run's thread, as its analysis ends: what the page's first draw of the result
    needs, kept on the result, so that the script run drawing it only reads them: the
    detections shown (``None``: off) and the viewer's map layers (the maps on their scale
    and their quantised grids, :func:`~mcalc.present.reading_overlays.overlay_grids`; the
    explanation's scale is joint over the images, hence after the last one). The layers
    are made after the detections, in the same thread: made beside them in a second thread
    they took as long in all (36-46 ms a demo pair, in-process, 4 December 2026)."""
    if detections is not None:
        for r in case.images:
            r.detections(detections)
    for _, maps in viewer_maps(case):
        overlay_grids(maps)


def pop_prefetch() -> Shown | None:
    """The request a run was started for since the last call, if any (once)."""
    meta = st.session_state.pop(PREFETCH_KEY, None)
    return meta if isinstance(meta, Shown) else None


def case_chosen() -> None:
    """Callback of the case, view and timepoint widgets: the page's next run starts the
    analysis of the new choice (when it is neither cached nor running already). An
    analysis ahead going on stops now, unless it is of the case chosen (the choice of the
    next case takes its result): the run of the choice would stop it, but only once the
    script has reached it, which took 0.3 s beside the analysis ahead in a bench run
    against 0.03-0.1 s without it (4 December 2026, the 2-core machine)."""
    st.session_state[CHOSEN_KEY] = True
    case_id = st.session_state.get(CASE_WIDGET)
    if isinstance(case_id, str):
        state.show_case(case_id)  # the reader's case on every page (before this run)
    stop_ahead(
        lambda request: all(
            i.record is not None and i.record.case_id == case_id for i in request.images
        )
    )


def _cancel(work: BackgroundWork[Any]) -> None:
    work.cancel()
    st.session_state[AUTO_KEY] = True  # the reader stopped it: never restart it unasked


def _collect() -> None:
    """Take a finished run's result (or its failure) off the work slot."""
    entry = st.session_state.get(WORK_KEY)
    if entry is None or entry[0].running:
        return
    work, meta = entry
    del st.session_state[WORK_KEY]
    log_work(common.settings().run_log, work.label, work.state, work.finished_at, work.seconds)
    if work.state == "done":
        st.session_state[SHOWN_KEY] = replace(meta, analysis=work.result)
    elif work.state == "cancelled":
        st.session_state[NOTE_KEY] = (
            work.key,
            "info",
            f"Run cancelled after {work.seconds:.0f} s ({meta.title}).",
        )
    else:
        st.session_state[NOTE_KEY] = (
            work.key,
            "error",
            f"The run of {meta.title} failed: {work.error}",
        )


#: Seconds between two polls of a run's progress, and how long a poll waits for the run
#: to end (so the result follows its end by at most POLL_S - POLL_WAIT_S, not a whole poll
#: period; the wait holds this session's script thread only, never the processor).
POLL_S = 0.5
POLL_WAIT_S = 0.3


#: While nothing is on screen, the run's own script waits for the analysis, redrawing the
#: progress this often (each redraw is also where a click on Cancel or a widget change
#: stops the wait: Streamlit ends a script at its next element when a rerun is asked).
WAIT_STEP_S = 0.15


#: The shortest time between two redraws of the progress bar while a script run waits for
#: its analysis. Every element a run sends makes the browser render Streamlit's page again:
#: on a first visit to Predict (a page of many widgets being built, the viewer's frame
#: loading) a redraw every wait step (0.15 s) kept the page's main thread busy throughout
#: the analysis (a CDP profile on 3 December 2026: React renders back to back from 1.3 to
#: 3.2 s), which delayed the viewer's frame and the result and took a core from the
#: analysis on a 2-core machine.
PROGRESS_EVERY_S = 0.5


def _progress_value(work: BackgroundWork[Any], meta: Shown) -> tuple[float, str]:
    done, total, message = work.snapshot()
    frac = min(done / total, 1.0) if total > 0 else 0.0
    verb = "Cancelling" if work.cancelling else "Computing"
    return frac, f"{verb} {meta.title}: {message} · {work.elapsed():.0f} s"


def _progress(bar: Any, work: BackgroundWork[Any], meta: Shown) -> None:
    frac, text = _progress_value(work, meta)
    bar.progress(frac, text=text)


def _cancel_button(work: BackgroundWork[Any]) -> None:
    st.button(
        "Cancel",
        key="predict_cancel",
        icon=":material/stop_circle:",
        on_click=_cancel,
        args=(work,),
        disabled=work.cancelling,
    )


@st.fragment(run_every=POLL_S)
def _progress_ui(cancel: bool = True) -> None:
    """The run's progress and its Cancel button (``cancel``), polled; a full rerun once it
    ends."""
    entry = st.session_state.get(WORK_KEY)
    if entry is None:
        return
    work, meta = entry
    if work.wait(POLL_WAIT_S):
        st.rerun()
    _progress(st.empty(), work, meta)
    if cancel:
        _cancel_button(work)


#: How long the script run of a reader's choice (a new case, or *Run*), the last result on
#: screen, waits at its end for the analysis before handing over to the progress poll
#: (:func:`_progress_ui`): a run that ends within it is drawn at once by a rerun on the
#: server, with no poll and no round trip. A region click on the last result meanwhile
#: (a fragment's rerun, which never interrupts a script run) ends the wait at once and
#: hands over to the poll (:func:`pages.common.rerun_asked`); a widget change or *Cancel*
#: ends it as any rerun does.
WAIT_MAX_S = 15.0


@dataclass
class Pending:
    """A run going on that the page's script run waits for at its end (:meth:`finish`):
    the first visit's, nothing on screen yet (the page draws the request's images,
    ``meta``), or that of a reader's choice with the last result on screen (``limit``: the
    seconds it waits before the progress poll takes over)."""

    work: BackgroundWork[Any]
    meta: Shown
    box: Any
    bar: Any
    limit: float | None = None
    #: The page's whole status area (an ``st.empty`` slot: :func:`shown_ui`), emptied when
    #: the result arrives: a fragment's rerun does not clear what the page's run left
    #: above it (a "Not computed yet" note and Run button a run before drew there).
    area: Any = None

    def finish(self) -> None:
        """Wait for the run in this script run (its progress redrawn; a click on Cancel or
        a widget change ends the wait, as any rerun does), then rerun on the server (no
        round trip) the result's fragment (:data:`RESULT_FRAGMENT`) only, so that the
        result is drawn where the images (or the last result) already are, without the
        page around it (a cancelled or failed run reruns the page, which says so). Past
        ``limit`` seconds, the progress poll takes over instead."""
        end = None if self.limit is None else time.monotonic() + self.limit
        drawn, drawn_at = _progress_value(self.work, self.meta), time.monotonic()
        while not self.work.wait(WAIT_STEP_S):
            # With the last result on screen, a click on it (a region in the viewer, a
            # row) asks for a rerun of its fragment, which waits for this script run to
            # end: hand over to the poll at once, so the click is answered now, on the
            # result it was made on, not after the run on the next one (where it named
            # an image no longer shown: "That click selected nothing").
            asked = common.rerun_asked()
            if end is not None and (time.monotonic() >= end or asked):
                with self.bar.container():  # replaces the bar
                    _progress_ui(cancel=False)  # Cancel is drawn already, below it
                return
            if not asked and time.monotonic() - drawn_at < PROGRESS_EVERY_S:
                continue
            now = _progress_value(self.work, self.meta)
            # Only what changed is sent; a rerun asked for (Cancel, a widget) is sent at
            # once: Streamlit ends a script run for a rerun only when the run sends.
            if now != drawn or asked:
                self.bar.progress(now[0], text=now[1])
            drawn, drawn_at = now, time.monotonic()
        (self.box if self.area is None else self.area).empty()  # progress, Cancel, notes
        _collect()
        if self.work.state == "done" and common.rerun_fragment_next(RESULT_FRAGMENT):
            return  # only the result's fragment runs again: it draws the result
        st.rerun()  # the rerun's _status_ui() says what ended the run (its note)


def shown_ui(
    loaded: LoadedModel,
    xp: Explainer,
    request: CaseRequest,
    meta: Shown,
    detections: DetectionSettings | None = None,
) -> tuple[Shown | None, Pending | None]:
    """The result to draw for ``request`` (``meta``: its records and title), after the
    run bar: cached at once, else the last result with Run (or the run's progress); and
    the run to wait for at the end of the page (:meth:`Pending.finish`), if any. On the
    first visit, ``(None, Pending)``: draw ``pending.meta``'s images, then ``finish()``;
    a run for the reader's choice: ``(last result, Pending)``: draw the last result, then
    ``finish()``."""
    area = st.empty()  # one slot, whatever it holds: the result below keeps its place
    with area.container():
        shown, pending = _status_ui(loaded, xp, request, meta, detections)
    return shown, None if pending is None else replace(pending, area=area)


def _status_ui(
    loaded: LoadedModel,
    xp: Explainer,
    request: CaseRequest,
    meta: Shown,
    detections: DetectionSettings | None,
) -> tuple[Shown | None, Pending | None]:
    # Three slots, always sent, each an element or empty: the browser keeps a container's
    # children that a run does not send again (a "Not computed yet" and Run left below the
    # progress of the Run they asked for), so the area's layout never shrinks.
    note_slot, ask_slot, run_slot = st.empty(), st.empty(), st.empty()
    _collect()
    shown: Shown | None = st.session_state.get(SHOWN_KEY)
    entry = st.session_state.get(WORK_KEY)
    # A run of this very request going on: it is not cached (no lookup to pay for).
    computing = entry is not None and entry[0].running and entry[0].key == request.key
    if (shown is None or shown.key != request.key) and not computing:
        hit = cached_case(
            loaded,
            request,
            explainer=xp,
            results=predict_results(),
            image_cache=common.get_image_cache(),
        )
        if hit is not None:
            shown = replace(meta, analysis=hit)
            st.session_state[SHOWN_KEY] = shown
    note = st.session_state.get(NOTE_KEY)
    if note is not None and shown is not None and shown.key == note[0]:
        # That request's result is on screen after all (the run ended as it was cancelled,
        # or the analysis ahead made it): the note no longer says what the screen shows.
        st.session_state.pop(NOTE_KEY)
    elif note is not None and note[0] == request.key:
        (note_slot.error if note[1] == "error" else note_slot.info)(note[2])
    running = entry is not None and entry[0].running
    wanted = running and entry is not None and entry[0].key == request.key
    # The reader chose another case: that choice is the action (the last result stays on
    # screen meanwhile); the run going on, if any, stops first (_start).
    chosen = st.session_state.pop(CHOSEN_KEY, False)
    if chosen and shown is not None and shown.key != request.key and not wanted:
        _start(loaded, xp, request, meta, detections)
        entry = st.session_state[WORK_KEY]
        running = wanted = True
    first = shown is None and not running and not st.session_state.get(AUTO_KEY)
    # Nothing on screen yet and the page's own run is for another choice: follow the reader.
    follow = (
        shown is None
        and running
        and not wanted
        and entry is not None
        and entry[0].key == st.session_state.get(AUTO_RUN_KEY)
    )
    if first or follow or (shown is None and wanted):
        if first or follow:
            _start(loaded, xp, request, meta, detections, auto=True)  # nothing to lose
        work = st.session_state[WORK_KEY][0]
        box = run_slot
        with box.container():
            bar = st.empty()
            _progress(bar, work, meta)
            _cancel_button(work)
        return None, Pending(work, meta, box, bar)
    if not wanted and (shown is None or shown.key != request.key):
        where = ""
        if shown is not None:
            # The same model, case and view: say which settings it was made with.
            was = shown.analysis.settings if shown.analysis is not None else None
            changes = (
                request.settings.changes_from(was)
                if was is not None and shown.title == meta.title
                else []
            )
            made = f", made with {'; '.join(changes)}" if changes else ""
            where = f" The result below is still that of **{shown.title}**{made}."
        if running and entry is not None:
            where += f" Run stops the run of **{entry[1].title}** first."
        c1, c2 = ask_slot.container().columns([4, 1])
        c1.info(f"Not computed yet for **{meta.title}** with these settings.{where}")
        c2.button(
            "Run",
            key="predict_run",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_start,
            args=(loaded, xp, request, meta, detections),
            width="stretch",
        )
    if wanted and shown is not None and entry is not None:  # the reader's: it waits at its end
        work = entry[0]
        box = run_slot  # emptied when the run ends (no rerun of the page draws it again)
        with box.container():
            bar = st.empty()  # the progress, then (past the limit) the poll in its place
            _progress(bar, work, meta)
            _cancel_button(work)
        return shown, Pending(work, meta, box, bar, limit=WAIT_MAX_S)
    if running:
        with run_slot.container():
            _progress_ui()
    return shown, None


#: Seconds between a result's script run and the start of the next case's analysis ahead:
#: the browser is still drawing that result then (about 1 s on the 2-core machine, its main
#: thread busy), and an analysis beside it slowed the drawing.
NEXT_AHEAD_DELAY_S = 1.5


def analyse_next(
    loaded: LoadedModel,
    xp: Explainer,
    request: CaseRequest,
    detections: DetectionSettings | None,
) -> None:
    """With a result on screen and no run of this session going on: analyse ``request``
    (the next case, same model and settings) ahead, in the background, so that choosing
    it finds its result cached (:func:`mcalc.explain.runs.start_ahead`: one at a time per
    process, never beside a run a reader asked for; a reader who chooses it meanwhile
    waits for it). Off with ``MCALC_ANALYSE_AHEAD=0``."""
    entry = st.session_state.get(WORK_KEY)
    if not common.settings().analyse_ahead or (entry is not None and entry[0].running):
        return
    start_ahead(
        loaded,
        request,
        explainer=xp,
        results=predict_results(),
        image_cache=common.get_image_cache(),
        then=partial(made_ahead, detections),
        done=partial(log_work, common.settings().run_log),
        delay_s=NEXT_AHEAD_DELAY_S,
    )


# -- the case score: an explicit action ------------------------------------------------------


def _bar(slot: Any) -> ProgressFn:
    bars: list[Any] = []

    def report(done: int, total: int, message: str) -> None:
        if not bars:
            bars.append(slot.progress(0.0))
        bars[0].progress(min(done / max(total, 1), 1.0), text=message)

    return report


def case_score_ui(loaded: LoadedModel, xp: Explainer, request: CaseRequest, case_id: str) -> None:
    """Case-level score of every image of the case: cached at once, else on a button."""
    if not st.toggle(
        "Case-level score (scores every image of the case)",
        key="predict_case_all",
        persist_state="session",
    ):
        return
    held = st.session_state.get(CASE_SCORE_KEY)
    done = held[1] if held is not None and held[0] == request.key else None
    if done is None:
        done = cached_case(
            loaded, request, results=predict_results(), image_cache=common.get_image_cache()
        )
    if done is None:
        slot = st.empty()  # the button, then the progress in its place, then nothing
        with slot.container():
            clicked = st.button("Score every image of the case", key="predict_case_run")
            if not clicked:
                st.caption("Not computed yet: the model runs over every image of the case.")
        if not clicked:
            return
        slot.empty()
        done = run_case(
            loaded,
            request,
            _bar(slot),
            explainer=xp,
            results=predict_results(),
            image_cache=common.get_image_cache(),
        )
        slot.empty()
    st.session_state[CASE_SCORE_KEY] = (request.key, done)
    for s in done.skipped:
        st.caption(f"{s.key}: not scored ({s.message})")
    summary = done.summary()
    if summary is None:
        return
    cols = st.columns(1 + len(summary.by_timepoint))
    cols[0].metric(f"Case {case_id}", f"{summary.score:.3f}")
    for col, (tp, value) in zip(cols[1:], summary.by_timepoint.items(), strict=True):
        col.metric(f"{tp} exam", f"{value:.3f}")
    st.caption(f"Case score: {summary.rule} ({counted(summary.images, 'image')}).")
