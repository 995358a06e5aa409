"""What every converter shares: the rows it produces, the problems it reports, the writers.

A converter turns a public collection's own description files into :class:`ManifestRow`
objects (absolute paths) and :class:`ConvertProblem` objects, collected in a
:class:`Conversion`. :func:`write_manifest` writes the rows as the generic manifest read by
:func:`mcalc.dataset.manifest.index_manifest`, with paths relative to the manifest's folder.
Masks a collection does not ship are drawn by the converter and written as 8-bit PNG
(0 and 255) by :func:`write_mask`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mcalc.dataset.filekind import HEAD_BYTES, table_refusal
from mcalc.dataset.manifest import COLUMNS
from mcalc.dataset.records import Problem
from mcalc.errors import DatasetError, ImageReadError
from mcalc.fileio import atomic_write_bytes, atomic_write_text

__all__ = [
    "ManifestRow",
    "ConvertProblem",
    "Conversion",
    "MANIFEST_COLUMNS",
    "ROW_KINDS",
    "write_manifest",
    "write_mask",
    "read_table",
    "dicom_shape",
    "index_files",
    "birads_rank",
]

#: Columns written, in order: the manifest's own, less ``group`` (derived from BI-RADS).
MANIFEST_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "group")
#: ``mask``: non-zero pixels are individual calcifications; ``region``: non-zero pixels
#: outline an area that holds calcifications; ``none``: no annotation.
ROW_KINDS: tuple[str, ...] = ("mask", "region", "none")

_BIRADS_ORDER = ("0", "1", "2", "3", "4", "4a", "4b", "4c", "5", "6")


def birads_rank(birads: str | None) -> int:
    """Order of BI-RADS categories (``None`` lowest), to keep the highest of several."""
    if birads is None or birads not in _BIRADS_ORDER:
        return -1
    return _BIRADS_ORDER.index(birads)


@dataclass(frozen=True)
class ManifestRow:
    """One image of the manifest; paths are absolute until :func:`write_manifest`."""

    case_id: str
    patient_id: str
    laterality: str
    view: str
    image: Path
    annotation: Path | None = None
    annotation_kind: str = "none"
    birads: str | None = None
    density: str | None = None
    biopsy: str | None = None
    age: float | None = None
    timepoint: str = "recent"
    #: Pixel spacing in mm, for a format whose files carry none (mini-MIAS's PGM files);
    #: ``None`` where the image file gives its own (DICOM).
    spacing_mm: float | None = None

    def __post_init__(self) -> None:
        if self.annotation_kind not in ROW_KINDS:
            raise ValueError(
                f"annotation_kind must be one of {ROW_KINDS}, got {self.annotation_kind!r}"
            )
        if (self.annotation is None) != (self.annotation_kind == "none"):
            raise ValueError("annotation and annotation_kind 'none' go together")


@dataclass(frozen=True)
class ConvertProblem:
    """Something a converter could not convert, or converted with a part left out.

    ``line`` is the line in ``file`` (the header of a CSV is line 1), ``None`` when the
    problem is not tied to one line. ``severity`` is ``error`` (the row or image was not
    converted), ``warning`` (converted, with a part left out) or ``info``.
    """

    file: str
    line: int | None
    reason: str
    severity: str = "error"

    def as_dict(self) -> dict[str, str | int | None]:
        """As :meth:`mcalc.dataset.records.Problem.as_dict`, the one record of a problem in
        every command's ``--json``: ``path``, ``line``, ``message``, ``severity``."""
        return Problem(self.file, self.reason, self.severity, self.line).as_dict()

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line is not None else self.file
        return f"[{self.severity}] {where}: {self.reason}"


@dataclass
class Conversion:
    """The rows and problems of one conversion; :meth:`add` refuses a second image of a slot."""

    format: str
    rows: list[ManifestRow] = field(default_factory=list)
    problems: list[ConvertProblem] = field(default_factory=list)
    masks_written: int = 0
    _slots: dict[tuple[str, str, str], Path] = field(default_factory=dict, repr=False)

    def problem(
        self, file: str | Path, line: int | None, reason: str, severity: str = "error"
    ) -> None:
        self.problems.append(ConvertProblem(str(file), line, reason, severity))

    def add(self, row: ManifestRow, file: str | Path, line: int | None) -> bool:
        """Keep ``row`` unless its case already has an image of that view and timepoint."""
        slot = (row.case_id, row.view, row.timepoint)
        first = self._slots.get(slot)
        if first is not None:
            self.problem(
                file,
                line,
                f"second {row.view} image for case {row.case_id!r} ({row.image}; the first is "
                f"{first}): a manifest holds one image per view and exam (prior, recent); not converted",
            )
            return False
        self._slots[slot] = row.image
        self.rows.append(row)
        return True

    @property
    def errors(self) -> list[ConvertProblem]:
        return [p for p in self.problems if p.severity == "error"]


