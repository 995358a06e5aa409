"""The users file: user names, roles and bcrypt password hashes, never a password.

One YAML file (``Settings.users_file``, env ``MCALC_USERS``) in the layout that
streamlit-authenticator reads (``credentials.usernames.<name>`` with ``name``,
``password`` (a bcrypt hash), ``roles``), plus the random key that signs its sign-in
cookie. The file is written atomically with mode 0600. A user without a password hash signs
in only through the OpenID Connect provider (``st.login``), matched by e-mail.

Example:
    >>> import tempfile, pathlib
    >>> f = UsersFile(pathlib.Path(tempfile.mkdtemp()) / "users.yaml")
    >>> f.add("ana", "reader", password="s3cret-pass")
    User(name='ana', role='reader', email=None, has_password=True)
    >>> f.verify("ana", "s3cret-pass"), f.verify("ana", "wrong")
    (True, False)
    >>> "s3cret-pass" in f.path.read_text()
    False
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import yaml  # type: ignore[import-untyped]  # no stubs shipped; used for two calls

from mcalc.access.roles import ROLES
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_text, file_lock

__all__ = [
    "AccessError",
    "SignInCookie",
    "User",
    "UsersFile",
    "check_username",
    "known_names",
    "MIN_PASSWORD",
]

#: Shortest password accepted.
MIN_PASSWORD = 8
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class AccessError(McalcError):
    """A users-file problem: unknown user, bad name or role, unreadable file."""


def check_username(name: str) -> str:
    """A user name: letters, digits, ``. _ @ -``, 1-64 characters, starting alphanumeric."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise AccessError(
            f"user name must be 1-64 lowercase letters, digits or . _ @ - (starting with a letter or "
            f"digit), got {name!r}"
        )
    return name


@dataclass(frozen=True)
class User:
    """One account as the app sees it (no hash)."""

    name: str
    role: str
    email: str | None = None
    has_password: bool = True
    #: Sessions and cookies from before this time (Unix seconds) no longer sign in: the
    #: account was made, or given a new password, then (0: recorded before this existed).
    sessions_from: float = 0.0


@dataclass(frozen=True)
class SignInCookie:
    """The cookie that keeps a browser signed in: ``name=value`` until ``expires`` (Unix time)."""

    name: str
    value: str
    expires: float


_DECOYS: dict[bytes, bytes] = {}


def _decoy(like: str | None) -> bytes:
    """A bcrypt hash of a random secret with the algorithm and cost of ``like`` (a stored
    hash; ``None``: bcrypt's default), made once per cost: checking a password against it
    takes as long as against an account's."""
    prefix = like.encode("ascii")[:7] if like and like.startswith("$2") else b"$2b$12$"
    if prefix not in _DECOYS:
        rounds = int(prefix[4:6]) if prefix[4:6].isdigit() else 12
        _DECOYS[prefix] = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))
    return _DECOYS[prefix]


