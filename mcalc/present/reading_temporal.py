"""Temporal payloads for the reading viewer: one view's rounds, registered, in its panels.

:func:`temporal_panel` gives the browser (``components/viewer/src/temporal.ts``), for one
view of a case:

- the **registered prior** on the recent panel's pixel grid, in the recent image's modality
  values (intensity-matched by :func:`mcalc.temporal.subtraction`), so it takes the recent
  panel's window and can flicker with it or sit under a swipe curtain;
- the **subtraction** (recent - registered prior) on the same grid as signed 16-bit values
  in those units, with its own window (centred on 0);
- a coarse **mapping** both ways between the recent panel and the prior panel as filed (a
  ``grid`` x ``grid`` lattice of points mapped by the registration; the browser interpolates
  it bilinearly), so a marker or a camera centre on one panel lands at the corresponding
  place on the other;
- the **tracked** calcifications and clusters with their status, in both panels' grids.

Coordinates are (row, col) of a panel's pixel grid, as :func:`mcalc.present.reading.
reading_panel` sends them (preview scale, mirrored for hanging).

Example:
    >>> encode_signed(np.array([[-1, 0], [2, 40000]]))
    '//8AAAIA/38='
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcalc.cache import ImageCache
from mcalc.config import VIEWS
from mcalc.dataset.records import CaseRecord
from mcalc.imaging import resample_mask
from mcalc.present.reading import encode_pixels
from mcalc.temporal.change import Tracked, case_summary, pair_tracked, subtraction
from mcalc.temporal.pair import not_compared_reason, pair_records, register_pair
from mcalc.temporal.register import Registration, RegistrationSettings
from mcalc.temporal.rescale import rescaled
from mcalc.viewer import ImageView, preview_values

__all__ = [
    "GRID",
    "TemporalPanel",
    "encode_signed",
    "grid_mapping",
    "notes_beside_flag",
    "registration_caption",
    "registration_flag",
    "temporal_args",
    "temporal_bytes",
    "temporal_offered",
    "temporal_panel",
    "temporal_unavailable",
]

#: Lattice nodes per side of the recent <-> prior mapping sent to the browser (the
#: registration's B-spline has a few control points per side: 17 nodes follow it closely).
GRID = 17
#: Percentile of |subtraction| inside the overlap that the subtraction window spans.
SUB_PERCENTILE = 99.5


def encode_signed(values: np.ndarray) -> str:
    """A 2-D array -> base64 of its little-endian int16 values (clipped to -32768..32767).

    Raises:
        ValueError: ``values`` is not 2-D.
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    out = np.clip(np.rint(arr.astype(np.float64)), -32768, 32767).astype("<i2")
    return base64.b64encode(out.tobytes()).decode("ascii")


@dataclass(frozen=True)
class TemporalPanel:
    """One view's temporal payload and what the page shows beside it.

    Attributes:
        view: ``CC`` or ``MLO``.
        payload: JSON-ready dict for the viewer (see the module docstring).
        tracked: calcifications and clusters with their status (file coordinates).
        registration: the registration's summary (method, similarity, time, fallback).
        notes: what was noticed (mirrored prior, fallback, annotation problems).
        uncounted: why changes are not counted (a round's annotation is unknown), ``None``
            when they are (:attr:`mcalc.temporal.TemporalPair.uncounted`).
    """

    view: str
    payload: dict[str, Any]
    tracked: tuple[Tracked, ...]
    registration: dict[str, object]
    notes: tuple[str, ...]
    uncounted: str | None = None


def _file_to_panel(view: ImageView, points: np.ndarray) -> np.ndarray:
    """Full-resolution file (row, col) -> the panel's (row, col) (hung, preview scale)."""
    return view.points_to_display(points) * view.scale


def _panel_to_file(view: ImageView, points: np.ndarray) -> np.ndarray:
    """The panel's (row, col) -> full-resolution file (row, col) (mirroring is its own
    inverse)."""
    return view.points_to_display(np.asarray(points, dtype=float).reshape(-1, 2) / view.scale)


