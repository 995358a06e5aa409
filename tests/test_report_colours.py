"""The case report's colours (:mod:`mcalc.report.case`): its maps and rings print in grey
in their order and never in the radiologists' annotation cyan. Fast checks; the PDF
itself is checked in tests/test_report.py (slow)."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest
from PIL import Image

from mcalc.explain.overlay import ANNOTATION_RGB, COLORMAPS, colorize
from mcalc.report.case import REPORT_CMAP, case_report

#: Levels a ring can be drawn at (a spot's peak on the scale: 1% to 100%).
LEVELS = np.linspace(0.01, 1.0, 100, dtype=np.float32)
#: CIE76 distance in CIELAB that the ring colours keep from the annotation cyan: about 17
#: times the just-noticeable difference (2.3); jet comes to 0.7 of it at 35%.
MIN_DELTA_E = 40.0


def _lab(rgb: np.ndarray) -> np.ndarray:
    unit = np.asarray(rgb, np.float32).reshape(1, -1, 3) / 255.0
    return cv2.cvtColor(unit, cv2.COLOR_RGB2Lab)[0]


def _ring_colours(cmap: str) -> np.ndarray:
    return colorize(LEVELS[None, :], cmap)[0]


def distance_to_annotation(cmap: str) -> float:
    """The smallest CIELAB distance of a ring colour of ``cmap`` to the annotation cyan."""
    rings = _lab(_ring_colours(cmap))
    return float(np.linalg.norm(rings - _lab(np.array([ANNOTATION_RGB]))[0], axis=1).min())


def grey_levels(cmap: str) -> np.ndarray:
    """The ring colours of ``cmap`` as a grey-scale print has them (PIL's ``convert("L")``)."""
    rgb = _ring_colours(cmap)[None, :, :].astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).convert("L"))[0].astype(int)


def test_the_reports_ring_colours_stay_apart_from_the_annotation_cyan() -> None:
    """jet at 35% is (0, 228, 255), the annotation outlines' (0, 229, 255): a 35% ring and
    an outline were one colour on the report, on screen as in print."""
    assert distance_to_annotation(REPORT_CMAP) >= MIN_DELTA_E
    assert distance_to_annotation("jet") < 1.0  # the measure sees the collision


def test_the_reports_ring_colours_keep_their_order_in_grey() -> None:
    """jet's grey level rises and falls (15 at 0, 212 at 55%, 38 at 100%): a ring at 11%
    and one at 100% printed alike in grey. The report's map is one whose grey rises."""
    grey = grey_levels(REPORT_CMAP)
    assert (np.diff(grey) >= 0).all() and grey[-1] - grey[0] >= 200
    jet = grey_levels("jet")
    assert (np.diff(jet) < 0).any()  # the measure sees jet's fall


def test_the_report_and_its_command_use_that_map_unless_told() -> None:
    from mcalc.cli import build_parser

    assert REPORT_CMAP in COLORMAPS
    assert inspect.signature(case_report).parameters["cmap"].default == REPORT_CMAP
    args = ["report", "--data", "d", "--case", "c", "--out", "x.pdf"]
    assert build_parser().parse_args(args).cmap == REPORT_CMAP
    assert build_parser().parse_args([*args, "--cmap", "viridis"]).cmap == "viridis"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*args, "--cmap", "rainbow"])
    with pytest.raises(ValueError, match="unknown colour map 'rainbow'"):
        case_report("nowhere", "c", cmap="rainbow")
