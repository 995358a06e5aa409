"""A batch run folder's ``progress.json``: where the run stands and the speeds it measured.

Read by the app while a run goes on (:func:`read_progress`), written by the run
(:func:`write_progress`), and the speeds of its launches (:func:`measured_speeds`) estimate
the next launch's duration (:mod:`mcalc.jobs.batch_estimate`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mcalc.errors import WriteError
from mcalc.fileio import atomic_write_json

__all__ = ["PROGRESS_FILE", "write_progress", "read_progress", "measured_speeds"]

log = logging.getLogger("mcalc.batch.table")

PROGRESS_FILE = "progress.json"


def write_progress(out_dir: str | Path, progress: dict[str, Any]) -> None:
    """Replace ``progress.json`` atomically (a full disk is logged, never fatal)."""
    try:
        atomic_write_json(Path(out_dir) / PROGRESS_FILE, progress)
    except WriteError as exc:
        log.warning("progress not written: %s", exc)


def read_progress(out_dir: str | Path) -> dict[str, Any]:
    """``progress.json`` of a run folder (``{}`` when absent or unreadable)."""
    try:
        data = json.loads((Path(out_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def measured_speeds(
    progress: dict[str, Any], legacy: tuple[str | None, str, int | None] | None = None
) -> dict[str, dict[str, Any]]:
    """The speeds a run folder's launches measured, by explanation method (``""``: none):
    ``{method: {"images_per_s", "engine", "workers", "analysed"}}``, from its
    ``progress.json`` (each launch keeps the others' in ``speeds``).

    ``legacy``: ``(explanation, engine, workers)`` of the launch that wrote a
    ``progress.json`` made before ``speeds`` was recorded (its top-level speed is then that
    launch's); ``None``: such a file gives no speed.

    Example:
        >>> measured_speeds({"speeds": {"gradcam": {"images_per_s": 0.1, "engine": "local",
        ...     "workers": None, "analysed": 8}}})["gradcam"]["images_per_s"]
        0.1
        >>> measured_speeds({"images_per_s": 0.5}, legacy=(None, "local", 2))
        {'': {'images_per_s': 0.5, 'engine': 'local', 'workers': 2, 'analysed': 0}}
    """
    held = progress.get("speeds")
    if isinstance(held, dict):
        return {
            str(k): dict(v)
            for k, v in held.items()
            if isinstance(v, dict)
            and isinstance(v.get("images_per_s"), int | float)
            and v["images_per_s"] > 0
        }
    rate = progress.get("images_per_s")
    if legacy is None or not isinstance(rate, int | float) or rate <= 0:
        return {}
    method, engine, workers = legacy
    return {
        method or "": {
            "images_per_s": float(rate),
            "engine": engine,
            "workers": workers,
            "analysed": int(progress.get("analysed", 0) or 0),
        }
    }
