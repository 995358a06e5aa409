"""Import validation: a whole file is checked before anything is written.

:func:`parse_points_csv` and :func:`parse_mask_png` (and :func:`parse_coco` in
:mod:`mcalc.store.exchange.coco`) return an :class:`ImportPlan` whose :class:`ImportReport`
lists every problem found (malformed file, unknown image, wrong image size, coordinates
outside the image, unknown labels); :func:`mcalc.store.exchange.apply_import` refuses a
plan whose report is not clean.
"""

from __future__ import annotations

import csv
import io
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from mcalc.annotations import find_calcifications
from mcalc.errors import McalcError
from mcalc.plural import counted
from mcalc.spreadsheet import BOM, unescape_cell
from mcalc.store.marks import LABELS, ImageMarks, PointMark, RegionMark, check_reader, new_mark_id
from mcalc.store.record import utc_now

__all__ = [
    "MAX_IMPORT_MB",
    "MAX_MARKS_PER_IMAGE",
    "ImportValidationError",
    "ImportProblem",
    "ImportReport",
    "ImportPlan",
    "Collector",
    "LazyShapes",
    "parse_points_csv",
    "parse_mask_png",
]

_REQUIRED_CSV = ("image_key", "row", "col")
_MAX_PROBLEMS = 200
#: The largest import file read, in MB (2**20 bytes, as Streamlit counts an upload's
#: size): also the server's ``maxUploadSize`` (``.streamlit/config.toml``), so that a
#: larger upload is refused before the server holds it in memory.
MAX_IMPORT_MB = 50
_MAX_BYTES = MAX_IMPORT_MB * 1024**2
#: The most marks (points and regions) an import gives one image and reader: far above a
#: reader's (the demo's busiest image holds tens), far below a noisy map taken for a mask
#: (a 1 MB PNG gave 1.5 million points: 16 s and 1.5 GB to check, a 290 MB record).
MAX_MARKS_PER_IMAGE = 10_000


class ImportValidationError(McalcError):
    """An import file has problems; nothing was imported. ``report`` lists them all."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(report.text())


@dataclass(frozen=True)
class ImportProblem:
    """One problem of an import file: where (line, annotation, file) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """What an import file holds and every problem found in it."""

    source: str
    problems: tuple[ImportProblem, ...] = ()
    n_points: int = 0
    n_regions: int = 0
    images: tuple[str, ...] = ()
    truncated: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            return (
                f"{self.source}: {counted(self.n_points, 'point')} and {counted(self.n_regions, 'region')} on "
                f"{counted(len(self.images), 'image')}, no problem found"
            )
        head = f"{self.source}: {counted(len(self.problems) + self.truncated, 'problem')}; nothing was imported:"
        more = [f"... and {self.truncated} more"] if self.truncated else []
        return "\n".join([head, *(f"- {p}" for p in self.problems), *more])


@dataclass(frozen=True)
class ImportPlan:
    """Validated marks ready for :func:`apply_import` (one :class:`ImageMarks` per image
    and reader, holding only the imported marks)."""

    report: ImportReport
    marks: tuple[ImageMarks, ...] = field(default_factory=tuple)


