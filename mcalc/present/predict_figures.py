"""What the Predict page draws from a :class:`~mcalc.explain.service.CaseAnalysis`.

The overlay figure (maps over prior and recent, top regions boxed, detections marked, one
colour bar), the full-resolution zoom on a region, and the regions, detections and
agreement tables. Every label says
"map score": the image's score (the highest value of its dense probability map in the
breast, its top detection's score), not evaluation's image score.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from mcalc.explain.overlay import blend, plotly_colorscale
from mcalc.explain.scoring import MAP_SCORE, MAP_SCORE_RULE, called, threshold_label
from mcalc.explain.stitch import joint_range, normalize_map
from mcalc.present.map_display import crop_heat, display_box, overlay_view
from mcalc.present.reading_overlays import plain_number
from mcalc.present.viewer_figures import (
    BELOW_COLOR,
    add_boxes,
    add_colorbar,
    data_uri,
    image_panels,
    pair_figure,
)

if TYPE_CHECKING:
    from mcalc.explain.scoring import Region
    from mcalc.explain.service import CaseAnalysis, ImageAnalysis, OverlayMaps
    from mcalc.models.detection import Detection
    from mcalc.viewer import ImageView

__all__ = [
    "Panel",
    "score_label",
    "panel_score_label",
    "score_change",
    "overlay_figure",
    "colorbar_title",
    "overlay_caption",
    "add_detections",
    "detections_table",
    "OPERATING_COLUMN",
    "DETECTION_COLOR",
    "find_region",
    "zoom_box",
    "zoom_panels",
    "crop_figure_fast",
    "regions_table",
    "agreement_table",
    "case_caption",
    "regions_caption",
    "notes_of",
]


@dataclass(frozen=True)
class Panel:
    """One image shown: its label (side, view, round and exam year, ``L CC recent 2018``:
    :func:`mcalc.present.reading.panel_label`), its view and its analysis."""

    label: str
    view: ImageView
    result: ImageAnalysis


def score_label(result: ImageAnalysis) -> str:
    """``calcification map score``: what an image's number is."""
    return f"{result.scores.positive_class} {MAP_SCORE}"


def panel_score_label(panel: Panel) -> str:
    """The score of a shown image as the page labels it: its image, then what the number is
    (``L CC recent 2018 · calcification map score``)."""
    return f"{panel.label} · {score_label(panel.result)}"


def score_change(prior: float, recent: float) -> str:
    """The change between two map scores as the page shows it: the difference of the two
    scores as shown (3 decimals), signed, and ``0.000`` when they read the same (the bare
    difference read "-0.000" between two scores both shown 0.489).

    >>> score_change(0.48912, 0.48907), score_change(0.985, 0.992), score_change(0.9, 0.4)
    ('0.000', '+0.007', '-0.500')
    """
    change = round(recent, 3) - round(prior, 3)
    return "0.000" if abs(change) < 5e-4 else f"{change:+.3f}"


def overlay_figure(
    panels: Sequence[Panel],
    overlay: OverlayMaps,
    *,
    opacity: float,
    cmap: str,
    show_marks: bool,
    detections: Sequence[Sequence[Detection]] | None = None,
    height: int = 640,
    operating: float | None = None,
) -> go.Figure:
    """The maps over the images side by side (synchronised zoom), regions boxed and
    clickable (``customdata``: image key, rank), one colour bar; with ``detections`` (one
    list per panel, model-input pixels) their markers too (:func:`add_detections`); with
    ``operating`` (the model's decision threshold), the regions and detections below it
    boxed dashed and marked in grey."""
    views = [
        overlay_view(p.view, m, opacity, cmap) for p, m in zip(panels, overlay.maps, strict=True)
    ]
    titles = [f"{panel_score_label(p)} {p.result.score:.3f}" for p in panels]
    fig = pair_figure(views, titles, show_marks=show_marks, height=height)
    for col, p in enumerate(panels, start=1):
        regions = p.result.regions
        add_boxes(
            fig,
            [display_box(reg.box, p.view) for reg in regions],
            col,
            labels=[str(reg.rank) for reg in regions],
            customdata=[[p.result.key, reg.rank] for reg in regions],
            name=f"regions-{col}",
            dashed=[operating is not None and not called(r.score, operating) for r in regions],
        )
    if detections is not None:
        add_detections(fig, panels, detections, operating)
    add_colorbar(
        fig,
        plotly_colorscale(cmap),
        title=colorbar_title(overlay),
        vmin=0.0,
        vmax=1.0,
    )
    return fig


