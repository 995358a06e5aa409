"""Does an explanation point at what the radiologists marked? Figures per image.

- **Energy inside**: the fraction of the map's total (non-negative) energy that falls inside
  the annotated calcifications dilated by a tolerance in millimetres: the energy-based
  pointing game of Wang et al. 2020 (Score-CAM, CVPR workshops), with the annotation mask in
  place of a bounding box. It is reported with the **area fraction** (the share of the breast
  the dilated marks cover): a map spread evenly over the breast scores about that.
- **Pointing game** (Zhang et al. 2016, "Top-down Neural Attention by Excitation Backprop",
  ECCV): a hit when the map's maximum falls on a dilated mark; ``None`` when the map is flat
  (no peak) or the image has no marks.

A ``region`` annotation (an area holding calcifications: a cluster outline, an ROI) is
scored as it is, with no tolerance: a hit is a peak **inside the region** and the energy is
the share inside it (``hit_rule`` says which rule a figure used).

The tolerance absorbs the few-pixel misalignment of hand-drawn marks and the coarseness of a
feature map: 0.5 mm by default (five pixels at 0.1 mm).

Example:
    >>> import numpy as np
    >>> heat = np.zeros((20, 20)); heat[5, 5] = 1.0; heat[15, 15] = 1.0
    >>> marks = np.zeros((20, 20), bool); marks[5, 5] = True
    >>> a = map_agreement(heat, marks, spacing_mm=(1.0, 1.0), tolerance_mm=0.0)
    >>> round(a.energy_inside, 3), a.pointing_hit
    (0.5, True)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "EPS",
    "MapAgreement",
    "dilate_mask",
    "energy_inside",
    "pointing_game",
    "map_agreement",
]

log = logging.getLogger(__name__)

#: Default tolerance around the annotated calcifications, in millimetres.
DEFAULT_TOLERANCE_MM = 0.5
#: Epsilon of the energy ratio.
EPS = 1e-12


def dilate_mask(
    mask: np.ndarray, spacing_mm: tuple[float, float], tolerance_mm: float
) -> np.ndarray:
    """The mask grown by ``tolerance_mm`` in every direction (an elliptical kernel that is
    round in millimetres when the pixels are not square).

    Raises:
        ValueError: a negative tolerance or a non-positive spacing.
    """
    if tolerance_mm < 0:
        raise ValueError(f"tolerance must be >= 0 mm, got {tolerance_mm}")
    sr, sc = float(spacing_mm[0]), float(spacing_mm[1])
    if sr <= 0 or sc <= 0:
        raise ValueError(f"pixel spacing must be > 0 mm, got {spacing_mm}")
    m = np.asarray(mask, dtype=bool)
    ry, rx = round(tolerance_mm / sr), round(tolerance_mm / sc)
    if ry == 0 and rx == 0:
        return m.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rx + 1, 2 * ry + 1))
    return cv2.dilate(m.astype(np.uint8), kernel) > 0


def _heat(heat: np.ndarray) -> np.ndarray:
    h = np.nan_to_num(np.asarray(heat, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.maximum(h, 0.0)


def energy_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of the (non-negative) energy of ``heat`` inside ``mask``; 0 for a zero map."""
    return _energy_inside(_heat(heat), np.asarray(mask, dtype=bool))


def _energy_inside(h: np.ndarray, m: np.ndarray) -> float:
    """:func:`energy_inside` of a map already made non-negative (:func:`_heat`)."""
    if h.shape != m.shape:
        raise ValueError(f"map {h.shape} and mask {m.shape} differ in shape")
    total = float(h.sum())
    return float(h[m].sum() / (total + EPS)) if total > 0 else 0.0


def pointing_game(heat: np.ndarray, mask: np.ndarray) -> tuple[bool | None, tuple[int, int] | None]:
    """``(hit, peak)``: whether the map's maximum lies on ``mask``, and where it is.

    A flat map has no peak: ``(None, None)``. When several pixels share the maximum, the
    hit counts if any of them is on the mask.
    """
    return _pointing_game(_heat(heat), np.asarray(mask, dtype=bool))


