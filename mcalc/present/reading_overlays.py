"""Predict's layers for the reading workstation (the browser viewer of ``pages/``).

The browser blends, toggles and colours them itself: the model's probability map and the
explanation (a colour-mapped layer with its value range), the top regions (boxes a click
selects), the detections (markers). Each map crosses the websocket small: uint8 values at
the map's own resolution (at most :data:`MAP_MAX_SIDE` on its longest side), mirrored like
the panel, with the raw value range that 0 and 255 stand for; the browser stretches it over
the whole image, as :func:`mcalc.present.map_display.overlay_view` does on the server.

Coordinates of regions and detections are (row, col) in the panel's pixel grid, the grid of
:func:`mcalc.present.reading.reading_panel`.

The panels' 16-bit pixels travel apart, as Browse's do (:mod:`mcalc.present.panel_cache`):
:func:`panel_pixels` names them (``pixel_id``) and encodes them once (``zlib-delta16``),
both as :mod:`mcalc.present.pixels` does for every page, and :func:`pixel_payload` packs
those a browser does not hold yet, so a rerun that keeps the result on screen (*Run*, a
poll's end, a region click) sends none, nor does a first visit after Browse showed the
same images.
:func:`warm_pixels` encodes them ahead, off the page's run (the case Predict opens with,
while the app starts: :func:`mcalc.models.warmup.analyse_opening`).

Example:
    >>> import numpy as np
    >>> q = quantise_map(np.array([[0.0, 0.5], [1.0, 2.0]], np.float32))
    >>> q.tolist()
    [[0, 128], [255, 255]]
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mcalc.cache import ImageCache, file_key
from mcalc.errors import ImageReadError
from mcalc.explain.overlay import colorize, hot_spots, resize_map
from mcalc.explain.scoring import called
from mcalc.present.pixels import encoded, pixel_id, pixel_payload
from mcalc.viewer import DisplayOptions, ImageView, prepare_view, preview_values

if TYPE_CHECKING:
    from mcalc.dataset.records import ImageRecord
    from mcalc.explain.scoring import DecisionThreshold, Region
    from mcalc.explain.service import CaseAnalysis, OverlayMaps
    from mcalc.models.detection import Detection

__all__ = [
    "MAP_MAX_SIDE",
    "quantise_map",
    "map_shape",
    "viewer_maps",
    "map_grid",
    "overlay_grids",
    "map_layer",
    "SPOT_SHARE",
    "map_spots",
    "plain_number",
    "scale_words",
    "colour_lut",
    "region_boxes",
    "detection_markers",
    "below_words",
    "predict_layers",
    "decode_map",
    "region_of_event",
    "panel_pixels",
    "pixel_payload",
    "warm_pixels",
]

#: Longest side of a map sent to the browser (its own size when smaller): enough for
#: a patch grid or an explanation at preview scale, 64 KB at most per map.
MAP_MAX_SIDE = 256


def quantise_map(heat01: np.ndarray) -> np.ndarray:
    """A [0, 1] map -> uint8 (0..255, rounded; outside values clipped, NaN reads 0).

    Raises:
        ValueError: ``heat01`` is not 2-D.
    """
    h = np.asarray(heat01, dtype=np.float32)
    if h.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {h.shape}")
    h = np.clip(np.nan_to_num(h, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.rint(h * 255.0).astype(np.uint8)


def map_shape(shape: tuple[int, int], max_side: int = MAP_MAX_SIDE) -> tuple[int, int]:
    """``shape`` shrunk (never enlarged) so that its longest side is at most ``max_side``.

    Raises:
        ValueError: ``max_side`` < 1 or an empty shape.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if max_side < 1 or rows < 1 or cols < 1:
        raise ValueError(f"expected a non-empty shape and max_side >= 1, got {shape}, {max_side}")
    s = min(1.0, max_side / max(rows, cols))
    return max(1, round(rows * s)), max(1, round(cols * s))


#: The hot spots of an explanation (:func:`map_spots`): its areas at or above this share
#: of the image's own peak.
SPOT_SHARE = 0.5


