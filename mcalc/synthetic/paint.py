"""Calcifications: where they go, their outlines, and painting them into an image.

Benign-looking scattered calcifications are larger and round; a suspicious cluster holds
small pleomorphic ones within about 1 cm. Positions are in the canonical frame (chest wall at
column 0); :func:`calc_truth` gives the written image's frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import cv2
import numpy as np

from mcalc.synthetic.plan import Case
from mcalc.synthetic.spec import CLUSTER_RADIUS_MM, LOOKS, Geometry, Look

__all__ = ["Calc", "CalcTruth", "case_calcs", "paint", "calc_truth"]


class CalcTruth(TypedDict):
    """Ground truth of one calcification as written: centre (row, col) in the written
    image's frame, diameter in pixels, ``scattered`` or ``cluster``."""

    row: float
    col: float
    diameter_px: float
    kind: str


@dataclass(frozen=True)
class Calc:
    """One calcification: centre (canonical frame), outline offsets (x, y) and contrast."""

    row: float
    col: float
    outline: np.ndarray
    amplitude: float
    kind: str

    @property
    def diameter(self) -> float:
        span = self.outline.max(axis=0) - self.outline.min(axis=0)
        return float(max(span.max(), 1.0))

    @property
    def reach(self) -> float:
        """Distance from the centre to the farthest painted pixel (rasterisation is inclusive)."""
        return float(np.hypot(self.outline[:, 0], self.outline[:, 1]).max()) + 0.5

    def moved(self, row: float, col: float, scale: float = 1.0, gain: float = 1.0) -> Calc:
        """A copy at another centre, optionally smaller and fainter (earlier growth stage).

        A smaller copy stays at least 2 px across so that it survives JPEG.
        """
        if scale < 1.0:
            narrow = float((self.outline.max(axis=0) - self.outline.min(axis=0)).min())
            scale = max(scale, min(1.0, 2.0 / max(narrow, 1e-6)))
        return Calc(row, col, self.outline * scale, self.amplitude * gain, self.kind)


def _round_outline(rng: np.random.Generator, diameter: float) -> np.ndarray:
    """Near-circular outline (benign: round, smooth)."""
    r = max(diameter / 2.0, 1.0)
    t = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
    radius = r * (1.0 + 0.05 * rng.standard_normal(t.size))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _pleomorphic_outline(rng: np.random.Generator, diameter: float) -> np.ndarray:
    """Irregular, sometimes elongated outline (suspicious: pleomorphic, fine linear)."""
    r = max(diameter / 2.0, 1.0)
    n = int(rng.integers(5, 10))
    t = np.sort(rng.uniform(0.0, 2.0 * np.pi, n))
    radius = np.maximum(r * rng.uniform(0.55, 1.0, n), 1.0)
    pts = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    if rng.random() < 0.35:
        pts[:, 0] *= rng.uniform(1.6, 2.6)  # linear / rod-like
    span = float((pts.max(axis=0) - pts.min(axis=0)).min())
    if span < 2.0:  # at least 2 px across in every direction, or JPEG loses it
        pts *= 2.0 / span
    angle = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T


def _allowed(geom: Geometry, row: float, col: float, dmax: float) -> bool:
    """Whether a point lies well inside the breast, off the chest wall and the pectoral."""
    if not (0.04 * geom.cols < col < geom.cols - 2 and 2 < row < geom.rows - 2):
        return False
    if np.hypot((row - geom.cy) / geom.ay, col / geom.ax) >= dmax:
        return False
    if geom.pectoral is not None:
        hp, wp = geom.pectoral
        if row / hp + col / wp < 1.2:
            return False
    return True


def _random_point(rng: np.random.Generator, geom: Geometry, dmax: float) -> tuple[float, float]:
    for _ in range(10_000):
        row = float(rng.uniform(geom.cy - geom.ay, geom.cy + geom.ay))
        col = float(rng.uniform(0.0, geom.ax))
        if _allowed(geom, row, col, dmax):
            return row, col
    return geom.cy, 0.4 * geom.ax  # unreachable for the shapes _geometry makes


def _diameter_px(
    rng: np.random.Generator, range_mm: tuple[float, float], spacing: float, floor: float
) -> float:
    """A physical diameter (mm) in pixels, never below ``floor`` so it survives JPEG."""
    return max(float(rng.uniform(*range_mm)) / spacing, floor)


def _gap_px(spacing: float) -> float:
    """Smallest clear gap between calcifications: they must stay apart in the GT JPEG too."""
    return max(4.0, 0.5 / spacing)


def _far_enough(row: float, col: float, reach: float, placed: list[Calc], gap: float) -> bool:
    return all(np.hypot(row - c.row, col - c.col) > reach + c.reach + gap for c in placed)


