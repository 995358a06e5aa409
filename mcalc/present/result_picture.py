"""A model's result for one image as one picture: the map over the image, its hot spots
ringed, the annotated calcifications outlined in cyan, the top regions boxed and numbered by
rank, and under it a strip with the colour bar and what the colours, boxes and rings show.

The command line writes it for every image (``python -m mcalc predict``); Predict keeps it
with a reader's verdict (what the reader judged, numbered as the regions they called), and
Audit shows it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcalc.explain.methods import method_name
from mcalc.explain.overlay import (
    ANNOTATION_RGB,
    STRIP_GRAY,
    HotSpot,
    blend,
    colour_bar,
    draw_boxes,
    draw_hot_spots,
    hot_spots,
    outline,
    text_scale,
)
from mcalc.explain.scoring import DecisionThreshold, Region, called, threshold_label
from mcalc.explain.service import CaseAnalysis, ImageAnalysis
from mcalc.explain.stitch import normalize_map
from mcalc.plural import counted
from mcalc.present.reading_overlays import plain_number

__all__ = [
    "APP_NUMBERING",
    "CLI_NUMBERING",
    "LEGEND_MIN_PX",
    "Legend",
    "RingedPicture",
    "explanation_legend",
    "key_lines",
    "peak_label",
    "probability_legend",
    "result_picture",
    "ringed_result_picture",
    "ringed_shown_picture",
    "shown_picture",
]

#: Where the command line's pictures' region numbers appear too.
CLI_NUMBERING = "scores.json and the printed table"
#: ... and the app's (Predict).
APP_NUMBERING = "the viewer and the regions table"


@dataclass(frozen=True)
class Legend:
    """What a picture's colours show: ``title`` above the colour bar, ``ticks`` (position on
    [0, 1], label) under it, ``notes`` below; ``relative``: an explanation's scale (a peak
    is said as a share of the scale's top), else probabilities; ``ring_from``: the smallest
    peak a ringed spot has (a probability map: the decision threshold, so that a negative
    image's faint spots are not ringed as if they were findings); ``muted``: why the rings
    are dashed and grey, empty when they are not (an explanation of an image the model does
    not call: its hot spots are not findings)."""

    title: str
    ticks: list[tuple[float, str]]
    notes: list[str]
    relative: bool
    ring_from: float = 0.0
    muted: str = ""


#: The narrowest colour bar and key: a picture narrower than this (a 50 px crop) is widened
#: to it on the right, in the strip's gray; at 50 px the key wrapped a word a line (806 px
#: of it under a 120 px tall image, its title cut to "P(calcifi"). At 200 px it reads as
#: under the tiny demo's 208 px images.
LEGEND_MIN_PX = 200


@dataclass(frozen=True)
class RingedPicture:
    """A result's picture (RGB uint8, its key under it) and the hot spots ringed on it,
    highest first: what a text about the picture counts (the case report's "N area(s)
    ringed"), so that it counts the rings drawn instead of finding the spots again."""

    rgb: np.ndarray
    spots: list[HotSpot]


def result_picture(
    result: ImageAnalysis,
    heat01: np.ndarray,
    alpha: float,
    cmap: str,
    *,
    legend: Legend,
    min_region_score: float,
    numbered_as: str = CLI_NUMBERING,
    operating: float | None = None,
) -> np.ndarray:
    """The map over the image, its hot spots ringed (outlined where large), the marks in
    cyan and the top regions boxed and numbered by rank (as in ``scores.json``), above a
    strip with the colour bar and what it all shows: the picture's first rows are the
    model-input image, pixel for pixel.

    Args:
        result: the image's analysis.
        heat01: the map shown, on [0, 1] of its colour scale, at the model-input size.
        alpha: the map's largest opacity.
        cmap: the colour map.
        legend: the map's scale (:func:`probability_legend`, :func:`explanation_legend`); the
            regions', rings' and marks' lines are added to its notes here.
        min_region_score: the smallest score of a listed region (said when none is).
        numbered_as: where else the regions carry these numbers (said in the key).
        operating: the model's decision threshold: regions under it (listed because the
            region threshold was lowered) are boxed dashed and named so in the key.
    """
    return ringed_result_picture(
        result,
        heat01,
        alpha,
        cmap,
        legend=legend,
        min_region_score=min_region_score,
        numbered_as=numbered_as,
        operating=operating,
    ).rgb


def ringed_result_picture(
    result: ImageAnalysis,
    heat01: np.ndarray,
    alpha: float,
    cmap: str,
    *,
    legend: Legend,
    min_region_score: float,
    numbered_as: str = CLI_NUMBERING,
    operating: float | None = None,
) -> RingedPicture:
    """:func:`result_picture` (same arguments) with the hot spots it ringed."""
    rgb = blend(result.unit, heat01, alpha=alpha, cmap=cmap)
    width = rgb.shape[1]
    marks = result.marks
    marked = marks is not None and bool(marks.any())
    if marks is not None and marked:
        rgb = outline(rgb, marks, ANNOTATION_RGB)
    f = result.pmap.factor
    boxes = [
        (round(r.box[0] * f), round(r.box[1] * f), round(r.box[2] * f), round(r.box[3] * f))
        for r in result.regions
    ]
    rgb = draw_boxes(
        rgb,
        boxes,
        (255, 255, 255),
        [str(r.rank) for r in result.regions],
        max(1, width // 400),
        font_scale=text_scale(width),
        edge=True,
        dashed=[operating is not None and not called(r.score, operating) for r in result.regions],
    )
    # The rings and their labels over the boxes: a box's edge crossed a ring's label.
    spots = [s for s in hot_spots(heat01) if s.peak >= legend.ring_from]
    rgb = draw_hot_spots(
        rgb,
        spots,
        cmap,
        min_radius=max(8, width // 40),
        width=max(2, width // 400),
        labels=[peak_label(legend, s.peak) for s in spots],
        font_scale=text_scale(width),
        muted=bool(legend.muted),
    )
    lines = key_lines(
        legend,
        result.regions,
        spots,
        min_region_score,
        marked=marked,
        numbered_as=numbered_as,
        operating=operating,
    )
    strip = max(width, LEGEND_MIN_PX)
    if strip > width:  # the picture's pixels stay its first rows and columns
        rgb = np.pad(rgb, ((0, 0), (0, strip - width), (0, 0)), constant_values=STRIP_GRAY)
    return RingedPicture(
        np.vstack([rgb, colour_bar(strip, cmap, legend.ticks, legend.title, lines)]), spots
    )


def peak_label(legend: Legend, peak: float) -> str:
    """A ring's label: its peak as a share of the scale's top (an explanation) or as a
    probability.

    >>> peak_label(Legend("", [], [], relative=True), 0.349), peak_label(Legend("", [], [], False), 0.97)
    ('35%', '0.97')
    """
    return f"{peak:.0%}" if legend.relative else f"{peak:.2f}"


def key_lines(
    legend: Legend,
    regions: list[Region],
    spots: list[HotSpot],
    min_region_score: float,
    *,
    marked: bool,
    numbered_as: str = CLI_NUMBERING,
    operating: float | None = None,
) -> list[str]:
    """The legend's notes, then what the boxes, rings and cyan outlines of a picture are;
    with ``operating`` (the model's decision threshold), which boxes are dashed: the
    regions under it."""
    peak = spots[0].peak if spots else 0.0
    peak_words = f"{peak:.0%} of the scale's top" if legend.relative else f"{peak:.2f}"
    ranks = [r.rank for r in regions]
    if len(ranks) > 1:
        boxes = f"White boxes {ranks[0]}-{ranks[-1]}: the top regions by score"
    elif ranks:
        boxes = f"White box {ranks[0]}: the top region"
    else:
        boxes = f"No top region: none scores {threshold_label(min_region_score)} or more."
    if ranks:
        boxes += f", numbered as in {numbered_as}."
    below = [r.rank for r in regions if operating is not None and not called(r.score, operating)]
    if below and operating is not None:
        which = "Dashed box" if len(below) == 1 else "Dashed boxes"
        boxes += (
            f" {which} {', '.join(map(str, below))}: below the model's operating threshold "
            f"({threshold_label(operating)}), which does not call them."
        )
    least = f" and at least the decision threshold ({threshold_label(legend.ring_from)})"
    least = least if legend.ring_from > 0 else ""
    if spots and legend.muted:
        rings = (
            f"Dashed grey rings: where this map reaches at least 50% of its own peak "
            f"({peak_words}), labelled with it; {legend.muted}, so they show where the "
            f"explanation is strongest, not findings; {len(spots)} here."
        )
    elif spots:
        rings = (
            f"Rings (outlines where large): where this map reaches at least 50% of its own "
            f"peak ({peak_words}){least}, in the colour of that peak and labelled with it, "
            f"over a black or white edge; {len(spots)} here."
        )
    elif legend.ring_from > 0:
        rings = f"No ring: no spot reaches the decision threshold ({threshold_label(legend.ring_from)})."
    else:
        rings = "No ring: this map is 0 everywhere."
    lines = [*legend.notes, boxes, rings]
    if marked:
        lines.append("Cyan outlines: the radiologists' annotated calcifications.")
    return lines


def probability_legend(result: ImageAnalysis, case: CaseAnalysis) -> Legend:
    """The probability map's scale: fixed, 0 to 1, and the image's reading."""
    positive = result.scores.positive_class
    ticks = [(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    title = f"P({positive}): the model's probability of {positive}, fixed scale 0 to 1"
    reading = case.threshold.reading(result.score, positive)
    return Legend(
        title,
        ticks,
        [f"Map score {result.score:.3f}: {reading}."],
        relative=False,
        ring_from=case.threshold.value,
    )


def explanation_legend(
    result: ImageAnalysis,
    heat01: np.ndarray,
    vmax: float,
    explained: int,
    threshold: DecisionThreshold | None = None,
) -> Legend:
    """An explanation's scale: relative, 0 to the largest value over the run's images; its
    rings muted (dashed, grey) on an image the model does not call at ``threshold`` (the
    model's decision threshold; ``None``: never muted)."""
    cam = result.cam
    assert cam is not None
    top = f"max ({plain_number(vmax)})"
    title = (
        f"{method_name(cam.settings.method)} of {cam.target} at layer {cam.layer}, relative: "
        f"0 to its largest value over this run's {counted(explained, 'image')}"
    )
    share = float(np.nanmax(heat01)) if heat01.size else 0.0
    note = (
        f"This image reaches {share:.0%} of that max ({plain_number(vmax)}, in the method's "
        "own units, which mean nothing alone)."
    )
    muted = ""
    if threshold is not None and not threshold.calls(result.score):
        muted = (
            f"the model does not read this image as {result.scores.positive_class} (map score "
            f"{result.score:.3f}, below its operating threshold {threshold.text})"
        )
    return Legend(title, [(0.0, "0"), (0.5, "50%"), (1.0, top)], [note], relative=True, muted=muted)


def shown_picture(
    case: CaseAnalysis,
    result: ImageAnalysis,
    *,
    alpha: float = 0.6,
    cmap: str = "jet",
    numbered_as: str = APP_NUMBERING,
) -> np.ndarray:
    """:func:`result_picture` of what Predict shows of ``result``: its explanation on the
    case's one colour scale, else its probability map."""
    return ringed_shown_picture(case, result, alpha=alpha, cmap=cmap, numbered_as=numbered_as).rgb


def ringed_shown_picture(
    case: CaseAnalysis,
    result: ImageAnalysis,
    *,
    alpha: float = 0.6,
    cmap: str = "jet",
    numbered_as: str = APP_NUMBERING,
    vmax: float | None = None,
) -> RingedPicture:
    """:func:`shown_picture` with the hot spots it ringed. ``vmax``: the case's explanation
    scale (:meth:`~mcalc.explain.service.CaseAnalysis.cam_scale`) where the caller took it
    once for all the case's pictures (``None``: taken here, over every image's map)."""
    least = case.settings.sliding.min_region_score
    if result.cam is None:
        heat01 = result.pmap.dense()
        legend = probability_legend(result, case)
    else:
        vmax = case.cam_scale() if vmax is None else vmax
        heat01 = normalize_map(result.cam.heat, 0.0, vmax)
        explained = sum(r.cam is not None for r in case.images)
        legend = explanation_legend(result, heat01, vmax, explained, case.threshold)
    return ringed_result_picture(
        result,
        heat01,
        alpha,
        cmap,
        legend=legend,
        min_region_score=least,
        numbered_as=numbered_as,
        operating=case.threshold.value,
    )
