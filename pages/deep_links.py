"""A page opened by its address connects at once: the server's root written into its HTML.

A browser that opens a page by its address (``/predict`` typed, reloaded or bookmarked) gets
Streamlit's ``index.html``, and Streamlit 1.67's frontend does not know where the server's
root is: unless ``window.__streamlit.BACKEND_BASE_URL`` is set it tries the page's address
as the root first (``/predict/_stcore/health`` and ``/_stcore/host-config``: two 404s), and
the real root 100 ms later (``getPossibleBaseUris`` and its retry in the bundle,
``static/js/index.*.js``). Every deep link lost about 0.1 s to that guess (issue 14).

:func:`page_routes` answers each page's address with the same ``index.html`` and, before
Streamlit's bundle, one line of script that sets ``BACKEND_BASE_URL`` to the folder of the
page's address: the app's root as the browser sees it (``/predict`` -> ``/``, and
``/base/predict`` -> ``/base/`` under ``server.baseUrlPath`` or a proxy's prefix), the
same way the page's own ``./static/...`` assets are found. The bundle reads the setting in
three places, and only the first changes: the roots it tries (now only the right one); a
host-config check that also needs ``HOST_CONFIG`` (unset, so unchanged); and the
``crossorigin`` attribute of media, decided only under a ``resourceCrossOriginMode`` (the
server sends none). The websocket, media, upload and component addresses are made from the
root it connected to, which is the same as before.

``app.py`` gives the routes to ``st.App``: ``streamlit run app.py`` finds its ``app`` and
serves it (uvicorn, the same Starlette app and settings as without it). Other addresses
(``/``, which needs no guess, a mistyped page) are Streamlit's own.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from streamlit import config, file_util
from streamlit.url_util import make_url_path

from pages.menu import available_pages

__all__ = ["BUNDLE_TAG", "ROOT_SCRIPT", "index_with_root", "page_addresses", "page_routes"]

log = logging.getLogger(__name__)

#: Streamlit's frontend setting the app's root: the folder of the page's address, resolved
#: by the browser. Runs before the bundle (a module script, run after the document parsed).
ROOT_SCRIPT = (
    "<script>window.__streamlit = Object.assign({}, window.__streamlit, "
    '{BACKEND_BASE_URL: new URL("./", window.location.href).href});</script>'
)
#: Where :data:`ROOT_SCRIPT` goes: before the tag that loads Streamlit's bundle.
BUNDLE_TAG = b'<script type="module"'


def index_with_root(index: bytes) -> bytes | None:
    """Streamlit's ``index.html`` with :data:`ROOT_SCRIPT` before its bundle's tag, or
    ``None`` when the page has no such tag (another Streamlit: nothing to change)."""
    at = index.find(BUNDLE_TAG)
    if at < 0:
        return None
    return index[:at] + ROOT_SCRIPT.encode() + b"\n    " + index[at:]


def page_addresses(scripts: Iterable[str]) -> list[str]:
    """The address of each page script under the app's root: its file name without
    ``.py`` (``pages/predict.py`` -> ``predict``), as ``st.Page`` names a page given by
    its path (tests/test_deep_links.py checks it against Streamlit's own rule)."""
    return [Path(script).stem for script in scripts]


def page_routes(scripts: Iterable[str] | None = None) -> list[Route]:
    """One route per page address (``scripts``: the app's pages, :mod:`pages.menu`),
    under ``server.baseUrlPath``, answering ``GET`` and ``HEAD`` with
    :func:`index_with_root` of the installed Streamlit's ``index.html`` (``no-cache`` and
    an ``ETag`` as Streamlit's own answer has). None, logged, when that page cannot take
    the script, or in Streamlit's development mode (it serves no ``index.html`` then)."""
    if config.get_option("global.developmentMode"):
        return []
    if scripts is None:
        scripts = [script for script, _, _ in available_pages()]
    index = Path(file_util.get_static_dir()) / "index.html"
    html = index_with_root(index.read_bytes())
    if html is None:
        log.warning(
            "%s has no %s tag: deep links keep Streamlit's own page (and its wrong first "
            "guess of the server's root)",
            index,
            BUNDLE_TAG.decode(),
        )
        return []
    etag = f'"{hashlib.sha1(html).hexdigest()[:20]}"'
    headers = {"Cache-Control": "no-cache", "ETag": etag}

    async def page(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(html, media_type="text/html", headers=headers)

    base = config.get_option("server.baseUrlPath") or ""
    return [
        Route(make_url_path(base, address), page, methods=["GET", "HEAD"])
        for address in page_addresses(scripts)
    ]
