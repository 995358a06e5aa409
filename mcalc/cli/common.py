"""Helpers shared by the sub-commands: the registry flag, the model a command runs
(``--model`` or the default model), a training's interrupt said as every command's, and
number formatting. (Errors mcalc raises on purpose are said by :func:`mcalc.cli.main`:
one line, exit status 2; progress is :class:`mcalc.progress.TerminalProgress`.)"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from mcalc.config import get_settings
from mcalc.errors import FieldError, McalcError, ModelError

__all__ = [
    "json_document",
    "document_out",
    "recorded_if_stopped",
    "models_dir",
    "models_flag",
    "model_or_default",
    "fmt",
    "interrupted_training",
    "add_models_option",
    "add_input_option",
    "recorded_user",
    "positive_int",
    "fraction",
    "check_out_file",
    "field_error_text",
]


def field_error_text(exc: FieldError, args: argparse.Namespace) -> str:
    """A training configuration's error with its field called as the command line sets it:
    the flag given (``--epochs``, ``--patches-per-image`` for both per-image counts), else
    the field of ``--config FILE`` (``batch in cfg.json``), else the field's flag where the
    command has one (``demo --cases``), else the library's name.

    Example:
        >>> err = FieldError("spacing_mm", "must be a positive number of mm, got 0.0")
        >>> field_error_text(err, argparse.Namespace(spacing=0.0))
        '--spacing must be a positive number of mm, got 0.0'
    """
    from mcalc.models.train_config import arg_dest

    given = vars(args)
    dest = arg_dest(exc.field)
    shared = "patches_per_image"  # sets pos_per_image and neg_per_image alike
    if given.get(dest) is None and given.get(shared) is not None and dest.endswith("per_image"):
        dest = shared
    if given.get(dest) is None and given.get("config"):
        return exc.named(f"{exc.field} in {given['config']}")
    if dest not in given:  # no flag of this command sets it: the library's name
        return str(exc)
    return exc.named("--" + dest.replace("_", "-"))


def check_out_file(path: str | Path, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written where it is asked
    for: a folder at its path, or a file where one of its folders should be (``report
    --out FILE/r.pdf`` made the whole report, then said "the system refused (File
    exists)").

    Raises:
        McalcError: saying which, and what to give instead.
    """
    out = Path(path)
    if out.is_dir():
        raise McalcError(f"{flag} {out} is a folder; give the file's name (as {out / out.name})")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise McalcError(
            f"{blocker} is a file where a folder is expected; move it or choose another path"
        )


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1 (``--batch 0`` was taken as "the
    default" by ``evaluate`` without a word).

    Example:
        >>> positive_int("8")
        8
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type``: a number from 0 to 1 (`predict --opacity 2` was refused by the
    library as "alpha must be in [0, 1]", a name the command line does not have).

    Example:
        >>> fraction("0.25")
        0.25
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return value


def models_dir(args: argparse.Namespace) -> Path:
    """The registry a command reads: ``--models``, else ``MCALC_MODELS``, else models/ of the
    checkout; one named (flag or setting) that is not a folder is refused
    (:func:`mcalc.config.models_folder`: a typo listed an empty registry, status 0)."""
    from mcalc.config import models_folder

    return models_folder(getattr(args, "models", None))


def models_flag(args: argparse.Namespace) -> str:
    """`` --models DIR`` when the command was given a registry, for the commands a message
    suggests (so they act on the same registry); else nothing."""
    given = getattr(args, "models", None)
    return f" --models {shlex.quote(str(given))}" if given else ""


def model_or_default(args: argparse.Namespace) -> str:
    """The model a command runs: ``--model`` when given, else the registry's default model
    (:func:`~mcalc.models.registry.require_default_model`), named in a note on stderr
    (stdout stays for the results and ``--json``). Never the newest model by itself.

    Raises:
        ModelError: no ``--model`` and no default model set (or it was deleted); the
            message names the registered models and the command that sets a default.
    """
    given = getattr(args, "model", None)
    if given:
        return str(given)
    from mcalc.models.registry import require_default_model

    choice = require_default_model(
        models_dir(args), command=f"python -m mcalc models{models_flag(args)} default ID"
    )
    assert choice.card is not None  # require_default_model returns a registered default
    print(
        f"using the default model {choice.card.id} ({choice.provenance}); "
        "pass --model ID to run another",
        file=sys.stderr,
    )
    return choice.card.id


def recorded_user(
    name: str | None, given_as: str, *, outcome: str, action: str | None = None
) -> tuple[str, str | None]:
    """Who a command records as having done something (a report's author, who set the
    default model, who trained a model): ``(name, role)``.

    ``name`` is the flag's value (``given_as``, e.g. ``--user``), else the login name.
    Where accounts exist (the users file, ``MCALC_USERS``, holds one) it must be one of
    them, and its role must allow ``action`` (:data:`mcalc.access.ACTIONS`), as in the app;
    the role is returned. Where none exist (demo mode) or ``MCALC_AUTH=off``, the name is
    not checked, a note on stderr says so when one was given, and the role is ``None``.

    Raises:
        AccessError: an account of that name does not exist (the message names the
            accounts and ends with ``outcome``, e.g. ``nothing written``).
        NotAllowed: the account's role may not do ``action``.
    """
    import getpass

    from mcalc.access import UsersFile, check_allowed
    from mcalc.access.users import AccessError, known_names

    settings = get_settings()
    users = UsersFile(settings.users_file)
    why = (
        "accounts are off (MCALC_AUTH=off)"
        if settings.auth == "off"
        else None
        if users.exists()
        else f"there are no accounts in {users.path} (demo mode)"
    )
    if why is not None:
        if name:
            print(f"note: {given_as} {name!r} is not checked: {why}", file=sys.stderr)
        return name or getpass.getuser(), None
    if name:
        user = users.account(name, given_as=given_as, outcome=outcome)
    else:
        login = getpass.getuser()
        found = users.get(login)
        if found is None:
            raise AccessError(
                f"your login name {login!r} is not an account of {users.path}: pass "
                f"{given_as} NAME ({known_names(users.users())}); {outcome}"
            )
        user = found
    if action is not None:
        try:
            check_allowed(user.role, action, user.name)
        except McalcError as exc:
            raise type(exc)(f"{exc}; {outcome}") from None
    return user.name, user.role


def fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def threshold_text(value: float) -> str:
    """A score threshold to 4 decimals, or to 6 significant digits where 4 decimals would
    print it as 0 or 1 when it is not (a Youden threshold of 0.999973 read "1.0000": a
    threshold nothing reaches, beside a sensitivity of 1).

    Example:
        >>> threshold_text(0.5), threshold_text(0.999973), threshold_text(1.0), threshold_text(3e-5)
        ('0.5000', '0.999973', '1.0000', '3e-05')
    """
    text = f"{value:.4f}"
    if text in ("0.0000", "1.0000", "-0.0000") and value not in (0.0, 1.0):
        return f"{value:.6g}"
    return text


def auc_text(metrics: Mapping[str, Any]) -> str:
    """A metrics dict's AUC with its kind when it is not a plain binary one ("0.487
    (macro one-vs-rest)" for a 3-class model): the suspicious-vs-rest AUC printed beside
    it, and Evaluate's curves, differ from it."""
    kind = metrics.get("auc_kind")
    return fmt(metrics.get("auc")) + (f" ({kind})" if kind else "")


@contextlib.contextmanager
def interrupted_training() -> Iterator[None]:
    """Raise a training's "training of X was interrupted: nothing was registered" (the
    :class:`~mcalc.errors.ModelError` that :func:`mcalc.models.training.train` makes of a
    Ctrl+C or of a SIGTERM's stop) as the interrupt it was: :func:`mcalc.cli.main` then
    says it as for every command ("interrupted", 130; "terminated", 143)."""
    try:
        yield
    except ModelError as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            raise exc.__cause__ from None
        raise


@contextlib.contextmanager
def recorded_if_stopped() -> Iterator[None]:
    """A run stopped before its last fold (the folds kept are said before, as a warning) is
    recorded as cancelled, with its finished folds, for the Evaluate page; then it goes on
    as the interrupt it was."""
    from mcalc.models.crossval import CrossvalStopped

    try:
        yield
    except CrossvalStopped as stopped:
        from mcalc.jobs.crossval import record_stopped

        try:
            record_stopped(stopped)
        except McalcError as exc:
            print(f"warning: the stopped run is not recorded for the app: {exc}", file=sys.stderr)
        raise


def add_models_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", metavar="DIR", help="model registry folder (default: models/, or MCALC_MODELS)"
    )


