"""Batch: run a model over the whole dataset in the background and browse its results table.

UI only: the run is ``python -m mcalc predict --all`` launched by
:func:`mcalc.jobs.batch.submit_batch` (a child process that survives reloads; launching the
same model on the same data again resumes it); the table is
:func:`mcalc.batch.filter_results` of the run's ``results.parquet``. A row opens in Predict
through :func:`pages.state.open_in_predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import streamlit as st

from mcalc.batch import (
    ENGINES,
    ResultSet,
    case_scores,
    filter_results,
    launched_set,
    ray_available,
    result_sets,
)
from mcalc.batch.run import not_read_note
from mcalc.batch.settings import DEFAULT_DETECTION
from mcalc.batch.table import (
    DISPLAY_COLUMNS,
    RESULTS_CSV,
    RESULTS_PARQUET,
    detection_threshold,
    launch_counts,
    outcome_text,
    read_results,
    threshold_note,
)
from mcalc.config import Settings
from mcalc.errors import McalcError
from mcalc.explain.results import model_key
from mcalc.explain.scoring import decision_threshold, threshold_label
from mcalc.explain.service import CAM_METHODS
from mcalc.jobs.batch import (
    BatchJob,
    BatchOptions,
    batch_root,
    cancel_batch,
    last_launch,
    list_batch_jobs,
    run_name,
    runs_of_dataset,
    submit_batch,
)
from mcalc.jobs.batch_estimate import estimate_run
from mcalc.models.card import ModelCard
from mcalc.models.registry import RegistryListing, list_models
from mcalc.plural import counted
from mcalc.present.reading import image_names, row_names
from pages import common, default_model, menu, signin, state

common.frame(menu.page_action(__file__))

REFRESH_S = 2.0
NOTICE_KEY = "batch_notice"
PREDICT_PAGE = "pages/predict.py"
ERRORS = {"all": "all images", "none": "analysed only", "only": "failed only"}
REGIONS = {"all": "all images", "called": "a region called", "below": "a region below threshold"}
SET_KEY = "batch_set"
#: Set once the user changes a launch choice in this session (they then stay theirs).
PICKED_KEY = "batch_options_picked"
MAX_WORKERS = 256


@st.cache_data(show_spinner=False, max_entries=4)
def _run_table(folder: str, stamp: tuple[int, int]) -> pd.DataFrame:
    """A run folder's results table, read again only when its files change (``stamp``)."""
    return read_results(folder)


def run_table(folder: Path) -> pd.DataFrame:
    """The results table of a run folder: the launch's estimate and the results below read
    the same run's table on each page run (twice, once each); now once per change."""

    def mtime(name: str) -> int:
        try:
            return (folder / name).stat().st_mtime_ns
        except OSError:
            return 0

    return _run_table(str(folder), (mtime(RESULTS_PARQUET), mtime(RESULTS_CSV)))


def estimate_ui(
    settings: Settings,
    model: ModelCard,
    data_path: str,
    images: int,
    options: BatchOptions,
    archs: dict[str, str],
    runs: list[BatchJob],
) -> None:
    """How long the launch will take, from the speed an earlier run measured here with the
    same explanation when there is one (images done with these settings are skipped, failed
    ones tried again: counted from the run's table; ``runs``: every batch run)."""
    folder = batch_root(settings) / run_name(str(model.id), data_path)
    # Its rows list regions from the model's threshold (predict --all's default).
    floor = decision_threshold(model).value
    done, failed = launch_counts(
        run_table(folder), model_key(model), options.cam, options.maps, regions_from=floor
    )
    est = estimate_run(
        str(model.id),
        images,
        runs,
        cam=options.cam,
        architectures=archs,
        done=done,
        failed=failed,
    )
    if est is None:
        st.caption(
            f"No estimate of the time: no run of this model (or of another "
            f"{archs.get(str(model.id), '?')}) has measured its speed here yet. The progress "
            "line shows it once the first images are done."
        )
    elif est.slow or (est.other_method and est.left):
        st.warning(est.text(), icon=":material/hourglass_top:")
    else:
        st.caption(est.text())


