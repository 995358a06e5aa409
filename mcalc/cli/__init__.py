"""The ``python -m mcalc`` command line: headless access to everything the app does.

Every command that takes data accepts a real-layout dataset folder, a manifest CSV, or a
folder holding ``manifest.csv``. Errors that mcalc raises on purpose are printed as one
line on stderr with a non-zero exit status; ``--json`` output goes to stdout only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from mcalc.cli.admin import register_commands as register_admin_commands
from mcalc.cli.audit import register_commands as register_audit_commands
from mcalc.cli.common import (
    add_data_arguments,
    data_of,
    document_out,
    field_error_text,
    json_document,
)
from mcalc.cli.evaluate import register_commands as register_evaluate_commands
from mcalc.cli.manifest import register_commands as register_manifest_commands
from mcalc.cli.models import register_commands as register_model_commands
from mcalc.cli.predict import register_commands as register_predict_commands
from mcalc.cli.report import register_commands as register_report_commands
from mcalc.cli.temporal import register_commands as register_temporal_commands
from mcalc.cli.users import register_commands as register_user_commands
from mcalc.cli.workers import register_commands as register_workers_commands
from mcalc.config import (
    ask_for_quiet_tensorflow_imports,
    get_settings,
    import_tensorflow_quietly,
    prepare_tensorflow,
)
from mcalc.errors import FieldError, McalcError, os_error_text
from mcalc.paths import shown_path
from mcalc.plural import counted
from mcalc.progress import TerminalProgress, stop_hook

__all__ = ["main", "build_parser", "quiet_retracing_warnings"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from mcalc.synthetic import generate_demo

    out = Path(args.out) if args.out else get_settings().demo_dir
    summary = generate_demo(
        out,
        cases=args.cases,
        seed=args.seed,
        size=args.size,
        progress=TerminalProgress("demo", enabled=not args.json),
        style=args.style,
        difficulty=args.difficulty,
    )
    result = {
        "out": str(summary.out),
        "cases": summary.cases,
        "images": summary.images,
        "calcifications": summary.calcifications,
        "clusters": summary.clusters,
        "seconds": round(summary.seconds, 2),
        "synthetic": True,
    }
    if args.json:
        print(json.dumps(result), file=document_out())
    else:
        print(
            f"wrote a SYNTHETIC demo dataset to {summary.out}: {counted(summary.cases, 'case')}, "
            f"{counted(summary.images, 'image')}, "
            f"{counted(summary.calcifications, 'calcification')}, "
            f"{summary.clusters} planted clusters of 5 or more ({summary.seconds:.1f} s; "
            "scan counts every 3 or more within 1 cm² of the marks)"
        )
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from mcalc.scan import scan_dataset

    data = data_of(args)
    report = scan_dataset(data, progress=TerminalProgress("scan", enabled=not args.json))
    if args.json:
        print(json.dumps(report.to_dict()), file=document_out())
    else:
        kind = "SYNTHETIC demo data" if report.synthetic else report.source
        print(f"{shown_path(report.root)} ({kind})")
        print(
            f"  cases {report.cases}, images {report.images} "
            f"({report.readable_images} readable, {report.annotated_images} annotated)"
        )
        print(f"  calcifications {report.calcifications}, clusters {report.clusters}")
        if report.regions:
            print(f"  regions {report.regions} (areas holding calcifications, not counted)")
        shown = [p for p in report.problems if p.severity != "info" or args.verbose]
        # The notes counted apart: --json lists them among "problems" with severity info,
        # and "problems: 0" here beside its 2 read as two counts of one thing.
        notes = sum(p.severity == "info" for p in report.problems)
        problems = len(report.problems) - notes
        print(
            f"  problems: {problems}, notes: {notes}"
            + ("" if args.verbose or not notes else " (-v lists the notes)")
        )
        base = Path(report.root) if Path(report.root).is_dir() else Path(report.root).parent
        for p in shown:  # the message without its file again in front
            print(f"  [{p.severity}] {shown_path(p.path)}: {p.located(base)[1]}")
    if not report.usable:
        print(f"error: nothing usable was found in {shown_path(data)}", file=sys.stderr)
        return 1
    return 0


class _BadArguments(SystemExit):
    """A flag or value the parser refused, said on stderr; exits 2 as argparse's own, and
    :func:`main` adds the JSON document where ``--json`` was asked."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line and where to read more, as the
    commands' own errors are (a wrong ``--view`` printed the whole usage, a dozen lines,
    before the error). Sub-command parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        text = f"{message} (see `{self.prog} --help`)"
        print(f"error: {text}", file=sys.stderr)
        raise _BadArguments(text)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but an unknown flag is refused by the (sub-)command it was given
        to, so that the line points at that command's ``--help`` (argparse's own pointed
        every one at ``python -m mcalc --help``, which lists the commands, not their flags)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            argv = list(sys.argv[1:] if args is None else args)
            self._innermost(argv).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _innermost(self, argv: list[str]) -> argparse.ArgumentParser:
        """The deepest sub-command parser that ``argv`` names (``models threshold``)."""
        parser: argparse.ArgumentParser = self
        for token in argv:
            sub = next(
                (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
            )
            if sub is None:
                break
            if token in sub.choices:
                parser = sub.choices[token]
        return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = _Parser(
        prog="python -m mcalc",
        description="mcalc: breast micro-calcification workbench (headless commands).",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,  # `--log-level verbose` was taken as WARNING without a word
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        metavar="LEVEL",
        help="debug, info, warning (default), error or critical; debug also prints the "
        "traceback of an error",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="write the synthetic demo dataset (real layout)")
    demo.add_argument(
        "--out", metavar="DIR", help="output folder (default: data/demo, or MCALC_DEMO_DIR)"
    )
    demo.add_argument("--cases", type=int, default=12, help="number of cases (default 12)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--size", choices=["small", "full"], default="small", help="small (default) or full"
    )
    demo.add_argument(
        "--style",
        choices=["digital", "film"],
        default="digital",
        help="digital (default) or film: scanned-film artefacts (bright borders, scanner "
        "lines, a sticker on the border, fog) that a breast segmentation must ignore",
    )
    demo.add_argument(
        "--difficulty",
        choices=["real", "easy"],
        default="real",
        help="real (default): calcifications of a few pixels near the noise, benign and "
        "suspicious shapes that overlap, dense tissue hiding some; easy: plainly visible ones "
        "(the sets of earlier versions)",
    )
    demo.add_argument("--json", action="store_true", help="print a JSON summary")
    demo.set_defaults(func=_cmd_demo)

    scan = sub.add_parser("scan", help="index a dataset and report counts and problems")
    add_data_arguments(scan, "as --data")
    scan.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: counts, per_image, and problems, each {path, line, "
        "message, severity} as manifest's (line: null where not tied to a line)",
    )
    scan.add_argument("-v", "--verbose", action="store_true", help="also list informational notes")
    scan.set_defaults(func=_cmd_scan)

    register_model_commands(sub)
    register_evaluate_commands(sub)
    register_predict_commands(sub)
    register_manifest_commands(sub)
    register_temporal_commands(sub)
    register_user_commands(sub)
    register_report_commands(sub)
    register_audit_commands(sub)
    register_admin_commands(sub)
    register_workers_commands(sub)
    _add_examples(sub)
    return parser


#: One example per command, shown at the end of its ``--help`` (with where the exit
#: statuses are listed); a test checks that every command has one.
EXAMPLES = {
    "demo": "python -m mcalc demo --out /tmp/demo --cases 6 --json",
    "scan": "python -m mcalc scan data/demo --json > scan.json",
    "manifest": "python -m mcalc manifest mias /data/all-mias --out /data/mias.csv",
    "train": "python -m mcalc train --data data/demo --arch custom --epochs 2 --id try-1",
    "models": "python -m mcalc models --json",
    "models list": "python -m mcalc models list --models /srv/models",
    "models default": "python -m mcalc models default demo-custom --by ana",
    "models threshold": "python -m mcalc models threshold demo-custom --data data/demo --json",
    "evaluate": "python -m mcalc evaluate --model demo-custom --data data/demo --json",
    "crossval": "python -m mcalc crossval --data data/demo --folds 3 --epochs 2 --json",
    "compare": "python -m mcalc compare --model A --model B --data data/demo --bootstrap 500",
    "predict": "python -m mcalc predict --data data/demo --case suspicious-1 --out /tmp/pred",
    "temporal": "python -m mcalc temporal --data data/demo --case suspicious-1 --out /tmp/tmp",
    "users": "python -m mcalc users --file data/users.yaml list",
    "users add": "python -m mcalc users add ana --role researcher --password-stdin < pw.txt",
    "users list": "python -m mcalc users list --json",
    "users remove": "python -m mcalc users remove ana",
    "report": "python -m mcalc report --data data/demo --case suspicious-1 --out case.pdf",
    "audit": "python -m mcalc audit table --store data/annotations",
    "audit table": "python -m mcalc audit table --model demo-custom --out audit.csv",
    "audit calls": "python -m mcalc audit calls --model demo-custom --out calls.csv --json",
    "audit agreement": "python -m mcalc audit agreement --model demo-custom --question regions",
    "delete": "python -m mcalc delete model try-1 --as admin --password-stdin < pw.txt",
    "train-workers": "python -m mcalc train-workers --workers 2 --data data/demo --epochs 1",
}


#: A command's own exit status beyond 0, 2 and 130, said in its ``--help`` as README's
#: "Exit status" table gives it (what a pipeline branches on).
OWN_EXIT_STATUS = {
    "scan": "1 nothing usable was found",
    "manifest": "1 nothing could be converted",
    "predict": "3 with --all: the run finished but some images failed",
}


def _add_examples(sub: argparse._SubParsersAction, prefix: str = "") -> None:
    for name, parser in sub.choices.items():
        path = f"{prefix}{name}"
        example = EXAMPLES.get(path)
        if example:
            own = f", {OWN_EXIT_STATUS[path]}" if path in OWN_EXIT_STATUS else ""
            as_json = (
                '; with --json an error is also {"error": MESSAGE, "status": N} on stdout'
                if any("--json" in a.option_strings for a in parser._actions)
                else ""
            )
            parser.epilog = (
                f"example:\n  {example}\n\nexit status: 0 done{own}, 2 refused (bad input), 130 "
                f'interrupted{as_json}; README\'s "Exit status" lists every one'
            )
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_examples(action, f"{path} ")


#: The commands that run a model (and so import TensorFlow), imported up front by
#: :func:`import_tensorflow_quietly`; ``report`` only with ``--model``.
TENSORFLOW_COMMANDS = frozenset({"train", "evaluate", "crossval", "compare", "predict"})


def _uses_tensorflow(args: argparse.Namespace) -> bool:
    command = getattr(args, "command", None)
    if command == "report":
        return bool(getattr(args, "model", None))
    if command == "predict" and getattr(args, "all", False):
        # Its worker processes (or Ray actors) run the model; this process imports
        # TensorFlow only if it analyses images itself (one worker, or one image left:
        # mcalc.batch.engines.run_local), quietly then too. Up front it cost every run ~6 s.
        return False
    return command in TENSORFLOW_COMMANDS


class _NotRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def quiet_retracing_warnings(level: int) -> Iterator[None]:
    """Keep TensorFlow's tf.function retracing warnings off the log below ``DEBUG``.

    A command that builds several models in one process (``crossval``: one per fold) makes
    TensorFlow warn, in a paragraph addressed to whoever writes the training loop, that its
    functions retraced: expected here, since every fold is a new model, and nothing the
    user can act on. ``--log-level DEBUG`` shows them."""
    if level <= logging.DEBUG:
        yield
        return
    tf_log = logging.getLogger("tensorflow")
    quiet = _NotRetracing()
    tf_log.addFilter(quiet)
    try:
        yield
    finally:
        tf_log.removeFilter(quiet)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``kill``, a scheduler ending a job) raised as an interrupt, so
    that the clean-up a Ctrl+C runs (temporary folders removed, nothing half-written) runs
    too; the exit status is then 143 (128 + SIGTERM) rather than 130."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[bool]]:
    """While inside, SIGTERM raises :class:`_Terminated`; yields a flag set when it came.
    Outside the main thread (a test calling :func:`main` from a worker) nothing changes.

    The process's one SIGTERM handler: work that must not be interrupted where it is (a
    fit: ``train``, ``crossval``) registers a hook meanwhile (:func:`mcalc.progress.push_stop_hook`),
    called instead; it stops itself soon after and raises the interrupt then."""
    seen = [False]

    def terminate(signum: int, frame: object) -> None:
        seen[0] = True
        hook = stop_hook()
        if hook is not None:
            hook()
            return
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (README's "Exit status" lists them)."""
    user_level = "TF_CPP_MIN_LOG_LEVEL" in os.environ
    prepare_tensorflow()
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(given)
    except _BadArguments as exc:  # said on stderr; the document where --json was asked
        if "--json" in given:
            _say_error(exc.message, 2, json_asked=True, prefix=None)
        raise SystemExit(2) from None
    level = getattr(logging, args.log_level)
    logging.basicConfig(level=level, format="%(levelname)s (%(name)s): %(message)s")
    terminated = [False]
    try:
        with _sigterm_as_interrupt() as terminated:
            code = _run(args, level, user_level)
    except KeyboardInterrupt:  # 128 + the signal, as a shell reports it
        code = 143 if terminated[0] else 130
        _say_error(_interrupted(args, "terminated" if terminated[0] else "interrupted"), code,
                   json_asked=_json_asked(args), prefix="")  # fmt: skip
    return code


def _json_asked(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _say_error(
    message: str, code: int, *, json_asked: bool, prefix: str | None = "error: "
) -> None:
    """An error as every command says it: one line on stderr (``prefix`` ``None``: said
    already); with ``--json``, also as the document on stdout, ``{"error": message,
    "status": code}`` (a script reading the document found an empty stdout)."""
    if prefix is not None:
        print(f"{prefix}{message}", file=sys.stderr)
    if json_asked:
        with contextlib.suppress(OSError):  # a closed stdout: the line above says it
            print(json.dumps({"error": message, "status": code}), flush=True)


def _error_text(exc: McalcError, args: argparse.Namespace) -> str:
    """The message of an error mcalc raised: a training configuration's field named as the
    command line's flag (``--epochs``, not the library's ``epochs``)."""
    if isinstance(exc, FieldError):
        return field_error_text(exc, args)
    return str(exc)


def _run(args: argparse.Namespace, level: int, user_level: bool) -> int:
    try:
        precheck = getattr(args, "precheck", None)
        if precheck is not None:  # what a command refuses without TensorFlow: before its start
            precheck(args)
        if not user_level and _uses_tensorflow(args):
            import_tensorflow_quietly()
        elif not user_level and getattr(args, "command", None) in TENSORFLOW_COMMANDS:
            ask_for_quiet_tensorflow_imports()  # predict --all: its workers' and its own
        with quiet_retracing_warnings(level), json_document(bool(getattr(args, "json", False))):
            return int(args.func(args))
    except McalcError as exc:
        _say_error(_error_text(exc, args), 2, json_asked=_json_asked(args))
        return 2
    except BrokenPipeError:
        # What reads the output went away (`python -m mcalc models --json | head`): as other
        # tools, stop without a word (a traceback here said nothing of use). Python would
        # fail again flushing stdout at exit: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped this way
    except OSError as exc:  # a file where a folder should be, no permission, a full disk
        if level <= logging.DEBUG:
            traceback.print_exc()
        _say_error(os_error_text(exc), 2, json_asked=_json_asked(args))
        return 2
    except ValueError as exc:
        _say_error(str(exc), 2, json_asked=_json_asked(args))
        return 2
    except Exception as exc:  # a bug: one line for a pipeline's log, the traceback on demand
        if level <= logging.DEBUG:
            raise
        _say_error(
            f"unexpected {type(exc).__name__}: {exc} (a bug in mcalc; run again with "
            "--log-level debug for the traceback, and report it)",
            1,
            json_asked=_json_asked(args),
        )
        return 1


#: What an interrupted command leaves, said after "interrupted" or "terminated".
_LEFT_WHEN_INTERRUPTED = {
    "train": "nothing was registered",
    "train-workers": "nothing was registered",
    "predict --all": "the images finished so far are saved; run the same command again "
    "(same --out) to go on from there",
}


def _interrupted(args: argparse.Namespace, how: str) -> str:
    """What an interrupted command says (``interrupted: nothing was registered``)."""
    command = getattr(args, "command", None)
    if command == "predict" and getattr(args, "all", False):
        command = "predict --all"
    left = _LEFT_WHEN_INTERRUPTED.get(str(command))
    return f"{how}: {left}" if left else how
