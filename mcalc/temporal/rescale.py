"""A registration carried onto other pixel grids of the same two images (previews).

:func:`rescaled` turns a full-resolution :class:`~mcalc.temporal.register.Registration` into
one between downsampled copies (the viewer's previews), so warps and subtractions for display
run on the small grids: a 4096 px pair's subtraction then costs what a 1024 px one does.

Example:
    >>> import numpy as np
    >>> from mcalc.temporal.register import Registration
    >>> f = np.full((4, 4, 2), 8.0, np.float32)  # the prior is 8 full pixels down and right
    >>> reg = Registration((400, 400), (400, 400), 0.1, f, f, "affine", None, False)
    >>> small = rescaled(reg, (100, 100), (100, 100))
    >>> [round(float(v), 2) for v in small.recent_to_prior([[50.0, 50.0]])[0]]
    [52.0, 52.0]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mcalc.temporal.register import Registration

__all__ = ["rescaled"]


def _carry(reg: Registration, field: np.ndarray, sr: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """``field`` (full-resolution prior pixels on the working grid) in the new grids' pixels.

    A working node at full-resolution recent ``P`` shows the prior at ``P + field``; with
    pixel centres kept (``q = (p + 0.5) * s - 0.5``) its new displacement is
    ``(P + field + 0.5) * sp - 0.5 - ((P + 0.5) * sr - 0.5)``: linear in ``P``, so the
    bilinear interpolation of the working grid stays exact inside it.
    """
    h, w = field.shape[:2]
    rows = (np.arange(h) + 0.5) * reg.recent_shape[0] / h - 0.5
    cols = (np.arange(w) + 0.5) * reg.recent_shape[1] / w - 0.5
    p = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    return ((p + field + 0.5) * sp - (p + 0.5) * sr).astype(np.float32)


def rescaled(
    reg: Registration, recent_shape: tuple[int, int], prior_shape: tuple[int, int]
) -> Registration:
    """``reg`` between the recent image resampled to ``recent_shape`` and the prior
    resampled to ``prior_shape`` (same fields of view, e.g. :func:`mcalc.imaging.downsample`).

    Points, warps and :func:`mcalc.temporal.subtraction` of the result work in the new grids'
    pixels; ``spacing_mm`` becomes the new recent grid's. Quality figures are kept (they
    describe the registration, measured at full resolution).

    Raises:
        ValueError: a shape that is not two positive sizes.
    """
    for name, shape in (("recent_shape", recent_shape), ("prior_shape", prior_shape)):
        if len(shape) != 2 or min(shape) <= 0:
            raise ValueError(f"{name} must be two positive sizes (rows, cols), got {shape}")
    sr = np.array(recent_shape, float) / np.array(reg.recent_shape, float)
    sp = np.array(prior_shape, float) / np.array(reg.prior_shape, float)
    return dataclasses.replace(
        reg,
        recent_shape=(int(recent_shape[0]), int(recent_shape[1])),
        prior_shape=(int(prior_shape[0]), int(prior_shape[1])),
        spacing_mm=float(reg.spacing_mm / sr.mean()),
        field=_carry(reg, reg.field, sr, sp),
        affine_field=_carry(reg, reg.affine_field, sr, sp),
    )
