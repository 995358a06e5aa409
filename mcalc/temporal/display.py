"""What the temporal views show: one view of a case, registered, as display-sized pictures.

Every picture is on the recent image's grid (the registered prior included), shrunk to
``max_side`` and hung like the viewer hangs it (chest wall on the radiologists' side), so
panels share one coordinate frame: full-resolution recent pixels, mirrored when hung.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mcalc.breast import chest_wall_side
from mcalc.cache import ImageCache
from mcalc.dataset.records import CaseRecord
from mcalc.imaging import downsample, to_uint8
from mcalc.temporal.change import (
    Tracked,
    change_overlay,
    pair_change,
    subtraction_unit,
    track_points,
)
from mcalc.temporal.pair import register_pair
from mcalc.temporal.register import Registration, RegistrationSettings
from mcalc.viewer import display_side

__all__ = ["TemporalView", "temporal_view", "with_findings"]


@dataclass(frozen=True)
class TemporalView:
    """Display-sized pictures of one registered view and its tracked calcifications.

    Attributes:
        view: ``CC`` or ``MLO``.
        recent, prior, subtraction: uint8 gray pictures of the same size; ``prior`` is the
            registered, intensity-matched prior; ``subtraction`` has 128 = no change.
        change: RGB picture of the recent image with the change map above 4 in red.
        shape: full-resolution (rows, cols) of the recent image; spacing_mm: its pixel size.
        mirrored: pictures and points are mirrored left-right for hanging.
        tracked: calcifications and clusters with their status; positions in full-
            resolution recent pixels of the file (``points`` gives them as displayed).
        registration: the registration's JSON summary; notes: what was noticed.
        prior_file: uint8 picture of the prior **as filed** (not registered), hung like the
            recent one; prior_shape: its full-resolution (rows, cols); prior_hung_mirrored:
            it is mirrored left-right for hanging.
        reg: the registration itself (maps any point between the rounds).
        uncounted: why ``tracked`` is empty though marks may differ (a round's annotation
            is unknown: :attr:`TemporalPair.uncounted`); ``None`` when counted.
    """

    view: str
    recent: np.ndarray
    prior: np.ndarray
    subtraction: np.ndarray
    change: np.ndarray
    shape: tuple[int, int]
    spacing_mm: float
    mirrored: bool
    tracked: tuple[Tracked, ...]
    registration: dict[str, object]
    notes: tuple[str, ...]
    prior_file: np.ndarray | None = None
    prior_shape: tuple[int, int] = (0, 0)
    prior_hung_mirrored: bool = False
    reg: Registration | None = None
    uncounted: str | None = None

    @property
    def prior_scale(self) -> float:
        """Full-resolution prior pixels per ``prior_file`` pixel."""
        if self.prior_file is None or not self.prior_file.shape[0]:
            return self.scale
        return self.prior_shape[0] / self.prior_file.shape[0]

    def prior_position(self, t: Tracked) -> tuple[float, float] | None:
        """Where ``t`` lies in the prior file: its own prior position, or (a new one, a model
        finding of the recent image) its recent position mapped through the registration."""
        if t.prior is not None:
            return t.prior
        if t.recent is None or self.reg is None:
            return None
        r, c = self.reg.recent_to_prior([list(t.recent)])[0]
        return float(r), float(c)

    def prior_shown_at(self, t: Tracked) -> tuple[float, float] | None:
        """(row, col) as displayed on ``prior_file`` of :meth:`prior_position`."""
        p = self.prior_position(t)
        if p is None:
            return None
        return (p[0], self.prior_shape[1] - 1 - p[1] if self.prior_hung_mirrored else p[1])

    def prior_points(self) -> list[tuple[float, float, Tracked]]:
        """(row, col) as displayed on ``prior_file`` of every tracked item."""
        return [(*p, t) for t in self.tracked if (p := self.prior_shown_at(t)) is not None]

    @property
    def scale(self) -> float:
        """Full-resolution pixels per picture pixel."""
        return self.shape[0] / self.recent.shape[0]

    def shown_at(self, t: Tracked) -> tuple[float, float] | None:
        """(row, col) as displayed of a tracked item: its recent position, or for a resolved
        one its prior position mapped onto the recent grid (``recent_at``)."""
        p = t.recent if t.recent is not None else t.recent_at
        if p is None:
            return None
        return (p[0], self.shape[1] - 1 - p[1] if self.mirrored else p[1])

    def points(self) -> list[tuple[float, float, Tracked]]:
        """(row, col) as displayed of every tracked item (see :meth:`shown_at`)."""
        return [(*p, t) for t in self.tracked if (p := self.shown_at(t)) is not None]


def temporal_view(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    *,
    max_side: int = 1024,
    settings: RegistrationSettings | None = None,
) -> TemporalView:
    """Register ``case``'s ``view`` and make its display pictures (see :class:`TemporalView`).

    Raises what :func:`mcalc.temporal.register_pair` raises (no prior, other view/side).
    """
    pair = register_pair(cache, case, view, settings)
    change, tracked = pair_change(pair)
    mirrored = chest_wall_side(pair.recent_mask) != display_side(case.laterality)
    prior_mirrored = chest_wall_side(pair.prior_mask) != display_side(case.laterality)

    def pic(unit: np.ndarray) -> np.ndarray:
        small = downsample(np.clip(unit, 0.0, 1.0).astype(np.float32), max_side)
        return to_uint8(small[:, ::-1] if mirrored else small)

    return TemporalView(
        view=view,
        recent=pic(pair.recent),
        prior=pic(change.warped_prior),
        subtraction=pic(subtraction_unit(change)),
        change=_shrunk_rgb(change_overlay(pair.recent, change), max_side, mirrored),
        shape=pair.registration.recent_shape,
        spacing_mm=pair.spacing_mm,
        mirrored=mirrored,
        tracked=tuple(tracked),
        registration=pair.registration.summary(),
        notes=pair.notes,
        prior_file=to_uint8(_hung(downsample(_clip(pair.prior), max_side), prior_mirrored)),
        prior_shape=pair.registration.prior_shape,
        prior_hung_mirrored=prior_mirrored,
        reg=pair.registration,
        uncounted=pair.uncounted,
    )


def _clip(unit: np.ndarray) -> np.ndarray:
    return np.clip(unit, 0.0, 1.0).astype(np.float32)


def _hung(img: np.ndarray, mirrored: bool) -> np.ndarray:
    return img[:, ::-1] if mirrored else img


def _shrunk_rgb(rgb: np.ndarray, max_side: int, mirrored: bool) -> np.ndarray:
    # Area averaging, like the gray pictures: an isolated one-pixel change fades when shrunk.
    small = downsample(rgb.astype(np.float32), max_side)
    out = np.clip(np.round(small), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[:, ::-1] if mirrored else out)


def with_findings(
    tv: TemporalView,
    recent: Sequence[tuple[float, float]],
    prior: Sequence[tuple[float, float]] | None = None,
    *,
    tolerance_mm: float = 5.0,
) -> TemporalView:
    """``tv`` with a model's findings (full-resolution file positions) as its tracked items.

    With ``prior`` (the model also read the prior image) the findings of both rounds are
    matched through the registration (:func:`mcalc.temporal.track_points`) and labelled
    ``new``, ``stable`` or ``resolved``; without it (a temporal model reads the prior only
    through the subtraction) each recent finding has the status ``finding``. Either way
    :meth:`TemporalView.prior_shown_at` places each at its mapped place in the prior.
    """
    if prior is None or tv.reg is None:
        items = [
            Tracked("finding", "finding", (float(r), float(c)), None, i)
            for i, (r, c) in enumerate(recent)
        ]
    else:
        items = track_points(
            [list(p) for p in recent],
            [list(p) for p in prior],
            tv.reg,
            tolerance_mm=tolerance_mm,
            kind="finding",
        )
    return replace(tv, tracked=tuple(items))
