"""Payloads for the reading workstation (the browser viewer component of ``pages/``).

One :func:`reading_panel` per image: its 16-bit values at preview scale (as displayed,
mirrored like :class:`mcalc.viewer.ImageView`), the window, the mm per pixel of that grid,
a label without patient identifiers and the overlays in the same grid. The browser applies
window/level to these true values; nothing here is an 8-bit picture.

Coordinates in a panel are (row, col) of its pixel grid; :func:`marks_from_panel` maps the
reader's marks back to the file's own full-resolution coordinates.

Example:
    >>> import numpy as np
    >>> encode_pixels(np.array([[0, 1], [2, 65535]], dtype=np.uint16))
    'AAABAAIA//8='
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mcalc import imaging
from mcalc.cache import ImageCache
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.memo import per_index
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord, Problem
from mcalc.store.marks import ImageMarks, too_many_vertices
from mcalc.viewer import ImageView, preview_breast, preview_values

__all__ = [
    "panel_label",
    "round_label",
    "slot_name",
    "missing_image",
    "hanging_note",
    "laterality_note",
    "shown_note",
    "unreadable_image",
    "unknown_annotation",
    "image_name",
    "image_names",
    "row_names",
    "encode_pixels",
    "reading_panel",
    "without_dataset_marks",
    "panel_marks",
    "marks_from_panel",
    "payload_bytes",
    "panel_outlines",
    "outlines_from_panel",
    "event_base",
    "REGION_POINTS",
    "panel_regions",
]

#: Most vertices of one annotated region's outline sent to the viewer: a CBIS-DDSM ROI mask
#: or a MIAS circle traced at full resolution has hundreds to thousands of border pixels,
#: which the viewer would only draw as the same dashed line (and every render would carry).
#: 64 left a jagged 4096x3328 ROI 4 preview pixels (1.1 mm) off: docs/measurements.md.
REGION_POINTS = 256

log = logging.getLogger(__name__)


def encode_pixels(values: np.ndarray) -> str:
    """A 2-D array -> base64 of its little-endian uint16 values (clipped to 0..65535).

    Raises:
        ValueError: ``values`` is not 2-D.
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    if arr.dtype != np.uint16:
        arr = np.clip(np.rint(arr), 0, 65535).astype(np.uint16)
    return base64.b64encode(arr.astype("<u2", copy=False).tobytes()).decode("ascii")


def _round_pts(points: np.ndarray, scale: float) -> list[list[float]]:
    return [[round(float(r) * scale, 2), round(float(c) * scale, 2)] for r, c in points]


def round_label(case: CaseRecord, tp: str) -> str:
    """The round and its exam year (``prior 2015``, from the case's exam years, e.g.
    ``2015-2018``), or the years before the recent exam (``prior (−3 y)``), or the round
    alone: the part of :func:`panel_label` after the side and view.

    >>> round_label(CaseRecord("c", "p", (), available="2015-2018"), "prior")
    'prior 2015'
    """
    year = case.exam_year(tp)
    if year is not None:
        return f"{tp} {year}"
    if tp == TIMEPOINTS[0] and case.years_between is not None:
        return f"{tp} (−{case.years_between:g} y)"
    return tp


def panel_label(case: CaseRecord, view: str, tp: str) -> str:
    """Side, view, exam and year (from the case's exam years, e.g. ``2015-2018``), or the
    years before the recent exam: no patient identifier."""
    side = {"L": "L", "R": "R"}.get(case.laterality or "", "?")
    return f"{side} {view} {round_label(case, tp)}"


def slot_name(case: CaseRecord, view: str, tp: str) -> str:
    """An image of ``case`` named in a sentence as its panel is (:func:`panel_label`),
    without the ``?`` of an unknown side.

    >>> slot_name(CaseRecord("c", "p", (), laterality="R"), "CC", "prior")
    'R CC prior'
    >>> slot_name(CaseRecord("c", "p", ()), "MLO", "recent")
    'MLO recent'
    """
    sided = case.laterality in ("L", "R")
    return panel_label(case, view, tp) if sided else f"{view} {round_label(case, tp)}"


def missing_image(case: CaseRecord, view: str, tp: str) -> str:
    """What a page says where ``case`` has no image of ``view`` and round ``tp``: named as
    its panel would be (:func:`slot_name`).

    >>> missing_image(CaseRecord("c", "p", (), laterality="R"), "CC", "prior")
    'R CC prior: this case has no such image.'
    >>> missing_image(CaseRecord("c", "p", ()), "MLO", "recent")
    'MLO recent: this case has no such image.'
    """
    return f"{slot_name(case, view, tp)}: this case has no such image."


