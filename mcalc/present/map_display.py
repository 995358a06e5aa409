"""Maps on the viewer's images: overlays on previews and full-resolution crops, box coordinates.

Maps live on the model-input image (file orientation, model spacing); the viewer
(:mod:`mcalc.viewer`) shows previews placed in full-resolution pixel coordinates and may
mirror an image so the chest wall is where radiologists hang it. These functions resize and
mirror a map to what is shown, and convert boxes between the file and the display.

Example:
    >>> import numpy as np
    >>> from mcalc.viewer import ImageView
    >>> v = ImageView("k", np.zeros((10, 8, 3), np.uint8), (100, 80), 0.1, True, (0, 1), False,
    ...               (0.1, 0.1), "R", False)
    >>> display_box((10, 20, 0, 16), v)
    (10, 20, 64, 80)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from mcalc.explain.overlay import blend, draw_boxes, resize_map
from mcalc.viewer import ImageView

__all__ = ["display_box", "boxed_preview", "overlay_view", "crop_heat", "overlay_crop"]


def display_box(box: tuple[int, int, int, int], view: ImageView) -> tuple[int, int, int, int]:
    """A file-orientation box ``(r0, r1, c0, c1)`` (half-open) in display coordinates.

    The same formula converts back: mirroring twice is the identity.
    """
    return view.display_box(box)


def boxed_preview(
    view: ImageView, boxes: Sequence[tuple[str, tuple[int, int, int, int]]]
) -> np.ndarray:
    """The view's preview with each ``(label, box)`` drawn on it: a file-orientation box of
    full-resolution pixels (a top region's), mirrored and scaled as the preview is, white
    over a black edge, its label above it (a copy; the view is left as it is)."""
    s = view.scale
    shown = []
    for _, box in boxes:
        r0, r1, c0, c1 = view.display_box(box)
        shown.append((math.floor(r0 * s), math.ceil(r1 * s), math.floor(c0 * s), math.ceil(c1 * s)))
    return draw_boxes(
        view.preview, shown, (255, 255, 255), [label for label, _ in boxes], edge=True
    )


def overlay_view(
    view: ImageView, heat01: np.ndarray, alpha: float = 0.5, cmap: str = "jet"
) -> ImageView:
    """The view with a [0, 1] map (model-input size, file orientation) blended over its
    windowed preview; everything else (marks, coordinates) unchanged."""
    heat = view.mirror(resize_map(heat01, view.preview.shape[:2]))
    return dataclasses.replace(view, preview=blend(view.preview, heat, alpha=alpha, cmap=cmap))


def crop_heat(
    heat01: np.ndarray,
    factor: float,
    view: ImageView,
    box: tuple[int, int, int, int],
    shape: tuple[int, int],
) -> np.ndarray:
    """The part of a map under a display box, resized to ``shape`` and mirrored like it.

    Args:
        heat01: the map at the model-input size (file orientation).
        factor: native pixels x ``factor`` = map pixels.
        view: the view the box is drawn on.
        box: ``(r0, r1, c0, c1)`` in display (full-resolution) pixels.
        shape: (rows, cols) of the crop the map goes on.
    """
    r0, r1, c0, c1 = display_box(box, view)  # back to file orientation
    h, w = heat01.shape
    ur0 = min(max(0, math.floor(r0 * factor)), h - 1)
    ur1 = max(ur0 + 1, min(h, math.ceil(r1 * factor)))
    uc0 = min(max(0, math.floor(c0 * factor)), w - 1)
    uc1 = max(uc0 + 1, min(w, math.ceil(c1 * factor)))
    part = resize_map(np.asarray(heat01, np.float32)[ur0:ur1, uc0:uc1], shape)
    return view.mirror(part)


def overlay_crop(
    crop: np.ndarray,
    heat01: np.ndarray,
    factor: float,
    view: ImageView,
    box: tuple[int, int, int, int],
    alpha: float = 0.5,
    cmap: str = "jet",
) -> np.ndarray:
    """A full-resolution crop (:func:`mcalc.viewer.crop_view`) with its part of the map."""
    heat = crop_heat(heat01, factor, view, box, crop.shape[:2])
    return blend(crop, heat, alpha=alpha, cmap=cmap)
