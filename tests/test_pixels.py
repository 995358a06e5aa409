"""mcalc.present.pixels: one pixel id and one encoding per image for Browse, Annotate and
Predict, and the session's record of what the browser tab holds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mcalc.cache import ImageCache, file_key
from mcalc.dataset import open_dataset
from mcalc.present import panel_cache, pixels
from mcalc.present.fullres import decode_fullres
from mcalc.present.pixels import SentPixels, encoded, pixel_id, pixel_payload
from mcalc.present.reading_overlays import panel_pixels
from mcalc.viewer import DisplayOptions, prepare_view, preview_values

BASE = {"image_key": "c/CC_recent", "file": ("/d/a.dcm", 10, 7), "max_side": 1024}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"image_key": "c/CC_prior"}, False),  # another panel never shares a browser image
        ({"file": ("/d/a.dcm", 10, 8)}, False),  # the file was rewritten
        ({"max_side": 512}, False),
        ({"flipped": True}, False),
        ({"rows": 9}, False),
    ],
)
def test_pixel_id_changes_with_what_makes_the_values_only(change, same) -> None:
    base = pixel_id(**BASE, flipped=False, rows=8, cols=6)
    args = {**BASE, "flipped": False, "rows": 8, "cols": 6, **change}
    assert (pixel_id(**args) == base) is same
    assert pixel_id(**args).startswith(f"{args['image_key']}:{args['rows']}x6:")


def test_encoded_makes_each_image_once_and_is_lossless() -> None:
    pixels.clear()
    made = []
    values = np.array([[0.4, 70000.0, 3.0], [12.6, -2.0, 65535.0]], np.float32)

    def make():
        made.append(1)
        return values

    first = encoded("x:2x3:abc", make)
    assert encoded("x:2x3:abc", make) is first and len(made) == 1
    assert decode_fullres(first, 2, 3).tolist() == [[0, 65535, 3], [13, 0, 65535]]
    index, blob = pixel_payload([("x:2x3:abc", first, 2, 3), ("y", b"12", 1, 1)])
    assert [(e["id"], e["offset"], e["length"]) for e in index] == [
        ("x:2x3:abc", 0, len(first)),
        ("y", len(first), 2),
    ]
    assert blob == first + b"12" and {e["codec"] for e in index} == {"zlib-delta16"}


def test_sent_pixels_keeps_the_most_recent_and_forgets_on_request() -> None:
    sent = SentPixels(limit=3)
    sent.add(["a", "b", "c"])
    sent.add(["a", "d"])  # "a" again: the most recent; "b" the oldest, dropped
    assert [i in sent for i in "abcd"] == [True, False, True, True] and len(sent) == 3
    sent.forget(["c", "zz"])
    assert "c" not in sent and len(sent) == 2


@pytest.mark.parametrize(("orient", "other_side"), [(True, False), (True, True), (False, True)])
def test_browse_and_predict_name_and_encode_an_image_alike(
    tiny_demo, tmp_path, orient, other_side
) -> None:
    """Browse's entry (the values as shown, uint16 of the mirrored preview) and Predict's
    panel_pixels (the mirrored float preview, rounded by the codec) are the same bytes
    under the same id, each made on its own (nothing shared between them cached); the id
    ignores the annotation and the laterality that only decided the mirroring."""
    case = open_dataset(tiny_demo).cases[0]
    if other_side:  # hung back to back on the other side: mirrored when oriented
        case = replace(case, laterality={"L": "R", "R": "L"}[case.laterality])
    opts = DisplayOptions(orient=orient)
    cache = ImageCache(tmp_path / "cache")
    pixels.clear()
    panel_cache.clear()
    sent = SentPixels()
    browse = panel_cache.case_payload(cache, case, opts, 96, sent)
    by_key = {p["key"]: e for p, e in zip(browse.panels, browse.index, strict=True)}
    for rec in case.images:
        pixels.clear()  # Predict encodes it again, on its own
        view = prepare_view(cache, rec, opts, max_side=96, laterality=case.laterality)
        assert view.flipped is (orient and other_side)  # the case means what it says
        pid, data, rows, cols = panel_pixels(cache, rec, view, 96)
        e = by_key[rec.key]
        assert pid == e["id"] and (rows, cols) == (e["rows"], e["cols"])
        assert data == browse.data[e["offset"] : e["offset"] + e["length"]], rec.key
        values = preview_values(cache, rec, 96)
        assert pid == pixel_id(
            rec.key,
            file_key(rec.image_path),
            96,
            flipped=view.flipped,
            rows=values.shape[0],
            cols=values.shape[1],
        )
    # Without the annotations (another entry of Browse's cache): the same ids.
    bare = replace(case, images=tuple(replace(r, annotation_path=None) for r in case.images))
    again = panel_cache.case_payload(cache, bare, opts, 96, SentPixels())
    assert [e["id"] for e in again.index] == [e["id"] for e in browse.index]
    assert any(r.annotation_path is not None for r in case.images)  # the check means something
    # A case whose images the browser holds: none sent again.
    assert panel_cache.case_payload(cache, case, opts, 96, sent).index == []


def test_one_cache_holds_the_bytes_for_every_page(tiny_demo, tmp_path, monkeypatch) -> None:
    """An image Browse encoded is not encoded again for Predict, and Browse's entries keep
    no bytes of their own: the shared cache is what says an entry is ready to send."""
    case = open_dataset(tiny_demo).cases[0]
    cache, opts = ImageCache(tmp_path / "cache"), DisplayOptions()
    pixels.clear()
    panel_cache.clear()
    panel_cache.encode_case(cache, case, opts, 96)
    keys = panel_cache.case_keys(cache, case, opts, 96)
    assert keys is not None and panel_cache.keys_ready(keys)

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded again")

    with monkeypatch.context() as m:
        m.setattr(pixels, "encode_fullres", no_encoding)
        for rec in case.images:
            view = prepare_view(cache, rec, opts, max_side=96, laterality=case.laterality)
            assert panel_pixels(cache, rec, view, 96)[1]
    pixels.clear()  # the bytes gone: the entries are no longer ready, made again on demand
    assert not panel_cache.keys_ready(keys)
    pay = panel_cache.case_payload(cache, case, opts, 96, SentPixels())
    assert len(pay.index) == 4 and panel_cache.keys_ready(keys)