def _scattered(
    rng: np.random.Generator, geom: Geometry, n: int, placed: list[Calc], look: Look
) -> list[Calc]:
    """Benign-looking calcifications anywhere in the breast: larger, round, bright (with
    ``look.mixed_morphology``, some irregular)."""
    out: list[Calc] = []
    for _ in range(n):
        diameter = _diameter_px(rng, look.benign_mm, geom.spacing, 3.0)
        if look.mixed_morphology and rng.random() < look.mixed_morphology:
            outline = _pleomorphic_outline(rng, diameter)
        else:
            outline = _round_outline(rng, diameter)
        reach = float(np.hypot(outline[:, 0], outline[:, 1]).max()) + 0.5
        for _ in range(200):
            row, col = _random_point(rng, geom, 0.85)
            if _far_enough(row, col, reach, placed + out, _gap_px(geom.spacing)):
                amplitude = look.amplitude(rng, "scattered")
                out.append(Calc(row, col, outline, amplitude, "scattered"))
                break
    return out


def _cluster(rng: np.random.Generator, geom: Geometry, n: int, look: Look) -> list[Calc]:
    """A suspicious cluster: ``n`` small pleomorphic calcifications within about 1 cm (with
    ``look.mixed_morphology``, some round)."""
    if n <= 0:
        return []
    diameters = [_diameter_px(rng, look.suspicious_mm, geom.spacing, 2.0) for _ in range(n)]
    radius = float(rng.uniform(*CLUSTER_RADIUS_MM)) / geom.spacing
    # Room for n calcifications even when pixels are coarse (tiny test images).
    gap = _gap_px(geom.spacing)
    radius = max(radius, 0.7 * np.sqrt(n) * (max(diameters) + gap))
    row0, col0 = _random_point(rng, geom, 0.6)
    placed: list[Calc] = []
    for diameter in diameters:
        if look.mixed_morphology and rng.random() < look.mixed_morphology:
            outline = _round_outline(rng, diameter)
        else:
            outline = _pleomorphic_outline(rng, diameter)
        reach = float(np.hypot(outline[:, 0], outline[:, 1]).max()) + 0.5
        for attempt in range(400):
            spread = radius * (1.0 + attempt / 100.0)
            dr, dc = rng.normal(0.0, spread / 2.0, 2)
            if np.hypot(dr, dc) > spread:
                continue
            row, col = row0 + float(dr), col0 + float(dc)
            if _allowed(geom, row, col, 0.9) and _far_enough(row, col, reach, placed, gap):
                amplitude = look.amplitude(rng, "cluster")
                placed.append(Calc(row, col, outline, amplitude, "cluster"))
                break
    # Nearest to the centre first: the prior keeps the first few (a smaller cluster).
    placed.sort(key=lambda c: np.hypot(c.row - row0, c.col - col0))
    return placed


def case_calcs(
    rng: np.random.Generator, geom: Geometry, case: Case, look: Look = LOOKS["real"]
) -> tuple[list[Calc], list[Calc]]:
    """(stable calcifications, recent suspicious cluster) of one view of a case."""
    if case.birads == "1":
        return [], []
    if not case.suspicious:
        return _scattered(rng, geom, int(rng.integers(2, 7)), [], look), []
    cluster = _cluster(rng, geom, case.cluster_size, look)
    return _scattered(rng, geom, case.scattered, cluster, look), cluster


def _hidden(image: np.ndarray, c: Calc) -> float:
    """The share of ``c``'s amplitude left on its background: 1 on fatty tissue (~1200
    levels), down to 35% on the densest (~2500 and above)."""
    r = int(np.clip(round(c.row), 0, image.shape[0] - 1))
    k = int(np.clip(round(c.col), 0, image.shape[1] - 1))
    return float(np.clip(1.6 - float(image[r, k]) / 2000.0, 0.35, 1.0))


def paint(
    image: np.ndarray, calcs: list[Calc], *, hide_in_dense: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Add calcifications to ``image`` (returns a new array) and return their mask.

    ``hide_in_dense``: scale each one's amplitude by :func:`_hidden` of its background.
    """
    layer = np.zeros(image.shape, dtype=np.float32)
    mask = np.zeros(image.shape, dtype=np.uint8)
    for c in calcs:
        pts = np.round((c.outline + np.array([c.col, c.row])) * 16.0).astype(np.int32)
        amplitude = c.amplitude * (_hidden(image, c) if hide_in_dense else 1.0)
        cv2.fillPoly(layer, [pts], float(amplitude), lineType=cv2.LINE_8, shift=4)
        cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    if not calcs:
        return image.copy(), mask.astype(bool)
    soft = cv2.GaussianBlur(layer, (0, 0), 0.8)
    return image + 0.7 * layer + 0.3 * soft, mask.astype(bool)


def calc_truth(c: Calc, cols: int, laterality: str) -> CalcTruth:
    """Ground-truth record of one calcification in the written image's frame."""
    col = (cols - 1 - c.col) if laterality == "R" else c.col
    return CalcTruth(
        row=round(c.row, 1), col=round(col, 1), diameter_px=round(c.diameter, 1), kind=c.kind
    )
