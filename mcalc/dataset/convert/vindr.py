"""VinDr-Mammo: ``breast-level_annotations.csv`` + ``finding_annotations.csv`` -> manifest rows.

What this relies on (the PhysioNet release "VinDr-Mammo 1.0.0" and the authors' code,
github.com/vinbigdata-medical/vindr-mammo ``split_data.ipynb`` and ``visualize.py``):

* ``breast-level_annotations.csv``, one row per image: ``study_id``, ``series_id``,
  ``image_id``, ``laterality`` (``L``/``R``), ``view_position`` (``CC``/``MLO``),
  ``height``, ``width``, ``breast_birads`` (``BI-RADS 1`` ... ``BI-RADS 5``),
  ``breast_density`` (``DENSITY A`` ... ``DENSITY D``), ``split``;
* ``finding_annotations.csv``, one row per finding (or one ``['No Finding']`` row per
  image), with the same columns plus ``finding_categories`` (a Python-style list such as
  ``['Mass', 'Suspicious Calcification']``), ``finding_birads`` and the box ``xmin``,
  ``ymin``, ``xmax``, ``ymax`` in pixels of the image;
* images at ``images/<study_id>/<image_id>.dicom``.

Boxes whose categories include ``Suspicious Calcification`` are filled into a ``region``
mask of the image's ``height`` x ``width`` (no image is decoded). VinDr-Mammo gives no
patient id: one study is one woman's examination, so ``study_id`` is the patient and
``<study_id>-<L|R>`` the case. The ``split`` column is not carried over.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcalc.config import VIEWS
from mcalc.dataset.collections import BREAST_NAME, FINDINGS_NAME
from mcalc.dataset.convert.common import (
    Conversion,
    ManifestRow,
    index_files,
    read_table,
    safe_name,
    write_mask,
)
from mcalc.dataset.filekind import missing_columns
from mcalc.dataset.metadata import (
    birads_refused,
    normalize_birads,
    normalize_laterality,
    parse_number,
)
from mcalc.errors import DatasetError

__all__ = ["convert_vindr", "FINDINGS_NAME", "BREAST_NAME", "CALC_CATEGORY", "parse_categories"]

log = logging.getLogger(__name__)

#: The finding category turned into a region.
CALC_CATEGORY = "suspicious calcification"
#: Columns both tables must have (headers read lower case, "_" as " ").
_REQUIRED = ("study id", "image id", "laterality", "view position")
_IMAGE_SUFFIXES = (".dicom", ".dcm")


def parse_categories(text: str) -> list[str] | None:
    """``"['Mass', 'Suspicious Calcification']"`` -> the names; ``None`` if unreadable.

    Example:
        >>> parse_categories("['No Finding']")
        ['No Finding']
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None


@dataclass
class _Image:
    study: str
    image_id: str
    file: Path
    line: int
    laterality: str | None
    view: str
    height: int | None
    width: int | None
    birads: str | None
    density: str | None
    boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    broken: list[tuple[int, str]] = field(default_factory=list)


def _density(text: str) -> str | None:
    value = text.strip().lower().removeprefix("density").strip()
    return value if value in {"a", "b", "c", "d"} else None


def _image_from(row: dict[str, str], file: Path, line: int) -> _Image:
    height, width = parse_number(row.get("height")), parse_number(row.get("width"))
    return _Image(
        study=row.get("study id", ""),
        image_id=row.get("image id", ""),
        file=file,
        line=line,
        laterality=normalize_laterality(row.get("laterality")),
        view=row.get("view position", "").upper(),
        height=int(height) if height else None,
        width=int(width) if width else None,
        birads=normalize_birads(row.get("breast birads")),
        density=_density(row.get("breast density", "")),
    )


def _is_findings(table: Path) -> bool:
    """Whether a VinDr-Mammo CSV is the findings file (it has ``finding_categories``)."""
    header, _ = read_table(table)
    return "finding categories" in header


def _locate(src: Path) -> tuple[Path | None, Path | None]:
    """The findings and breast-level CSVs of ``src``: the release folder, or either of its
    two CSVs (the other one is looked for beside it). Each is ``None`` when absent; one at
    least is there.

    A file is told by its columns, not its name: given the breast-level file, it was read
    as the findings file and again as itself, and every image was "not in
    breast-level_annotations.csv".
    """
    if src.is_file():
        folder = src.parent
        given_findings = _is_findings(src)
        findings = src if given_findings else folder / FINDINGS_NAME
        breast = folder / BREAST_NAME if given_findings else src
    elif src.is_dir():
        folder = src
        findings, breast = src / FINDINGS_NAME, src / BREAST_NAME
    else:
        raise DatasetError(f"{src} does not exist; point at the VinDr-Mammo folder")
    found = (findings if findings.is_file() else None, breast if breast.is_file() else None)
    if found == (None, None):
        raise DatasetError(
            f"{folder}: neither {FINDINGS_NAME} nor {BREAST_NAME}; point at the VinDr-Mammo "
            "release folder or one of the two"
        )
    return found


