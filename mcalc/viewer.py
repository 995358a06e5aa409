"""Views of mammograms for the Browse page: windowed previews, overlays, full-res crops.

The browser gets a downsampled preview of each image (longest side
``Settings.preview_max_side``) and, for the region a user looks at closely, a crop read
at full resolution from the memory-mapped cache. Images hang as radiologists hang them
(:func:`display_side`: right breasts with the chest wall on the right edge, left breasts on
the left edge), so prior and recent of one breast always line up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from mcalc import imaging
from mcalc.annotations import AnnotationSummary, load_annotation_mask, summarize
from mcalc.breast import breast_mask, chest_wall_side
from mcalc.cache import ImageCache
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.errors import AnnotationError, ImageReadError
from mcalc.imageio import Mammogram
from mcalc.plural import counted

__all__ = [
    "prefetch",
    "prefetch_in_background",
    "DisplayOptions",
    "ImageView",
    "prepare_view",
    "prepare_views",
    "crop_view",
    "annotation_for",
    "resolve_window",
    "display_side",
    "image_counts",
    "case_counts",
    "unreadable_images",
    "value_top",
    "encode_jpeg",
    "preview_values",
    "preview_breast",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DisplayOptions:
    """How to display an image: window, presentation, contrast and overlay.

    ``preset`` is a key of :data:`mcalc.imaging.WINDOW_PRESETS` or ``manual`` (then
    ``center``/``width`` in modality units are used).
    """

    preset: str = "file"
    center: float | None = None
    width: float | None = None
    invert: bool = False
    clahe: bool = False
    clahe_clip: float = 2.0
    show_annotations: bool = True
    overlay_color: str = "#ff3030"
    overlay_alpha: float = 0.8
    orient: bool = True  # mirror images whose chest wall is not where display_side says


@dataclass(frozen=True)
class ImageView:
    """What the viewer draws for one image (display orientation, full-res coordinates).

    Attributes:
        preview: RGB uint8 preview, overlay already blended in when asked for.
        full_shape: (rows, cols) of the full-resolution image.
        scale: preview pixels per full-resolution pixel.
        flipped: the image was mirrored left-right to put the chest wall on the left.
        window: (centre, width) used, in modality units.
        calc_points: (N, 2) calcification centres (row, col), display orientation.
        calc_diameters_mm: equivalent diameters of the calcifications.
        cluster_hulls: one (K, 2) polygon (row, col) per cluster, display orientation.
        cluster_sizes: number of calcifications in each cluster.
        region_outlines: one (K, 2) polygon (row, col) per annotated region (annotation
            kind ``region``: an area holding calcifications), display orientation.
        notes: flags raised while reading the image and its annotation.
        use_lut: the file's VOI LUT was applied instead of ``window``.
    """

    key: str
    preview: np.ndarray
    full_shape: tuple[int, int]
    scale: float
    flipped: bool
    window: tuple[float, float]
    invert: bool
    spacing_mm: tuple[float, float]
    laterality: str | None
    has_annotation: bool
    calc_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    calc_diameters_mm: tuple[float, ...] = ()
    cluster_hulls: tuple[np.ndarray, ...] = ()
    cluster_sizes: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    use_lut: bool = False
    region_outlines: tuple[np.ndarray, ...] = ()

    @property
    def n_calcifications(self) -> int:
        return len(self.calc_diameters_mm)

    # -- display mirroring: the only place that knows how a flipped image maps ------------
    def to_display(self, row: float, col: float) -> tuple[float, float]:
        """The file's own (row, col), full resolution -> display coordinates."""
        if not self.flipped:
            return float(row), float(col)
        return float(row), float(self.full_shape[1] - 1 - col)

    def to_file(self, row: float, col: float) -> tuple[float, float]:
        """Display coordinates -> the file's own (row, col) (mirroring is its own inverse)."""
        return self.to_display(row, col)

    def points_to_display(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) file (row, col) points -> display coordinates (a new array)."""
        out = np.array(points, dtype=float).reshape(-1, 2)
        if self.flipped:
            out[:, 1] = self.full_shape[1] - 1 - out[:, 1]
        return out

    def display_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A half-open ``(r0, r1, c0, c1)`` box, file <-> display (its own inverse)."""
        r0, r1, c0, c1 = (int(v) for v in box)
        if not self.flipped:
            return r0, r1, c0, c1
        w = self.full_shape[1]
        return r0, r1, w - c1, w - c0

    def mirror(self, image: np.ndarray) -> np.ndarray:
        """An image of this view's field (any scale, file orientation) as displayed:
        mirrored left-right (a contiguous copy) when the view is flipped, else unchanged."""
        return np.ascontiguousarray(image[:, ::-1]) if self.flipped else image

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_sizes)

    @property
    def n_regions(self) -> int:
        return len(self.region_outlines)

    def annotation_caption(self) -> str:
        """What the annotation counts: ``"3 calc. · 1 cluster(s)"``, or ``"2 region(s)"``
        for a region annotation (its pixels are areas, not calcifications)."""
        if not self.has_annotation:
            return "no annotation"
        if self.n_regions:
            return f"{counted(self.n_regions, 'region')}"
        return f"{self.n_calcifications} calc. · {counted(self.n_clusters, 'cluster')}"


