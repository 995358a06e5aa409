"""Image views for every page, cached across pages and sessions: one
:func:`mcalc.viewer.prepare_view` per image, options and preview size, keyed by the image's
files as they are now (a replaced image or annotation file is read again)."""

from __future__ import annotations

import streamlit as st

from mcalc import viewer
from mcalc.cache import file_key
from mcalc.dataset.records import ImageRecord
from pages import common


def cached_view(
    rec: ImageRecord, opts: viewer.DisplayOptions, max_side: int, laterality: str | None = None
) -> viewer.ImageView:
    """:func:`mcalc.viewer.prepare_view` of ``rec``, cached for every page and session,
    keyed by its files as they are now (a replaced image or annotation file is read again:
    the record alone names only their paths). ``laterality``: ``None`` orients by the
    file's own tag (Annotate), a case's side orients both rounds alike (Browse, Predict)."""
    return _cached_view(rec, opts, max_side, laterality, files_now(rec))


def files_now(rec: ImageRecord) -> tuple[str | None, str | None]:
    """The cache keys of ``rec``'s image and annotation files (``None``: absent or
    unreadable; :func:`mcalc.viewer.prepare_view` then says what is wrong)."""
    keys: list[str | None] = []
    for path in (rec.image_path, rec.annotation_path):
        try:
            keys.append(None if path is None else file_key(path))
        except OSError:
            keys.append(None)
    return keys[0], keys[1]


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_view(
    rec: ImageRecord,
    opts: viewer.DisplayOptions,
    max_side: int,
    laterality: str | None,
    files: tuple[str | None, str | None],
) -> viewer.ImageView:
    return viewer.prepare_view(
        common.get_image_cache(), rec, opts, max_side=max_side, laterality=laterality
    )
