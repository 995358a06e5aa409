"""The one in-memory representation of a dataset, whatever its source.

The real dataset's folder layout and a generic manifest CSV are both turned into a
:class:`DatasetIndex`; everything downstream (viewer, training, CLI) sees only this.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mcalc.config import TIMEPOINTS, VIEWS

__all__ = [
    "Problem",
    "ImageRecord",
    "CaseRecord",
    "DatasetIndex",
    "SUSPICIOUS_BIRADS",
    "ANNOTATION_KIND_NAMES",
    "birads_group",
]

#: Values of :attr:`ImageRecord.annotation_kind`.
ANNOTATION_KIND_NAMES: tuple[str, ...] = ("red", "mask", "region", "none")

#: BI-RADS classification categories counted as suspicious.
SUSPICIOUS_BIRADS: frozenset[str] = frozenset({"4", "4a", "4b", "4c", "5", "6"})


def birads_group(birads: str | None) -> str | None:
    """Map a BI-RADS category to ``normal`` (1), ``benign`` (2, 3) or ``suspicious`` (4-6).

    Example:
        >>> birads_group("4a")
        'suspicious'
    """
    if birads is None:
        return None
    value = str(birads).strip().lower()
    if value == "1":
        return "normal"
    if value in {"2", "3"}:
        return "benign"
    if value in SUSPICIOUS_BIRADS:
        return "suspicious"
    return None


@dataclass(frozen=True)
class Problem:
    """Something found wrong while indexing or reading, tied to the file it concerns.

    ``severity`` is ``error`` (the file is unusable), ``warning`` (usable, but the user
    should know: a loosely matched name, a default pixel spacing) or ``info``. ``line`` is
    the line of ``path`` it concerns (a manifest's row; the header of a CSV is line 1),
    ``None`` when it concerns the whole file.
    """

    path: str
    message: str
    severity: str = "warning"
    line: int | None = None

    def as_dict(self) -> dict[str, str | int | None]:
        """The record every command's ``--json`` gives a problem in (``scan``, ``manifest``):
        ``path``, ``line``, ``message``, ``severity``."""
        return {
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "severity": self.severity,
        }

    def located(self, base: Path) -> tuple[str, str]:
        """``(file relative to base, message without that file again in front)``: a
        message names its file for a reader of the bare list, a table or a line that
        names it first repeated it (``scan``: "…/CC_reent_GT.jpg: Normal_cases/1/
        CC_reent_GT.jpg: 'CC_reent_GT.jpg' read as …").

        Example:
            >>> Problem("/d/Dataset/a/x.dcm", "Dataset/a/x.dcm: bad").located(Path("/d"))
            ('Dataset/a/x.dcm', 'bad')
        """
        try:
            file = Path(self.path).relative_to(base).as_posix()
        except ValueError:
            file = self.path
        return file, self.message.removeprefix(f"{file}: ").removeprefix(f"{self.path}: ")


@dataclass(frozen=True)
class ImageRecord:
    """One mammogram of a case, with its annotation file if there is one.

    ``annotation_kind`` is ``red`` (a colour rendering with calcifications painted red, as
    in the real dataset), ``mask`` (non-zero pixels are calcifications), ``region``
    (non-zero pixels outline an area that holds calcifications: a cluster outline, an ROI
    mask, a circle) or ``none``.

    ``annotation_missing`` names the annotation file the collection should have for this
    image and does not (a case folder without its ``CC_prior_GT.jpg``; a manifest row whose
    annotation file is not found), ``None`` otherwise: the image's calcifications are then
    *unknown*, not none, and training, evaluation and changes between exams leave its
    annotation out rather than read it as free of calcifications
    (:meth:`unknown_annotation`).

    ``pixel_spacing_mm`` is the spacing the collection's manifest gives for the image (its
    ``spacing_mm`` column: mini-MIAS's 0.2 mm), ``None`` when it gives none. It is used
    for a file that carries no spacing of its own; a DICOM's own wins
    (:func:`mcalc.imageio.with_collection_spacing`).
    """

    case_id: str
    view: str
    timepoint: str
    image_path: Path
    annotation_path: Path | None = None
    annotation_kind: str = "none"
    loose_names: tuple[str, ...] = ()
    pixel_spacing_mm: float | None = None
    annotation_missing: str | None = None

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        if self.timepoint not in TIMEPOINTS:
            raise ValueError(f"timepoint must be one of {TIMEPOINTS}, got {self.timepoint!r}")
        if self.annotation_kind not in ANNOTATION_KIND_NAMES:
            raise ValueError(
                f"annotation_kind must be one of {ANNOTATION_KIND_NAMES}, "
                f"got {self.annotation_kind!r}"
            )
        if self.pixel_spacing_mm is not None and not self.pixel_spacing_mm > 0:
            raise ValueError(f"pixel_spacing_mm must be positive, got {self.pixel_spacing_mm}")

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``suspicious-3/CC_recent``."""
        return f"{self.case_id}/{self.view}_{self.timepoint}"

    def unknown_annotation(self) -> str | None:
        """Why this image's calcifications are unknown (its annotation file is missing),
        ``None`` when its annotation, or its having none, is known.

        >>> ImageRecord("c", "CC", "prior", Path("c.dcm"),
        ...             annotation_missing="CC_prior_GT.jpg").unknown_annotation()
        'c/CC_prior: no annotation (CC_prior_GT.jpg is missing): its calcifications are unknown, not none'
        """
        if self.annotation_missing is None:
            return None
        return (
            f"{self.key}: no annotation ({self.annotation_missing} is missing): its "
            "calcifications are unknown, not none"
        )


@dataclass(frozen=True)
class CaseRecord:
    """One breast of one patient, imaged in (up to) two screening rounds.

    Metadata fields are ``None`` when missing (``NOT AVAILABLE`` in the spreadsheet).
    """

    case_id: str
    patient_id: str
    images: tuple[ImageRecord, ...]
    group: str | None = None
    folder: Path | None = None
    laterality: str | None = None
    birads: str | None = None
    density: str | None = None
    biopsy: str | None = None
    age: float | None = None
    years_between: float | None = None
    available: str | None = None

    def image(self, view: str, timepoint: str) -> ImageRecord | None:
        """The image of this view and timepoint, or ``None`` when the case lacks it."""
        for rec in self.images:
            if rec.view == view and rec.timepoint == timepoint:
                return rec
        return None

    @property
    def views(self) -> tuple[str, ...]:
        """The views this case has an image of, in :data:`~mcalc.config.VIEWS` order
        (mini-MIAS: ``("MLO",)``; a CBIS-DDSM case may have ``("CC",)``)."""
        return tuple(v for v in VIEWS if any(rec.view == v for rec in self.images))

    def view_shown(self, wanted: str) -> str:
        """``wanted`` when this case has an image of that view, else the first view it has
        (``wanted`` for a case without images): the view a page shows for a reader who
        asked for ``wanted``.

        >>> mlo = ImageRecord("c", "MLO", "recent", Path("c.pgm"))
        >>> CaseRecord("c", "p", (mlo,)).view_shown("CC")
        'MLO'
        """
        if wanted not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {wanted!r}")
        views = self.views
        return wanted if wanted in views or not views else views[0]

    def exam_year(self, timepoint: str) -> str | None:
        """The year of the round ``timepoint`` from the case's exam years (``available``,
        e.g. ``2015-2018``: one year per round, prior first), ``None`` where they do not
        give one year per round.

        >>> c = CaseRecord("c", "p", (), available="2015-2018")
        >>> c.exam_year("prior"), c.exam_year("recent"), CaseRecord("c", "p", ()).exam_year("prior")
        ('2015', '2018', None)
        """
        if timepoint not in TIMEPOINTS:
            raise ValueError(f"timepoint must be one of {TIMEPOINTS}, got {timepoint!r}")
        years = re.findall(r"(?:19|20)\d\d", self.available or "")
        return years[TIMEPOINTS.index(timepoint)] if len(years) == len(TIMEPOINTS) else None

    @property
    def birads_group(self) -> str | None:
        return birads_group(self.birads)

    def facts(self) -> list[tuple[str, str]]:
        """The case's clinical description as (label, value) pairs, in the order a reader
        reads them: Browse's line under the case and the case report's header.

        >>> CaseRecord("c", "p", (), laterality="L", birads="4a", age=83.0).facts()[:4]
        [('Side', 'Left'), ('Age', '83'), ('Density', 'n/a'), ('BI-RADS', '4a')]
        """
        return [
            ("Side", {"L": "Left", "R": "Right"}.get(self.laterality or "", "unknown")),
            ("Age", f"{self.age:.0f}" if self.age is not None else "n/a"),
            ("Density", self.density or "n/a"),
            ("BI-RADS", self.birads or "n/a"),
            ("Biopsy", self.biopsy or "n/a"),
            (
                "Years between",
                f"{self.years_between:g}" if self.years_between is not None else "n/a",
            ),
            ("Exams", self.available or "n/a"),
        ]

    @property
    def has_annotations(self) -> bool:
        return any(rec.annotation_path is not None for rec in self.images)

    @property
    def one_round(self) -> bool:
        """Whether the case has images of one screening round only (the public
        collections' manifests: every image ``recent``): a missing prior is then no gap."""
        return len({rec.timepoint for rec in self.images}) <= 1


@dataclass(frozen=True)
class DatasetIndex:
    """All cases of a dataset plus every problem found while indexing it.

    Attributes:
        root: the folder (or manifest file) that was opened.
        source: ``real-layout`` or ``manifest``.
        synthetic: ``True`` for mcalc's generated demo data.
        cases: the usable cases, sorted by id.
        problems: everything noticed, including loosely matched names and leftovers.
    """

    root: Path
    source: str
    synthetic: bool
    cases: tuple[CaseRecord, ...]
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    def case(self, case_id: str) -> CaseRecord:
        for case in self.cases:
            if case.case_id == case_id:
                return case
        known = ", ".join(c.case_id for c in self.cases[:5])
        raise KeyError(f"no case {case_id!r} in {self.root} (cases start: {known} ...)")

    def next_cases(self, ids: Sequence[str], case_id: str, n: int = 2) -> list[CaseRecord]:
        """The ``n`` cases after ``case_id`` in ``ids`` (this index's ids as a page lists
        them, filtered and ordered): what *Next* opens, then the ones after. ``[]`` at the
        end of ``ids`` or when ``case_id`` is not among them.

        Example:
            >>> index = DatasetIndex(Path("."), "manifest", False, ())
            >>> index.next_cases(["a", "b"], "b")
            []
        """
        pos = ids.index(case_id) + 1 if case_id in ids else len(ids)
        return [self.case(i) for i in ids[pos : pos + n]]

    def previous_case(self, ids: Sequence[str], case_id: str) -> CaseRecord | None:
        """The case before ``case_id`` in ``ids`` (as :meth:`next_cases`): what *Previous*
        opens; ``None`` at the start of ``ids`` or when ``case_id`` is not among them."""
        pos = ids.index(case_id) if case_id in ids else 0
        return self.case(ids[pos - 1]) if pos > 0 else None

    def images(self) -> list[ImageRecord]:
        return [rec for case in self.cases for rec in case.images]

    def _kinds(self) -> tuple[frozenset[str], frozenset[str]]:
        """The views and rounds of the images, found once per index (Browse and Predict ask
        on every page run; a 20,000-image collection was walked twice each time)."""
        found = vars(self).get("_view_round_kinds")
        if found is None:
            images = self.images()
            found = (frozenset(r.view for r in images), frozenset(r.timepoint for r in images))
            vars(self)["_view_round_kinds"] = found  # not a field: equality is the fields'
        return found

    def views(self) -> tuple[str, ...]:
        """The views the collection has images of, in :data:`~mcalc.config.VIEWS` order
        (all of them for an empty index): mini-MIAS has ``("MLO",)``."""
        have = self._kinds()[0]
        return tuple(v for v in VIEWS if v in have) or VIEWS

    def rounds(self) -> tuple[str, ...]:
        """The rounds the collection has images of, in :data:`~mcalc.config.TIMEPOINTS`
        order (all of them for an empty index): the public collections have ``("recent",)``."""
        have = self._kinds()[1]
        return tuple(t for t in TIMEPOINTS if t in have) or TIMEPOINTS

    def annotated_images(self, leaving_out: Collection[str] = ()) -> int:
        """How many images have an annotation file (whether or not it marks anything),
        those whose key is in ``leaving_out`` (the unreadable ones) not counted, as every
        other count leaves them out.

        >>> rec = ImageRecord("c", "CC", "recent", Path("c.png"), Path("c_roi.png"))
        >>> index = DatasetIndex(Path("."), "manifest", False, (CaseRecord("c", "p", (rec,)),))
        >>> index.annotated_images(), index.annotated_images({"c/CC_recent"})
        (1, 0)
        """
        left_out = set(leaving_out)
        return sum(
            1 for r in self.images() if r.annotation_path is not None and r.key not in left_out
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per case with its metadata, for tables and filters."""
        rows = []
        for c in self.cases:
            rows.append(
                {
                    "case_id": c.case_id,
                    "patient_id": c.patient_id,
                    "group": c.group,
                    "laterality": c.laterality,
                    "birads": c.birads,
                    "birads_group": c.birads_group,
                    "density": c.density,
                    "biopsy": c.biopsy,
                    "age": c.age,
                    "years_between": c.years_between,
                    "available": c.available,
                    "images": len(c.images),
                    "annotated_images": sum(r.annotation_path is not None for r in c.images),
                }
            )
        return pd.DataFrame(rows)