def hanging_note(case: CaseRecord, views: Sequence[str], rounds: Sequence[str]) -> str | None:
    """What a page says once where ``case``'s hanging (each view beside each round) has
    empty places, ``None`` where it has none: what the collection never has (``views``,
    ``rounds``: those its images have, :meth:`DatasetIndex.views`), then what this case
    lacks of the rest. Not a warning per empty panel: mini-MIAS (MLO only) and a CBIS-DDSM
    case of CC alone lack no image the collection could give them.

    >>> from pathlib import Path
    >>> mlo = ImageRecord("c", "MLO", "recent", Path("c.pgm"))
    >>> hanging_note(CaseRecord("c", "p", (mlo,)), ("MLO",), ("recent",))
    'This collection has MLO images only, of one exam.'
    >>> hanging_note(CaseRecord("c", "p", (mlo,)), VIEWS, ("recent",))
    'This collection has one exam per case; this case has no CC image.'
    >>> hanging_note(CaseRecord("c", "p", (mlo,)), VIEWS, TIMEPOINTS)
    'This case has no CC image and no prior image.'
    """
    only = [f"{' and '.join(views)} images only"] if tuple(views) != VIEWS else []
    if len(rounds) == 1:
        only.append("of one exam" if only else "one exam per case")
    lacks = [(v, t) for v in views for t in rounds if case.image(v, t) is None]
    gone_views = [v for v in views if all((v, t) in lacks for t in rounds)]
    gone_rounds = [t for t in rounds if all((v, t) in lacks for v in views)]
    parts = [f"no {v} image" for v in gone_views]
    if len(rounds) > 1:
        parts += [f"no {t} image" for t in gone_rounds]
    rest = [(v, t) for v, t in lacks if v not in gone_views and t not in gone_rounds]
    parts += [f"no {v} {t} image" for v, t in rest]
    said = []
    if only:
        said.append(f"this collection has {', '.join(only)}")
    if parts:
        said.append(f"this case has {' and '.join(parts)}")
    if not said:
        return None
    text = "; ".join(said)
    return text[0].upper() + text[1:] + "."


def laterality_note(case: CaseRecord, problems: Sequence[Problem]) -> str | None:
    """What Browse says under ``case``'s facts when a file's laterality tag contradicts the
    case's (``problems``: :func:`mcalc.scan.laterality_disagreements`, of any case), where
    the panel is titled and hung by the case's side alone; ``None`` where none does.

    >>> from pathlib import Path
    >>> rec = ImageRecord("c", "MLO", "recent", Path("c/MLO_recent.dcm"))
    >>> case = CaseRecord("c", "p", (rec,), laterality="R")
    >>> laterality_note(case, [Problem("c/MLO_recent.dcm", "laterality tag says L, the spreadsheet says R")])
    'MLO recent: the laterality tag says L, the spreadsheet says R; the panel is titled and hung as R: check which breast the file shows.'
    """
    slots = {str(rec.image_path): rec for rec in case.images}
    said = [
        f"{slots[p.path].view} {slots[p.path].timepoint}: the {p.message}"
        for p in problems
        if p.path in slots
    ]
    if not said:
        return None
    side = case.laterality or "?"
    return (
        "; ".join(said)
        + f"; the panel{'s are' if len(said) > 1 else ' is'} titled and hung as {side}: check "
        + f"which breast the file{'s show' if len(said) > 1 else ' shows'}."
    )


def shown_note(case: CaseRecord, asked: str, view: str, times: Sequence[str]) -> str | None:
    """What Predict says once where it shows other than the reader asked: ``view`` (the
    one ``case`` has, :meth:`CaseRecord.view_shown`) for the ``asked`` one, the one round
    of a one-round case asked at both ``times``; ``None`` where it shows what was asked.
    (A missing view read "has one screening round: the CC prior exam does not exist",
    twice: once per round.)

    >>> from pathlib import Path
    >>> case = CaseRecord("c", "p", (ImageRecord("c", "MLO", "recent", Path("c.pgm")),))
    >>> shown_note(case, "CC", "MLO", TIMEPOINTS)
    'c has no CC image: its MLO is shown (one exam).'
    >>> shown_note(case, "MLO", "MLO", TIMEPOINTS)
    'c has one exam: its MLO recent image is shown.'
    >>> shown_note(case, "MLO", "MLO", ["recent"]) is None
    True
    """
    one = len(times) > 1 and case.one_round and bool(case.images)
    if view != asked:
        return f"{case.case_id} has no {asked} image: its {view} is shown" + (
            " (one exam)." if one else "."
        )
    if one:
        return f"{case.case_id} has one exam: its {view} {case.images[0].timepoint} image is shown."
    return None