#: A map as the browser gets it, before mirroring: its uint8 grid (:func:`quantise_map` of
#: the map shrunk to ``max_side``) and the map's finite minimum and maximum on [0, 1].
Grid = tuple[np.ndarray, float, float]


def map_grid(heat01: np.ndarray, max_side: int = MAP_MAX_SIDE) -> Grid:
    """The :data:`Grid` of a [0, 1] map (file orientation), read-only."""
    h = np.asarray(heat01, dtype=np.float32)
    q = quantise_map(resize_map(h, map_shape(h.shape[:2], max_side)))
    q.setflags(write=False)
    finite = h[np.isfinite(h)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return q, lo, hi


def viewer_maps(case: CaseAnalysis) -> list[tuple[str, OverlayMaps]]:
    """The maps Predict's viewer gets as layers: the probability map, and the explanation
    when every image has one (``(layer name, OverlayMaps)``)."""
    out = [("probability", case.overlay_maps("probability"))]
    explained = case.overlay_maps("explanation")
    if explained.relative:
        out.append(("explanation", explained))
    return out


def overlay_grids(overlay: OverlayMaps, max_side: int = MAP_MAX_SIDE) -> list[Grid]:
    """The :data:`Grid` of each of ``overlay``'s maps, made once per maps and size (kept
    on ``overlay``): Predict makes them in the analysis' own thread, as soon as the result
    exists, so that the page's run that draws it only mirrors and sends them
    (:func:`map_layer`'s ``grid``)."""
    key = f"grids:{int(max_side)}"
    held = overlay.made.get(key)
    if held is None:
        held = overlay.made[key] = [map_grid(m, max_side) for m in overlay.maps]
    return cast(list[Grid], held)


def plain_number(value: float) -> str:
    """``value`` with two significant digits, without an exponent down to 0.000001.

    >>> plain_number(0.0017), plain_number(1.0), plain_number(0.25), plain_number(3.2e-8)
    ('0.0017', '1', '0.25', '3.2e-08')
    """
    v = float(value)
    if v == 0.0 or not np.isfinite(v) or not 1e-6 <= abs(v) < 1e4:
        return f"{v:.2g}"
    decimals = max(0, 1 - int(np.floor(np.log10(abs(v)))))
    return f"{round(v, decimals):.{decimals}f}".rstrip("0").rstrip(".") or "0"


def scale_words(title: str, vmax: float, relative: bool, lo: float, hi: float) -> dict[str, str]:
    """What a map's colour scale means, in words for the legend beside it.

    Args:
        title: what the map is.
        vmax: the raw value the top of the scale stands for.
        relative: the map is scaled to its maximum over the case's images (an
            explanation: its raw values are in the method's own units, only their
            proportions mean something).
        lo: raw minimum of this image's map.
        hi: raw maximum of this image's map.

    Returns:
        ``{"label"`` (what the map is, shown before the bar)``, "low", "high"`` (the ends of
        the bar)``, "note"`` (a sentence on the scale and this image's range)``, "spots"``
        (what the rings around an explanation's hot spots are, after the bar; empty for a
        probability map)``}``.

    >>> scale_words("gradcam", 0.0017, True, 0.0, 0.0017)["high"]
    'max (0.0017)'
    """
    if relative:
        share = hi / vmax if vmax > 0 else 0.0
        return {
            "label": f"{title}, relative to its max",
            "low": "0",
            "high": f"max ({plain_number(vmax)})",
            "note": (
                f"{title}: the colours are relative. The top of the scale is the map's "
                f"largest value over this case's images ({plain_number(vmax)}, in the "
                "method's own units, which mean nothing alone), the bottom is 0. This "
                f"image's map reaches {share:.0%} of that maximum. Each ring (an outline once "
                f"zoomed in) marks where this image's map reaches at least {SPOT_SHARE:.0%} "
                "of its own peak, so that an explanation a few pixels across shows at any "
                "zoom; it takes the colour of that peak, and its label gives the peak as a "
                "share of the scale's top."
            ),
            # The label's meaning said beside the ring's: a spot labelled 44% read as
            # contradicting "≥ 50% of own peak", and as a region's score (a user check).
            "spots": f"◎ ring: ≥ {SPOT_SHARE:.0%} of its own peak; label: its peak, % of scale top",
        }
    return {
        "label": title,
        "low": plain_number(0.0),
        "high": plain_number(vmax),
        "note": (
            f"{title}: colour scale {plain_number(0.0)} to {plain_number(vmax)}; this "
            f"image's map spans {plain_number(lo)} to {plain_number(hi)}."
        ),
        "spots": "",
    }


def map_spots(grid: np.ndarray, share: float = SPOT_SHARE) -> list[dict[str, Any]]:
    """The hot spots of a map's uint8 grid (:func:`mcalc.explain.overlay.hot_spots`, the
    highest first): each its ``peak`` (0..255, the grid's value: the colour of its peak
    on the scale) and ``outline`` (``(row, col)`` points in the grid's own cells, a cell's
    centre at its integer index), for the browser to outline at any zoom.

    >>> g = np.zeros((4, 4), np.uint8); g[1, 2] = 200
    >>> map_spots(g)[0]["peak"], map_spots(g)[0]["outline"][0]
    (200, [0.62, 1.62])
    """
    return [
        {
            "peak": round(s.peak),
            "outline": [[round(float(r), 2), round(float(c), 2)] for r, c in s.outline],
        }
        for s in hot_spots(grid, share)
    ]


def map_layer(
    heat01: np.ndarray,
    view: ImageView,
    *,
    name: str,
    title: str,
    vmax: float,
    relative: bool,
    max_side: int = MAP_MAX_SIDE,
    grid: Grid | None = None,
) -> dict[str, Any]:
    """One colour-mapped layer of a panel.

    Args:
        heat01: the map on [0, 1] at the model-input size, file orientation (one of
            :class:`mcalc.explain.service.OverlayMaps`'s ``maps``).
        view: the panel's view (the map is mirrored like the image).
        name: ``probability`` or ``explanation`` (the layer's id in the browser).
        title: what the map is, shown with its colour scale.
        vmax: the raw value 1.0 stands for (1.0 for probabilities).
        relative: the map is scaled to a joint maximum (explanations).
        max_side: longest side of the grid sent.
        grid: ``heat01``'s :func:`map_grid` at ``max_side``, made before
            (:func:`overlay_grids`); made now when ``None``.

    Returns:
        ``{"name", "title", "rows", "cols", "data"`` (base64 uint8, row-major)``, "range"``
        (raw values of 0 and 255)``, "lo", "hi"`` (raw minimum and maximum of the map)
        ``, "relative", "scale"`` (:func:`scale_words`)``, "spots"`` (an explanation's
        :func:`map_spots` on the mirrored grid; none for a probability map)``}``.
    """
    small, lo, hi = map_grid(heat01, max_side) if grid is None else grid
    q = view.mirror(small)  # a flip: the same values as the map mirrored, then shrunk
    return {
        "name": name,
        "title": title,
        "rows": int(q.shape[0]),
        "cols": int(q.shape[1]),
        "data": base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii"),
        "range": [0.0, float(vmax)],
        "lo": round(lo * vmax, 6),
        "hi": round(hi * vmax, 6),
        "relative": bool(relative),
        "scale": scale_words(title, vmax, relative, lo * vmax, hi * vmax),
        "spots": map_spots(q) if relative else [],
    }


def decode_map(layer: dict[str, Any]) -> np.ndarray:
    """The uint8 grid of a :func:`map_layer` (what the browser reads; for tests and tools)."""
    raw = np.frombuffer(base64.b64decode(layer["data"]), dtype=np.uint8)
    return raw.reshape(int(layer["rows"]), int(layer["cols"]))


def colour_lut(cmap: str = "jet") -> str:
    """The colour map as 256 RGB triplets (base64 of 768 bytes): the browser colours a
    quantised map with the very colours of the classic figure.

    Raises:
        ValueError: an unknown colour map (the message lists the known ones).
    """
    ramp = colorize(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :], cmap)[0]
    return base64.b64encode(np.ascontiguousarray(ramp, dtype=np.uint8).tobytes()).decode("ascii")


