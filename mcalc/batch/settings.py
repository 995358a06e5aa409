"""What a batch run computes, and the unit of work its workers receive.

:class:`BatchSettings` holds everything that changes a row of the results table (sliding
window and scoring, the explanation, detections, per-image maps); its :meth:`key
<BatchSettings.key>` is stored in every row, so a rerun with the same model and settings
skips what is done. Where the work runs (engine, workers, cluster address) is *not* part
of it: the same settings give the same rows on any engine.

:class:`BatchItem` is one image of the collection as plain strings, so it travels to a
worker process or a Ray actor and back into an :class:`~mcalc.explain.service.ImageInput`.

Example:
    >>> s = BatchSettings()
    >>> s.key() == BatchSettings().key(), s.key() == BatchSettings(maps=True).key()
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.errors import McalcError
from mcalc.explain import results as explain_results
from mcalc.explain.service import (
    DEFAULT_TOLERANCE_MM,
    AnalysisSettings,
    CamSettings,
    ImageInput,
    SlidingSettings,
)
from mcalc.models.detection import DetectionSettings

if TYPE_CHECKING:
    from mcalc.dataset.records import CaseRecord, ImageRecord

__all__ = [
    "ENGINES",
    "BatchError",
    "BatchSettings",
    "BatchItem",
    "WorkerSpec",
    "default_workers",
]

#: Where a batch run's work runs: a process pool here, or a Ray cluster.
ENGINES: tuple[str, ...] = ("local", "ray")
#: Detections listed per image: peaks of the probability map at or above the default
#: decision threshold, at most this many (``predict --all`` and the Batch page's runs put the
#: model's own decision threshold in its place: :func:`mcalc.cli.batch.batch_settings`).
DEFAULT_DETECTION = DetectionSettings(threshold=0.5, max_detections=20)


class BatchError(McalcError):
    """A batch run cannot start or go on (engine missing, cluster unreachable, worker lost)."""


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class BatchSettings:
    """What each image's row holds; the same settings give the same row on any engine.

    Attributes:
        sliding: sliding window and top regions (:class:`~mcalc.explain.sliding.SlidingSettings`).
        cam: the explanation computed per image (``None``: none; costly).
        detection: how the detections of the row are found
            (:func:`mcalc.models.detection.find_detections`, inside the breast).
        tolerance_mm: dilation of the annotated marks for the agreement figures.
        maps: also write each image's maps (``maps/<image>_proba.npy``, ...).
    """

    sliding: SlidingSettings = field(default_factory=SlidingSettings)
    cam: CamSettings | None = None
    detection: DetectionSettings = DEFAULT_DETECTION
    tolerance_mm: float = DEFAULT_TOLERANCE_MM
    maps: bool = False

    @property
    def analysis(self) -> AnalysisSettings:
        """The settings of :func:`mcalc.explain.service.analyse_case`."""
        return AnalysisSettings(self.sliding, self.cam, self.tolerance_mm)

    def as_dict(self) -> dict[str, Any]:
        """The settings as the rows' ``settings`` column holds them, with ``region_rule``
        (:data:`~mcalc.explain.scoring.REGION_RULE_VERSION`): rows without it were made
        before 5 December 2026, their regions the best grid patches."""
        from mcalc.explain.scoring import REGION_RULE_VERSION

        return {
            "sliding": self.sliding.as_dict(),
            "cam": None if self.cam is None else asdict(self.cam),
            "detection": self.detection.as_dict(),
            "tolerance_mm": self.tolerance_mm,
            "maps": self.maps,
            "region_rule": REGION_RULE_VERSION,
        }

    def key(self) -> str:
        """A short hash of :meth:`as_dict`, :data:`~mcalc.explain.results.RESULTS_VERSION`
        (how results are computed), :data:`~mcalc.models.detection.RULE_VERSION` (how
        their detections are found) and :data:`~mcalc.explain.scoring.MAP_SCORE_VERSION`
        (how their map scores are taken); :meth:`as_dict` holds the region rule's
        version: rows with another key are redone."""
        from mcalc.explain.scoring import MAP_SCORE_VERSION
        from mcalc.models.detection import RULE_VERSION

        versions = {
            "version": explain_results.RESULTS_VERSION,
            "detection_rule": RULE_VERSION,
            "map_score_rule": MAP_SCORE_VERSION,
        }
        text = json.dumps({**self.as_dict(), **versions}, sort_keys=True)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class BatchItem:
    """One image to analyse, as plain strings (picklable, and a Ray Data row).

    Attributes:
        order: its position in the collection (the table is sorted by it).
        spacing_mm: the pixel spacing its manifest gives (``""``: none; see
            :attr:`~mcalc.dataset.records.ImageRecord.pixel_spacing_mm`).
        map_stem: the start of its map files' names, unique in the collection
            (:func:`mcalc.filenames.key_stems`; ``""``: the key's own,
            :func:`mcalc.filenames.key_stem`).
    """

    order: int
    image_key: str
    case_id: str
    patient_id: str
    view: str
    timepoint: str
    laterality: str
    image_path: str
    annotation_path: str
    annotation_kind: str
    spacing_mm: str = ""
    map_stem: str = ""

    @classmethod
    def from_record(
        cls, order: int, case: CaseRecord, rec: ImageRecord, map_stem: str = ""
    ) -> BatchItem:
        return cls(
            order=order,
            image_key=rec.key,
            case_id=case.case_id,
            patient_id=case.patient_id,
            view=rec.view,
            timepoint=rec.timepoint,
            laterality=case.laterality or "",
            image_path=str(rec.image_path),
            annotation_path="" if rec.annotation_path is None else str(rec.annotation_path),
            annotation_kind=rec.annotation_kind,
            spacing_mm="" if rec.pixel_spacing_mm is None else repr(rec.pixel_spacing_mm),
            map_stem=map_stem,
        )

    @property
    def pixel_spacing_mm(self) -> float | None:
        """:attr:`spacing_mm` as a number (``None``: the manifest gives none)."""
        return float(self.spacing_mm) if self.spacing_mm else None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BatchItem:
        """From :meth:`as_row` (values may come back as numpy scalars)."""
        names = cls.__dataclass_fields__
        values = {k: row[k] for k in names if k in row}  # rows written before spacing_mm
        values = {k: int(v) if k == "order" else str(v) for k, v in values.items()}
        return cls(**values)

    def image_input(self) -> ImageInput:
        """What :func:`~mcalc.explain.service.analyse_case` takes (with the annotation)."""
        from mcalc.dataset.records import ImageRecord

        rec = ImageRecord(
            case_id=self.case_id,
            view=self.view,
            timepoint=self.timepoint,
            image_path=Path(self.image_path),
            annotation_path=Path(self.annotation_path) if self.annotation_path else None,
            annotation_kind=self.annotation_kind,
            pixel_spacing_mm=self.pixel_spacing_mm,
        )
        return ImageInput(self.image_key, Path(self.image_path), rec)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build itself: the model, the settings, where maps go.

    Attributes:
        model_path: the registered model's folder.
        settings: the run's settings.
        out_dir: the run's output folder (maps go to ``out_dir/maps``).
        threads: TensorFlow threads per worker (``None``: TensorFlow's default).
        engine: the engine's name, written in each row.
    """

    model_path: str
    settings: BatchSettings
    out_dir: str
    threads: int | None = None
    engine: str = "local"
