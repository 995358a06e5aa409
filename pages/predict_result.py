"""Predict's drawing of a result on screen: scores, the overlay with regions and
detections, the full-resolution zoom, the tables, the verdict form.

The figure, the regions table and the zoom form one fragment: a click on a region reruns
that fragment only, with the figure built once per result and display settings (kept in
the session), and no model call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.explain.scoring import threshold_label
from mcalc.explain.service import MAP_SCORE, CaseAnalysis
from mcalc.models.detection import Detection
from mcalc.present import predict_figures as figures
from mcalc.viewer import DisplayOptions, ImageView, crop_view
from pages import common, predict_viewer, theme, viewer_component
from pages.predict_controls import Display
from pages.predict_run import Shown, pop_prefetch
from pages.views import cached_view

REGION_KEY = "predict_region"  # (image key, rank) of the region zoomed on; not a widget
#: The overlay figure last built: ``(what it shows, figure)``; not a widget.
FIGURE_KEY = "predict_figure"
#: Detections last found: ``(result key, settings, one list per panel)``; not a widget.
DETECTIONS_KEY = "predict_detections_found"
#: Expanders whose tables are drawn only while open (:func:`pages.common.opened_section`).
DETECTIONS_OPEN, AGREEMENT_OPEN = "predict_detections_open", "predict_agreement_open"
REGIONS_OPEN = "predict_regions_open"


def panels_ui(shown: Shown, opts: DisplayOptions) -> tuple[CaseAnalysis, list[figures.Panel]]:
    """The shown images that can be drawn, and the analysis restricted to them."""
    analysis = shown.analysis
    assert analysis is not None
    settings = common.settings()
    panels = []
    for r in analysis.images:
        try:
            v = cached_view(shown.records[r.key], opts, settings.preview_max_side, shown.laterality)
        except ImageReadError as exc:
            st.error(f"{shown.labels[r.key]}: the image cannot be read: {exc}")
            continue
        panels.append(figures.Panel(shown.labels[r.key], v, r))
    if len(panels) == len(analysis.images):  # the analysis itself: what it made is kept
        return analysis, panels  # (its layers' maps and grids: predict_run.made_ahead)
    return replace(analysis, images=[p.result for p in panels]), panels


def skipped_ui(case: CaseAnalysis, labels: dict[str, str]) -> None:
    for s in case.skipped:
        where = labels.get(s.key, s.key)
        if s.kind == "no-breast":
            st.warning(f"{where}: {s.message}")
        elif s.kind == "no-prior":  # a temporal model reads recent images with their prior
            st.info(f"{where}: {s.message}")
        elif s.kind == "unreadable":
            st.error(f"{where}: the image cannot be read: {s.message}")
        else:
            st.error(f"{where}: {s.message}")


def scores_ui(case: CaseAnalysis, panels: list[figures.Panel]) -> None:
    # Aligned at the bottom: the scores stay on one line when a label wraps (narrow page).
    cols = st.columns(len(panels) + 1, vertical_alignment="bottom")
    for col, p in zip(cols[: len(panels)], panels, strict=True):
        r = p.result
        col.metric(
            figures.panel_score_label(p),
            f"{r.score:.3f}",
            help=f"{MAP_SCORE.capitalize()}: {r.scores.rule}, {r.scores.patches} patches "
            "classified; "
            f"{case.threshold.reading(r.score, r.scores.positive_class)}.",
        )
    if len(panels) > 1:
        change = figures.score_change(panels[0].result.score, panels[-1].result.score)
        cols[-1].metric(f"Change in {MAP_SCORE} (recent − prior)", change)
    st.caption(figures.case_caption(case))


def detections_of(
    shown: Shown, panels: list[figures.Panel], display: Display
) -> list[list[Detection]] | None:
    """Each panel's detections at the display's settings (found once per result and
    settings, then kept in the session), or ``None`` when detections are off."""
    det = display.detections
    if det is None:
        return None
    keys = tuple(p.result.key for p in panels)
    held = st.session_state.get(DETECTIONS_KEY)
    if held is not None and held[:3] == (shown.key, det, keys):
        return held[3]
    found = [p.result.detections(det) for p in panels]
    st.session_state[DETECTIONS_KEY] = (shown.key, det, keys, found)
    return found


def _figure(shown: Shown, case: CaseAnalysis, panels, display: Display, dets) -> Any:
    """The overlay figure, rebuilt only when the result or a display setting changes."""
    what = (shown.key, display, tuple(p.result.key for p in panels))
    held = st.session_state.get(FIGURE_KEY)
    if held is not None and held[0] == what:
        return held[1]
    overlay = case.overlay_maps(display.show)
    fig = figures.overlay_figure(
        panels,
        overlay,
        opacity=display.opacity,
        cmap=display.cmap,
        show_marks=display.marks,
        detections=dets,
        operating=case.threshold.value,  # those below it dashed and grey
    )
    st.session_state[FIGURE_KEY] = (what, fig)
    return fig


@st.fragment
def overlay_ui(
    shown: Shown,
    case: CaseAnalysis,
    panels: list[figures.Panel],
    display: Display,
    dets: list[list[Detection]] | None,
    opts: DisplayOptions,
    use_viewer: bool = False,
) -> None:
    """Figure (or the reading viewer), regions table and zoom: a region click reruns this
    fragment only."""
    if predict_viewer.case_moved():  # the viewer's next/previous case: the page draws it
        st.rerun()
    if use_viewer:
        chosen = predict_viewer.viewer_ui(shown, case, panels, dets, display)
        if chosen is False:
            st.info(
                "That detection lies in none of the listed regions (under the region "
                "threshold, beyond the most regions, or beside a stronger one's patch): lower "
                "the region threshold or raise the most regions (sidebar, Sliding window)."
            )
        elif chosen:
            st.session_state[REGION_KEY] = chosen
    else:
        st.caption(figures.overlay_caption(case.overlay_maps(display.show)))
        event = st.plotly_chart(
            theme.styled(_figure(shown, case, panels, display, dets)),
            width="stretch",
            on_select="rerun",
            selection_mode=("points",),
            key=f"predict_fig_{shown.view}",
            config={"scrollZoom": True, "displaylogo": False},
        )
        _region_from_click(event)
    regions_ui(case, panels)
    zoom_ui(case, panels, shown.records, display, opts)


def _region_from_click(event: Any) -> None:
    try:
        points = event.selection["points"]
    except (AttributeError, KeyError, TypeError):
        return
    for point in reversed(points or []):
        data = point.get("customdata")
        if isinstance(data, list | tuple) and len(data) == 2 and isinstance(data[0], str):
            st.session_state[REGION_KEY] = (str(data[0]), int(data[1]))
            return


#: Scores to 3 decimals in both tables (the data frame's own rendering trimmed trailing
#: zeros: 0.9849 above 0.979).
SCORE_COLUMN = st.column_config.NumberColumn("score", format="%.3f")
#: The regions table's centre, in the unit the change tables and the detections' caption
#: name: full-resolution pixels of the file (``Region.center``).
#: The image's key names a picked row's region; the image's label is what the reader reads.
REGION_COLUMNS = {
    "score": SCORE_COLUMN,
    **common.full_res_columns("the region's"),
    "patch side (mm)": st.column_config.NumberColumn(
        "patch side (mm)",
        help="the side of the model patch the region is, the same for every region: not the "
        "finding's size (the Detections table gives a detection's)",
    ),
    "key": None,
}


def regions_ui(case: CaseAnalysis, panels: list[figures.Panel]) -> None:
    below = (
        case.threshold.value
        if case.settings.sliding.min_region_score < case.threshold.value
        else None
    )
    table = pd.DataFrame(figures.regions_table(panels, below))
    if table.empty and case.settings.sliding.max_regions == 0:
        st.info("Most regions is 0 (sidebar, Sliding window): no region is listed.")
        return
    least = case.settings.sliding.min_region_score
    if table.empty:
        if least == case.threshold.value:
            st.info(
                f"No detection scores {case.threshold.text} or more (the model's operating "
                "threshold), so no region is listed: the model reads these images as not "
                f"{panels[0].result.scores.positive_class if panels else 'the positive class'}. To list weaker regions, which "
                "the model does not call, turn off 'Regions at the model's operating "
                "threshold' (sidebar, Sliding window) and lower the region threshold."
            )
        else:
            st.info(
                f"No detection scores {threshold_label(least)} or more (the region threshold), "
                "so no region is listed: a region is a patch centred on one of the top "
                "detections. Lower the region threshold (sidebar, Sliding window) to list "
                "weaker ones."
            )
        return
    # Drawn only while its section is open, as the detections and agreement tables: in a
    # fresh tab the first data grid loads and runs Streamlit's DataFrame code (1.2 MB) and
    # renders the grid, 0.12-0.16 s of the page's main thread on a first visit by address
    # (docs/measurements.md, 5 December 2026, h/first). The regions are in the viewer too
    # (boxes to click).
    box = common.opened_section("Regions table", REGIONS_OPEN)
    if box is None:
        return
    with box:
        st.caption(figures.regions_caption(case))
        event = common.dataframe(
            table,
            hide_index=True,
            width="stretch",
            on_select="rerun",
            selection_mode="single-row",
            key="predict_regions_table",
            column_config=REGION_COLUMNS,
        )
    picked = list(event.selection.rows) if event is not None else []
    if picked and st.session_state.get("predict_last_rows") != picked:
        row = table.iloc[picked[0]]
        st.session_state[REGION_KEY] = (str(row["key"]), int(row["region"]))
    st.session_state["predict_last_rows"] = picked


def zoom_ui(
    case: CaseAnalysis,
    panels: list[figures.Panel],
    records: dict[str, ImageRecord],
    display: Display,
    opts: DisplayOptions,
) -> None:
    """The selected region at full resolution (a crop only), with its map, in every shown
    image."""
    found = figures.find_region(panels, st.session_state.get(REGION_KEY))
    if found is None:
        return
    panel, region = found
    box = figures.zoom_box(panel, region)
    overlay = case.overlay_maps(display.show)
    cache = common.get_image_cache()
    crops = []
    for p, heat in zip(panels, overlay.maps, strict=True):
        try:
            crop, used = crop_view(cache, records[p.result.key], p.view, opts, box)
        except (ValueError, ImageReadError) as exc:
            st.caption(f"{p.label}: no crop ({exc})")
            continue
        crops.append((crop, used, p, heat))
    if not crops:
        return
    scores = " · ".join(f"{name} {v:.3f}" for name, v in region.scores.items())
    st.markdown(f"**Region {region.rank} of {panel.label}** · {scores} · overlay: {overlay.title}")
    st.plotly_chart(
        theme.styled(figures.zoom_panels(crops, opacity=display.opacity, cmap=display.cmap)),
        width="stretch",
        key="predict_crop_fig",
    )
    st.caption("Colour scale of the zoom: the maximum of the map inside these panels.")


def detections_ui(
    panels: list[figures.Panel],
    dets: list[list[Detection]] | None,
    display: Display,
    operating: float,
) -> None:
    """The detections as a table (markers are in the viewer), in a section drawn only
    while it is open (see :func:`agreement_ui`); under the model's ``operating`` threshold,
    each says whether it is at or above it."""
    if dets is None or display.detections is None:
        return
    box = common.opened_section("Detections table", DETECTIONS_OPEN)
    if box is None:
        return
    det = display.detections
    below = operating if det.threshold < operating else None
    table = pd.DataFrame(figures.detections_table(panels, dets, below))
    with box:
        at = (
            f"score ≥ {threshold_label(det.threshold)}, the model's operating threshold"
            if det.threshold == operating
            else f"score ≥ {det.threshold:g}"
        )
        st.markdown(
            f"**Detections** (peaks of the probability map after non-maximum suppression: at "
            f"least {det.min_distance_mm:g} mm apart, {at}; pink diamonds)"
        )
        if below is not None:
            st.caption(
                f"Under the model's operating threshold ({threshold_label(below)}): those "
                f"marked 'no' in '{figures.OPERATING_COLUMN}' are drawn but not called by the "
                "model (its decision reads none of them)."
            )
        if table.empty:
            st.caption("No detection at this threshold: lower it in the sidebar (Detections).")
            return
        common.dataframe(
            table,
            hide_index=True,
            width="stretch",
            key="predict_detections_table",
            column_config={"score": SCORE_COLUMN},
        )
        st.caption(
            "Row and column: pixels of the file at full resolution, before any mirroring "
            "(the viewer may show the image mirrored)."
        )


def agreement_ui(case: CaseAnalysis, panels: list[figures.Panel]) -> None:
    """The agreement with the annotations, in a section drawn only while it is open
    (:func:`pages.common.opened_section`; opening it reruns the result's fragment alone).

    Closed by default, as the detections table: each element a run sends makes the browser
    render the page again, and these two data grids with their captions were a fifth to a
    quarter of the browser's main-thread CPU on a first visit (Chromium traces, 4 December 2026,
    docs/measurements.md); they are read now and then, the scores and the viewer always."""
    box = common.opened_section("Agreement with the annotations", AGREEMENT_OPEN)
    if box is None:
        return
    table = pd.DataFrame(figures.agreement_table(panels))
    tolerance = case.settings.tolerance_mm
    with box:
        st.markdown(f"**Agreement with the annotations** (marks dilated by {tolerance:g} mm)")
        if table.empty or table["energy inside marks"].isna().all():
            st.caption("No annotated calcification on these images: nothing to compare with.")
        if not table.empty:
            common.dataframe(table, hide_index=True, width="stretch")
        st.caption(
            "Energy inside: the share of the map's energy inside the dilated marks (an evenly "
            "spread map scores the marks' share of the breast). Peak on a mark: the pointing "
            "game (the map's maximum falls on a dilated mark)."
        )


def _use_viewer() -> bool:
    """The reading viewer or the classic figure (the fallback when it is not built)."""
    if not viewer_component.available():
        st.caption(
            "The reading viewer is not built (components/viewer/dist is missing): showing "
            "the classic figure."
        )
        return False
    return st.toggle(
        "Reading viewer (maps, regions and detections as layers in the browser)",
        value=True,
        key="predict_use_viewer",
        persist_state="session",
        help="Off: the classic figure (every display change goes to the server).",
    )


def _views(meta: Shown, display: Display) -> dict[str, ImageView]:
    """The readable images of ``meta`` as the result will draw them (cached)."""
    opts = DisplayOptions(show_annotations=display.mask)
    settings = common.settings()
    views = {}
    for key, rec in meta.records.items():
        try:
            views[key] = cached_view(rec, opts, settings.preview_max_side, meta.laterality)
        except ImageReadError:
            continue  # said by the result (its skipped images)
    return views


def prefetch_ui(display: Display) -> None:
    """In the run that follows *Run* (before the last result is drawn again): prepare the
    views, panels and pixels the new result will draw, on this thread while the analysis
    runs on another, and send the pixels with the viewer on screen, so that the result's
    run only adds the layers and the browser has its images."""
    meta = pop_prefetch()
    if meta is None or not viewer_component.available():
        return
    if not st.session_state.get("predict_use_viewer", True):
        return
    predict_viewer.prefetch(meta, _views(meta, display), display.mask)


def pending_ui(meta: Shown, display: Display) -> None:
    """While the first analysis runs: the images of ``meta`` in the reading viewer, at the
    very place (the same element path and key) where :func:`result_ui` draws it, so that the
    viewer's frame, its bundle and the pixels load meanwhile and the result only adds its
    layers. Same layout as :func:`result_ui` before the viewer: the head, the toggle."""
    st.container()  # result_ui's head (skipped images, scores)
    if not _use_viewer():
        return
    with st.container():  # where overlay_ui's fragment draws the viewer
        predict_viewer.pending_viewer_ui(meta, _views(meta, display), display)


def result_ui(shown: Shown, display: Display) -> CaseAnalysis | None:
    """Everything drawn for the result on screen; returns the drawn analysis."""
    assert shown.analysis is not None
    head = st.container()  # one slot before the viewer, whatever it holds (its frame stays)
    opts = DisplayOptions(show_annotations=display.mask)
    with head:
        skipped_ui(shown.analysis, shown.labels)
        case, panels = panels_ui(shown, opts)
    if not panels:
        return None
    dets = detections_of(shown, panels, display)
    overlay_ui(shown, case, panels, display, dets, opts, _use_viewer())
    warnings, notes = figures.notes_of(panels)
    with head:  # above the viewer, sent after it: the browser draws the layers sooner
        scores_ui(case, panels)
        if warnings:  # a flat map: beside the scores the reader judges, not under the tables
            st.warning("  \n".join(warnings))
    detections_ui(panels, dets, display, case.threshold.value)
    agreement_ui(case, panels)
    if notes:  # one element: each costs the browser a render of the page
        st.caption("  \n".join(notes))
    return case
