"""Predict's requests by their defaults: the analysis the page opens with, and the next case.

The Predict page and the work ahead (:mod:`mcalc.explain.ahead`) build their requests here,
so that what is analysed ahead has the very key the page then asks for (a different key
would be work wasted): the settings of the page's widgets left as they are
(:func:`default_settings`), a case's view at its timepoints (:func:`view_request`), the
first case's first view at both timepoints (:func:`opening_request`: what a first visit
shows) and the case after another in the page's list (:func:`next_case`).

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> xp = Explainer.for_model(loaded)  # doctest: +SKIP
    >>> opening_request(loaded, xp, open_dataset("data/demo")).key  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mcalc.config import TIMEPOINTS
from mcalc.explain.cams import SCOPES, CamSettings
from mcalc.explain.explainer import CAM_METHODS, Explainer
from mcalc.explain.map_agreement import DEFAULT_TOLERANCE_MM
from mcalc.explain.runs import CaseRequest, case_request
from mcalc.explain.scoring import decision_threshold
from mcalc.explain.service import AnalysisSettings, ImageInput
from mcalc.explain.sliding import SlidingSettings
from mcalc.models.detection import DetectionSettings
from mcalc.models.tasks import positive_class_for

if TYPE_CHECKING:
    from mcalc.dataset.records import CaseRecord, DatasetIndex
    from mcalc.models.inference import LoadedModel

__all__ = [
    "DEFAULT_DETECTION_THRESHOLD",
    "default_detections",
    "default_settings",
    "next_case",
    "operating_value",
    "opening_request",
    "view_request",
]

#: The score threshold a reader's own detection or region threshold starts at, once they
#: turn off "at the model's operating threshold" (the FROC sweeps every threshold).
DEFAULT_DETECTION_THRESHOLD = 0.5


def operating_value(loaded: LoadedModel) -> float:
    """The model's decision threshold (:func:`~mcalc.explain.scoring.decision_threshold`),
    at which Predict lists regions and draws detections by default: an image read as not the
    positive class then shows none, one read as it at least one (region 1, the top
    detection, scores the map score)."""
    return decision_threshold(loaded.card).value


def default_detections(loaded: LoadedModel) -> DetectionSettings:
    """The detections Predict shows by default (its widgets left as they are): those at or
    above the model's operating threshold."""
    return DetectionSettings(threshold=operating_value(loaded))


def default_layer(xp: Explainer) -> str | None:
    """The layer Predict explains by default: the explainer's default, else the last one
    offered (``None``: none offered)."""
    names = [i.name for i in xp.layers()]
    default = xp.default_layer()
    if default in names:
        return default
    return names[-1] if names else None


def default_settings(loaded: LoadedModel, xp: Explainer) -> AnalysisSettings:
    """The analysis Predict's widgets ask for when left as they are: Grad-CAM of the
    positive class at the default layer, the whole breast, the default sliding window with
    its regions at or above the model's operating threshold (:func:`operating_value`)."""
    cam = CamSettings(
        method=CAM_METHODS[0],
        layer=default_layer(xp),
        target=positive_class_for(list(loaded.classes)),
        scope=SCOPES[0],
    )
    sliding = SlidingSettings(min_region_score=operating_value(loaded))
    return AnalysisSettings(sliding, cam, float(DEFAULT_TOLERANCE_MM))


def view_request(
    loaded: LoadedModel,
    case: CaseRecord,
    view: str,
    times: Sequence[str],
    settings: AnalysisSettings,
) -> CaseRequest:
    """The request of ``case``'s ``view`` at ``times`` (in that order; a timepoint the case
    lacks is left out), as Predict shows it."""
    records = [r for r in (case.image(view, tp) for tp in times) if r is not None]
    return case_request(loaded, [ImageInput.from_record(r) for r in records], settings)


def opening_request(loaded: LoadedModel, xp: Explainer, index: DatasetIndex) -> CaseRequest | None:
    """What Predict shows on a first visit: the first case's first view of those the
    collection has (the one the case has, when it lacks that one), both timepoints, the
    default settings (``None``: no case)."""
    if not index.cases:
        return None
    first = index.cases[0]
    view = first.view_shown(index.views()[0])  # mini-MIAS: MLO, as the page opens on
    return view_request(loaded, first, view, TIMEPOINTS, default_settings(loaded, xp))


def next_case(index: DatasetIndex, case_id: str) -> CaseRecord | None:
    """The case after ``case_id`` in Predict's list (``None``: the last, or not found)."""
    ids = [c.case_id for c in index.cases]
    try:
        at = ids.index(case_id)
    except ValueError:
        return None
    return index.cases[at + 1] if at + 1 < len(ids) else None
