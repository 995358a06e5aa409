"""``python -m mcalc train-workers``: multi-worker training on this machine, for a try.

Starts ``--workers N`` processes of ``python -m mcalc train --strategy multiworker``, each with
its own ``TF_CONFIG`` on free local ports (:func:`mcalc.jobs.workers.run_local_workers`);
the chief (worker 0) registers the one model. Takes every flag of ``train``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mcalc.cli.common import auc_text, document_out, fmt
from mcalc.cli.models import add_train_flags
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

__all__ = ["register_commands", "cmd_train_workers"]


def cmd_train_workers(args: argparse.Namespace) -> int:
    from mcalc.jobs.workers import run_local_workers
    from mcalc.models.train_config import TrainConfig

    config = TrainConfig.from_args(args)
    out = run_local_workers(
        config,
        args.workers,
        log_dir=Path(args.log_dir) if args.log_dir else None,
        timeout=args.timeout,
        progress=TerminalProgress("workers", enabled=not args.json),
    )
    if args.json:
        print(json.dumps({"model_id": out.model_id, "exit_codes": out.exit_codes,
                          "logs": [str(p) for p in out.logs], "seconds": out.seconds,
                          "card": out.card}), file=document_out())  # fmt: skip
        return 0
    hyper = out.card.get("hyperparameters", {})
    test = out.card.get("metrics", {}).get("test", {})
    print(
        f"registered {out.model_id}: {counted(hyper.get('workers'), 'worker')}, "
        f"{hyper.get('distribution')}, {counted(hyper.get('replicas'), 'replica')}, "
        f"test AUC {auc_text(test)}, accuracy {fmt(test.get('accuracy'))}; {out.seconds:.0f} s"
    )
    print(f"  logs: {out.logs[0].parent}", file=sys.stderr)
    return 0


def register_commands(subparsers: Any) -> None:
    """Add ``train-workers``."""
    parser = subparsers.add_parser(
        "train-workers",
        help="multi-worker training on this machine (N processes, TF_CONFIG each), for a try",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes (default 2; at most 8)"
    )
    parser.add_argument(
        "--log-dir", metavar="DIR", help="config and worker logs (default <runs>/<id>.workers)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="stop every worker after S seconds"
    )
    add_train_flags(parser)
    parser.set_defaults(func=cmd_train_workers)