def unreadable_image(case: CaseRecord, view: str, tp: str, reason: object) -> str:
    """What a page says where ``case``'s image of ``view`` and round ``tp`` cannot be read
    (``reason``: the error, which names the file): named as its panel would be.

    >>> unreadable_image(CaseRecord("c", "p", (), laterality="L"), "CC", "prior", "x.dcm: bad")
    'L CC prior: x.dcm: bad'
    """
    return f"{slot_name(case, view, tp)}: {reason}"


def unknown_annotation(case: CaseRecord, view: str, tp: str, missing: str) -> str:
    """What a page says where ``case``'s image of ``view`` and round ``tp`` lacks the
    annotation file ``missing`` that the collection should have: named as its panel would
    be.

    >>> unknown_annotation(CaseRecord("c", "p", (), laterality="L"), "MLO", "prior",
    ...                    "MLO_prior_GT.jpg")  # doctest: +NORMALIZE_WHITESPACE
    'L MLO prior: no annotation (MLO_prior_GT.jpg is missing): its calcifications are
    unknown, not none; training, evaluation and changes between exams leave it out.'
    """
    return (
        f"{slot_name(case, view, tp)}: no annotation ({missing} is missing): its "
        "calcifications are unknown, not none; training, evaluation and changes between "
        "exams leave it out."
    )


def image_name(case: CaseRecord, view: str, tp: str) -> str:
    """An image named in a list across cases (Audit, Batch): its case, then its
    :func:`panel_label`.

    >>> c = CaseRecord("suspicious-1", "p", (), laterality="L", available="2016-2018")
    >>> image_name(c, "CC", "recent")
    'suspicious-1 · L CC recent 2018'
    """
    return f"{case.case_id} · {panel_label(case, view, tp)}"


@per_index
def image_names(index: DatasetIndex) -> Mapping[str, str]:
    """Every image of ``index``: its key (``suspicious-1/CC_recent``) -> :func:`image_name`.

    Built once per index object (:func:`mcalc.dataset.memo.per_index`: the pages' index is
    one cached object, so a rerun finds its names instead of naming every image again)
    and shared, hence read only.
    """
    return MappingProxyType(
        {
            rec.key: image_name(case, rec.view, rec.timepoint)
            for case in index.cases
            for rec in case.images
        }
    )


def row_names(rows: pd.DataFrame, names: Mapping[str, str]) -> list[str]:
    """The images of a batch run's rows (``image_key``, ``case_id``, ``laterality``,
    ``view``, ``timepoint``) in words: ``names[image_key]`` where the dataset in use holds
    the image (:func:`image_names`: with its exam year), else from the row's own case,
    side, view and round (:func:`image_name`; a run over another dataset: no year).

    Raises:
        KeyError: ``rows`` lacks one of those columns.
    """
    columns = ("image_key", "case_id", "laterality", "view", "timepoint")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise KeyError(f"rows need the columns {columns}, these are missing: {missing}")
    out = []
    for key, case_id, side, view, tp in rows[list(columns)].itertuples(index=False):
        known = names.get(str(key))
        if known is None:
            case = CaseRecord(str(case_id), "", (), laterality=str(side or "") or None)
            known = image_name(case, str(view), str(tp))
        out.append(known)
    return out


