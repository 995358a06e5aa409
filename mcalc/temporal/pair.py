"""A case's prior and recent image of one view, registered: loading, orientation, cache.

Both images go through the same pixel pipeline (:func:`mcalc.imaging.file_unit`: VOI LUT
or window, MONOCHROME1) and breast segmentation (:func:`mcalc.breast.breast_mask`). The
prior is mirrored when its chest wall lies on the other side from the recent image's (a
file stored the other way round); a prior of another view or breast is refused.
Registrations are cached per pair and settings under the image cache (the recent file's
entry): the field as an array, the rest as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcalc.annotations import AnnotationSummary
from mcalc.breast import breast_mask, chest_wall_side
from mcalc.cache import ImageCache, file_key
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.errors import McalcError
from mcalc.imageio import Mammogram
from mcalc.imaging import file_unit
from mcalc.temporal.register import Registration, RegistrationSettings
from mcalc.temporal.stages import register_images
from mcalc.viewer import annotation_for

__all__ = [
    "TemporalError",
    "TemporalPair",
    "not_compared_reason",
    "pair_records",
    "register_pair",
]

log = logging.getLogger(__name__)

#: Bumped when a change to the registration makes cached results stale.
_CACHE_VERSION = 6  # 6: one SimpleITK thread (the same pair registered differently run to run)


class TemporalError(McalcError):
    """A prior/recent pair cannot be formed (no prior, other view or side)."""


@dataclass(frozen=True)
class TemporalPair:
    """One view of a case in both rounds, registered.

    Attributes:
        view: ``CC`` or ``MLO``.
        recent, prior: full-resolution [0, 1] images as in their files (not mirrored).
        recent_mask, prior_mask: breast masks of each.
        recent_marks, prior_marks: annotation masks (``None`` without annotation).
        recent_summary, prior_summary: calcifications and clusters of each annotation.
        registration: the prior -> recent registration.
        spacing_mm: full-resolution pixel spacing of the recent image.
        notes: what was noticed on the way (mirrored prior, annotation problems, a pixel
            spacing assumed).
        spacing_source: where ``spacing_mm`` came from (the DICOM tag, ``manifest`` when
            the collection's manifest gave it, or ``default`` when neither gives one and
            the configured default is assumed).
        spacing_known: both files carry their pixel spacing (else millimetres, distances
            and sizes, rest on the assumed default).
        uncounted: why the calcifications of the two rounds are not matched and counted
            (a round's annotation file is missing or cannot be read: its calcifications
            are unknown, not none); ``None`` when they are.
    """

    view: str
    recent: np.ndarray
    prior: np.ndarray
    recent_mask: np.ndarray
    prior_mask: np.ndarray
    recent_marks: np.ndarray | None
    prior_marks: np.ndarray | None
    recent_summary: AnnotationSummary | None
    prior_summary: AnnotationSummary | None
    registration: Registration
    spacing_mm: float
    notes: tuple[str, ...] = ()
    spacing_source: str = "default"
    spacing_known: bool = False
    uncounted: str | None = None


def pair_records(case: CaseRecord, view: str) -> tuple[ImageRecord, ImageRecord]:
    """(recent, prior) records of ``view``; :class:`TemporalError` when one is missing."""
    recent, prior = case.image(view, "recent"), case.image(view, "prior")
    missing = [t for t, r in (("recent", recent), ("prior", prior)) if r is None]
    if missing or recent is None or prior is None:
        have = ", ".join(sorted(f"{r.view} {r.timepoint}" for r in case.images)) or "none"
        raise TemporalError(
            f"case {case.case_id} has no {' and no '.join(missing)} {view} image "
            f"(it has: {have}); temporal analysis needs both exams"
        )
    return recent, prior


def not_compared_reason(case: CaseRecord, view: str) -> str:
    """Why ``view`` of ``case`` has no comparison, in a few words for a summary line: the
    round it lacks, else that it could not be registered (the error says more).

    Example:
        >>> not_compared_reason(CaseRecord("c", "p", ()), "CC")
        'no prior image'
    """
    for timepoint in ("prior", "recent"):
        if case.image(view, timepoint) is None:
            return f"no {timepoint} image"
    return "could not be registered"


def _check_same(recent: Mammogram, prior: Mammogram, laterality: str | None) -> None:
    """Refuse a pair whose DICOM tags name different views or breasts (the message does not
    name the view asked for: every caller says it, before the message)."""
    if recent.view and prior.view and recent.view != prior.view:
        raise TemporalError(
            f"the recent image is a {recent.view} view but the prior is {prior.view}; "
            "register images of the same view"
        )
    if recent.laterality and prior.laterality and recent.laterality != prior.laterality:
        raise TemporalError(
            f"the recent image is of the {recent.laterality} breast but the prior of "
            f"the {prior.laterality} breast (case laterality {laterality or 'unknown'})"
        )


def _unit_and_mask(cache: ImageCache, rec: ImageRecord) -> tuple[Mammogram, np.ndarray, np.ndarray]:
    mammo = cache.load_record(rec)
    unit = cache.memo(rec.image_path, "file-unit", lambda: file_unit(mammo))
    mask = cache.array(rec.image_path, "breast-mask", lambda: breast_mask(unit))
    return mammo, unit, mask


def _cached(
    cache: ImageCache, recent_path: Path, name: str, compute: Callable[[], Registration]
) -> Registration:
    """Registration through the image cache (JSON for figures, arrays for the fields)."""
    made: dict[str, Registration] = {}

    def once() -> Registration:
        if "r" not in made:
            made["r"] = compute()
        return made["r"]

    def meta() -> dict[str, object]:
        reg = once()
        return {
            "recent_shape": list(reg.recent_shape),
            "prior_shape": list(reg.prior_shape),
            "spacing_mm": reg.spacing_mm,
            "method": reg.method,
            "fallback": reg.fallback,
            "prior_mirrored": reg.prior_mirrored,
            "quality": reg.quality,
            "seconds": reg.seconds,
        }

    info = cache.json(recent_path, name, meta)
    if not isinstance(info, dict):
        raise TemporalError(f"broken registration cache entry {name}")

    def fields() -> np.ndarray:
        reg = once()
        return np.stack([reg.field, reg.affine_field])

    both = cache.array(recent_path, name + "-fields", fields)
    return Registration(
        recent_shape=(int(info["recent_shape"][0]), int(info["recent_shape"][1])),
        prior_shape=(int(info["prior_shape"][0]), int(info["prior_shape"][1])),
        spacing_mm=float(info["spacing_mm"]),
        field=np.asarray(both[0], dtype=np.float32),
        affine_field=np.asarray(both[1], dtype=np.float32),
        method=str(info["method"]),
        fallback=info["fallback"],
        prior_mirrored=bool(info["prior_mirrored"]),
        quality=dict(info["quality"]),
        seconds=float(info["seconds"]),
    )


def register_pair(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    settings: RegistrationSettings | None = None,
) -> TemporalPair:
    """Load, orient, segment and register ``case``'s prior ``view`` to its recent one.

    Raises:
        TemporalError: no prior (or recent) image, or the two are of different views/sides.
        RegistrationError: no breast in one of the images.
        ImageReadError: a file cannot be decoded.
    """
    settings = settings or RegistrationSettings()
    rec_r, rec_p = pair_records(case, view)
    mammo_r, unit_r, mask_r = _unit_and_mask(cache, rec_r)
    mammo_p, unit_p, mask_p = _unit_and_mask(cache, rec_p)
    _check_same(mammo_r, mammo_p, case.laterality)
    notes: list[str] = []
    mirrored = chest_wall_side(mask_r) != chest_wall_side(mask_p)
    if mirrored:
        notes.append("the prior's chest wall is on the other side: mirrored before registering")
    spacing = float(mammo_r.pixel_spacing_mm[0])
    name = f"temporal-v{_CACHE_VERSION}-{file_key(rec_p.image_path)[:16]}-{settings.key()}"
    if mammo_r.spacing_source == "manifest":  # registered in mm: another spacing, another entry
        name += f"-{spacing:g}mm"

    def compute() -> Registration:
        return register_images(
            unit_r,
            unit_p,
            mask_r,
            mask_p,
            spacing_mm=spacing,
            prior_mirrored=mirrored,
            settings=settings,
        )

    reg = _cached(cache, rec_r.image_path, name, compute)
    marks_r, summ_r, notes_r = annotation_for(cache, rec_r, mammo_r.shape, mammo_r.pixel_spacing_mm)
    marks_p, summ_p, notes_p = annotation_for(cache, rec_p, mammo_p.shape, mammo_p.pixel_spacing_mm)
    # Which round each note is about: "CC: no red marks found" did not say.
    notes += [f"recent image: {n}" for n in notes_r] + [f"prior image: {n}" for n in notes_p]
    uncounted = _uncounted((("recent", rec_r, marks_r), ("prior", rec_p, marks_p)))
    if uncounted is not None:
        notes.append(f"changes between exams not counted: {uncounted}")
    note = reg.fallback_note()
    if note is not None:
        notes.append(note)
    order = _rounds_order_note(rec_r, rec_p)
    if order is not None:
        notes.append(order)
    assumed = [tp for tp, m in (("recent", mammo_r), ("prior", mammo_p)) if not _spacing_known(m)]
    if assumed:
        notes.append(
            f"no pixel spacing in the {' and '.join(assumed)} file: distances and sizes in mm "
            f"assume {spacing:g} mm per pixel (positions in pixels are exact)"
        )
    return TemporalPair(
        view=view,
        recent=unit_r,
        prior=unit_p,
        recent_mask=mask_r,
        prior_mask=mask_p,
        recent_marks=marks_r,
        prior_marks=marks_p,
        recent_summary=summ_r,
        prior_summary=summ_p,
        registration=reg,
        spacing_mm=spacing,
        notes=tuple(notes),
        spacing_source=mammo_r.spacing_source,
        spacing_known=not assumed,
        uncounted=uncounted,
    )


def _study_date(path: Path) -> str | None:
    """A DICOM file's StudyDate (YYYYMMDD), or ``None`` (no tag, not a DICOM, unreadable)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyDate"])
    except (InvalidDicomError, OSError, ValueError):
        return None
    value = str(ds.get("StudyDate", "") or "").strip()
    return value if len(value) == 8 and value.isdigit() else None


