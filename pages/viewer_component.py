"""The reading workstation: a Streamlit component over Cornerstone3D (components/viewer).

Pages build panels with :func:`mcalc.present.reading.reading_panel` and call
:func:`reading_viewer`; zoom, pan, window/level, magnifier, ruler, probe and marking run
in the browser. Python gets only small events back: ``{"type": "next" | "previous" |
"save" | "region" | "temporal" | "fullres", "seq": ..., "marks": [...], "outlines": [...]}``;
:func:`new_event` hands each one out once.

Full resolution: the panels carry preview-scale pixels; when the reader zooms past that
scale the browser asks once per case (``{"type": "fullres", "case": ..., "keys": [...]}``);
the page reads the request with :func:`fullres_request` *before* drawing the viewer and
passes :func:`mcalc.present.fullres.fullres_payload` as ``fullres`` in that same run, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.fullres import fullres_payload
from mcalc.store.marks import LABELS
from mcalc.viewer import ImageView
from pages import common

DIST = Path(__file__).resolve().parent.parent / "components" / "viewer" / "dist"
_SEEN = "viewer_seen_events"
_FULLRES_SEEN = "viewer_fullres_answered"

_component: Any = None


def available() -> bool:
    """Whether the built component is there (``components/viewer/dist``)."""
    return (DIST / "index.html").is_file() and (DIST / "viewer.js").is_file()


def _get() -> Any:
    global _component
    if _component is None:
        _component = components.declare_component("mcalc_viewer", path=str(DIST))
    return _component


def reading_viewer(
    panels: list[dict[str, Any]],
    *,
    case_key: str,
    key: str,
    height: int = 620,
    editable: str | None = None,
    marks_version: int = 0,
    fullres: tuple[list[dict[str, Any]], bytes] | None = None,
    temporal: dict[str, Any] | None = None,
    focus: dict[str, Any] | None = None,
    overlays: dict[str, Any] | None = None,
    pixels: tuple[list[dict[str, Any]], bytes] | None = None,
    on_change: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Draw the viewer; returns the newest event (or ``None``).

    Args:
        panels: from :func:`mcalc.present.reading.reading_panel`, in hanging order.
        case_key: what is shown; the browser rebuilds its panels only when it changes.
        key: the widget key (carry the page's name).
        height: height of the image row in CSS pixels.
        editable: key of the panel whose reader marks are edited (Annotate), else ``None``.
        marks_version: change it to make the browser reload the marks from ``panels``
            (after a save or an edit elsewhere); unsaved browser marks are kept otherwise.
        fullres: an answer to :func:`fullres_request` (index and blob of
            :func:`mcalc.present.fullres.fullres_payload`); sent in this run only, the
            browser keeps the images (a byte-bounded LRU).
        temporal: from :func:`mcalc.present.reading_temporal.temporal_args` (registered
            prior, subtraction, mapping, tracked items per view), ``temporal_offered()``
            (a button that sends ``{"type": "temporal"}`` to ask for them), or ``None``
            (no temporal modes, e.g. Annotate).
        focus: ``{"view", "key", "recent", "prior"}`` (panel coordinates): centre both rounds
            of that view on a spot once per new ``key``.
        overlays: Predict's layer settings (``lut``, ``cmap``, ``opacity``, ``map``) when
            the panels carry ``layers`` (:mod:`mcalc.present.reading_overlays`).
        pixels: the index and blob of :func:`mcalc.present.panel_cache.case_payload` for
            panels that name a ``pixel_id`` instead of carrying ``pixels`` (binary, sent
            only when the browser lacks them; it asks with ``{"type": "pixels", "keys"}``).
        on_change: called before the next run when the viewer sends an event (read it
            with :func:`new_event` from ``st.session_state[key]``): the run that follows
            already shows its effect (a case switch in one run, not two).

    Raises:
        FileNotFoundError: the component is not built (see ``components/viewer``).
    """
    if not available():
        raise FileNotFoundError(
            f"the viewer component is not built: {DIST} has no index.html/viewer.js; "
            "run `npm ci && npm run build` in components/viewer"
        )
    value = _get()(
        case_key=case_key,
        panels=panels,
        height=height,
        editable=editable,
        marks_version=marks_version,
        labels=list(LABELS),
        # Binary argument (no base64): Streamlit sends bytes as they are.
        fullres=fullres[0] if fullres else [],
        fullres_data=fullres[1] if fullres else b"",
        temporal=temporal,
        focus=focus,
        overlays=overlays,
        pixels=pixels[0] if pixels else [],
        pixels_data=pixels[1] if pixels else b"",
        key=key,
        default=None,
        on_change=on_change,
    )
    return value if isinstance(value, dict) else None


def new_event(event: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """``event`` if it was not handed out before for this viewer ``key``, else ``None``
    (a component keeps its last value across reruns)."""
    if not event or "seq" not in event:
        return None
    seen: dict[str, str] = st.session_state.setdefault(_SEEN, {})
    if seen.get(key) == event["seq"]:
        return None
    seen[key] = str(event["seq"])
    return event


def fullres_request(key: str, case_key: str) -> list[str]:
    """Image keys whose full-resolution pixels the viewer ``key`` asked for, for the case
    ``case_key``, if that request was not answered yet; else ``[]``.

    Read before drawing the viewer (its value from the run's session state), so the
    answer goes out in the same run; each request is answered once (the browser asks again
    if the answer never arrived)."""
    event = st.session_state.get(key)
    if not isinstance(event, dict) or event.get("type") != "fullres":
        return []
    if event.get("case") != case_key or "seq" not in event:
        return []
    answered: dict[str, str] = st.session_state.setdefault(_FULLRES_SEEN, {})
    if answered.get(key) == event["seq"]:
        return []
    answered[key] = str(event["seq"])
    return [str(k) for k in event.get("keys") or []]


def fullres_answer(
    key: str,
    case_key: str,
    images: Iterable[ImageRecord],
    view_of: Callable[[ImageRecord], ImageView],
) -> tuple[list[dict[str, Any]], bytes] | None:
    """The answer to the viewer ``key``'s pending full-resolution request for ``case_key``
    (:func:`fullres_request`), for those of ``images`` it asked for (each prepared with
    ``view_of``), or ``None``: no request, or an image that cannot be read (said on the
    page). Pass it as ``fullres`` to :func:`reading_viewer` in the same run."""
    wanted = fullres_request(key, case_key)
    if not wanted:
        return None
    try:
        items = [(rec, view_of(rec)) for rec in images if rec.key in wanted]
        return fullres_payload(common.get_image_cache(), items)
    except ImageReadError as exc:
        st.warning(f"Full resolution not available: {exc}")
        return None
