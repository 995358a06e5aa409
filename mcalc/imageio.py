"""Reading mammograms: DICOM through pydicom, and 8/16-bit PNG, TIFF, JPEG, PGM.

The result is a :class:`Mammogram`: modality values (after the modality LUT, never cast to
8 bits) plus what is needed to display and measure them (window, photometric
interpretation, pixel spacing, laterality, view) and the flags raised while reading.
Display conversion lives in :mod:`mcalc.imaging`.
"""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat

import cv2
import numpy as np

from mcalc.dicom_decode import (
    DECODER_HINTS,
    decoder_available,
    no_pixel_data_message,
    pydicom_module,
    read_laterality,
)
from mcalc.errors import DecoderMissingError, ImageReadError

if TYPE_CHECKING:
    from mcalc.dataset.records import ImageRecord

__all__ = [
    "read_laterality",
    "decoder_available",
    "Mammogram",
    "read_image",
    "read_record",
    "read_dicom",
    "read_raster",
    "with_collection_spacing",
    "pixels_in_file",
    "pydicom_module",
    "RASTER_SUFFIXES",
]

log = logging.getLogger(__name__)

# A file OpenCV cannot decode is reported by mcalc as an ImageReadError (which file, what
# to do); OpenCV's own "[ERROR:0@1.4] global loadsave.cpp ... imread_" line on stderr
# came first, beside it, in the CLI's output. Its fatal errors still show.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)

RASTER_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".pnm"})


@dataclass(frozen=True)
class Mammogram:
    """A decoded mammogram in modality units, with what is needed to show and measure it.

    Attributes:
        pixels: 2-D array of modality values (stored values through the modality LUT).
            Integer dtype when the LUT is the identity, float32 otherwise.
        window_center, window_width: the file's default VOI window (or the full range).
        voi_function: ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID`` (DICOM VOI LUT Function).
        monochrome1: ``True`` when low values are bright (display must invert).
        bits_stored: significant bits of the stored values.
        pixel_spacing_mm: (row, column) spacing in millimetres.
        spacing_source: the tag it came from, ``manifest`` when the collection's manifest
            gave it for a file that carries none, or ``default`` when assumed.
        laterality: ``L``, ``R`` or ``None``.
        view: ``CC``, ``MLO`` or ``None`` (from ViewPosition).
        flags: human-readable notes raised while reading (defaults used, tags missing).
        voi_lut: the file's VOI LUT as (first stored value mapped, table scaled to [0, 1]),
            or ``None``. When present, the ``file`` display preset uses it instead of the
            window (which then only seeds the sliders).
    """

    pixels: np.ndarray
    window_center: float
    window_width: float
    voi_function: str = "LINEAR"
    monochrome1: bool = False
    bits_stored: int = 16
    pixel_spacing_mm: tuple[float, float] = (0.07, 0.07)
    spacing_source: str = "default"
    laterality: str | None = None
    view: str | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)
    voi_lut: tuple[int, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))

    @property
    def value_range(self) -> tuple[float, float]:
        """Range of representable modality values (for sliders)."""
        if np.issubdtype(self.pixels.dtype, np.integer):
            return 0.0, float(2**self.bits_stored - 1)
        return float(np.min(self.pixels)), float(np.max(self.pixels))


def read_image(
    path: str | Path, *, default_spacing_mm: float = 0.07, spacing_mm: float | None = None
) -> Mammogram:
    """Read a mammogram from a DICOM or raster file, chosen by content and suffix.

    Args:
        path: the file.
        default_spacing_mm: spacing assumed when neither the file nor ``spacing_mm`` gives one.
        spacing_mm: the spacing the collection's manifest gives for this image (its
            ``spacing_mm`` column), or ``None``; see :func:`with_collection_spacing`.

    Raises:
        ImageReadError: the file is missing, empty, truncated, corrupt or of an unknown
            format.
        DecoderMissingError: a compressed DICOM needs a decoder that is not installed.
    """
    path = Path(path)
    try:  # one stat for both questions
        info = path.stat()
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ImageReadError(f"{path}: no such file")
    if info.st_size == 0:  # a failed copy: not "not a DICOM file" nor "cannot decode"
        raise ImageReadError(f"{path}: empty file (0 bytes); copy or export the image again")
    if path.suffix.lower() in RASTER_SUFFIXES:
        mammo = read_raster(path, default_spacing_mm=default_spacing_mm)
    else:
        mammo = read_dicom(path, default_spacing_mm=default_spacing_mm)
    return with_collection_spacing(mammo, spacing_mm)


