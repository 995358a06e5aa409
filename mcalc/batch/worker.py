"""One worker of a batch run: a loaded model that turns images into rows of the table.

A :class:`BatchWorker` loads the model once (and its explainer when an explanation is
asked), then analyses images one by one through the one analysis call of the app and the
CLI, :func:`mcalc.explain.service.analyse_case`, and takes each map's detections from
:meth:`mcalc.explain.image_analysis.ImageAnalysis.detections` (those the analysis found
for its regions, when they hold them). An image that fails (unreadable, no breast, a bad
explanation layer) gives a row with its error, never an exception: the run goes on. The same class is the local pool's per-process worker and Ray Data's actor
(:meth:`BatchWorker.__call__` takes and returns a batch of columns).

Example:
    >>> worker = BatchWorker(WorkerSpec("models/demo-custom", BatchSettings(), "out"))  # doctest: +SKIP
    >>> worker.analyse(item)["score"]  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from mcalc.batch.settings import BatchItem, WorkerSpec
from mcalc.batch.table import MAPS_DIR, columns_to_rows, error_row, rows_to_columns
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_with
from mcalc.filenames import key_stem

if TYPE_CHECKING:
    from mcalc.explain.service import ImageAnalysis

__all__ = ["BatchWorker", "limit_threads", "map_stem"]

log = logging.getLogger(__name__)


def limit_threads(threads: int | None) -> None:
    """Cap TensorFlow's and OpenCV's threads (workers sharing a machine must not
    oversubscribe it).

    Only possible before TensorFlow runs its first operation; later it is logged and left.
    """
    if threads is None:
        return
    import cv2
    import tensorflow as tf

    cv2.setNumThreads(int(threads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
    except RuntimeError as exc:  # TensorFlow already initialised in this process
        log.info("TensorFlow threads left as they are: %s", exc)


def map_stem(image_key: str) -> str:
    """A file-name stem for an image key on its own (``case/CC_recent`` ->
    ``case_CC_recent``; :func:`mcalc.filenames.key_stem`). A run names its images with
    :func:`mcalc.filenames.key_stems` (:attr:`BatchItem.map_stem`)."""
    return key_stem(image_key)


class BatchWorker:
    """A loaded model that analyses images into rows (see the module).

    Args:
        spec: the model folder, the settings, the output folder, threads and engine name.

    Raises:
        ModelError: the model cannot be loaded or slid over images.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        from mcalc.config import prepare_tensorflow

        prepare_tensorflow()
        limit_threads(spec.threads)
        from mcalc.explain.results import model_key
        from mcalc.explain.scoring import decision_threshold
        from mcalc.explain.service import Explainer, check_model_fits
        from mcalc.models.inference import load_model

        self.spec = spec
        self.settings = spec.settings
        self.loaded = load_model(spec.model_path, Path(spec.model_path).parent)
        check_model_fits(self.loaded)
        card = self.loaded.card
        self.explainer = Explainer.for_model(self.loaded) if self.settings.cam else None
        self.threshold = decision_threshold(card)
        self.model = {
            "model_id": card.id or Path(spec.model_path).name,
            "model_fingerprint": card.fingerprint(),
            "model_key": model_key(card),
        }
        self.settings_key = self.settings.key()
        self.settings_text = json.dumps(self.settings.as_dict(), sort_keys=True)
        self.where = f"{socket.gethostname()}:{os.getpid()}"

    def _common(self, item: BatchItem, seconds: float) -> dict[str, Any]:
        from mcalc.explain.results import image_key

        try:
            fkey = image_key(item.image_path, item.pixel_spacing_mm)
        except OSError:
            fkey = ""
        return {
            **self.model,
            "file_key": fkey,
            "settings_key": self.settings_key,
            "settings": self.settings_text,
            "threshold": self.threshold.value,
            "seconds": round(seconds, 4),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "worker": self.where,
            "engine": self.spec.engine,
        }

    def analyse(self, item: BatchItem) -> dict[str, Any]:
        """The row of one image (with ``error`` set when it could not be analysed)."""
        from mcalc.explain.service import analyse_case

        t0 = time.perf_counter()
        try:
            case = analyse_case(
                self.loaded, [item.image_input()], self.settings.analysis, explainer=self.explainer
            )
            if case.skipped:
                skipped = case.skipped[0]
                return error_row(
                    item,
                    skipped.kind,
                    skipped.message,
                    self._common(item, time.perf_counter() - t0),
                )
            row = self._row(item, case.images[0])
        except (McalcError, OSError, ValueError) as exc:
            # One image's failure (a file that vanished, a map the detector refuses) is
            # that image's row; the run goes on.
            log.warning("%s failed: %s", item.image_key, exc)
            kind = type(exc).__name__
            return error_row(item, kind, str(exc), self._common(item, time.perf_counter() - t0))
        row.update(self._common(item, time.perf_counter() - t0))
        return row

    def _row(self, item: BatchItem, im: ImageAnalysis) -> dict[str, Any]:
        from mcalc.models.detection import detection_clusters

        # Those of the analysis's regions when they hold them (no second search).
        found = im.detections(self.settings.detection)
        dense = im.pmap.dense()
        f = im.pmap.factor
        detections = [
            {
                "row": round(d.row / f, 1),
                "col": round(d.col / f, 1),
                "score": round(d.score, 6),
                "size_mm": d.size_mm,
                "called": self.threshold.calls(d.score),
            }
            for d in found
        ]
        # Whether the model calls each one, as predict's scores.json says: regions listed
        # under a lowered --threshold are not (the row's decision on unrounded scores).
        regions = [{**r.as_dict(), "called": self.threshold.calls(r.score)} for r in im.regions]
        summary = im.as_dict()
        explanation = summary.get("explanation")
        agreement = summary.get("map_agreement") or {}
        return {
            **item.as_row(),
            "score": float(im.score),
            "positive_class": im.scores.positive_class,
            "predicted": self.threshold.decide(im.score, im.scores.positive_class),
            "class_scores": json.dumps(
                {k: round(float(v), 6) for k, v in im.scores.classes.items()}
            ),
            "patches": int(im.scores.patches),
            "n_regions": len(im.regions),
            "n_regions_called": sum(r["called"] for r in regions),
            "top_regions": json.dumps(regions),
            "n_detections": len(found),
            "n_detections_called": sum(d["called"] for d in detections),
            "n_clusters": len(detection_clusters(found, im.spacing_mm)),
            "detections": json.dumps(detections),
            "annotated": bool(summary["annotated"]),
            "map_energy_inside": _num(agreement.get("energy_inside")),
            "explanation": "" if explanation is None else json.dumps(explanation),
            # A flat map (every patch the same probability): its score and regions are no
            # evidence, which Audit says beside a score taken from this row.
            "warning": im.flat_note or "",
            "maps": json.dumps(self._write_maps(item, im, dense) if self.settings.maps else []),
            "error_kind": "",
            "error": "",
        }

    def _write_maps(self, item: BatchItem, im: ImageAnalysis, dense: np.ndarray) -> list[str]:
        """The image's maps as ``.npy`` files under ``maps/``; their paths in the folder."""
        stem = item.map_stem or map_stem(im.key)
        arrays = {
            f"{stem}_proba.npy": dense.astype(np.float32),
            f"{stem}_proba_grid.npy": im.pmap.proba,
        }
        if im.cam is not None:
            method = im.cam.settings.method.replace("+", "p")
            arrays[f"{stem}_{method}.npy"] = im.cam.heat
        out = Path(self.spec.out_dir) / MAPS_DIR
        for name, arr in arrays.items():
            atomic_write_with(out / name, functools.partial(_save_npy, arr))
        return [f"{MAPS_DIR}/{name}" for name in arrays]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data's entry: a batch of :class:`BatchItem` columns -> a batch of rows."""
        rows = [self.analyse(BatchItem.from_row(r)) for r in columns_to_rows(batch)]
        return rows_to_columns(rows)


def _save_npy(arr: np.ndarray, fh: IO[bytes]) -> None:
    np.save(fh, arr)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)