class UsersFile:
    """Read and change the users file at ``path`` (created on the first ``add``).

    ``bcrypt_rounds``: the hash's cost (bcrypt's default 12; tests use fewer).
    """

    def __init__(self, path: str | Path, *, bcrypt_rounds: int = 12) -> None:
        self.path = Path(path)
        self.bcrypt_rounds = bcrypt_rounds

    # -- reading -------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"credentials": {"usernames": {}}, "cookie": {}}
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise AccessError(f"cannot read the users file {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(
            data.get("credentials", {}).get("usernames", {}), dict
        ):
            raise AccessError(
                f"{self.path} is not a users file (expected credentials.usernames); "
                "recreate it with `python -m mcalc users add`"
            )
        data.setdefault("credentials", {}).setdefault("usernames", {})
        data.setdefault("cookie", {})
        return data

    def exists(self) -> bool:
        """Whether the file holds at least one user."""
        return bool(self.path.exists() and self._load()["credentials"]["usernames"])

    def users(self) -> list[User]:
        """Every account, sorted by name."""
        entries = self._load()["credentials"]["usernames"]
        return [self._user(name, entries[name]) for name in sorted(entries)]

    @staticmethod
    def _user(name: str, entry: dict[str, Any]) -> User:
        roles = entry.get("roles") or ["reader"]
        role = roles[0] if roles[0] in ROLES else "reader"
        since = entry.get("sessions_from")
        return User(
            name,
            role,
            entry.get("email"),
            bool(entry.get("password")),
            float(since) if isinstance(since, int | float) else 0.0,
        )

    def get(self, name: str) -> User | None:
        entry = self._load()["credentials"]["usernames"].get(name)
        return None if entry is None else self._user(name, entry)

    def account(self, name: str, *, given_as: str, outcome: str) -> User:
        """The account ``name``, which a command was given as ``given_as`` (``--user``) to
        record who did something.

        Raises:
            AccessError: no account of that name; one line that names the accounts (or,
                past a handful, the command that lists them) and ends with ``outcome``
                (``nothing written``).

        Example:
            >>> import tempfile, pathlib
            >>> f = UsersFile(pathlib.Path(tempfile.mkdtemp()) / "u.yaml", bcrypt_rounds=4)
            >>> _ = f.add("ana", "admin", password="s3cret-pass")
            >>> f.account("ana", given_as="--user", outcome="nothing written").role
            'admin'
            >>> f.account("bob", given_as="--user", outcome="nothing written")
            Traceback (most recent call last):
            ...
            mcalc.access.users.AccessError: --user 'bob' is not an account of ... (accounts: ana); nothing written
        """
        user = self.get(name)
        if user is None:
            raise AccessError(
                f"{given_as} {name!r} is not an account of {self.path} "
                f"({known_names(self.users())}); {outcome}"
            )
        return user

    def by_email(self, email: str) -> User | None:
        """The account whose e-mail (or name) is ``email`` (OpenID Connect sign-in)."""
        for user in self.users():
            if email and (user.email == email or user.name == email):
                return user
        return None

    def account_for_claims(self, claims: Mapping[str, Any]) -> User:
        """The account an OpenID Connect sign-in maps to (``st.user``'s claims).

        The provider's e-mail must be present, not marked unverified, and belong to an
        account (:meth:`by_email`), whose role then applies.

        Raises:
            AccessError: no e-mail, an unverified one, or no account with it (the message
                says what an admin should run).
        """
        email = str(claims.get("email") or "").strip()
        if not email:
            raise AccessError(
                "the provider sent no e-mail address: add the 'email' scope to the [auth] "
                "section of .streamlit/secrets.toml"
            )
        if claims.get("email_verified") is False:
            raise AccessError(f"the provider has not verified {email}: verify it there first")
        user = self.by_email(email)
        if user is None:
            raise AccessError(
                f"{email} has no mcalc role. Ask an admin to run `python -m mcalc users add "
                f"NAME --email {email} --oidc --role reader`."
            )
        return user

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` matches ``name``'s stored hash (False for unknown users).

        An unknown name (or one without a password) is checked against a hash of the same
        cost as the file's: answered at once, it told by its time which names are accounts
        (0.8 ms against 253 ms at bcrypt's cost 12).
        """
        users = self._load()["credentials"]["usernames"]
        hashed = (users.get(name) or {}).get("password")
        if not hashed:
            costs = [str(e.get("password")) for e in users.values() if e.get("password")]
            bcrypt.checkpw(password.encode("utf-8"), _decoy(costs[0] if costs else None))
            return False
        return bcrypt.checkpw(password.encode("utf-8"), str(hashed).encode("utf-8"))

    def authenticator_config(self) -> dict[str, Any]:
        """Credentials and cookie settings as streamlit-authenticator's ``Authenticate`` takes them.

        Only users with a password hash; the cookie key is created on first use.
        """
        data = self._load()
        if not data["cookie"].get("key"):
            data["cookie"]["key"] = secrets.token_hex(32)
            self._save(data)
        users = {
            name: {k: v for k, v in entry.items() if k in ("name", "password", "roles", "email")}
            for name, entry in data["credentials"]["usernames"].items()
            if entry.get("password")
        }
        return {
            "credentials": {"usernames": users},
            "cookie": {
                "name": data["cookie"].get("name", "mcalc_auth"),
                "key": data["cookie"]["key"],
                "expiry_days": float(data["cookie"].get("expiry_days", 1)),
            },
        }

    # -- the sign-in cookie ----------------------------------------------------------------
    # streamlit-authenticator's format (an HS256 JWT of ``username`` and ``exp_date``,
    # signed with the file's key), so that its form and the app read each other's cookie.
    def sign_in_cookie(self, name: str, *, now: float | None = None) -> SignInCookie | None:
        """The signed cookie for user ``name`` (``None``: the file's ``expiry_days`` is 0,
        no cookie wanted)."""
        cookie = self.authenticator_config()["cookie"]
        if not cookie["expiry_days"]:
            return None
        issued = time.time() if now is None else now
        expires = issued + cookie["expiry_days"] * 86400
        # ``signed_in_at``: when (a sign-out since ends the sessions it opens, SignOuts).
        claims = {"username": name, "exp_date": expires, "signed_in_at": issued}
        token = jwt.encode(claims, cookie["key"], "HS256")
        return SignInCookie(cookie["name"], token, expires)

    def user_from_cookies(
        self, cookies: Mapping[str, str], *, now: float | None = None
    ) -> User | None:
        """The account a browser's sign-in cookie names, if the cookie is signed with this
        file's key, has not expired and the account still exists; else ``None``."""
        found = self.cookie_sign_in(cookies, now=now)
        return None if found is None else found[0]

    def cookie_sign_in(
        self, cookies: Mapping[str, str], *, now: float | None = None
    ) -> tuple[User, float] | None:
        """:meth:`user_from_cookies` and when the cookie was issued (Unix seconds: its
        ``signed_in_at``, else its expiry less the file's ``expiry_days``, as the
        library's own cookies carry no time of issue)."""
        if not self.path.exists():
            return None
        cookie = self._load()["cookie"]
        token = cookies.get(cookie.get("name", "mcalc_auth"))
        if not token or not cookie.get("key"):
            return None
        try:
            claims = jwt.decode(token, cookie["key"], algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return None
        expires = claims.get("exp_date")
        if not isinstance(expires, int | float) or expires <= (time.time() if now is None else now):
            return None
        user = self.get(str(claims.get("username")))
        if user is None:
            return None
        issued = claims.get("signed_in_at")
        if not isinstance(issued, int | float):
            issued = expires - float(cookie.get("expiry_days", 1)) * 86400
        if issued < user.sessions_from:  # before a new password, or another's account
            return None
        return user, float(issued)

    def sign_in_expired(self, issued: float, *, now: float | None = None) -> bool:
        """Whether a sign-in made at ``issued`` (Unix seconds) is older than the file's
        ``expiry_days``, the cookie's lifetime: an open session then signs in again, as a
        fresh page load does (``expiry_days`` 0: no cookie is kept and a session never
        expires)."""
        days = float(self._load()["cookie"].get("expiry_days", 1))
        return days > 0 and issued + days * 86400 <= (time.time() if now is None else now)

    # -- changing ------------------------------------------------------------------------
    def _save(self, data: dict[str, Any]) -> None:
        # Password hashes and the cookie key: private from the first byte written.
        atomic_write_text(self.path, yaml.safe_dump(data, sort_keys=True), mode=0o600)

    def add(
        self,
        name: str,
        role: str,
        *,
        password: str | None = None,
        email: str | None = None,
        replace: bool = False,
    ) -> User:
        """Add (or with ``replace``, update) an account; the password is stored as a bcrypt hash.

        ``password=None`` makes an account that signs in only through OpenID Connect
        (it then needs ``email``).
        """
        check_username(name)
        if role not in ROLES:
            raise AccessError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if password is None and not email:
            raise AccessError("give a password, or an e-mail for OpenID Connect sign-in")
        if password is not None and len(password) < MIN_PASSWORD:
            raise AccessError(
                f"password must be at least {MIN_PASSWORD} characters, got {len(password)}"
            )
        with file_lock(self.path):
            data = self._load()
            entries = data["credentials"]["usernames"]
            if name in entries and not replace:
                raise AccessError(
                    f"user {name!r} exists; use `users add {name} --replace` to change it"
                )
            entry: dict[str, Any] = {"name": name, "roles": [role]}
            old = entries.get(name, {})
            if password is not None:
                entry["password"] = bcrypt.hashpw(
                    password.encode("utf-8"), bcrypt.gensalt(self.bcrypt_rounds)
                ).decode("ascii")
            # A new account or password ends the sign-ins before it (cookies last a day:
            # a reset after a leak let the old cookie in, and a name removed then given to
            # someone else signed them in with the cookie of the one before).
            if password is not None or "sessions_from" not in old:
                entry["sessions_from"] = time.time()
            else:
                entry["sessions_from"] = old["sessions_from"]
            if email:
                entry["email"] = email
            entries[name] = entry
            data["cookie"].setdefault("name", "mcalc_auth")
            data["cookie"].setdefault("key", secrets.token_hex(32))
            data["cookie"].setdefault("expiry_days", 1)
            self._save(data)
        return self._user(name, entry)

    def remove(self, name: str) -> None:
        """Remove an account; :class:`AccessError` if there is none of that name."""
        with file_lock(self.path):
            data = self._load()
            if name not in data["credentials"]["usernames"]:
                known = ", ".join(sorted(data["credentials"]["usernames"])) or "none"
                raise AccessError(f"no user {name!r} (users: {known})")
            del data["credentials"]["usernames"][name]
            self._save(data)


#: How many account names an error lists before it gives the command that lists them all.
NAMES_LISTED = 8


def known_names(users: list[User]) -> str:
    """The accounts in a few words, for a message: ``accounts: ana, rita``, or past
    :data:`NAMES_LISTED` the first ones and the command that lists them all.

    >>> known_names([User("ana", "admin"), User("rita", "reader")])
    'accounts: ana, rita'
    >>> known_names([User(f"u{n}", "reader") for n in range(10)])
    'accounts: u0, u1, u2, u3, u4, u5, u6, u7 and 2 more: `python -m mcalc users list`'
    """
    names = [u.name for u in users]
    if not names:
        return "no accounts"
    if len(names) <= NAMES_LISTED:
        return "accounts: " + ", ".join(names)
    more = len(names) - NAMES_LISTED
    return (
        f"accounts: {', '.join(names[:NAMES_LISTED])} and {more} more: `python -m mcalc users list`"
    )
