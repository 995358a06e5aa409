"""Opening a dataset, whatever its form, as one :class:`DatasetIndex`.

Three forms are accepted:

* the real micro-calcification dataset as unpacked (``<root>/Dataset/Normal_cases/1/...``,
  ``Description.xlsx``), see :mod:`mcalc.dataset.layout`;
* a manifest CSV, or a folder holding ``manifest.csv``, see :mod:`mcalc.dataset.manifest`;
* mcalc's generated demo set, which has the real layout plus an ``mcalc_demo.json`` marker.

Indexing never decodes an image; problems found on the way (loosely matched names,
leftover files, missing images) are listed in :attr:`DatasetIndex.problems`.

Example:
    >>> from mcalc.dataset import open_dataset
    >>> index = open_dataset("/data/microcalc")  # doctest: +SKIP
    >>> [p.message for p in index.problems if p.severity != "info"][:1]  # doctest: +SKIP
    ["Dataset/Suspicious_cases/3/CC_recemt.dcm: 'CC_recemt.dcm' read as CC_recent.dcm ..."]
"""

from __future__ import annotations

import logging
from pathlib import Path

from mcalc.dataset.collections import recognise
from mcalc.dataset.layout import index_real_layout
from mcalc.dataset.manifest import find_manifest, index_manifest
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord, Problem
from mcalc.errors import DatasetError

__all__ = [
    "open_dataset",
    "index_real_layout",
    "index_manifest",
    "DatasetIndex",
    "CaseRecord",
    "ImageRecord",
    "Problem",
]

log = logging.getLogger(__name__)


def open_dataset(path: str | Path) -> DatasetIndex:
    """Index the dataset at ``path``, choosing the reader by what is there.

    A ``.csv`` file or a folder holding ``manifest.csv`` is read as a manifest; any
    other folder as the real dataset's layout.

    Raises:
        DatasetError: the path does not exist, is a file other than a CSV, or holds
            neither form (``ManifestError``, a subclass, for a malformed manifest).
    """
    target = Path(path).expanduser()
    if not target.exists():
        raise DatasetError(
            f"{target} does not exist; point at the folder that holds Dataset/ or at a manifest"
            " CSV (the synthetic demo set: `python -m mcalc demo --out DIR` writes it; the app"
            " writes data/demo on its first start)"
        )
    if target.is_file():
        if target.suffix.lower() == ".csv":
            return index_manifest(target)
        collection = recognise(target)
        if collection is not None:
            raise DatasetError(f"{target} is not a dataset. {collection.hint()}")
        hint = (
            " (the spreadsheet's folder, not the spreadsheet)"
            if target.suffix.lower()
            in {
                ".xlsx",
                ".xls",
            }
            else ""
        )
        raise DatasetError(
            f"{target} is a {target.suffix or 'extension-less'} file; point at the folder "
            f"that holds Dataset/{hint} or at a manifest CSV"
        )
    if find_manifest(target) is not None:
        log.debug("%s holds a manifest; reading it", target)
        return index_manifest(target)
    try:
        return index_real_layout(target)
    except DatasetError as exc:
        collection = recognise(target)
        if collection is None:
            raise
        raise DatasetError(
            f"{target} holds neither the micro-calcification dataset's layout nor a "
            f"manifest. {collection.hint()}"
        ) from exc
