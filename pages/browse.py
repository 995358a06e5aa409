"""Browse: the case table, and prior beside recent for CC and MLO with annotations."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from mcalc import viewer
from mcalc.dataset.records import CaseRecord, DatasetIndex
from mcalc.present import panel_cache, panel_prefetch
from mcalc.present.pixels import SentPixels
from mcalc.present.reading import hanging_note, laterality_note, without_dataset_marks
from mcalc.present.reading_temporal import (
    TemporalPanel,
    not_compared,
    temporal_args,
    temporal_bytes,
    temporal_offered,
    temporal_unavailable,
)
from mcalc.viewer import DisplayOptions
from pages import common, viewer_component
from pages.browse_cases import CASE_KEY, SHOWN_KEY, case_picker, step
from pages.browse_simple import temporal_ui, view_pair
from pages.browse_temporal import FOCUS_KEY, REGISTERING, case_temporal, temporal_tables
from pages.problems import laterality_problems, skipped_images_ui
from pages.server_tuning import log_work

common.frame()

VIEWER_KEY = "browse_viewer"
TEMPORAL_KEY = "browse_temporal_on"  # the viewer's temporal modes (registration) asked for
WAITED_KEY = "browse_ahead_waited"  # the case whose run last waited for the next one's pixels
ASKED_KEY = "browse_ahead_asked"  # the case whose viewer asked for the next one's pixels

#: How long a run waits for the next case's pixels when the viewer asked for them (they
#: could not go ahead with its case: the page's first run), and the step at which a
#: reader's click ends that wait (:func:`wait_for_ahead`).
AHEAD_WAIT_S = 5.0
AHEAD_STEP_S = 0.1
#: The cases after the current one made ahead (prefetched): each *Next* then builds the one
#: three ahead, with two clicks' time for it. With two, a build slower than a click (0.6-2 s
#: at load 8-10) still ran when its case was the next one: its pixels were not all sent
#: ahead, the case was not shown at the click and the click's run sent them (0.3-2.8 s;
#: docs/measurements.md, h/bswitch).
AHEAD_CASES = 3
USE_VIEWER_KEY = "browse_use_viewer"  # the reading viewer (on) or the simple one (off)
SENT_BYTES_KEY = "browse_sent_bytes"  # case id -> pixel bytes this session sent for it


@st.cache_data(show_spinner="Counting annotated calcifications…", max_entries=4)
def counted_table(_index: DatasetIndex, root: str, n_images: int) -> pd.DataFrame:
    """The case table with each case's annotated counts (merged once, not on every run)."""
    counts = viewer.case_counts(common.get_image_cache(), _index)
    # Images whose annotation file is missing: unknown, not "no calcification", so the
    # counts beside them are of the other images only (the column shows where there are).
    missing = {
        c.case_id: sum(r.annotation_missing is not None for r in c.images) for c in _index.cases
    }
    rows = [(case_id, *numbers, missing.get(case_id, 0)) for case_id, numbers in counts.items()]
    frame = pd.DataFrame(
        rows, columns=["case_id", "calcifications", "clusters", "regions", "unannotated"]
    )
    return _index.to_frame().merge(frame, on="case_id", how="left")


def filters_ui(frame: pd.DataFrame) -> pd.DataFrame:
    """Filter widgets over the case table; returns the filtered rows."""
    cols = st.columns(5)
    out = frame
    for col, (name, label) in zip(
        cols[:4],
        [
            ("birads", "BI-RADS"),
            ("density", "Density"),
            ("biopsy", "Biopsy"),
            ("laterality", "Side"),
        ],
        strict=True,
    ):
        options = sorted({str(v) for v in frame[name].dropna()})
        # "any", as the Calcifications filter beside them says: Streamlit's "Choose options"
        # read "Choose o" in a fifth of the page at 1024 px (1280 at 125 %, a projector's).
        chosen = col.multiselect(
            label,
            options,
            key=f"browse_filter_{name}",
            persist_state="session",
            placeholder="any",
        )
        if chosen:
            out = out[out[name].astype(str).isin(chosen)]
    if "calcifications" in frame:
        calc = cols[4].selectbox(
            "Calcifications",
            ["any", "with", "without"],
            key="browse_filter_calc",
            persist_state="session",
        )
        if calc == "with":
            out = out[(out["calcifications"] > 0) | (out.get("regions", 0) > 0)]
        elif calc == "without":
            out = out[(out["calcifications"] == 0) & (out.get("regions", 0) == 0)]
    return out


