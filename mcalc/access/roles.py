"""Roles, what each may do, and whether the app asks for a sign-in.

Roles are ordered: a **reader** browses, annotates and records verdicts as themselves; a
**researcher** may also train, evaluate and predict over collections; an **admin** may also
manage users and delete models or jobs.

Example:
    >>> allows("reader", "annotate"), allows("reader", "train"), allows("admin", "train")
    (True, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcalc.config import Settings
from mcalc.synthetic import is_synthetic

__all__ = ["ROLES", "ACTIONS", "allows", "required_role", "AuthMode", "auth_mode"]

#: Lowest first: each role may do everything the roles before it may.
ROLES: tuple[str, ...] = ("reader", "researcher", "admin")

#: The least role each action needs.
ACTIONS: dict[str, str] = {
    "browse": "reader",
    "annotate": "reader",
    "verdict": "reader",
    "predict": "reader",
    "report": "reader",
    "predict_collection": "researcher",
    "train": "researcher",
    "set_default_model": "researcher",
    "set_threshold": "researcher",
    "evaluate": "researcher",
    "cancel_job": "researcher",
    "manage_users": "admin",
    "delete_model": "admin",
    "delete_job": "admin",
}


def _rank(role: str) -> int:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return ROLES.index(role)


def required_role(action: str) -> str:
    """The least role that may do ``action`` (a key of :data:`ACTIONS`)."""
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}") from None


def allows(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action``; ``None`` (nobody signed in) may do nothing."""
    if role is None:
        return False
    return _rank(role) >= _rank(required_role(action))


@dataclass(frozen=True)
class AuthMode:
    """How the app treats visitors.

    Attributes:
        kind: ``demo`` (synthetic data only, no accounts), ``accounts`` (sign-in
            required) or ``off`` (real data without accounts: the operator chose
            ``MCALC_AUTH=off``).
        reason: one sentence for the page banner.
    """

    kind: str
    reason: str

    @property
    def signin_required(self) -> bool:
        return self.kind == "accounts"


def auth_mode(settings: Settings, data_path: str | Path, *, has_users: bool) -> AuthMode:
    """Whether a sign-in is needed to use ``data_path`` with these settings.

    ``MCALC_AUTH=off`` and ``=on`` decide alone. Otherwise (``auto``) a synthetic set made
    by ``mcalc demo`` (or a path that holds nothing yet) runs without accounts, while a
    real dataset, or an existing users file, asks for a sign-in.

    Example:
        >>> s = Settings(demo_dir=Path("/nonexistent/demo"))
        >>> auth_mode(s, "/nonexistent/demo", has_users=False).kind
        'demo'
        >>> auth_mode(s, "/nonexistent/demo", has_users=True).kind
        'accounts'
    """
    if settings.auth == "off":
        return AuthMode("off", "accounts are turned off (MCALC_AUTH=off): anyone here sees all")
    if settings.auth == "on":
        return AuthMode("accounts", "sign-in required (MCALC_AUTH=on)")
    if has_users:
        return AuthMode("accounts", "sign-in required (accounts exist)")
    path = Path(str(data_path)).expanduser()
    folder = path if path.is_dir() or not path.suffix else path.parent
    if not path.exists() or is_synthetic(folder):
        return AuthMode("demo", "demo mode, no accounts: synthetic images only")
    return AuthMode("accounts", "sign-in required: a real dataset is in use")
