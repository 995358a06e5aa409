"""pydicom's import and what its decoders can read, and the DICOM header tags read without
the pixels (the laterality): the parts of reading a DICOM that :mod:`mcalc.imageio` and the
writers of DICOM objects share.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = [
    "pydicom_module",
    "decoder_available",
    "read_laterality",
    "no_pixel_data_message",
    "DECODER_HINTS",
]

#: Transfer syntaxes and the packages that decode them, for messages that say what to install.
DECODER_HINTS = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (JPEG baseline)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg (JPEG extended)",
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg (JPEG lossless)",
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg (JPEG lossless SV1)",
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg (JPEG-LS lossless)",
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg (JPEG-LS near-lossless)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg (JPEG 2000 lossless)",
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg (JPEG 2000)",
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle (RLE lossless)",
}


_PYDICOM_LOCK = threading.Lock()


def pydicom_module() -> Any:
    """pydicom, imported whole (with the submodules mcalc uses) by one thread at a time.

    pydicom's modules import each other: two threads importing two of them at once (a page
    reading a DICOM while the app's warm-up writes its tiny set) can each be handed the
    other's module half made ("cannot import name 'Dataset' from partially initialized
    module 'pydicom.dataset'"), which failed pages of a fresh server. Every lazy import of
    pydicom in mcalc calls this first; once it has run, the modules are all there.
    """
    with _PYDICOM_LOCK:
        import pydicom
        import pydicom.dataelem
        import pydicom.dataset
        import pydicom.errors
        import pydicom.pixels
        import pydicom.uid
    return pydicom


def read_laterality(path: str | Path) -> str | None:
    """The laterality a DICOM file's header gives (``L``/``R``, from ``ImageLaterality``,
    else ``Laterality``, as :func:`mcalc.imageio.read_dicom` reads it), or ``None``: no such tag, not a
    DICOM, unreadable. Reads the header alone (no pixel data): about a millisecond a file.

    Example:
        >>> read_laterality("/nonexistent.dcm") is None
        True
    """
    pydicom = pydicom_module()
    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["ImageLaterality", "Laterality"]
        )
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError, AttributeError):
        return None
    value = str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").upper()
    return value if value in {"L", "R"} else None


def decoder_available(tsuid: str) -> bool:
    """Whether pydicom has a usable decoder for the transfer syntax ``tsuid`` (a plug-in
    whose packages are installed); ``False`` for one it knows no decoder of.

    Example:
        >>> decoder_available("1.2.840.10008.1.2.1")  # explicit VR little endian
        True
    """
    from pydicom.pixels import get_decoder

    pydicom_module()
    try:
        return bool(get_decoder(tsuid).is_available)
    except (NotImplementedError, ValueError):
        return False


def no_pixel_data_message(ds: Any, path: Path) -> str:
    """Why a DICOM without pixel data is not an image, and what to do: a download or copy cut
    short is the usual cause in a collection (pydicom reads such a file's header silently)."""
    again = "copy the file from the source again"
    if "Rows" in ds and "Columns" in ds:
        return (
            f"{path}: the DICOM ends before its pixel data (its header declares a "
            f"{ds.Columns}x{ds.Rows} image): a copy cut short; {again}"
        )
    return (
        f"{path}: DICOM has no pixel data (expected an image, got a header only: a copy cut "
        f"short, or a non-image object such as a report); {again}, or leave it out"
    )
