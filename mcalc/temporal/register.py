"""A registered pair of mammograms (recent <-> prior): :class:`Registration` (the displacement
field, points mapped both ways, the prior warped onto the recent grid), its settings and its
quality figures (similarity before and after, overlap, displacement, folding), and the rule
that a registration worse than none is not applied (:func:`as_filed_if_worse`). The
registration itself (SimpleITK, in stages) is :func:`mcalc.temporal.stages.register_images`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from mcalc.errors import McalcError

__all__ = [
    "RegistrationSettings",
    "Registration",
    "RegistrationError",
    "jacobian_determinant",
    "field_from_affine",
    "landmark_error",
    "quality_figures",
    "as_filed_if_worse",
    "NOT_REGISTERED",
]

log = logging.getLogger(__name__)

_EPS = 1e-6


class RegistrationError(McalcError):
    """The two images cannot be registered (no breast, bad shapes)."""


@dataclass(frozen=True)
class RegistrationSettings:
    """How a pair is registered (part of the cache key).

    Attributes:
        work_side: longest side, in px, of the images the registration runs on.
        nonrigid: run the B-spline stage after the global one.
        bspline_grid: B-spline control cells per side at the first level (coarse: smooth).
        bspline_levels: B-spline levels (1: one level; each next doubles the control grid
            and halves the image shrinking).
        affine_iterations, bspline_iterations: optimiser iteration caps (the time budget).
        bins: histogram bins of the mutual-information metric.
        sampling: fraction of the breast's pixels the metric samples.
        seed: seed of that sampling (results are reproducible).
    """

    work_side: int = 256
    nonrigid: bool = True
    bspline_grid: int = 4
    bspline_levels: int = 2
    affine_iterations: int = 150
    bspline_iterations: int = 40
    bins: int = 32
    sampling: float = 0.25
    seed: int = 7

    def __post_init__(self) -> None:
        if not 32 <= self.work_side <= 2048:
            raise ValueError(f"work_side must be 32..2048 px, got {self.work_side}")
        if not 1 <= self.bspline_grid <= 32:
            raise ValueError(f"bspline_grid must be 1..32 cells, got {self.bspline_grid}")
        if not 1 <= self.bspline_levels <= 4:
            raise ValueError(f"bspline_levels must be 1..4, got {self.bspline_levels}")
        if not 0.0 < self.sampling <= 1.0:
            raise ValueError(f"sampling must be in (0, 1], got {self.sampling}")

    def key(self) -> str:
        """A short stable text naming these settings (for cache entries)."""
        return "-".join(f"{v}" for v in asdict(self).values())


@dataclass(frozen=True)
class Registration:
    """A registered pair: recent <-> prior mapping, warps and quality figures.

    Attributes:
        recent_shape, prior_shape: full-resolution (rows, cols) of the two images.
        field: ``(h, w, 2)`` float32 displacement on the working grid of the recent image,
            in full-resolution prior pixels: recent pixel ``p`` shows the tissue the prior
            shows at ``p + field(p)`` (after ``prior_mirrored``).
        affine_field: the same for the global stage alone (the fallback).
        method: ``affine``, ``affine+bspline``, or ``none`` (:data:`NOT_REGISTERED`: every
            stage lowered the similarity; the pair is compared as filed).
        fallback: why a stage was dropped (``None`` when every stage run was kept).
        prior_mirrored: the prior was mirrored left-right to put its chest wall on the
            recent image's side before registering.
        quality: similarity before/after inside the breast (``ncc_before``, ``ncc_after``,
            ``ncc_global``), ``overlap`` (fraction of the recent breast covered by the
            registered prior breast), deformation magnitude in mm (``mean_mm``, ``max_mm``,
            ``nonrigid_max_mm``), ``min_jacobian`` and ``folding``.
        seconds: wall-clock time of the registration.
    """

    recent_shape: tuple[int, int]
    prior_shape: tuple[int, int]
    spacing_mm: float
    field: np.ndarray
    affine_field: np.ndarray
    method: str
    fallback: str | None
    prior_mirrored: bool
    quality: dict[str, float | bool] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    # ---- point mapping -------------------------------------------------------------
    def _field_at(self, points: np.ndarray) -> np.ndarray:
        """Bilinear displacement at full-resolution recent points ``(N, 2)``."""
        h, w = self.field.shape[:2]
        sr, sc = self.recent_shape[0] / h, self.recent_shape[1] / w
        # Working pixel i covers full pixels [i*s, (i+1)*s): its centre is i*s + s/2 - 0.5.
        gr = np.clip((points[:, 0] + 0.5) / sr - 0.5, 0, h - 1)
        gc = np.clip((points[:, 1] + 0.5) / sc - 0.5, 0, w - 1)
        r0 = np.minimum(np.floor(gr).astype(int), h - 2 if h > 1 else 0)
        c0 = np.minimum(np.floor(gc).astype(int), w - 2 if w > 1 else 0)
        fr, fc = (gr - r0)[:, None], (gc - c0)[:, None]
        r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
        f = self.field
        return (
            f[r0, c0] * (1 - fr) * (1 - fc)
            + f[r0, c1] * (1 - fr) * fc
            + f[r1, c0] * fr * (1 - fc)
            + f[r1, c1] * fr * fc
        )

    def _unmirror(self, points: np.ndarray) -> np.ndarray:
        if not self.prior_mirrored:
            return points
        out = points.copy()
        out[:, 1] = self.prior_shape[1] - 1 - out[:, 1]
        return out

    def recent_to_prior(self, points: np.ndarray | list[list[float]]) -> np.ndarray:
        """Full-resolution recent (row, col) points -> prior (row, col) points."""
        pts = _as_points(points)
        return self._unmirror(pts + self._field_at(pts))

    def prior_to_recent(self, points: np.ndarray | list[list[float]]) -> np.ndarray:
        """Full-resolution prior (row, col) points -> recent points (inverse of the field).

        Fixed point of ``r = p - field(r)``: converges for the smooth, small deformations
        that survive the folding check.
        """
        pts = self._unmirror(_as_points(points))
        out = pts - self._field_at(pts)
        for _ in range(20):
            nxt = pts - self._field_at(out)
            if float(np.max(np.abs(nxt - out), initial=0.0)) < 1e-3:
                return nxt
            out = nxt
        return out

    # ---- warps ---------------------------------------------------------------------
    def _maps(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.recent_shape
        full = cv2.resize(self.field, (cols, rows), interpolation=cv2.INTER_LINEAR)
        map_y = full[..., 0] + np.arange(rows, dtype=np.float32)[:, None]
        map_x = full[..., 1] + np.arange(cols, dtype=np.float32)[None, :]
        return map_x.astype(np.float32), map_y.astype(np.float32)

    def warp_prior(self, prior: np.ndarray, *, nearest: bool = False) -> np.ndarray:
        """The prior image (or mask with ``nearest``) resampled onto the recent grid."""
        if prior.shape[:2] != self.prior_shape:
            raise ValueError(
                f"prior must be {self.prior_shape[0]}x{self.prior_shape[1]} px, "
                f"got {prior.shape[0]}x{prior.shape[1]}"
            )
        src = prior[:, ::-1] if self.prior_mirrored else prior
        is_bool = src.dtype == bool
        src = np.ascontiguousarray(src.astype(np.uint8) if is_bool else src.astype(np.float32))
        map_x, map_y = self._maps()
        interp = cv2.INTER_NEAREST if nearest or is_bool else cv2.INTER_LINEAR
        # Images repeat their edge (the breast runs to the chest-wall edge: a shift must not
        # pull in black); masks stay empty outside the prior.
        border = cv2.BORDER_CONSTANT if is_bool or nearest else cv2.BORDER_REPLICATE
        out = cv2.remap(src, map_x, map_y, interp, borderMode=border, borderValue=0)
        return out.astype(bool) if is_bool else out

    def fallback_note(self) -> str | None:
        """What was dropped, in words (``None`` when every stage run was kept): a pair
        compared as filed is "not registered", not fallen back to a global stage.

        Example:
            >>> f = np.zeros((2, 2, 2), np.float32)
            >>> reg = Registration((4, 4), (4, 4), 1.0, f, f, "none", "x", False)
            >>> reg.fallback_note()
            'not registered: x'
        """
        if not self.fallback:
            return None
        if self.method == NOT_REGISTERED:
            return f"not registered: {self.fallback}"
        return f"registration fell back to the global stage: {self.fallback}"

    def summary(self) -> dict[str, object]:
        """JSON-ready description (the ``registration`` object of the CLI)."""
        return {
            "method": self.method,
            "fallback": self.fallback,
            "prior_mirrored": self.prior_mirrored,
            "seconds": round(self.seconds, 3),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.quality.items()},
        }


def _as_points(points: np.ndarray | list[list[float]]) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite (row, col) pairs")
    return pts


def jacobian_determinant(disp: np.ndarray) -> np.ndarray:
    """Determinant of the Jacobian of ``x -> x + disp(x)`` on a grid (``disp``: (h, w, 2)).

    Values <= 0 mean the mapping folds (it is not one-to-one there).

    Example:
        >>> d = np.zeros((5, 5, 2)); d[..., 1] = -2.0 * np.arange(5)[None, :]
        >>> float(jacobian_determinant(d).max())   # the columns run backwards: folded
        -1.0
    """
    d_r_dr, d_r_dc = np.gradient(disp[..., 0])
    d_c_dr, d_c_dc = np.gradient(disp[..., 1])
    return (1.0 + d_r_dr) * (1.0 + d_c_dc) - d_r_dc * d_c_dr


def field_from_affine(
    matrix: np.ndarray, grid_shape: tuple[int, int], scale: tuple[float, float]
) -> np.ndarray:
    """Displacement (h, w, 2) on a working grid of an affine map of full-res (row, col).

    ``matrix`` is 2x3 acting on (row, col, 1); ``scale`` is full-res px per working px.
    """
    h, w = grid_shape
    rr = (np.arange(h) + 0.5) * scale[0] - 0.5
    cc = (np.arange(w) + 0.5) * scale[1] - 0.5
    r, c = np.meshgrid(rr, cc, indexing="ij")
    pts = np.stack([r, c, np.ones_like(r)], axis=-1)
    mapped = pts @ np.asarray(matrix, dtype=np.float64).T
    return (mapped - pts[..., :2]).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two images inside ``mask`` (0 when either is flat)."""
    if int(mask.sum()) < 16:
        return 0.0
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (np.sqrt((x * x).sum() * (y * y).sum()) + _EPS))


