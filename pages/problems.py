"""What is wrong with the open dataset, as the pages say it: the images that cannot be read,
the laterality tags that contradict the spreadsheet, and the problem count in words (Home's
tile and Browse's notes). UI helpers over :mod:`mcalc.scan` and :mod:`mcalc.viewer`."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from mcalc import viewer
from mcalc.dataset.memo import per_index
from mcalc.dataset.records import DatasetIndex, Problem
from mcalc.plural import counted
from mcalc.scan import laterality_disagreements
from pages.common import dataframe, get_image_cache


@st.cache_data(show_spinner="Checking that every image can be read…", max_entries=4)
def unreadable_images(_index: DatasetIndex, root: str, n_images: int) -> pd.DataFrame:
    """The images of the dataset that cannot be read (left out of every count), cached per
    dataset (``root`` and ``n_images`` are the cache key)."""
    rows = viewer.unreadable_images(get_image_cache(), _index)
    return pd.DataFrame(rows, columns=["image", "file", "reason"])


def skipped_images_ui(index: DatasetIndex, key: str) -> pd.DataFrame | None:
    """Say which images cannot be read and are left out (nothing drawn when all can be);
    returns them (``image``, ``file``, ``reason``), ``None`` when not checked: large
    collections are checked on request only."""
    n = len(index.images())
    if n > 120 and not st.toggle("Check that every image can be read", key=key):
        return None
    frame = unreadable_images(index, str(index.root), n)
    if len(frame):
        st.warning(
            f"{len(frame)} of {counted(n, 'image')} cannot be read and {'is' if len(frame) == 1 else 'are'} "
            "left out of the counts: " + ", ".join(frame["image"])
        )
        with st.expander("Images left out and why"):
            dataframe(frame, hide_index=True, width="stretch")
    return frame


#: The DICOM laterality tags that contradict their case's laterality (what ``scan`` warns
#: of), read from the headers (about 1 ms a file) once per dataset index: the index is
#: cached per path and files (:func:`load_index`), so not on every page run.
laterality_problems = per_index(laterality_disagreements)


def dataset_problems(index: DatasetIndex, unreadable: pd.DataFrame | None) -> list[Problem]:
    """Every problem the pages know of, as ``scan`` words them: the index's, each unreadable
    image (``unreadable``: :func:`skipped_images_ui`'s; ``None``: not checked) and each
    laterality tag that contradicts its case's."""
    problems = list(index.problems)
    if unreadable is not None:
        problems += [
            Problem(str(file), str(reason), "error")
            for file, reason in zip(unreadable["file"], unreadable["reason"], strict=True)
        ]
    return problems + list(laterality_problems(index))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def problem_note(index: DatasetIndex, read: Sequence[Problem] = ()) -> str | None:
    """What the home page's problem count is made of, in words (``None``: no problem):
    every kind counted, adding up to the count. ``read``: the problems found by reading
    the images (:func:`dataset_problems` beyond the index's own).

    The real archive misspells some file names and mcalc reads them loosely; the synthetic
    demo copies those quirks on purpose, so its warnings are expected, not a fault.
    """
    shown = [p for p in index.problems if p.severity != "info"]
    read = [p for p in read if p.severity != "info"]
    if not shown and not read:
        return None
    loose_paths = {
        str(rec.image_path.parent / name) for rec in index.images() for name in rec.loose_names
    }
    loose = sum(p.severity == "warning" and p.path in loose_paths for p in shown)
    unreadable = sum(p.severity == "error" for p in read)
    sides = sum(p.message.startswith("laterality tag says") for p in read)
    other = len(shown) - loose + len(read) - unreadable - sides
    parts = []
    if loose:
        why = (
            "the demo copies the real archive's quirks on purpose"
            if index.synthetic
            else "read as the names the layout expects"
        )
        parts.append(_count(loose, "loosely matched name", "loosely matched names") + f" ({why})")
    if unreadable:
        parts.append(_count(unreadable, "unreadable image", "unreadable images"))
    if sides:
        parts.append(
            _count(sides, "laterality tag", "laterality tags") + " contradicting the spreadsheet"
        )
    if other:
        parts.append(_count(other, "other problem", "other problems"))
    return "Problems: " + ", ".join(parts) + "; the list is below."