#: Colour of the detection markers (apart from the cyan annotation marks and white regions).
DETECTION_COLOR = "#ff4fd8"


def _detection_points(panel: Panel, dets: Sequence[Detection]) -> np.ndarray:
    """(N, 2) display (row, col) of detections given in model-input pixels."""
    factor = panel.result.pmap.factor
    native = np.array([(d.row / factor, d.col / factor) for d in dets], float).reshape(-1, 2)
    return panel.view.points_to_display(native)


def add_detections(
    fig: go.Figure,
    panels: Sequence[Panel],
    detections: Sequence[Sequence[Detection]],
    operating: float | None = None,
) -> None:
    """A marker (diamond, numbered by rank) at each detection of each panel, hover: score
    and size; one trace per panel named ``detections-<col>``; with ``operating`` (the
    model's decision threshold) those below it grey, their hover saying so."""
    if len(detections) != len(panels):
        raise ValueError(f"{len(panels)} panels but {len(detections)} detection lists")
    for col, (panel, dets) in enumerate(zip(panels, detections, strict=True), start=1):
        if not dets:
            continue
        pts = _detection_points(panel, dets)
        fig.add_trace(
            go.Scatter(
                x=pts[:, 1],
                y=pts[:, 0],
                mode="markers",
                marker={
                    "symbol": "diamond-open",
                    "size": 13,
                    "color": [
                        BELOW_COLOR
                        if operating is not None and not called(d.score, operating)
                        else DETECTION_COLOR
                        for d in dets
                    ],
                    "line": {"width": 2},
                },
                customdata=[
                    [k, d.score, d.size_mm, _below_words(d.score, operating)]
                    for k, d in enumerate(dets, start=1)
                ],
                hovertemplate="detection %{customdata[0]}<br>score %{customdata[1]:.3f}"
                "<br>size %{customdata[2]:.2f} mm%{customdata[3]}<extra></extra>",
                name=f"detections-{col}",
            ),
            row=1,
            col=col,
        )


def _below_words(score: float, operating: float | None) -> str:
    """A detection's hover line when the model does not call it (else nothing)."""
    if operating is None or called(score, operating):
        return ""
    return f"<br>below the operating threshold ({threshold_label(operating)}): not called"


#: The column that says, for a detection or region under a threshold the reader lowered,
#: whether the model calls it (its score at or above the operating threshold).
OPERATING_COLUMN = "at operating threshold"


def _operating(score: float, operating: float | None) -> dict[str, str]:
    """The :data:`OPERATING_COLUMN` cell of a row (none when ``operating`` is ``None``)."""
    if operating is None:
        return {}
    return {OPERATING_COLUMN: "yes" if called(score, operating) else "no: below it"}


def detections_table(
    panels: Sequence[Panel],
    detections: Sequence[Sequence[Detection]],
    operating: float | None = None,
) -> list[dict[str, Any]]:
    """One row per detection: image, rank, score, size and position, each header with its
    unit (the position in full-resolution pixels of the file, before any mirroring); with
    ``operating`` (the model's decision threshold, given when the detections' threshold is
    under it), whether each is at or above it."""
    rows: list[dict[str, Any]] = []
    for panel, dets in zip(panels, detections, strict=True):
        factor = panel.result.pmap.factor
        for k, d in enumerate(dets, start=1):
            rows.append(
                {
                    "image": panel.label,
                    "detection": k,
                    "score": round(d.score, 4),
                    **_operating(d.score, operating),
                    "row (full-res px)": round(d.row / factor),
                    "col (full-res px)": round(d.col / factor),
                    "size (mm)": round(d.size_mm, 2),
                }
            )
    return rows