def reading_panel(
    cache: ImageCache,
    rec: ImageRecord,
    view: ImageView,
    *,
    label: str,
    view_name: str,
    time: str,
    max_side: int,
    marks: ImageMarks | None = None,
    with_pixels: bool = True,
) -> dict[str, Any]:
    """One panel of the viewer: pixels, window, spacing, label and overlays.

    Args:
        cache: the image cache (decoded images and previews are shared with the pages).
        rec: the image.
        view: its :func:`mcalc.viewer.prepare_view` (orientation, scale, overlays).
        label: drawn on the panel (side, view, exam, year); never a patient identifier.
        view_name: ``CC`` or ``MLO`` (synchronisation groups).
        time: ``prior`` or ``recent`` (synchronisation groups).
        max_side: longest side of the pixel grid sent (the preview's).
        marks: a reader's marks to edit on this panel (file coordinates), if any.
        with_pixels: ``False`` leaves ``pixels`` out (a caller that sends them as binary,
            :mod:`mcalc.present.panel_cache`).
    """
    mammo = cache.load_record(rec)
    values = preview_values(cache, rec, max_side)
    shown = view.mirror(values)
    rows, cols = shown.shape[:2]
    scale = view.scale
    region = preview_breast(cache, rec, max_side)  # memoised: prepare_view made it
    percentiles = {n: pct for n, pct in imaging.WINDOW_PRESETS.items() if pct is not None}
    windows: dict[str, list[float]] = {
        name: [round(float(c), 2), round(float(w), 2)]
        for name, (c, w) in imaging.auto_windows(values, region, percentiles).items()
    }
    panel: dict[str, Any] = {
        "key": rec.key,
        "label": label,
        "view": view_name,
        "time": time,
        "rows": int(rows),
        "cols": int(cols),
        "scale": scale,
        "spacing": [view.spacing_mm[0] / scale, view.spacing_mm[1] / scale],
        "window": [float(view.window[0]), float(view.window[1])],
        # The toolbar's File W/L (key 0): the DICOM's own window, whatever the page chose.
        "file_window": [float(mammo.window_center), float(mammo.window_width)],
        "presets": windows,
        "invert": bool(mammo.monochrome1 != view.invert),
        # The viewer's invert flips the pixels as stored: a MONOCHROME1 file shows as usual
        # (calcifications bright) inverted; its toolbar's Invert is lit when flipped from that.
        "monochrome1": bool(mammo.monochrome1),
        "points": _round_pts(view.calc_points, scale),
        "outlines": [_round_pts(h, scale) for h in view.cluster_hulls],
        "region_outlines": panel_regions(view),
    }
    if with_pixels:
        panel["pixels"] = encode_pixels(shown)
    if marks is not None:
        panel["marks"] = panel_marks(view, marks)
    return panel


