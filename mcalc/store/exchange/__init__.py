"""Export and import of readers' marks and audits: CSV, COCO JSON, marks JSON, mask PNGs,
DICOM SEG.

Three jobs, one module each: :mod:`~mcalc.store.exchange.export` writes files,
:mod:`~mcalc.store.exchange.validate` (with :mod:`~mcalc.store.exchange.coco` for COCO JSON
and :mod:`~mcalc.store.exchange.marks_json` for Annotate's own marks JSON) checks a whole
import file and returns an :class:`ImportPlan` listing every problem, and
:mod:`~mcalc.store.exchange.apply` writes a clean plan into the store: if a write fails
midway every record already written is put back as it was, so an import lands completely
or not at all. :mod:`~mcalc.store.exchange.dicom_seg` writes marks as a DICOM Segmentation
of the source image, de-identified by :mod:`~mcalc.store.exchange.deid` (PS3.15 Annex E).
"""

from __future__ import annotations

from mcalc.store.exchange.apply import apply_import, import_refusal
from mcalc.store.exchange.coco import parse_coco
from mcalc.store.exchange.deid import deidentify
from mcalc.store.exchange.dicom_seg import marks_seg
from mcalc.store.exchange.export import (
    COCO_CATEGORIES,
    CSV_COLUMNS,
    ExportError,
    audit_csv,
    coco_dict,
    coco_json,
    marks_json_text,
    marks_mask,
    mask_png,
    masks_zip,
    points_csv,
    region_calls_csv,
)
from mcalc.store.exchange.marks_json import is_marks_json, parse_json, parse_marks_json
from mcalc.store.exchange.validate import (
    MAX_IMPORT_MB,
    ImportPlan,
    ImportProblem,
    ImportReport,
    ImportValidationError,
    LazyShapes,
    parse_mask_png,
    parse_points_csv,
)

__all__ = [
    "MAX_IMPORT_MB",
    "CSV_COLUMNS",
    "COCO_CATEGORIES",
    "ExportError",
    "ImportValidationError",
    "ImportProblem",
    "ImportReport",
    "ImportPlan",
    "LazyShapes",
    "points_csv",
    "coco_dict",
    "coco_json",
    "marks_json_text",
    "marks_mask",
    "mask_png",
    "masks_zip",
    "audit_csv",
    "region_calls_csv",
    "deidentify",
    "marks_seg",
    "parse_points_csv",
    "parse_coco",
    "parse_marks_json",
    "parse_json",
    "is_marks_json",
    "parse_mask_png",
    "import_refusal",
    "apply_import",
]