def _picked() -> None:
    st.session_state[PICKED_KEY] = True


def follow_last_launch(last: BatchOptions | None, engines: list[str]) -> None:
    """The launch choices, until the user changes one in this session: those of the model's
    last launch on this dataset (a launch with them resumes its run), else the defaults. A
    new session showed the defaults, and Launch then began another set of rows over every
    image of a run launched with an explanation or maps, instead of resuming it."""
    if st.session_state.get(PICKED_KEY):
        return
    o = last or BatchOptions()
    st.session_state["batch_engine"] = o.engine if o.engine in engines else engines[0]
    st.session_state["batch_workers"] = min(o.workers or 0, MAX_WORKERS)
    st.session_state["batch_cam"] = o.cam if o.cam in CAM_METHODS else "none"
    st.session_state["batch_maps"] = o.maps


def launch_ui(
    settings: Settings, listing: RegistryListing, data_path: str, images: int, runs: list[BatchJob]
) -> bool:
    """Model, engine, workers, explanation and maps; the time it will take; launch.
    ``listing``: the registry, as the page listed it; ``runs``: every batch run, as the page
    listed them. Returns whether a run was launched (the page lists them again)."""
    if not listing.models:
        st.info(
            f"No model in `{settings.models_dir}`. Train one on the Train page, or with "
            "`python -m mcalc train`."
        )
        return False
    cards, choice = default_model.ordered(listing.models)
    by_id = {c.id: c for c in cards}
    # The picker and its *Make default* button at the page's width: in a column three
    # fifths wide (335 px at a projector's 1024) a fold's id lost its "fold1of3" (h/ids).
    model_id = st.selectbox(
        "Model",
        list(by_id),
        key="batch_model",
        persist_state="session",
        format_func=lambda i: (
            f"{i} · {by_id[i].architecture} · {by_id[i].task_name}{default_model.label(choice, i)}"
        ),
    )
    default_model.default_ui(choice, str(model_id), "batch", picker="batch_model")
    c2, c3, _ = st.columns([2, 1, 1])
    has_ray = ray_available()
    engines = list(ENGINES) if has_ray else ["local"]
    follow_last_launch(last_launch(runs, str(model_id), data_path), engines)
    engine = c2.radio(
        "Engine",
        engines,
        horizontal=True,
        key="batch_engine",
        persist_state="session",
        on_change=_picked,
        help="local: a process pool on this machine; ray: Ray Data (a local Ray instance, or "
        "the cluster the server names in MCALC_RAY_ADDRESS)",
    )
    workers = c3.number_input(
        "Workers (0: auto)",
        0,
        MAX_WORKERS,
        key="batch_workers",
        persist_state="session",
        on_change=_picked,
    )
    # The toggle's column the wider: in [2, 2, 3] it read "Save each imag…" at 1024 px (a
    # projector's 1280 at 125 %); the third holds only Ray's caption.
    c4, c5, c6 = st.columns([2, 3, 2])
    cam = c4.selectbox(
        "Explanation per image",
        ["none", *CAM_METHODS],
        key="batch_cam",
        persist_state="session",
        on_change=_picked,
    )
    maps = c5.toggle(
        "Save each image's maps", key="batch_maps", persist_state="session", on_change=_picked
    )
    # The server's operator names the cluster (MCALC_RAY_ADDRESS), not the page: Ray trades
    # pickles with the cluster it joins, so one named here could run code in this server.
    address = settings.ray_address or ""
    if engine == "ray":
        c6.caption(
            f"Ray: {'the cluster at `' + address + '`' if address else 'a local instance'} "
            "(the server's `MCALC_RAY_ADDRESS`)"
        )
    options = BatchOptions(
        engine=str(engine),
        workers=int(workers) or None,
        address=address.strip() or None,
        cam=None if cam == "none" else str(cam),
        maps=bool(maps),
    )
    archs = {c.id: c.architecture for c in cards}
    estimate_ui(settings, by_id[str(model_id)], data_path, images, options, archs, runs)
    launched = False
    if st.button("Launch", key="batch_launch", type="primary", icon=":material/rocket_launch:"):
        user = signin.current_user()
        try:
            job = submit_batch(
                str(model_id), data_path, options, settings, user=user["name"] if user else ""
            )
        except McalcError as exc:
            st.session_state[NOTICE_KEY] = ("error", f"Not launched: {exc}")
        else:
            st.session_state["batch_run"] = job.name
            # The new launch's rows are shown when they come, whatever set was chosen.
            st.session_state.pop(f"{SET_KEY}_picked:{job.name}", None)
            st.session_state[NOTICE_KEY] = ("success", f"Launched `{job.name}`.")
            launched = True
    if NOTICE_KEY in st.session_state:
        kind, text = st.session_state.pop(NOTICE_KEY)
        getattr(st, kind)(text)
    return launched