def display_ui(top: int = 4095, reading: bool = True) -> DisplayOptions:
    """Window/level, contrast and overlay controls (sidebar); returns the options.

    ``reading``: the reading viewer shows the case. It windows and inverts the 16-bit
    values in the browser and draws the radiologists' calcifications as markers and their
    clusters as outlines; the red overlay (its colour, its opacity) and CLAHE are the simple
    viewer's pictures, so their controls are drawn with that viewer only (in the reading
    viewer they changed nothing). Their values are kept meanwhile.
    """
    with st.sidebar:
        common.sidebar_heading("Display")
        window = common.window_controls("browse", top, clahe=not reading)
        common.sidebar_heading("Annotations")
        if not reading:
            show = st.toggle(
                "Radiologists' marks", value=True, key="browse_show_ann", persist_state="session"
            )
        marks = st.toggle(
            "Markers, cluster and region outlines",
            value=True,
            key="browse_show_marks",
            persist_state="session",
        )
        if reading:
            show = bool(st.session_state.get("browse_show_ann", True))
            color = str(st.session_state.get("browse_color", "#ff3030"))
            alpha = float(st.session_state.get("browse_alpha", 0.8))
            st.caption(
                "The reading viewer draws the radiologists' calcifications as cyan markers, "
                "their clusters as dotted outlines and an annotated region (a CBIS-DDSM ROI, "
                "a VinDr box, a MIAS circle) as a dashed orange outline (its Overlays "
                "button, or O, hides them too). The red overlay of the annotation and CLAHE "
                "are the simple viewer's: turn the reading viewer off to use them."
            )
        else:
            color = st.color_picker(
                "Overlay colour", "#ff3030", key="browse_color", persist_state="session"
            )
            alpha = st.slider(
                "Overlay opacity",
                0.0,
                1.0,
                0.8,
                0.05,
                key="browse_alpha",
                persist_state="session",
            )
    opts = DisplayOptions(
        **window,  # type: ignore[arg-type]
        show_annotations=show,
        overlay_color=color,
        overlay_alpha=alpha,
    )
    st.session_state["browse_marks"] = marks
    return opts


def metadata_ui(index: DatasetIndex, case: CaseRecord) -> None:
    """The case's facts, and once what its hanging lacks (mini-MIAS: MLO images only, of one
    round; a CBIS-DDSM case without its MLO image), where a warning per empty panel was."""
    st.markdown("  ·  ".join(f"{k} **{v}**" for k, v in case.facts()))
    note = hanging_note(case, index.views(), index.rounds())
    if note:
        st.caption(note)
    sides = laterality_note(case, laterality_problems(index))
    if sides:
        st.caption(f":orange[:material/warning: {sides}]")


index = common.require_index()
st.title("Browse")
common.synthetic_banner(index)

if len(index.images()) <= 120 or st.toggle(
    "Count calcifications per case (reads every annotation once)",
    key="browse_count",
    persist_state="session",
):
    frame = counted_table(index, str(index.root), len(index.images()))
    skipped_images_ui(index, "browse_check_images")
else:
    frame = index.to_frame()
columns = [
    c
    for c in [
        "case_id",
        "laterality",
        "age",
        "density",
        "birads",
        "biopsy",
        "years_between",
        "calcifications",
        "clusters",
        "regions",
        "unannotated",
    ]
    if c in frame and (c not in ("regions", "unannotated") or frame[c].fillna(0).any())
]
# A missing value is "not available", which the table says (common.dataframe: a blank
# "None" read as "no biopsy"); the case's line below says "n/a" too.
table = filters_ui(frame)[columns]
case = case_picker(index, table)
if case is None:
    st.stop()
# The reading viewer shows the case unless the reader turned it off (its toggle is drawn
# below, with the viewer) or it is not built.
reading = viewer_component.available() and bool(st.session_state.get(USE_VIEWER_KEY, True))
opts = display_ui(viewer.value_top(common.get_image_cache(), case), reading)
metadata_ui(index, case)
max_side = common.settings().preview_max_side


