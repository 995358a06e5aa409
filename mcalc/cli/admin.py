"""``python -m mcalc delete model|job ID --as NAME``: what only an admin may do.

The command signs the admin in the way the app does: the account must exist in the users
file and the password (prompted, or piped with ``--password-stdin``) must match its hash;
the library then checks the role (:func:`mcalc.access.check_allowed`) and records who
deleted what. With ``MCALC_AUTH=off`` (the operator turned accounts off) no sign-in is asked,
as in the app, and the record names nobody.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from mcalc.access import UsersFile
from mcalc.access.users import AccessError
from mcalc.cli.common import models_flag
from mcalc.config import get_settings
from mcalc.errors import suggested_command

__all__ = ["register_commands"]


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccessError("no terminal to ask the password on: pipe it with --password-stdin")
    return getpass.getpass(f"Password for {args.as_user}: ")


def _signed_in(args: argparse.Namespace) -> tuple[str, str]:
    """(user, role) of whoever runs the command; refuses an unknown user or password."""
    settings = get_settings()
    if settings.auth == "off":
        print("accounts are off (MCALC_AUTH=off): no sign-in asked", file=sys.stderr)
        return "", "admin"
    users = UsersFile(args.file or settings.users_file)
    # The file the command was given is the one the account must go to.
    add = suggested_command(
        "users", *(("--file", args.file) if args.file else ()), "add", "NAME", "--role", "admin"
    )
    if not args.as_user:
        raise AccessError(
            f"deleting needs an admin: add --as NAME (an account of {users.path} with the "
            f"admin role; create one with `{add}`)"
        )
    if not users.exists():  # nothing to guess at: say what to do instead of "wrong name"
        raise AccessError(
            f"no account in {users.path}: create an admin with `{add}`, then pass --as NAME; "
            "nothing deleted"
        )
    user = users.get(args.as_user)
    if user is None or not users.verify(args.as_user, _password(args)):
        raise AccessError(f"wrong user name or password for {args.as_user!r}; nothing deleted")
    return user.name, user.role


def _cmd_delete(args: argparse.Namespace) -> int:
    name, role = _signed_in(args)
    was_default = False
    if args.what == "model":
        from mcalc.models.registry import delete_model

        models = Path(args.models) if args.models else get_settings().models_dir
        was_default = delete_model(models, args.id, role=role, user=name)
    else:
        from mcalc.jobs import delete_job

        delete_job(args.id, get_settings(), role=role, user=name)
    print(f"deleted {args.what} {args.id}" + (f" (by {name})" if name else ""))
    if was_default:
        print(
            f"{args.id} was the default model: no default is set now (the pages open on the "
            "newest model; predict and evaluate need --model); choose one with "
            f"`python -m mcalc models{models_flag(args)} default ID`"
        )
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``delete`` (admins only) to the main parser."""
    p = sub.add_parser("delete", help="delete a registered model or a finished job (admins only)")
    p.add_argument("what", choices=["model", "job"], help="what to delete")
    p.add_argument(
        "id",
        help="the model's registry id, or the job's id (or the model id of a `train` run "
        "killed outside the job queue: its run folder, with a multi-worker run's ID.workers)",
    )
    p.add_argument("--as", dest="as_user", metavar="NAME", help="your admin account")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    p.add_argument("--file", help="users file (default: MCALC_USERS or data/users.yaml)")
    p.add_argument(
        "--models", metavar="DIR", help="model registry folder (default: models/, or MCALC_MODELS)"
    )
    p.set_defaults(func=_cmd_delete)
