"""State shared between pages: the one declared place for it.

A page keeps its own widgets' state under keys prefixed with its name (``browse_...``).
Anything another page reads goes through this module, so a writer and its readers cannot
disagree about a key. Values are plain (ids, paths), never library objects.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import streamlit as st

from mcalc.present.words import plain

__all__ = [
    "DATA_KEY",
    "DATA_PARAM",
    "REFUSED_KEY",
    "data_path",
    "keep_data_in_url",
    "READER_KEY",
    "SELECTED_MODEL_KEY",
    "CASE_KEY",
    "PREDICT_CASE_KEY",
    "PIXELS_SENT_KEY",
    "current_case",
    "show_case",
    "selected_model",
    "select_model",
    "open_in_predict",
    "open_case_in_predict",
    "take_predict_case",
]

#: The dataset the sidebar opened (a path as text), this session's (:func:`data_path`).
DATA_KEY = "mcalc_data_path"
#: The address' query parameter naming that dataset, so that a reload or a shared link
#: opens it too (:func:`keep_data_in_url`); absent for the server's default dataset.
DATA_PARAM = "data"
#: Why the sidebar refused a dataset (typed, or named by the address), for it to say.
REFUSED_KEY = "app_data_refused"
#: The signed-in or named reader (Annotate, Audit, Predict's verdict form).
READER_KEY = "annotate_reader"
#: The model a page asked the others to use (Train's "open on Predict"; the model last
#: chosen on Predict or Audit, which the other opens on).
SELECTED_MODEL_KEY = "mcalc_selected_model"
#: The reader's current case (a case id), one for the pages that show a case: each page
#: writes the case it shows (:func:`show_case`; a page's own pick, from its widget's
#: callback, before its run) and opens on it (:func:`current_case`): Browse, Annotate,
#: Audit and Predict, so a reader who goes to another page finds the case they were on.
#: (Browse's own key, hence its name: Browse keeps its case there.)
CASE_KEY = "browse_case_id"
#: The pixel ids this session's browser tab holds, for every page's reading viewer
#: (:func:`pages.viewer_component.sent_pixels`, a :class:`mcalc.present.pixels.SentPixels`).
PIXELS_SENT_KEY = "viewer_pixels_sent"
#: The image Predict should open once (Batch's "open in Predict": case, view, timepoint;
#: Browse's "Predict this case": the case alone).
PREDICT_CASE_KEY = "mcalc_predict_case"


def data_path(default: Callable[[], str], check: Callable[[str], object]) -> str:
    """The dataset this session reads. On its first run: the one the address names
    (``?data=``) when ``check`` accepts it (it raises to refuse, as
    :func:`mcalc.config.check_data_path` does; the refusal is kept for the sidebar to
    say), else ``default()``."""
    if DATA_KEY not in st.session_state:
        named = st.query_params.get(DATA_PARAM)
        if named:
            try:
                check(named)
            except ValueError as exc:
                # The address is anyone's link: its text is shown as typed, never as
                # Markdown (a link drew its own "Sign in again" link and image in here).
                st.session_state[REFUSED_KEY] = f"the address' dataset: {plain(str(exc))}"
                named = None
        st.session_state[DATA_KEY] = named or default()
    return str(st.session_state[DATA_KEY])


def keep_data_in_url(path: str, default: str) -> None:
    """Name ``path`` in the address (``?data=``) unless it is the ``default`` dataset, so
    that a reload or a shared link opens it (on every run: a page switch drops it).
    Set only when it differs: each change is a message to the browser."""
    if path == default:
        if DATA_PARAM in st.query_params:
            del st.query_params[DATA_PARAM]
    elif st.query_params.get(DATA_PARAM) != path:
        st.query_params[DATA_PARAM] = path


def current_case(case_ids: Collection[str]) -> str | None:
    """The reader's current case when it is among ``case_ids`` (a set or mapping of a
    large index's ids answers at once); else ``None``."""
    case_id = st.session_state.get(CASE_KEY)
    return case_id if isinstance(case_id, str) and case_id in case_ids else None


def show_case(case_id: str) -> None:
    """Make ``case_id`` the reader's current case (a page shows it)."""
    st.session_state[CASE_KEY] = case_id


def select_model(model_id: str) -> None:
    """Ask the model pages (Predict, Audit's verdict form) to preselect ``model_id``."""
    st.session_state[SELECTED_MODEL_KEY] = model_id


def selected_model(available: list[str] | tuple[str, ...]) -> str | None:
    """The model another page asked for, when it is among ``available``; else ``None``."""
    wanted = st.session_state.get(SELECTED_MODEL_KEY)
    return wanted if isinstance(wanted, str) and wanted in available else None


def open_in_predict(model_id: str, case_id: str, view: str, timepoint: str) -> None:
    """Ask Predict to open ``case_id``'s ``view`` ``timepoint`` with ``model_id``."""
    select_model(model_id)
    st.session_state[PREDICT_CASE_KEY] = {"case": case_id, "view": view, "timepoint": timepoint}


def open_case_in_predict(case_id: str) -> None:
    """Ask Predict to open ``case_id`` with its own view, timepoint and model choices
    (Browse's "Predict this case")."""
    st.session_state[PREDICT_CASE_KEY] = {"case": case_id}


def take_predict_case(case_ids: list[str] | tuple[str, ...]) -> dict[str, str] | None:
    """The image another page asked Predict to open, once (then forgotten); ``None`` when
    none was asked or its case is not among ``case_ids``."""
    wanted = st.session_state.pop(PREDICT_CASE_KEY, None)
    if isinstance(wanted, dict) and wanted.get("case") in case_ids:
        return {k: str(v) for k, v in wanted.items()}
    return None