class Collector:
    """Problems and marks gathered while one import file is checked.

    Args:
        source: the file's name, for the report.
        images: ``(rows, cols)`` of every image of the dataset, by key (may be lazy).
    """

    def __init__(self, source: str, images: Mapping[str, tuple[int, int]]) -> None:
        self.source = source
        self.images = images  # may be lazy (reads sizes on demand)
        self.problems: list[ImportProblem] = []
        self.truncated = 0
        self.points: dict[tuple[str, str], list[PointMark]] = {}
        self.regions: dict[tuple[str, str], list[RegionMark]] = {}
        #: The image comment by (image, reader), for the formats that carry one.
        self.comments: dict[tuple[str, str], str] = {}
        self.ids: set[tuple[str, str, str]] = set()

    def shape(self, key: str) -> tuple[int, int]:
        rows, cols = self.images[key][:2]
        return int(rows), int(cols)

    def problem(self, where: str, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(ImportProblem(where, message))
        else:
            self.truncated += 1

    def image(self, where: str, key: Any) -> str | None:
        key = "" if key is None else str(key).strip()
        if not key:
            self.problem(where, "image key is empty")
            return None
        if key not in self.images:
            known = ", ".join(sorted(self.images)[:3])
            self.problem(
                where,
                f"unknown image {key!r}: expected a key of the open dataset (e.g. {known}); "
                "open the dataset the file was made on, or correct the key",
            )
            return None
        return key

    def reader(self, where: str, name: Any, default: str | None) -> str | None:
        value = default if name is None or str(name).strip() == "" else str(name)
        if value is None:
            self.problem(where, "no reader named: add a 'reader' column or name yourself first")
            return None
        try:
            return check_reader(value)
        except ValueError as exc:
            self.problem(where, str(exc))
            return None

    def label(self, where: str, value: Any) -> str | None:
        label = (
            "uncertain" if value is None or str(value).strip() == "" else str(value).strip().lower()
        )
        if label not in LABELS:
            self.problem(where, f"unknown label {value!r}: expected one of {', '.join(LABELS)}")
            return None
        return label

    def inside(self, where: str, key: str, row: float, col: float) -> bool:
        rows, cols = self.shape(key)
        if not (-0.5 <= row <= rows - 0.5 and -0.5 <= col <= cols - 0.5):
            self.problem(
                where,
                f"({row:g}, {col:g}) is outside {key}: expected row 0..{rows - 1} and col 0..{cols - 1}",
            )
            return False
        return True

    def mark_id(self, where: str, key: str, reader: str, value: Any) -> str:
        mid = new_mark_id() if value is None or str(value).strip() == "" else str(value).strip()
        if (key, reader, mid) in self.ids:
            self.problem(where, f"mark id {mid!r} appears twice for {key} / {reader}")
        self.ids.add((key, reader, mid))
        return mid

    def read_text(self, data: bytes | str) -> str | None:
        """The file as text (UTF-8, BOM allowed); ``None`` after noting why not."""
        if isinstance(data, str):
            return data.removeprefix(BOM)
        if len(data) > _MAX_BYTES:
            self.problem(
                self.source,
                f"file is {len(data) / 1024**2:.0f} MB; expected at most {MAX_IMPORT_MB} MB: "
                "split it (one file per image or reader)",
            )
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.problem(
                self.source,
                f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV/JSON",
            )
            return None

    def number(self, where: str, name: str, value: Any) -> float | None:
        """``value`` as a finite float; ``None`` after noting why not."""
        try:
            out = float(value)
        except (TypeError, ValueError):
            self.problem(where, f"{name} must be a number, got {value!r}")
            return None
        if not np.isfinite(out):
            self.problem(where, f"{name} must be finite, got {value!r}")
            return None
        return out

    def plan(self) -> ImportPlan:
        keys = sorted(set(self.points) | set(self.regions) | set(self.comments))
        report = ImportReport(
            source=self.source,
            problems=tuple(self.problems),
            n_points=sum(len(v) for v in self.points.values()),
            n_regions=sum(len(v) for v in self.regions.values()),
            images=tuple(sorted({k for k, _ in keys})),
            truncated=self.truncated,
        )
        if report.ok:
            for k, r in keys:
                n = len(self.points.get((k, r), ())) + len(self.regions.get((k, r), ()))
                if n > MAX_MARKS_PER_IMAGE:
                    self.problem(
                        f"{k} / {r}",
                        f"{n:,} marks; at most {MAX_MARKS_PER_IMAGE:,} per image and reader are "
                        "imported: split the file, or check it holds marks, not a model's map",
                    )
            report = replace(report, problems=tuple(self.problems))
        if not report.ok:
            return ImportPlan(report)
        if not keys:
            report = replace(
                report, problems=(ImportProblem(self.source, "the file holds no marks"),)
            )
            return ImportPlan(report)
        marks = tuple(
            ImageMarks(
                k,
                r,
                points=tuple(self.points.get((k, r), ())),
                regions=tuple(self.regions.get((k, r), ())),
                comment=self.comments.get((k, r), ""),
                image_shape=self.shape(k),
            )
            for k, r in keys
        )
        return ImportPlan(report, marks)


def parse_points_csv(
    data: bytes | str,
    images: Mapping[str, tuple[int, int]],
    *,
    default_reader: str | None = None,
    source: str = "CSV",
) -> ImportPlan:
    """Check a points CSV (as written by :func:`points_csv`) against the dataset's images.

    The separator is the header line's (``,``, ``;`` or tab): a spreadsheet saved in a
    European locale writes ``;`` and decimal commas, which are read as such.

    Args:
        data: the file's bytes or text.
        images: ``(rows, cols)`` of every image of the dataset, by key.
        default_reader: reader of rows without a ``reader`` value (the importing reader).
        source: name of the file, for the report.

    Returns:
        The plan; check ``plan.report.ok`` before :func:`apply_import`.
    """
    col = Collector(source, images)
    text = col.read_text(data)
    if text is None:
        return col.plan()
    # A spreadsheet in a European locale saves ';'-separated CSV with decimal commas.
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = list(reader)
    except csv.Error as exc:
        col.problem(source, f"malformed CSV ({exc})")
        return col.plan()
    missing = [c for c in _REQUIRED_CSV if c not in header]
    if missing:
        col.problem(
            source,
            f"missing {'column' if len(missing) == 1 else 'columns'} {', '.join(missing)}: expected a header with at least "
            f"{', '.join(_REQUIRED_CSV)} (found {', '.join(header) or 'none'})",
        )
        return col.plan()
    for n, raw in enumerate(rows, start=2):
        # Cells points_csv escaped for spreadsheets ('=...') read as they were typed.
        row = {
            (k or "").strip(): unescape_cell(v) if isinstance(v, str) else v for k, v in raw.items()
        }
        where = f"line {n}"
        if None in raw:
            col.problem(
                where, f"{counted(len(raw[None]), 'value')} more than the header has columns"
            )
            continue
        key = col.image(where, row.get("image_key"))
        name = col.reader(where, row.get("reader"), default_reader)
        label = col.label(where, row.get("label"))
        if delimiter != ",":  # decimal commas: "12,5" is 12.5 there
            row = {
                k: v.replace(",", ".") if k in ("row", "col") and v else v for k, v in row.items()
            }
        r = col.number(where, "row", row.get("row"))
        c = col.number(where, "col", row.get("col"))
        if key is None or name is None or label is None or r is None or c is None:
            continue
        if not col.inside(where, key, r, c):
            continue
        mid = col.mark_id(where, key, name, row.get("point_id"))
        now = utc_now()
        col.points.setdefault((key, name), []).append(
            PointMark(
                mid, r, c, label, row.get("comment") or "", name, row.get("created_at") or now, now
            )
        )
    if not rows:
        col.problem(source, "the CSV has a header but no rows")
    return col.plan()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int] | None:
    """``(rows, cols)`` from a PNG's header, its pixels not decoded; ``None``: not a PNG."""
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    cols, rows = struct.unpack(">II", data[16:24])
    return int(rows), int(cols)


