"""What changed between exams: subtraction image, change map, calcifications tracked.

The subtraction is the recent image minus the registered prior after a linear intensity
match inside the breast (exposure and processing differ between exams): bright spots
are tissue brighter now than before (a new or grown calcification), dark spots tissue
that faded. The change map is the subtraction's magnitude, lightly smoothed, in units of
its own robust spread inside the breast (median absolute deviation), so 3 reads "three
times the usual difference".

Calcifications and clusters of the two annotations are matched one-to-one through the
registration (:func:`mcalc.store.reader_agreement.match_points`, the Hungarian assignment
the reader-agreement statistics use) and labelled ``new`` (recent only), ``stable``,
``grown`` (a cluster with more members or a larger extent, a calcification larger beyond
the measurement noise) or ``resolved`` (prior only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mcalc.annotations import AnnotationSummary, Calcification
from mcalc.config import VIEWS
from mcalc.imaging import overlay_mask
from mcalc.store.reader_agreement import match_points
from mcalc.temporal.pair import TemporalPair
from mcalc.temporal.register import Registration

__all__ = [
    "STATUSES",
    "RECENT_COLUMN",
    "PRIOR_COLUMN",
    "MOVED_COLUMN",
    "position_text",
    "Change",
    "Tracked",
    "subtraction",
    "track",
    "count_statuses",
    "status_meaning",
    "summary_line",
    "case_summary",
    "track_points",
    "pair_change",
    "pair_tracked",
    "subtraction_unit",
    "change_overlay",
]

STATUSES = ("new", "stable", "grown", "resolved")
#: Change tables' position and distance columns, each naming its unit: (row, col) in
#: full-resolution pixels of that round's file (never a preview's; the headers are short,
#: :data:`mcalc.present.temporal_figures.COLUMN_HELP` says so: "recent (row, col) px" made
#: Browse's table scroll sideways at 1024 px of page), distances in mm.
RECENT_COLUMN = "recent (px)"
PRIOR_COLUMN = "prior (px)"
MOVED_COLUMN = "apart (mm)"
_EPS = 1e-6
#: A cluster has grown when its hull's area grew by more than this fraction.
GROWTH_FRACTION = 0.2
#: A single calcification has grown when its diameter is at least this many times the
#: prior's carried onto the recent image, and larger by at least ``CALC_GROWTH_MM``: the
#: demo's unchanged ones measured 0.84-1.25 times and -0.09 to +0.11 mm, none past both
#: (docs/measurements.md, 7 December 2026).
CALC_GROWTH_RATIO = 1.2
CALC_GROWTH_MM = 0.12
#: Largest distance after registration (mm) at which two calcifications, or two cluster
#: centres (a centre moves as members appear), are the same one (:func:`track`).
CALC_TOLERANCE_MM = 1.5
CLUSTER_TOLERANCE_MM = 10.0


@dataclass(frozen=True)
class Change:
    """Subtraction and change map on the recent image's full-resolution grid.

    Attributes:
        warped_prior: the registered prior, intensity-matched to the recent image.
        subtraction: recent - ``warped_prior`` (0 outside the breasts' overlap).
        change: |subtraction| smoothed, in units of its robust spread inside the breast.
        overlap: where both breasts are (the subtraction is meaningful there).
        gain, offset: the intensity match ``prior * gain + offset``.
    """

    warped_prior: np.ndarray
    subtraction: np.ndarray
    change: np.ndarray
    overlap: np.ndarray
    gain: float
    offset: float


def subtraction(
    recent: np.ndarray,
    prior: np.ndarray,
    recent_mask: np.ndarray,
    prior_mask: np.ndarray,
    reg: Registration,
    *,
    smooth_mm: float = 0.05,
    rim_mm: float = 1.0,
) -> Change:
    """Subtract the registered, intensity-matched prior from the recent image.

    ``smooth_mm``: the change map's Gaussian smoothing (at least half a pixel). Keep it
    below a calcification's size: at 0.3 mm a new calcification of a few pixels was spread
    over tens of pixels of noise and none of the demo's 78 new ones reached the change
    overlay's threshold of 4.

    Example:
        >>> from mcalc.temporal.register import Registration
        >>> img = np.full((8, 8), 0.5, np.float32); img[4, 4] = 0.9
        >>> m = np.ones((8, 8), bool)
        >>> ident = Registration((8, 8), (8, 8), 0.1, np.zeros((8, 8, 2), np.float32),
        ...                      np.zeros((8, 8, 2), np.float32), "affine", None, False)
        >>> c = subtraction(img, np.full((8, 8), 0.25, np.float32), m, m, ident, rim_mm=0)
        >>> round(float(c.subtraction[4, 4]), 2), round(float(c.subtraction[0, 0]), 2)
        (0.39, -0.01)
    """
    if recent.shape != recent_mask.shape or prior.shape != prior_mask.shape:
        raise ValueError(
            f"images and masks must match: recent {recent.shape} / {recent_mask.shape}, "
            f"prior {prior.shape} / {prior_mask.shape}"
        )
    warped = reg.warp_prior(prior)
    overlap = recent_mask & reg.warp_prior(prior_mask)
    # Leave out a skin-line rim: the outline never registers to the pixel and would light up.
    rim = round(rim_mm / reg.spacing_mm)
    if rim > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1))
        overlap = cv2.erode(overlap.astype(np.uint8), kernel).astype(bool)
    x = warped[overlap].astype(np.float64)
    y = recent[overlap].astype(np.float64)
    if len(x) > 16 and float(x.std()) > _EPS:
        gain, offset = np.polyfit(x, y, 1)
    else:  # flat or tiny overlap: match the means only
        gain, offset = 1.0, float(y.mean() - x.mean()) if len(x) else 0.0
    matched = (warped * gain + offset).astype(np.float32)
    diff = np.where(overlap, recent.astype(np.float32) - matched, 0.0).astype(np.float32)
    sigma = max(smooth_mm / reg.spacing_mm, 0.5)
    mag = cv2.GaussianBlur(np.abs(diff), (0, 0), sigma)
    inside = mag[overlap]
    spread = float(np.median(np.abs(diff[overlap]))) * 1.4826 if inside.size else 0.0
    change = np.where(overlap, mag / (spread + _EPS), 0.0).astype(np.float32)
    return Change(matched, diff, change, overlap, float(gain), float(offset))


@dataclass(frozen=True)
class Tracked:
    """One calcification or cluster followed across exams.

    Attributes:
        kind: ``calcification`` or ``cluster``.
        status: ``new``, ``stable``, ``grown`` or ``resolved``.
        recent, prior: (row, col) full-resolution centre in each exam's file (``None``
            when absent from that round).
        recent_id, prior_id: the annotation's label (calcification) or id (cluster); for
            :func:`track_points`, the point's index in the list given.
        distance_mm: distance after registration between the matched centres.
        recent_size, prior_size: diameter in mm (calcification) or member count (cluster).
        prior_size_at_recent: a matched calcification's prior diameter carried onto the
            recent image (its area scaled by the registration there), what ``grown``
            compares the recent diameter with.
        recent_area_mm2, prior_area_mm2: the cluster hull's area (``None`` for calcifications).
        recent_at: the prior position mapped onto the recent image through the registration
            (``None`` without a prior position): where a resolved one would be now.
        prior_area_at_recent_mm2: a matched cluster's prior hull carried onto the recent
            image through the registration, its area in the recent image's mm² (what
            ``grown`` compares the recent hull with: the exams' own areas differ with the
            compression and positioning the registration undoes).
    """

    kind: str
    status: str
    recent: tuple[float, float] | None
    prior: tuple[float, float] | None
    recent_id: int | None = None
    prior_id: int | None = None
    distance_mm: float | None = None
    recent_size: float | None = None
    prior_size: float | None = None
    recent_area_mm2: float | None = None
    prior_area_mm2: float | None = None
    recent_at: tuple[float, float] | None = None
    prior_area_at_recent_mm2: float | None = None
    prior_size_at_recent: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, each key naming its unit: positions ``*_px`` are ``[row, col]`` in
        full-resolution pixels of that round's file (``recent_at_px``: of the recent file);
        ``distance_mm``; a calcification's ``*_diameter_mm`` and
        ``prior_diameter_at_recent_mm``, a cluster's ``*_members`` and
        hull ``*_area_mm2`` and ``prior_area_at_recent_mm2`` (``None`` for the other kind).

        Example:
            >>> Tracked("calcification", "new", (12.34, 5.0), None, 3, recent_size=0.42).as_dict()
            ... # doctest: +NORMALIZE_WHITESPACE
            {'kind': 'calcification', 'status': 'new', 'recent_id': 3, 'prior_id': None,
             'recent_px': [12.3, 5.0], 'prior_px': None, 'recent_at_px': None,
             'distance_mm': None, 'recent_diameter_mm': 0.42, 'prior_diameter_mm': None,
             'recent_members': None, 'prior_members': None, 'recent_area_mm2': None,
             'prior_area_mm2': None, 'prior_area_at_recent_mm2': None,
             'prior_diameter_at_recent_mm': None}
        """

        def pt(p: tuple[float, float] | None) -> list[float] | None:
            return None if p is None else [round(p[0], 1), round(p[1], 1)]

        def size(value: float | None, cluster: bool) -> float | int | None:
            if value is None or (self.kind == "cluster") != cluster:
                return None
            return int(value) if cluster else round(value, 3)

        def mm(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "kind": self.kind,
            "status": self.status,
            "recent_id": self.recent_id,
            "prior_id": self.prior_id,
            "recent_px": pt(self.recent),
            "prior_px": pt(self.prior),
            "recent_at_px": pt(self.recent_at),
            "distance_mm": mm(self.distance_mm),
            "recent_diameter_mm": size(self.recent_size, False),
            "prior_diameter_mm": size(self.prior_size, False),
            "recent_members": size(self.recent_size, True),
            "prior_members": size(self.prior_size, True),
            "recent_area_mm2": mm(self.recent_area_mm2),
            "prior_area_mm2": mm(self.prior_area_mm2),
            "prior_area_at_recent_mm2": mm(self.prior_area_at_recent_mm2),
            "prior_diameter_at_recent_mm": mm(self.prior_size_at_recent),
        }


