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
    "CASE_PARAM",
    "current_case",
    "take_linked_case",
    "unknown_case",
    "show_case",
    "keep_case_in_url",
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
#: The address' query parameter naming the case a page shows (Browse, Annotate, Predict,
#: Audit: :func:`keep_case_in_url`), so that the address is a link to it; a link, or the
#: browser's Back to an earlier address, opens its case (:func:`current_case`; on Home,
#: :func:`take_linked_case`).
CASE_PARAM = "case"
#: The case this session last named in the address or took from it.
CASE_NAMED_KEY = "mcalc_case_named"
#: A case the address named that the dataset lacks: (what to say, the case shown instead,
#: ``None`` until a page showed one), said while the reader stays on that case.
CASE_REFUSED_KEY = "mcalc_case_refused"
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
    large index's ids answers at once); else ``None``.

    A case the address names (``?case=``) that this session did not name there itself (a
    link, the browser's Back) becomes the current case first, unless the reader picked a
    case since the session last named one (a click's rerun can carry the address from
    before the previous run's). One the dataset lacks is said, as typed (anyone's link),
    with where it was looked for and what to do, while the reader stays on the case shown
    in its place."""
    take_linked_case(case_ids)
    case_id = st.session_state.get(CASE_KEY)
    known = case_id if isinstance(case_id, str) and case_id in case_ids else None
    refused = st.session_state.get(CASE_REFUSED_KEY)
    if refused is not None:
        said, instead = refused
        if instead is None or instead == known:
            st.session_state[CASE_REFUSED_KEY] = (said, known)
            st.warning(said, icon=":material/link_off:")
        else:  # the reader moved on
            del st.session_state[CASE_REFUSED_KEY]
    return known


def take_linked_case(case_ids: Collection[str]) -> None:
    """Make the case the address names (``?case=``) the current case when this session did
    not name it there itself (a link, the browser's Back) and the reader picked none since
    the session last named one; one not among ``case_ids`` is kept to be said by the page
    that shows a case (:func:`current_case`). Home calls it alone (it shows no case), so
    that a link to the app's root opens its case on the page the reader opens next (a page
    switch drops the address' query parameters)."""
    named = st.query_params.get(CASE_PARAM)
    last = st.session_state.get(CASE_NAMED_KEY)
    if named and named != last and st.session_state.get(CASE_KEY) == last:
        st.session_state[CASE_NAMED_KEY] = named
        if named in case_ids:
            st.session_state[CASE_KEY] = named
            st.session_state.pop(CASE_REFUSED_KEY, None)
        else:
            st.session_state[CASE_REFUSED_KEY] = (unknown_case(named), None)


def unknown_case(case_id: str, instead: str = "the page shows its first case") -> str:
    """What a page says of a case its address names that the dataset lacks (``instead``:
    what it shows in its place)."""
    data = st.session_state.get(DATA_KEY, "this dataset")
    return (
        f"No case {plain(case_id)} in {plain(str(data))}: the address (`?case=`) names a "
        f"case this dataset does not have, so {instead}. Pick a case in the page's case "
        "list, or open the dataset the link was made for (the sidebar's dataset, or the "
        "link's `?data=`)."
    )


def show_case(case_id: str) -> None:
    """Make ``case_id`` the reader's current case (a page shows it)."""
    st.session_state[CASE_KEY] = case_id


def keep_case_in_url(case_id: str) -> None:
    """Name ``case_id``, the case a page shows, in the address (``?case=``), so that the
    address bar is a link to it (called in the page's run, not a widget's callback).

    Set only when it differs: a change is one small message to the browser in the run the
    page makes anyway (no run of its own), which records it as a new address (Back then
    returns to the case before: :func:`current_case`)."""
    st.session_state[CASE_NAMED_KEY] = case_id
    if st.query_params.get(CASE_PARAM) != case_id:
        st.query_params[CASE_PARAM] = case_id


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
