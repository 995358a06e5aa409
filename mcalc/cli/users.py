"""``python -m mcalc users add|list|remove``: the app's accounts.

``users add NAME --role reader|researcher|admin`` prompts twice for the password (never
echoed, never an argument); scripts pipe it with ``--password-stdin``. Only a bcrypt hash is
stored, in ``MCALC_USERS`` (default ``data/users.yaml``) or ``--file``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from mcalc.access import ROLES, UsersFile
from mcalc.access.users import AccessError
from mcalc.cli.common import document_out
from mcalc.config import get_settings
from mcalc.errors import suggested_command

__all__ = ["register_commands"]


def _file(args: argparse.Namespace) -> UsersFile:
    return UsersFile(args.file or get_settings().users_file)


def _users(args: argparse.Namespace, *words: str) -> str:
    """``python -m mcalc users [--file F] WORDS``: a hint keeps the file given (the default
    file is another)."""
    return suggested_command("users", *(["--file", args.file] if args.file else []), *words)


def _read_password(args: argparse.Namespace) -> str | None:
    if args.oidc:
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccessError(
            "no terminal to ask the password on: pipe it with --password-stdin "
            "(or use --oidc for a provider-only account)"
        )
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise AccessError("the two passwords differ; nothing was changed")
    return first


def _cmd_add(args: argparse.Namespace) -> int:
    if not args.replace and _file(args).get(args.name) is not None:
        # Before asking for a password (an empty stdin was answered "password must be at
        # least 8 characters, got 0" for a name that exists).
        raise AccessError(
            f"user {args.name!r} exists; use "
            f"`{_users(args, 'add', args.name, '--role', args.role, '--replace')}` to change it"
        )
    password = _read_password(args)
    user = _file(args).add(
        args.name, args.role, password=password, email=args.email, replace=args.replace
    )
    how = "OpenID Connect only" if not user.has_password else "password (bcrypt hash stored)"
    print(f"{'updated' if args.replace else 'added'} {user.name} as {user.role}: {how}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    users = _file(args).users()
    if args.json:
        print(json.dumps([u.__dict__ for u in users]), file=document_out())
        return 0
    if not users:
        add = f"{_users(args, 'add')} NAME --role {'|'.join(ROLES)}"
        print(f"no users in {_file(args).path}; add one with `{add}`")
    for u in users:
        sign_in = "password" if u.has_password else "OpenID Connect"
        print(f"{u.name}\t{u.role}\t{u.email or '-'}\t{sign_in}")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    _file(args).remove(args.name)
    print(f"removed {args.name}")
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``users`` with its sub-commands to the main parser."""
    users = sub.add_parser("users", help="manage the app's accounts (add, list, remove)")
    users.add_argument("--file", help="users file (default: MCALC_USERS or data/users.yaml)")
    verbs = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = verbs.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name", help="user name (letters, digits, . _ @ -)")
    add.add_argument("--role", required=True, choices=ROLES, help="reader, researcher or admin")
    add.add_argument("--email", help="e-mail matched on OpenID Connect sign-in")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    add.add_argument(
        "--oidc", action="store_true", help="no password: signs in through OpenID Connect only"
    )
    add.add_argument("--replace", action="store_true", help="change an existing user")
    add.set_defaults(func=_cmd_add)

    lst = verbs.add_parser("list", help="list users and roles (never a hash)")
    lst.add_argument("--json", action="store_true", help="print one JSON list")
    lst.set_defaults(func=_cmd_list)

    rm = verbs.add_parser("remove", help="remove a user")
    rm.add_argument("name")
    rm.set_defaults(func=_cmd_remove)