def _prefetch_logged() -> Callable[[str, float, float], None]:
    """What a prefetch thread calls at its end: a line in the run log (``MCALC_RUN_LOG``,
    the benches' timelines; nothing without one). The path is read here, in the run."""
    run_log = common.settings().run_log

    def done(cases: str, end: float, wall: float) -> None:
        log_work(run_log, f"prefetch {cases}", "done", end, wall)

    return done


def _sent() -> SentPixels:
    """The pixel ids this session's browser tab holds, across runs and page switches, for
    every page (:func:`pages.viewer_component.sent_pixels`): a return to Browse, or a case
    whose images Predict or Annotate showed, sends ids alone."""
    return viewer_component.sent_pixels()


def _on_viewer_event() -> None:
    """Before the run: the viewer's next/previous case, its Temporal button and its
    request for pixels it lacks take effect, so the run draws the result at once."""
    event = viewer_component.new_event(st.session_state.get(VIEWER_KEY), VIEWER_KEY)
    kind = event.get("type") if event else None
    if kind in ("next", "previous"):
        ids = st.session_state.get(SHOWN_KEY, [])
        target = step(ids, st.session_state.get(CASE_KEY), 1 if kind == "next" else -1)
        if target is not None:
            st.session_state[CASE_KEY] = target
    elif kind == "temporal":
        st.session_state[TEMPORAL_KEY] = True
    elif kind == "ahead" and event is not None:
        st.session_state[ASKED_KEY] = str(event.get("case"))
    elif kind == "pixels" and event is not None:
        _sent().forget(str(k) for k in event.get("keys") or [])


def neighbours(
    case: CaseRecord | None,
    behind: CaseRecord | None,
    opts: DisplayOptions,
    sent: SentPixels,
) -> dict[str, Any]:
    """The cases *Next ▶* (``case``) and *◀ Previous* (``behind``) lead to, with their
    panels, when the browser holds their pixels: the viewer shows them at the click."""
    cache = common.get_image_cache()
    out: dict[str, Any] = {}
    for name, other, button in (("next", case, "browse_next"), ("previous", behind, "browse_prev")):
        panels = panel_cache.held_panels(cache, other, opts, max_side, sent) if other else None
        if panels and not st.session_state.get("browse_marks", True):
            panels = without_dataset_marks(panels)
        if panels and other is not None:
            out[name] = {"case_key": other.case_id, "panels": panels, "button": button}
    return out


def ask_ahead(
    case: CaseRecord, nxt: CaseRecord | None, opts: DisplayOptions, sent: SentPixels
) -> bool:
    """Whether the viewer, once it has ``case``'s render and pixels, asks for ``nxt``'s
    pixels (``{"type": "ahead"}``: :func:`wait_for_ahead` then waits for them and sends
    them): a run that sent its own case's pixels (the page's first run, a case picked in
    the table) but not ``nxt``'s (not made yet), once per case.

    The server does not rerun on its own for them: a rerun before the viewer's frame was
    ready (a page load: Cornerstone starting) replaced the render that carried the case's
    pixels (Streamlit hands a component only its latest arguments), and the viewer then
    asked for them and got them a second time (3.8 MB more per page load on the demo
    set; docs/measurements.md, 4 December 2026). The viewer asks once it has the render
    with the pixels, so they reach it once."""
    if nxt is None or st.session_state.get(WAITED_KEY) == case.case_id:
        return False
    cache = common.get_image_cache()
    return panel_cache.held_panels(cache, nxt, opts, max_side, sent) is None