def _called(score: float, operating: DecisionThreshold | None) -> dict[str, bool]:
    """A region's or detection's ``called`` flag: whether the model calls it (its score at
    or above the ``operating`` threshold, :func:`mcalc.explain.scoring.called`); none
    without a threshold. The browser draws those it does not call muted and dashed."""
    return {} if operating is None else {"called": called(score, operating.value)}


def region_boxes(
    view: ImageView,
    key: str,
    regions: Sequence[Region],
    operating: DecisionThreshold | None = None,
) -> list[dict[str, Any]]:
    """The top regions as boxes ``[r0, r1, c0, c1]`` in the panel's grid, each with what a
    click sends back (image key, rank), its score and, given the model's ``operating``
    threshold, whether the model calls it (``called``)."""
    out = []
    for reg in regions:
        r0, r1, c0, c1 = view.display_box(reg.box)
        s = view.scale
        out.append(
            {
                "image": key,
                "rank": int(reg.rank),
                "score": round(float(reg.score), 4),
                **_called(reg.score, operating),
                "box": [round(r0 * s, 2), round(r1 * s, 2), round(c0 * s, 2), round(c1 * s, 2)],
            }
        )
    return out


def detection_markers(
    view: ImageView,
    key: str,
    factor: float,
    detections: Sequence[Detection],
    operating: DecisionThreshold | None = None,
) -> list[dict[str, Any]]:
    """Detections (model-input pixels; native x ``factor`` = model input) as markers in
    the panel's grid, numbered from 1 like the detections table; given the model's
    ``operating`` threshold, each says whether the model calls it (``called``)."""
    if not detections:
        return []
    native = np.array([(d.row / factor, d.col / factor) for d in detections], float)
    shown = view.points_to_display(native.reshape(-1, 2)) * view.scale
    return [
        {
            "image": key,
            "detection": k,
            "row": round(float(r), 2),
            "col": round(float(c), 2),
            "score": round(float(d.score), 4),
            **_called(d.score, operating),
            "size_mm": round(float(d.size_mm), 2),
        }
        for k, ((r, c), d) in enumerate(zip(shown, detections, strict=True), start=1)
    ]


