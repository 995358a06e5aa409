"""Time as a dimension: the prior exam registered to the recent one, and what changed.

- :mod:`~mcalc.temporal.stages` - :func:`register_images` (SimpleITK: affine from the
  breast masks' moments, then a coarse B-spline inside the breast);
- :mod:`~mcalc.temporal.register` - the :class:`Registration` (points both ways, warps,
  quality, folding check, none applied when worse than none) and :func:`landmark_error`
  (target registration error on known pairs);
- :mod:`~mcalc.temporal.pair` - :func:`register_pair`, one view of a case in both rounds
  through the same pixel pipeline, cached per pair and settings;
- :mod:`~mcalc.temporal.change` - :func:`subtraction` (and change map), :func:`track`
  (calcifications and clusters labelled new, stable, grown, resolved), :func:`summary_line`
  (one view) and :func:`case_summary` (a case, view by view).
"""

from mcalc.temporal.change import (
    STATUSES,
    Change,
    Tracked,
    case_summary,
    change_overlay,
    count_statuses,
    pair_change,
    pair_tracked,
    subtraction,
    subtraction_unit,
    summary_line,
    track,
    track_points,
)
from mcalc.temporal.pair import TemporalError, TemporalPair, pair_records, register_pair
from mcalc.temporal.register import (
    NOT_REGISTERED,
    Registration,
    RegistrationError,
    RegistrationSettings,
    as_filed_if_worse,
    field_from_affine,
    jacobian_determinant,
    landmark_error,
    quality_figures,
)
from mcalc.temporal.stages import register_images

__all__ = [
    "NOT_REGISTERED",
    "as_filed_if_worse",
    "STATUSES",
    "Change",
    "Tracked",
    "change_overlay",
    "subtraction_unit",
    "count_statuses",
    "pair_change",
    "pair_tracked",
    "subtraction",
    "summary_line",
    "case_summary",
    "track",
    "track_points",
    "Registration",
    "RegistrationError",
    "RegistrationSettings",
    "TemporalError",
    "TemporalPair",
    "field_from_affine",
    "jacobian_determinant",
    "landmark_error",
    "pair_records",
    "quality_figures",
    "register_images",
    "register_pair",
]
