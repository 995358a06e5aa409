"""Predict in the reading viewer (components/viewer): the analysed images with their maps,
regions and detections as layers the browser toggles and blends; a click on a region (or
a detection) is the one event that comes back. Payloads: :mod:`mcalc.present.reading` and
:mod:`mcalc.present.reading_overlays`."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mcalc.errors import ImageReadError
from mcalc.explain.service import CaseAnalysis
from mcalc.models.detection import Detection
from mcalc.present import predict_figures as figures
from mcalc.present.panel_cache import SentPixels
from mcalc.present.reading import reading_panel
from mcalc.present.reading_overlays import (
    colour_lut,
    map_layer,
    panel_pixels,
    pixel_payload,
    predict_layers,
    region_of_event,
)
from pages import common, viewer_component
from pages.predict_controls import Display
from pages.predict_run import Shown

VIEWER_KEY = "predict_viewer"
#: The viewer panels last built: ``(what they show, panels, pixels)``; not a widget.
PANELS_KEY = "predict_viewer_panels"
#: The pixel ids this session's viewer holds (:class:`SentPixels`), and the ``seq`` of the
#: viewer's last request for pixels it lacked; not widgets.
SENT_KEY = "predict_pixels_sent"
_ASKED_KEY = "predict_pixels_asked"


def _sent() -> SentPixels:
    sent = st.session_state.get(SENT_KEY)
    if not isinstance(sent, SentPixels):
        sent = st.session_state[SENT_KEY] = SentPixels()
    return sent


def _on_viewer_event() -> None:
    """Before the run: the viewer lacks some pixels (its frame was rebuilt): send them
    again. Other events (a region click) are left for the script to read."""
    event = st.session_state.get(VIEWER_KEY)
    if not isinstance(event, dict) or event.get("type") != "pixels":
        return
    if st.session_state.get(_ASKED_KEY) == event.get("seq"):
        return
    st.session_state[_ASKED_KEY] = event.get("seq")
    _sent().forget(str(k) for k in event.get("keys") or [])


def _maps(case: CaseAnalysis) -> list[tuple[str, Any]]:
    """The layers to send: the probability map, and the explanation when every image has
    one (``(name, OverlayMaps)``)."""
    out = [("probability", case.overlay_maps("probability"))]
    explained = case.overlay_maps("explanation")
    if explained.relative:
        out.append(("explanation", explained))
    return out


def viewer_panels(
    shown: Shown,
    case: CaseAnalysis,
    panels: list[figures.Panel],
    dets: list[list[Detection]] | None,
    display: Display,
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes, int, int]], list[str]]:
    """The viewer's panels (layers; each names its ``pixel_id``) and their pixels
    (:func:`panel_pixels`), built once per result, displayed images and detection settings
    (kept in the session); and the problems met."""
    what = (shown.key, display.mask, display.detections, tuple(p.result.key for p in panels))
    held = st.session_state.get(PANELS_KEY)
    if held is not None and held[0] == what:
        return held[1], held[2], []
    maps = _maps(case)
    max_side = common.settings().preview_max_side
    cache = common.get_image_cache()
    out, pixels, problems = [], [], []
    for n, p in enumerate(panels):
        rec = shown.records[p.result.key]
        try:
            panel = reading_panel(
                cache,
                rec,
                p.view,
                label=p.label,
                view_name=rec.view,
                time=rec.timepoint,
                max_side=max_side,
                with_pixels=False,
            )
            px = panel_pixels(cache, rec, p.view, max_side)
        except ImageReadError as exc:
            problems.append(f"{p.label}: the image cannot be read: {exc}")
            continue
        layers = [
            map_layer(m.maps[n], p.view, name=name, title=m.title, vmax=m.vmax, relative=m.relative)
            for name, m in maps
        ]
        panel["layers"] = predict_layers(
            p.view,
            p.result.key,
            layers,
            p.result.regions,
            p.result.pmap.factor,
            None if dets is None else dets[n],
        )
        panel["pixel_id"] = px[0]
        out.append(panel)
        pixels.append(px)
    if not problems:
        st.session_state[PANELS_KEY] = (what, out, pixels)
    return out, pixels, problems


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
    for text in problems:
        st.warning(text)
    if not vpanels:
        return None
    sent = _sent()
    todo = [px for px in pixels if px[0] not in sent]  # sent once per image and browser
    sent.add(px[0] for px in todo)
    first = "explanation" if display.show == "explanation" else "probability"
    event = viewer_component.reading_viewer(
        vpanels,
        case_key=f"{shown.key}|{display.mask}|{len(vpanels)}",
        key=VIEWER_KEY,
        height=600,
        overlays={
            "lut": colour_lut(display.cmap),
            "cmap": display.cmap,
            "opacity": display.opacity,
            "map": first,
        },
        pixels=pixel_payload(todo),
        on_change=_on_viewer_event,
    )
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
