"""Converters from public mammography collections to mcalc's generic manifest.

One module per collection, each written from the collection's public description (cited
in its docstring): :mod:`~mcalc.dataset.convert.cbis_ddsm`,
:mod:`~mcalc.dataset.convert.inbreast`, :mod:`~mcalc.dataset.convert.mias`,
:mod:`~mcalc.dataset.convert.vindr`. Each reads the collection's own description files,
draws the masks the collection does not ship as PNG under ``<manifest folder>/masks/<format>``,
and reports every row it could not convert; nothing is guessed silently. All four are
single-round collections: every image is ``recent``.

Example:
    >>> from mcalc.dataset.convert import convert_collection
    >>> conv = convert_collection("mias", "/data/mias", "/out/manifest.csv")  # doctest: +SKIP
    >>> len(conv.rows), [str(p) for p in conv.errors][:1]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from mcalc.dataset.convert.cbis_ddsm import convert_cbis_ddsm
from mcalc.dataset.convert.common import (
    MANIFEST_COLUMNS,
    ROW_KINDS,
    Conversion,
    ConvertProblem,
    ManifestRow,
    write_manifest,
)
from mcalc.dataset.convert.inbreast import convert_inbreast
from mcalc.dataset.convert.mias import convert_mias
from mcalc.dataset.convert.vindr import convert_vindr
from mcalc.errors import DatasetError

__all__ = [
    "FORMATS",
    "convert_collection",
    "normalize_format",
    "Conversion",
    "ConvertProblem",
    "ManifestRow",
    "write_manifest",
    "MANIFEST_COLUMNS",
    "ROW_KINDS",
]

Converter = Callable[[Path, Path, Path | None], Conversion]

#: Format name -> converter ``(src, mask folder, images folder or None)``.
FORMATS: dict[str, Converter] = {
    "cbis-ddsm": convert_cbis_ddsm,
    "inbreast": convert_inbreast,
    "mias": convert_mias,
    "vindr": convert_vindr,
}


def normalize_format(name: str) -> str:
    """``"CBIS_DDSM"`` -> ``"cbis-ddsm"``; raises :class:`DatasetError` for an unknown one."""
    key = name.strip().lower().replace("_", "-")
    key = {"cbis": "cbis-ddsm", "mini-mias": "mias", "vindr-mammo": "vindr"}.get(key, key)
    if key not in FORMATS:
        raise DatasetError(f"unknown collection format {name!r}; expected one of {sorted(FORMATS)}")
    return key


def _refuse_foreign_target(target: Path) -> None:
    """``out`` may replace an earlier manifest, never another file: ``--out`` pointed at the
    collection's own ``Info.txt`` (or ``INbreast.csv``) overwrote it with the manifest.

    Raises:
        DatasetError: ``target`` is a folder, not a ``.csv`` (what reads a manifest asks for
            one), or a file whose first line is not a manifest's header (``case_id`` and
            ``image`` among its columns).
    """
    if target.is_dir():
        raise DatasetError(f"--out {target} is a folder; give the manifest CSV's file name")
    if target.exists():
        try:
            with target.open(encoding="utf-8", newline="") as f:
                header = next(csv.reader([f.readline()]), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            header = []
        if not {"case_id", "image"} <= {c.strip() for c in header}:
            raise DatasetError(
                f"--out {target} exists and is not a manifest (its first line has no case_id "
                "and image columns): it may be one of the collection's own files; choose "
                "another path"
            )
    if target.suffix.lower() != ".csv":  # scan, train, ... open a manifest by its .csv
        raise DatasetError(
            f"--out {target} must end in .csv (a manifest is a CSV), got {target.name!r}"
        )


def convert_collection(
    fmt: str, src: str | Path, out: str | Path, images: str | Path | None = None
) -> Conversion:
    """Convert a collection and write its manifest at ``out`` (masks beside it).

    Args:
        fmt: ``cbis-ddsm``, ``inbreast``, ``mias`` or ``vindr``.
        src: the collection's description file or folder (see each module).
        out: the manifest CSV to write; masks go to ``<out folder>/masks/<fmt>/``.
        images: where the images are, when not where each module looks by default.

    Returns:
        The conversion; when no row could be converted, no manifest is written and the
        problems say why.

    Raises:
        DatasetError: unknown format, or the description files cannot be found or read.
    """
    key = normalize_format(fmt)
    target = Path(out).expanduser().resolve()
    source = Path(src).expanduser()
    if not source.exists():
        raise DatasetError(f"{source} does not exist; point at the collection's description files")
    image_dir = Path(images).expanduser() if images is not None else None
    if image_dir is not None and not image_dir.is_dir():
        raise DatasetError(f"{image_dir} is not a folder; --images takes the folder of the images")
    _refuse_foreign_target(target)
    conversion = FORMATS[key](source, target.parent / "masks" / key, image_dir)
    if conversion.rows:
        write_manifest(conversion, target)
    return conversion
