"""mcalc.present.fullres: full-resolution pixels for the reading viewer (encoded once per
image and kept in a shared byte-bounded store, answered one image per request) and the
page's request/answer rounds through AppTest."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mcalc.present import fullres
from mcalc.present.fullres import (
    CODEC,
    RAW16,
    FullresStore,
    decode_answer,
    decode_fullres,
    encode_answer,
    encode_fullres,
)
from mcalc.synthetic.spec import SIZES
from tests.conftest import REPO

FULL_SHAPE = SIZES["full"][0]  # (4096, 3328): the real dataset's size


@pytest.fixture(scope="module")
def full_size_image() -> np.ndarray:
    """A seeded 12-bit image of the real dataset's size (4096x3328), made in milliseconds: a
    512x416 block of a dome, noise and 6-px calcification-sized specks, tiled 8x8 (the
    generator takes seconds per full-size image; compression on it is measured in
    ``bench/viewer.py``, not here)."""
    rng = np.random.default_rng(3)
    r = np.linspace(-1, 1, 512, dtype=np.float32)[:, None]
    c = np.linspace(0, 1, 416, dtype=np.float32)[None, :]
    block = 300 + 2800 * np.clip(1 - (r**2 + c**2), 0, None) + rng.normal(0, 12, (512, 416))
    for y, x in rng.integers(20, 400, (4, 2)):
        block[y : y + 6, x : x + 6] += 600
    return np.tile(np.clip(block, 0, 4095).astype(np.uint16), (8, 8))


def test_encode_round_trip_is_lossless_including_wrap_around():
    img = np.array([[0, 65535, 3, 65535], [4095, 0, 0, 1]], dtype=np.uint16)
    assert (decode_fullres(encode_fullres(img), 2, 4) == img).all()
    floats = np.array([[-3.0, 70000.0, 1.6]], dtype=np.float32)
    assert decode_fullres(encode_fullres(floats), 1, 3).tolist() == [[0, 65535, 2]]
    with pytest.raises(ValueError, match="2-D"):
        encode_fullres(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="level"):
        encode_fullres(img, level=12)
    with pytest.raises(ValueError, match="2x5"):
        decode_fullres(encode_fullres(img), 2, 5)


def test_raw16_is_the_values_as_they_are_and_both_codecs_decode_by_name():
    img = np.array([[0, 65535, 3], [4095, 0, 1]], dtype=np.uint16)
    data = encode_answer(img, RAW16)
    assert data == img.astype("<u2").tobytes()  # what the browser views as Uint16Array
    assert (
        encode_answer(np.array([[-3.0, 70000.0, 1.6]]), RAW16)
        == np.array([[0, 65535, 2]], dtype="<u2").tobytes()
    )
    for codec in (RAW16, CODEC):
        back = decode_answer(encode_answer(img, codec), codec, 2, 3)
        assert back.dtype == np.uint16 and (back == img).all()
    with pytest.raises(ValueError, match="2x4"):
        decode_answer(data, RAW16, 2, 4)
    with pytest.raises(ValueError, match="codec"):
        encode_answer(img, "png")
    with pytest.raises(ValueError, match="codec"):
        FullresStore(1, codec="png")


def test_full_size_image_is_lossless(full_size_image):
    assert full_size_image.shape == FULL_SHAPE
    data = encode_fullres(full_size_image)
    # What the browser does: inflate (zlib), then a running sum of each row modulo 2**16.
    back = decode_fullres(data, *FULL_SHAPE)
    assert back.dtype == np.uint16 and (back == full_size_image).all()


def _views(tiny_demo, cache, n: int):
    from mcalc.dataset import open_dataset
    from mcalc.viewer import DisplayOptions, prepare_view

    recs = open_dataset(tiny_demo).images()[:n]
    return [(rec, prepare_view(cache, rec, DisplayOptions(), max_side=64)) for rec in recs]


def test_store_encodes_each_image_once_within_its_byte_bound(tiny_demo, tmp_path, monkeypatch):
    """Prefetched images are answered from the store, one per request, losslessly in the
    hanging orientation; a second request encodes nothing; the bytes kept stay under the
    bound (least recently used out); an unreadable image is an ImageReadError."""
    from mcalc.cache import ImageCache
    from mcalc.errors import ImageReadError

    calls: list[tuple[int, int]] = []
    encode = fullres.encode_fullres
    monkeypatch.setattr(fullres, "encode_fullres", lambda v: calls.append(v.shape) or encode(v))
    cache = ImageCache(tmp_path / "cache")
    items = _views(tiny_demo, cache, 3)
    assert all(view.scale < 1 for _, view in items)  # 256x208 images, 64 px previews
    size = len(encode(fullres.fullres_values(cache, *items[0])))
    store = FullresStore(2 * size + size // 2)  # room for two images, not three
    try:
        store.prefetch(cache, items[:2])
        (entry,), data = store.next_answer(cache, items[:2])
        assert entry["key"] in {items[0][0].key, items[1][0].key} and entry["codec"] == CODEC
        rec, view = next(it for it in items if it[0].key == entry["key"])
        values = decode_fullres(data, entry["rows"], entry["cols"])
        assert (values == fullres.fullres_values(cache, rec, view)).all()
        assert entry["length"] == len(data) and entry["offset"] == 0
        assert entry["spacing"] == [pytest.approx(s) for s in view.spacing_mm]
        (other,), _ = store.next_answer(cache, [it for it in items[:2] if it[0] is not rec])
        assert other["key"] != entry["key"] and len(calls) == 2  # prefetched: no more encodes
        both = store.ready_answers(cache, items[:2])  # every image ready, at once
        assert [e["key"] for e, _ in both] == [rec.key for rec, _ in items[:2]]
        assert all(e["timing"]["ready"] for e, _ in both) and len(calls) == 2  # from the store

        store.next_answer(cache, items[2:])  # a third image: the least recent goes
        assert len(calls) == 3 and store.bytes_kept <= store.max_bytes
        assert sum(store.cached(r, v) for r, v in items) == 2
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"not an image")
        broken = (dataclasses.replace(items[0][0], image_path=bad), items[0][1])
        with pytest.raises(ImageReadError):
            store.next_answer(cache, [broken])
    finally:
        store.close()
    store = FullresStore(10**7)  # another codec asked for: an encoding of its own
    try:
        store.prefetch(cache, items[:1], RAW16)
        ((raw, blob),) = store.ready_answers(cache, items[:1], RAW16)
        assert raw["codec"] == RAW16 and len(blob) == 2 * raw["rows"] * raw["cols"]
        assert store.cached(*items[0], RAW16) and not store.cached(*items[0])
        assert len(calls) == 3  # raw16 needs no zlib
    finally:
        store.close()


@pytest.mark.slow  # four Browse runs: ~5 s quiet, 21 s with the machine loaded
def test_browse_answers_full_resolution_every_image_ready(app_env, monkeypatch):
    """A preview smaller than the image (scale < 1): the panels say so; the channel's
    request (its component value, under the viewer) is answered with every image ready at
    full resolution, in the hanging orientation, their bytes one after the other in a
    binary argument when asked ``inline``, else each by a media URL; a next request (the
    rest, if any) with the rest; a request is answered once."""
    from streamlit.testing.v1 import AppTest

    from mcalc.cache import ImageCache
    from mcalc.config import get_settings
    from mcalc.dataset import open_dataset

    def components(at) -> tuple:
        found = {c.proto.component_name.rsplit(".", 1)[-1]: c for c in at.get("component_instance")}
        return found["mcalc_viewer"], found["mcalc_fullres"]

    def answer(at) -> tuple[list, bytes]:
        _, channel = components(at)
        index = json.loads(channel.proto.json_args)["fullres"]
        blobs = [a.bytes for a in channel.proto.special_args if a.key == "fullres_data"]
        return index, (blobs[0] if blobs else b"")

    monkeypatch.setenv("MCALC_PREVIEW_MAX_SIDE", "64")  # 256x208 images -> scale 0.25
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/browse.py")
    at.run()
    viewer, _ = components(at)
    args = json.loads(viewer.proto.json_args)
    assert "fullres" not in args and answer(at)[0] == []
    panels = {p["key"]: p for p in args["panels"]}
    assert all(p["scale"] == pytest.approx(0.25, abs=0.01) for p in panels.values())
    keys = list(panels)[:2]
    cache = ImageCache(get_settings().cache_dir)
    records = {r.key: r for r in open_dataset(app_env).images()}

    # Asked as the viewer does: every image ready, each as a media file of the session's
    # (its URL; no bytes in the answer); asked again inline (a fetch failed): the bytes.
    at.session_state["browse_viewer_fullres"] = {
        "case": args["case_key"],
        "keys": keys,
        "seq": "1-0",
    }
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    index, blob = answer(at)
    assert index and {e["key"] for e in index} <= set(keys) and blob == b""
    assert all("/media/" in e["url"] for e in index), index
    answered = []
    for k in range(2):
        rest = [key for key in keys if key not in answered]
        if not rest:
            break
        at.session_state["browse_viewer_fullres"] = {
            "case": args["case_key"],
            "keys": rest,
            "seq": f"2-{k}",
            "inline": True,
        }
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        index, blob = answer(at)  # every image ready, the bytes one after the other
        assert index and {e["key"] for e in index} <= set(rest) and "url" not in index[0]
        for e in index:
            # auto: raw values (no address known here counts as this machine)
            assert e["codec"] == RAW16 and get_settings().fullres_codec == "auto"
            answered.append(e["key"])
            p = panels[e["key"]]
            values = decode_answer(
                blob[e["offset"] : e["offset"] + e["length"]], e["codec"], e["rows"], e["cols"]
            )
            file_pixels = np.asarray(cache.load(records[e["key"]].image_path).pixels)
            # Hanging orientation: the same mirroring as the panel's preview.
            assert (values == file_pixels).all() or (values == file_pixels[:, ::-1]).all()
            assert e["cols"] * p["scale"] == pytest.approx(p["cols"], abs=1)
            assert e["spacing"][0] == pytest.approx(p["spacing"][0] * p["scale"], rel=0.02)
    assert sorted(answered) == sorted(keys)

    at.run()  # the same request again (a rerun for another reason): not answered twice
    assert answer(at)[0] == []
