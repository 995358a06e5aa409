"""Page addresses answered with the server's root in the page (pages/deep_links.py), and
``app.py`` served as an ``st.App`` by ``streamlit run`` while it stays the app's script.

The browser's side (no request to ``/browse/_stcore/...``) is tests/test_browser_browse.py's.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from streamlit import config, file_util
from streamlit.source_util import page_icon_and_name

from pages.deep_links import BUNDLE_TAG, ROOT_SCRIPT, index_with_root, page_addresses, page_routes
from pages.menu import available_pages

REPO = Path(__file__).resolve().parent.parent
INDEX = Path(file_util.get_static_dir()) / "index.html"


def _get(route, headers: dict[str, str] | None = None, method: str = "GET"):
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": route.path, "headers": raw}
    return asyncio.run(route.endpoint(Request(scope)))


def _set_options(monkeypatch, options: dict[str, object]) -> None:
    real = config.get_option
    monkeypatch.setattr(config, "get_option", lambda key: options.get(key, real(key)))


def test_the_root_script_comes_before_streamlits_bundle() -> None:
    index = INDEX.read_bytes()
    html = index_with_root(index)
    assert html is not None, f"{INDEX} has no {BUNDLE_TAG!r}: see pages/deep_links.py"
    script = html.index(ROOT_SCRIPT.encode())
    assert script < html.index(BUNDLE_TAG) and html.count(BUNDLE_TAG) == 1
    assert html.replace(ROOT_SCRIPT.encode() + b"\n    ", b"") == index  # nothing else moves
    assert index_with_root(b"<html><head></head></html>") is None


def test_page_addresses_are_streamlits_own() -> None:
    scripts = [script for script, _, _ in available_pages()]
    assert page_addresses(scripts) == [page_icon_and_name(REPO / s)[1] for s in scripts]
    assert "predict" in page_addresses(scripts) and "browse" in page_addresses(scripts)


def test_each_page_address_gets_the_page_with_its_root(monkeypatch) -> None:
    routes = page_routes(["pages/predict.py", "pages/browse.py"])
    assert [r.path for r in routes] == ["/predict", "/browse"]
    assert all({"GET", "HEAD"} <= set(r.methods or ()) for r in routes)
    first = _get(routes[0])
    assert first.status_code == 200 and first.media_type == "text/html"
    assert first.body == index_with_root(INDEX.read_bytes())
    assert first.headers["cache-control"] == "no-cache"
    again = _get(routes[1], {"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.body == b""
    assert _get(routes[0], {"If-None-Match": '"other"'}).status_code == 200
    assert _get(routes[0], method="HEAD").status_code == 200

    _set_options(monkeypatch, {"server.baseUrlPath": "/base/"})
    assert [r.path for r in page_routes(["pages/predict.py"])] == ["/base/predict"]


def test_no_routes_in_development_mode_or_without_the_bundle_tag(monkeypatch, tmp_path) -> None:
    assert page_routes(["pages/predict.py"])
    with monkeypatch.context() as m:
        _set_options(m, {"global.developmentMode": True})  # Streamlit serves no index.html
        assert page_routes(["pages/predict.py"]) == []
    monkeypatch.setattr(file_util, "get_static_dir", lambda: str(tmp_path))
    (tmp_path / "index.html").write_bytes(b"<html><head><script src='x.js'></script></head>")
    assert page_routes(["pages/predict.py"]) == []  # logged: the page stays Streamlit's own


def test_streamlit_run_serves_app_py_as_an_st_app(monkeypatch) -> None:
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(REPO / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app", found
    # What uvicorn does with "app:app" (the App records app.py as the main script when
    # none is set yet: undone after the test).
    monkeypatch.setattr(config, "_main_script_path", config._main_script_path)
    spec = importlib.util.spec_from_file_location("app", REPO / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.app, st.App) and module.app.script_path == REPO / "app.py"
