"""UI helpers shared by the pages: the frame, the dataset in use, cached loaders, banners.

Only Streamlit glue lives here; all work is done by :mod:`mcalc`.

Why every page calls :func:`frame`: ``app.py`` runs the frame and then the page through
``st.navigation``. But because this repository has a ``pages/`` folder, Streamlit runs a
page script *directly* (its v1 multipage mode) when a browser's first request is a deep
link such as ``/browse``, and AppTest does so on every rerun. :func:`frame` is idempotent
within one script run, so the page gets the same frame either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import sys
import threading
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler
from streamlit.runtime.scriptrunner import get_script_run_ctx

from mcalc.access import AuthMode, UsersFile, auth_mode
from mcalc.cache import ImageCache, shared_image_cache
from mcalc.config import PathRefused, Settings, check_data_path, get_settings, prepare_tensorflow
from mcalc.dataset import open_dataset
from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.errors import McalcError, suggested_command
from mcalc.models.warmup import start_tensorflow_warmup
from pages import signin, state, theme
from pages.menu import available_pages, menu_pages
from pages.narrow import NARROW_CSS
from pages.preload import STREAMLIT_ON_FIRST_USE, import_page_modules
from pages.server_tuning import log_work, prime_watched_module_paths, tune_server

DATA_KEY = state.DATA_KEY
#: What a table (:func:`dataframe`) shows for a missing value.
MISSING = "n/a"
# Per script thread, not in session_state: a page that ends with st.stop() must not leave a
# stale "frame already drawn" behind for the next run (session_state writes made while a
# stop unwinds are not reliable; a plain attribute is).
_RUN = threading.local()
#: Predict's page script, whose modules the warm-up imports once its model is ready
#: (:mod:`pages.preload`): the first visit in a process then imports none of them.
PREDICT_SCRIPT = Path(__file__).resolve().parent / "predict.py"
#: The tab's icon, a file of the app's own: a Material icon as ``page_icon`` (or a page's
#: icon without one) is fetched by the browser from fonts.gstatic.com, a request to Google
#: from every reading room's browser, which fails offline.
FAVICON = Path(__file__).resolve().parent / "favicon.png"


def settings() -> Settings:
    return get_settings()


def cli_data_flag(argv: list[str] | None = None) -> str | None:
    """``--data PATH`` given as ``streamlit run app.py -- --data PATH``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.data


def data_settings() -> Settings:
    """:func:`settings` with the server's ``--data`` flag, when given, as its dataset (over
    ``MCALC_DATA``), so that the flag's folder is an allowed root as ``MCALC_DATA``'s is:
    the sidebar refused the very dataset the server had opened."""
    flag = cli_data_flag()
    s = settings()
    return dataclasses.replace(s, data_dir=Path(flag).expanduser()) if flag else s


def default_data_path() -> str:
    """The dataset to open when the user has not chosen one: flag, then env, then demo."""
    flag = cli_data_flag()
    if flag:
        return flag
    s = settings()
    return str(s.data_dir) if s.data_dir is not None else str(s.demo_dir)


def allowed_data_path(path: str) -> Path:
    """``path`` resolved if datasets may be opened from it, else :class:`PathRefused`."""
    return check_data_path(path, data_settings())


def _tree_token(path: Path) -> float:
    """Changes when files are added to or removed from the dataset's top folders."""
    try:
        token = path.stat().st_mtime
        for child in path.iterdir() if path.is_dir() else []:
            token += child.stat().st_mtime
        return token
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Indexing the dataset…", max_entries=4)
def load_index(path: str, token: float) -> DatasetIndex:
    """The dataset index (cached per path; ``token`` invalidates it when files change)."""
    return open_dataset(path)


def image_cache(cache_dir: str) -> ImageCache:
    """The process' image cache of ``cache_dir`` (shared with Predict's analyses ahead)."""
    return shared_image_cache(cache_dir, settings().default_pixel_spacing_mm)


def get_image_cache() -> ImageCache:
    return image_cache(str(settings().cache_dir))


def current_data_path() -> str:
    return state.data_path(default_data_path, allowed_data_path)