def _work(unit: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(
        cv2.resize(unit.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    )


def _work_shape(shape: tuple[int, int], side: int) -> tuple[int, int]:
    f = min(1.0, side / max(shape))
    return max(8, round(shape[0] * f)), max(8, round(shape[1] * f))


#: The ``method`` of a pair left as filed: every stage lowered the similarity (below).
NOT_REGISTERED = "none"

#: How much lower than the images as filed a registration's similarity may be (Pearson
#: correlation inside the recent breast) before it is dropped; the same margin as the
#: non-rigid stage's against the global one.
WORSE_MARGIN = 0.005


def as_filed_if_worse(
    reg: Registration, quality: Mapping[str, float | bool], margin: float = WORSE_MARGIN
) -> Registration | None:
    """The identity in place of ``reg`` (no displacement: recent pixel ``p`` is compared
    with the prior's ``p``, after the mirroring; ``method`` :data:`NOT_REGISTERED`, the
    reason in ``fallback``) when ``reg``'s similarity (``quality``'s ``ncc_after``) is below
    that of the images as filed (``ncc_before``) by more than ``margin``; ``None`` when
    ``reg`` is no worse. A registration must never make the subtraction worse than none.

    Example:
        >>> r = Registration((4, 4), (4, 4), 0.1, np.ones((2, 2, 2), np.float32),
        ...                  np.ones((2, 2, 2), np.float32), "affine", None, False)
        >>> ident = as_filed_if_worse(r, {"ncc_before": 0.99, "ncc_after": 0.90})
        >>> ident.method, float(abs(ident.field).max())
        ('none', 0.0)
        >>> as_filed_if_worse(r, {"ncc_before": 0.99, "ncc_after": 0.988}) is None
        True
    """
    before, after = float(quality["ncc_before"]), float(quality["ncc_after"])
    if not after < before - margin:
        return None
    zero = np.zeros_like(reg.field)
    reason = (
        f"the {reg.method} registration lowered the similarity to {after:.3f}, from "
        f"{before:.3f} as filed"
    )
    return replace(reg, field=zero, affine_field=zero, method=NOT_REGISTERED, fallback=reason)


def quality_figures(
    reg: Registration,
    recent: np.ndarray,
    prior: np.ndarray,
    recent_mask: np.ndarray,
    prior_mask: np.ndarray,
) -> dict[str, float | bool]:
    """Similarity before/after inside the breast, overlap, deformation, folding.

    Measured on the registration's working grid: Pearson correlation inside the recent
    breast of the recent image with the prior as filed (``ncc_before``) and registered
    (``ncc_after``); ``overlap``: fraction of the recent breast covered by the registered
    prior breast; displacement in mm (mean, max, and of the non-rigid part alone);
    ``min_jacobian`` of the mapping inside the breast and ``folding`` (it is <= 0).
    ``prior`` and ``prior_mask`` as registered (mirrored when the registration says so
    is undone here: pass them as in the file).
    """
    work_shape = (int(reg.field.shape[0]), int(reg.field.shape[1]))
    r_w = _work(recent, work_shape)
    m_w = cv2.resize(
        recent_mask.astype(np.uint8),
        (work_shape[1], work_shape[0]),
        interpolation=cv2.INTER_NEAREST,
    ).astype(bool)
    # Warp the prior at working resolution: scale the field into working prior pixels.
    p_shape = _work_shape(prior.shape, max(work_shape))
    p_w = _work(prior[:, ::-1] if reg.prior_mirrored else prior, p_shape)
    pm_w = cv2.resize(
        (prior_mask[:, ::-1] if reg.prior_mirrored else prior_mask).astype(np.uint8),
        (p_shape[1], p_shape[0]),
        interpolation=cv2.INTER_NEAREST,
    )
    kr, kc = prior.shape[0] / p_shape[0], prior.shape[1] / p_shape[1]
    sr, sc = recent.shape[0] / work_shape[0], recent.shape[1] / work_shape[1]
    rr = (np.arange(work_shape[0]) + 0.5) * sr - 0.5
    cc = (np.arange(work_shape[1]) + 0.5) * sc - 0.5
    pr = (rr[:, None] + reg.field[..., 0] + 0.5) / kr - 0.5
    pc = (cc[None, :] + reg.field[..., 1] + 0.5) / kc - 0.5
    warped = cv2.remap(
        p_w,
        pc.astype(np.float32),
        pr.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    warped_mask = cv2.remap(
        pm_w, pc.astype(np.float32), pr.astype(np.float32), cv2.INTER_NEAREST, borderValue=0
    ).astype(bool)
    # "Before": the prior as it lies in the file, on the recent grid (no transform at all).
    ir = (rr[:, None] + np.zeros_like(cc)[None, :] + 0.5) / kr - 0.5
    ic = (cc[None, :] + np.zeros_like(rr)[:, None] + 0.5) / kc - 0.5
    unreg = cv2.remap(
        p_w,
        ic.astype(np.float32),
        ir.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    disp_mm = np.hypot(reg.field[..., 0], reg.field[..., 1]) * reg.spacing_mm
    nonrigid_mm = np.hypot(*(reg.field - reg.affine_field).transpose(2, 0, 1)) * reg.spacing_mm
    # Jacobian in working-grid units: convert the full-res displacement to working pixels.
    jac = jacobian_determinant(np.stack([reg.field[..., 0] / sr, reg.field[..., 1] / sc], -1))
    inside = m_w if m_w.any() else np.ones_like(m_w)
    min_jac = float(jac[inside].min())
    return {
        "ncc_before": _ncc(r_w, unreg, m_w),
        "ncc_after": _ncc(r_w, warped, m_w),
        "overlap": float((warped_mask & m_w).sum() / max(int(m_w.sum()), 1)),
        "mean_mm": float(disp_mm[inside].mean()),
        "max_mm": float(disp_mm[inside].max()),
        "nonrigid_max_mm": float(nonrigid_mm[inside].max()),
        "min_jacobian": min_jac,
        "folding": bool(min_jac <= 0.0),
    }


def landmark_error(
    reg: Registration, pairs: np.ndarray, recent_mask: np.ndarray | None = None
) -> dict[str, float]:
    """Target registration error (mm) on known landmark pairs, both directions.

    Args:
        reg: a registration.
        pairs: ``(N, 4)`` rows of prior (row, col), recent (row, col), full-resolution px.
        recent_mask: keep only pairs whose recent point lies inside it (the breast).

    Returns:
        ``tre_mm`` (mean error of recent -> prior), ``tre_max_mm``, ``inverse_mm`` (mean
        error of prior -> recent), ``before_mm`` (mean distance with no registration),
        ``n`` (pairs used).
    """
    pts = np.asarray(pairs, dtype=np.float64).reshape(-1, 4)
    if recent_mask is not None and len(pts):
        r = np.clip(np.round(pts[:, 2]).astype(int), 0, recent_mask.shape[0] - 1)
        c = np.clip(np.round(pts[:, 3]).astype(int), 0, recent_mask.shape[1] - 1)
        pts = pts[recent_mask[r, c]]
    if not len(pts):
        raise ValueError("no landmark pairs inside the breast to measure the error on")
    prior, recent = pts[:, :2], pts[:, 2:]
    fwd = np.hypot(*(reg.recent_to_prior(recent) - prior).T) * reg.spacing_mm
    inv = np.hypot(*(reg.prior_to_recent(prior) - recent).T) * reg.spacing_mm
    before = np.hypot(*(recent - prior).T) * reg.spacing_mm
    return {
        "tre_mm": float(fwd.mean()),
        "tre_max_mm": float(fwd.max()),
        "inverse_mm": float(inv.mean()),
        "before_mm": float(before.mean()),
        "n": float(len(pts)),
    }