def without_dataset_marks(panels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panels without the dataset's calcification markers, cluster outlines and region
    outlines (``points``, ``outlines``, ``region_outlines``): what the viewer draws when the
    reader hides them. New dicts; the panels given (and the cache's lists they hold) are
    left as they are.

    Example:
        >>> without_dataset_marks([{"key": "a", "points": [[1.0, 2.0]], "outlines": []}])
        [{'key': 'a', 'points': [], 'outlines': [], 'region_outlines': []}]
    """
    return [{**p, "points": [], "outlines": [], "region_outlines": []} for p in panels]


def _simplified(outline: np.ndarray, most: int) -> np.ndarray:
    """A closed polygon (K, 2) with at most ``most`` vertices, within half a pixel of
    ``outline`` where that many suffice (Douglas-Peucker, :func:`cv2.approxPolyDP`; the
    tolerance grows by half until it fits)."""
    if len(outline) <= 3:
        return outline
    curve = np.ascontiguousarray(outline[:, ::-1], dtype=np.float32).reshape(-1, 1, 2)
    eps = 0.5
    while True:
        poly = cv2.approxPolyDP(curve, eps, True).reshape(-1, 2)[:, ::-1]
        if len(poly) <= most:
            return poly.astype(float)
        eps *= 1.5


def panel_regions(view: ImageView, most: int = REGION_POINTS) -> list[list[list[float]]]:
    """The annotation's regions (``annotation_kind`` ``region``: a CBIS-DDSM ROI, a VinDr
    box, a MIAS circle; :attr:`ImageView.region_outlines`) as closed polygons in a panel's
    pixel grid, each simplified to at most ``most`` vertices within half a panel pixel
    where that suffices: the ``region_outlines`` of :func:`reading_panel`, which the viewer
    outlines in dashed orange. Empty for an annotation of calcifications.
    """
    scale = view.scale
    out = []
    for outline in view.region_outlines:
        if len(outline) == 0:
            continue
        shown = np.asarray(outline, dtype=float).reshape(-1, 2) * scale
        out.append(_round_pts(_simplified(shown, most), 1.0))
    return out


def panel_marks(view: ImageView, marks: ImageMarks) -> list[dict[str, Any]]:
    """A reader's marks (file coordinates) in a panel's pixel grid, for the ``marks`` of
    :func:`reading_panel` (a page can cache the panel and add the marks afterwards)."""
    scale = view.scale
    out = []
    for p in marks.points:
        row, col = view.to_display(p.row, p.col)
        out.append(
            {
                "id": p.id,
                "row": round(row * scale, 3),
                "col": round(col * scale, 3),
                "label": p.label,
            }
        )
    return out


def marks_from_panel(
    view: ImageView, raw: Sequence[dict[str, Any]]
) -> list[tuple[str | None, float, float, str]]:
    """The browser's marks of one panel -> ``(id or None for new, row, col, label)`` in the
    file's own full-resolution coordinates.

    Raises:
        ValueError: a mark without numeric row/col or a label.
    """
    out: list[tuple[str | None, float, float, str]] = []
    for m in raw:
        try:
            r, c = float(m["row"]) / view.scale, float(m["col"]) / view.scale
            label = str(m["label"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a mark needs numeric 'row', 'col' and a 'label'; got {m!r}") from exc
        mid = str(m.get("id") or "")
        fr, fc = view.to_file(r, c)
        out.append((None if mid.startswith("new-") or not mid else mid, fr, fc, label))
    return out


def payload_bytes(panels: Sequence[dict[str, Any]]) -> int:
    """Bytes of pixel data sent for ``panels`` (base64 text, what crosses the websocket)."""
    return sum(len(p["pixels"]) for p in panels)


def panel_outlines(view: ImageView, marks: ImageMarks) -> list[dict[str, Any]]:
    """A reader's cluster outlines and regions of interest (file coordinates) in a panel's
    pixel grid: ``{"id", "kind", "label", "points": [[row, col], ...]}`` each."""
    scale = view.scale
    out = []
    for reg in marks.regions:
        pts = [view.to_display(r, c) for r, c in reg.polygon]
        out.append(
            {
                "id": reg.id,
                "kind": reg.kind,
                "label": reg.label,
                "points": [[round(r * scale, 3), round(c * scale, 3)] for r, c in pts],
            }
        )
    return out


def outlines_from_panel(
    view: ImageView, raw: Sequence[dict[str, Any]]
) -> list[tuple[str | None, str, list[tuple[float, float]], str]]:
    """The browser's outlines of one panel -> ``(id or None for new, kind, polygon, label)``
    with the polygon in the file's own full-resolution coordinates.

    Raises:
        ValueError: an outline without a kind, a label or numeric vertices, or with more
            than :data:`~mcalc.store.marks.MAX_REGION_VERTICES`.
    """
    out: list[tuple[str | None, str, list[tuple[float, float]], str]] = []
    for m in raw:
        points = m.get("points") if isinstance(m, dict) else None
        if isinstance(points, list) and (problem := too_many_vertices(len(points))):
            raise ValueError(f"an outline not saved: {problem}")  # before reading any
        try:
            kind, label = str(m["kind"]), str(m["label"])
            pts = [(float(r) / view.scale, float(c) / view.scale) for r, c in m["points"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"an outline needs a 'kind', a 'label' and 'points' [[row, col], ...]; got {m!r}"
            ) from exc
        mid = str(m.get("id") or "")
        poly = [view.to_file(r, c) for r, c in pts]
        out.append((None if mid.startswith("new-") or not mid else mid, kind, poly, label))
    return out


#: What :func:`event_base` answers for an event whose ``base`` is not a version number.
BAD_BASE = -1


def event_base(event: Mapping[str, Any]) -> int | None:
    """The marks version a viewer event says its browser loaded (``base``): ``None`` when it
    names none, :data:`BAD_BASE` (logged) when it is not a whole number >= 0.

    The viewer sends an int or null; anything else came from elsewhere (a crafted message,
    an old viewer) and raised in the reader's session.

    >>> event_base({"base": 3}), event_base({"base": "4"}), event_base({})
    (3, 4, None)
    >>> event_base({"base": "x"}), event_base({"base": True}), event_base({"base": 1.5})
    (-1, -1, -1)
    """
    raw = event.get("base")
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    if isinstance(raw, float) and raw.is_integer() and raw >= 0:
        return int(raw)
    log.warning(
        "viewer event %r: base %.40r is not a version number; ignored", event.get("type"), raw
    )
    return BAD_BASE
