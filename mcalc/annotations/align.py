"""Annotation files -> a calcification mask on the image's pixel grid.

:func:`load_annotation_mask` reads a red-mark rendering (:func:`mcalc.annotations.red.red_mask`)
or a mask image, checks it shows the image's field of view (aspect ratio), and maps it onto
the image's grid with :func:`mcalc.imaging.resample_mask` (``any``: a one-pixel mark never
vanishes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from mcalc.annotations.red import RedMaskParams, red_mask
from mcalc.errors import AnnotationError
from mcalc.imaging import resample_mask

__all__ = ["ANNOTATION_KINDS", "ASPECT_TOLERANCE", "RESIZED_NOTE", "load_annotation_mask"]

log = logging.getLogger(__name__)

#: Accepted values of ``kind`` in :func:`load_annotation_mask`.
ANNOTATION_KINDS: tuple[str, ...] = ("red", "mask", "region")

#: How a note of :func:`load_annotation_mask` about an annotation of another size than its
#: image starts (``scan`` reports it as a warning: marks may have been lost or moved).
RESIZED_NOTE = "annotation is"

#: Largest relative difference of aspect ratio (columns/rows) between an annotation and its
#: image that is still taken for a rescaled copy of the same picture.
ASPECT_TOLERANCE = 0.02


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive integers (rows, columns), got {shape!r}")
    return int(shape[0]), int(shape[1])


def _jpeg_complete(data: np.ndarray) -> bool:
    """A JPEG ends with EOI (FF D9) after its last scan; truncated copies do not."""
    raw = data.tobytes()
    sos = raw.rfind(b"\xff\xda")
    return sos >= 0 and raw.rfind(b"\xff\xd9") > sos


def _count_marks(mask: np.ndarray) -> int:
    """Connected marks (8-connected) of a mask."""
    return int(cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0]) - 1


def _size(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def load_annotation_mask(
    path: str | Path,
    kind: str,
    shape: tuple[int, int],
    *,
    params: RedMaskParams | None = None,
    mask_threshold: int | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an annotation file and return its calcification mask on the image's grid.

    Args:
        path: the annotation image (JPEG, PNG, TIFF...). Non-ASCII paths work.
        kind: ``"red"`` for a colour rendering with red marks (the dataset's ``*_GT.jpg``),
            ``"mask"`` for a mask image where any non-zero pixel is a calcification,
            ``"region"`` for a mask image whose non-zero pixels outline an area holding
            calcifications (read the same way: the binary mask of the region).
        shape: ``(rows, columns)`` of the mammogram the annotation belongs to.
        params: thresholds for ``kind="red"`` (see :class:`RedMaskParams`).
        mask_threshold: for ``kind="mask"``, pixels above it are marks. Default 0, or 127
            when the file is a JPEG (lossy: edges carry small non-zero values).

    Returns:
        ``(mask, notes)``: a bool mask of ``shape`` and human-readable notes (rescaling,
        no marks found, lossy mask).

    Raises:
        AnnotationError: unknown kind, missing/empty/truncated/undecodable file, or an
            aspect ratio that differs from the image's by more than 2%.
    """
    path = Path(path)
    if kind not in ANNOTATION_KINDS:
        raise AnnotationError(
            f"{path}: unknown annotation kind {kind!r}; expected 'red' (colour rendering "
            "with red marks), 'mask' (mask image, non-zero = calcification) or 'region' "
            "(mask image, non-zero = area holding calcifications)"
        )
    target = _check_shape(shape)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read annotation file ({exc})") from exc
    if data.size == 0:
        raise AnnotationError(f"{path}: annotation file is empty; re-copy it from the source")
    is_jpeg = data.size >= 3 and bytes(data[:3]) == b"\xff\xd8\xff"
    if is_jpeg and not _jpeg_complete(data):
        raise AnnotationError(
            f"{path}: JPEG is truncated (no end-of-image marker after the last scan); "
            "re-copy the file from the source"
        )
    flags = (
        cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION if kind == "red" else cv2.IMREAD_UNCHANGED
    )
    image = _decode(path, data, flags)
    if image is None or image.size == 0:
        raise AnnotationError(
            f"{path}: cannot decode annotation image (expected JPEG, PNG or TIFF); "
            "the file may be truncated or not an image"
        )
    found = (int(image.shape[0]), int(image.shape[1]))
    _check_aspect(path, found, target)

    notes: list[str] = []
    if kind == "red":
        enlarged = found != target and found[0] <= target[0] and found[1] <= target[1]
        if enlarged:
            # A GT smaller than its image: the red marks are read on the rendering enlarged
            # to the image's size, where red_mask's thresholds and areas were made for;
            # read at the file's size and the mask enlarged, small marks vanished or merged
            # (a half-size copy of the synthetic set: 68 -> 49 calcifications, 65 this way).
            small = image
            image = cv2.resize(image, (target[1], target[0]), interpolation=cv2.INTER_LINEAR)
        mask = red_mask(image, params, bgr=True)  # decoded as BGR: no conversion pass
        if enlarged:
            own = _count_marks(red_mask(small, params, bgr=True))
            notes.append(
                f"{RESIZED_NOTE} {_size(found)}, image is {_size(target)} (rows x columns): "
                f"rescaled to the image's size before its red marks were read "
                f"({_count_marks(mask)} marks; {own} at the file's own size); a GT should "
                "have its image's size, small marks may be lost: check the file"
            )
            found = target
        if not mask.any():
            # Said for what it is: most often no calcification was marked on this image.
            notes.append("no red marks found in the annotation image (no calcification marked)")
    else:
        mask, note = _mask_from_image(image, is_jpeg, mask_threshold)
        if note:
            notes.append(note)
        if not mask.any():
            notes.append("mask image has no marked pixels")
    if found != target:
        notes.append(
            f"{RESIZED_NOTE} {_size(found)}, image is {_size(target)} (rows x columns): "
            "mask rescaled (every marked pixel kept); an annotation should have its "
            "image's size: check the file"
        )
        mask = resample_mask(mask, target, "any")
    log.debug("%s: %s", path, "; ".join(notes) or "annotation read")
    return mask, tuple(notes)


