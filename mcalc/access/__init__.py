"""Who may see and change what: accounts, roles and the sign-in mode.

A domain package without streamlit: the users file (names, roles, bcrypt hashes) and the
rules the app's frame and the CLI apply. See :mod:`mcalc.access.users`,
:mod:`mcalc.access.roles` and :mod:`mcalc.access.reads` (independent reads).
"""

from mcalc.access.admin import NotAllowed, check_allowed, read_actions, record_action
from mcalc.access.reads import ReadPolicy, visible_readers, visible_verdicts
from mcalc.access.roles import ACTIONS, ROLES, AuthMode, allows, auth_mode, required_role
from mcalc.access.signouts import SIGN_OUTS, SignOuts
from mcalc.access.throttle import SIGN_IN_THROTTLE, SignInThrottle
from mcalc.access.users import AccessError, SignInCookie, User, UsersFile, check_username

__all__ = [
    "ACTIONS",
    "ROLES",
    "SIGN_OUTS",
    "SIGN_IN_THROTTLE",
    "SignInThrottle",
    "SignOuts",
    "AuthMode",
    "SignInCookie",
    "AccessError",
    "NotAllowed",
    "ReadPolicy",
    "User",
    "UsersFile",
    "allows",
    "auth_mode",
    "check_allowed",
    "check_username",
    "read_actions",
    "record_action",
    "required_role",
    "visible_readers",
    "visible_verdicts",
]
