"""A public collection's own files, recognised where a dataset was expected.

A user who points mcalc at CBIS-DDSM's description CSV, an INbreast release folder,
mini-MIAS's ``Info.txt`` or a VinDr-Mammo folder has the collection but not yet its
manifest: :func:`recognise` says which collection it is, and :meth:`Collection.hint` the
``python -m mcalc manifest`` command that writes the manifest (paths quoted for a shell,
``--out`` the collection folder's ``manifest.csv``, which the folder then opens as).

Example:
    >>> c = Collection("mini-MIAS", "mias", Path("/d/mini mias/Info.txt"))
    >>> c.command()
    "python -m mcalc manifest mias '/d/mini mias/Info.txt' --out '/d/mini mias/manifest.csv'"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mcalc.errors import suggested_command

#: The collections' own file names (here, not in their converters, which import this module
#: through the manifest's reader: :mod:`mcalc.dataset.convert.inbreast` and ``.vindr`` use
#: them from here).
METADATA_NAMES = ("inbreast.csv", "inbreast.xlsx", "inbreast.xls")
FINDINGS_NAME = "finding_annotations.csv"
BREAST_NAME = "breast-level_annotations.csv"

__all__ = ["Collection", "recognise", "recognise_header"]

#: A collection's description CSV, by the columns it has (names lower-cased, ``_`` read as
#: a space), and the ``manifest`` format that converts it.
_HEADERS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("CBIS-DDSM", "cbis-ddsm", frozenset({"image file path", "roi mask file path"})),
    ("VinDr-Mammo", "vindr", frozenset({"study id", "image id", "view position"})),
    ("INbreast", "inbreast", frozenset({"file name", "bi-rads"})),
)
_MIAS_LINE = re.compile(r"^\s*mdb\d{3}\s", re.IGNORECASE)
_MIAS_IMAGE = re.compile(r"^mdb\d{3}\.pgm$", re.IGNORECASE)


@dataclass(frozen=True)
class Collection:
    """A recognised public collection: its name, ``manifest`` format and what to convert."""

    title: str
    fmt: str
    src: Path

    @property
    def folder(self) -> Path:
        """The collection's folder (the file's, when ``src`` is a file)."""
        return self.src if self.src.is_dir() else self.src.parent

    @property
    def out(self) -> Path:
        """Where the suggested command writes the manifest: the folder's ``manifest.csv``."""
        return self.folder / "manifest.csv"

    def command(self) -> str:
        """The ``manifest`` command that converts ``src``, ready to paste into a shell."""
        return suggested_command("manifest", self.fmt, self.src, "--out", self.out)

    def hint(self) -> str:
        """What to do instead of opening ``src``: the command, then what to open."""
        return (
            f"This is {self.title}'s own {'folder' if self.src.is_dir() else 'description file'}, "
            f"not a manifest: write one from it with `{self.command()}` (docs/guide/dataset.md, "
            f"Real collections), then open {self.folder}"
        )


def recognise_header(header: Iterable[str], csv_path: Path) -> Collection | None:
    """The collection whose description CSV has these columns (``header``), or ``None``.

    Example:
        >>> recognise_header(["image_file_path", "ROI mask file path"], Path("c.csv")).fmt
        'cbis-ddsm'
    """
    # INbreast's file is separated by semicolons: its header reads as one column there.
    names = {n.strip().lower().replace("_", " ") for c in header for n in str(c).split(";")}
    for title, fmt, columns in _HEADERS:
        if columns <= names:
            return Collection(title, fmt, csv_path)
    return None


def _first_lines(path: Path, count: int) -> list[str]:
    """Up to ``count`` non-blank lines from the top of a text file (none if unreadable)."""
    lines: list[str] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    lines.append(line)
                if len(lines) >= count:
                    break
    except OSError:
        return []
    return lines


def _is_mias_info(path: Path) -> bool:
    """mini-MIAS's ``Info.txt``: a text file whose first lines (a title may come first)
    include one starting with a reference number (``mdb001 G CIRC ...``)."""
    return path.suffix.lower() == ".txt" and any(
        _MIAS_LINE.match(line) for line in _first_lines(path, 10)
    )


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _recognise_folder(folder: Path) -> Collection | None:
    entries = _entries(folder)
    names = {e.name.lower(): e for e in entries}
    if FINDINGS_NAME in names or BREAST_NAME in names:
        return Collection("VinDr-Mammo", "vindr", folder)
    if any(n.startswith("calc_case_description") and n.endswith(".csv") for n in names):
        return Collection("CBIS-DDSM", "cbis-ddsm", folder)
    if any(n in names for n in METADATA_NAMES) or {"alldicoms", "allxml"} <= set(names):
        return Collection("INbreast", "inbreast", folder)
    if any(_MIAS_IMAGE.match(n) for n in names) or (
        "info.txt" in names and _is_mias_info(names["info.txt"])
    ):
        return Collection("mini-MIAS", "mias", folder)
    return None


def recognise(path: str | Path) -> Collection | None:
    """The public collection whose own file or folder ``path`` is, or ``None``: a VinDr-Mammo
    or CBIS-DDSM folder or CSV, an INbreast release folder or table, mini-MIAS's folder or
    ``Info.txt``. Reads at most a folder's listing and one line of a file.

    Example:
        >>> recognise("/nonexistent") is None
        True
    """
    target = Path(path).expanduser()
    if target.is_dir():
        return _recognise_folder(target)
    if not target.is_file():
        return None
    if _is_mias_info(target):
        return Collection("mini-MIAS", "mias", target)
    if target.name.lower() in METADATA_NAMES:
        return Collection("INbreast", "inbreast", target)
    if target.suffix.lower() == ".csv":
        return recognise_header("".join(_first_lines(target, 1)).split(","), target)
    return None