def _decode(path: Path, data: np.ndarray, flags: int) -> np.ndarray | None:
    """``cv2.imdecode(data, flags)``, decoded straight into NumPy's memory when it can be.

    ``cv2.imdecode`` (and ``cv2.imread`` without ``dst``) decodes into OpenCV's own memory
    and hands back a copy in NumPy's: for a 4096x3328 colour rendering that is 40 MB
    faulted in page by page, then copied, which costs as much as the decoding itself
    (the dataset's four renderings of a case: 0.22 s of CPU against 0.11 s here).
    ``cv2.imread``'s ``dst`` overload with ``None`` has the Python binding allocate the
    image as a NumPy array that the decoder fills (huge pages where the kernel offers them
    for NumPy's large arrays). The decoder and its pixels are the same. When OpenCV cannot
    open or decode ``path`` itself (``None``), the bytes already read decide, as before.
    """
    image = cv2.imread(str(path), None, flags)
    if image is None or image.size == 0:
        image = cv2.imdecode(data, flags)
    return image


def _check_aspect(path: Path, found: tuple[int, int], target: tuple[int, int]) -> None:
    ratio_found = found[1] / found[0]
    ratio_target = target[1] / target[0]
    diff = abs(ratio_found / ratio_target - 1.0)
    if diff <= ASPECT_TOLERANCE:
        return
    rotated = abs((found[0] / found[1]) / ratio_target - 1.0) <= ASPECT_TOLERANCE
    hint = (
        "it looks rotated by 90 degrees; rotate it to match the image"
        if rotated
        else "it may belong to another image or be cropped; check which image it annotates"
    )
    raise AnnotationError(
        f"{path}: annotation is {_size(found)} but the image is {_size(target)} "
        f"(rows x columns): expected the image's aspect ratio, the aspect ratios differ by "
        f"{diff:.1%} (tolerance {ASPECT_TOLERANCE:.0%}); {hint}"
    )


def _mask_from_image(
    image: np.ndarray, is_jpeg: bool, threshold: int | None
) -> tuple[np.ndarray, str | None]:
    note = None
    if threshold is None:
        threshold = 127 if is_jpeg else 0
        if is_jpeg:
            note = "mask is a lossy JPEG: pixels above 127 taken as marks"
    if image.ndim == 3:
        channels = image[..., :3] if image.shape[2] >= 3 else image
        values = channels.max(axis=2)
        if image.shape[2] == 4 and not values.any():
            values = image[..., 3]  # marks drawn in the alpha channel only
    else:
        values = image
    return values > threshold, note