def below_words(operating: DecisionThreshold) -> dict[str, str]:
    """What the viewer's legend says of the regions and detections the model does not call
    (drawn dashed and dimmed): ``label`` (the toolbar's words) and ``note`` (its tooltip).

    >>> from mcalc.explain.scoring import DecisionThreshold
    >>> below_words(DecisionThreshold(0.921513, "the card"))["label"]
    'dashed: below 0.9215, not called'

    ``rings`` and ``rings_note`` say the same of an explanation's rings on an image the model
    does not call (its map score below the threshold), drawn dashed and grey.
    """
    return {
        "rings": f"◌ dashed grey rings: image below {operating.text}, not findings",
        "rings_note": (
            "Dashed grey rings: the explanation's hot spots on an image whose map score is "
            f"below the model's operating threshold ({operating.text}): the model does not "
            "read the image as positive, so they show where the explanation is strongest, "
            "not findings."
        ),
        "label": f"dashed: below {operating.text}, not called",
        "note": (
            "Dashed, dimmed boxes and diamonds score below the model's operating threshold "
            f"({operating.text}): the model does not call them; they are listed because the "
            "region or detection threshold was lowered under it. Solid ones are at or above it."
        ),
    }


def predict_layers(
    view: ImageView,
    key: str,
    maps: Sequence[dict[str, Any]],
    regions: Sequence[Region],
    factor: float,
    detections: Sequence[Detection] | None,
    operating: DecisionThreshold | None = None,
    *,
    score: float | None = None,
) -> dict[str, Any]:
    """A panel's Predict layers (the ``layers`` entry of a viewer panel): maps from
    :func:`map_layer`, region boxes, detection markers (``None``: detections off); given
    the model's ``operating`` threshold, each box and marker says whether the model calls it
    (``called``) and ``below`` the legend's words for those it does not
    (:func:`below_words`); given the image's map ``score`` too, ``called`` says whether the
    model calls the image (the browser draws an explanation's rings on one it does not
    dashed and grey)."""
    image = {} if operating is None or score is None else _called(score, operating)
    return {
        **image,
        "image": key,
        "maps": list(maps),
        "regions": region_boxes(view, key, regions, operating),
        "detections": None
        if detections is None
        else detection_markers(view, key, factor, detections, operating),
        **({} if operating is None else {"below": below_words(operating)}),
    }


