"""Annotate's shared pieces: session keys, cached views, the mark store, messages across
reruns and the editing session of an image.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.plural import counted
from mcalc.store import MarkStore, StoreError, StoreReadError
from mcalc.store.placement import breast_region
from mcalc.store.session import EditSession, Feedback, SaveResult
from mcalc.viewer import DisplayOptions, ImageView
from pages import common, views

WORK = "annotate_work"
PENDING = "annotate_pending_click"
FIG_N = "annotate_fig_n"
ZOOM = "annotate_zoom"
FLASH = "annotate_flash"
HIGHLIGHT = "annotate_highlight"
FOLLOWED = "annotate_followed"  # (image, reader) whose session followed the store this run
TOOLS = {
    "add": "Add calcification (click)",
    "edit": "Select / move (click)",
    "region": "Draw cluster / ROI (box or lasso)",
    "zoom": "Zoom to box (full resolution)",
}


# --------------------------------------------------------------------------- cached work


def cached_view(rec: ImageRecord, opts: DisplayOptions, max_side: int) -> ImageView:
    """The image as Annotate hangs it (oriented by its own tag): :func:`views.cached_view`."""
    return views.cached_view(rec, opts, max_side)


def cached_region(rec: ImageRecord, opts: DisplayOptions, max_side: int) -> np.ndarray:
    """The breast region of :func:`cached_view`, cached alike (per the files as they are)."""
    return _cached_region(rec, opts, max_side, views.files_now(rec))


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_region(
    rec: ImageRecord, opts: DisplayOptions, max_side: int, files: tuple[str | None, str | None]
) -> np.ndarray:
    return breast_region(cached_view(rec, opts, max_side))


def store() -> MarkStore:
    return MarkStore(common.settings().store_dir)


def flash(kind: str, text: str) -> None:
    """A message shown on the next run (after ``st.rerun``)."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    """The flashed message, in a place of its own drawn on every run (empty without one):
    a message that came and went moved every element under it one place down and back,
    and the browser drew each of them again (a save's run: the caption, the save buttons,
    the marks, the comment, the expanders, besides what the save changed)."""
    kind, text = st.session_state.pop(FLASH, (None, None))
    place = st.empty()
    if kind:
        getattr(place, kind)(text)


def tell(outcome: Feedback | SaveResult) -> None:
    """Flash what an edit or a write did (a conflict is drawn by :func:`conflict_ui`)."""
    if isinstance(outcome, Feedback):
        flash(outcome.kind, outcome.text)
    elif outcome.status != "conflict":
        flash(outcome.kind, outcome.message)


def follow(key: str, value: object) -> None:
    """Give the field ``key`` the stored ``value`` when that value changed since the field
    was last given it (a restore, an import, a save in another tab), before it is drawn.

    A keyed Streamlit widget keeps its own state whatever its ``value=``, so it went on
    showing the old text, which Apply would then have written back. A reader's edit not
    applied yet stays while the stored value stays the same.
    """
    shown = f"{key}__stored"
    if key not in st.session_state or st.session_state.get(shown) != value:
        st.session_state[key] = st.session_state[shown] = value


def comment_key(image_key: str) -> str:
    """The key of the field of the comment on image ``image_key``."""
    return f"annotate_image_comment_{image_key}"


def take_comment(session: EditSession) -> bool:
    """Make the text of the image's comment field the session's comment, when the reader
    changed it (after :func:`follow`: a comment changed in the store is given to the field
    instead); returns whether it changed.

    Called where the field is drawn, and by the viewer's save before it saves: the field's
    text and the save can come in one run (Ctrl+S from the field gives it its text and
    saves), and the save was handled first, without the comment.

    Raises:
        ValueError: the comment is too long (nothing changes).
    """
    key = comment_key(session.image_key)
    follow(key, session.marks.comment)
    typed = st.session_state.get(key)
    if not isinstance(typed, str) or typed == session.marks.comment:
        return False
    session.set_comment(typed)
    return True


# --------------------------------------------------------------------------- the session


def get_session(key: str, reader: str, shape: tuple[int, int]) -> EditSession | None:
    """This image's editing session (opened from the store once, then following it)."""
    sessions: dict[tuple[str, str], EditSession] = st.session_state.setdefault(WORK, {})
    st.session_state.pop(FOLLOWED, None)  # this run's only
    session = sessions.get((key, reader))
    marks = store()
    try:
        if session is None or session.store.root != marks.root:
            session = sessions[(key, reader)] = EditSession.open(marks, key, reader, shape)
        else:
            # Saved elsewhere meanwhile: follow it (the reading viewer keeps marks of its
            # own not saved yet, to save as a conflict copy: pages.annotate_viewer).
            if session.follow_store():
                st.session_state[FOLLOWED] = (key, reader)
    except StoreReadError as exc:
        st.error(f"Your stored marks for this image cannot be read: {exc}")
        recover_ui(marks, key, reader)
        return None
    return session


def recover_ui(marks: MarkStore, key: str, reader: str) -> None:
    """A button that gives the reader back what their damaged record still holds, the
    damaged file kept beside it (:meth:`MarkStore.recover`): "move it aside" was all the
    error said, which a reader cannot do, and the image stayed read-only."""
    if not st.button(
        "Recover the versions it still holds",
        key=f"annotate_recover_{key}",
        icon=":material/healing:",
        help="The whole versions before the damage become your marks again (none: you start "
        "afresh); the damaged file is kept beside it, untouched, for an admin to look at.",
    ):
        return
    try:
        kept, aside = marks.recover(key, reader)
    except StoreError as exc:
        st.error(f"Nothing recovered: {exc}")
        return
    flash(
        "success",
        f"{counted(kept, 'version')} of your marks recovered from the damaged file, which is kept "
        f"as `{aside}`.",
    )
    st.rerun()


#: Said where the page counts the reader's marks while they mark in the reading viewer,
#: which keeps its marks in the browser until its *Save marks*: a user check placed two,
#: then found export, status and agreement counting none, with no word why.
VIEWER_MARKS_NOTE = (
    "Marks placed in the reading viewer count here once saved (its *Save marks*, Ctrl+S)."
)