def _rounds_order_note(recent: ImageRecord, prior: ImageRecord) -> str | None:
    """A note when the prior file's StudyDate is after the recent one's: the rounds are
    then likely filed the wrong way round, and new and resolved would be swapped."""
    when_r, when_p = _study_date(recent.image_path), _study_date(prior.image_path)
    if when_r is None or when_p is None or when_p <= when_r:
        return None

    def day(d: str) -> str:
        return f"{d[:4]}-{d[4:6]}-{d[6:]}"

    return (
        f"the prior file was taken after the recent one (study dates {day(when_p)} and "
        f"{day(when_r)}): the exams may be filed the wrong way round, which would read new "
        "calcifications as resolved and resolved ones as new; check the files"
    )


def _uncounted(rounds: tuple[tuple[str, ImageRecord, np.ndarray | None], ...]) -> str | None:
    """Why the rounds' calcifications cannot be matched: a round whose annotation is
    missing (:meth:`ImageRecord.unknown_annotation`) or unreadable has unknown marks, and
    counting them as none made its calcifications "new" or "resolved"; a round annotated
    with regions (``annotation_kind`` ``region``) marks no single calcification."""
    reasons = []
    for tp, rec, marks in rounds:
        if rec.annotation_missing is not None:
            reasons.append(
                f"the {tp} image has no annotation ({rec.annotation_missing} is missing)"
            )
        elif rec.annotation_path is not None and marks is None:
            reasons.append(f"the {tp} image's annotation cannot be read")
    if reasons:
        return " and ".join(reasons) + ": its calcifications are unknown, not none"
    # An outlined region marks no single calcification: "0 new, 0 stable" would be wrong.
    regions = [tp for tp, rec, _ in rounds if rec.annotation_kind == "region"]
    if not regions:
        return None
    whose = (
        f"the {' and the '.join(regions)} image's annotations outline"
        if len(regions) > 1
        else f"the {regions[0]} image's annotation outlines"
    )
    return (
        f"{whose} regions, not single calcifications: changes between exams are counted "
        "between calcification marks"
    )


def _spacing_known(mammo: Mammogram) -> bool:
    """Whether the file (or its manifest's ``spacing_mm``) gave its pixel spacing, not the
    configured default assumed."""
    return mammo.spacing_source != "default"
