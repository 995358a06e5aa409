"""Sampled training patches cached on disk, once per dataset fingerprint.

Sampling decodes every image of a dataset (DICOM decode, resampling, breast segmentation,
annotation masks): seconds per full-size image. The patches it gives depend only on the
dataset's files (:func:`~mcalc.models.fingerprint.dataset_fingerprint`), the task, the
patch settings and the seed, so a second training on the same data (another architecture,
another fold of a cross-validation, a rerun) reads them back instead. Any change of a case,
label or file changes the fingerprint and the patches are sampled again.

Example:
    >>> patches = cached_patches(index, "calcification", PatchConfig(), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mcalc.cache import file_key
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_with
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.patches import PatchConfig, PatchSet
from mcalc.models.sampling import sample_dataset
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.dataset.records import DatasetIndex

__all__ = ["cached_patches", "files_stamp", "patch_cache_path"]

log = logging.getLogger(__name__)

#: Bumped when sampling changes what it gives for the same inputs.
_VERSION = 1


def files_stamp(index: DatasetIndex) -> str:
    """A key of the dataset's files as they are on this disk (path, size, modification
    time): an image or annotation rewritten in place with the same size (which the
    portable dataset fingerprint does not see) is sampled again."""
    digest = hashlib.sha256()
    for case in index.cases:
        for rec in case.images:
            for path in (rec.image_path, rec.annotation_path):
                if path is None:
                    continue
                try:
                    digest.update(file_key(path).encode())
                except OSError:
                    digest.update(f"missing:{path}".encode())
            if rec.pixel_spacing_mm is not None:  # a manifest's spacing: other patches
                digest.update(f"spacing:{rec.pixel_spacing_mm!r}".encode())
    return digest.hexdigest()[:32]


def patch_cache_path(
    folder: Path,
    fingerprint: str,
    task: str,
    config: PatchConfig,
    seed: int,
    files: str = "",
) -> Path:
    """Where the patches of these inputs are cached (one file per combination);
    ``files``: :func:`files_stamp` of the dataset."""
    key = json.dumps(
        {
            "fp": fingerprint,
            "files": files,
            "task": task,
            "patch": asdict(config),
            "seed": seed,
            "v": _VERSION,
        },
        sort_keys=True,
    )
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _save(path: Path, patches: PatchSet) -> None:
    meta = {"classes": list(patches.classes), "notes": patches.notes, "skipped": patches.skipped}
    case_ids = np.asarray(patches.case_ids, dtype=str)
    keys = np.asarray(patches.keys, dtype=str)
    text = np.array(json.dumps(meta))
    atomic_write_with(
        path,
        lambda fh: np.savez(fh, x=patches.x, y=patches.y, case_ids=case_ids, keys=keys, meta=text),
    )


def _load(path: Path) -> PatchSet:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return PatchSet(
            np.asarray(z["x"], np.float32),
            np.asarray(z["y"], np.int64),
            z["case_ids"].astype(object),
            z["keys"].astype(object),
            tuple(meta["classes"]),
            list(meta["notes"]),
            dict(meta["skipped"]),
        )


def cached_patches(
    index: DatasetIndex,
    task: str,
    config: PatchConfig,
    seed: int = 0,
    *,
    folder: str | Path | None = None,
    fingerprint: str | None = None,
    progress: ProgressFn | None = None,
) -> PatchSet:
    """:func:`~mcalc.models.sampling.sample_dataset` of every case, read back from the cache
    when the same dataset (fingerprint), task, patch settings and seed were sampled before.

    Args:
        index, task, config, seed, progress: as :func:`sample_dataset`.
        folder: the cache folder (default ``Settings.cache_dir / "patches"``).
        fingerprint: the dataset's fingerprint when the caller has it already.

    An unreadable cache file is sampled again (and rewritten), never an error.
    """
    if folder is None:
        from mcalc.config import get_settings

        folder = get_settings().cache_dir / "patches"
    fp = fingerprint or dataset_fingerprint(index)
    path = patch_cache_path(Path(folder), fp, task, config, seed, files_stamp(index))
    if path.is_file():
        try:
            patches = _load(path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("patch cache %s unreadable (%s): sampling again", path, exc)
        else:
            log.info("patches of %s read from the cache (%d)", index.root, len(patches))
            if progress is not None:
                progress(1, 1, f"{len(patches)} patches from the cache")
            return patches
    patches = sample_dataset(index, task, config, seed, progress=progress)
    try:
        _save(path, patches)
    except McalcError as exc:  # a read-only cache must not stop training
        log.warning("patch cache %s not written: %s", path, exc)
    return patches
