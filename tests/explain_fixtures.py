"""Tiny models for the prediction and explanation tests, built (not trained) in seconds.

``spot_model`` is a hand-made bright-spot detector: a 3x3 centre-minus-surround filter
(valid padding, so patch borders do not fire), ReLU, an identity convolution, a global
maximum and a logistic read-out, ``P(calcification) = sigmoid(100 * (response - 0.1))``.
On the tiny synthetic demo (0.4 mm pixels) annotated calcifications answer ~0.15 and
tissue under ~0.08, so its maps must light up where the marks are: a model whose right
answer is known, for tests that would mean nothing with random weights.

Import the fixture into a test module (``from tests.explain_fixtures import
spot_registry_fixture``) so that pytest sees it as ``spot_registry``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PATCH = 32


def spot_model(patch: int = PATCH, channels: int = 1):
    """The hand-made detector (two classes, softmax output). With ``channels=2`` (a temporal
    model's recent image and subtraction) each channel weighs half: a bright spot in either
    counts."""
    import keras
    from keras import layers

    inputs = keras.Input((patch, patch, channels), name="patch")
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.GlobalMaxPooling2D(name="head_pool")(x)
    outputs = layers.Dense(2, activation="softmax", name="head_output")(x)
    model = keras.Model(inputs, outputs, name="spot" if channels == 1 else "spot_pair")
    k1 = np.zeros((3, 3, channels, 4), np.float32)
    for c in range(channels):
        k1[:, :, c, 0] = -1.0 / 8.0 / channels
        k1[1, 1, c, 0] = 1.0 / channels
    k2 = np.zeros((3, 3, 4, 4), np.float32)
    k2[1, 1, 0, 0] = 1.0
    dense = np.zeros((4, 2), np.float32)
    dense[0, 1] = 100.0
    model.get_layer("conv1").set_weights([k1, np.zeros(4, np.float32)])
    model.get_layer("conv2").set_weights([k2, np.zeros(4, np.float32)])
    model.get_layer("head_output").set_weights([dense, np.array([0.0, -10.0], np.float32)])
    return model


def card_for(model: Any, *, task: str = "calcification", arch: str = "custom") -> dict[str, Any]:
    """A minimal but complete model card for a tiny model at native spacing."""
    from mcalc.models.tasks import TASKS

    size = int(model.input_shape[1])
    return {
        "card_version": 1,
        "architecture": arch,
        "task": task,
        "classes": list(TASKS[task].classes),
        "freeze": {"strategy": "full"},
        "trainable_params": int(model.count_params()),
        "total_params": int(model.count_params()),
        "weights": {"source": "handmade", "pretrained": False, "detail": "set by hand for tests"},
        "pretrained": False,
        "patch": {"size": size, "spacing_mm": None, "window": "file"},
        "data": {"synthetic": True},
        "metrics": {"test": {"auc": 0.9, "accuracy": 0.8, "n": 10}},
        "created": "2025-01-01T00:00:00Z",
    }


def register(models_dir: Path, model_id: str, model: Any, **card: Any) -> Path:
    """Register ``model`` under ``model_id`` with :func:`card_for`'s card."""
    from mcalc.models.registry import register_model

    def write(folder: Path) -> None:
        model.save(folder / "model.keras")
        (folder / "card.json").write_text(json.dumps(card_for(model, **card)), encoding="utf-8")

    return register_model(models_dir, model_id, write)


def random_model(n_classes: int = 2, patch: int = PATCH, seed: int = 0):
    """The ``custom`` architecture with seeded random weights."""
    import keras

    from mcalc.models.architectures import build_model

    keras.utils.set_random_seed(seed)
    return build_model("custom", patch, n_classes)


@pytest.fixture(scope="session", name="spot_registry")
def spot_registry_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding ``spot`` (the hand-made detector) and ``rand-birads`` (a random
    three-class ``custom`` model of the BI-RADS task)."""
    root = tmp_path_factory.mktemp("explain-registry") / "models"
    register(root, "spot", spot_model())
    register(root, "rand-birads", random_model(3), task="birads")
    return root