def listed_once(runs: list[BatchJob]) -> list[list[BatchJob]]:
    """The runs the page's run listed, for a fragment's first draw in that run: the
    fragment takes them (:func:`fresh_runs`) and lists them itself on its own reruns. A
    fragment called with the list itself drew that run's list on every rerun; listing
    again in each fragment's draw read every run folder twice more on each page run."""
    return [runs]


def fresh_runs(listed: list[list[BatchJob]], settings: Settings) -> list[BatchJob]:
    """The page run's runs the first time (:func:`listed_once`), then listed anew."""
    return listed.pop() if listed else list_batch_jobs(settings)


def live_ui(name: str, settings: Settings, listed: list[list[BatchJob]]) -> None:
    """The chosen run's progress and cancel button; refreshes itself while it runs.
    ``listed``: the page run's runs (:func:`listed_once`)."""
    job = next((j for j in fresh_runs(listed, settings) if j.name == name), None)
    if job is None:
        return
    prog = job.progress()
    done, total = int(prog.get("done", 0)), int(prog.get("total", 0) or 0)
    st.progress(min(done / total, 1.0) if total else 0.0, text=job.progress_line())
    if missed := prog.get("not_read"):  # manifest rows or files that are no image of the run
        st.warning(not_read_note(job.data, missed), icon=":material/warning:")
        with st.expander(counted(len(missed), "row or file", "rows or files") + " not read"):
            st.text("\n".join(str(m) for m in missed))  # as written: no Markdown
    if job.state == "failed":
        st.error(f"Failed: {job.error}")
        st.code(job.log_tail() or "(empty log)", language=None)
    elif job.state == "cancelled":
        st.info(job.error or "cancelled", icon=":material/cancel:")
    if job.active:
        if st.button("Cancel", key="batch_cancel"):
            try:
                cancel_batch(job.name, settings)
            except McalcError as exc:
                st.error(f"{exc}")
        if not st.session_state.get("batch_seen_active"):
            st.session_state["batch_seen_active"] = True
    elif st.session_state.pop("batch_seen_active", False):
        st.rerun(scope="app")  # the run ended: redraw the table


def runs_table_ui(settings: Settings, listed: list[list[BatchJob]]) -> None:
    """Every batch run in one table: what, where, how far, how fast. ``listed``: the page
    run's runs (:func:`listed_once`)."""
    common.dataframe(
        pd.DataFrame([j.summary_row() for j in fresh_runs(listed, settings)]),
        hide_index=True,
        width="stretch",
        column_config={"images/s": st.column_config.NumberColumn(format="%.2f")},
    )


