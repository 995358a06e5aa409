"""mini-MIAS: ``Info.txt`` and the ``mdbNNN.pgm`` images -> manifest rows.

What this relies on (the database's own ``Info.txt`` notes, as reproduced on the Kaggle /
easymed "MIAS Mammography" pages and in A. Oliver's thesis, appendix B "MIAS"):

* one line per abnormality: reference number (``mdb001``), background tissue (``F`` fatty,
  ``G`` fatty-glandular, ``D`` dense-glandular), class (``CALC``, ``CIRC``, ``SPIC``,
  ``MISC``, ``ARCH``, ``ASYM``, ``NORM``), severity (``B``/``M``, absent for ``NORM``),
  then the centre ``x y`` and the radius in pixels of a circle enclosing the abnormality;
* "coordinate system origin is the bottom-left corner": row = height - 1 - y here;
* images are 1024 x 1024 (the size of each file is read, not assumed);
* "the list is arranged in pairs of films, where each pair represents the left (even
  filename numbers) and right mammograms (odd filename numbers) of a single patient":
  so ``mdb001`` is the right and ``mdb002`` the left breast of patient 1;
* every film is a medio-lateral oblique view (MIAS holds MLO films only);
* for calcifications the circle encloses the cluster, so a ``CALC`` line becomes a filled
  disk in a ``region`` mask; ``CALC`` lines without a centre ("calcifications widely
  distributed") cannot be drawn: their image is reported and left out rather than kept as
  an image without calcifications.

The PGM files carry no pixel spacing. The database's documentation gives it: "The database
has been reduced to a 200 micron pixel edge and padded/clipped so that all the images are
1024x1024" (PEIPA's mini-MIAS page, http://peipa.essex.ac.uk/info/mias.html; Suckling et
al., "The Mammographic Image Analysis Society digital mammogram database", Excerpta Medica
ICS 1069, 1994). Every row's ``spacing_mm`` is therefore :data:`MIAS_SPACING_MM` (0.2), so
the images are read at 0.2 mm a pixel rather than at the configured default.

Other classes give images without annotation (``annotation_kind`` ``none``). Background
tissue goes to ``density`` as words (it is not the ACR density scale); severity goes to
``biopsy`` (``malignant`` if any line of the image says ``M``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mcalc.dataset.convert.common import (
    Conversion,
    ManifestRow,
    index_files,
    raster_shape,
    write_mask,
)
from mcalc.errors import DatasetError, ImageReadError
from mcalc.imageio import RASTER_SUFFIXES

__all__ = [
    "convert_mias",
    "region_mask",
    "INFO_NAME",
    "TISSUE",
    "CLASSES",
    "MIAS_SPACING_MM",
    "mias_laterality",
]

log = logging.getLogger(__name__)

INFO_NAME = "Info.txt"
#: Background tissue letters, written to ``density`` as words.
TISSUE: dict[str, str] = {"F": "fatty", "G": "fatty-glandular", "D": "dense-glandular"}
#: Abnormality classes of ``Info.txt``.
CLASSES = frozenset({"CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"})
#: mini-MIAS pixel spacing in mm: "reduced to a 200 micron pixel edge" (PEIPA's page).
MIAS_SPACING_MM = 0.2
_REF = re.compile(r"^mdb(\d{3})$", re.IGNORECASE)


def mias_laterality(number: int) -> str:
    """Breast side of MIAS film ``number``: odd numbers right, even numbers left.

    Example:
        >>> mias_laterality(1), mias_laterality(2)
        ('R', 'L')
    """
    return "R" if number % 2 else "L"


@dataclass
class _Film:
    ref: str
    number: int
    line: int
    tissue: str
    severities: set[str] = field(default_factory=set)
    circles: list[tuple[int, float, float, float]] = field(default_factory=list)
    undrawable: list[int] = field(default_factory=list)


def _find_info(src: Path) -> Path:
    if src.is_file() and src.suffix.lower() in RASTER_SUFFIXES:  # a film, not the table
        raise DatasetError(
            f"{src} is an image, not the collection's {INFO_NAME}; point at {INFO_NAME} or "
            "the folder that holds it"
        )
    if src.is_file():
        return src
    if src.is_dir():
        for entry in sorted(src.iterdir()):
            if entry.name.lower() == INFO_NAME.lower() and entry.is_file():
                return entry
    raise DatasetError(f"{src}: no {INFO_NAME}; point at the mini-MIAS Info.txt or its folder")


def _parse_info(info: Path, conv: Conversion) -> dict[str, _Film]:
    try:
        lines = info.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise DatasetError(f"{info}: cannot read ({exc})") from exc
    films: dict[str, _Film] = {}
    for number, text in enumerate(lines, start=1):
        tokens = text.split()
        if not tokens or not tokens[0].lower().startswith("mdb"):
            continue  # the file's descriptive text
        found = _REF.match(tokens[0])
        if not found or len(tokens) < 3:
            conv.problem(info, number, f"cannot read {text.strip()!r}; line skipped")
            continue
        ref = tokens[0].lower()
        tissue, cls = tokens[1].upper(), tokens[2].upper()
        wrong = [
            f"{what} {token!r} unknown (expected one of {sorted(known)})"
            for what, token, known in (
                ("background tissue", tokens[1], TISSUE),
                ("class", tokens[2], CLASSES),
            )
            if token.upper() not in known
        ]
        if wrong:  # name the field that is wrong, not both
            conv.problem(info, number, f"{'; '.join(wrong)}; line skipped")
            continue
        film = films.setdefault(ref, _Film(ref, int(found.group(1)), number, tissue))
        rest = tokens[3:]
        if rest and rest[0].upper() in {"B", "M"}:
            film.severities.add(rest[0].upper())
            rest = rest[1:]
        if cls != "CALC":
            continue
        try:
            x, y, radius = (float(v) for v in rest[:3])
            if radius <= 0:
                raise ValueError
        except ValueError:
            film.undrawable.append(number)
            continue
        film.circles.append((number, x, y, radius))
    return films


def region_mask(circles: list[tuple[float, float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Filled disks for ``(x, y, radius)`` circles given from the bottom-left corner.

    Raises:
        ValueError: a centre lies outside the image.

    Example:
        >>> m = region_mask([(2, 0, 1)], (5, 5))  # x=2 on the bottom row
        >>> bool(m[4, 2]), bool(m[0, 2])
        (True, False)
    """
    height, width = shape
    mask = np.zeros(shape, np.uint8)
    for x, y, radius in circles:
        row, col = height - 1 - y, x  # Info.txt counts y up from the bottom-left
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f"centre ({x:g}, {y:g}) outside the {width}x{height} image")
        cv2.circle(mask, (round(col), round(row)), max(1, round(radius)), 255, -1)
    return mask > 0


