"""The viewer's bundle gzipped once per process, not on every fetch (issue 14).

Streamlit 1.67 serves a component's files (``/component/<name>/<file>``) from a route that
reads the file on each request, and its ``SelectiveGZipMiddleware`` (Starlette's
``GZipMiddleware`` at level 9; it exempts only Streamlit's own ``/static/``) compresses the
answer again every time: 54-56 ms of server CPU in a worker thread for the viewer's 2.9 MB
``viewer.js``, on the path of Browse's first frame and of every first visit in a new tab
(docs/measurements.md, "GZip"). The answer has no ``ETag`` or ``Last-Modified`` either, so a
browser cannot revalidate it.

:class:`PrecompressedFiles` is an ASGI middleware that ``app.py`` gives to ``st.App``
(public API: user middleware wraps Streamlit's, so it sees the request first). For the few
addresses it is given (:func:`viewer_files`) it answers ``GET`` and ``HEAD`` itself: the
gzipped bytes, made once per file version (its ``st_mtime_ns`` and size) and kept in
memory, for a client that accepts gzip; the plain file for one that does not; ``304`` for a
matching ``If-None-Match`` or ``If-Modified-Since``; and ``Content-Type``, ``Vary:
Accept-Encoding``, ``ETag``, ``Last-Modified`` and ``Cache-Control: public`` (as
Streamlit's own answer has). A changed file is compressed anew on its next fetch.

It relies only on the component's address, ``/component/<module>.<name>/<file>``, which
Streamlit's frontend builds. Anything else goes to Streamlit as before: other addresses, a
request with an ``Origin`` header (Streamlit decides the CORS headers), a file that is
missing or cannot be read. Should Streamlit change that address, the middleware simply
matches nothing and Streamlit's own serving (with its per-fetch gzip) is back.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "VIEWER_COMPONENT",
    "PrecompressedFiles",
    "Compressed",
    "accepts_gzip",
    "compress_file",
    "viewer_files",
]

log = logging.getLogger(__name__)

#: The viewer component's name as Streamlit registers it (``declare_component`` in
#: :mod:`pages.viewer_component`: its module's name, a dot, the name given).
VIEWER_COMPONENT = "pages.viewer_component.mcalc_viewer"
#: The viewer's built files (``components/viewer/dist``).
VIEWER_DIST = Path(__file__).resolve().parent.parent / "components" / "viewer" / "dist"
#: Files served precompressed: the bundle (the other files are small).
VIEWER_BUNDLES = ("viewer.js",)


@dataclass(frozen=True)
class Compressed:
    """One version of a file: its identity (``st_mtime_ns``, size), the gzipped bytes and
    the validators sent with either form."""

    version: tuple[int, int]
    body: bytes
    etag: str
    last_modified: str


def compress_file(path: Path, level: int = 9) -> Compressed:
    """``path`` read and gzipped at ``level`` (``mtime=0``: the same bytes each time),
    with an ``ETag`` from the plain bytes' digest and ``Last-Modified`` from the file."""
    stat = path.stat()
    data = path.read_bytes()
    return Compressed(
        version=(stat.st_mtime_ns, stat.st_size),
        body=gzip.compress(data, compresslevel=level, mtime=0),
        etag=f'"{hashlib.sha1(data).hexdigest()[:20]}"',
        last_modified=formatdate(stat.st_mtime, usegmt=True),
    )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip`` or ``*``, not ``q=0``)."""
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                if float(q[2:]) == 0:
                    continue
            except ValueError:
                continue
        return True
    return False


def viewer_files(base_url: str = "") -> dict[str, Path]:
    """The viewer's bundles by their address under ``base_url`` (``server.baseUrlPath``)."""
    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    return {
        f"{base}/component/{VIEWER_COMPONENT}/{name}": VIEWER_DIST / name for name in VIEWER_BUNDLES
    }


class PrecompressedFiles:
    """ASGI middleware: answers ``files`` (address -> file) gzipped once per file version;
    everything else goes to ``app``. ``files`` may be a callable, read on the first
    request (``server.baseUrlPath`` is known by then). ``compress`` is counted in tests."""

    def __init__(
        self,
        app: ASGIApp,
        files: Mapping[str, Path] | Callable[[], Mapping[str, Path]],
        compress: Callable[[Path], Compressed] = compress_file,
    ) -> None:
        self.app = app
        self._files = files
        self._compress = compress
        self._cache: dict[Path, Compressed] = {}
        self._locks: dict[Path, threading.Lock] = {}

    def _addresses(self) -> Mapping[str, Path]:
        if callable(self._files):
            self._files = dict(self._files())
        return self._files

    def _compressed(self, path: Path) -> Compressed:
        """The cached form of ``path``, made anew when its mtime or size changed (in a
        worker thread; one compression at a time per file)."""
        lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            stat = path.stat()
            cached = self._cache.get(path)
            if cached is None or cached.version != (stat.st_mtime_ns, stat.st_size):
                cached = self._compress(path)
                self._cache[path] = cached
            return cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = self._addresses().get(_route_path(scope))
        headers = Headers(scope=scope)
        if path is None or "origin" in headers:
            await self.app(scope, receive, send)
            return
        try:
            cached = await anyio.to_thread.run_sync(self._compressed, path)
            zipped = accepts_gzip(headers.get("accept-encoding", ""))
            body = cached.body if zipped else await anyio.to_thread.run_sync(path.read_bytes)
        except OSError as exc:
            log.warning("%s not precompressed (%s): Streamlit serves it", path, exc)
            await self.app(scope, receive, send)
            return
        out = {
            "Cache-Control": "public",
            # one tag per form (RFC 9110 8.8.3: a strong tag names one representation)
            "ETag": cached.etag[:-1] + '-gz"' if zipped else cached.etag,
            "Last-Modified": cached.last_modified,
            "Vary": "Accept-Encoding",
        }
        if _not_modified(headers, cached):
            response = Response(status_code=304, headers=out)
        else:
            if zipped:
                out["Content-Encoding"] = "gzip"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            response = Response(body, media_type=media_type, headers=out)
        await response(scope, receive, send)


def _not_modified(headers: Headers, cached: Compressed) -> bool:
    """A conditional request that the cached version answers (RFC 9110: ``If-None-Match``
    wins over ``If-Modified-Since``)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or cached.etag in tags or cached.etag[:-1] + '-gz"' in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        return parsedate_to_datetime(cached.last_modified) <= parsedate_to_datetime(
            if_modified_since
        )
    except (TypeError, ValueError):
        return False


def _route_path(scope: Scope) -> str:
    """The request's path without an ASGI ``root_path`` prefix (as Starlette routes it)."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