def _pointing_game(
    h: np.ndarray, m: np.ndarray | None
) -> tuple[bool | None, tuple[int, int] | None]:
    """:func:`pointing_game` of a map already made non-negative (:func:`_heat`); ``m``
    ``None``: the peak alone (the hit ``None``)."""
    if m is not None and h.shape != m.shape:
        raise ValueError(f"map {h.shape} and mask {m.shape} differ in shape")
    if h.size == 0:
        return None, None
    top_value = h.max()
    if float(top_value) <= float(h.min()):
        return None, None
    peak = np.unravel_index(int(np.argmax(h)), h.shape)
    if m is None:
        return None, (int(peak[0]), int(peak[1]))
    return bool(m[h >= top_value].any()), (int(peak[0]), int(peak[1]))


@dataclass(frozen=True)
class MapAgreement:
    """Agreement of one map with one image's annotations.

    Attributes:
        energy_inside: fraction of the map's energy inside the dilated marks (``None``
            without marks).
        area_fraction: fraction of the region (the breast, when given) the dilated marks
            cover: what an evenly spread map would score.
        pointing_hit: the map's peak is on a dilated mark (``None``: no marks or no peak).
        peak: (row, col) of the map's maximum, in the map's pixels.
        tolerance_mm: the dilation used.
        marks: number of annotated pixels before dilation.
        hit_rule: ``"on a mark"`` (calcification marks, dilated by the tolerance) or
            ``"inside the region"`` (a ``region`` annotation, not dilated).
    """

    energy_inside: float | None
    area_fraction: float | None
    pointing_hit: bool | None
    peak: tuple[int, int] | None
    tolerance_mm: float
    marks: int
    hit_rule: str = "on a mark"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak"] = list(self.peak) if self.peak is not None else None
        for key in ("energy_inside", "area_fraction"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 6)
        return out


def map_agreement(
    heat: np.ndarray,
    mask: np.ndarray | None,
    spacing_mm: tuple[float, float],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    region: np.ndarray | None = None,
    annotation_kind: str = "mask",
    peak: tuple[int, int] | None = None,
) -> MapAgreement:
    """Energy inside and pointing game of ``heat`` against annotation ``mask``.

    Args:
        heat: the map (any non-negative scale; normalisation does not change the figures).
        mask: annotated calcification pixels, same shape (``None``: no annotation).
        spacing_mm: pixel spacing of the map and mask (row, col).
        tolerance_mm: dilation of the marks.
        region: the breast mask, for the area fraction (default: the whole image).
        annotation_kind: ``region`` when ``mask`` outlines areas holding calcifications:
            then hits are "inside the region" and no tolerance is added.
        peak: the map's peak where a rule of its own places it (a probability map: its
            top detection, at the centre of the plateau holding its maximum,
            :func:`mcalc.models.detection.find_detections`); default: its maximum pixel.

    Raises:
        ValueError: shapes differ, bad tolerance or spacing.
    """
    h = _heat(heat)  # once: a full-size map's float64 copies cost ~25 ms each
    hit_peak = _pointing_game(h, None)[1] if peak is None else (int(peak[0]), int(peak[1]))
    rule = "inside the region" if annotation_kind == "region" else "on a mark"
    if annotation_kind == "region":
        tolerance_mm = 0.0
    if mask is None or not np.asarray(mask).any():
        return MapAgreement(None, None, None, hit_peak, float(tolerance_mm), 0, rule)
    m = np.asarray(mask, dtype=bool)
    if m.shape != h.shape:
        raise ValueError(f"map {h.shape} and annotation mask {m.shape} differ in shape")
    grown = dilate_mask(m, spacing_mm, tolerance_mm)
    area = np.ones(h.shape, bool) if region is None else np.asarray(region, bool)
    if area.shape != h.shape:
        raise ValueError(f"map {h.shape} and region {area.shape} differ in shape")
    area_fraction = float((grown & area).sum() / max(int(area.sum()), 1))
    if peak is None:
        hit, peak = _pointing_game(h, grown)
    else:
        hit, peak = bool(grown[hit_peak]), hit_peak
    return MapAgreement(
        energy_inside=_energy_inside(h, grown),
        area_fraction=area_fraction,
        pointing_hit=hit,
        peak=peak,
        tolerance_mm=float(tolerance_mm),
        marks=int(m.sum()),
        hit_rule=rule,
    )
