"""Predict in the reading viewer (components/viewer): the analysed images with their maps,
regions and detections as layers the browser toggles and blends; a click on a region (or
a detection) is the one event that comes back. Payloads: :mod:`mcalc.present.reading` and
:mod:`mcalc.present.reading_overlays`."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.explain.service import CaseAnalysis
from mcalc.models.detection import Detection
from mcalc.present import predict_figures as figures
from mcalc.present.pixels import Pixels, SentPixels
from mcalc.present.reading import reading_panel
from mcalc.present.reading_overlays import (
    colour_lut,
    map_layer,
    overlay_grids,
    panel_pixels,
    pixel_payload,
    predict_layers,
    region_of_event,
    viewer_maps,
)
from mcalc.viewer import ImageView
from pages import common, viewer_component
from pages.predict_controls import Display
from pages.predict_run import CASE_IDS_KEY, CASE_WIDGET, Shown, case_chosen
from pages.views import file_now

VIEWER_KEY = "predict_viewer"
#: The viewer panels last built: ``(what they show, panels, pixels)``; not a widget.
PANELS_KEY = "predict_viewer_panels"
#: Panels made (:func:`_panel`), at most MEMO_ITEMS; not a widget.
MEMO_KEY = "predict_viewer_panel_memo"
MEMO_ITEMS = 8
#: Pixels made ahead (:func:`prefetch`), sent with the viewer's next draw; not a widget.
AHEAD_KEY = "predict_pixels_ahead"
#: Set by the viewer's next/previous case (:func:`case_moved`); not a widget.
MOVED_KEY = "predict_viewer_moved"


def _sent() -> SentPixels:
    """The pixel ids this session's browser tab holds, for every page, across page
    switches (:func:`pages.viewer_component.sent_pixels`): a return to Predict, or a first
    visit on images Browse or Annotate showed, sends ids alone."""
    return viewer_component.sent_pixels()


def _on_viewer_event() -> None:
    """Before the run: the viewer lacks some pixels (its frame was rebuilt): send them
    again; its *Case ▶* / *◀ Case* (or N / P) open the next or previous case of the Case
    box, whose analysis starts as a pick there does (:func:`case_moved`). Other events (a region click) are
    left for the script to read (handed out under the viewer's own key there, so these
    are under keys of their own)."""
    event = st.session_state.get(VIEWER_KEY)
    if not isinstance(event, dict):
        return
    kind = event.get("type")
    if kind == "pixels" and viewer_component.new_event(event, f"{VIEWER_KEY}:pixels"):
        _sent().forget(str(k) for k in event.get("keys") or [])
    elif kind in ("next", "previous") and viewer_component.new_event(event, f"{VIEWER_KEY}:case"):
        ids = st.session_state.get(CASE_IDS_KEY) or []
        current = st.session_state.get(CASE_WIDGET)
        pos = ids.index(current) + (1 if kind == "next" else -1) if current in ids else -1
        if 0 <= pos < len(ids):
            st.session_state[CASE_WIDGET] = ids[pos]
            st.session_state[MOVED_KEY] = True
            case_chosen()


def case_moved() -> bool:
    """Whether the viewer's *Case ▶* / *◀ Case* just moved the Case box: the viewer sits
    in the result's fragment, whose rerun alone would not draw the new case, so the
    fragment then reruns the page (once)."""
    return bool(st.session_state.pop(MOVED_KEY, False))


def _panel(
    rec: ImageRecord, view: ImageView, label: str, mask: bool
) -> tuple[dict[str, Any], Pixels]:
    """A viewer panel without layers, naming its ``pixel_id``, and its pixels; the panel
    is kept in the session per pixel id, label and annotation display (its windows'
    percentiles cost a few hundred ms on this machine), so that a panel made ahead
    (:func:`prefetch`, the first visit's images) is not made again for the result."""
    cache = common.get_image_cache()
    max_side = common.settings().preview_max_side
    px = panel_pixels(cache, rec, view, max_side)
    # The marks come from the annotation file, which the pixel id leaves out: keyed too.
    key = (px[0], label, mask, file_now(rec.annotation_path))
    held: dict[tuple[object, ...], dict[str, Any]] = st.session_state.setdefault(MEMO_KEY, {})
    panel = held.get(key)
    if panel is None:
        panel = reading_panel(
            cache,
            rec,
            view,
            label=label,
            view_name=rec.view,
            time=rec.timepoint,
            max_side=max_side,
            with_pixels=False,
        )
        panel["pixel_id"] = px[0]
        while len(held) >= MEMO_ITEMS:
            del held[next(iter(held))]
        held[key] = panel
    return dict(panel), px  # a copy: the caller adds its layers


def prefetch(meta: Shown, views: dict[str, ImageView], mask: bool) -> None:
    """Make the panels and pixels of ``meta``'s images ahead (while its analysis runs), so
    that the run drawing its result finds them made, and send the pixels with the next
    draw of the viewer (it keeps them, inflated, until the result shows them)."""
    ahead: list[Pixels] = st.session_state.setdefault(AHEAD_KEY, [])
    for key, view in views.items():
        try:
            ahead.append(_panel(meta.records[key], view, meta.labels[key], mask)[1])
        except ImageReadError:
            continue  # the result says so


def viewer_panels(
    shown: Shown,
    case: CaseAnalysis,
    panels: list[figures.Panel],
    dets: list[list[Detection]] | None,
    display: Display,
) -> tuple[list[dict[str, Any]], list[Pixels], list[str]]:
    """The viewer's panels (layers; each names its ``pixel_id``) and their pixels
    (:func:`panel_pixels`), built once per result, displayed images and detection settings
    (kept in the session); and the problems met."""
    what = (
        shown.key,
        display.mask,
        display.detections,
        tuple(p.result.key for p in panels),
        tuple(file_now(r.annotation_path) for r in shown.records.values()),  # the marks' file
    )
    held = st.session_state.get(PANELS_KEY)
    if held is not None and held[0] == what:
        return held[1], held[2], []
    # Made in the analysis' thread as it ended (pages.predict_run.made_ahead): only mirrored here.
    maps = [(name, m, overlay_grids(m)) for name, m in viewer_maps(case)]
    out, pixels, problems = [], [], []
    for n, p in enumerate(panels):
        try:
            panel, px = _panel(shown.records[p.result.key], p.view, p.label, display.mask)
        except ImageReadError as exc:
            problems.append(f"{p.label}: the image cannot be read: {exc}")
            continue
        layers = [
            map_layer(
                m.maps[n],
                p.view,
                name=name,
                title=m.title,
                vmax=m.vmax,
                relative=m.relative,
                grid=grids[n],
            )
            for name, m, grids in maps
        ]
        panel["layers"] = predict_layers(
            p.view,
            p.result.key,
            layers,
            p.result.regions,
            p.result.pmap.factor,
            None if dets is None else dets[n],
            case.threshold,  # those under it are drawn muted (their `called` flag)
            score=p.result.score,  # an image it does not call: its rings muted too
        )
        out.append(panel)
        pixels.append(px)
    if not problems:
        st.session_state[PANELS_KEY] = (what, out, pixels)
    return out, pixels, problems


def _draw(
    key: str,
    vpanels: list[dict[str, Any]],
    pixels: list[Pixels],
    display: Display,
    sent: SentPixels,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The viewer element (one per run, at one place: the first visit's images and the
    result after them are the same case, so the browser only adds the layers), and the
    pixel ids this draw sent (those the tab held, whatever page sent them, go as ids
    alone); ``sent``: this run's :func:`_sent`."""
    ahead = st.session_state.pop(AHEAD_KEY, [])  # the images of a run going on
    todo = {px[0]: px for px in [*pixels, *ahead] if px[0] not in sent}
    sent.add(todo)  # sent once per image and browser
    first = "explanation" if display.show == "explanation" else "probability"
    event = viewer_component.reading_viewer(
        vpanels,
        case_key=f"{key}|{display.mask}|{len(vpanels)}",
        key=VIEWER_KEY,
        height=600,
        overlays={
            "lut": colour_lut(display.cmap),
            "cmap": display.cmap,
            "opacity": display.opacity,
            "map": first,
        },
        pixels=pixel_payload(list(todo.values())),
        on_change=_on_viewer_event,
        # Its own frame, in the overlay fragment: a region click reruns that fragment only
        # (an entrypoint's viewer, kept across page switches, would rerun the whole page).
        in_slot=False,
    )
    return event, list(todo)


def pending_viewer_ui(meta: Shown, views: dict[str, ImageView], display: Display) -> None:
    """The images of ``meta`` (no layers yet) while its analysis runs: the frame, its
    bundle and the pixels load meanwhile; the result then adds its layers to this case."""
    vpanels, pixels = [], []
    for key, view in views.items():
        try:
            panel, px = _panel(meta.records[key], view, meta.labels[key], display.mask)
        except ImageReadError:
            continue  # the result says so
        vpanels.append(panel)
        pixels.append(px)
    if vpanels:
        sent = _sent()
        _, carried = _draw(meta.key, vpanels, pixels, display, sent)
        # Those this draw carried are sent again with the result: a frame ready only after
        # the result's arguments had replaced these (a busy browser) never saw them and
        # would ask for them (one more run, the same bytes later); a frame that holds them
        # skips them (pixels.ts). Those the tab held before (another page sent them: the
        # viewer takes them from the tab's keep with whichever render it reads) are not.
        shown = {px[0] for px in pixels}
        sent.forget(pid for pid in carried if pid in shown)


def viewer_ui(
    shown: Shown,
    case: CaseAnalysis,
    panels: list[figures.Panel],
    dets: list[list[Detection]] | None,
    display: Display,
) -> tuple[str, int] | bool | None:
    """Draw the viewer; returns the region a click selected (``(image key, rank)``),
    ``None`` when nothing was clicked, ``False`` when a clicked detection lies in no listed
    region (the page says so)."""
    vpanels, pixels, problems = viewer_panels(shown, case, panels, dets, display)
    event = _draw(shown.key, vpanels, pixels, display, _sent())[0] if vpanels else None
    for text in problems:  # after the viewer: its element keeps its place (and its frame)
        st.warning(text)
    if not vpanels:
        return None
    event = viewer_component.new_event(event, VIEWER_KEY)
    st.caption(
        "Maps, regions and detections are layers of the viewer: choose the map (M), its "
        "opacity (slider, [ and ]), regions (E) and detections (D) in its toolbar; the colour "
        "scale shows the map's value range. Click a region's box (or a detection) for its "
        "detail below. Wheel zooms, right drag sets window/level; ? lists every key."
    )
    if not event or event.get("type") != "region":
        return None
    try:
        chosen = region_of_event(
            event,
            {p.result.key: p.result.regions for p in panels},
            None
            if dets is None
            else {
                p.result.key: (p.result.pmap.factor, d) for p, d in zip(panels, dets, strict=True)
            },
        )
    except ValueError as exc:
        st.warning(f"That click selected nothing: {exc}")
        return None
    return False if chosen is None else chosen
