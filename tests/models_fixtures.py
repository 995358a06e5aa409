"""Shared fixtures of the model tests: a tiny generated dataset and one trained model.

Import them into a test module (``from tests.models_fixtures import tiny_data_fixture``)
so that pytest sees them under their names (``tiny_data``, ``tiny_model``). Everything is session-scoped: generated and trained once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Keyword arguments of a tiny but complete training run (native spacing, 32 px patches).
TINY = {
    "epochs": 1,
    "batch": 8,
    "spacing_mm": None,
    "patch_size": 32,
    "max_steps": 3,
    "pos_per_image": 4,
    "neg_per_image": 4,
}


@pytest.fixture(scope="session", name="tiny_data")
def tiny_data_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-case synthetic dataset in the real layout, 256x208 px images."""
    from mcalc.synthetic import generate_demo

    out = tmp_path_factory.mktemp("models-data") / "demo"
    generate_demo(out, cases=12, seed=0, shape=(256, 208))
    return out


@pytest.fixture(scope="session", name="tiny_model")
def tiny_model_fixture(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A custom calcification model trained one tiny epoch and registered."""
    from mcalc.models.training import TrainConfig, train

    root = tmp_path_factory.mktemp("models-registry")
    config = TrainConfig(
        data=tiny_data,
        arch="custom",
        task="calcification",
        models_dir=root / "models",
        runs_dir=root / "runs",
        model_id="tiny-custom",
        **TINY,
    )
    return train(config)