def colorbar_title(overlay: OverlayMaps) -> str:
    """The colour bar's title: what its 0 to 1 stand for."""
    return "share of the max" if overlay.relative else overlay.title


def overlay_caption(overlay: OverlayMaps) -> str:
    """What the overlay shows and how to use the figure."""
    scale = (
        f": colours relative to the map's largest value over these images (1 on the colour "
        f"bar; {plain_number(overlay.vmax)} in the method's own units), 0 is none"
        if overlay.relative
        else ""
    )
    return (
        f"Overlay: **{overlay.title}**{scale}; one colour scale for every panel. Scroll to "
        "zoom, drag to pan: the panels move together. Click a region's square (or a row of "
        "the table) to see it at full resolution."
    )


def find_region(
    panels: Sequence[Panel], chosen: tuple[str, int] | None
) -> tuple[Panel, Region] | None:
    """The panel and region of ``(image key, rank)``, if shown."""
    if not chosen:
        return None
    for p in panels:
        for reg in p.result.regions:
            if p.result.key == chosen[0] and reg.rank == chosen[1]:
                return p, reg
    return None


def zoom_box(panel: Panel, region: Region) -> tuple[int, int, int, int]:
    """The display box of a region with half its size as margin."""
    box = display_box(region.box, panel.view)
    pad = max(8, (box[1] - box[0]) // 2)
    return box[0] - pad, box[1] + pad, box[2] - pad, box[3] + pad


def zoom_panels(
    crops: Sequence[tuple[np.ndarray, tuple[int, int, int, int], Panel, np.ndarray]],
    *,
    opacity: float,
    cmap: str,
) -> go.Figure:
    """Full-resolution crops ``(crop, box used, panel, [0, 1] map of the panel)`` with
    their part of the map, on one scale: the maximum of the map inside these crops (the
    region's detail stays visible even when the image's peak is elsewhere)."""
    heats = [
        crop_heat(heat, p.result.pmap.factor, p.view, used, crop.shape[:2])
        for crop, used, p, heat in crops
    ]
    _, peak = joint_range(heats)
    shown = [
        blend(c, normalize_map(h, 0.0, peak), opacity, cmap)
        for (c, _, _, _), h in zip(crops, heats, strict=True)
    ]
    return crop_figure_fast(
        shown,
        [used for _, used, _, _ in crops],
        [f"{p.label} · full resolution" for *_, p, _ in crops],
    )


@functools.lru_cache(maxsize=16)
def _panels_layout(titles: tuple[str, ...], height: int) -> str:
    """The layout of :func:`~mcalc.present.viewer_figures.image_panels` as JSON text (made
    once per titles: plotly validates every property set by ``make_subplots`` and
    ``update_*axes``, 0.3-1 s on the 2-core machine, each click on a region)."""
    return json.dumps(image_panels(list(titles), height).to_dict()["layout"])


def crop_figure_fast(
    crops: Sequence[np.ndarray],
    boxes: Sequence[tuple[int, int, int, int]],
    titles: Sequence[str],
    *,
    height: int = 460,
) -> go.Figure:
    """:func:`~mcalc.present.viewer_figures.crop_figure` (without marks), the same figure
    in milliseconds: the panels' layout is validated once per titles, the image traces are
    plain and valid by construction, so the figure is not validated again."""
    if not len(crops) == len(boxes) == len(titles):
        raise ValueError(f"{len(crops)} crops, {len(boxes)} boxes and {len(titles)} titles")
    data = []
    for k, (crop, (r0, r1, c0, c1)) in enumerate(zip(crops, boxes, strict=True), start=1):
        axis = "" if k == 1 else str(k)
        data.append(
            {
                "type": "image",
                "source": data_uri(crop, quality=92),
                "x0": c0,
                "y0": r0,
                "dx": (c1 - c0) / crop.shape[1],
                "dy": (r1 - r0) / crop.shape[0],
                "hoverinfo": "skip",
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
            }
        )
    layout = json.loads(_panels_layout(tuple(titles), int(height)))
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def regions_table(panels: Sequence[Panel], operating: float | None = None) -> list[dict[str, Any]]:
    """One row per top region: image (its label), rank, score, centre and its patch's side
    (for a data frame), and ``key``, the image's key, which the page keeps out of sight (a
    row picked names its region by key and rank). A region is a model patch: its side is the
    patch's, the same for every region of an image, not the finding's size (the detections
    table's "size (mm)"), so it is headed as what it is. With ``operating`` (given when the
    region threshold is under the model's decision threshold), whether each region is at or
    above it (:data:`OPERATING_COLUMN`)."""
    rows: list[dict[str, Any]] = []
    for p in panels:
        r = p.result
        sr = r.spacing_mm[0]
        for reg in r.regions:
            rows.append(
                {
                    "image": p.label,
                    "region": reg.rank,
                    "score": round(reg.score, 4),
                    **_operating(reg.score, operating),
                    "row": round(reg.center[0]),
                    "col": round(reg.center[1]),
                    "patch side (mm)": round((reg.box[1] - reg.box[0]) * sr * r.pmap.factor, 1),
                    "key": r.key,
                }
            )
    return rows


def agreement_table(panels: Sequence[Panel]) -> list[dict[str, Any]]:
    """One row per (image, map) with an agreement: energy inside marks, pointing game."""
    rows: list[dict[str, Any]] = []
    for p in panels:
        r = p.result
        for what, a in (("explanation", r.agreement), ("probability map", r.map_agreement)):
            if a is None:
                continue
            rows.append(
                {
                    "image": p.label,
                    "map": what,
                    "energy inside marks": a.energy_inside,
                    "marks' share of the breast": a.area_fraction,
                    "peak hit": a.pointing_hit,
                    "hit rule": a.hit_rule,
                    "annotated pixels": a.marks,
                }
            )
    return rows


def case_caption(case: CaseAnalysis) -> str:
    """How the map scores and the decision were made."""
    first = case.images[0].scores if case.images else None
    rule = first.rule if first is not None else MAP_SCORE_RULE
    t = case.threshold
    return (
        f"{MAP_SCORE.capitalize()}: {rule}, so an image reads positive exactly when its top "
        "detection scores at or above the threshold (not Evaluate's image score). Decision "
        f"threshold {t.text}: {t.source}."
    )


def regions_caption(case: CaseAnalysis) -> str:
    """What the regions are, and when a positive image lists one."""
    s = case.settings.sliding
    t = case.threshold.value
    if s.min_region_score == t:
        rule = (
            "the region threshold is the model's operating threshold, so an image reads "
            "positive exactly when it lists a region"
        )
    elif s.min_region_score < t:
        rule = (
            "an image reads positive exactly when it lists a region scoring "
            f"{case.threshold.text} or more; regions under it (column "
            f"'{OPERATING_COLUMN}': no) are below the model's operating threshold, which "
            "does not call them"
        )
    else:
        rule = (
            f"with the region threshold above the decision threshold ({case.threshold.text}), a positive "
            "image may list no region"
        )
    return (
        f"Regions: patches centred on the image's top detections (up to {s.max_regions}, not "
        f"overlapping, scoring {threshold_label(s.min_region_score)} or more), each scoring its "
        f"detection's score; region 1 is the top detection, its score the map score: {rule}."
    )


def notes_of(panels: Sequence[Panel]) -> tuple[list[str], list[str]]:
    """The panels' notes, each after its image's label: ``(warnings, the rest)``.

    A map that scores every patch the same
    (:attr:`~mcalc.explain.image_analysis.ImageAnalysis.flat_note`) is a warning, to stand beside the scores a reader judges: its score, regions and
    explanation are no evidence. The other notes are the caption under the tables.
    """
    warnings: list[str] = []
    rest: list[str] = []
    for p in panels:
        flat = p.result.flat_note
        if flat is not None:
            warnings.append(f"{p.label}: {flat}")
        rest.extend(f"{p.label}: {note}" for note in p.result.all_notes if note != flat)
    return warnings, rest
