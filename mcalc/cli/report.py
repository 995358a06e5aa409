"""``python -m mcalc report --data DATA --case CASE [--model ID] [--cmap NAME] --out report.pdf``.

One PDF per case for the audit (see :mod:`mcalc.report`); ``--cmap`` is the colour map of
the model's pictures (default inferno, which keeps its order in a grey-scale print);
``--user`` names who made it (default: the login name of the shell). Where accounts exist it must be one of them
(:func:`mcalc.cli.common.recorded_user`): an unknown name is refused and nothing written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcalc.cli.common import check_out_file, recorded_user
from mcalc.config import get_settings
from mcalc.errors import McalcError
from mcalc.explain.overlay import COLORMAPS
from mcalc.paths import shown_path
from mcalc.report.case import REPORT_CMAP

__all__ = ["register_commands"]


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is not a PDF or cannot be written, before any work."""
    if Path(args.out).suffix.lower() != ".pdf":
        raise McalcError(
            f"--out must end in .pdf (the report is a PDF), got {Path(args.out).name!r}"
        )
    check_out_file(args.out, "--out")


def _cmd_report(args: argparse.Namespace) -> int:
    from mcalc.report import write_case_report

    _check_out(args)
    user, _ = recorded_user(args.user, "--user", outcome="nothing written", action="report")
    settings = get_settings()
    if args.models:
        settings = settings.with_overrides(models_dir=Path(args.models))
    path = write_case_report(
        args.out,
        args.data,
        args.case,
        model=args.model,
        user=user,
        settings=settings,
        cmap=args.cmap,
    )
    print(f"wrote {shown_path(path)}")
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the main parser."""
    p = sub.add_parser("report", help="one PDF of a case: images, marks, maps, verdicts")
    p.add_argument("--data", required=True, help="dataset folder or manifest")
    p.add_argument("--case", required=True, help="case id (e.g. suspicious-1)")
    p.add_argument("--model", help="registry id or model folder: add its maps and scores")
    p.add_argument(
        "--cmap",
        choices=list(COLORMAPS),
        default=REPORT_CMAP,
        help=f"colour map of the model's pictures (default {REPORT_CMAP}: its grey level rises "
        "with the value, so it reads in a grey-scale print, and it has no annotation cyan)",
    )
    p.add_argument(
        "--models", metavar="DIR", help="model registry folder (default: models/, or MCALC_MODELS)"
    )
    p.add_argument(
        "--user",
        help="who makes the report (default: the login name); where accounts exist, one of "
        "them (`python -m mcalc users list`)",
    )
    p.add_argument("--out", required=True, help="the PDF to write (FILE.pdf)")
    p.set_defaults(func=_cmd_report, precheck=_check_out)
