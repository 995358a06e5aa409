"""CBIS-DDSM: the calcification description CSVs and the DICOM tree -> manifest rows.

What this relies on (the TCIA collection page "CBIS-DDSM" and Lee et al., Sci Data 2017):

* ``calc_case_description_train_set.csv`` / ``..._test_set.csv``, one row per abnormality:
  ``patient_id``, ``breast density`` (``breast_density`` in the mass CSVs), ``left or right
  breast``, ``image view``, ``abnormality id``, ``abnormality type``, ``calc type``, ``calc
  distribution``, ``assessment`` (BI-RADS), ``pathology`` (``MALIGNANT``, ``BENIGN``,
  ``BENIGN_WITHOUT_CALLBACK``), ``subtlety``, ``image file path``, ``cropped image file
  path``, ``ROI mask file path``; path cells may end in a newline inside their quotes;
* the paths read ``Calc-Training_P_00005_RIGHT_CC/<study UID>/<series UID>/000000.dcm``,
  but the NBIA Data Retriever writes ``CBIS-DDSM/Calc-Training_P_00005_RIGHT_CC/
  <date>-DDSM-<n>/1.000000-full mammogram images-<n>/1-1.dcm``: only the first folder name
  is shared, and the ROI folder (``..._CC_1``) holds the ROI mask and the cropped image,
  whose file names are swapped in some rows.

So a path is taken literally when it exists, else by its first folder name anywhere under
the images folder; the ROI mask is the DICOM of that folder whose size equals the full
image's and whose pixels are binary (which tells it from the cropped image whatever the
names say). The calcification ROI masks outline the area of the finding, so the union of an
image's ROI masks is written as one ``region`` PNG. The highest ``assessment`` of an image
is its BI-RADS; ``pathology`` is ``malignant`` if any abnormality is; density 1-4 -> a-d.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcalc.config import VIEWS
from mcalc.dataset.convert.common import (
    Conversion,
    ManifestRow,
    birads_rank,
    dicom_shape,
    index_files,
    read_table,
    safe_name,
    write_mask,
)
from mcalc.dataset.filekind import missing_columns
from mcalc.dataset.metadata import birads_refused, normalize_birads, normalize_laterality
from mcalc.errors import DatasetError, ImageReadError

__all__ = ["convert_cbis_ddsm", "CSV_PATTERN", "series_folder", "is_binary"]

log = logging.getLogger(__name__)

#: Description CSVs looked for when a folder is given.
CSV_PATTERN = "calc_case_description*.csv"
_SERIES = re.compile(
    r"^(calc|mass)-(training|test)_p_\d+_(left|right)_(cc|mlo)(_\d+)?$", re.IGNORECASE
)
_DENSITY = {"1": "a", "2": "b", "3": "c", "4": "d"}
_REQUIRED = (
    "patient id",
    "left or right breast",
    "image view",
    "image file path",
    "roi mask file path",
)


def series_folder(path_text: str) -> str:
    """The first folder of a CSV path, which names the series in any download layout.

    Example:
        >>> series_folder(' "Calc-Test_P_00038_LEFT_CC_1/1.3.6/1.3.6/000001.dcm\\n"')
        'Calc-Test_P_00038_LEFT_CC_1'
    """
    cleaned = path_text.strip().strip('"').strip().replace("\\", "/")
    return cleaned.split("/")[0].strip()


def is_binary(pixels: np.ndarray) -> bool:
    """``True`` when ``pixels`` hold at most two values, one of them 0 (a mask)."""
    top = pixels.max() if pixels.size else 0
    return bool(np.count_nonzero((pixels != 0) & (pixels != top)) == 0)


def _read_pixels(path: Path) -> np.ndarray:
    from mcalc.imageio import pydicom_module

    pydicom = pydicom_module()

    try:
        return np.asarray(pydicom.dcmread(path).pixel_array)
    except (
        OSError,
        AttributeError,
        ValueError,
        TypeError,
        RuntimeError,
        pydicom.errors.InvalidDicomError,
    ) as exc:
        raise ImageReadError(f"{path}: cannot decode the DICOM pixels ({exc})") from exc


@dataclass
class _Image:
    folder: str
    path: Path
    shape: tuple[int, int]
    patient: str
    laterality: str
    view: str
    file: Path
    line: int
    birads: str | None = None
    density: str | None = None
    pathologies: set[str] = field(default_factory=set)
    masks: list[list[Path]] = field(default_factory=list)


class _Tree:
    """The DICOM files under the images folder, by the series folder that holds them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_series: dict[str, list[Path]] = {}
        for path in index_files(root, (".dcm", ".dicom")):
            for part in path.relative_to(root).parts[:-1]:
                if _SERIES.match(part):
                    self.by_series.setdefault(part.lower(), []).append(path)
                    break

    def literal(self, text: str) -> Path | None:
        cleaned = text.strip().strip('"').strip().replace("\\", "/")
        for base in (self.root, self.root / "CBIS-DDSM"):
            candidate = base / cleaned
            if cleaned and candidate.is_file():
                return candidate
        return None

    def candidates(self, text: str, prefer: str) -> list[Path]:
        """Files for a CSV path: the literal one first, then the series folder's, ``prefer``-named first."""
        found = self.by_series.get(series_folder(text).lower(), [])
        ranked = sorted(found, key=lambda p: (prefer not in str(p.parent).lower(), str(p)))
        literal = self.literal(text)
        return ([literal] if literal is not None else []) + [p for p in ranked if p != literal]