def wait_for_ahead(case: CaseRecord, nxt: CaseRecord, opts: DisplayOptions) -> None:
    """Before a run's payload, when ``case``'s viewer asked for ``nxt``'s pixels
    (:func:`ask_ahead`): wait for their prefetch (the case is on screen meanwhile, at most
    :data:`AHEAD_WAIT_S`), so that this run sends them (by URL) and offers ``nxt`` for the
    viewer to show at the click: the first *Next* is then like the others. Once per case
    (a prefetch that failed is not waited for again); a click meanwhile ends the wait at
    its next step (:func:`pages.common.rerun_asked`; the run's next element then lets
    Streamlit end it)."""
    if st.session_state.get(WAITED_KEY) == case.case_id:
        return
    st.session_state[WAITED_KEY] = case.case_id
    keys = panel_cache.case_keys(common.get_image_cache(), nxt, opts, max_side)
    if keys is None:
        return
    end = time.monotonic() + AHEAD_WAIT_S
    while not panel_cache.keys_ready(keys):
        if time.monotonic() >= end or not panel_prefetch.keys_prefetching(keys):
            return
        time.sleep(AHEAD_STEP_S)
        if common.rerun_asked():
            return


def _count_sent(case: CaseRecord, ahead: list[CaseRecord], now: int, now_ahead: int) -> None:
    """Add a run's pixel bytes to what this session sent for each case (``ahead``: the one
    case whose pixels went ahead), for the caption under the viewer."""
    given: dict[str, int] = st.session_state.setdefault(SENT_BYTES_KEY, {})
    for other, size in ((case, now), *((c, now_ahead) for c in ahead)):
        if size:
            given[other.case_id] = given.get(other.case_id, 0) + size