def read_record(rec: ImageRecord) -> Mammogram:
    """A collection's image, read at the pixel spacing its manifest gives
    (:attr:`~mcalc.dataset.records.ImageRecord.pixel_spacing_mm`; mini-MIAS: 0.2 mm), else
    the file's own, else the configured default
    (:attr:`~mcalc.config.Settings.default_pixel_spacing_mm`): the one reader of record
    files outside the image cache (training's patches, hard-negative mining, ``scan``), so
    that they measure as the viewer and Predict do
    (:meth:`mcalc.cache.ImageCache.load_record`).

    Raises:
        ImageReadError, DecoderMissingError: as :func:`read_image`.
    """
    from mcalc.config import get_settings

    return read_image(
        rec.image_path,
        default_spacing_mm=get_settings().default_pixel_spacing_mm,
        spacing_mm=rec.pixel_spacing_mm,
    )


#: Relative difference between a manifest's spacing and a file's own that is noted.
_SPACING_TOLERANCE = 0.01

# The spacing disagreements already logged at INFO (manifest value, the file's tag, its
# value): a collection's images share them, and a batch over thousands of images would
# repeat one line per image. Later ones go to DEBUG; each image's ``flags`` keep the note.
_SPACING_NOTED: set[tuple[float, str, float]] = set()
_SPACING_NOTED_LOCK = threading.Lock()


def _log_spacing_note(key: tuple[float, str, float], note: str) -> None:
    """Log ``note`` at INFO the first time this process sees ``key``, at DEBUG after."""
    with _SPACING_NOTED_LOCK:
        first = key not in _SPACING_NOTED
        _SPACING_NOTED.add(key)
    log.log(
        logging.INFO if first else logging.DEBUG,
        "%s%s",
        note,
        " (said once per spacing pair; later images at DEBUG)" if first else "",
    )


def with_collection_spacing(mammo: Mammogram, spacing_mm: float | None) -> Mammogram:
    """``mammo`` with the pixel spacing its collection's manifest gives, where the file has none.

    The file's own spacing (DICOM ``PixelSpacing`` / ``ImagerPixelSpacing``) wins: the file
    describes its own pixels, and the two DICOM tags legitimately differ by the geometric
    magnification (about 1.1 in mammography), so a manifest value that differs is a note in
    ``flags`` (and the log: at INFO once per pair of values, which a collection's images
    share, then at DEBUG), not an error. A file without one (PNG, PGM: mini-MIAS) takes the
    manifest's value (``spacing_source`` ``manifest``) instead of the assumed default.
    ``mammo`` itself is not changed; the pixels are shared.

    Example:
        >>> m = Mammogram(np.zeros((2, 2), np.uint8), 127.5, 256.0, flags=("x",))
        >>> got = with_collection_spacing(m, 0.2)
        >>> got.pixel_spacing_mm, got.spacing_source
        ((0.2, 0.2), 'manifest')
    """
    if spacing_mm is None:
        return mammo
    if not spacing_mm > 0:
        raise ValueError(f"spacing_mm must be a positive number of millimetres, got {spacing_mm}")
    if mammo.spacing_source != "default":
        own = float(np.mean(mammo.pixel_spacing_mm))
        if abs(own - spacing_mm) <= _SPACING_TOLERANCE * own:
            return mammo
        note = (
            f"the manifest's pixel spacing {spacing_mm:g} mm differs from the file's "
            f"{mammo.spacing_source} {own:g} mm; the file's is used"
        )
        _log_spacing_note((float(spacing_mm), mammo.spacing_source, round(own, 6)), note)
        return replace(mammo, flags=(*mammo.flags, note))
    flags = tuple(f for f in mammo.flags if "no pixel spacing" not in f)
    return replace(
        mammo,
        pixel_spacing_mm=(float(spacing_mm), float(spacing_mm)),
        spacing_source="manifest",
        flags=(*flags, f"pixel spacing {spacing_mm:g} mm from the manifest (the file has none)"),
    )