def position_text(p: tuple[float, float] | None) -> str:
    """A table cell for a (row, col) position: whole pixels, ``""`` when absent.

    Example:
        >>> position_text((2994.29, 3040.0)), position_text(None)
        ('2994, 3040', '')
    """
    return "" if p is None else f"{p[0]:.0f}, {p[1]:.0f}"


def _pt(p: np.ndarray) -> tuple[float, float]:
    return (float(p[0]), float(p[1]))


def _grown(recent: tuple[int, float], prior: tuple[int, float]) -> bool:
    (n_r, a_r), (n_p, a_p) = recent, prior
    return n_r > n_p or a_r > a_p * (1.0 + GROWTH_FRACTION)


def _diameter_at_recent(calc: Calcification, reg: Registration) -> float:
    """Diameter (recent mm) of a prior calcification carried onto the recent image: its
    area scaled by the registration's area change around its centre (a 4-px square)."""
    (r, c), e = calc.centroid, 2.0
    square = ((r - e, c - e), (r - e, c + e), (r + e, c + e), (r + e, c - e))
    area = calc.area_px * _area_at_recent(square, reg) / (2 * e) ** 2  # recent mm²
    return float(np.sqrt(4.0 * area / np.pi))


def _area_at_recent(hull: Sequence[tuple[float, float]], reg: Registration) -> float:
    """Area (recent mm²) of a prior hull, ``((row, col), ...)`` in prior pixels, carried
    onto the recent image through the registration (shoelace formula)."""
    pts = reg.prior_to_recent(np.asarray(hull, dtype=float).reshape(-1, 2))
    r, c = pts[:, 0], pts[:, 1]
    area_px = 0.5 * abs(float(np.dot(r, np.roll(c, -1)) - np.dot(c, np.roll(r, -1))))
    return area_px * reg.spacing_mm * reg.spacing_mm