def region_of_event(
    event: dict[str, Any],
    regions: dict[str, Sequence[Region]],
    detections: dict[str, tuple[float, Sequence[Detection]]] | None = None,
) -> tuple[str, int] | None:
    """The ``(image key, rank)`` a viewer's "region" event selects.

    A click on a region names it; a click on a detection selects the smallest region of
    that image whose box holds the detection (``None`` when no listed region does).

    Args:
        event: ``{"image": key, "rank": n}`` or ``{"image": key, "detection": k}`` (k from 1).
        regions: each shown image's regions (native-pixel boxes), by image key.
        detections: each image's ``(factor, detections)`` (model-input pixels; native x
            factor = model input), by image key.

    Raises:
        ValueError: an event naming no shown image, or neither a rank nor a detection.
    """
    key = str(event.get("image", ""))
    if key not in regions:
        raise ValueError(f"the event names image {key!r}; shown: {', '.join(regions) or 'none'}")
    if event.get("rank") is not None:
        rank = int(event["rank"])
        return (key, rank) if any(r.rank == rank for r in regions[key]) else None
    if event.get("detection") is None:
        raise ValueError(f"a region event needs a 'rank' or a 'detection', got {event!r}")
    factor, dets = (detections or {}).get(key, (1.0, ()))
    k = int(event["detection"])
    if not 1 <= k <= len(dets):
        return None
    d = dets[k - 1]
    row, col = d.row / factor, d.col / factor
    holding = [r for r in regions[key] if r.box[0] <= row < r.box[1] and r.box[2] <= col < r.box[3]]
    if not holding:
        return None
    best = min(holding, key=lambda r: (r.box[1] - r.box[0]) * (r.box[3] - r.box[2]))
    return key, best.rank


def panel_pixels(
    cache: ImageCache, rec: ImageRecord, view: ImageView, max_side: int
) -> tuple[str, bytes, int, int]:
    """The ``pixel_id`` of ``rec``'s panel (:func:`mcalc.present.pixels.pixel_id`: the one
    Browse's and Annotate's panels give the same image), its ``zlib-delta16`` bytes, rows
    and cols: the values that :func:`mcalc.present.reading.reading_panel` would send as
    ``pixels`` (encoded once for every page: :func:`mcalc.present.pixels.encoded`)."""
    values = preview_values(cache, rec, max_side)  # cached per image and size
    rows, cols = values.shape[:2]
    pid = pixel_id(
        rec.key, file_key(rec.image_path), max_side, flipped=view.flipped, rows=rows, cols=cols
    )
    return pid, encoded(pid, lambda: view.mirror(values)), int(rows), int(cols)


def warm_pixels(
    cache: ImageCache,
    records: Sequence[ImageRecord],
    max_side: int,
    laterality: str | None = None,
) -> int:
    """Encode the panel pixels of ``records`` ahead (:func:`panel_pixels` of each at its
    default view, as the page will hang it), so that the page's run that shows them finds
    them made (zlib takes about 0.1 s per preview on the 2-core machine, on the way to a
    first visit's viewer otherwise). Returns how many were made or found; an image that
    cannot be read (or is missing) is skipped."""
    made = 0
    for rec in records:
        try:
            view = prepare_view(
                cache, rec, DisplayOptions(), max_side=max_side, laterality=laterality
            )
            panel_pixels(cache, rec, view, max_side)
        except (ImageReadError, OSError):  # the page says so when it shows the case
            continue
        made += 1
    return made
