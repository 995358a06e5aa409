"""INbreast: the metadata table, ``AllXML/*.xml`` and ``AllDICOMs/*.dcm`` -> manifest rows.

What this relies on (the INbreast release 1.0 as described by Moreira et al., Acad Radiol
2012, and as read by public loaders such as ``load_inbreast_mask`` in many repositories):

* ``INbreast.csv`` (``;``-separated; the ``.xls``/``.xlsx`` copy is read too):
  ``Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads``, with
  patient id and age ``removed`` in the public release;
* DICOMs named ``<File Name>_<patient hash>_MG_<L|R>_<CC|MLO>_ANON.dcm``: the hash is the
  patient, so it makes the case (``<hash>-<side>``); without it the file name is used;
* ``AllXML/<File Name>.xml``: an OsiriX plist, ``Images`` -> ``ROIs``, each ROI with a
  ``Name`` (``Calcification``, ``Cluster``, ``Mass`` ...), ``NumberOfPoints`` and
  ``Point_px``, a list of ``"(x, y)"`` strings in pixels (x = column).

``Calcification`` ROIs are individual calcifications: one point becomes a small disk, a
contour a filled polygon, all in a ``mask``. ``Cluster`` contours become a ``region`` mask.
The manifest holds one annotation per image: the calcification mask when the image has
one, else the cluster region; when both exist the region file is still written and a note
says where. Images without an XML file have no annotation. ACR 1-4 -> density ``a``-``d``.
A patient examined on two dates would give two images of one view for a case: the case id
then carries the acquisition date.
"""

from __future__ import annotations

import logging
import plistlib
import re
import xml.parsers.expat
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mcalc.config import VIEWS
from mcalc.dataset.collections import METADATA_NAMES
from mcalc.dataset.convert.common import (
    Conversion,
    ManifestRow,
    dicom_shape,
    index_files,
    normalize_header,
    read_table,
    safe_name,
    write_mask,
)
from mcalc.dataset.filekind import content_kind, found_words, read_head
from mcalc.dataset.metadata import birads_refused, normalize_birads, normalize_laterality
from mcalc.errors import DatasetError, ImageReadError
from mcalc.plural import counted

__all__ = ["convert_inbreast", "read_rois", "parse_point", "draw_marks", "POINT_RADIUS_PX"]

log = logging.getLogger(__name__)

#: Radius of the disk drawn for a one-point calcification (INbreast pixels are 70 µm).
POINT_RADIUS_PX = 1
_POINT = re.compile(r"^\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)$")
_ACR = {"1": "a", "2": "b", "3": "c", "4": "d"}


def parse_point(text: str) -> tuple[float, float] | None:
    """``"(1049.82, 2207.1)"`` -> ``(x, y)``; ``None`` when unreadable.

    Example:
        >>> parse_point("(12.5, 7)")
        (12.5, 7.0)
    """
    found = _POINT.match(str(text).strip())
    if not found:
        return None
    try:
        return float(found.group(1)), float(found.group(2))
    except ValueError:
        return None


@dataclass(frozen=True)
class Roi:
    """One ROI of an INbreast XML file: its name and its points as ``(x, y)`` pixels."""

    name: str
    points: tuple[tuple[float, float], ...]

    @property
    def kind(self) -> str:
        """``calcification``, ``cluster`` or ``other``."""
        name = self.name.strip().lower()
        if name.startswith("calcification"):
            return "calcification"
        if name.startswith("cluster"):
            return "cluster"
        return "other"


def read_rois(path: Path) -> tuple[list[Roi], list[str]]:
    """All ROIs of an INbreast XML (OsiriX plist) file, and notes on unreadable points.

    Raises:
        DatasetError: the file is not a readable plist with ``Images``.
    """
    try:
        with path.open("rb") as fh:
            doc = plistlib.load(fh, fmt=plistlib.FMT_XML)
    except (
        OSError,
        plistlib.InvalidFileException,
        xml.parsers.expat.ExpatError,
        ValueError,
    ) as exc:
        raise DatasetError(f"{path}: not a readable OsiriX XML file ({exc})") from exc
    images = doc.get("Images") if isinstance(doc, dict) else None
    if not isinstance(images, list):
        raise DatasetError(f"{path}: no 'Images' list in the XML file")
    rois: list[Roi] = []
    notes: list[str] = []
    for image in images:
        for roi in image.get("ROIs", []) if isinstance(image, dict) else []:
            if not isinstance(roi, dict):
                continue
            name = str(roi.get("Name", ""))
            raw = roi.get("Point_px", [])
            points = [parse_point(p) for p in raw] if isinstance(raw, list) else [None]
            good = tuple(p for p in points if p is not None)
            if len(good) != len(points) or not good:
                notes.append(
                    f"ROI {name!r}: {counted(len(points) - len(good), 'unreadable point')}"
                )
            declared = roi.get("NumberOfPoints")
            if isinstance(declared, int) and declared != len(points):
                notes.append(f"ROI {name!r}: NumberOfPoints {declared} but {len(points)} points")
            if good:
                rois.append(Roi(name, good))
    return rois, notes


