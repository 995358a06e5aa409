"""A training run's data: the dataset opened, split by patient, its patches sampled and checked.

:func:`prepare_data` is the step of :func:`mcalc.models.training.train` between the
configuration and the fit: the split is by patient (:mod:`mcalc.models.split`), the patches
come through the patch cache (:func:`mcalc.models.patch_cache.cached_patches`), and every
set must hold patches and the training set two classes before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcalc.errors import DatasetError
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.patch_cache import cached_patches
from mcalc.models.patches import PatchConfig, PatchSet, input_channels
from mcalc.models.split import Split, fold_split, split_cases
from mcalc.models.train_config import TrainConfig
from mcalc.models.train_events import TrainEvent, TrainEventFn

if TYPE_CHECKING:
    from mcalc.dataset.records import DatasetIndex

__all__ = ["TrainData", "check_sets", "prepare_data"]


@dataclass
class TrainData:
    """The sampled patches of a run, split by patient."""

    index: DatasetIndex
    fingerprint: str
    split: Split
    patch: PatchConfig
    sets: dict[str, PatchSet]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def patch_channels(self) -> tuple[str, ...]:
        return input_channels(self.patch.input)


def check_sets(patches: PatchSet, split: Split) -> dict[str, PatchSet]:
    """The train, val and test subsets of ``patches``.

    Raises:
        DatasetError: a set without patches, or a training set of one class.
    """
    sets = {name: patches.subset(getattr(split, name)) for name in ("train", "val", "test")}
    for name, subset in sets.items():
        if len(subset) == 0:
            raise DatasetError(
                f"the {name} patients yield no patches for this task: too few patients or "
                "annotations; add cases"
            )
    present = [c for c, n in sets["train"].counts().items() if n > 0]
    if len(present) < 2:
        raise DatasetError(
            f"the training patients hold only class(es) {present}: a classifier needs two; "
            "add cases or annotations"
        )
    return sets


def prepare_data(
    config: TrainConfig,
    patch_size: int,
    emit: Callable[[TrainEvent], None],
    progress: TrainEventFn | None = None,
) -> TrainData:
    """Open the dataset, split it by patient and sample the patches of each set.

    Args:
        config: the run.
        patch_size: the patch side when the configuration names none (the architecture's).
        emit: records the run's ``skipped`` and ``patches`` events.
        progress: receives a ``sampling`` event per image sampled.
    """
    from mcalc.dataset import open_dataset

    index = open_dataset(config.data)
    if config.folds:
        val = config.fractions[1] / (config.fractions[0] + config.fractions[1])
        split = fold_split(
            index.cases, config.folds, config.fold, seed=config.seed, val_fraction=val
        )
    else:
        split = split_cases(index.cases, seed=config.seed, fractions=config.fractions)
    patch_cfg = PatchConfig(
        size=int(config.patch_size or patch_size),
        spacing_mm=config.spacing_mm,
        pos_per_image=config.pos_per_image,
        neg_per_image=config.neg_per_image,
        input=config.input,
    )

    def sampled(done: int, total: int, message: str) -> None:
        if progress is not None:
            progress({"event": "sampling", "done": done, "total": total, "message": message})

    fingerprint = dataset_fingerprint(index)
    patches = cached_patches(
        index, config.task, patch_cfg, config.seed, fingerprint=fingerprint, progress=sampled
    )
    sets = check_sets(patches, split)
    if patches.skipped:
        emit({"event": "skipped", "images": patches.skipped})
    emit({"event": "patches", **{k: v.counts() for k, v in sets.items()}})
    return TrainData(index, fingerprint, split, patch_cfg, sets, patches.skipped)