def current_index() -> DatasetIndex | None:
    """The index of the dataset in use, or ``None`` (with an error drawn) if it cannot open."""
    path = current_data_path()
    try:
        return load_index(path, _tree_token(Path(path)))
    except McalcError as exc:
        st.error(f"The dataset at `{path}` cannot be opened: {exc}")
        st.info(
            "Choose another folder in the sidebar (the folder that holds `Dataset/`, the "
            "`Dataset/` folder itself, or a manifest CSV), or switch back to the demo data."
        )
        return None


def require_index() -> DatasetIndex:
    """The dataset in use, or stop the page with a message."""
    index = current_index()
    if index is None:
        st.stop()
    if not index.cases:
        st.warning("The dataset has no usable case. See the problems listed on the home page.")
        st.stop()
    return index


#: Where :func:`opened_section` and :func:`opened_tabs` keep a reader's choice across page
#: switches (prefix + key): Streamlit drops a widget's state once a run does not draw it,
#: and its ``persist_state`` is not offered for expanders and tabs.
KEPT_PREFIX = "_kept_"


def _restore(key: str) -> None:
    """Give back the reader's last choice of ``key`` once its widget state is gone (another
    page ran meanwhile) by setting it before the widget is made; never through the widget's
    default, which is part of its identity (a default that follows the choice would make a
    new widget, back at its default, on the run after)."""
    if key not in st.session_state and KEPT_PREFIX + key in st.session_state:
        st.session_state[key] = st.session_state[KEPT_PREFIX + key]


def opened_section(label: str, key: str) -> Any:
    """An expander whose content is drawn only while it is open (opening it reruns the
    page, or the fragment it is in): closed, its elements cost a run nothing, neither the
    server nor the browser, which renders the page again for each element a run sends
    (issue 14: entering the reader's name on Annotate drew every one of them, open or not;
    Predict's two data grids were a fifth to a quarter of a first visit's main-thread
    CPU). ``None`` when closed. Open or closed is kept across page switches. Keep
    ``label`` constant: it is part of the expander's identity."""
    _restore(key)
    box = st.expander(label, key=key, on_change="rerun")
    st.session_state[KEPT_PREFIX + key] = box.open
    return box if box.open else None


def opened_tabs(labels: Sequence[str], key: str) -> list[Any]:
    """Tabs whose content is drawn only while selected: the selected tab's container,
    ``None`` for the others (choosing a tab reruns the page, which then draws that tab
    alone, rather than every tab's tables and figures on every run). The tab chosen is kept
    across page switches; the first is selected at first."""
    _restore(key)
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    st.session_state[KEPT_PREFIX + key] = st.session_state[key]
    return [tab if tab.open else None for tab in tabs]


def synthetic_banner(index: DatasetIndex) -> None:
    if index.synthetic:
        st.caption(
            ":orange-background[SYNTHETIC DEMO DATA] generated by mcalc — not patient images, "
            "not for clinical use."
        )


#: How often a page waiting for the first start's demo set redraws its progress (seconds).
DEMO_POLL_S = 0.25


def ensure_demo() -> None:
    """On first start, wait for the synthetic demo set with a progress bar.

    The set is generated by the process (:func:`mcalc.synthetic.first_start.start_demo`),
    not by this script run: a tab closed midway does not end it, and a second tab shows the
    same generation's progress instead of starting another.
    """
    from mcalc.synthetic import is_synthetic
    from mcalc.synthetic.first_start import start_demo

    s = settings()
    if str(s.demo_dir) != current_data_path() or is_synthetic(s.demo_dir):
        return
    job = start_demo(s.demo_dir, cases=s.demo_cases, seed=s.demo_seed)
    if job is None:  # made meanwhile
        return
    bar = st.progress(0.0, text="First start: generating the synthetic demo dataset…")
    shown = None
    while not job.wait(DEMO_POLL_S):
        now = job.snapshot()
        if now != shown:  # each element sent makes the browser draw the page again
            done, total, message = shown = now
            bar.progress(
                min(done / total, 1.0) if total > 0 else 0.0,
                text=f"First start: generating the synthetic demo dataset: {message}",
            )
    if job.state != "done":
        st.error(f"Could not generate the demo dataset in `{s.demo_dir}`: {job.error}")
        st.info("Reload the page to try again, or open another dataset in the sidebar.")
        st.stop()
    bar.empty()
    load_index.clear()