def _first(value: object) -> float | None:
    """First number of a DICOM multi-value (or the value itself)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        value = value[0] if len(value) else None
    if not isinstance(value, (SupportsFloat, str)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_dicom(path: str | Path, *, default_spacing_mm: float = 0.07) -> Mammogram:
    """Decode a DICOM mammogram through the modality LUT, keeping its full bit depth.

    Stages: stored values -> modality LUT (rescale slope/intercept or LUT sequence). The VOI
    window (or VOI LUT) and MONOCHROME1 inversion are recorded, applied later
    (:func:`mcalc.imaging.file_unit`).
    """
    path = Path(path)
    ds = _dataset(path)
    stored = _stored_values(ds, path)
    flags: list[str] = []
    pixels = _modality_values(ds, stored)
    center, width, voi_lut = _voi(ds, pixels, path, flags)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in {"MONOCHROME1", "MONOCHROME2"}:
        raise ImageReadError(
            f"{path}: expected a grayscale image (MONOCHROME1/2), got {photometric}"
        )
    spacing, source = _spacing(ds, default_spacing_mm, flags)
    laterality, view = _orientation(ds, flags)
    return Mammogram(
        pixels=pixels,
        window_center=center,
        window_width=width,
        voi_function=str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper(),
        monochrome1=photometric == "MONOCHROME1",
        bits_stored=int(ds.get("BitsStored", stored.dtype.itemsize * 8) or 16),
        pixel_spacing_mm=spacing,
        spacing_source=source,
        laterality=laterality,
        view=view,
        flags=tuple(flags),
        voi_lut=voi_lut,
    )


def _dataset(path: Path) -> Any:
    """The file's DICOM dataset, with pixel data."""
    pydicom = pydicom_module()
    from pydicom.errors import InvalidDicomError

    try:
        # Large values (the pixel data) are read when asked for: _native_frame reads an
        # uncompressed frame straight into its array.
        ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError as exc:
        raise ImageReadError(
            f"{path}: not a DICOM file ({exc}); re-export it as DICOM or list a PNG/TIFF instead"
        ) from exc
    except (OSError, EOFError, ValueError, AttributeError, KeyError) as exc:
        raise ImageReadError(f"{path}: cannot read DICOM header ({exc})") from exc
    if "PixelData" not in ds:
        raise ImageReadError(no_pixel_data_message(ds, path))
    return ds


#: Elements larger than this are read from the file only when used (see :func:`_dataset`).
_DEFER_BYTES = 1 << 20
#: The most memory a file's declared pixels may take decoded (a 4096x5120 mammogram: 40 MB; a
#: compressed file of a few kB declaring 60000x60000 took 7 GB before its decoder read data).
MAX_DECODED_BYTES = 1 << 30