def set_ui(job: BatchJob, sets: list[ResultSet]) -> ResultSet:
    """The result set to show, kept by its key (a launch adding a set moves the others in
    the list: a place kept named another set, under the label of the one first chosen);
    the launch's own set until one is chosen."""
    by_key = {rs.key: rs for rs in sets}
    launched = launched_set(sets, job.options.cam, job.options.maps)
    key, picked = f"{SET_KEY}:{job.name}", f"{SET_KEY}_picked:{job.name}"
    if not st.session_state.get(picked) or st.session_state.get(key) not in by_key:
        # Not chosen by the reader: follow the launch (its rows may come after this draw).
        st.session_state[key] = (launched or sets[0]).key
    chosen = st.selectbox(
        "Result set",
        list(by_key),
        key=key,
        # No row counts in the label: they grow while a run goes on, and the browser kept
        # showing the count of the moment it was chosen ("21 rows" above a table of 48);
        # the caption under the filters counts them.
        format_func=lambda k: (
            by_key[k].label
            + (" · the last launch's" if launched is not None and k == launched.key else "")
            if k in by_key
            else str(k)
        ),
        on_change=lambda: st.session_state.__setitem__(picked, True),
        help="This run folder keeps the rows of every launch (other explanation or maps "
        "settings, an earlier version of the model), so that a launch never redoes them; "
        "results.csv holds them all, with their settings.",
    )
    return by_key.get(str(chosen), launched or sets[0])