def _keep_typed() -> None:
    st.session_state["app_data_text"] = st.session_state["app_data_input"]


def _open_typed() -> None:
    """Open the typed dataset once it opens: a typo (or a collection's own description
    file instead of its manifest) is said in the sidebar, the dataset open before stays
    open (it gave way to a page of errors, said twice and left on screen)."""
    _keep_typed()
    typed = str(st.session_state["app_data_input"]).strip()
    try:
        allowed_data_path(typed)
        load_index(typed, _tree_token(Path(typed)))
    except PathRefused as exc:
        st.session_state[state.REFUSED_KEY] = str(exc)
        return
    except McalcError as exc:
        st.session_state[state.REFUSED_KEY] = f"{exc}. The dataset open before stays open"
        return
    needs = accounts_needed(typed)
    if needs is not None:
        st.session_state[state.REFUSED_KEY] = needs
        return
    st.session_state.pop(state.REFUSED_KEY, None)
    st.session_state[DATA_KEY] = typed


def accounts_needed(path: str) -> str | None:
    """Why the sidebar does not open ``path`` in demo mode: a real dataset asks for a
    sign-in (``MCALC_AUTH=auto``) and no account exists to sign in with; opened, the app
    became a sign-in form with no sidebar and no way back but a reload. ``None`` where
    it may open (accounts exist, or are off, or ``path`` is synthetic)."""
    if current_mode().kind != "demo":
        return None
    accounts = users_file()
    if not auth_mode(settings(), path, has_users=accounts.exists()).signin_required:
        return None
    add = suggested_command("users", "--file", accounts.path, "add", "NAME", "--role", "admin")
    return (
        f"{path} is real data (not the synthetic demo), which only a signed-in account may "
        f"see (`MCALC_AUTH=auto`), and this server has no account yet. Create one on the "
        f"server with `{add}` (it asks for a password), reload this page, sign in, then "
        "open it again (`MCALC_AUTH=off` runs without accounts, showing every image to "
        "anyone who reaches the server). The demo data stays open"
    )


def _index_quietly() -> DatasetIndex | None:
    """The dataset in use, or ``None`` with nothing drawn (the page says why)."""
    path = current_data_path()
    try:
        return load_index(path, _tree_token(Path(path)))
    except McalcError:
        return None


def _open_demo() -> None:
    demo = str(settings().demo_dir)
    st.session_state.pop(state.REFUSED_KEY, None)  # a dataset is open: the refusal is past
    st.session_state[DATA_KEY] = demo
    st.session_state["app_data_text"] = demo


def sidebar_heading(title: str) -> None:
    """A section's title in the sidebar, drawn as a markdown h3 there looks but not a
    heading: the sidebar comes before the page in the document, so its "### Dataset"
    was the first heading of every page, an h3 above the page's h1, in a screen reader's
    list of headings (:data:`STALE_CSS` gives it the h3's size)."""
    st.markdown(f'<p class="mcalc-side-heading">{html.escape(title)}</p>', unsafe_allow_html=True)


def sidebar() -> None:
    """The shared sidebar: page menu and dataset choice."""
    with st.sidebar:
        for script, title, icon in menu_pages(signin.may):
            st.page_link(script, label=title, icon=icon)
        st.divider()
        sidebar_heading("Dataset")
        # Streamlit forgets a widget's state when the page changes: keep the text in a
        # plain key and hand it back to the widget on every run.
        st.session_state["app_data_input"] = st.session_state.get(
            "app_data_text", current_data_path()
        )
        st.text_input(
            "Dataset folder or manifest CSV",
            key="app_data_input",
            on_change=_keep_typed,
            help="The folder holding `Dataset/` (or `Dataset_v3/`), the `Dataset/` folder "
            "itself, a manifest CSV, or a folder with `manifest.csv`.",
        )
        c1, c2 = st.columns(2)
        c1.button("Open", key="app_open", width="stretch", on_click=_open_typed)
        c2.button("Demo data", key="app_demo", width="stretch", on_click=_open_demo)
        state.keep_data_in_url(current_data_path(), default_data_path())
        refused = st.session_state.get(state.REFUSED_KEY)
        if refused:
            st.error(f"Not opened: {refused}.")
        index = _index_quietly()
        if index is not None:
            label = "SYNTHETIC demo" if index.synthetic else index.source
            st.caption(f"{len(index.cases)} cases · {len(index.images())} images · {label}")


