"""pages.component_gzip: the viewer's bundle gzipped once per file version (issue 14)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import anyio
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from pages import component_gzip
from pages.component_gzip import Compressed, PrecompressedFiles, accepts_gzip, compress_file

ADDRESS = "/component/pages.viewer_component.mcalc_viewer/viewer.js"


class Answer:
    """A response as an ASGI app sent it: status, headers (lower-case names), raw body."""

    def __init__(self, messages: list[Message]) -> None:
        start = messages[0]
        self.status_code: int = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        self.content = b"".join(m.get("body", b"") for m in messages[1:])
        self.text = self.content.decode(errors="replace")


class AsgiClient:
    """Just enough of an HTTP client for ASGI apps: GET with headers, no decoding."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        path, _, query = url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        async def call() -> None:
            await self.app(scope, receive, send)

        anyio.run(call)
        return Answer(sent)


def _client(bundle: Path, calls: list[Path]) -> AsgiClient:
    """An app like Streamlit's: its own route for the address (gzipped per fetch by
    GZipMiddleware) behind :class:`PrecompressedFiles`, whose compressions land in ``calls``."""

    async def streamlit_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("streamlit " * 100)

    def counted(path: Path) -> Compressed:
        calls.append(path)
        return compress_file(path)

    app = Starlette(
        routes=[Route("/component/{path:path}", streamlit_route)],
        middleware=[
            Middleware(PrecompressedFiles, files={ADDRESS: bundle}, compress=counted),
            Middleware(GZipMiddleware, minimum_size=500, compresslevel=9),
        ],
    )
    return AsgiClient(app)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "viewer.js"
    path.write_bytes(b"console.log('viewer');\n" * 5000)
    return path


def test_two_fetches_compress_once_and_decompress_to_the_file(bundle: Path) -> None:
    calls: list[Path] = []
    client = _client(bundle, calls)
    for _ in range(2):
        response = client.get(ADDRESS + "?v=1", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-type"].startswith(
            ("application/javascript", "text/javascript")
        )
        assert gzip.decompress(response.content) == bundle.read_bytes()
    assert calls == [bundle]


def test_the_gzipped_bytes_are_the_file(bundle: Path) -> None:
    done = compress_file(bundle)
    assert gzip.decompress(done.body) == bundle.read_bytes()
    assert len(done.body) < bundle.stat().st_size


def test_a_client_without_gzip_gets_the_plain_file(bundle: Path) -> None:
    client = _client(bundle, [])
    response = client.get(ADDRESS, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == bundle.read_bytes()
    assert response.headers["vary"] == "Accept-Encoding"


def test_revalidation_is_a_304(bundle: Path) -> None:
    client = _client(bundle, [])
    first = client.get(ADDRESS, headers={"Accept-Encoding": "gzip"})
    assert first.headers["etag"] and first.headers["last-modified"]
    again = client.get(
        ADDRESS, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    since = client.get(
        ADDRESS,
        headers={"Accept-Encoding": "gzip", "If-Modified-Since": first.headers["last-modified"]},
    )
    assert since.status_code == 304


def test_a_changed_file_is_served_fresh(bundle: Path) -> None:
    calls: list[Path] = []
    client = _client(bundle, calls)
    first = client.get(ADDRESS, headers={"Accept-Encoding": "gzip"})
    bundle.write_bytes(b"console.log('viewer, rebuilt');\n" * 5000)
    stat = bundle.stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    second = client.get(ADDRESS, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(second.content) == bundle.read_bytes()
    assert second.headers["etag"] != first.headers["etag"]
    assert calls == [bundle, bundle]


def test_other_addresses_and_cross_origin_requests_go_to_streamlit(bundle: Path) -> None:
    calls: list[Path] = []
    client = _client(bundle, calls)
    other = client.get("/component/pages.viewer_component.mcalc_viewer/index.html")
    assert other.text.startswith("streamlit")
    cross = client.get(ADDRESS, headers={"Origin": "http://elsewhere.example"})
    assert cross.text.startswith("streamlit")
    assert calls == []


def test_a_missing_file_goes_to_streamlit(tmp_path: Path) -> None:
    client = _client(tmp_path / "gone.js", [])
    assert client.get(ADDRESS).text.startswith("streamlit")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accepts_gzip(value: str, expected: bool) -> None:
    assert accepts_gzip(value) is expected


def test_the_viewer_address_is_the_components_name() -> None:
    from pages import viewer_component

    assert f"{viewer_component.__name__}.mcalc_viewer" == component_gzip.VIEWER_COMPONENT
    assert component_gzip.VIEWER_DIST == viewer_component.DIST
    assert component_gzip.viewer_files("/base/") == {
        f"/base{ADDRESS}": viewer_component.DIST / "viewer.js"
    }
