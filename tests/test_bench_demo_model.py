"""bench/demo_model.py: the edge distance it reports for a normal image's top detection, and its
--check-reproduces guard's recipe and weight comparison (no training here)."""

from __future__ import annotations

import importlib.util
import json
import shlex
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


def _readme_recipe() -> list[str]:
    """The ``python -m mcalc train`` options of models/README.md's "Reproduce it" block."""
    text = (BENCH.parent / "models" / "README.md").read_text()
    block = text.split("Reproduce it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", " ")
    line = next(x for x in joined.splitlines() if x.strip().startswith("python -m mcalc train"))
    return shlex.split(line)[4:]


def test_the_guard_trains_models_readmes_recipe_from_the_committed_card() -> None:
    card = json.loads((BENCH.parent / "models" / "demo-custom" / "card.json").read_text())
    recipe = _readme_recipe()
    assert recipe[:2] == ["--data", "data/demo"], recipe
    assert _module().recipe_args(card) == recipe[2:]


def test_layer_weights_of_the_committed_model_are_its_23106_parameters() -> None:
    weights = _module().layer_weights(BENCH.parent / "models" / "demo-custom" / "model.keras")
    assert len(weights) == 8 and all(k.startswith("layers/") for k in weights)
    assert sum(w.size for w in weights.values()) == 23106


def test_weight_differences_are_bit_for_bit() -> None:
    differences = _module().weight_differences
    rng = np.random.default_rng(0)
    a = {
        "layers/dense/vars/0": rng.random((4, 3), dtype=np.float32),
        "layers/dense/vars/1": np.zeros(3, np.float32),
    }
    b = {k: v.copy() for k, v in a.items()}
    assert differences(a, b) == {}
    b["layers/dense/vars/0"][2, 1] = np.nextafter(a["layers/dense/vars/0"][2, 1], np.float32(2))
    got = differences(a, b)
    assert list(got) == ["layers/dense/vars/0"] and 0 < got["layers/dense/vars/0"] < 1e-6
    b["layers/dense/vars/1"] = np.zeros(3, np.float64)
    del b["layers/dense/vars/0"]
    assert differences(a, b) == {
        "layers/dense/vars/0": "missing in the trained",
        "layers/dense/vars/1": "(3,) float32 committed, (3,) float64 trained",
    }
