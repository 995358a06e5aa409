"""The registry's folder layout: the file names inside one model's folder.

Owned by :mod:`mcalc.models.registry` (which re-exports these names); kept in a module of
its own so that :mod:`mcalc.models.card` can name a model's file without importing the
registry (which imports the card).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CARD_FILE", "MODEL_FILE", "LOG_FILE", "TENSORBOARD_DIR", "FAILED_FILE", "model_file"]

CARD_FILE = "card.json"
MODEL_FILE = "model.keras"
LOG_FILE = "training_log.jsonl"
#: The run's TensorBoard logs (one sub-folder per training stage).
TENSORBOARD_DIR = "tensorboard"
#: In a training run's folder (``<runs_dir>/<id>``, never a registered model's): the run
#: failed or was interrupted, and registered nothing (its first line says why).
FAILED_FILE = "FAILED"


def model_file(folder: str | Path) -> Path:
    """The Keras file of the model in ``folder``."""
    return Path(folder) / MODEL_FILE
