"""The patch cache: read back for the same dataset and settings, sampled again on change."""

from __future__ import annotations

import os
import shutil

import numpy as np

from mcalc.dataset import open_dataset
from mcalc.models import patch_cache
from mcalc.models.patches import PatchConfig

CFG = PatchConfig(size=32, spacing_mm=None, pos_per_image=2, neg_per_image=2)


def test_patches_are_sampled_once_per_fingerprint(tiny_demo, tmp_path, monkeypatch) -> None:
    data = tmp_path / "demo"
    shutil.copytree(tiny_demo, data)
    calls = []
    real = patch_cache.sample_dataset

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(patch_cache, "sample_dataset", counting)
    folder = tmp_path / "cache"
    first = patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 0, folder=folder)
    again = patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 0, folder=folder)
    assert len(calls) == 1 and len(first) > 0
    np.testing.assert_array_equal(again.x, first.x)
    np.testing.assert_array_equal(again.y, first.y)
    assert list(again.keys) == list(first.keys) and again.classes == first.classes
    # Another seed or patch setting is another entry.
    patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 1, folder=folder)
    assert len(calls) == 2
    # A changed file changes the fingerprint: sampled again, not the stale patches.
    rec = next(iter(open_dataset(data).images()))
    with open(rec.image_path, "ab") as fh:
        fh.write(b"\0" * 16)
    patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 0, folder=folder)
    assert len(calls) == 3
    # An annotation rewritten in place with the same size (the portable fingerprint does
    # not see it; its modification time does): sampled again.
    ann = next(r.annotation_path for r in open_dataset(data).images() if r.annotation_path)
    raw = bytearray(ann.read_bytes())
    raw[-3] ^= 0xFF
    ann.write_bytes(bytes(raw))
    os.utime(ann, ns=(ann.stat().st_atime_ns, ann.stat().st_mtime_ns + 10**9))
    patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 0, folder=folder)
    assert len(calls) == 4
    # A broken cache file is sampled again, never an error.
    for path in folder.glob("*.npz"):
        path.write_bytes(b"not an npz")
    patch_cache.cached_patches(open_dataset(data), "calcification", CFG, 0, folder=folder)
    assert len(calls) == 5


def test_a_manifest_spacing_changes_the_stamps_and_an_empty_one_does_not(tmp_path) -> None:
    """Patches and evaluations of mini-MIAS read at the assumed 0.07 mm are not reused once
    its manifest says 0.2 mm; a manifest without the column keeps its old keys."""
    import cv2

    from mcalc.models.fingerprint import dataset_fingerprint

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8))
    keys = []
    for name, text in (
        ("old", "case_id,view,image\na,CC,a.png\n"),
        ("empty", "case_id,view,image,spacing_mm\na,CC,a.png,\n"),
        ("given", "case_id,view,image,spacing_mm\na,CC,a.png,0.2\n"),
    ):
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
        index = open_dataset(tmp_path / f"{name}.csv")
        keys.append((patch_cache.files_stamp(index), dataset_fingerprint(index)))
    old, empty, given = keys
    assert old == empty
    assert given[0] != old[0] and given[1] != old[1]