def _pairs(
    recent_pts: np.ndarray,
    prior_pts: np.ndarray,
    reg: Registration,
    tolerance_mm: float,
) -> tuple[list[tuple[int, int, float]], list[int], list[int], np.ndarray]:
    """Match recent points to prior points mapped onto the recent grid (also returned)."""
    mapped = reg.prior_to_recent(prior_pts) if len(prior_pts) else np.zeros((0, 2))
    agreement = match_points(
        recent_pts,
        mapped,
        tolerance_mm=tolerance_mm,
        spacing_mm=(reg.spacing_mm, reg.spacing_mm),
        reference_name="recent",
        test_name="prior",
    )
    return (
        list(agreement.pairs),
        list(agreement.unmatched_reference),
        list(agreement.unmatched_test),
        mapped,
    )


def track(
    recent: AnnotationSummary | None,
    prior: AnnotationSummary | None,
    reg: Registration,
    *,
    tolerance_mm: float = CALC_TOLERANCE_MM,
    cluster_tolerance_mm: float = CLUSTER_TOLERANCE_MM,
) -> list[Tracked]:
    """Every calcification and cluster of both exams, matched and labelled.

    Args:
        recent, prior: the two exams' annotations (``None``: nothing marked).
        reg: the registration of this view (prior -> recent).
        tolerance_mm: largest distance after registration at which two calcifications are
            the same one.
        cluster_tolerance_mm: the same for cluster centres (a cluster's centre moves as
            members appear, so the tolerance is wider).
    """
    out: list[Tracked] = []
    calcs_r = recent.calcifications if recent else ()
    calcs_p = prior.calcifications if prior else ()
    pr = np.array([c.centroid for c in calcs_r], dtype=float).reshape(-1, 2)
    pp = np.array([c.centroid for c in calcs_p], dtype=float).reshape(-1, 2)
    pairs, only_r, only_p, at = _pairs(pr, pp, reg, tolerance_mm)
    for i, j, d in pairs:
        a, b = calcs_r[i], calcs_p[j]
        # Sizes compared on the recent grid, as a cluster's hulls below.
        was = _diameter_at_recent(b, reg)
        grown = a.diameter_mm >= was * CALC_GROWTH_RATIO and a.diameter_mm - was >= CALC_GROWTH_MM
        out.append(
            Tracked(
                "calcification",
                "grown" if grown else "stable",
                a.centroid,
                b.centroid,
                a.label,
                b.label,
                d,
                a.diameter_mm,
                b.diameter_mm,
                recent_at=_pt(at[j]),
                prior_size_at_recent=was,
            )
        )
    for i in only_r:
        a = calcs_r[i]
        out.append(
            Tracked("calcification", "new", a.centroid, None, a.label, None, None, a.diameter_mm)
        )
    for j in only_p:
        b = calcs_p[j]
        out.append(
            Tracked(
                "calcification",
                "resolved",
                None,
                b.centroid,
                None,
                b.label,
                None,
                None,
                b.diameter_mm,
                recent_at=_pt(at[j]),
            )
        )
    cl_r = recent.clusters if recent else ()
    cl_p = prior.clusters if prior else ()
    qr = np.array([c.centroid for c in cl_r], dtype=float).reshape(-1, 2)
    qp = np.array([c.centroid for c in cl_p], dtype=float).reshape(-1, 2)
    pairs, only_r, only_p, at = _pairs(qr, qp, reg, cluster_tolerance_mm)
    for i, j, d in pairs:
        x, y = cl_r[i], cl_p[j]
        # Areas compared on the recent grid: a prior imaged smaller or larger (compression,
        # positioning) made an unchanged cluster "grown", or hid a real growth.
        at_recent = _area_at_recent(y.hull, reg)
        status = "grown" if _grown((x.count, x.area_mm2), (y.count, at_recent)) else "stable"
        out.append(
            Tracked(
                "cluster",
                status,
                x.centroid,
                y.centroid,
                x.id,
                y.id,
                d,
                x.count,
                y.count,
                x.area_mm2,
                y.area_mm2,
                recent_at=_pt(at[j]),
                prior_area_at_recent_mm2=at_recent,
            )
        )
    for i in only_r:
        x = cl_r[i]
        out.append(
            Tracked("cluster", "new", x.centroid, None, x.id, None, None, x.count, None, x.area_mm2)
        )
    for j in only_p:
        y = cl_p[j]
        out.append(
            Tracked(
                "cluster",
                "resolved",
                None,
                y.centroid,
                None,
                y.id,
                None,
                None,
                y.count,
                None,
                y.area_mm2,
                recent_at=_pt(at[j]),
            )
        )
    return out