def _preview_values(cache: ImageCache, rec: ImageRecord, mammo: Mammogram, max_side: int):
    def compute() -> np.ndarray:
        pixels = np.asarray(mammo.pixels)
        if pixels.dtype not in (np.uint8, np.uint16, np.float32):
            pixels = pixels.astype(np.float32)
        return imaging.downsample(pixels, max_side).astype(np.float32)

    return cache.array(rec.image_path, f"preview{max_side}", compute)


def preview_values(cache: ImageCache, rec: ImageRecord, max_side: int) -> np.ndarray:
    """The image's modality values downsampled to ``max_side`` (file orientation, cached;
    the same array :func:`prepare_view` windows)."""
    return _preview_values(cache, rec, cache.load_record(rec), max_side)


def preview_breast(cache: ImageCache, rec: ImageRecord, max_side: int) -> np.ndarray:
    """The breast region of the image's preview (:func:`mcalc.breast.breast_mask` of
    :func:`preview_values` as the file presents it), segmented once per image and size."""
    mammo = cache.load_record(rec)
    values = _preview_values(cache, rec, mammo, max_side)
    return cache.memo(
        rec.image_path,
        f"breast-preview{max_side}",
        lambda: breast_mask(imaging.file_unit(mammo, values)),
    )


def resolve_window(
    mammo: Mammogram, preview_values: np.ndarray, region: np.ndarray | None, opts: DisplayOptions
) -> tuple[float, float]:
    """(centre, width) in modality units for the chosen preset or manual values."""
    if opts.preset == "manual":
        if opts.center is None or opts.width is None or opts.width <= 0:
            raise ValueError(
                f"manual window needs a centre and a positive width, got {opts.center}, {opts.width}"
            )
        return float(opts.center), float(opts.width)
    if opts.preset == "file":
        return mammo.window_center, mammo.window_width
    if opts.preset == "full range":
        lo, hi = mammo.value_range
        return (lo + hi) / 2.0, max(hi - lo + 1.0, 1.0)
    if opts.preset not in imaging.WINDOW_PRESETS:
        known = ", ".join([*imaging.WINDOW_PRESETS, "manual"])
        raise ValueError(f"unknown window preset {opts.preset!r}; expected one of {known}")
    percentiles = imaging.WINDOW_PRESETS[opts.preset]
    if percentiles is None:  # a preset added without percentiles or a rule above
        raise ValueError(f"window preset {opts.preset!r} has no percentiles")
    return imaging.auto_window(preview_values, region, percentiles)


def _present(
    values: np.ndarray,
    mammo: Mammogram,
    win: tuple[float, float],
    opts: DisplayOptions,
    use_lut: bool = False,
) -> np.ndarray:
    """Modality values -> the [0, 1] image shown: ``win`` (or the file's own presentation,
    :func:`mcalc.imaging.file_unit`, when its VOI LUT is used), inversion, contrast."""
    if use_lut:
        unit = imaging.file_unit(mammo, values)
        if opts.invert:
            unit = imaging.invert(unit)
    else:
        unit = imaging.window(values, win[0], win[1], mammo.voi_function)
        if mammo.monochrome1 != opts.invert:
            unit = imaging.invert(unit)
    if opts.clahe:
        unit = imaging.clahe(unit, opts.clahe_clip)
    return unit