def _check_declared_size(ds: Any, path: Path) -> None:
    """Refuse a header declaring over :data:`MAX_DECODED_BYTES` of pixels, before decoding."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        allocated = int(ds.get("BitsAllocated", 16) or 16)
    except (AttributeError, KeyError, TypeError, ValueError):
        return  # pydicom's decode says what is missing
    size = rows * cols * samples * frames * max(1, -(-allocated // 8))
    if size > MAX_DECODED_BYTES:
        raise ImageReadError(
            f"{path}: the header declares {frames} frame(s) of {rows}x{cols} pixels "
            f"({samples} sample(s), {allocated} bits), {size / 2**30:.1f} GiB decoded; "
            f"expected one mammogram, at most {MAX_DECODED_BYTES / 2**30:.0f} GiB: not "
            "decoded. Check the file (a damaged or hostile header) or export the image again"
        )


#: Transfer syntaxes whose pixel data is the values themselves, little-endian.
_NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def _native_frame(ds: Any, path: Path) -> np.ndarray | None:
    """The frame of an uncompressed little-endian file, read from the file into its array.

    What ``ds.pixel_array`` gives (the same dtype, the unused high bits cleared the same
    way, PS3.5 8.1.1), without reading the pixel data into a bytes object and copying it
    into a writable array: on a 4096x3328 image that is a third of the decode. ``None``
    where pydicom must decode: compressed, big-endian or deflated syntax, several frames or
    samples, bit depths other than 8 or 16, pixel data read already, or a size that does
    not add up (pydicom then says what is wrong).
    """
    from pydicom.dataelem import RawDataElement

    meta = getattr(ds, "file_meta", None)
    if str(getattr(meta, "TransferSyntaxUID", "")) not in _NATIVE_LITTLE_ENDIAN:
        return None
    try:
        raw = ds.get_item(0x7FE00010, keep_deferred=True)
        rows, cols = int(ds.Rows), int(ds.Columns)
        allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if (
        not isinstance(raw, RawDataElement)
        or raw.value is not None  # not deferred: pydicom has the bytes already
        or samples != 1
        or frames != 1
        or allocated not in (8, 16)
        or not 0 < stored <= allocated
        or rows < 1
        or cols < 1
    ):
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    count = rows * cols
    if raw.length not in (count * dtype.itemsize, count * dtype.itemsize + 1):  # + pad byte
        return None
    try:
        arr = np.fromfile(path, dtype=dtype, count=count, offset=int(raw.value_tell))
    except (OSError, ValueError):
        return None
    if arr.size != count:  # cut short: pydicom's decode reports it
        return None
    arr = arr.reshape(rows, cols).astype(dtype.newbyteorder("="), copy=False)
    if stored < allocated and signed:  # as pydicom: shifted out and back (sign-extended)
        shift = allocated - stored
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    elif stored < allocated:  # unsigned: the same as those shifts, in one pass
        np.bitwise_and(arr, (1 << stored) - 1, out=arr)
    return arr


def pixels_in_file(path: str | Path, pixels: np.ndarray) -> int | None:
    """Where in ``path`` the bytes of ``pixels`` lie as they are in memory, or ``None``.

    A DICOM file stored uncompressed, little-endian, whose modality values are its stored
    values (no rescale, no unused high bits set) holds its decoded image as it is: the
    image cache then reads it from there rather than writing a copy (27 MB for a 4096x3328
    mammogram). The offset is pydicom's, and the bytes there are compared with
    ``pixels`` in full, so any file that does not hold them exactly (another syntax, a
    rescale, masked bits, a file cut short or rewritten) answers ``None``.

    Example:
        >>> import tempfile, numpy as np
        >>> from mcalc.dicomwrite import write_dicom
        >>> img = np.arange(12, dtype=np.uint16).reshape(3, 4)
        >>> p = write_dicom(tempfile.mkdtemp() + "/x.dcm", img)
        >>> offset = pixels_in_file(p, img)
        >>> np.array_equal(np.fromfile(p, np.uint16, 12, offset=offset), img.ravel())
        True
        >>> pixels_in_file(p, img + 1) is None
        True
    """
    path = Path(path)
    arr = np.asarray(pixels)
    if (
        path.suffix.lower() in RASTER_SUFFIXES
        or arr.ndim != 2
        or not arr.flags.c_contiguous
        or arr.dtype.kind not in "iu"
        or arr.dtype != arr.dtype.newbyteorder("<")  # the file's order: little-endian
    ):
        return None
    try:
        ds = _dataset(path)
        if str(getattr(ds.file_meta, "TransferSyntaxUID", "")) not in _NATIVE_LITTLE_ENDIAN:
            return None
        raw = ds.get_item(0x7FE00010, keep_deferred=True)
        offset = int(raw.value_tell)
        if int(raw.length) < arr.nbytes or path.stat().st_size < offset + arr.nbytes:
            return None
        on_disk = np.memmap(path, dtype=arr.dtype, mode="r", offset=offset, shape=arr.shape)
        same = bool(np.array_equal(on_disk, arr))
        del on_disk
    except (ImageReadError, AttributeError, KeyError, TypeError, ValueError, OSError):
        return None
    return offset if same else None


def _stored_values(ds: Any, path: Path) -> np.ndarray:
    """The stored values of the one 2-D frame, decoded (saying which decoder is missing)."""
    native = _native_frame(ds, path)
    if native is not None:
        return native
    tsuid = str(getattr(ds.file_meta, "TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    _check_declared_size(ds, path)
    try:
        stored = ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        reason = " ".join(str(exc).split())  # pydicom's lists one plug-in a line
        if not decoder_available(tsuid):
            hint = DECODER_HINTS.get(tsuid)
            raise DecoderMissingError(
                f"{path}: compressed with transfer syntax {tsuid}, which no installed decoder "
                + (f"reads; install one: pip install {hint}" if hint else "reads")
                + f" ({reason})"
            ) from exc
        # A decoder is there and failed: the data, not the installation (pydicom's "Unable
        # to decode ..." was read as a missing decoder, for a truncated JPEG 2000 stream).
        raise ImageReadError(
            f"{path}: the compressed pixel data (transfer syntax {tsuid}) cannot be decoded, "
            f"although a decoder is installed: the file may be corrupt or truncated; re-copy "
            f"it from the source ({reason})"
        ) from exc
    except (ValueError, EOFError, OSError, AttributeError, KeyError, TypeError) as exc:
        raise ImageReadError(
            f"{path}: pixel data is corrupt or truncated ({exc}); re-copy the file from the source"
        ) from exc
    if stored.ndim != 2:
        raise ImageReadError(
            f"{path}: expected one 2-D grayscale frame, got an array of shape {stored.shape}"
        )
    return np.asarray(stored)


def _modality_values(ds: Any, stored: np.ndarray) -> np.ndarray:
    """Stored values through the modality LUT (unchanged, integer, when it is the identity)."""
    from pydicom.pixels import apply_modality_lut

    slope = _first(ds.get("RescaleSlope", 1)) or 1.0
    intercept = _first(ds.get("RescaleIntercept", 0)) or 0.0
    if "ModalityLUTSequence" in ds or slope != 1.0 or intercept != 0.0:
        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    return stored


def _voi(
    ds: Any, pixels: np.ndarray, path: Path, flags: list[str]
) -> tuple[float, float, tuple[int, np.ndarray] | None]:
    """The file's window (centre, width) and VOI LUT; a window made up when it has none."""
    center = _first(ds.get("WindowCenter"))
    width = _first(ds.get("WindowWidth"))
    voi_lut = _read_voi_lut(ds, path)
    if voi_lut is not None and (center is None or width is None or width <= 0):
        center, width = lut_window(*voi_lut)
        flags.append("VOI LUT in the file: the default view uses it; sliders start from its range")
    elif center is None or width is None or width <= 0:
        lo, hi = float(np.min(pixels)), float(np.max(pixels))
        center, width = (lo + hi) / 2.0, max(hi - lo, 1.0)
        flags.append("no window centre/width in the file: using the image's value range")
    return float(center), float(width), voi_lut