def _read_images(findings: Path | None, breast: Path | None, conv: Conversion) -> dict[str, _Image]:
    images: dict[str, _Image] = {}
    for table, is_findings in ((breast, False), (findings, True)):
        if table is None:
            continue
        header, rows = read_table(table)
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise DatasetError(f"{table}: {missing_columns(missing, _REQUIRED, header)}")
        for line, row in rows:
            image_id = row.get("image id", "")
            if not image_id or not row.get("study id"):
                conv.problem(table, line, "empty study_id or image_id; row skipped")
                continue
            image = images.get(image_id)
            if image is None:
                if is_findings and breast is not None:
                    conv.problem(
                        table, line, f"image {image_id} is not in {BREAST_NAME}; row skipped"
                    )
                    continue
                image = images[image_id] = _image_from(row, table, line)
                refused = birads_refused(row.get("breast birads"))
                if refused is not None:  # written empty: the manifest would not see it
                    conv.problem(table, line, f"breast_birads: {refused}; left empty", "warning")
            if not is_findings:
                continue
            categories = parse_categories(row.get("finding categories", ""))
            if categories is None:
                image.broken.append(
                    (line, f"finding_categories {row.get('finding categories')!r} unreadable")
                )
                continue
            if CALC_CATEGORY not in {c.strip().lower() for c in categories}:
                continue
            try:
                x0, y0, x1, y1 = (float(row.get(k, "")) for k in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                image.broken.append((line, "a Suspicious Calcification without a readable box"))
                continue
            image.boxes.append((line, x0, y0, x1, y1))
    return images


def _region(image: _Image, findings: Path, conv: Conversion) -> np.ndarray | None:
    """The filled boxes of ``image``; ``None`` (reported) when one cannot be drawn."""
    if image.height is None or image.width is None:
        conv.problem(
            image.file, image.line, f"image {image.image_id}: no height/width; not converted"
        )
        return None
    mask = np.zeros((image.height, image.width), bool)
    for line, x0, y0, x1, y1 in image.boxes:
        if not (0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height):
            conv.problem(
                findings,
                line,
                f"image {image.image_id}: box ({x0}, {y0}, {x1}, {y1}) is empty or outside "
                f"the {image.width}x{image.height} image; image not converted",
            )
            return None
        mask[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    return mask


def _usable(
    image: _Image, files: dict[str, Path], findings: Path, image_root: Path, conv: Conversion
) -> tuple[Path, str] | None:
    """The DICOM and side of ``image``, or ``None`` (reported) when it cannot be converted."""
    if image.broken:
        line, reason = image.broken[0]
        conv.problem(findings, line, f"image {image.image_id}: {reason}; not converted")
        return None
    if image.laterality is None or image.view not in VIEWS:
        conv.problem(
            image.file,
            image.line,
            f"image {image.image_id}: laterality/view {image.laterality}/{image.view!r} "
            f"not L/R and one of {list(VIEWS)}; not converted",
        )
        return None
    path = files.get(image.image_id)
    if path is None:
        conv.problem(
            image.file,
            image.line,
            f"image {image.study}/{image.image_id}.dicom not found under {image_root}",
        )
        return None
    return path, image.laterality


def _default_images(folder: Path) -> Path:
    """``<folder>/images`` as the release names it, else ``folder`` (searched recursively,
    as the INbreast and CBIS-DDSM converters search theirs): an ``Images/`` folder found
    nothing and reported every image "not found under .../images", one line each."""
    images = folder / "images"
    return images if images.is_dir() else folder


def convert_vindr(src: Path, mask_dir: Path, images: Path | None = None) -> Conversion:
    """Convert VinDr-Mammo: ``src`` is the release folder, or either of its two CSVs.

    Images default to ``<folder>/images``, else the folder itself, searched recursively
    (an ``Images/`` folder, or images unpacked one level deeper).

    Example:
        >>> conv = convert_vindr(Path("/data/vindr"), Path("/out/masks/vindr"))  # doctest: +SKIP
    """
    findings, breast = _locate(Path(src).expanduser())
    either = findings or breast
    assert either is not None  # _locate found one at least
    folder = either.parent
    image_root = Path(images).expanduser() if images is not None else _default_images(folder)
    conv = Conversion("vindr")
    if breast is None:
        conv.problem(folder, None, f"no {BREAST_NAME}: metadata read from {FINDINGS_NAME}", "info")
    if findings is None:
        conv.problem(
            folder,
            None,
            f"no {FINDINGS_NAME} beside {BREAST_NAME}: no calcification boxes, every image "
            "converted without an annotation",
            "warning",
        )
    table = _read_images(findings, breast, conv)
    files: dict[str, Path] = {}
    for found in index_files(image_root, _IMAGE_SUFFIXES):
        files.setdefault(found.stem, found)

    for image in table.values():
        usable = _usable(image, files, findings or either, image_root, conv)
        if usable is None:
            continue
        path, side = usable
        annotation: Path | None = None
        if image.boxes:
            mask = _region(image, findings or either, conv)
            if mask is None:
                continue
            annotation = write_mask(
                mask_dir / safe_name(image.study) / f"{safe_name(image.image_id)}_region.png", mask
            )
            conv.masks_written += 1
        conv.add(
            ManifestRow(
                case_id=f"{image.study}-{side}",
                patient_id=image.study,
                laterality=side,
                view=image.view,
                image=path,
                annotation=annotation,
                annotation_kind="region" if annotation is not None else "none",
                birads=image.birads,
                density=image.density,
            ),
            image.file,
            image.line,
        )
    log.info("vindr: %d rows, %d problems", len(conv.rows), len(conv.problems))
    return conv
