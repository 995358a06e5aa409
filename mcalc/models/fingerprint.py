"""The fingerprint of a dataset: which data a model was trained or evaluated on.

Kept apart from :mod:`mcalc.models.training` so that light code paths (the Evaluate page
looking up cached evaluations, the registry listing) can compute it without importing
TensorFlow.

Example:
    >>> from mcalc.dataset import open_dataset  # doctest: +SKIP
    >>> dataset_fingerprint(open_dataset("data/demo"))[:12]  # doctest: +SKIP
    'bedbd4dc45a1'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcalc.dataset.records import DatasetIndex

__all__ = ["dataset_fingerprint"]


def dataset_fingerprint(index: DatasetIndex) -> str:
    """SHA-256 of the dataset's cases, labels, file names and sizes, and the pixel spacings
    its manifest gives.

    Identical for a copy of the same dataset elsewhere; changes when a case, label or file
    changes. Used to decide whether ``evaluate`` can reuse a card's test split.
    """
    root = Path(index.root)
    base = root if root.is_dir() else root.parent
    lines = []
    for case in index.cases:
        for rec in case.images:
            for path in (rec.image_path, rec.annotation_path):
                if path is None:
                    continue
                p = Path(path)
                try:
                    rel = p.resolve().relative_to(base.resolve()).as_posix()
                except ValueError:
                    rel = p.name
                size = p.stat().st_size if p.exists() else -1
                line = f"{case.case_id}|{case.patient_id}|{case.birads}|{rel}|{size}"
                if path == rec.image_path and rec.pixel_spacing_mm is not None:
                    # the manifest's spacing changes what a model sees (mini-MIAS: 0.2 mm,
                    # read at the assumed 0.07 mm before); without one, as before
                    line += f"|{rec.pixel_spacing_mm!r}mm"
                lines.append(line)
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
