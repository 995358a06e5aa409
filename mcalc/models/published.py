"""Published results on the micro-calcification dataset, as reference points.

The numbers come from ``shared/DATASET.md``. They are **not directly comparable** with an
mcalc evaluation: the papers classify benign vs suspicious calcifications per case on the
real mammograms (one with temporal subtraction of the registered prior), while mcalc
models score patches, often of synthetic data, sampled where the annotations are.

The papers give accuracy and AUC but not sensitivity and specificity, so a published
result has no point of its own in ROC space. To show its AUC on a ROC chart,
:func:`binormal_point` places it where the equal-variance binormal ROC curve with that AUC
meets the descending diagonal (sensitivity = specificity). That placement is an assumption
made for display; only the AUC is published.

Example:
    >>> fpr, tpr = binormal_point(0.87)
    >>> round(fpr, 3), round(tpr, 3)
    (0.213, 0.787)
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["PublishedResult", "PUBLISHED", "COMPARABILITY_NOTE", "binormal_point"]


@dataclass(frozen=True)
class PublishedResult:
    """One published result.

    Attributes:
        label: short name for a legend.
        citation: authors, journal, year and DOI.
        task: what was classified, at which level.
        accuracy: reported accuracy (fraction).
        auc: reported area under the ROC curve.
    """

    label: str
    citation: str
    task: str
    accuracy: float
    auc: float


_LOIZIDOU_2021 = (
    "Loizidou et al., European Radiology Experimental 2021, doi 10.1186/s41747-021-00238-w"
)

#: The anchors of ``shared/DATASET.md`` that report an AUC.
PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(
        "Loizidou 2021, temporal subtraction",
        _LOIZIDOU_2021,
        "benign vs suspicious micro-calcifications, per case, recent minus registered prior",
        0.903,
        0.87,
    ),
    PublishedResult(
        "Loizidou 2021, recent image alone",
        _LOIZIDOU_2021,
        "benign vs suspicious micro-calcifications, per case, recent mammogram only",
        0.827,
        0.81,
    ),
)

#: What to say wherever the anchors are shown.
COMPARABILITY_NOTE = (
    "Published reference points (Loizidou et al. 2021): benign vs suspicious "
    "micro-calcifications classified per case on the real mammograms: accuracy 90.3% and "
    "AUC 0.87 with temporal subtraction of the prior, 82.7% and AUC 0.81 from the recent "
    "image alone. They are a different task on different data, not directly comparable "
    "with patch-level numbers of mcalc models, least of all on synthetic data. The papers "
    "report no sensitivity/specificity: each point is placed where an equal-variance "
    "binormal ROC curve with the published AUC has sensitivity = specificity."
)


def binormal_point(auc: float) -> tuple[float, float]:
    """``(fpr, tpr)`` where the equal-variance binormal ROC curve of ``auc`` has
    sensitivity = specificity.

    With separation ``d' = sqrt(2) * Phi^-1(auc)`` that point is
    ``tpr = Phi(d'/2) = 1 - fpr``.

    Raises:
        ValueError: ``auc`` outside (0, 1).
    """
    if not 0.0 < auc < 1.0:
        raise ValueError(f"expected an AUC in (0, 1), got {auc}")
    normal = NormalDist()
    d_prime = 2**0.5 * normal.inv_cdf(auc)
    tpr = normal.cdf(d_prime / 2.0)
    return 1.0 - tpr, tpr
