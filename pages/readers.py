"""The reader's name: the signed-in user, or (demo mode, accounts off) asked once per session."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mcalc.access.reads import ReadPolicy, read_note
from mcalc.store import check_reader
from pages import common
from pages.state import READER_KEY


def reader_ui(prefix: str) -> str | None:
    """A name field (pre-filled from the session); returns the valid name or ``None``.

    Draws an info or error message when the name is missing or invalid. When accounts are
    on, the signed-in user is the reader (no name field: nobody writes under another name).
    """
    from pages.signin import current_user

    user = current_user()
    if user is not None:
        st.caption(f"Reader: **{user['name']}** (signed in; saved with every mark and verdict)")
        st.session_state[READER_KEY] = user["name"]
        return user["name"]
    widget = f"{prefix}_reader_input"
    if widget not in st.session_state and st.session_state.get(READER_KEY):
        st.session_state[widget] = st.session_state[READER_KEY]
    raw = st.text_input(
        "Your name (kept for this session; saved with every mark and verdict)",
        key=widget,
        placeholder="e.g. Dr. Ana Lima",
    )
    if not raw.strip():
        st.info("Type your name and press Enter to start: every mark carries its reader's name.")
        return None
    try:
        name = check_reader(raw)
    except ValueError as exc:
        st.error(f"{exc}.")
        return None
    st.session_state[READER_KEY] = name
    return name


def read_policy() -> ReadPolicy:
    """The installation's independent-reads setting and who looks (the signed-in account;
    nobody without accounts): what :mod:`mcalc.access.reads` hides from this visitor."""
    from pages.signin import current_user

    user = current_user()
    mode = common.settings().independent_reads
    if user is None:
        return ReadPolicy(mode)
    return ReadPolicy(mode, viewer=user["name"], role=user["role"])


def read_note_ui(policy: ReadPolicy, what: str, where: Any = st) -> None:
    """The page's one line saying reads are independent and what is hidden, if anything
    is; with the setting on but nobody signed in, that it needs accounts."""
    note = read_note(policy, what)
    if note is not None:
        where.caption(note)
    elif policy.mode != "off" and policy.viewer is None:
        where.caption(
            "Independent reads are set, but nobody is signed in here: typed names prove "
            "nothing, so nothing is hidden (they need accounts)."
        )
