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
from mcalc.present.reading import reading_panel
from mcalc.present.reading_overlays import colour_lut, map_layer, predict_layers, region_of_event
from pages import common, viewer_component
from pages.predict_controls import Display
from pages.predict_run import Shown

VIEWER_KEY = "predict_viewer"
#: The viewer panels last built: ``(what they show, panels)``; not a widget.
PANELS_KEY = "predict_viewer_panels"


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
) -> tuple[list[dict[str, Any]], list[str]]:
    """The viewer's panels (16-bit pixels and layers), built once per result, displayed
    images and detection settings (kept in the session); and the problems met."""
    what = (shown.key, display.mask, display.detections, tuple(p.result.key for p in panels))
    held = st.session_state.get(PANELS_KEY)
    if held is not None and held[0] == what:
        return held[1], []
    maps = _maps(case)
    max_side = common.settings().preview_max_side
    out, problems = [], []
    for n, p in enumerate(panels):
        rec = shown.records[p.result.key]
        try:
            panel = reading_panel(
                common.get_image_cache(),
                rec,
                p.view,
                label=p.label,
                view_name=rec.view,
                time=rec.timepoint,
                max_side=max_side,
            )
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
        out.append(panel)
    if not problems:
        st.session_state[PANELS_KEY] = (what, out)
    return out, problems


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
    vpanels, problems = viewer_panels(shown, case, panels, dets, display)
    for text in problems:
        st.warning(text)
    if not vpanels:
        return None
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
