"""The committed viewer build (components/viewer/dist): the page asks for the bundle by its
content hash and registers the worker that keeps that version (src/sw.js), and the bundle
stays lean (components/viewer/build.mjs). scripts/check_viewer_build.sh checks that dist/
is the build of its source; these check what the build promises, without Node."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DIST = Path(__file__).resolve().parent.parent / "components" / "viewer" / "dist"


def test_index_names_the_bundle_by_its_content_hash_and_registers_the_worker() -> None:
    html = (DIST / "index.html").read_text()
    version = hashlib.sha256((DIST / "viewer.js").read_bytes()).hexdigest()[:16]
    assert re.findall(r'src="(viewer\.js\?v=\w+)"', html) == [f"viewer.js?v={version}"]
    assert f'register("sw.js?v={version}")' in html
    worker = (DIST / "sw.js").read_text()
    assert "viewer.js?v=${version}" in worker and 'addEventListener("fetch"' in worker


def test_bundle_leaves_out_what_the_viewer_never_runs() -> None:
    bundle = (DIST / "viewer.js").read_text(encoding="utf-8")
    # 4138065 bytes before build.mjs honoured Cornerstone's "sideEffects": false and left
    # out dcmjs's unused parts, vtk.js's WebGPU back end and its mesh readers (2833276).
    assert len(bundle.encode()) < 3_200_000
    for absent in ("XMLBuilder", "WebGPU", "CrosshairsTool", "anonymizer"):
        assert absent not in bundle, absent


def test_bundle_reads_no_cookie_while_starting() -> None:
    # dcmjs's loglevel (Cornerstone's loggers) read document.cookie for each logger with no
    # level in localStorage; with a DevTools session on a fresh tab that read cost about
    # 0.15 s of CPU (build.mjs, dcmjsNoCookies). Writes (loglevel's fallback where
    # localStorage throws) remain; a read is `document.cookie` not followed by `=`.
    bundle = (DIST / "viewer.js").read_text(encoding="utf-8")
    assert re.findall(r"document\.cookie(?!=)", bundle) == []