def grid_mapping(
    reg: Registration,
    recent: ImageView,
    prior: ImageView,
    shapes: tuple[tuple[int, int], tuple[int, int]],
    n: int = GRID,
) -> tuple[list[float], list[float]]:
    """The recent -> prior and prior -> recent mappings on ``n`` x ``n`` lattices.

    Args:
        reg: the prior -> recent registration.
        recent, prior: the two panels' views (scale and mirroring).
        shapes: (rows, cols) of the recent panel and of the prior panel.
        n: nodes per side; node (i, j) of a panel of ``rows`` x ``cols`` lies at
            ``(i * (rows - 1) / (n - 1), j * (cols - 1) / (n - 1))``.

    Returns:
        Two flat lists ``[row, col, row, col, ...]`` in row-major node order: the prior
        panel's position of each recent node, and the recent panel's of each prior node.
    """
    if n < 2:
        raise ValueError(f"a mapping lattice needs at least 2 nodes per side, got {n}")

    def lattice(shape: tuple[int, int]) -> np.ndarray:
        rr, cc = np.meshgrid(
            np.linspace(0, shape[0] - 1, n), np.linspace(0, shape[1] - 1, n), indexing="ij"
        )
        return np.stack([rr.ravel(), cc.ravel()], axis=1)

    to_prior = _file_to_panel(
        prior, reg.recent_to_prior(_panel_to_file(recent, lattice(shapes[0])))
    )
    to_recent = _file_to_panel(
        recent, reg.prior_to_recent(_panel_to_file(prior, lattice(shapes[1])))
    )
    return (
        [round(float(v), 2) for v in to_prior.ravel()],
        [round(float(v), 2) for v in to_recent.ravel()],
    )


def _tracked_items(
    tracked: Sequence[Tracked], reg: Registration, recent: ImageView, prior: ImageView
) -> list[dict[str, Any]]:
    """Each tracked item at its place in both panels: a new one at its recent position mapped
    into the prior, a resolved one at its prior position mapped into the recent image."""
    out = []
    for k, t in enumerate(tracked):
        at_recent = t.recent if t.recent is not None else t.recent_at
        at_prior = t.prior
        if at_prior is None and t.recent is not None:
            r, c = reg.recent_to_prior([list(t.recent)])[0]
            at_prior = (float(r), float(c))

        def pt(view: ImageView, p: tuple[float, float] | None) -> list[float] | None:
            if p is None:
                return None
            q = _file_to_panel(view, np.array([p], dtype=float))[0]
            return [round(float(q[0]), 2), round(float(q[1]), 2)]

        out.append(
            {
                "id": k,
                "kind": t.kind,
                "status": t.status,
                "recent": pt(recent, at_recent),
                "prior": pt(prior, at_prior),
            }
        )
    return out


def temporal_panel(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    recent: ImageView,
    prior: ImageView,
    *,
    max_side: int,
    settings: RegistrationSettings | None = None,
) -> TemporalPanel:
    """Register ``case``'s ``view`` (cached per pair and settings) and build its payload.

    Args:
        cache: the image cache (decoded pixels, previews and registrations).
        case: the case; ``view``: ``CC`` or ``MLO``.
        recent, prior: the :class:`~mcalc.viewer.ImageView` of each round's panel (as sent
            by :func:`mcalc.present.reading.reading_panel` with the same ``max_side``).
        max_side: longest side of the panels' pixel grid.
        settings: registration settings (default :class:`RegistrationSettings`).

    Raises:
        TemporalError: the case has no prior (or recent) image of ``view``, or the two are of
            different views or sides; RegistrationError: no breast in one image.
    """
    rec_r, rec_p = pair_records(case, view)
    pair = register_pair(cache, case, view, settings)
    reg = pair.registration
    # On the panels' grids (the registration carried onto them), in the recent image's
    # modality values: the registered prior then takes the recent panel's window.
    small_r = preview_values(cache, rec_r, max_side)
    small_p = preview_values(cache, rec_p, max_side)
    shape_r, shape_p = small_r.shape[:2], small_p.shape[:2]
    change = subtraction(
        small_r,
        small_p,
        resample_mask(pair.recent_mask, shape_r, "nearest"),
        resample_mask(pair.prior_mask, shape_p, "nearest"),
        rescaled(reg, shape_r, shape_p),
    )
    registered = recent.mirror(change.warped_prior)
    sub = recent.mirror(change.subtraction)
    inside = recent.mirror(change.overlap)
    spread = np.abs(sub[inside])
    half = float(np.percentile(spread, SUB_PERCENTILE)) if spread.size else 1.0
    tracked = pair_tracked(pair)
    to_prior, to_recent = grid_mapping(reg, recent, prior, (shape_r, shape_p))
    payload: dict[str, Any] = {
        "view": view,
        "recent_key": rec_r.key,
        "prior_key": rec_p.key,
        "rows": int(shape_r[0]),
        "cols": int(shape_r[1]),
        "spacing": [recent.spacing_mm[0] / recent.scale, recent.spacing_mm[1] / recent.scale],
        "registered": encode_pixels(registered),
        "subtraction": encode_signed(sub),
        "sub_window": [0.0, round(max(2.0 * half, 1.0), 2)],
        "grid": GRID,
        "prior_rows": int(shape_p[0]),
        "prior_cols": int(shape_p[1]),
        "to_prior": to_prior,
        "to_recent": to_recent,
        "tracked": _tracked_items(tracked, reg, recent, prior),
        "method": reg.method,
        "fallback": reg.fallback,
    }
    return TemporalPanel(view, payload, tuple(tracked), reg.summary(), pair.notes, pair.uncounted)


