"""Shared fixtures of the model tests: a tiny generated dataset and one trained model.

Import them into a test module (``from tests.models_fixtures import tiny_data_fixture``)
so that pytest sees them under their names (``tiny_data``, ``tiny_model``). Everything is session-scoped: generated and trained once.
"""

from __future__ import annotations

import functools
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


def keras_efficientnet_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for Keras' cached ``efficientnetb0_notop.h5`` (legacy HDF5, random
    convolutions, the Normalization of the real file: ImageNet mean, variance std^2), which
    ``EfficientNetB0(weights="imagenet")`` then loads without downloading anything.

    The file is written to ``folder``; its contents are made once per test process (an
    EfficientNet-B0 build, ~1 CPU-s), the same bytes for every test that asks."""
    import keras.src.applications.efficientnet as efficientnet

    path = folder / "efficientnetb0_notop.h5"
    path.write_bytes(_keras_efficientnet_bytes())
    monkeypatch.setattr(efficientnet.file_utils, "get_file", lambda *a, **k: str(path))
    return path


@functools.cache
def _keras_efficientnet_bytes() -> bytes:
    import tempfile

    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    ref = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    norm = next(layer for layer in ref.layers if type(layer).__name__ == "Normalization")
    std = np.array([0.229, 0.224, 0.225], np.float32)
    norm.set_weights([np.array([0.485, 0.456, 0.406], np.float32), std**2, np.array(1)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "efficientnetb0_notop.h5"
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, ref)
            # Keras numbers auto-named layers per process: name it as Keras' file does.
            f.move(norm.name, "normalization")
            group = f["normalization"]
            group.move(norm.name, "normalization")  # its weights: <name>/mean, ...
            group.attrs["weight_names"] = [
                str(n).replace(norm.name, "normalization") for n in group.attrs["weight_names"]
            ]
            f.attrs["layer_names"] = [
                "normalization" if str(n) == norm.name else str(n) for n in f.attrs["layer_names"]
            ]
        return path.read_bytes()