def annotation_for(
    cache: ImageCache, rec: ImageRecord, shape: tuple[int, int], spacing: tuple[float, float]
) -> tuple[np.ndarray | None, AnnotationSummary | None, tuple[str, ...]]:
    """The record's annotation mask (full resolution), its summary and notes, cached.

    A broken annotation file does not stop the image from being shown: the problem is
    returned as a note.
    """
    if rec.annotation_path is None:
        return None, None, ()
    path = rec.annotation_path
    name = f"mask-{rec.annotation_kind}-{shape[0]}x{shape[1]}"
    fresh: dict[str, list[str]] = {}

    def compute_mask() -> np.ndarray:
        mask, notes = load_annotation_mask(path, rec.annotation_kind, shape)
        fresh["notes"] = list(notes)
        return mask

    try:
        mask = cache.array(path, name, compute_mask)
        notes = cache.json(
            path,
            name + "-notes",
            lambda: (
                fresh["notes"]
                if "notes" in fresh
                else list(load_annotation_mask(path, rec.annotation_kind, shape)[1])
            ),
        )
    except AnnotationError as exc:
        return None, None, (str(exc),)
    summary = cache.memo(
        path,
        f"{name}-summary-{spacing}",
        lambda: summarize(mask, spacing, kind=rec.annotation_kind),
    )
    return mask, summary, tuple(str(n) for n in notes) if isinstance(notes, list) else ()


def _marks(
    summary: AnnotationSummary | None,
) -> tuple[np.ndarray, tuple[float, ...], tuple[np.ndarray, ...], tuple[int, ...]]:
    """Calcification centres (N, 2), their diameters, cluster hulls and sizes, file
    orientation (all empty without an annotation)."""
    if summary is None:
        return np.zeros((0, 2)), (), (), ()
    points = np.array([c.centroid for c in summary.calcifications], dtype=float).reshape(-1, 2)
    diameters = tuple(float(c.diameter_mm) for c in summary.calcifications)
    hulls = tuple(np.asarray(cl.hull, dtype=float).reshape(-1, 2) for cl in summary.clusters)
    sizes = tuple(len(cl.members) for cl in summary.clusters)
    return points, diameters, hulls, sizes