def _size(n: int) -> str:
    """Bytes in words: MB from 0.1 MB, kB below ("0.0 MB" read as nothing sent).

    >>> _size(3_800_000), _size(42_000)
    ('3.8 MB', '42 kB')
    """
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def reading_ui(
    rounds: tuple[str, ...],
    case: CaseRecord,
    opts: DisplayOptions,
    ahead: list[CaseRecord],
    behind: CaseRecord | None,
) -> bool:
    """The reading workstation for the case (``rounds``: the collection's,
    :meth:`DatasetIndex.rounds`); False when it cannot be shown."""
    if not viewer_component.available():
        st.warning(
            "The reading viewer is not built (components/viewer/dist is missing): "
            "showing the simple viewer below."
        )
        return False
    cache = common.get_image_cache()
    if ahead and st.session_state.pop(ASKED_KEY, None) == case.case_id:
        wait_for_ahead(case, ahead[0], opts)  # the viewer has the case: its next one now
    sent = _sent()
    # The spinner only where images are still to be made: a spinner is a thread and a message
    # to the browser on every run, though a toggle or a prefetched case shows in milliseconds.
    ready = panel_cache.case_ready(cache, case, opts, max_side)
    with contextlib.nullcontext() if ready else st.spinner("Loading the images…"):
        payload = panel_cache.case_payload(
            cache, case, opts, max_side, sent, ahead=ahead[:1], ahead_apart=True
        )
    # The next case's pixels go apart (fetched by URL once this case is drawn), so that a
    # switch's message carries only the switch; in the render when there is no media store.
    apart = viewer_component.pixels_apart(payload.ahead_index, payload.ahead_data, VIEWER_KEY)
    index, data = (payload.index, payload.data) if apart else payload.with_ahead()
    panels, problems = payload.panels, payload.problems
    _count_sent(case, ahead[:1], len(payload.data), len(payload.ahead_data))
    if not st.session_state.get("browse_marks", True):  # the sidebar's "Markers and outlines"
        panels = without_dataset_marks(panels)
    for text in problems:
        st.warning(text)
    if not panels:
        panel_prefetch.prefetch_cases(cache, ahead, opts, max_side, done=_prefetch_logged())
        return True
    # The reader zoomed past the preview: the case's images at full resolution.
    # (the views of the cached panels: no preview made or copied again on a toggle)
    views = panel_cache.case_views(cache, case, opts, max_side)
    fullres = viewer_component.fullres_answer(
        VIEWER_KEY,
        case.case_id,
        [r for r in case.images if r.key in views],
        lambda rec: views[rec.key],
    )
    # What the data cannot show is not offered (a one-round collection: its manifest has
    # recent images only): no toggle, no Temporal button or T key in the viewer, one caption.
    why_not = temporal_unavailable(case, rounds)
    if why_not:
        st.caption(why_not)
    on = not why_not and st.toggle(
        "Temporal views: register the prior to the recent exam (subtraction, flicker and "
        "swipe in the viewer's toolbar; T and K keys)",
        key=TEMPORAL_KEY,
        persist_state="session",
        help="The registration runs once per case when this is on (a few seconds per view) "
        "and is cached; switching between the modes then happens in the browser.",
    )
    tpanels: list[TemporalPanel] = []
    temporal = None if why_not else temporal_offered()
    if on:
        with st.spinner(REGISTERING, show_time=True):  # in the page's flow, above the viewer
            tpanels, tproblems = case_temporal(case, opts, max_side)
        for text in tproblems:
            st.warning(text)
        temporal = temporal_args(
            tpanels, case.years_between, tproblems, not_compared(case, tpanels)
        )
    focus = st.session_state.get(FOCUS_KEY)
    if focus and focus.get("case") != case.case_id:  # a spot of another case
        focus = None
    viewer_component.reading_viewer(
        panels,
        case_key=case.case_id,
        key=VIEWER_KEY,
        fullres=fullres,
        temporal=temporal,
        focus=focus,
        pixels=(index, data),
        pixels_ahead=apart,
        # Shown at the click only as this viewer is (no temporal panels): else the run.
        neighbours=None if tpanels else neighbours(next(iter(ahead), None), behind, opts, sent),
        # The browser lacked this case (a page load, a jump): the viewer asks for the next one.
        ask_ahead=bool(payload.data) and ask_ahead(case, next(iter(ahead), None), opts, sent),
        on_change=_on_viewer_event,
        # The next AHEAD_CASES cases' panels meanwhile (started once the viewer's message is
        # out: the thread then does not compete with it): the next one's pixels go (by URL) with
        # the next run that finds them ready, so "Next" finds them in the browser already
        # (and the viewer shows that case at the click). Started only after this run's end
        # instead, the prefetch more often still ran when the next click came
        # (docs/measurements.md).
        drawn=partial(
            panel_prefetch.prefetch_cases, cache, ahead, opts, max_side, done=_prefetch_logged()
        ),
    )
    with viewer_component.below():  # under the viewer app.py draws after this page
        extra = temporal_bytes(temporal)
        # What this page sent for the case, over its runs: a first open's last run (the
        # viewer's ask for the next case) sends none of it, and the caption said "none this
        # time: this browser holds them" in a browser that had just been sent them.
        given = st.session_state.get(SENT_BYTES_KEY, {}).get(case.case_id, 0)
        sent_text = (
            f"{_size(given)} for this case, compressed"
            if given
            else "none from this page: this browser held them already"
        )
        st.caption(
            f"{len(panels)} image{'' if len(panels) == 1 else 's'}; 16-bit pixels sent once per image and browser ({sent_text})"
            + (f" (+ {extra / 1e6:.1f} MB for the temporal views)" if extra else "")
            + ". Wheel zooms, left drag pans, right drag sets window/level; press ? on the "
            "images for all keys."
        )
        if tpanels and temporal is not None:
            temporal_tables(case.case_id, tpanels, str(temporal["summary"]))
    return True


use_viewer = st.toggle(
    "Reading viewer (zoom, window/level and measuring in the browser)",
    value=True,
    key=USE_VIEWER_KEY,
    persist_state="session",
    help="Off: the simple viewer (images as pictures; every change goes to the server).",
)
ids = list(table["case_id"])
# From a case the filters leave out, Next opens the first filtered case: made ahead too.
ahead = (
    index.next_cases(ids, case.case_id, AHEAD_CASES)
    if case.case_id in ids
    else [index.case(i) for i in ids[:AHEAD_CASES]]
)
behind = index.previous_case(ids, case.case_id)
if not (use_viewer and reading_ui(index.rounds(), case, opts, ahead, behind)):
    if ahead:  # decode the next case meanwhile: "Next" then finds it ready
        viewer.prefetch_in_background(common.get_image_cache(), ahead[0].images, max_side)
    st.caption("Simple viewer (fallback): images are 8-bit pictures windowed on the server.")
    for view in case.views:  # what the case lacks: said once under its facts
        st.header(view)
        view_pair(case, view, opts, max_side)
    temporal_ui(case, max_side, temporal_unavailable(case, index.rounds()))
