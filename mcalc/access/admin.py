"""Admin actions: the role check that guards them and the record of who did what.

The library asks :func:`check_allowed` before it deletes a model or a job, whoever calls it
(a page, the command line); the page hides the buttons as well, but the refusal here is the
one that counts. Every deletion is appended to a hidden ``.admin-log.jsonl`` in the folder
it happened in (the registry, the jobs folder): what, which id, who, with which role, when.

Example:
    >>> check_allowed("admin", "delete_model", "adam")
    >>> check_allowed("reader", "delete_model", "rita")
    Traceback (most recent call last):
    ...
    mcalc.access.admin.NotAllowed: rita (reader) may not delete a model: it needs the admin role; ask an admin
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcalc.access.roles import allows, required_role
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_text, file_lock

__all__ = ["ADMIN_LOG", "NotAllowed", "check_allowed", "record_action", "read_actions"]

#: The record of admin actions, one JSON object a line, in the folder acted on.
ADMIN_LOG = ".admin-log.jsonl"


_PHRASES = {
    "delete_model": "delete a model",
    "delete_job": "delete a job",
    "set_default_model": "choose the default model",
    "set_threshold": "set a model's decision threshold",
}


class NotAllowed(McalcError):
    """The signed-in role may not do this action."""


def check_allowed(role: str | None, action: str, user: str = "") -> None:
    """Raise :class:`NotAllowed` unless ``role`` may do ``action`` (see :data:`ACTIONS`)."""
    if allows(role, action):
        return
    who = f"{user} ({role})" if user else (role or "nobody signed in")
    raise NotAllowed(
        f"{who} may not {_PHRASES.get(action, action.replace('_', ' '))}: it needs the "
        f"{required_role(action)} role; ask an admin"
    )


def record_action(folder: str | Path, action: str, item: str, user: str, role: str) -> None:
    """Append ``action`` on ``item`` by ``user`` to ``folder``'s admin log (atomically)."""
    path = Path(folder) / ADMIN_LOG
    entry = {
        "action": action,
        "id": item,
        "by": user,
        "role": role,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with file_lock(path):
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        atomic_write_text(path, old + json.dumps(entry) + "\n")


def read_actions(folder: str | Path) -> list[dict[str, Any]]:
    """The admin log of ``folder``, oldest first (empty when nothing was done there)."""
    path = Path(folder) / ADMIN_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