def _full_image(tree: _Tree, text: str) -> tuple[Path, tuple[int, int]] | str:
    """The full mammogram of a CSV path and its shape, or why it was not found."""
    candidates = tree.candidates(text, "full mammogram")
    if not candidates:
        return f"image {series_folder(text)!r} not found under {tree.root}"
    literal = tree.literal(text)
    if (
        literal is None
        and len(candidates) > 1
        and not any("full mammogram" in str(p.parent).lower() for p in candidates)
    ):
        return f"{len(candidates)} DICOM files under {series_folder(text)!r}, none in a 'full mammogram images' series"
    try:
        return candidates[0], dicom_shape(candidates[0])
    except ImageReadError as exc:
        return str(exc)


def _roi_masks(tree: _Tree, text: str, shape: tuple[int, int]) -> tuple[list[Path], str]:
    """DICOMs of a CSV ROI path with the image's ``shape`` (best first), or why there are none."""
    candidates = tree.candidates(text, "roi mask")
    if not candidates:
        return [], f"ROI mask {series_folder(text)!r} not found under {tree.root}"
    sizes: list[tuple[int, int]] = []
    fitting: list[Path] = []
    for path in candidates:
        try:
            found = dicom_shape(path)
        except ImageReadError:
            continue
        sizes.append(found)
        if found == shape:
            fitting.append(path)
    if fitting:
        return fitting, ""
    return [], (
        f"no DICOM of {series_folder(text)!r} has the image's size {shape[1]}x{shape[0]} "
        f"(found {', '.join(f'{c}x{r}' for r, c in sizes) or 'none readable'})"
    )


