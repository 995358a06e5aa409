"""A tiny hand-made :class:`ImageView` for tests of clicks, marks and mirroring."""

from __future__ import annotations

import numpy as np

from mcalc.viewer import ImageView


def tiny_view(
    flipped: bool,
    *,
    key: str = "k/CC_recent",
    full_shape: tuple[int, int] = (100, 80),
    with_calcification: bool = True,
) -> ImageView:
    """A 50x40 black preview of a ``full_shape`` image at 0.1 mm, right breast; with one
    annotated calcification at (10, 10) when ``with_calcification``."""
    extra = (
        {"calc_points": np.array([[10.0, 10.0]]), "calc_diameters_mm": (0.3,)}
        if with_calcification
        else {}
    )
    return ImageView(
        key=key,
        preview=np.zeros((50, 40, 3), np.uint8),
        full_shape=full_shape,
        scale=0.5,
        flipped=flipped,
        window=(0.0, 1.0),
        invert=False,
        spacing_mm=(0.1, 0.1),
        laterality="R",
        has_annotation=with_calcification,
        **extra,
    )