def _spacing(
    ds: Any, default_spacing_mm: float, flags: list[str]
) -> tuple[tuple[float, float], str]:
    """(row, column) pixel spacing in mm and the tag it came from (or ``default``)."""
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(tag)
        if value is not None and len(value) >= 2:
            try:
                spacing = (float(value[0]), float(value[1]))
            except (TypeError, ValueError):
                continue
            if min(spacing) > 0:
                return spacing, tag
            break
    flags.append(f"no pixel spacing in the file: assuming {default_spacing_mm} mm")
    return (default_spacing_mm, default_spacing_mm), "default"


def _orientation(ds: Any, flags: list[str]) -> tuple[str | None, str | None]:
    """Laterality (``L``/``R``) and view (``CC``/``MLO``) from the tags, ``None`` if unknown."""
    laterality = (
        str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").upper() or None
    )
    if laterality not in {"L", "R", None}:
        flags.append(f"unknown laterality tag {laterality!r}")
        laterality = None
    if laterality is None:
        flags.append("no laterality tag in the file")
    view = str(ds.get("ViewPosition", "") or "").upper() or None
    if view is not None and view not in {"CC", "MLO"}:
        view = "MLO" if "MLO" in view else "CC" if "CC" in view else None
    return laterality, view


def _read_voi_lut(ds: object, path: Path) -> tuple[int, np.ndarray] | None:
    """The first VOI LUT of the file as (first mapped value, table in [0, 1]), if any."""
    seq = getattr(ds, "VOILUTSequence", None)
    if not seq:
        return None
    item = seq[0]
    try:
        entries, first, bits = (int(v) for v in item.LUTDescriptor)
        raw = item.LUTData
        if isinstance(raw, bytes):
            data = np.frombuffer(raw, dtype="<u2" if bits > 8 else np.uint8)
        else:
            data = np.asarray(raw)
        data = data.astype(np.float32)[: entries or 65536]
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("%s: ignoring an unreadable VOI LUT (%s)", path, exc)
        return None
    if data.size == 0:
        return None
    return first, data / max(float(2**bits - 1), 1.0)