def not_compared(case: CaseRecord, panels: Sequence[Any]) -> dict[str, str]:
    """The views of ``case`` without a registered panel (``panels``' ``view``s), each with
    why in a few words (:func:`mcalc.temporal.pair.not_compared_reason`)."""
    done = {p.view for p in panels}
    return {v: not_compared_reason(case, v) for v in VIEWS if v not in done}


def temporal_args(
    panels: Sequence[TemporalPanel],
    years_between: float | None,
    problems: Sequence[str] = (),
    missing: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The viewer's ``temporal`` argument: every view's payload and the case summary line
    (without any view, the ``problems`` that stopped them, so the viewer says why; views in
    ``missing`` (:func:`not_compared`) are named in the line as not compared)."""
    if not panels:
        summary = "No temporal view: " + (" ".join(problems) or "this case has no prior exam.")
    else:
        summary = case_summary(
            {p.view: p.tracked for p in panels},
            years_between,
            {p.view: p.uncounted for p in panels},
            missing,
        )
    return {"views": [p.payload for p in panels], "summary": summary}


def temporal_offered() -> dict[str, Any]:
    """The viewer's ``temporal`` argument before registering: its toolbar offers a
    *Temporal views* button (and the T key) that asks the page to register."""
    return {"views": [], "summary": "", "off": True}


def temporal_unavailable(case: CaseRecord, rounds: Sequence[str]) -> str | None:
    """Why the temporal views (a view's prior registered to its recent image: subtraction,
    flicker, swipe, the change table) cannot be offered for ``case``, in one sentence;
    ``None`` where they can. ``rounds``: those the collection has
    (:meth:`~mcalc.dataset.records.DatasetIndex.rounds`; the public collections' manifests:
    ``("recent",)``).

    >>> from pathlib import Path
    >>> from mcalc.dataset.records import ImageRecord
    >>> cc = [ImageRecord("c", "CC", tp, Path(f"{tp}.dcm")) for tp in ("prior", "recent")]
    >>> temporal_unavailable(CaseRecord("c", "p", tuple(cc)), ("prior", "recent")) is None
    True
    >>> temporal_unavailable(CaseRecord("c", "p", tuple(cc[1:])), ("recent",))
    'No temporal views (prior beside recent, registration, subtraction): this collection has one exam per case.'
    >>> temporal_unavailable(CaseRecord("c", "p", tuple(cc[1:])), ("prior", "recent"))
    'No temporal views for this case: none of its views has both a prior and a recent image.'
    """
    if len(rounds) < 2:
        return (
            "No temporal views (prior beside recent, registration, subtraction): this "
            "collection has one exam per case."
        )
    if not _pair_views(case):
        return (
            "No temporal views for this case: none of its views has both a prior and a "
            "recent image."
        )
    return None


def _pair_views(case: CaseRecord) -> list[str]:
    """The views of ``case`` with both a prior and a recent image (those that register).

    >>> _pair_views(CaseRecord("c", "p", ()))
    []
    """
    return [
        view
        for view in VIEWS
        if case.image(view, "prior") is not None and case.image(view, "recent") is not None
    ]


def temporal_bytes(args: dict[str, Any] | None) -> int:
    """Bytes of pixel data in a ``temporal`` argument (base64 text, as sent)."""
    if not args:
        return 0
    return sum(len(v["registered"]) + len(v["subtraction"]) for v in args["views"])


def notes_beside_flag(notes: Sequence[str], reg: Mapping[str, Any]) -> list[str]:
    """The notes of a pair that a caption ending with :func:`registration_flag` does not
    already say (the stage dropped and why was printed twice, once as a note).

    Example:
        >>> reg = {"method": "affine", "fallback": "folds"}
        >>> notes_beside_flag(["registration fell back to the global stage: folds", "x"], reg)
        ['x']
    """
    why = reg.get("fallback")
    return [n for n in notes if not (why and n.endswith(f": {why}"))]


def registration_caption(reg: Mapping[str, Any]) -> str:
    """A registration in plain sentences (markdown), as a presenter reads it out: how the
    prior was aligned and in what time, what :func:`registration_flag` says of a dropped
    stage, the similarity inside the breast before and after, the breast overlap and the
    largest shift. Every number of the registration's record is said.

    Example:
        >>> registration_caption({"method": "affine+bspline", "seconds": 1.234,
        ...     "ncc_before": 0.81, "ncc_after": 0.93, "overlap": 0.95, "max_mm": 3.25})
        'The prior was aligned to the recent exam by a global fit, then a non-rigid one, in 1.2 s. The similarity inside the breast went from 0.810 to 0.930. The breasts overlap by 95%, and nothing was moved more than 3.2 mm.'
        >>> "a little lower" in registration_caption({"method": "affine", "seconds": 1,
        ...     "ncc_before": 0.990, "ncc_after": 0.989, "overlap": 1, "max_mm": 1})
        True
    """
    from mcalc.temporal.register import NOT_REGISTERED, WORSE_MARGIN

    before, after = float(reg["ncc_before"]), float(reg["ncc_after"])
    seconds = f"{float(reg['seconds']):.1f} s"
    if reg.get("method") == NOT_REGISTERED:
        aligned = f"The prior was not aligned to the recent exam ({seconds} spent trying)"
        similarity = f"The similarity inside the breast is {after:.3f}"
    else:
        how = _HOW.get(str(reg.get("method")), f"by {reg.get('method')}")
        aligned = f"The prior was aligned to the recent exam {how}, in {seconds}"
        similarity = f"The similarity inside the breast went from {before:.3f} to {after:.3f}"
        # A kept registration a little below the images as filed read as a failure.
        if after < before:
            similarity += (
                f": a little lower, but by less than {WORSE_MARGIN:g}, so the alignment was "
                "kept (the exams were already close)"
            )
    return (
        f"{aligned}{registration_flag(reg)}. {similarity}. The breasts overlap by "
        f"{reg['overlap']:.0%}, and nothing was moved more than {reg['max_mm']:.1f} mm."
    )


#: How each registration method aligned the prior, in words.
_HOW = {
    "affine": "by a global fit",
    "affine+bspline": "by a global fit, then a non-rigid one",
}


def registration_flag(reg: Mapping[str, Any]) -> str:
    """What a registration's first sentence ends with (markdown): the stage dropped and why,
    or that the pair is compared as filed; ``""`` when every stage run was kept.

    Example:
        >>> registration_flag({"method": "affine", "fallback": "the non-rigid fit folded"})
        '; **only the global fit was kept**: the non-rigid fit folded'
        >>> registration_flag({"method": "affine+bspline", "fallback": None})
        ''
    """
    from mcalc.temporal.register import NOT_REGISTERED

    why = reg.get("fallback")
    if not why:
        return ""
    if reg.get("method") == NOT_REGISTERED:
        return f"; **the exams are compared as filed**: {why}"
    return f"; **only the global fit was kept**: {why}"
