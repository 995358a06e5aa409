"""bench/demo_model.py: the edge distance it reports for a normal image's top detection."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module():
    spec = importlib.util.spec_from_file_location("bench_demo_model", BENCH / "demo_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_edge_distance_counts_the_mask_and_the_image_border_as_edge() -> None:
    edge = _module().edge_distance_mm
    breast = np.zeros((20, 30), bool)
    breast[:, :15] = True  # the breast fills the left half, touching the image's border
    dist = edge(breast, 0.1)
    assert dist.shape == breast.shape and not dist[:, 15:].any()
    # Row 10, column 14: one pixel from the mask's edge; column 7: 8 px from both the mask's
    # edge (column 15) and the left border (column -1), 10-11 from the top and bottom.
    assert dist[10, 14] == pytest.approx(0.1, abs=0.01)
    assert dist[10, 7] == pytest.approx(0.8, abs=0.02)
    # Row 0 is one pixel from the top border whatever the column.
    assert dist[0, 7] == pytest.approx(0.1, abs=0.01)
    assert edge(breast, 0.2)[10, 7] == pytest.approx(1.6, abs=0.04)