def parse_mask_png(
    data: bytes,
    image_key: str,
    images: Mapping[str, tuple[int, int]],
    *,
    reader: str,
    label: str = "uncertain",
    source: str = "mask PNG",
) -> ImportPlan:
    """A mask image aligned to ``image_key`` -> one point per connected mark (its centre).

    The mask must have exactly the image's rows and columns (no rescaling: a mask of
    another size belongs to another image or was resized, which moves the marks).
    """
    col = Collector(source, images)
    key = col.image(source, image_key)
    name = col.reader(source, reader, None)
    lab = col.label(source, label)
    size = _png_size(data)
    arr = None
    if size is None:
        col.problem(source, "cannot decode the file as an image (expected a PNG mask)")
    elif key is not None:
        if size != col.shape(key):
            rows, cols = col.shape(key)
            col.problem(
                source,
                f"wrong size: the mask is {size[0]}x{size[1]}, the image {key} is "
                f"{rows}x{cols} (rows x cols); export the mask at the image's full resolution",
            )
        else:
            # Decoded only once its header gave the image's size: a few MB of zeros can
            # declare 32000x32000 16-bit RGBA pixels (8 GB decoded; docs/measurements.md).
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if arr is None:
                col.problem(source, "cannot decode the file as an image (expected a PNG mask)")
            else:
                if arr.ndim == 3:
                    arr = arr[..., :3].max(axis=2)
                # Counted before any point is made: a noisy map taken for a mask has millions.
                spots = cv2.connectedComponents((arr != 0).astype(np.uint8), connectivity=8)[0] - 1
                if not spots:
                    col.problem(source, "the mask has no marked (non-zero) pixel")
                elif spots > MAX_MARKS_PER_IMAGE:
                    col.problem(
                        source,
                        f"{spots:,} marked spots; at most {MAX_MARKS_PER_IMAGE:,} per image are "
                        "imported: is it a mask of marks (one spot each), not a model's map?",
                    )
    if col.problems or key is None or name is None or lab is None or arr is None:
        return col.plan()
    now = utc_now()
    for calc in find_calcifications(arr != 0, (1.0, 1.0)):
        r, c = calc.centroid
        col.points.setdefault((key, name), []).append(
            PointMark(new_mark_id(), r, c, lab, "", name, now, now)
        )
    return col.plan()


class LazyShapes(Mapping[str, tuple[int, int]]):
    """``image key -> (rows, cols)`` that reads an image's size only when asked.

    Imports validate against every image of the dataset; decoding all of them up front
    would take minutes on the real dataset.

    Args:
        keys: every image key of the dataset.
        shape_of: reads one image's ``(rows, cols)``.
    """

    def __init__(self, keys: Sequence[str], shape_of: Callable[[str], tuple[int, int]]) -> None:
        self._keys = list(dict.fromkeys(keys))
        self._known = set(self._keys)
        self._shape_of = shape_of
        self._memo: dict[str, tuple[int, int]] = {}

    def __getitem__(self, key: str) -> tuple[int, int]:
        if key not in self._known:
            raise KeyError(key)
        if key not in self._memo:
            rows, cols = self._shape_of(key)[:2]
            self._memo[key] = (int(rows), int(cols))
        return self._memo[key]

    def __contains__(self, key: object) -> bool:
        return key in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
