"""Scan a dataset: index it, read every image and annotation, count and report.

This is what ``python -m mcalc scan DATA`` runs. Nothing found wrong stops the scan: every
problem is reported with the file it concerns, and the rest of the dataset is counted.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mcalc.annotations import load_annotation_mask, summarize
from mcalc.annotations.align import RESIZED_NOTE
from mcalc.breast import breast_mask, mask_quality, pectoral_mask
from mcalc.dataset import open_dataset
from mcalc.dataset.records import DatasetIndex, ImageRecord, Problem
from mcalc.errors import AnnotationError, ImageReadError
from mcalc.imageio import RASTER_SUFFIXES, read_laterality, read_record
from mcalc.imaging import file_unit
from mcalc.progress import ProgressFn

__all__ = [
    "ImageScan",
    "ScanReport",
    "scan_dataset",
    "scan_index",
    "laterality_problem",
    "laterality_disagreements",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageScan:
    """What the scan found for one image."""

    key: str
    path: str
    readable: bool
    shape: tuple[int, int] | None = None
    spacing_mm: tuple[float, float] | None = None
    laterality: str | None = None
    calcifications: int = 0
    clusters: int = 0
    problems: tuple[Problem, ...] = ()
    regions: int = 0
    breast: dict | None = None


@dataclass(frozen=True)
class ScanReport:
    """Counts and problems of a scanned dataset."""

    root: str
    source: str
    synthetic: bool
    cases: int
    images: int
    readable_images: int
    annotated_images: int
    calcifications: int
    clusters: int
    seconds: float
    problems: tuple[Problem, ...]
    per_image: tuple[ImageScan, ...] = field(default_factory=tuple)
    regions: int = 0

    @property
    def usable(self) -> bool:
        """At least one image could be read."""
        return self.readable_images > 0

    def to_dict(self) -> dict:
        """JSON-ready summary (``cases``, ``images``, ``calcifications``, ``clusters``,
        ``regions``, ``problems``; per image the breast mask's ``breast`` quality:
        :func:`mcalc.breast.mask_quality`). ``regions`` counts the areas of ``region`` annotations,
        which hold calcifications but are not counted as calcifications."""
        return {
            "root": self.root,
            "source": self.source,
            "synthetic": self.synthetic,
            "cases": self.cases,
            "images": self.images,
            "readable_images": self.readable_images,
            "annotated_images": self.annotated_images,
            "calcifications": self.calcifications,
            "clusters": self.clusters,
            "regions": self.regions,
            "seconds": round(self.seconds, 2),
            "problems": [p.as_dict() for p in self.problems],
            "per_image": [
                {
                    "image_key": s.key,  # as predict's, audit's and the batch table's
                    "path": s.path,
                    "readable": s.readable,
                    "shape": list(s.shape) if s.shape else None,
                    "spacing_mm": list(s.spacing_mm) if s.spacing_mm else None,
                    "calcifications": s.calcifications,
                    "clusters": s.clusters,
                    "regions": s.regions,
                    "breast": s.breast,
                }
                for s in self.per_image
            ],
        }


def laterality_problem(
    path: str | Path, tag: str | None, expected: str | None, source: str = "real-layout"
) -> Problem | None:
    """A warning when a file's laterality tag (``tag``) contradicts its case's (``expected``,
    from the spreadsheet of the real layout or, ``source`` ``manifest``, the manifest);
    ``None`` when they agree or one is unknown.

    Example:
        >>> laterality_problem("a.dcm", "L", "R").message
        'laterality tag says L, the spreadsheet says R'
        >>> laterality_problem("a.dcm", "L", "R", "manifest").message
        'laterality tag says L, the manifest says R'
    """
    if not tag or not expected or tag == expected:
        return None
    table = "manifest" if source == "manifest" else "spreadsheet"
    return Problem(str(path), f"laterality tag says {tag}, the {table} says {expected}", "warning")


def laterality_disagreements(index: DatasetIndex) -> tuple[Problem, ...]:
    """:func:`laterality_problem` of every DICOM image of ``index`` whose case has a
    laterality, from the files' headers alone (no pixel data decoded): what ``scan`` warns
    of, for the pages (which cache it per dataset). Unreadable files say nothing here.

    Example:
        >>> laterality_disagreements(open_dataset("data/demo"))  # doctest: +SKIP
        ()
    """
    found: list[Problem] = []
    for case in index.cases:
        if case.laterality is None:
            continue
        for rec in case.images:
            if rec.image_path.suffix.lower() in RASTER_SUFFIXES:
                continue  # no tags
            problem = laterality_problem(
                rec.image_path, read_laterality(rec.image_path), case.laterality, index.source
            )
            if problem is not None:
                found.append(problem)
    return tuple(found)


def _note_severity(note: str) -> str:
    """``warning`` for an annotation of another size than its image, else ``info``."""
    return "warning" if note.startswith(RESIZED_NOTE) else "info"


def _scan_image(
    rec: ImageRecord, laterality_expected: str | None, source: str = "real-layout"
) -> ImageScan:
    problems: list[Problem] = []
    try:
        mammo = read_record(rec)
    except ImageReadError as exc:
        return ImageScan(
            rec.key,
            str(rec.image_path),
            False,
            problems=(Problem(str(rec.image_path), str(exc), "error"),),
        )
    for flag in mammo.flags:
        if "laterality" in flag and laterality_expected:
            continue  # the spreadsheet supplies it
        problems.append(Problem(str(rec.image_path), flag, "info"))
    disagreement = laterality_problem(rec.image_path, mammo.laterality, laterality_expected, source)
    if disagreement is not None:
        problems.append(disagreement)
    unit = file_unit(mammo)
    region = breast_mask(unit)
    # MLO: the pectoral muscle is part of the mask but not of the region models look at.
    muscle = pectoral_mask(unit, region) if mammo.view == "MLO" else None
    breast = mask_quality(region, muscle)
    if breast["touches_far_side"] or not 0.02 <= float(breast["fraction"]) <= 0.95:
        problems.append(
            Problem(
                str(rec.image_path),
                f"the breast region looks wrong (covers {breast['fraction']} of the image, "
                f"touches {', '.join(breast['touches']) or 'no side'}): check the image "
                "for borders or labels the segmentation took in",
                "warning",
            )
        )
    n_calc = n_clu = n_reg = 0
    if rec.annotation_path is not None:
        try:
            mask, notes = load_annotation_mask(
                rec.annotation_path, rec.annotation_kind, mammo.shape
            )
            summary = summarize(mask, mammo.pixel_spacing_mm, kind=rec.annotation_kind)
            n_calc, n_clu = len(summary.calcifications), len(summary.clusters)
            n_reg = summary.n_regions
            problems.extend(
                # Another size than the image's: marks may be lost or moved, the user should
                # know (an info note hid it under -v).
                Problem(str(rec.annotation_path), n, _note_severity(n))
                for n in notes
            )
        except AnnotationError as exc:
            problems.append(Problem(str(rec.annotation_path), str(exc), "error"))
    return ImageScan(
        key=rec.key,
        path=str(rec.image_path),
        readable=True,
        shape=mammo.shape,
        spacing_mm=mammo.pixel_spacing_mm,
        laterality=mammo.laterality,
        calcifications=n_calc,
        clusters=n_clu,
        problems=tuple(problems),
        regions=n_reg,
        breast=breast,
    )


def scan_index(
    index: DatasetIndex, *, progress: ProgressFn | None = None, workers: int = 2
) -> ScanReport:
    """Read every image and annotation of ``index`` and count calcifications and clusters."""
    start = time.perf_counter()
    jobs = [(rec, case.laterality) for case in index.cases for rec in case.images]
    results: list[ImageScan] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_scan_image, rec, lat, index.source) for rec, lat in jobs]
        for i, fut in enumerate(futures, start=1):
            results.append(fut.result())
            if progress is not None:
                progress(i, len(futures), results[-1].key)
    problems = list(index.problems)
    for r in results:
        problems.extend(r.problems)
    readable = [r for r in results if r.readable]
    return ScanReport(
        root=str(index.root),
        source=index.source,
        synthetic=index.synthetic,
        cases=len(index.cases),
        images=len(results),
        readable_images=len(readable),
        annotated_images=sum(1 for rec, _ in jobs if rec.annotation_path is not None),
        calcifications=sum(r.calcifications for r in results),
        clusters=sum(r.clusters for r in results),
        seconds=time.perf_counter() - start,
        problems=tuple(problems),
        per_image=tuple(results),
        regions=sum(r.regions for r in results),
    )


def scan_dataset(path: str | Path, *, progress: ProgressFn | None = None) -> ScanReport:
    """Open the dataset at ``path`` (real layout or manifest) and scan it.

    Raises:
        DatasetError: the path does not exist or holds nothing usable as a dataset.
    """
    return scan_index(open_dataset(path), progress=progress)