def track_points(
    recent: np.ndarray | list[list[float]],
    prior: np.ndarray | list[list[float]],
    reg: Registration,
    *,
    tolerance_mm: float = 5.0,
    kind: str = "finding",
) -> list[Tracked]:
    """Any points of both exams (a model's top regions, a reader's marks), matched through
    the registration and labelled ``new``, ``stable`` or ``resolved``.

    Args:
        recent, prior: ``(N, 2)`` (row, col) full-resolution points of each exam's file.
        reg: the view's registration.
        tolerance_mm: largest distance after registration for the same finding.
        kind: the ``kind`` the items carry.

    Example:
        >>> from mcalc.temporal.register import Registration
        >>> f = np.zeros((4, 4, 2), np.float32); f[..., 0] = 10.0   # prior = recent + 10 rows
        >>> reg = Registration((40, 40), (40, 40), 0.1, f, f, "affine", None, False)
        >>> [t.status for t in track_points([[5, 5], [30, 30]], [[15, 5]], reg, tolerance_mm=0.5)]
        ['stable', 'new']
    """
    r = np.asarray(recent, dtype=float).reshape(-1, 2)
    p = np.asarray(prior, dtype=float).reshape(-1, 2)
    pairs, only_r, only_p, at = _pairs(r, p, reg, tolerance_mm)
    out = [
        Tracked(kind, "stable", _pt(r[i]), _pt(p[j]), i, j, d, recent_at=_pt(at[j]))
        for i, j, d in pairs
    ]
    out += [Tracked(kind, "new", _pt(r[i]), None, i) for i in only_r]
    out += [
        Tracked(kind, "resolved", None, _pt(p[j]), None, j, recent_at=_pt(at[j])) for j in only_p
    ]
    return out


