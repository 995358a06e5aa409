"""``python -m mcalc predict --all``: a model over every image of a collection.

Writes ``--out/results.parquet`` and ``results.csv`` (one row per image: scores, top
regions and detections, each saying whether the model calls it at its decision threshold,
model and settings, time, error), ``progress.json`` and, with
``--maps``, ``maps/<image>_proba.npy`` (and the explanation's map with ``--cam``). A rerun
into the same folder skips the images done with the same model and settings; an image that
fails is a row with its error and the run goes on. ``--json`` prints one JSON summary on
stdout; the progress bar goes to stderr. A SIGTERM (a cancelled app job) saves the rows
done so far before the command exits (:func:`mcalc.cli.main` raises it as an interrupt).
Exit status: 0 when every image was analysed, :data:`~mcalc.batch.run.EXIT_SOME_FAILED` (3)
when the run completed but some images failed (the table written), 2 on an error, 130 when
interrupted, 143 when terminated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mcalc.cli.common import document_out, models_dir, positive_int
from mcalc.explain.errors import ExplainError
from mcalc.paths import shown_path
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

__all__ = ["add_batch_arguments", "cmd_batch", "batch_settings"]


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``predict --all`` (the others are shared with one-case prediction)."""
    from mcalc.batch import ENGINES

    g = p.add_argument_group(
        "a whole collection (--all)",
        "exit status: 0 when every image was analysed; 3 when the run completed but some "
        "images failed (the table is written, their rows say why); 2 on an error; 130 when "
        "interrupted",
    )
    g.add_argument(
        "--all", action="store_true", help="every image of --data: one results table in --out"
    )
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: a process pool here (default); ray: Ray Data on an actor pool",
    )
    g.add_argument(
        "--address", help="with --engine ray: a running cluster (default: start a local one)"
    )
    g.add_argument(
        "--workers",
        type=positive_int,
        help="processes or Ray actors (default: the CPUs here; on Ray one per GPU, else CPU)",
    )
    g.add_argument("--maps", action="store_true", help="also write each image's maps (.npy)")


def batch_settings(args: argparse.Namespace, operating: float) -> Any:
    """The :class:`~mcalc.batch.BatchSettings` of the flags; ``operating``: the model's
    decision threshold, the default of the region threshold and the rows' detection
    threshold (a row's regions and detections are those the model calls, as its
    ``predicted``)."""
    from dataclasses import replace

    from mcalc.batch import BatchSettings
    from mcalc.batch.settings import DEFAULT_DETECTION
    from mcalc.explain.service import CamSettings, SlidingSettings

    least = operating if args.threshold is None else float(args.threshold)
    sliding = SlidingSettings(stride=args.stride, batch=args.batch, min_region_score=least)
    method = args.cam or "none"
    cam = None
    if method != "none":
        cam = CamSettings(method=method, layer=args.layer, target=args.target, scope=args.scope)
    detection = replace(DEFAULT_DETECTION, threshold=operating)
    return BatchSettings(sliding, cam, detection, tolerance_mm=args.tolerance, maps=bool(args.maps))


def _operating(args: argparse.Namespace) -> float:
    """The model's decision threshold (its card's); the default one where the model cannot
    be read, which :func:`~mcalc.batch.run_batch` then reports in its own words."""
    from mcalc.errors import ModelError
    from mcalc.explain.scoring import DEFAULT_THRESHOLD, decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    try:
        folder = resolve_model(args.model, models_dir(args))
        return decision_threshold(load_card(folder)).value
    except ModelError:
        return DEFAULT_THRESHOLD


def cmd_batch(args: argparse.Namespace) -> int:
    """``predict --all`` (errors propagate to :func:`mcalc.cli.main`)."""
    from mcalc.batch import run_batch
    from mcalc.batch.run import not_read_note

    if not args.data:
        raise ExplainError("--all needs --data DIR (a dataset folder or manifest)")
    if args.image or args.case or args.view or args.timepoint:
        raise ExplainError(
            "--all runs over every image: leave out --image, --case, --view, --timepoint"
        )
    if args.address and args.engine != "ray":
        raise ExplainError("--address is a Ray cluster: add --engine ray")
    ignored = {
        "--no-cache": (args.no_cache, "it keeps no results cache: its table is its record, "
                       "and a rerun into another --out redoes every image"),
        "--opacity": (args.opacity is not None, "it draws no pictures (--maps writes the maps)"),
        "--cmap": (args.cmap is not None, "it draws no pictures (--maps writes the maps)"),
    }  # fmt: skip
    for flag, (given, why) in ignored.items():
        if given:
            raise ExplainError(f"--all does not take {flag}: {why}; leave it out")

    summary = run_batch(
        args.model,
        args.data,
        Path(args.out),
        batch_settings(args, _operating(args)),
        models_dir=models_dir(args),
        engine=args.engine,
        workers=args.workers,
        address=args.address,
        progress=TerminalProgress("batch", enabled=not args.json),
    )
    report = summary.as_dict()
    if args.json:
        print(json.dumps(report), file=document_out())
    else:
        did = (
            f"{summary.analysed} analysed ({summary.failed} with an error), "
            f"{summary.resumed} already done; {summary.images_per_s:.2f} images/s"
            if summary.analysed
            else f"nothing left to analyse, {summary.resumed} already done"
        )
        print(
            f"model {summary.model_id} over {counted(summary.total, 'image')} with --engine "
            f"{summary.engine}: {did}"
        )
        print(f"results: {shown_path(summary.results[0])} and {shown_path(summary.results[1])}")
    if summary.not_read:  # scan's errors: rows or files that are no image of the run
        note = not_read_note(shown_path(args.data), summary.not_read)
        print(f"warning: {note}", file=sys.stderr)
    if summary.exit_status:
        print(
            f"{summary.failed} of {counted(summary.total, 'image')} failed (their rows' error_kind and "
            "error say why; a rerun into the same --out tries them again): exit status "
            f"{summary.exit_status}",
            file=sys.stderr,
        )
    return summary.exit_status
