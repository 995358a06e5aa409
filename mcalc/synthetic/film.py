"""Scanned-film artefacts (``--style film``): what a digitised film mammogram adds.

Public film collections (DDSM / CBIS-DDSM, MIAS) were scanned from film, and their images
carry things a full-field digital detector never shows, each of which can fool a breast
segmentation into taking in the image edge:

- **film borders**: unexposed film edges, scanned as bright bands along some sides;
- **scanner edge lines**: thin bright or dark streaks running the length of the image;
- **burnt-in labels**: bright stickers with text (side, view, a film number), here one
  touching the border band as sticker edges often do;
- **film fog**: a non-black, slowly varying background.

:func:`add_film_artefacts` adds them to a finished 12-bit image, drawing from its own
random stream, so the breast, tissue and calcifications stay those of the digital image.
"""

from __future__ import annotations

import cv2
import numpy as np

from mcalc.synthetic.spec import MAX_VALUE

__all__ = ["STYLES", "add_film_artefacts"]

#: Values of ``generate_demo(style=...)`` / ``python -m mcalc demo --style``.
STYLES: tuple[str, ...] = ("digital", "film")


def add_film_artefacts(
    pixels: np.ndarray, rng: np.random.Generator, *, chest_wall_left: bool, view: str
) -> np.ndarray:
    """A copy of ``pixels`` (uint16, 12-bit) with film borders, scanner lines, a label
    touching the border, and film fog.

    Args:
        pixels: the finished digital image (breast against the chest-wall edge).
        rng: the image's own stream for the artefacts.
        chest_wall_left: the breast touches the left edge (else the right).
        view: ``CC`` or ``MLO`` (written on the sticker).
    """
    rows, cols = pixels.shape
    out = pixels.astype(np.float32)
    # Film fog: the film base is never black; a slow gradient with grain.
    yy = np.arange(rows, dtype=np.float32)[:, None]
    fog = (
        120.0 + 160.0 * (yy / rows) * float(rng.uniform(0.5, 1.0)) + np.zeros((1, cols), np.float32)
    )
    fog += rng.normal(0.0, 25.0, size=(rows, cols)).astype(np.float32)
    out = np.maximum(out, fog)
    # Bright bands along the top, bottom and far side; sometimes a thin one at the chest wall.
    far_left = not chest_wall_left
    bands = {
        "top": rng.uniform(0.02, 0.05),
        "bottom": rng.uniform(0.02, 0.06),
        "far": rng.uniform(0.03, 0.07),
        "near": rng.uniform(0.005, 0.015) if rng.random() < 0.5 else 0.0,
    }
    bright = lambda shape: np.clip(rng.normal(4000.0, 40.0, size=shape), 0, MAX_VALUE)  # noqa: E731
    t, b = round(bands["top"] * rows), round(bands["bottom"] * rows)
    f, n = round(bands["far"] * cols), round(bands["near"] * cols)
    out[:t] = bright((t, cols))
    out[rows - b :] = bright((b, cols))
    if far_left:
        out[:, :f] = bright((rows, f))
        if n:
            out[:, cols - n :] = bright((rows, n))
    else:
        out[:, cols - f :] = bright((rows, f))
        if n:
            out[:, :n] = bright((rows, n))
    # Scanner edge lines: full-height streaks 1-2 px wide, one of them through the breast.
    for k in range(int(rng.integers(2, 4))):
        width = int(rng.integers(1, 3))
        c = int(rng.integers(width, cols - width))
        if k == 0:  # through the breast half
            half = (0, cols // 2) if chest_wall_left else (cols // 2, cols)
            c = int(rng.integers(half[0] + width, half[1] - width))
        level = 3600.0 if rng.random() < 0.6 else 60.0
        out[:, c : c + width] = level
    # A sticker at the far bottom corner, touching the bottom band.
    text = f"{'L' if chest_wall_left else 'R'}-{view} {int(rng.integers(10, 99))}"
    height = max(10, round(0.05 * rows))
    width = max(3 * height, round(0.22 * cols))
    y0 = rows - b - height
    x0 = f if far_left else cols - f - width
    ink = np.zeros((height, width), np.uint8)
    scale = 0.5 * height / 22.0
    cv2.putText(ink, text, (height // 4, height - height // 4), 0, scale, 255, 1, cv2.LINE_AA)
    out[y0 : y0 + height, x0 : x0 + width] = 3900.0 - 3400.0 * (ink / 255.0)
    return np.clip(np.round(out), 0.0, MAX_VALUE).astype(np.uint16)