def draw_marks(rois: list[Roi], kind: str, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Mask of the ROIs of ``kind`` on an image of ``shape``, and how many were drawn.

    Calcifications: one or two points -> disks of :data:`POINT_RADIUS_PX`, more -> filled
    polygon. Clusters: filled polygon (fewer than three points are not an area: skipped).
    """
    mask = np.zeros(shape, np.uint8)
    drawn = 0
    for roi in rois:
        if roi.kind != kind:
            continue
        pts = np.round(np.array(roi.points)).astype(np.int32)
        if len(pts) >= 3:
            cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 255)
        elif kind == "calcification":
            for x, y in pts:
                cv2.circle(mask, (int(x), int(y)), POINT_RADIUS_PX, 255, -1)
        else:
            continue
        drawn += 1
    return mask > 0, drawn


def _find_metadata(src: Path) -> Path:
    """The release's table under ``src``: a CSV before a workbook in one folder (a sheet
    re-saved as ``INbreast.csv`` beside a damaged ``INbreast.xls`` is the one read)."""
    if src.is_file():
        return src
    if src.is_dir():
        for folder in (src, *sorted(p for p in src.iterdir() if p.is_dir())):
            found = {e.name.lower(): e for e in folder.iterdir() if e.is_file()}
            for name in METADATA_NAMES:
                if name in found:
                    return found[name]
    raise DatasetError(
        f"{src}: no INbreast.csv / INbreast.xls; point at the INbreast release folder or the table"
    )


#: What to do with a table that cannot be read.
_RESAVE = (
    "download the release again, or open it in a spreadsheet program and save its first "
    "sheet as INbreast.csv in the same folder (read before the workbook)"
)


def _sheet_cells(path: Path, kind: str) -> list[list[object]]:
    """The first sheet's cells, row by row: an Excel 97-2003 workbook (``kind`` ``xls``,
    the release's own ``INbreast.xls``) through xlrd, an ``.xlsx`` (``zip``) through openpyxl,
    whatever the file's name says."""
    if kind == "xls":
        import xlrd  # type: ignore[import-untyped]  # no stubs shipped

        try:
            sheet = xlrd.open_workbook(str(path), on_demand=True).sheet_by_index(0)
            return [sheet.row_values(i) for i in range(sheet.nrows)]
        except (OSError, xlrd.XLRDError, IndexError, ValueError, AssertionError) as exc:
            raise DatasetError(
                f"{path}: a damaged Excel 97-2003 workbook (xlrd: {exc}); {_RESAVE}"
            ) from exc
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:  # an open file: openpyxl refuses a file name that does not end in .xlsx
        with path.open("rb") as fh:
            book = load_workbook(fh, read_only=True, data_only=True)
            cells = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
    except (OSError, InvalidFileException, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: a damaged .xlsx workbook ({exc}); {_RESAVE}") from exc
    return cells


def _cell_text(value: object) -> str:
    """A cell as text; whole numbers stored as floats (xlrd reads every number so) lose
    their ``.0`` (a file name ``22678622`` must not become ``22678622.0``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_metadata(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of the metadata table: a CSV, or the first sheet of an .xls or
    .xlsx workbook, told apart by their first bytes (a workbook saved under another name is
    read as what it is)."""
    try:
        head = read_head(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    kind = content_kind(head)
    if kind in ("text", "utf16") or (kind == "empty" and path.suffix.lower() == ".csv"):
        return read_table(path)[1]  # its own words for an empty or UTF-16 one
    if kind not in ("xls", "zip"):
        raise DatasetError(
            f"{path}: expected the INbreast table (the release's Excel 97-2003 INbreast.xls, "
            f"an .xlsx or a CSV); found {found_words(kind)}; {_RESAVE}"
        )
    cells = _sheet_cells(path, kind)
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    for number, values in enumerate(cells, start=1):
        texts = [_cell_text(v) for v in values]
        if not any(texts):
            continue
        if header is None:
            header = [normalize_header(t) for t in texts]
            continue
        rows.append((number, dict(zip(header, texts, strict=False))))
    return rows


@dataclass(frozen=True)
class _Entry:
    line: int
    file_name: str
    laterality: str
    view: str
    date: str
    image: Path
    patient: str
    birads: str | None
    density: str | None


def _entries(meta: Path, image_root: Path, conv: Conversion) -> list[_Entry]:
    dicoms: dict[str, Path] = {}
    for path in index_files(image_root, (".dcm", ".dicom")):
        dicoms.setdefault(path.name.split("_")[0].split(".")[0], path)
    entries: list[_Entry] = []
    for line, row in _read_metadata(meta):
        file_name = row.get("file name", "").split(".")[0].strip()
        if not file_name:
            conv.problem(meta, line, "empty File Name; row skipped")
            continue
        laterality = normalize_laterality(row.get("laterality"))
        view = row.get("view", "").strip().upper()
        if laterality is None or view not in VIEWS:
            conv.problem(
                meta,
                line,
                f"{file_name}: laterality/view {row.get('laterality')!r}/{row.get('view')!r} "
                f"not L/R and one of {list(VIEWS)}; not converted",
            )
            continue
        image = dicoms.get(file_name)
        if image is None:
            conv.problem(meta, line, f"{file_name}: no {file_name}_*.dcm under {image_root}")
            continue
        refused = birads_refused(row.get("bi-rads"))
        if refused is not None:  # written empty: the manifest would not see the value
            conv.problem(meta, line, f"{file_name}: {refused}; left empty", "warning")
        parts = image.stem.split("_")
        patient = parts[1] if len(parts) > 2 and parts[1] else file_name
        entries.append(
            _Entry(
                line=line,
                file_name=file_name,
                laterality=laterality,
                view=view,
                date=row.get("acquisition date", "").strip(),
                image=image,
                patient=patient,
                birads=normalize_birads(row.get("bi-rads")),
                density=_ACR.get(row.get("acr", "").strip()),
            )
        )
    return entries


def _annotate(
    entry: _Entry, xml: Path, mask_dir: Path, meta: Path, conv: Conversion
) -> tuple[Path | None, str] | None:
    """``(annotation, kind)`` of an image with an XML file; ``None`` (reported) on failure."""
    try:
        rois, notes = read_rois(xml)
        shape = dicom_shape(entry.image)
    except (DatasetError, ImageReadError) as exc:
        conv.problem(meta, entry.line, f"{entry.file_name}: {exc}; not converted")
        return None
    for note in notes:
        conv.problem(xml, None, note, "warning")
    outside = sum(
        1
        for roi in rois
        if roi.kind != "other"
        for x, y in roi.points
        if not (0 <= x < shape[1] and 0 <= y < shape[0])
    )
    if outside:
        conv.problem(
            xml,
            None,
            f"{counted(outside, 'point')} outside the {shape[1]}x{shape[0]} image; drawn clipped",
            "warning",
        )
    calcs, n_calcs = draw_marks(rois, "calcification", shape)
    region, n_clusters = draw_marks(rois, "cluster", shape)
    stem = safe_name(entry.file_name)
    region_path = None
    if n_clusters:
        region_path = write_mask(mask_dir / f"{stem}_cluster.png", region)
        conv.masks_written += 1
    if n_calcs:
        path = write_mask(mask_dir / f"{stem}_calcifications.png", calcs)
        conv.masks_written += 1
        if region_path is not None:
            conv.problem(
                xml,
                None,
                f"{counted(n_clusters, 'cluster outline')} written to {region_path}; the manifest "
                "uses the individual calcification marks",
                "info",
            )
        return path, "mask"
    if region_path is not None:
        return region_path, "region"
    return None, "none"


def convert_inbreast(src: Path, mask_dir: Path, images: Path | None = None) -> Conversion:
    """Convert INbreast: ``src`` is the release folder or its metadata table.

    XML files are looked for in ``AllXML`` beside the table (or anywhere under the folder);
    images default to the table's folder, searched recursively (``AllDICOMs``).
    """
    meta = _find_metadata(Path(src).expanduser())
    root = Path(src).expanduser() if Path(src).is_dir() else meta.parent
    image_root = Path(images).expanduser() if images is not None else root
    conv = Conversion("inbreast")
    xmls = {p.stem: p for p in index_files(root, (".xml",))}
    entries = _entries(meta, image_root, conv)
    # a breast imaged on two dates (two images of one view) gets one case per date
    dates: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        dates.setdefault((e.patient, e.laterality), set()).add(e.date)
    views = Counter((e.patient, e.laterality, e.view) for e in entries)
    dated = {(p, side) for (p, side, _), n in views.items() if n > 1 and len(dates[(p, side)]) > 1}
    for entry in entries:
        case_id = f"{entry.patient}-{entry.laterality}"
        if (entry.patient, entry.laterality) in dated:
            case_id = f"{case_id}-{entry.date}"
        annotation: Path | None = None
        kind = "none"
        xml = xmls.get(entry.file_name)
        if xml is not None:
            result = _annotate(entry, xml, mask_dir, meta, conv)
            if result is None:
                continue
            annotation, kind = result
        conv.add(
            ManifestRow(
                case_id=case_id,
                patient_id=entry.patient,
                laterality=entry.laterality,
                view=entry.view,
                image=entry.image,
                annotation=annotation,
                annotation_kind=kind,
                birads=entry.birads,
                density=entry.density,
            ),
            meta,
            entry.line,
        )
    log.info("inbreast: %d rows, %d problems", len(conv.rows), len(conv.problems))
    return conv