def status_meaning() -> str:
    """What each status of :func:`track` means, for a caption beside a change table.

    Example:
        >>> "more than 20% larger" in status_meaning()
        True
    """
    return (
        "new: in the recent exam only; stable: found again in the prior within "
        f"{CALC_TOLERANCE_MM:g} mm (a calcification) or {CLUSTER_TOLERANCE_MM:g} mm (a "
        "cluster's centre) after registration; grown: a cluster with more members now, or a "
        f"hull more than {GROWTH_FRACTION:.0%} larger than the prior's carried onto the recent "
        f"image; a calcification at least {CALC_GROWTH_RATIO:g} times the prior's diameter "
        f"carried so, and {CALC_GROWTH_MM:g} mm more (smaller changes are within the "
        "measurement's noise: stable); resolved: in the prior exam only."
    )


def count_statuses(items: list[Tracked], kind: str | None = None) -> dict[str, int]:
    """``{"new": n, "stable": n, "grown": n, "resolved": n}`` (of one ``kind`` or all)."""
    counts = Counter(t.status for t in items if kind is None or t.kind == kind)
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(
    items: list[Tracked], years_between: float | None = None, *, uncounted: str | None = None
) -> str:
    """One line for a case: "2 new calcifications, 1 cluster grown, 5 stable (3 years)";
    "changes not counted: …" where ``uncounted`` says why (:attr:`TemporalPair.uncounted`).

    Example:
        >>> summary_line([Tracked("calcification", "new", (1.0, 1.0), None)], 2.0)
        '1 new calcification, 0 stable (2 years between exams)'
        >>> summary_line([], uncounted="the prior image has no annotation")
        'changes not counted: the prior image has no annotation'
    """
    if uncounted is not None:
        line = f"changes not counted: {uncounted}"
        if years_between is not None:
            line += f" ({years_between:g} year{'' if years_between == 1 else 's'} between exams)"
        return line
    calc = count_statuses(items, "calcification")
    clus = count_statuses(items, "cluster")
    parts = [_plural(calc["new"], "new calcification")]
    if calc["grown"]:
        parts.append(f"{_plural(calc['grown'], 'calcification')} grown")
    if calc["resolved"]:
        parts.append(f"{_plural(calc['resolved'], 'calcification')} resolved")
    for status in ("new", "grown", "resolved"):
        if clus[status]:
            word = "cluster" if clus[status] == 1 else "clusters"
            parts.append(
                f"{clus[status]} new {word}"
                if status == "new"
                else f"{clus[status]} {word} {status}"
            )
    parts.append(f"{calc['stable']} stable")
    line = ", ".join(parts)
    if years_between is not None:
        line += f" ({years_between:g} year{'' if years_between == 1 else 's'} between exams)"
    return line