def results_ui(job: BatchJob, names: Mapping[str, str], card: ModelCard | None) -> None:
    """The run's table: filter by score and errors, sort by clicking a column, open a row;
    each image in words (:func:`~mcalc.present.reading.row_names`; ``names``: those of the
    dataset in use when the run is over it, for their exam years); a warning when its rows were
    decided at another threshold than the model's card names now (``card``: the run's model's,
    as the page listed the registry; ``None``: no longer registered)."""
    table = run_table(Path(job.folder))
    if job.active:  # only the progress line above refreshes while the run goes on
        st.caption(
            ("No rows saved yet" if table.empty else f"{len(table)} rows as saved")
            + " when this page was drawn: the table comes when the run ends (it saves its "
            "rows every 10 s; reload the page to see them sooner)."
        )
    if table.empty:
        if not job.active:
            st.caption("No result yet.")
        return
    sets = result_sets(table)
    if len(sets) > 1:  # every launch's rows are kept (none is redone): show one set
        table = table[set_ui(job, sets).holds(table)]
    if card is not None and (note := threshold_note(table, decision_threshold(card))):
        st.warning(note, icon=":material/tune:")
    c1, c2 = st.columns([3, 2])
    low, high = c1.slider(
        "Score", 0.0, 1.0, (0.0, 1.0), 0.01, key="batch_score", persist_state="session"
    )
    errors = c2.radio(
        "Rows",
        list(ERRORS),
        format_func=ERRORS.get,
        horizontal=True,
        key="batch_errors",
        persist_state="session",
    )
    regions = st.radio(  # a row of its own: beside the others, each wrapped at 1400 px
        "Regions",
        list(REGIONS),
        format_func=REGIONS.get,
        horizontal=True,
        key="batch_regions",
        persist_state="session",
        help="Images with a region the model calls, or with a region listed below the row's "
        "threshold (a run with a lowered --threshold), which the model does not call",
    )
    shown = filter_results(
        table, min_score=low, max_score=high, errors=str(errors), regions=str(regions)
    )
    shown = shown.sort_values("score", ascending=False, na_position="last")
    view = shown[list(DISPLAY_COLUMNS)].reset_index(drop=True)
    # Side, view, round and exam year, as Predict's panels title the image (the key,
    # suspicious-1/CC_prior, has neither side nor year).
    view.insert(1, "image", row_names(shown, names))
    outcome = [  # "failed: unreadable" for a failed row, not "score nan"
        outcome_text(score, kind, error)
        for score, kind, error in zip(
            shown["score"], shown["error_kind"], shown["error"], strict=True
        )
    ]
    det = DEFAULT_DETECTION  # a batch run's detections (mcalc.batch.settings)
    least = detection_threshold(table)
    at = "their run's detection threshold" if least is None else threshold_label(least)
    st.caption(
        f"{len(view)} of {len(table)} rows · click a column header to sort · n_detections: "
        f"peaks of the map scoring at least {at}, at most {det.max_detections} "
        f"an image ({det.max_detections} = the cap reached) · n_regions_called, "
        "n_detections_called: those at or above the row's threshold, which the model calls "
        "(regions listed under a lowered --threshold are not called)"
    )
    event = common.dataframe(
        view,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="batch_table",
        column_config={
            "score": st.column_config.NumberColumn(format="%.3f"),
            # The threshold in force: 0.921513 read 0.92 at two decimals.
            "threshold": st.column_config.NumberColumn(format="%.4f"),
            "seconds": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    # The image is chosen by its key, not its place: while a run goes on, rows arrive and
    # are sorted again, and a place named another image (or the widget's stale label came
    # back as a string, and comparing it with a number raised a TypeError on the page).
    keys = list(view["image_key"])
    place = {k: i for i, k in reversed(list(enumerate(keys)))}
    picked = list(event.selection.rows) if event is not None else []
    if picked and st.session_state.get("batch_last_pick") != picked and picked[0] < len(keys):
        st.session_state["batch_open_row"] = keys[picked[0]]  # a ticked row is the one opened
    st.session_state["batch_last_pick"] = picked
    if keys and st.session_state.get("batch_open_row") not in place:
        st.session_state["batch_open_row"] = keys[0]
    if keys:
        c3, c4 = st.columns([3, 1], vertical_alignment="bottom")
        key = c3.selectbox(
            "Image to open in Predict (or tick a row)",
            keys,
            key="batch_open_row",
            format_func=lambda k: (
                f"{view.at[place[k], 'image']} · {view.at[place[k], 'model_id']} · "
                f"{outcome[place[k]]}"
                if k in place
                else str(k)
            ),
        )
        if c4.button("Open in Predict", key="batch_open", icon=":material/open_in_new:"):
            row = view.iloc[place[str(key)]]
            state.open_in_predict(
                str(row["model_id"]), str(row["case_id"]), str(row["view"]), str(row["timepoint"])
            )
            st.switch_page(PREDICT_PAGE)
    with st.expander("Case scores (maximum over each case's images)"):
        common.dataframe(case_scores(table), hide_index=True, width="stretch")
    csv = job.folder / RESULTS_CSV
    if csv.is_file():
        st.download_button(
            "Download results.csv", csv.read_bytes(), file_name="results.csv", key="batch_csv"
        )
    st.caption(f"Files: `{job.folder}` (results.parquet, results.csv, maps/)")


settings = common.settings()
st.title("Batch inference")
st.caption(
    "Run a model over every image of the dataset in the background (it keeps running if you "
    "reload or close the tab). Launching the same model on the same data again resumes: "
    "images already done are skipped; an image that fails is a row with its error."
)
index = common.require_index()
common.synthetic_banner(index)
data_path = common.current_data_path()
st.markdown(f"**Dataset:** `{data_path}` · {len(index.images())} images (change it in the sidebar)")
# Listed once for the whole run (the launch's estimate, the Runs table, the chosen run's
# progress), again after a launch; the fragments list them anew on their own reruns.
runs = list_batch_jobs(settings)
# The registry listed once per run too: the launch's model choice and the chosen run's card.
listing = list_models(default_model.registry_folder())
if launch_ui(settings, listing, data_path, len(index.images()), runs):
    runs = list_batch_jobs(settings)
if not runs:
    st.caption("No batch run yet.")
    st.stop()
st.header("Runs")
# Redrawn while a run goes on: drawn once, its row said "running · 0/48" beside a progress
# line at 30/48, until the run ended.
st.fragment(runs_table_ui, run_every=REFRESH_S if any(j.active for j in runs) else None)(
    settings, listed_once(runs)
)
# Only the runs over the dataset open: the picker, kept for the session, went on showing
# the demo dataset's run while another was open.
names = [j.name for j in runs_of_dataset(runs, data_path)]
if not names:
    st.caption("No batch run over this dataset yet: launch one above.")
    st.stop()
if st.session_state.get("batch_run") not in names:
    st.session_state["batch_run"] = names[0]
name = st.selectbox("Run", names, key="batch_run", persist_state="session")
chosen = next(j for j in runs if j.name == name)
st.fragment(live_ui, run_every=REFRESH_S if chosen.active else None)(
    name, settings, listed_once(runs)
)
st.header("Results")
card = next((c for c in listing.models if c.id == chosen.model_id), None)
results_ui(chosen, image_names(index), card)