def _drawn(mask: np.ndarray, kind: str) -> np.ndarray:
    """The annotation pixels painted over the image: all of them for marks, the border only
    for a ``region`` (an area holding calcifications: a fill would hide them)."""
    if kind != "region":
        return mask
    inner = cv2.erode(np.asarray(mask, np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.asarray(mask, bool) & ~inner


def display_side(laterality: str | None) -> str:
    """Where the chest wall goes on screen: the radiologists' back-to-back hanging.

    Right breasts are shown with the chest wall on the right edge, left breasts on the
    left edge (so a right and a left image hang back to back); unknown laterality: left.
    """
    return "right" if (laterality or "").upper() == "R" else "left"


def prepare_view(
    cache: ImageCache,
    rec: ImageRecord,
    opts: DisplayOptions,
    *,
    max_side: int = 1024,
    laterality: str | None = None,
) -> ImageView:
    """Decode (cached), window, orient and overlay one image for display.

    Args:
        cache: the image cache.
        rec: the image to show.
        opts: window, contrast and overlay options.
        max_side: longest side of the preview.
        laterality: ``L``/``R`` from the case metadata; the file's tag is used when absent.
            With ``opts.orient`` the image is mirrored when its chest wall (found from the
            breast region, not trusted from tags) is not on the side of
            :func:`display_side`, so every image of a breast is oriented the same way.

    Raises:
        ImageReadError: the image file cannot be read.
    """
    mammo = cache.load_record(rec)
    values = _preview_values(cache, rec, mammo, max_side)
    # Segmented on the preview, once per image (a warm case switch only windows and blends).
    region = preview_breast(cache, rec, max_side)
    win = resolve_window(mammo, values, region, opts)
    use_lut = opts.preset == "file" and mammo.voi_lut is not None
    unit = _present(values, mammo, win, opts, use_lut)

    full_shape = mammo.shape
    scale = values.shape[1] / float(full_shape[1])
    mask, summary, ann_notes = annotation_for(cache, rec, full_shape, mammo.pixel_spacing_mm)
    if opts.show_annotations and mask is not None and rec.annotation_path is not None:
        small = cache.memo(
            rec.annotation_path,
            f"drawn-{rec.annotation_kind}-{values.shape[0]}x{values.shape[1]}",
            lambda: _drawn(imaging.resample_mask(mask, values.shape[:2]), rec.annotation_kind),
        )
        rgb = imaging.overlay_mask(
            unit, small, imaging.hex_to_rgb(opts.overlay_color), opts.overlay_alpha
        )
    else:
        rgb = cv2.cvtColor(imaging.to_uint8(unit), cv2.COLOR_GRAY2RGB)

    side = display_side(laterality or mammo.laterality)
    flipped = bool(opts.orient and region.any() and chest_wall_side(region) != side)
    points, diameters, hulls, sizes = _marks(summary)
    notes = tuple(mammo.flags) + ann_notes
    if not region.any():
        notes += ("no breast region found in this image",)
    view = ImageView(
        key=rec.key,
        preview=rgb,
        full_shape=full_shape,
        scale=scale,
        flipped=flipped,
        window=win,
        invert=opts.invert,
        spacing_mm=mammo.pixel_spacing_mm,
        laterality=mammo.laterality,
        has_annotation=rec.annotation_path is not None,
        calc_diameters_mm=diameters,
        cluster_sizes=sizes,
        notes=notes,
        use_lut=use_lut,
    )
    # Preview and marks were made in the file's orientation: show them as the view hangs.
    return replace(
        view,
        preview=view.mirror(rgb),
        calc_points=view.points_to_display(points),
        cluster_hulls=tuple(view.points_to_display(h) for h in hulls),
        region_outlines=tuple(
            view.points_to_display(r.outline) for r in (summary.regions if summary else ())
        ),
    )


def prepare_views(
    cache: ImageCache,
    recs: list[ImageRecord],
    opts: DisplayOptions,
    *,
    max_side: int = 1024,
    lateralities: list[str | None] | None = None,
) -> list[ImageView]:
    """:func:`prepare_view` of several images (a pair), side by side in threads.

    Decoding, the annotation's colour analysis and the preview work release the GIL for most
    of their time (pydicom's and OpenCV's C code, numpy), so the two images of a pair take
    little more than one on two cores. Errors are raised as :func:`prepare_view` raises
    them, for the first image that fails.
    """
    sides = lateralities or [None] * len(recs)
    if len(recs) != len(sides):
        raise ValueError(f"{len(recs)} images but {len(sides)} lateralities")
    if len(recs) < 2:
        return [
            prepare_view(cache, r, opts, max_side=max_side, laterality=s)
            for r, s in zip(recs, sides, strict=True)
        ]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(recs), 4)) as pool:
        futures = [
            pool.submit(prepare_view, cache, r, opts, max_side=max_side, laterality=s)
            for r, s in zip(recs, sides, strict=True)
        ]
        return [f.result() for f in futures]