def case_summary(
    views: Mapping[str, Sequence[Tracked]],
    years_between: float | None = None,
    uncounted: Mapping[str, str | None] | None = None,
    not_compared: Mapping[str, str] | None = None,
) -> str:
    """One line for a case, view by view: CC and MLO are two projections of the same breast,
    so the same calcifications show in both and a sum over views counts each twice (a
    cluster of 7 read "14 new calcifications"). ``not_compared``: views with no registration,
    each with why (:func:`mcalc.temporal.pair.not_compared_reason`), named in the line in
    their place: left out, "MLO: 5 new calcifications" read as the whole case.

    Example:
        >>> new = [Tracked("calcification", "new", (1.0, 1.0), None)]
        >>> case_summary({"CC": new, "MLO": new}, 2.0)
        'CC: 1 new calcification, 0 stable; MLO: 1 new calcification, 0 stable (2 years between exams)'
        >>> case_summary({"MLO": new}, not_compared={"CC": "no prior image"})
        'CC: not compared (no prior image); MLO: 1 new calcification, 0 stable'
    """
    why = uncounted or {}
    missing = not_compared or {}
    order = sorted(
        {**dict.fromkeys(views), **dict.fromkeys(missing)},
        key=lambda v: VIEWS.index(v) if v in VIEWS else len(VIEWS),
    )
    line = "; ".join(
        f"{view}: not compared ({missing[view]})"
        if view not in views
        else f"{view}: {summary_line(list(views[view]), uncounted=why.get(view))}"
        for view in order
    )
    if not order:
        line = summary_line([])
    if years_between is not None:
        line += f" ({years_between:g} year{'' if years_between == 1 else 's'} between exams)"
    return line


def pair_tracked(pair: TemporalPair) -> list[Tracked]:
    """:func:`track` of a registered pair; none where a round's annotation is unknown
    (:attr:`TemporalPair.uncounted` says why: a missing GT read as "nothing marked" made
    every calcification of the other round new or resolved)."""
    if pair.uncounted is not None:
        return []
    return track(pair.recent_summary, pair.prior_summary, pair.registration)


def pair_change(pair: TemporalPair) -> tuple[Change, list[Tracked]]:
    """:func:`subtraction` and :func:`pair_tracked` of a registered pair."""
    change = subtraction(
        pair.recent, pair.prior, pair.recent_mask, pair.prior_mask, pair.registration
    )
    return change, pair_tracked(pair)


def subtraction_unit(change: Change, *, percentile: float = 99.5) -> np.ndarray:
    """The subtraction as a [0, 1] picture: 0.5 = no change, brighter = brighter now.

    Scaled symmetrically by the ``percentile`` of |subtraction| inside the overlap.
    """
    inside = np.abs(change.subtraction[change.overlap])
    scale = float(np.percentile(inside, percentile)) if inside.size else 1.0
    return np.clip(0.5 + 0.5 * change.subtraction / (scale + _EPS), 0.0, 1.0).astype(np.float32)


def change_overlay(recent: np.ndarray, change: Change, *, threshold: float = 4.0) -> np.ndarray:
    """RGB picture of the recent image with the change map above ``threshold`` in red."""
    return overlay_mask(recent, change.change >= threshold, color=(255, 40, 40), alpha=0.6)
