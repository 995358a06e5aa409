"""The reading workstation: a Streamlit component over Cornerstone3D (components/viewer).

Pages build panels with :func:`mcalc.present.reading.reading_panel` and call
:func:`reading_viewer`; zoom, pan, window/level, magnifier, ruler, probe and marking run
in the browser. Python gets only small events back: ``{"type": "next" | "previous" |
"save" | "region" | "temporal" | "fullres", "seq": ..., "marks": [...], "outlines": [...]}``;
:func:`new_event` hands each one out once.

Full resolution: the panels carry preview-scale pixels. The page passes
:func:`fullres_answer` as ``fullres``: that starts encoding the case's images in the
background (:class:`mcalc.present.fullres.FullresStore`, shared by all sessions) and
:func:`reading_viewer` draws, under the viewer, a zero-height channel component
(``components/viewer/dist/channel``) inside an ``st.fragment``. When the reader zooms past
the preview the viewer asks the channel (a ``postMessage`` between the two frames); the
channel's value change reruns only that fragment, which answers with every image ready
(:func:`fullres_payload`: each one of the session's media files, its URL in the answer,
fetched by the viewer in parallel; inline bytes where that cannot be); the channel hands
the answer to the viewer and asks for the rest, if any, at once; the page itself never
reruns for them. The codec is chosen per browser (:func:`_codec`).

One frame for Browse and Annotate: Streamlit keeps a component's frame across a page
switch only when the entrypoint (``app.py``, not the page) draws it, in a container the
entrypoint made, under the same key (docs/measurements.md, "can the viewer's frame survive
a page switch?"). :func:`viewer_slot` is that place, around the page's run
(:func:`pages.common.run_app`): a page's :func:`reading_viewer` hands its arguments to
the slot, which draws them after the page, under the one key :data:`SLOT_KEY`; the
viewer's events are copied to the page's own key and its ``on_change`` called, so a page
reads them as before. What a page draws under its viewer goes in :func:`below`. A page
without a viewer draws it hidden (height 0: :data:`HIDDEN_ON_OTHER_PAGES`), its case and
images kept for the next page with one. Predict draws its own (its region clicks rerun a
fragment of its own, which an entrypoint's element cannot be in: ``in_slot=False``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.fullres import FullresStore, Item, codec_for
from mcalc.present.pixels import SentPixels
from mcalc.store.marks import LABELS
from mcalc.viewer import ImageView
from pages import common, state

DIST = Path(__file__).resolve().parent.parent / "components" / "viewer" / "dist"
_SEEN = "viewer_seen_events"
_FULLRES_SEEN = "viewer_fullres_answered"

_component: Any = None
_channel: Any = None

#: The pages that hand their viewer to :func:`viewer_slot` (scripts, as in
#: :data:`pages.menu.PAGES`); every other page has it hidden before its run.
SLOT_PAGES = ("pages/browse.py", "pages/annotate.py")
#: The widget key of the viewer :func:`viewer_slot` draws (Browse's and Annotate's, one
#: frame); each page's events are handed on under the page's own key.
SLOT_KEY = "reading_viewer"
#: Pages without a viewer draw the slot's hidden (the frame, its canvases and images kept
#: for the next page with one) once a page showed it in the session; ``False``: they draw
#: none and the next one is a new frame, which cost a return to Browse from Predict 0.81
#: CPU-s of Chromium against 0.44 (docs/measurements.md, "one viewer frame for Browse and
#: Annotate").
HIDDEN_ON_OTHER_PAGES = True
_SHOWN = "reading_viewer_shown"  # a page showed the slot's viewer in this session
_SLOT = threading.local()  # the slot of this script thread's run (pages.common._RUN's reason)


@dataclass
class _Slot:
    """Where the entrypoint draws the viewer, and what the page handed it."""

    place: Any  # DeltaGenerator: a container the entrypoint made before the page's run
    below: Any  # DeltaGenerator: what the page draws under the viewer
    args: dict[str, Any] | None = None
    page_key: str = ""
    on_change: Callable[[], None] | None = None
    drawn: Callable[[], object] | None = None


@contextmanager
def viewer_slot(hands_viewer: bool = True) -> Iterator[None]:
    """Run the selected page inside this (``app.py``'s :func:`pages.common.run_app`): three
    containers, the page's run drawn in the first, the viewer it handed
    (:func:`reading_viewer`) in the second once the page ran to its end, what it drew
    under the viewer (:func:`below`) in the third. A page that ends with ``st.stop()``,
    ``st.rerun()`` or an error draws no viewer (Streamlit draws nothing after those): a
    page stops before handing it, not after.

    ``hands_viewer`` ``False`` (a page not in :data:`SLOT_PAGES`): the viewer is drawn
    hidden before the page runs, not after; the page's own viewers are its own
    (``in_slot`` has no slot to go to). Drawn after, the frame the last page showed stayed
    on screen under this page's content while it ran: Predict's first run on a fresh
    server (the model's loading, the first analysis) showed Browse's four panels for
    10 s, its spinner over their toolbar (docs/measurements.md, h/presenter3)."""
    above, place, below_ = st.container(), st.container(), st.container()
    slot = _Slot(place, below_)
    if not hands_viewer:
        _draw(slot)
        with above:
            yield
        return
    _SLOT.current = slot
    try:
        with above:
            yield
    finally:
        _SLOT.current = None
    _draw(slot)


def below() -> Any:
    """The container under the slot's viewer (a context manager): what a page draws under
    its viewer goes here. Outside ``app.py``'s run (a page run alone), where it is."""
    slot: _Slot | None = getattr(_SLOT, "current", None)
    return slot.below if slot is not None else nullcontext()


def _route(page_key: str, on_change: Callable[[], None] | None) -> None:
    """The slot's viewer sent an event: the page that drew it reads it under its own key."""
    st.session_state[page_key] = st.session_state.get(SLOT_KEY)
    if on_change is not None:
        on_change()


def _draw(slot: _Slot) -> None:
    if slot.args is None:
        if HIDDEN_ON_OTHER_PAGES and st.session_state.get(_SHOWN):
            with slot.place:
                _get()(hidden=True, key=SLOT_KEY, default=None)
        return
    st.session_state[_SHOWN] = True
    with slot.place:
        _get()(
            **slot.args,
            key=SLOT_KEY,
            default=None,
            on_change=partial(_route, slot.page_key, slot.on_change),
        )
    if slot.drawn is not None:
        slot.drawn()


def available() -> bool:
    """Whether the built component is there (``components/viewer/dist``)."""
    return (DIST / "index.html").is_file() and (DIST / "viewer.js").is_file()


def _get() -> Any:
    global _component
    if _component is None:
        _component = components.declare_component("mcalc_viewer", path=str(DIST))
    return _component


def _get_channel() -> Any:
    global _channel
    if _channel is None:
        _channel = components.declare_component("mcalc_fullres", path=str(DIST / "channel"))
    return _channel


@dataclass(frozen=True)
class FullresSource:
    """What the viewer ``key`` showing ``case_key`` may ask for at full resolution: its
    images larger than their preview, each with its view (from :func:`fullres_answer`)."""

    key: str
    case_key: str
    items: tuple[Item, ...]


def reading_viewer(
    panels: list[dict[str, Any]],
    *,
    case_key: str,
    key: str,
    height: int = 620,
    editable: str | None = None,
    marks_version: int = 0,
    marks_owner: str | None = None,
    fullres: FullresSource | None = None,
    temporal: dict[str, Any] | None = None,
    focus: dict[str, Any] | None = None,
    overlays: dict[str, Any] | None = None,
    pixels: tuple[list[dict[str, Any]], bytes] | None = None,
    pixels_ahead: dict[str, Any] | None = None,
    neighbours: dict[str, Any] | None = None,
    ask_ahead: bool = False,
    on_change: Callable[[], None] | None = None,
    in_slot: bool = True,
    drawn: Callable[[], object] | None = None,
) -> dict[str, Any] | None:
    """Draw the viewer; returns the newest event (or ``None``).

    In ``app.py``'s run (:func:`viewer_slot`) and with ``in_slot``, the viewer is drawn
    after the page, in the slot (one frame kept across page switches); its events reach
    ``st.session_state[key]`` and ``on_change`` as a viewer of the page's own would. What
    the page draws under it goes in :func:`below`. One viewer per run in the slot.

    Args:
        panels: from :func:`mcalc.present.reading.reading_panel`, in hanging order.
        case_key: what is shown; the browser rebuilds its panels only when it changes.
        key: the widget key (carry the page's name).
        height: height of the image row in CSS pixels.
        editable: key of the panel whose reader marks are edited (Annotate), else ``None``.
        marks_version: change it to make the browser reload the marks from ``panels``
            (after a save or an edit elsewhere); unsaved browser marks are kept otherwise.
        marks_owner: whose marks ``editable`` edits (the reader): the browser keeps the
            unsaved marks of an image left for another per reader and image, so that they
            come back to that reader only.
        fullres: from :func:`fullres_answer`: the viewer may ask for these images at
            full resolution (answered by a channel fragment drawn under it when any image
            is larger than its preview, every image ready per answer; the browser keeps
            them in a byte-bounded LRU); ``None``: previews only.
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
        pixels_ahead: from :func:`pixels_apart`: pixels for later cases that the browser
            fetches by URL once this render is drawn (not part of the render message).
        neighbours: ``{"next" | "previous": {"case_key", "panels", "button"}}``: the
            cases the viewer's N/P keys and the page's button of that key (a widget key)
            lead to, with panels whose pixels the browser holds: the viewer shows such a
            case at the key or click itself (when it holds every image), and the run
            that follows confirms it (``components/viewer/src/neighbour.ts``).
        ask_ahead: the viewer, once it has this render and the case's pixels, asks for
            the pixels of the next one (``{"type": "ahead", "case"}``, once per case; Browse's page load:
            ``components/viewer/src/ahead.ts``).
        on_change: called before the next run when the viewer sends an event (read it
            with :func:`new_event` from ``st.session_state[key]``): the run that follows
            already shows its effect (a case switch in one run, not two).
        in_slot: ``False``: drawn here, a frame of this page's (Predict's, in its
            fragment).
        drawn: called once the viewer's message is out (in the slot: after the page),
            for work that should not compete with it (Browse's prefetch).

    Raises:
        FileNotFoundError: the component is not built (see ``components/viewer``).
    """
    if not available():
        raise FileNotFoundError(
            f"the viewer component is not built: {DIST} has no index.html/viewer.js; "
            "run `npm ci && npm run build` in components/viewer"
        )
    args: dict[str, Any] = {
        "case_key": case_key,
        "panels": panels,
        "height": height,
        "editable": editable,
        "marks_version": marks_version,
        "marks_owner": marks_owner,
        "labels": list(LABELS),
        "temporal": temporal,
        "focus": focus,
        "overlays": overlays,
        "pixels": pixels[0] if pixels else [],
        "pixels_data": pixels[1] if pixels else b"",
        "pixels_ahead": pixels_ahead,
        "neighbours": neighbours,
        "ask_ahead": ask_ahead,
    }
    slot: _Slot | None = getattr(_SLOT, "current", None) if in_slot else None
    if slot is not None:
        if slot.args is not None:
            raise RuntimeError(
                f"a second viewer in the slot in one run ({key!r} after {slot.page_key!r}): "
                "the slot draws one; pass in_slot=False to draw another on the page"
            )
        slot.args, slot.page_key, slot.on_change, slot.drawn = args, key, on_change, drawn
        value = st.session_state.get(key)
    else:
        value = _get()(**args, key=key, default=None, on_change=on_change)
        if drawn is not None:
            drawn()
    if fullres is not None and fullres.items:  # else nothing to ask for: no channel
        _fullres_channel(fullres)
    return value if isinstance(value, dict) else None


def pixels_apart(
    index: list[dict[str, Any]], data: bytes, coordinates: str
) -> dict[str, Any] | None:
    """Pixels sent ahead (``index`` into ``data``, see
    :func:`mcalc.present.panel_cache.case_payload`'s ``ahead_apart``) as a file of this
    session's that the viewer fetches by URL after drawing its case (Streamlit's media
    files, the store of ``st.image``): the run and its websocket message carry only
    ``{"url", "index"}``. The file is this session's under ``coordinates`` until a later
    run (not a fragment's) no longer offers it. ``None`` when there is nothing, or no
    media store to put it in (no Streamlit server: the caller sends them in the render).
    """
    if not index or not data:
        return None
    url = _media_url(data, f"mcalc-pixels-ahead:{coordinates}")
    return None if url is None else {"url": url, "index": index}


def sent_pixels() -> SentPixels:
    """The pixel ids this session's browser tab holds (:class:`SentPixels`, one record for
    Browse, Annotate and Predict, kept in the session under
    :data:`pages.state.PIXELS_SENT_KEY`). The ids name the values alone
    (:func:`mcalc.present.pixels.pixel_id`), so an image one page sent is the image
    another shows. A page switch to or from Predict unmounts a viewer (Browse's and
    Annotate's is one frame, kept: :func:`viewer_slot`), but the browser tab keeps what it
    was sent (the viewer's ``pixels.ts`` keeps every image's compressed bytes in the
    Streamlit page around its frame, which lives as long as the session): the record
    holds across the switch, and a return, or another page on the same images, sends ids
    alone. An image the tab let go is asked for (``{"type": "pixels"}``) and forgotten
    here, and then sent again."""
    sent = st.session_state.get(state.PIXELS_SENT_KEY)
    if not isinstance(sent, SentPixels):
        sent = st.session_state[state.PIXELS_SENT_KEY] = SentPixels()
    return sent


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


@st.cache_resource(show_spinner=False)
def _store(max_mb: int) -> FullresStore:
    """The process's encoded full-resolution images (all sessions share them; each answer
    names its codec: :func:`_codec`)."""
    return FullresStore(max_mb * 1024 * 1024)


#: Request headers a reverse proxy sets: the browser is then elsewhere, whatever the
#: address the connection comes from.
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def _codec() -> str:
    """This session's full-resolution codec (``Settings.fullres_codec``; ``auto``: raw
    values for a browser on this machine, zlib-delta16 otherwise; :func:`codec_for`).
    Streamlit gives no address for a connection from this machine (``None``), nor where
    it does not know one (tests): both count as local."""
    try:
        headers = {str(k).lower() for k in st.context.headers}
        ip = st.context.ip_address
        client = ip if isinstance(ip, str) else "127.0.0.1"
    except Exception:  # no session context (a test calling this directly)
        headers, client = set(), "127.0.0.1"
    forwarded = any(h in headers for h in _PROXY_HEADERS)
    return codec_for(common.settings().fullres_codec, client, forwarded)


def fullres_request(key: str, case_key: str) -> tuple[list[str], bool]:
    """Image keys the channel of the viewer ``key`` asked for, for the case ``case_key``,
    if that request was not answered yet (else ``[]``), and whether it asks for the bytes
    in the answer itself (``inline``: the viewer could not fetch a media URL).

    Read before drawing the channel (its value from the run's session state), so the
    answer goes out in the same run; each request is answered once (the browser asks again
    if the answer never arrived)."""
    event = st.session_state.get(f"{key}_fullres")
    if not isinstance(event, dict) or event.get("case") != case_key or "seq" not in event:
        return [], False
    answered: dict[str, str] = st.session_state.setdefault(_FULLRES_SEEN, {})
    if answered.get(key) == event["seq"]:
        return [], False
    answered[key] = str(event["seq"])
    return [str(k) for k in event.get("keys") or []], bool(event.get("inline"))


def _media_url(data: bytes, coordinates: str) -> str | None:
    """``data`` as one of this session's media files (Browse's pixels ahead, full
    resolution's images), or
    ``None`` where there is no media store (no Streamlit server, an internal API moved).

    Streamlit names a media file by a hash of its bytes (above 1 MiB only of its length
    and three 64 KiB samples: for a mammogram's raw values, its first, middle and last
    rows) and the file's name: a random name of 128 bits makes the URL unguessable
    whatever the image (the bytes are not copied)."""
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return None
        return str(
            Runtime.instance().media_file_mgr.add(
                data,
                "application/octet-stream",
                coordinates,
                file_name=f"mcalc-{secrets.token_hex(16)}",
            )
        )
    except Exception:  # an internal API of Streamlit: the answer then carries the bytes
        return None


def fullres_payload(
    key: str, answers: list[tuple[dict[str, Any], bytes]], *, inline: bool = False
) -> tuple[list[dict[str, Any]], bytes]:
    """The channel's answer for ``answers`` (:meth:`FullresStore.ready_answers`): each
    image as one of the session's media files that the viewer fetches (its entry's
    ``url``; every image at once, in parallel, off the websocket and the page's main
    thread), or, with ``inline`` or without a media store, their bytes one after the other
    in the binary argument (entries' ``offset``)."""
    index: list[dict[str, Any]] = []
    if not inline:
        for entry, data in answers:
            url = _media_url(data, f"mcalc-fullres:{key}:{entry['key']}")
            if url is None:
                break
            index.append({**entry, "url": url})
        else:
            return index, b""
        index = []
    offset = 0
    for entry, data in answers:
        index.append({**entry, "offset": offset})
        offset += len(data)
    return index, b"".join(data for _, data in answers)


@st.fragment
def _fullres_channel(source: FullresSource) -> None:
    """The channel under the viewer: answers a pending request with every image ready (a
    rerun of this fragment only). The media files it adds live until the session's next
    run of the whole page (Streamlit clears a session's media on full runs only): the
    viewer fetches them at once, and asks again ``inline`` if one is gone."""
    index: list[dict[str, Any]] = []
    data = b""
    wanted, inline = fullres_request(source.key, source.case_key)
    items = [it for it in source.items if it[0].key in wanted]
    if items:
        try:
            settings = common.settings()
            store = _store(settings.fullres_cache_mb)
            answers = store.ready_answers(common.get_image_cache(), items, _codec())
            index, data = fullres_payload(source.key, answers, inline=inline)
        except ImageReadError as exc:
            st.warning(f"Full resolution not available: {exc}")
    _get_channel()(
        case_key=source.case_key,
        fullres=index,
        # Binary argument (no base64): Streamlit sends bytes as they are.
        fullres_data=data,
        key=f"{source.key}_fullres",
        default=None,
    )


def fullres_answer(
    key: str,
    case_key: str,
    images: Iterable[ImageRecord],
    view_of: Callable[[ImageRecord], ImageView],
) -> FullresSource:
    """How the viewer ``key`` gets ``case_key``'s ``images`` (each prepared with
    ``view_of``) at full resolution: pass it as ``fullres`` to :func:`reading_viewer`.
    Those larger than their preview start encoding in the background now
    (``Settings.fullres_prefetch``); an image that cannot be read is said on the page and
    left out."""
    items: list[Item] = []
    for rec in images:
        try:
            view = view_of(rec)
        except ImageReadError as exc:
            st.warning(f"Full resolution not available: {exc}")
            continue
        if view.scale < 1:
            items.append((rec, view))
    settings = common.settings()
    if items and settings.fullres_prefetch:
        _store(settings.fullres_cache_mb).prefetch(common.get_image_cache(), items, _codec())
    return FullresSource(key, case_key, tuple(items))
