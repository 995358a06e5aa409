"""A model over every image of a collection, resumably: :func:`run_batch`.

The one call of ``python -m mcalc predict --all`` and of the app's batch jobs. It opens the
dataset, leaves out the images already done for this model and these settings
(:func:`mcalc.batch.table.done_keys`), hands the rest to an engine
(:mod:`mcalc.batch.engines`), and saves the results table and ``progress.json`` at least
every :data:`CHECKPOINT_S` seconds and at the end, also when the run is interrupted
(Ctrl-C, a cancelled job), so a rerun goes on where it stopped.

Example:
    >>> summary = run_batch("demo-custom", "data/demo", "out/batch")  # doctest: +SKIP
    >>> summary.analysed, summary.failed, summary.images_per_s  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mcalc.batch.engines import run_local, run_ray
from mcalc.batch.settings import (
    ENGINES,
    BatchError,
    BatchItem,
    BatchSettings,
    WorkerSpec,
    default_workers,
)
from mcalc.batch.table import (
    RESULTS_CSV,
    RESULTS_PARQUET,
    done_keys,
    measured_speeds,
    merge_rows,
    read_progress,
    read_results,
    write_progress,
    write_results,
)
from mcalc.errors import os_error_text
from mcalc.explain.results import image_key
from mcalc.filenames import key_stems
from mcalc.plural import counted
from mcalc.progress import ProgressFn

__all__ = [
    "CHECKPOINT_S",
    "EXIT_SOME_FAILED",
    "BatchSummary",
    "collection_items",
    "not_read_note",
    "run_batch",
]

log = logging.getLogger(__name__)

#: Most seconds between two saves of the table during a run.
CHECKPOINT_S = 10.0

#: Exit status of ``predict --all`` when the run completed (the table written) but some
#: images failed (their rows hold ``error_kind`` and ``error``): distinct from 0 (every
#: image analysed), 2 (an error stopped the run or kept it from starting) and 130
#: (interrupted), so that a script can tell.
EXIT_SOME_FAILED = 3


@dataclass(frozen=True)
class BatchSummary:
    """What a run did.

    Attributes:
        total: images of the collection.
        resumed: images already done by an earlier run (not redone).
        analysed: images analysed by this run (with or without error).
        failed: of those, images with an error (their rows say why).
        seconds: wall time of this run's analysis.
        images_per_s: ``analysed / seconds``.
        not_read: the errors of the dataset's index (a manifest row skipped, an image file
            not found): their images are in no row; ``scan`` says the same, in the same
            records (``{path, line, message, severity}``).
    """

    out: str
    model_id: str
    model_key: str
    settings_key: str
    engine: str
    workers: int
    total: int
    resumed: int
    analysed: int
    failed: int
    seconds: float
    images_per_s: float
    results: tuple[str, str]
    not_read: tuple[dict[str, Any], ...] = ()

    @property
    def exit_status(self) -> int:
        """``0`` when no image of this run failed, else :data:`EXIT_SOME_FAILED`. The images
        skipped as done had no error, so ``failed`` counts every failed image of the
        collection for this model and these settings."""
        return EXIT_SOME_FAILED if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["results"] = list(self.results)
        out["not_read"] = list(self.not_read)
        return out


def collection_items(data: str | Path) -> list[BatchItem]:
    """Every image of a dataset or manifest, in the index's order.

    Raises:
        DatasetError: the dataset cannot be opened.
    """
    return _collection(data)[0]


def _collection(data: str | Path) -> tuple[list[BatchItem], tuple[dict[str, Any], ...]]:
    """:func:`collection_items` and the errors of the index (rows or files not read), as
    ``scan --json`` gives them."""
    from mcalc.dataset import open_dataset

    index = open_dataset(data)
    errors = tuple(p.as_dict() for p in index.problems if p.severity == "error")
    # Named over the whole collection (not the images left to do), so that a rerun names an
    # image's maps as the first run did, and two keys alike but for case never share one.
    stems = key_stems(rec.key for case in index.cases for rec in case.images)
    items: list[BatchItem] = []
    for case in index.cases:
        for rec in case.images:
            items.append(BatchItem.from_record(len(items), case, rec, stems[rec.key]))
    return items, errors


class _Saver:
    """Collects rows, reports progress and saves the table every ``CHECKPOINT_S``."""

    def __init__(self, out: Path, state: dict[str, Any], progress: ProgressFn | None) -> None:
        self.out = out
        self.table = read_results(out)
        self.state = state
        self.progress = progress
        self.pending: list[dict[str, Any]] = []
        self.analysed = self.failed = 0
        self.t0 = self.last = time.perf_counter()

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.pending += rows
        self.analysed += len(rows)
        self.failed += sum(bool(r.get("error")) for r in rows)
        done = self.state["resumed"] + self.analysed
        if self.progress is not None:
            self.progress(done, self.state["total"], f"{self.failed} failed")
        if time.perf_counter() - self.last >= CHECKPOINT_S:
            self.save("running")

    def save(self, state: str, message: str = "") -> None:
        self.table = merge_rows(self.table, self.pending)
        self.pending = []
        write_results(self.out, self.table)
        seconds = time.perf_counter() - self.t0
        self.state.update(
            state=state,
            done=self.state["resumed"] + self.analysed,
            analysed=self.analysed,
            failed=self.failed,
            seconds=round(seconds, 3),
            images_per_s=round(self.analysed / seconds, 4) if seconds > 0 else 0.0,
            updated=time.time(),
            message=message,
        )
        # Kept per explanation, the measure over the most images: a relaunch that retries
        # one failed image measures mostly the model's loading.
        held = self.state["speeds"].get(self.state["explanation"], {})
        if self.analysed >= max(1, int(held.get("analysed", 0) or 0)) and seconds > 0:
            self.state["speeds"][self.state["explanation"]] = {
                "images_per_s": self.state["images_per_s"],
                "engine": self.state["engine"],
                "workers": self.state["workers_asked"],
                "analysed": self.analysed,
            }
        write_progress(self.out, self.state)
        self.last = time.perf_counter()


def run_batch(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    settings: BatchSettings | None = None,
    *,
    models_dir: str | Path | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> BatchSummary:
    """Run a registered model over every image of ``data``; rows go to ``out``.

    Args:
        model: registry id or model folder.
        data: dataset folder (real layout) or manifest.
        out: the run folder (``results.parquet``, ``results.csv``, ``progress.json``,
            ``maps/``); an earlier run's rows in it are kept and, when done with this
            model and these settings, not redone.
        settings: what each row holds.
        models_dir: the registry (default: ``Settings.models_dir``).
        engine: ``local`` (process pool) or ``ray`` (Ray Data).
        workers: processes or actors (default: the CPUs here; on Ray, one per GPU or CPU
            of the cluster).
        address: a running Ray cluster (``ray://host:10001`` or ``host:6379``); default: a
            local instance started for the run.
        progress: called ``(done, total, message)`` as images finish.

    Raises:
        ModelError: unknown model, or one that cannot be slid over images.
        DatasetError: the dataset cannot be opened. BatchError: bad engine, Ray missing
            or unreachable, a worker lost. WriteError: the run folder refuses the table.
    """
    from mcalc.cluster import unreachable_ray_address
    from mcalc.config import get_settings
    from mcalc.explain.results import model_key
    from mcalc.explain.scoring import decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be >= 1, got {workers}")
    if engine == "ray" and (problem := unreachable_ray_address(address)):
        raise BatchError(problem)  # at once: Ray itself waits for minutes
    settings = settings or BatchSettings()
    folder = resolve_model(model, models_dir or get_settings().models_dir).resolve()
    card = load_card(folder)
    mkey, skey = model_key(card), settings.key()
    items, not_read = _collection(data)
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(os_error_text(exc)) from exc
    n_workers = workers or (default_workers() if engine == "local" else 0)
    state: dict[str, Any] = {
        "model_id": card.id,
        "model_key": mkey,
        "settings_key": skey,
        "data": str(data),
        "engine": engine,
        "workers": n_workers,
        "workers_asked": workers,
        "explanation": settings.cam.method if settings.cam is not None else "",
        "total": len(items),
        "not_read": list(not_read),  # the page says them beside the run, as the command
        "started": time.time(),
        # The speeds earlier launches into this folder measured, by explanation: an
        # estimate of a launch with another explanation is not this launch's speed.
        "speeds": measured_speeds(read_progress(out_dir)),
    }
    saver = _Saver(out_dir, state, progress)
    # Rows decided at another threshold (the card's changed since) are redone.
    done = done_keys(saver.table, mkey, skey, decision_threshold(card).value)
    todo = [i for i in items if done.get(i.image_key) != _file_key(i)]
    state["resumed"] = len(items) - len(todo)
    log.info(
        "%d of %d image(s) already done; %d to analyse", state["resumed"], len(items), len(todo)
    )
    if engine == "local" and todo:
        # The pool's size (run_local's): no more processes than images to analyse.
        n_workers = state["workers"] = max(1, min(n_workers, len(todo)))
    spec = WorkerSpec(str(folder), settings, str(out_dir.resolve()), engine=engine)
    saver.save("running")
    try:
        if engine == "ray":
            if actors := run_ray(todo, spec, workers, saver, address=address):
                n_workers = state["workers"] = actors  # the pool Ray made (default: 0)
        else:
            run_local(todo, spec, n_workers, saver)
    except BaseException as exc:  # save what is done, whatever stopped the run
        saver.save("stopped", f"{type(exc).__name__}: {exc}")
        raise
    saver.save("done")
    seconds = float(state["seconds"])
    where = out_dir.resolve()  # every path of the summary absolute, as `out` always was
    return BatchSummary(
        out=str(where),
        model_id=str(card.id),
        model_key=mkey,
        settings_key=skey,
        engine=engine,
        workers=n_workers,
        total=len(items),
        resumed=int(state["resumed"]),
        analysed=saver.analysed,
        failed=saver.failed,
        seconds=seconds,
        images_per_s=float(state["images_per_s"]),
        results=(str(where / RESULTS_PARQUET), str(where / RESULTS_CSV)),
        not_read=not_read,
    )


def not_read_note(data: str, not_read: Sequence[object]) -> str:
    """What a run says of the rows or files of ``data`` it could not read (scan's errors):
    their images are in no row of its table.

    Example:
        >>> not_read_note("archive.csv", [{"message": "row 3: view 'AP' is not ..."}])
        '1 row or file of archive.csv was not read, so its image is in no row of the table (`python -m mcalc scan archive.csv` lists why)'
    """
    import shlex

    n = len(not_read)
    verb, whose = ("was", "its image is") if n == 1 else ("were", "their images are")
    return (
        f"{counted(n, 'row or file', 'rows or files')} of {data} {verb} not read, so {whose} "
        f"in no row of the table (`python -m mcalc scan {shlex.quote(data)}` lists why)"
    )


def _file_key(item: BatchItem) -> str | None:
    """The ``file_key`` a done row of ``item`` holds (:func:`~mcalc.explain.results.image_key`)."""
    try:
        return image_key(item.image_path, item.pixel_spacing_mm)
    except OSError:
        return None