def _find_csvs(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if src.is_dir():
        found = sorted(src.glob(CSV_PATTERN)) or sorted(src.rglob(CSV_PATTERN))
        if found:
            return found
    raise DatasetError(
        f"{src}: no {CSV_PATTERN}; point at calc_case_description_train_set.csv (or test) "
        "or the folder holding them"
    )


def _read_rows(csv_path: Path, tree: _Tree, images: dict[str, _Image], conv: Conversion) -> None:
    header, rows = read_table(csv_path)
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise DatasetError(f"{csv_path}: {missing_columns(missing, _REQUIRED, header)}")
    for line, row in rows:
        kind = row.get("abnormality type", "calcification").strip().lower()
        if kind != "calcification":
            conv.problem(
                csv_path, line, f"abnormality type {kind!r} is not a calcification; row skipped"
            )
            continue
        laterality = normalize_laterality(row.get("left or right breast"))
        view = row.get("image view", "").strip().upper()
        patient = row.get("patient id", "").strip()
        if not patient or laterality is None or view not in VIEWS:
            conv.problem(
                csv_path,
                line,
                f"patient/side/view {patient!r}/{row.get('left or right breast')!r}/"
                f"{row.get('image view')!r} unreadable; row skipped",
            )
            continue
        text = row.get("image file path", "")
        key = series_folder(text).lower()
        image = images.get(key)
        if image is None:
            found = _full_image(tree, text)
            if isinstance(found, str):
                conv.problem(csv_path, line, f"{found}; row skipped")
                continue
            image = images[key] = _Image(
                series_folder(text), found[0], found[1], patient, laterality, view, csv_path, line
            )
        masks, why = _roi_masks(tree, row.get("roi mask file path", ""), image.shape)
        if not masks:
            conv.problem(
                csv_path,
                line,
                f"{why}; abnormality {row.get('abnormality id', '?')} left out",
                "warning",
            )
        else:
            image.masks.append(masks)
        birads = normalize_birads(row.get("assessment"))
        refused = birads_refused(row.get("assessment"))
        if refused is not None:  # written empty: the manifest would not see the value
            conv.problem(csv_path, line, f"assessment: {refused}; left empty", "warning")
        if birads_rank(birads) > birads_rank(image.birads):
            image.birads = birads
        density = row.get("breast density", "").strip().split(".")[0]
        image.density = image.density or _DENSITY.get(density)
        pathology = row.get("pathology", "").strip().lower()
        if pathology:
            image.pathologies.add("malignant" if pathology.startswith("malignant") else "benign")


def _region(image: _Image, conv: Conversion) -> np.ndarray | None:
    """Union of the image's ROI masks: of each abnormality's candidates, the first binary one."""
    union = np.zeros(image.shape, bool)
    for candidates in image.masks:
        for path in candidates:
            try:
                pixels = _read_pixels(path)
            except ImageReadError as exc:
                conv.problem(image.file, image.line, f"{exc}; skipped", "warning")
                continue
            if pixels.shape == image.shape and is_binary(pixels):
                union |= pixels != 0
                break
        else:
            conv.problem(
                image.file,
                image.line,
                f"{image.folder}: none of {[str(p) for p in candidates]} is a binary mask; "
                "that abnormality left out",
                "warning",
            )
    return union if union.any() else None


def convert_cbis_ddsm(src: Path, mask_dir: Path, images: Path | None = None) -> Conversion:
    """Convert CBIS-DDSM calcification cases.

    Args:
        src: a ``calc_case_description_*.csv`` file or the folder holding them.
        mask_dir: where the region PNGs are written.
        images: the folder the DICOM tree was downloaded to (default: the CSVs' folder).
    """
    csvs = _find_csvs(Path(src).expanduser())
    image_root = Path(images).expanduser() if images is not None else csvs[0].parent
    conv = Conversion("cbis-ddsm")
    tree = _Tree(image_root)
    found: dict[str, _Image] = {}
    for csv_path in csvs:
        _read_rows(csv_path, tree, found, conv)
    for key in sorted(found):
        image = found[key]
        region = _region(image, conv) if image.masks else None
        if region is None:
            conv.problem(
                image.file,
                image.line,
                f"{image.folder}: no usable ROI mask for its calcifications; image not converted",
            )
            continue
        annotation = write_mask(mask_dir / f"{safe_name(image.folder)}_region.png", region)
        conv.masks_written += 1
        case_id = f"{image.patient}-{image.laterality}"
        conv.add(
            ManifestRow(
                case_id=case_id,
                patient_id=image.patient,
                laterality=image.laterality,
                view=image.view,
                image=image.path,
                annotation=annotation,
                annotation_kind="region",
                birads=image.birads,
                density=image.density,
                biopsy=("malignant" if "malignant" in image.pathologies else "benign")
                if image.pathologies
                else None,
            ),
            image.file,
            image.line,
        )
    log.info("cbis-ddsm: %d rows, %d problems", len(conv.rows), len(conv.problems))
    return conv