def lut_window(first: int, table: np.ndarray) -> tuple[float, float]:
    """A linear window (centre, width) spanning where a VOI LUT rises from 0 to 1."""
    rising = np.flatnonzero((table > 0.001) & (table < 0.999))
    lo, hi = (rising[0], rising[-1]) if rising.size else (0, len(table) - 1)
    width = max(float(hi - lo + 1), 1.0)
    return float(first + lo) + width / 2.0, width


def _decode_file(path: Path, flags: int) -> np.ndarray | None:
    """The image at ``path`` decoded straight into NumPy's memory when OpenCV can open the
    path itself (``cv2.imread``'s ``dst`` overload with ``None``: the binding allocates a
    NumPy array that the decoder fills), else from the file's bytes (``cv2.imdecode``,
    which decodes into OpenCV's memory and returns a copy: for a full-size 16-bit image,
    26 MB faulted in page by page and copied again); ``None`` when neither decodes it.
    The same decoder either way, so the same pixels (as for the annotation renderings,
    :func:`mcalc.annotations.align.load_annotation_mask`)."""
    image = cv2.imread(str(path), None, flags)
    if image is not None and image.size:
        return image
    data = np.fromfile(path, dtype=np.uint8)
    return cv2.imdecode(data, flags) if data.size else None


def read_raster(path: str | Path, *, default_spacing_mm: float = 0.07) -> Mammogram:
    """Read an 8- or 16-bit PNG, TIFF, JPEG or PGM as a grayscale mammogram.

    Colour files are converted to gray (luminance). Raster files carry no spacing or
    laterality, so the default spacing is used and flagged.
    """
    path = Path(path)
    image = _decode_file(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(
            f"{path}: cannot decode image (expected PNG, TIFF, JPEG or PGM); the file may be truncated"
        )
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
        else:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.dtype not in (np.uint8, np.uint16):
        image = image.astype(np.float32)
    bits = 8 if image.dtype == np.uint8 else 16
    if image.dtype == np.uint16 and int(image.max()) < 4096:
        # 12-bit detector data stored in 16-bit containers is the common case for mammograms.
        bits = 12
    hi = float(2**bits - 1)
    return Mammogram(
        pixels=image,
        window_center=hi / 2.0,
        window_width=hi + 1.0,
        bits_stored=bits,
        pixel_spacing_mm=(default_spacing_mm, default_spacing_mm),
        spacing_source="default",
        flags=(
            f"raster file: no pixel spacing, assuming {default_spacing_mm} mm",
            "raster file: no laterality tag",
        ),
    )