def _manifest_path(path: Path, base: Path) -> str:
    try:
        text = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        text = str(path)
    return text.replace(os.sep, "/")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_manifest(conversion: Conversion, out: str | Path) -> Path:
    """Write the rows of ``conversion`` as a manifest CSV at ``out`` (atomically).

    Image and annotation paths are written relative to ``out``'s folder, so the folder can
    be moved together with the collection when both sit under it.

    Raises:
        DatasetError: there is no row to write.
    """
    target = Path(out).expanduser().resolve()
    if not conversion.rows:
        raise DatasetError(f"nothing to write to {target}: no row of the collection was converted")
    base = target.parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in conversion.rows:
        writer.writerow(
            [
                row.case_id,
                row.patient_id,
                row.laterality,
                row.view,
                row.timepoint,
                _manifest_path(row.image, base),
                _manifest_path(row.annotation, base) if row.annotation is not None else "",
                row.annotation_kind,
                _cell(row.birads),
                _cell(row.density),
                _cell(row.biopsy),
                _cell(row.age),
                _cell(row.spacing_mm),
            ]
        )
    atomic_write_text(target, buffer.getvalue())
    return target


def write_mask(path: Path, mask: np.ndarray) -> Path:
    """Write a boolean mask as an 8-bit PNG (marked pixels 255), atomically."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    ok, encoded = cv2.imencode(".png", np.where(arr != 0, 255, 0).astype(np.uint8))
    if not ok:
        raise DatasetError(f"{path}: could not encode the mask as PNG")
    atomic_write_bytes(path, encoded.tobytes())
    return path


def normalize_header(name: str) -> str:
    """``" Breast_Density "`` -> ``"breast density"``: headers compared loosely."""
    return " ".join(name.replace("_", " ").split()).lower()


def read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (see :func:`normalize_header`) and ``(line, row)`` pairs of a CSV file.

    The delimiter (``,``, ``;`` or tab) is taken from the header line; values are stripped
    (CBIS-DDSM paths carry a trailing newline inside their quotes); ``line`` is where the
    row starts, the header being line 1.

    Raises:
        DatasetError: the file cannot be read, is empty, is not text (a workbook, a web
            page, a damaged download: :func:`mcalc.dataset.filekind.table_refusal`) or is
            not valid CSV.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    refusal = table_refusal(path, raw[:HEAD_BYTES], "a CSV table (text)", ("text", "empty"))
    if refusal is not None:  # read as text, its bytes made a header of gibberish
        raise DatasetError(refusal)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise DatasetError(f"{path} is empty; expected a header row and one row per image")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    start = 1
    try:
        for cells in reader:
            line = start
            start = reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [normalize_header(c) for c in cells]
                continue
            padded = [c.strip() for c in cells] + [""] * (len(header) - len(cells))
            rows.append((line, dict(zip(header, padded, strict=False))))
    except csv.Error as exc:
        raise DatasetError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from exc
    assert header is not None
    return header, rows


def dicom_shape(path: Path) -> tuple[int, int]:
    """``(rows, columns)`` of a DICOM file, read from its header only.

    Raises:
        ImageReadError: not a readable DICOM file, or no Rows/Columns.
    """
    from mcalc.imageio import pydicom_module

    pydicom = pydicom_module()

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return int(ds.Rows), int(ds.Columns)
    except (
        OSError,
        AttributeError,
        ValueError,
        TypeError,
        pydicom.errors.InvalidDicomError,
    ) as exc:
        raise ImageReadError(f"{path}: cannot read the DICOM header ({exc})") from exc


def raster_shape(path: Path) -> tuple[int, int]:
    """``(rows, columns)`` of a PNG/PGM/TIFF/JPEG file (decoded once).

    Raises:
        ImageReadError: the file cannot be decoded.
    """
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: cannot decode the image (truncated or not an image)")
    return int(image.shape[0]), int(image.shape[1])


def index_files(root: Path, suffixes: Iterable[str]) -> Iterator[Path]:
    """Every file under ``root`` (recursively, sorted) whose suffix is one of ``suffixes``."""
    wanted = {s.lower() for s in suffixes}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in wanted:
                yield Path(folder) / name


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` usable as a file name on every system."""
    return _SAFE.sub("_", text).strip("._") or "unnamed"
