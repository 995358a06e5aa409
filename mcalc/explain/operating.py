"""The map scores of a model's validation images, and the operating point chosen on them.

The rule and the card's record are :mod:`mcalc.models.operating_point`'s; this module takes
the scores they need the way Predict takes them (:func:`~mcalc.explain.service.analyse_case`,
no explanation), so the threshold is chosen on the very unit Predict decides on: an image's
map score (:data:`~mcalc.explain.scoring.MAP_SCORE`).

An image's truth is the task's: for ``calcification``, whether its annotation marks any
calcification (an image whose annotation file is missing or unreadable has unknown truth and
is left out, as detection's evaluation leaves it); for ``birads``, whether its case's BI-RADS
group is the task's positive class (a case without one is left out).

Example:
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> choice, skipped = choose_operating_point(loaded, open_dataset("data/demo"),
    ...                                          parse_rule("youden"))  # doctest: +SKIP
    >>> choice.value, choice.source  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mcalc.explain.service import AnalysisSettings, ImageInput, analyse_case
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.operating_point import (
    ImageScore,
    ThresholdChoice,
    ThresholdRule,
    choose_on_validation,
    validation_cases,
)
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.dataset.records import CaseRecord, DatasetIndex
    from mcalc.explain.results import ResultsCache
    from mcalc.models.inference import LoadedModel

__all__ = ["validation_scores", "choose_operating_point"]

log = logging.getLogger(__name__)


def validation_scores(
    loaded: LoadedModel,
    cases: Sequence[CaseRecord],
    settings: AnalysisSettings | None = None,
    *,
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> tuple[list[ImageScore], dict[str, str]]:
    """The map score and truth of every image of ``cases`` (recent images only for a
    temporal model), and the images left out with why (``key -> reason``).

    Args:
        loaded: the model.
        cases: the cases (the caller picks the validation ones).
        settings: the sliding window (any explanation is dropped: not needed).
        results: the results cache (Predict's: the maps made here serve it later).
        progress: called ``(done, total, message)`` per image.
    """
    settings = settings or AnalysisSettings()
    if settings.cam is not None:
        settings = AnalysisSettings(settings.sliding, None, settings.tolerance_mm)
    positive = loaded.card.task.positive_class
    birads = loaded.card.task_name == "birads"
    todo = [
        (case, rec)
        for case in cases
        for rec in case.images
        if not loaded.temporal or rec.timepoint == "recent"
    ]
    scores: list[ImageScore] = []
    skipped: dict[str, str] = {}
    for done, (case, rec) in enumerate(todo):
        if progress is not None:
            progress(done, len(todo), rec.key)
        if birads and case.birads_group is None:
            skipped[rec.key] = f"no BI-RADS group ({case.birads!r})"
            continue
        unknown = None if birads else rec.unknown_annotation()
        if unknown is not None:
            skipped[rec.key] = unknown
            continue
        out = analyse_case(loaded, [ImageInput.from_record(rec, case)], settings, results=results)
        if out.skipped:
            skipped[rec.key] = out.skipped[0].message
            continue
        im = out.images[0]
        if birads:
            truth = int(case.birads_group == positive)
        elif rec.annotation_path is not None and im.marks is None:
            skipped[rec.key] = f"its annotation {rec.annotation_path.name} cannot be read"
            continue
        else:
            truth = int(im.marks is not None and bool(im.marks.any()))
        scores.append(ImageScore(rec.key, case.case_id, case.patient_id, truth, float(im.score)))
    if progress is not None:
        progress(len(todo), len(todo), f"{len(scores)} validation images scored")
    for key, why in skipped.items():
        log.info("%s left out of the operating point: %s", key, why)
    return scores, skipped


def choose_operating_point(
    loaded: LoadedModel,
    index: DatasetIndex,
    rule: ThresholdRule,
    settings: AnalysisSettings | None = None,
    *,
    by: str = "",
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> tuple[ThresholdChoice, dict[str, str]]:
    """The threshold ``rule`` picks on the map scores of ``loaded``'s validation images in
    ``index`` (the dataset it was trained on), and the images left out.

    Raises:
        ThresholdError: no validation split on the card, another dataset, a validation
            case missing from it, or validation images of one class only.
    """
    from mcalc.models.operating_point import ThresholdError

    fingerprint = dataset_fingerprint(index)
    wanted = validation_cases(loaded.card, fingerprint)
    cases = [c for c in index.cases if c.case_id in set(wanted)]
    missing = sorted(set(wanted) - {c.case_id for c in cases})
    if missing:
        raise ThresholdError(
            f"validation {'case' if len(missing) == 1 else 'cases'} {', '.join(missing[:4])} of "
            f"{loaded.model_id} {'is' if len(missing) == 1 else 'are'} not in "
            f"{index.root}: open the dataset it was trained on"
        )
    scores, skipped = validation_scores(loaded, cases, settings, results=results, progress=progress)
    choice = choose_on_validation(loaded.card, scores, rule, fingerprint, by=by)
    return choice, skipped