def _annotate(
    film: _Film, image: Path, mask_dir: Path, info: Path, conv: Conversion
) -> tuple[bool, Path | None]:
    """``(usable, region file)`` of ``film``: no file without CALC lines; unusable is reported."""
    if film.undrawable:
        conv.problem(
            info,
            film.undrawable[0],
            f"{film.ref}: calcifications without a centre and radius (spread through the "
            "image) cannot be drawn as a region; image not converted",
        )
        return False, None
    if not film.circles:
        return True, None
    try:
        mask = region_mask([c[1:] for c in film.circles], raster_shape(image))
    except (ImageReadError, ValueError) as exc:
        conv.problem(info, film.circles[0][0], f"{film.ref}: {exc}; image not converted")
        return False, None
    conv.masks_written += 1
    return True, write_mask(mask_dir / f"{film.ref}_region.png", mask)


def convert_mias(src: Path, mask_dir: Path, images: Path | None = None) -> Conversion:
    """Convert mini-MIAS: ``src`` is ``Info.txt`` or its folder; images default beside it.

    Example:
        >>> conv = convert_mias(Path("/data/mias"), Path("/out/masks/mias"))  # doctest: +SKIP
        >>> conv.rows[0].view, conv.rows[0].laterality  # doctest: +SKIP
        ('MLO', 'R')
    """
    info = _find_info(Path(src).expanduser())
    image_root = Path(images).expanduser() if images is not None else info.parent
    conv = Conversion("mias")
    films = _parse_info(info, conv)
    if not films:
        raise DatasetError(f"{info}: no line starting with a reference number (mdb001 ...)")
    by_stem: dict[str, Path] = {}
    for path in index_files(image_root, RASTER_SUFFIXES):
        by_stem.setdefault(path.stem.lower(), path)

    for ref in sorted(films):
        film = films[ref]
        image = by_stem.get(ref)
        if image is None:
            conv.problem(info, film.line, f"image {ref}.pgm not found under {image_root}")
            continue
        usable, region = _annotate(film, image, mask_dir, info, conv)
        if not usable:
            continue
        patient = f"mias-{(film.number + 1) // 2:03d}"
        side = mias_laterality(film.number)
        biopsy = None
        if film.severities:
            biopsy = "malignant" if "M" in film.severities else "benign"
        conv.add(
            ManifestRow(
                case_id=f"{patient}-{side}",
                patient_id=patient,
                laterality=side,
                view="MLO",
                image=image,
                annotation=region,
                annotation_kind="region" if region is not None else "none",
                density=TISSUE[film.tissue],
                biopsy=biopsy,
                spacing_mm=MIAS_SPACING_MM,
            ),
            info,
            film.line,
        )
    log.info("mias: %d rows, %d problems", len(conv.rows), len(conv.problems))
    return conv