# -- accounts: the Streamlit side is pages/signin.py ----------------------------------------
def users_file() -> UsersFile:
    return UsersFile(settings().users_file)


def current_mode() -> AuthMode:
    """Demo (no accounts), accounts (sign-in required) or off, for the dataset in use."""
    return auth_mode(settings(), current_data_path(), has_users=users_file().exists())


def rerun_asked() -> bool:
    """Whether the browser asked for a rerun that waits for this script run: a widget of
    a fragment never interrupts a script run (Streamlit only queues its rerun), and any
    rerun request ends a script run only when the run next sends an element, so a run that
    waits (Predict's analysis, Browse's prefetch) asks here instead of sending something at
    every step (each element sent makes the browser render the page again). Streamlit offers no public way to ask: this reads
    the session's pending request, and says ``False`` where it cannot (the wait then runs
    its course, as it did before)."""
    ctx = get_script_run_ctx()
    state = getattr(getattr(ctx, "script_requests", None), "_state", None)
    return getattr(state, "name", None) == "RERUN"


def rerun_fragment_next(key: str) -> bool:
    """Ask for a rerun of the fragment named ``key`` (``@st.fragment(key=...)``, drawn in
    this script run) once this script run ends, instead of a rerun of the whole page: a
    page whose run waits for background work at its end (Predict's analysis) then draws
    only what the work changed. Streamlit offers this to widget callbacks only
    (``st.rerun(key)``); this files the same request with the session's script requests
    and returns ``True``; the caller then ends its run normally (sending nothing more:
    Streamlit ends a run that sends while a rerun is asked). ``False`` where it cannot
    (no such fragment, another Streamlit): the caller reruns the page."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    ctx = get_script_run_ctx()
    requests = getattr(ctx, "script_requests", None)
    storage = getattr(ctx, "fragment_storage", None)
    if ctx is None or requests is None or storage is None:
        return False
    try:
        # The key names every place the fragment was drawn since the last run that ended
        # normally: one drawn elsewhere before (a case with one element more above it) would
        # run too, its widgets made twice (StreamlitDuplicateElementKey), where this run
        # ends before Streamlit drops it (a session read after this call ends it).
        drawn = ctx.shared.new_fragment_ids.snapshot()
        ids = [i for i in storage.resolve_target(key) if i in drawn]
        if not ids:
            return False
        return bool(
            requests.request_rerun(
                RerunData(
                    query_string=ctx.query_string,
                    page_script_hash=ctx.page_script_hash,
                    fragment_id_queue=ids,
                    is_fragment_scoped_rerun=True,
                    cached_message_hashes=ctx.cached_message_hashes,
                    context_info=ctx.context_info,
                )
            )
        )
    except (AttributeError, TypeError, st.errors.StreamlitAPIException):
        return False


#: Streamlit dims every element left from the last run while a run goes on (opacity 0.33,
#: a 1 s transition after 0.5 s; an expander's border and heading too): on a page change
#: or a case switch that was about 40 opacity transitions at once, each a composited layer
#: the browser's compositor redraws every frame until the run ends (in software on a
#: machine without a GPU). Without them one reader's Chromium CPU per Browse case switch
#: fell from 0.83 to 0.56 s (bench/load.py's interactions, 3 December; README, "The app
#: under load"). The running indicator (top right) still says a run is going on; the
#: elements stay as they are until the new ones come.
#: Streamlit's placeholder of an element not ready yet (``stSkeleton``: the viewer's frame
#: until its page says it is ready, on every page switch; a widget whose code is still
#: loading) pulses its opacity forever (0.75 s, a compositor animation: a frame drawn at
#: the display's rate over the whole placeholder, 1040x600 px for the viewer). It stays,
#: still: the same block of the same size and colour where the element will be.
#: The rules whose colours depend on the theme (focus rings, a slider's value, captions)
#: are :func:`pages.theme.theme_css`'s.
STALE_CSS = (
    "<style>[data-stale='true'] { opacity: 1 !important; transition: none !important; }"
    " [data-testid='stSkeleton'] { animation: none !important; }"
    # An expander's own stale look (its border and heading fading the same way).
    " [data-testid='stExpander'] details, [data-testid='stExpander'] summary,"
    " [data-testid='stExpander'] summary > * { transition: none !important; }"
    " [data-testid='stExpander'] summary, [data-testid='stExpander'] summary > *"
    " { opacity: 1 !important; }"
    # Streamlit's 6rem above every page: on a 1080-line screen (a projector, a laptop) the
    # images started two thirds of the way down Browse.
    " [data-testid='stMainBlockContainer'] { padding-top: 2.5rem !important; }"
    # A page's sections are h2 (st.header) under its h1, as a screen reader's list of
    # headings expects (they were h3, st.subheader: axe-core's heading-order, h/a11y2),
    # drawn at the size the h3 had.
    " [data-testid='stMain'] h2 { font-size: 1.75rem !important;"
    " padding: 0.75rem 0 1rem !important; }"
    # The sidebar's section titles (sidebar_heading) as its h3s were drawn.
    " p.mcalc-side-heading { font-size: 1.125rem; font-weight: 600; line-height: 1.2;"
    " padding: 0.75rem 0 1rem; margin: 0 !important; }</style>"
)


def full_res_columns(what: str) -> dict[str, Any]:
    """``column_config`` of a table's ``row`` and ``col``: a centre in full-resolution pixels
    of the file, headed with that unit (``what``: whose centre, for the hover text)."""
    help_text = f"{what} centre, full-resolution pixels of the file"
    return {
        "row": st.column_config.NumberColumn("row (full-res px)", help=help_text),
        "col": st.column_config.NumberColumn("col (full-res px)", help=help_text),
    }


def dataframe(frame: pd.DataFrame | Styler, **kwargs: Any) -> Any:
    """``st.dataframe`` of ``frame`` with each missing value shown as :data:`MISSING`
    ("n/a"; Streamlit's ``placeholder``): the grid's default, a grey "None", was read as a
    value ("no biopsy", a model with no sensitivity). The data stay as they are: a number
    column sorts and downloads as numbers. Returns what ``st.dataframe`` returns (the
    selection of a table drawn with ``on_select``)."""
    return st.dataframe(frame, placeholder=MISSING, **kwargs)


def column_help(rows: Sequence[Mapping[str, Any]], helps: Mapping[str, str]) -> dict[str, Any]:
    """A ``column_config`` giving each column of ``rows`` named in ``helps`` its tooltip:
    what a header kept short (a table that fits without a horizontal scroll) leaves out."""
    return {k: st.column_config.Column(help=h) for k, h in helps.items() if rows and k in rows[0]}


def viewer_pixels_ahead(
    cache: ImageCache, records: Sequence[ImageRecord], laterality: str | None
) -> int:
    """The warm-up's ``pixels_ahead``: the viewer's bytes of Predict's opening case
    (:func:`mcalc.present.reading_overlays.warm_pixels` at the page's preview size)."""
    from mcalc.present.reading_overlays import warm_pixels

    return warm_pixels(cache, records, settings().preview_max_side, laterality)


def after_warmup() -> None:
    """The app's own start-up work, last in the warm-up's thread: Predict's page modules
    imported (:mod:`pages.preload`), then every module's paths made for the sessions' file
    watchers (:func:`pages.server_tuning.prime_watched_module_paths`), off the event loop."""
    import_page_modules(PREDICT_SCRIPT, STREAMLIT_ON_FIRST_USE)
    prime_watched_module_paths()


def frame(action: str | None = None) -> None:
    """Page config, sign-in, first-start demo data and the shared sidebar; once per script run.

    ``action``: what the page does (a key of :data:`mcalc.access.ACTIONS`); a role that may
    not do it gets a message and the page stops (checked on every call).
    """
    prepare_tensorflow()  # before any page imports TensorFlow
    # Here, not only in app.py: where Streamlit runs a page without app.py (its "pages/"
    # folder mode: AppTest, a server not started by `streamlit run app.py`), it is tuned too.
    tune_server(settings().run_log)
    # Once per process, after this page's run (a deep link to any page starts it too);
    # then Predict's first case is analysed ahead, for the dataset this session opens, and
    # Predict's page modules are imported (its first visit then imports none), and those
    # Streamlit imports on first use (its first cold case then imports none), then the
    # file watchers' paths of all these modules made (after_warmup).
    start_tensorflow_warmup(
        after=threading.current_thread(),
        data=current_data_path(),
        done=partial(log_work, settings().run_log),
        pixels_ahead=viewer_pixels_ahead,
        then=after_warmup,
    )
    if not getattr(_RUN, "frame_done", False):
        st.set_page_config(page_title="mcalc", page_icon=str(FAVICON), layout="wide")
        st.html(STALE_CSS + NARROW_CSS + theme.theme_css(theme.theme_type()))
        # In auto mode without accounts, the demo needs none: the sign-in a real dataset
        # (named by the address, MCALC_DATA) asks for offers the way back to it.
        back = _open_demo if settings().auth == "auto" else None
        signin.access_gate(current_mode(), users_file(), back=back)
        ensure_demo()
        sidebar()
        signin.user_box()
    if action is not None:
        signin.require(action)


def run_app() -> None:
    """What ``app.py`` does: register the pages, draw the frame, run the selected page
    and draw the reading viewer it handed (:func:`pages.viewer_component.viewer_slot`).

    ``st.navigation`` comes first: the sidebar's page links need the pages registered.
    """
    # No icon on the pages themselves: a page's Material icon becomes the tab's icon, which
    # the browser fetches from fonts.gstatic.com (:data:`FAVICON`); the menus' links draw
    # theirs from the font Streamlit serves.
    entries = available_pages()
    pages = [
        st.Page(script, title=title, default=script == "pages/home.py")
        for script, title, _icon in entries
    ]
    selected = st.navigation(pages, position="hidden")
    script = next(
        (e[0] for e, p in zip(entries, pages, strict=True) if p.url_path == selected.url_path), ""
    )
    frame()
    _RUN.frame_done = True
    from pages.viewer_component import SLOT_PAGES, viewer_slot

    try:
        # Browse's and Annotate's viewer is drawn here, after the page: one frame across
        # their switches (pages.viewer_component.viewer_slot); hidden before the others.
        with viewer_slot(hands_viewer=script in SLOT_PAGES):
            selected.run()
    finally:
        _RUN.frame_done = False


def window_controls(prefix: str, top: int = 4095, clahe: bool = True) -> dict[str, object]:
    """Window preset, level/width sliders, invert and CLAHE (drawn where called).

    Returns keyword arguments for :class:`mcalc.viewer.DisplayOptions`. ``top`` is the
    largest representable value of the image (the sliders' range); widget keys start with
    ``prefix``. ``clahe`` ``False``: no CLAHE control, and none applied (the reading viewer
    windows the 16-bit values in the browser and has no CLAHE: a toggle there changed
    nothing); the reader's choice is kept for the simple viewer.
    """
    from mcalc.imaging import WINDOW_PRESETS

    preset = st.selectbox(
        "Window preset",
        [*WINDOW_PRESETS, "manual"],
        key=f"{prefix}_preset",
        persist_state="session",
    )
    center = width = None
    if preset == "manual":
        center = st.slider(
            "Level (centre)",
            0,
            top,
            (top + 1) // 2,
            key=f"{prefix}_center",
            persist_state="session",
        )
        width = st.slider(
            "Window (width)", 1, top + 1, top + 1, key=f"{prefix}_width", persist_state="session"
        )
    invert = st.toggle("Invert", key=f"{prefix}_invert", persist_state="session")
    clahe = clahe and st.toggle(
        "Contrast enhancement (CLAHE)", key=f"{prefix}_clahe", persist_state="session"
    )
    clip = (
        st.slider(
            "CLAHE clip limit", 1.0, 6.0, 2.0, 0.5, key=f"{prefix}_clip", persist_state="session"
        )
        if clahe
        else 2.0
    )
    return {
        "preset": preset,
        "center": center,
        "width": width,
        "invert": invert,
        "clahe": clahe,
        "clahe_clip": clip,
    }