def crop_view(
    cache: ImageCache,
    rec: ImageRecord,
    view: ImageView,
    opts: DisplayOptions,
    box: tuple[int, int, int, int],
    *,
    max_side: int = 800,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A full-resolution RGB crop of ``box`` = (r0, r1, c0, c1) in display coordinates.

    Uses the same window as ``view`` so the crop matches the overview. Only the rows of
    the box are read from the memory-mapped cache. Crops larger than ``max_side`` are
    shrunk (the box is then wider than the screen anyway). Returns the crop and the box
    actually used (clipped to the image).
    """
    mammo = cache.load_record(rec)
    h, w = mammo.shape
    r0, r1, c0, c1 = box
    r0, r1 = max(0, min(r0, h - 1)), max(1, min(r1, h))
    c0, c1 = max(0, min(c0, w - 1)), max(1, min(c1, w))
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"empty crop box {box} for an image of {h}x{w}")
    _, _, fc0, fc1 = view.display_box((r0, r1, c0, c1))  # display -> file columns
    values = np.asarray(mammo.pixels[r0:r1, fc0:fc1], dtype=np.float32)
    unit = _present(values, mammo, view.window, opts, view.use_lut)
    rgb = np.repeat(imaging.to_uint8(unit)[..., None], 3, axis=2)
    if opts.show_annotations and rec.annotation_path is not None:
        mask, _, _ = annotation_for(cache, rec, mammo.shape, mammo.pixel_spacing_mm)
        if mask is not None:
            rgb = imaging.overlay_mask(
                unit,
                _drawn(mask[r0:r1, fc0:fc1], rec.annotation_kind),
                imaging.hex_to_rgb(opts.overlay_color),
                opts.overlay_alpha,
            )
    rgb = view.mirror(rgb)
    if max(rgb.shape[:2]) > max_side:
        rgb = imaging.downsample(rgb, max_side)
    return rgb, (r0, r1, c0, c1)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 image (what is sent to the browser)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def image_counts(cache: ImageCache, rec: ImageRecord) -> tuple[int, int, int]:
    """(calcifications, clusters, regions) annotated on one image; zeros without a usable
    annotation. A ``region`` annotation counts regions only (its areas are not
    calcifications).

    Raises:
        ImageReadError: the image cannot be read.
    """
    if rec.annotation_path is None:
        return 0, 0, 0
    mammo = cache.load_record(rec)
    _, summary, _ = annotation_for(cache, rec, mammo.shape, mammo.pixel_spacing_mm)
    if summary is None:
        return 0, 0, 0
    return len(summary.calcifications), len(summary.clusters), summary.n_regions


def case_counts(cache: ImageCache, index: DatasetIndex) -> dict[str, tuple[int, int, int]]:
    """``case_id -> (calcifications, clusters, regions)`` annotated over a case's readable
    images (see :func:`unreadable_images` for the ones left out)."""
    counts: dict[str, tuple[int, int, int]] = {}
    for case in index.cases:
        calcs = clusters = regions = 0
        for rec in case.images:
            try:
                n_calc, n_clu, n_reg = image_counts(cache, rec)
            except ImageReadError:
                continue
            calcs += n_calc
            clusters += n_clu
            regions += n_reg
        counts[case.case_id] = (calcs, clusters, regions)
    return counts


def unreadable_images(cache: ImageCache, index: DatasetIndex) -> list[tuple[str, str, str]]:
    """``(key, path, reason)`` of every image of ``index`` that cannot be read: the images
    that :func:`case_counts` (and every count) leaves out."""
    out: list[tuple[str, str, str]] = []
    for rec in index.images():
        try:
            cache.load_record(rec)
        except ImageReadError as exc:
            out.append((rec.key, str(rec.image_path), str(exc)))
    return out


def value_top(cache: ImageCache, case: CaseRecord) -> int:
    """Largest representable value of a case's first readable image (4095 if none is)."""
    for rec in case.images:
        try:
            return int(cache.load_record(rec).value_range[1])
        except ImageReadError:
            continue
    return 4095


def prefetch(cache: ImageCache, records: Sequence[ImageRecord], max_side: int) -> int:
    """Decode images, their previews, breast regions and annotation masks into ``cache``:
    what the first :func:`prepare_view` of each would otherwise pay. Unreadable files are
    skipped (the page that shows them says why). Returns how many images were prefetched."""
    done = 0
    for rec in records:
        try:
            mammo = cache.load_record(rec)
            _preview_values(cache, rec, mammo, max_side)
            preview_breast(cache, rec, max_side)
            annotation_for(cache, rec, mammo.shape, mammo.pixel_spacing_mm)
        except (ImageReadError, OSError, ValueError) as exc:
            log.info("not prefetched: %s (%s)", rec.key, exc)
            continue
        done += 1
    return done


_PREFETCHED: dict[str, None] = {}
_PREFETCH_LOCK = threading.Lock()


def prefetch_in_background(
    cache: ImageCache, records: Sequence[ImageRecord], max_side: int
) -> threading.Thread | None:
    """:func:`prefetch` in a daemon thread (the case a reader will likely open next), once
    per set of images and process (``None`` when already asked for)."""
    key = f"{cache.cache_dir}|{max_side}|" + ",".join(str(r.image_path) for r in records)
    with _PREFETCH_LOCK:
        if key in _PREFETCHED or not records:
            return None
        _PREFETCHED[key] = None
        while len(_PREFETCHED) > 256:  # forget the oldest
            del _PREFETCHED[next(iter(_PREFETCHED))]
    thread = threading.Thread(
        target=prefetch, args=(cache, list(records), max_side), name="mcalc-prefetch", daemon=True
    )
    thread.start()
    return thread
