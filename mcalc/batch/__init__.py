"""Batch inference: a registered model over every image of a collection, one results table.

:func:`run_batch` is the one call (``python -m mcalc predict --all``, the app's batch
jobs). Modules: :mod:`~mcalc.batch.settings` (what a row holds, the unit of work),
:mod:`~mcalc.batch.worker` (one loaded model turning images into rows through
:func:`mcalc.explain.service.analyse_case`), :mod:`~mcalc.batch.engines` (a local process
pool, or Ray Data on an actor pool), :mod:`~mcalc.batch.table` (the Parquet/CSV table,
resumption, filters), :mod:`~mcalc.batch.run` (the run itself, with checkpoints).
Nothing here imports TensorFlow or Ray at import time.

Example:
    >>> from mcalc.batch import run_batch, read_results  # doctest: +SKIP
    >>> run_batch("demo-custom", "data/demo", "out/batch", engine="ray")  # doctest: +SKIP
    >>> read_results("out/batch").sort_values("score").tail(3)  # doctest: +SKIP
"""

from mcalc.batch.engines import ray_available
from mcalc.batch.run import EXIT_SOME_FAILED, BatchSummary, collection_items, run_batch
from mcalc.batch.settings import ENGINES, BatchError, BatchItem, BatchSettings, default_workers
from mcalc.batch.table import (
    COLUMNS,
    ResultSet,
    case_scores,
    filter_results,
    launched_set,
    read_progress,
    read_results,
    result_sets,
)

__all__ = [
    "ENGINES",
    "COLUMNS",
    "BatchError",
    "BatchItem",
    "BatchSettings",
    "BatchSummary",
    "EXIT_SOME_FAILED",
    "run_batch",
    "collection_items",
    "read_results",
    "read_progress",
    "filter_results",
    "case_scores",
    "ResultSet",
    "result_sets",
    "launched_set",
    "default_workers",
    "ray_available",
]