def add_input_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        help="what the model sees: recent (the image alone, default) or temporal (the recent "
        "patch and the subtraction of the registered prior; recent images with a prior only)",
    )


#: What a command's dataset may be.
DATA_HELP = "dataset folder (real layout), manifest CSV, or folder with manifest.csv"


def add_data_arguments(parser: argparse.ArgumentParser, positional_help: str) -> None:
    """A dataset as ``--data DATA`` (as every command takes it) or as a positional ``DATA``
    (``scan DATA``, ``temporal DATA``: their first form); :func:`data_of` reads either."""
    parser.add_argument("--data", dest="data_flag", metavar="DATA", help=DATA_HELP)
    parser.add_argument("data", nargs="?", help=f"{DATA_HELP} ({positional_help})")


def data_of(args: argparse.Namespace) -> str:
    """The dataset given by :func:`add_data_arguments`: ``--data DATA`` or ``DATA``."""
    if args.data and args.data_flag and Path(args.data) != Path(args.data_flag):
        raise McalcError(
            f"two datasets given: {args.data} and --data {args.data_flag}; pass one, as --data"
        )
    data = args.data_flag or args.data
    if not data:
        raise McalcError("no dataset given: pass --data DATA (a dataset folder or manifest)")
    return str(data)


#: The streams the commands' ``--json`` documents go to, innermost last (see
#: :func:`json_document`).
_DOCUMENT_STREAMS: list[TextIO] = []


@contextlib.contextmanager
def json_document(on: bool) -> Iterator[None]:
    """With ``--json``, stdout carries the command's JSON document and nothing else: while
    the command runs, anything else printed to ``sys.stdout`` goes to stderr, and the
    document is printed to :func:`document_out`. Ray's driver prints its cluster's errors
    ("(raylet) A worker died or was killed ...") to ``sys.stdout`` from a thread of its
    own, whatever ``log_to_driver`` says; one such line before the document made
    ``crossval --json`` unreadable (seen in the suite, 7 December 2026). Without ``on``,
    nothing changes."""
    if not on:
        yield
        return
    _DOCUMENT_STREAMS.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _DOCUMENT_STREAMS.pop()


def document_out() -> TextIO:
    """Where a command prints its result: the real stdout, also inside
    :func:`json_document`."""
    return _DOCUMENT_STREAMS[-1] if _DOCUMENT_STREAMS else sys.stdout
