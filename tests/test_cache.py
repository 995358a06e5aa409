"""The decoded-image cache: memory, disk, memory-mapping, invalidation, eviction."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcalc import cache as cache_mod
from mcalc import imageio
from mcalc.cache import ImageCache, file_key, flush_writes
from mcalc.dicomwrite import write_dicom


def _img(seed=0, h=64, w=48):
    return np.random.default_rng(seed).integers(0, 4096, (h, w)).astype(np.uint16)


def _png(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def test_second_load_comes_from_disk_memory_mapped(tmp_path, monkeypatch):
    # Rescaled: the file does not hold the float values, the cache keeps a copy to map.
    path = write_dicom(
        tmp_path / "a.dcm", _img(), spacing_mm=0.1, laterality="L", rescale=(2.0, 1.0)
    )
    first = ImageCache(tmp_path / "cache").load(path)
    calls = []
    monkeypatch.setattr(cache_mod, "read_image", lambda *a, **k: calls.append(a))
    second = ImageCache(tmp_path / "cache").load(path)  # a new process would see this
    assert calls == []
    assert isinstance(second.pixels, np.memmap)
    np.testing.assert_array_equal(first.pixels, second.pixels)
    assert second.pixel_spacing_mm == (0.1, 0.1) and second.laterality == "L"


@pytest.mark.parametrize("disk", [False, True])
def test_a_file_asked_for_by_two_threads_at_once_is_read_once(tmp_path, monkeypatch, disk):
    """Predict's analysis and the page's viewer images ask for a new case's file at the
    same moment: the second load waits for the first one's read and takes its image (one
    decode), while a load of another file does not wait for it."""
    import threading

    a = write_dicom(tmp_path / "a.dcm", _img(1))
    b = write_dicom(tmp_path / "b.dcm", _img(2))
    real = cache_mod.read_image
    reads: list[str] = []
    inside, decoded = threading.Event(), threading.Event()

    def slow_read(path, **kwargs):
        reads.append(os.path.basename(path))
        if os.path.basename(path) == "a.dcm":
            inside.set()
            decoded.wait(60)  # a full-size decode, over when the test says so
        return real(path, **kwargs)

    monkeypatch.setattr(cache_mod, "read_image", slow_read)
    c = ImageCache(tmp_path / "cache" if disk else None)
    got: list[object] = []
    first = threading.Thread(target=lambda: got.append(c.load(a)))
    first.start()
    assert inside.wait(60)
    # Another file is not held up by a's read: it loads while that read has not ended (it
    # was timed against a 0.3 s read, under 0.25 s, which a busy machine need not keep).
    other = c.load(b)
    assert first.is_alive() and not got
    threading.Timer(0.1, decoded.set).start()
    second = c.load(a)  # waits for the first read, then takes its image
    first.join(60)
    assert reads == ["a.dcm", "b.dcm"]
    assert got == [second] and second is c.load(a) and other is c.load(b)
    assert c._reading == {}  # nothing left behind


def test_memory_hit_returns_same_object(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", _img())
    c = ImageCache(None)
    assert c.load(path) is c.load(path)


def test_changed_file_is_decoded_again(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", _img(0))
    c = ImageCache(tmp_path / "cache")
    key1 = file_key(path)
    c.load(path)
    write_dicom(path, _img(1))
    os.utime(path, ns=(1, 10**18))
    assert file_key(path) != key1
    np.testing.assert_array_equal(ImageCache(tmp_path / "cache").load(path).pixels, _img(1))


def test_file_key_resolves_a_path_once_and_follows_a_repointed_link(tmp_path, monkeypatch):
    a = write_dicom(tmp_path / "a.dcm", _img(0))
    b = write_dicom(tmp_path / "b.dcm", _img(1))
    os.utime(b, ns=(1, 10**18))
    link = tmp_path / "link.dcm"
    link.symlink_to(a)
    assert file_key(link) == file_key(a)  # one file, one key, under either name
    resolved = []
    real_resolve = Path.resolve
    me = threading.get_ident()  # this test's calls: a writer thread an earlier test left
    # behind resolved its own file meanwhile (a clean-clone CI run, 6 December)
    monkeypatch.setattr(
        Path,
        "resolve",
        lambda p, *a, **k: (
            (threading.get_ident() == me and resolved.append(p)) or real_resolve(p, *a, **k)
        ),
    )
    keys = {file_key(link) for _ in range(5)}
    assert len(keys) == 1 and resolved == []  # a Browse rerun asks for 65 keys
    link.unlink()
    link.symlink_to(b)  # the same name now shows another file
    assert file_key(link) != keys.pop()


def test_bool_arrays_are_bit_packed_and_round_trip(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", _img())
    mask = np.random.default_rng(0).random((333, 257)) > 0.9
    ImageCache(tmp_path / "cache").array(path, "mask", lambda: mask)
    flush_writes()  # written on the cache's writer thread
    files = list((tmp_path / "cache").rglob("mask.npz"))
    assert len(files) == 1 and files[0].stat().st_size < mask.size / 4
    again = ImageCache(tmp_path / "cache").array(path, "mask", lambda: pytest.fail("recomputed"))
    np.testing.assert_array_equal(again, mask)


def test_eviction_bounds_full_resolution_files(tmp_path):
    c = ImageCache(tmp_path / "cache", max_bytes=30_000)
    for i in range(4):  # rescaled: float32 values the file does not hold, 12 kB copied each
        c.load(write_dicom(tmp_path / f"{i}.dcm", _img(i), rescale=(2.0, 0.0)))
    flush_writes()
    sizes = [f.stat().st_size for f in (tmp_path / "cache").rglob("pixels.npy")]
    assert len(sizes) == 2 and sum(sizes) <= 30_000  # the two newest kept


def test_uncompressed_dicom_is_read_from_its_own_file_not_copied(tmp_path, monkeypatch):
    """A DICOM that holds its values as they are gets no 27 MB copy in the cache (written
    beside the view's first look, on the same cores): its entry is meta.json, and a new
    process reads the pixels from the DICOM itself, not decoding it again."""
    path = write_dicom(tmp_path / "a.dcm", _img(3), spacing_mm=0.1, laterality="R")
    first = ImageCache(tmp_path / "cache").load(path)
    flush_writes()
    assert list((tmp_path / "cache").rglob("pixels.npy")) == []
    assert len(list((tmp_path / "cache").rglob("meta.json"))) == 1
    monkeypatch.setattr(cache_mod, "read_image", lambda *a, **k: pytest.fail("decoded again"))
    again = ImageCache(tmp_path / "cache").load(path)
    assert not again.pixels.flags.writeable  # cached: nobody changes it
    assert again.pixels.dtype == first.pixels.dtype == np.uint16
    np.testing.assert_array_equal(again.pixels, _img(3))
    assert again.pixel_spacing_mm == (0.1, 0.1) and again.laterality == "R"
    assert again.window_center == first.window_center and again.flags == first.flags


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda p: write_dicom(p / "a.dcm", _img(), rescale=(2.0, -5.0)), id="rescaled"
        ),
        pytest.param(lambda p: _png(p / "a.png", _img()), id="png"),
    ],
)
def test_files_that_do_not_hold_the_values_get_a_copy(tmp_path, make):
    path = make(tmp_path)
    first = ImageCache(tmp_path / "cache").load(path)
    flush_writes()
    assert imageio.pixels_in_file(path, np.asarray(first.pixels)) is None
    assert len(list((tmp_path / "cache").rglob("pixels.npy"))) == 1
    again = ImageCache(tmp_path / "cache").load(path)
    assert isinstance(again.pixels, np.memmap) and Path(again.pixels.filename).name == "pixels.npy"
    np.testing.assert_array_equal(again.pixels, first.pixels)


def test_pixels_in_file_checks_every_byte(tmp_path):
    img = _img(4)
    path = write_dicom(tmp_path / "a.dcm", img)
    at = imageio.pixels_in_file(path, img)
    assert at is not None
    np.testing.assert_array_equal(np.fromfile(path, np.uint16, img.size, offset=at), img.ravel())
    other = img.copy()
    other[-1, -1] ^= 1  # one value off, the last one
    assert imageio.pixels_in_file(path, other) is None
    assert imageio.pixels_in_file(path, img.astype(np.int32)) is None  # not the file's bytes
    assert imageio.pixels_in_file(path, img[:, :-1]) is None  # another shape
    assert imageio.pixels_in_file(path, img.byteswap().view(img.dtype.newbyteorder())) is None
    path.write_bytes(path.read_bytes()[:-2])  # cut short
    assert imageio.pixels_in_file(path, img) is None
    assert imageio.pixels_in_file(tmp_path / "missing.dcm", img) is None


@pytest.mark.parametrize("content", ["offset", b"garbage", b""])
def test_broken_in_file_entry_is_decoded_again(tmp_path, caplog, content):
    """An entry read from its DICOM whose meta.json is garbled, cut short, or points past
    the end of the file is a miss: the DICOM is decoded again, with a warning."""
    path = write_dicom(tmp_path / "a.dcm", _img(5))
    ImageCache(tmp_path / "cache").load(path)
    flush_writes()
    meta = next((tmp_path / "cache").rglob("meta.json"))
    if content == "offset":
        data = json.loads(meta.read_text())
        data[cache_mod._IN_FILE]["offset"] = path.stat().st_size
        meta.write_text(json.dumps(data))
    else:
        meta.write_bytes(content)
    got = ImageCache(tmp_path / "cache").load(path)
    assert got.pixels.flags.writeable  # decoded, not from the entry
    np.testing.assert_array_equal(got.pixels, _img(5))
    assert "ignoring broken cache entry" in caplog.text


def test_unwritable_cache_dir_degrades_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = ImageCache(blocker / "cache")
    assert c.cache_dir is None
    path = write_dicom(tmp_path / "a.dcm", _img())
    assert c.load(path).shape == (64, 48)


@pytest.mark.parametrize("content", [b"garbage", b""])  # b"": cut short by a crash
def test_broken_entry_is_ignored(tmp_path, content):
    path = write_dicom(tmp_path / "a.dcm", _img())
    cache = ImageCache(tmp_path / "cache")
    cache.load(path)
    cache.array(path, "mask", lambda: _img() > 2000)
    flush_writes()
    for f in [*(tmp_path / "cache").rglob("pixels.npy"), *(tmp_path / "cache").rglob("*.npz")]:
        f.write_bytes(content)
    again = ImageCache(tmp_path / "cache")
    np.testing.assert_array_equal(again.load(path).pixels, _img())
    np.testing.assert_array_equal(again.array(path, "mask", lambda: _img() > 2000), _img() > 2000)
