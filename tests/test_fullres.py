"""mcalc.present.fullres: full-resolution pixels for the reading viewer (encoded once per
image, answered once per request) and the page's request/answer round through AppTest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcalc.present.fullres import CODEC, decode_fullres, encode_fullres
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


def test_full_size_image_is_lossless(full_size_image):
    assert full_size_image.shape == FULL_SHAPE
    data = encode_fullres(full_size_image)
    # What the browser does: inflate (zlib), then a running sum of each row modulo 2**16.
    back = decode_fullres(data, *FULL_SHAPE)
    assert back.dtype == np.uint16 and (back == full_size_image).all()


@pytest.mark.slow  # four Browse runs: ~5 s quiet, 21 s with the machine loaded
def test_browse_answers_a_full_resolution_request_once(app_env, monkeypatch):
    """A preview smaller than the image (scale < 1): the panels say so; the viewer's
    request (its component value) is answered with the images at full resolution, in the
    hanging orientation, as one binary argument, in one run only."""
    from streamlit.testing.v1 import AppTest

    from mcalc.cache import ImageCache
    from mcalc.config import get_settings
    from mcalc.dataset import open_dataset

    monkeypatch.setenv("MCALC_PREVIEW_MAX_SIDE", "64")  # 256x208 images -> scale 0.25
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/browse.py")
    at.run()
    (viewer,) = at.get("component_instance")
    args = json.loads(viewer.proto.json_args)
    assert args["fullres"] == []
    panels = args["panels"]
    assert all(p["scale"] == pytest.approx(0.25, abs=0.01) for p in panels)
    keys = [p["key"] for p in panels[:2]]

    at.session_state["browse_viewer"] = {
        "type": "fullres",
        "case": args["case_key"],
        "keys": keys,
        "seq": "1-1",
    }
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (viewer,) = at.get("component_instance")
    index = json.loads(viewer.proto.json_args)["fullres"]
    (blob,) = [a.bytes for a in viewer.proto.special_args if a.key == "fullres_data"]
    assert [e["key"] for e in index] == keys
    cache = ImageCache(get_settings().cache_dir)
    records = {r.key: r for r in open_dataset(app_env).images()}
    for e, p in zip(index, panels, strict=False):
        assert e["codec"] == CODEC
        values = decode_fullres(blob[e["offset"] : e["offset"] + e["length"]], e["rows"], e["cols"])
        file_pixels = np.asarray(cache.load(records[e["key"]].image_path).pixels)
        # Hanging orientation: the same mirroring as the panel's preview.
        assert (values == file_pixels).all() or (values == file_pixels[:, ::-1]).all()
        assert e["cols"] * p["scale"] == pytest.approx(p["cols"], abs=1)
        assert e["spacing"][0] == pytest.approx(p["spacing"][0] * p["scale"], rel=0.02)

    at.run()  # the same request again (a rerun for another reason): not answered twice
    (viewer,) = at.get("component_instance")
    assert json.loads(viewer.proto.json_args)["fullres"] == []
