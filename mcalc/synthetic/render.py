"""Rendering one case: breast geometry and tissue, calcifications, the prior's warp, finish.

Each image of a case draws from its own streams (geometry, tissue, calcifications, warp,
noise), so changing one stage does not change the others' draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from mcalc.dataset.zenodo import TIMEPOINTS, VIEWS
from mcalc.synthetic.film import add_film_artefacts
from mcalc.synthetic.paint import Calc, CalcTruth, calc_truth, case_calcs, paint
from mcalc.synthetic.plan import Case
from mcalc.synthetic.spec import (
    CLUSTER_MIN_CALCS,
    GLAND_FRACTION,
    LOOKS,
    MAX_VALUE,
    STAGE_CALCS,
    STAGE_FILM,
    STAGE_GEOMETRY,
    STAGE_NOISE,
    STAGE_TISSUE,
    STAGE_WARP,
    STREAM_IMAGE,
    Geometry,
    stream_rng,
)
from mcalc.synthetic.warp import follow, landmarks, warp, warp_fields

__all__ = ["RenderedImage", "render_case"]


@dataclass(frozen=True)
class RenderedImage:
    view: str
    timepoint: str
    pixels: np.ndarray
    mask: np.ndarray
    calcs: tuple[CalcTruth, ...]
    clusters: int
    #: (N, 4) prior (row, col) -> recent (row, col) landmark pairs; empty for recent images.
    landmarks: np.ndarray | None = None
    #: The pectoral muscle's extent (rows down the chest wall, columns along the top) in
    #: pixels, MLO only: the muscle is ``row / rows + col_from_chest_wall / cols < 1``.
    pectoral: tuple[float, float] | None = None


def render_case(
    case: Case,
    seed: int,
    shape: tuple[int, int],
    spacing: float,
    style: str = "digital",
    difficulty: str = "real",
) -> Iterator[RenderedImage]:
    """The four images of a case: CC prior, CC recent, MLO prior, MLO recent.

    ``style="film"`` adds scanned-film artefacts (:mod:`~mcalc.synthetic.film`) from their
    own stream; the default ``digital`` images are unchanged by it. ``difficulty`` picks
    how hard the calcifications are to see (:data:`~mcalc.synthetic.spec.LOOKS`).
    """
    look = LOOKS[difficulty]
    for v, view in enumerate(VIEWS):
        key = (STREAM_IMAGE, case.index, v)
        geom = _geometry(stream_rng(seed, *key, STAGE_GEOMETRY), shape, spacing, view)
        tissue = _tissue(stream_rng(seed, *key, STAGE_TISSUE), geom, case.density)
        stable, cluster = case_calcs(stream_rng(seed, *key, STAGE_CALCS), geom, case, look)
        warp_rng = stream_rng(seed, *key, STAGE_WARP)
        fields = warp_fields(warp_rng, shape, spacing)
        gain = float(warp_rng.uniform(0.96, 1.04))
        for t, timepoint in enumerate(TIMEPOINTS):
            if timepoint == "prior":
                image = warp(tissue, fields) * gain
                calcs = [follow(c, fields) for c in stable]
                calcs += _prior_cluster(cluster, fields, case.prior_cluster)
            else:
                image = tissue
                calcs = stable + cluster
            image, mask = paint(image, calcs, hide_in_dense=look.hide_in_dense)
            _add_noise(image, stream_rng(seed, *key, STAGE_NOISE, t))
            pixels, mask = _finish(image, mask, case.laterality, view)
            if style == "film":
                pixels = add_film_artefacts(
                    pixels,
                    stream_rng(seed, *key, STAGE_FILM, t),
                    chest_wall_left=case.laterality == "L",
                    view=view,
                )
            n_cluster = sum(c.kind == "cluster" for c in calcs)
            yield RenderedImage(
                view=view,
                timepoint=timepoint,
                pixels=pixels,
                mask=mask,
                calcs=tuple(calc_truth(c, geom.cols, case.laterality) for c in calcs),
                clusters=int(n_cluster >= CLUSTER_MIN_CALCS),
                landmarks=landmarks(fields, case.laterality) if timepoint == "prior" else None,
                pectoral=geom.pectoral,
            )


def _geometry(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float, view: str
) -> Geometry:
    """Breast outline for a view; MLO views get a pectoral triangle at the top."""
    rows, cols = shape
    if view == "CC":
        cy = rows * rng.uniform(0.47, 0.53)
        ay = rows * rng.uniform(0.38, 0.45)
        pectoral = None
    else:
        cy = rows * rng.uniform(0.46, 0.52)
        ay = rows * rng.uniform(0.47, 0.52)
        pectoral = (rows * rng.uniform(0.32, 0.45), cols * rng.uniform(0.22, 0.32))
    ax = cols * rng.uniform(0.6, 0.78)
    return Geometry(rows, cols, spacing, cy, ay, ax, pectoral)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell_px: float, stretch: float = 1.0
) -> np.ndarray:
    """Unit-variance smooth noise with features about ``cell_px`` across.

    Drawn on a coarse grid and upsampled (cheap at any resolution); ``stretch`` > 1
    elongates features along the rows' direction (towards the nipple).
    """
    rows, cols = shape
    cell = max(cell_px, 1.0)
    grid = (
        max(2, int(np.ceil(rows / cell)) + 2),
        max(2, int(np.ceil(cols / (cell * stretch))) + 2),
    )
    low = rng.standard_normal(grid, dtype=np.float32)
    low = np.asarray(cv2.GaussianBlur(low, (0, 0), 0.8), dtype=np.float32)
    low /= float(low.std()) + 1e-6
    return cv2.resize(low, (cols, rows), interpolation=cv2.INTER_CUBIC)


def _breast_distance(
    geom: Geometry, ys: np.ndarray, xs: np.ndarray, wobble: np.ndarray
) -> np.ndarray:
    """Normalised elliptic distance from the chest-wall centre (< 1 inside the breast).

    ``ys`` and ``xs`` are the full-resolution coordinates of the grid's rows and columns.
    """
    y = ((ys - geom.cy) / geom.ay) ** 2
    x = (xs / geom.ax) ** 2
    d = np.sqrt(y[:, None] + x[None, :])
    return d * (1.0 + 0.008 * wobble)


def _pectoral_level(
    geom: Geometry, ys: np.ndarray, xs: np.ndarray, wobble: np.ndarray
) -> np.ndarray | None:
    """< 1 inside the pectoral triangle at the top chest-wall corner (MLO), else None."""
    if geom.pectoral is None:
        return None
    hp, wp = geom.pectoral
    return (ys / hp)[:, None] + (xs / wp)[None, :] + 0.03 * wobble


def _tissue(rng: np.random.Generator, geom: Geometry, density: str) -> np.ndarray:
    """12-bit breast image in the canonical frame (float32, no calcifications).

    Everything smooth (outline, density, fall-off, muscle) is computed on a grid of about
    0.28 mm and upsampled; only the fine texture is drawn at full resolution. This keeps
    the full size fast and small in memory.
    """
    rows, cols = geom.rows, geom.cols
    factor = max(1, round(0.28 / geom.spacing))
    low = (-(-rows // factor), -(-cols // factor))
    # Full-resolution coordinates of the low grid's pixel centres (as cv2.resize maps them).
    ys = ((np.arange(low[0]) + 0.5) * rows / low[0] - 0.5).astype(np.float32)
    xs = ((np.arange(low[1]) + 0.5) * cols / low[1] - 0.5).astype(np.float32)
    mm = 1.0 / geom.spacing
    coarse = _smooth_noise(rng, low, 14.0 * mm / factor)
    mid = _smooth_noise(rng, low, 4.0 * mm / factor, stretch=2.5)
    d = _breast_distance(geom, ys, xs, coarse)

    # Fibroglandular tissue: smooth noise biased towards the centre of the breast, with a
    # threshold chosen so that the dense fraction matches the density category.
    centre = np.exp(-(((d - 0.45) / 0.35) ** 2))
    field = 0.6 * coarse + 0.6 * mid + 1.2 * centre
    sample = field[d < 0.95]
    target = GLAND_FRACTION[density]
    threshold = float(np.quantile(sample, 1.0 - target)) if sample.size else 0.0
    gland = 1.0 / (1.0 + np.exp(-(field - threshold) / 0.4))

    bg = 40.0
    fat = rng.uniform(1150.0, 1350.0)
    dense = fat + rng.uniform(1000.0, 1300.0)
    # Thinner compressed tissue towards the skin, then a faint brighter skin line.
    depth = np.clip((1.0 - d) / 0.12, 0.0, 1.0)
    thickness = 0.45 + 0.55 * depth * depth * (3.0 - 2.0 * depth)
    skin_width = max(0.5 * mm, 1.0) / geom.ay
    skin = 150.0 * np.exp(-(((1.0 - d) / skin_width) ** 2))
    alpha = np.clip((1.0 - d) * geom.ay / 1.5, 0.0, 1.0)
    base = bg + ((fat + (dense - fat) * gland) * thickness + skin - bg) * alpha
    texture = (60.0 + 110.0 * gland) * thickness * alpha

    level = _pectoral_level(geom, ys, xs, coarse)
    if level is not None and geom.pectoral is not None:
        hp, wp = geom.pectoral
        muscle = rng.uniform(2500.0, 2800.0) + 120.0 * mid
        p = np.clip((1.0 - level) * min(hp, wp) / (2.0 * factor), 0.0, 1.0)
        base = base * (1.0 - p) + muscle * p
        texture = texture * (1.0 - p) + 50.0 * p

    fine = _smooth_noise(rng, (rows, cols), 1.2 * mm, stretch=1.5)
    size = (cols, rows)
    image = cv2.resize(base.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    image += cv2.resize(texture.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) * fine
    return image


def _prior_cluster(
    cluster: list[Calc], fields: tuple[np.ndarray, np.ndarray], state: str
) -> list[Calc]:
    """The suspicious cluster as it looked at the prior exam: absent, or fewer and smaller."""
    if state != "smaller" or not cluster:
        return []
    keep = max(2, min(CLUSTER_MIN_CALCS - 1, len(cluster) // 2))
    return [follow(c, fields, scale=0.7, gain=0.75) for c in cluster[:keep]]


def _add_noise(image: np.ndarray, rng: np.random.Generator) -> None:
    """Signal-dependent detector noise, in place (``image`` is the renderer's own array)."""
    sigma = 8.0 + 0.01 * image
    image += rng.standard_normal(image.shape, dtype=np.float32) * sigma


def _finish(
    image: np.ndarray, mask: np.ndarray, laterality: str, view: str
) -> tuple[np.ndarray, np.ndarray]:
    """Orient by laterality, quantise to 12 bits and burn in the label block."""
    if laterality == "R":
        image, mask = image[:, ::-1], mask[:, ::-1]
    pixels = np.clip(np.round(image), 0.0, MAX_VALUE).astype(np.uint16)
    _burn_label(pixels, f"{laterality} {view}", chest_wall_left=laterality == "L")
    return np.ascontiguousarray(pixels), np.ascontiguousarray(mask)


def _burn_label(pixels: np.ndarray, text: str, *, chest_wall_left: bool) -> None:
    """Burn a bright marker block with dark text into the top corner away from the breast."""
    rows, cols = pixels.shape
    font = cv2.FONT_HERSHEY_SIMPLEX
    height = max(10, round(0.03 * rows))
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = 0.55 * height / th
    thickness = max(1, round(height / 12))
    width = int(np.ceil(tw * scale)) + height // 2 + 2 * thickness
    margin = max(2, round(0.02 * cols))
    x0 = cols - margin - width if chest_wall_left else margin
    y0 = margin
    ink = np.zeros((height, width), dtype=np.uint8)
    pad = height // 4
    cv2.putText(ink, text, (pad, height - pad), font, scale, 255, thickness, cv2.LINE_AA)
    block = np.full((height, width), 3800.0, dtype=np.float32) - 3500.0 * (ink / 255.0)
    pixels[y0 : y0 + height, x0 : x0 + width] = np.round(block).astype(np.uint16)
