"""Train's jobs: the live section (a running job's curves, cancel), the job history with a
job's details, and the registered models compared, with their delete and default buttons.

UI only, over :mod:`mcalc.jobs` and the registry; ``pages/train.py`` draws the configuration
and the launch, and calls these. :func:`notice` leaves a message for the page's next run
(both the launch and these buttons use it).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from mcalc import jobs
from mcalc.access import allows
from mcalc.config import REPO_ROOT, Settings
from mcalc.errors import McalcError
from mcalc.models.compare import (
    METRIC_COLUMNS,
    PAGE_HEADERS,
    PAGE_IN_VIEW,
    comparison_rows,
    page_table_columns,
)
from mcalc.models.registry import delete_model, list_models, load_card
from mcalc.models.tracking import run_links
from mcalc.plural import counted
from mcalc.present.train_figures import ENDED_HOW, curves_figure
from mcalc.progress import format_duration
from pages import default_model, signin, state, theme
from pages.wide_tables import split_table

#: Seconds between refreshes of the live section while a job is queued or running.
REFRESH_S = 1.5
NOTICE_KEY = "train_notice"
#: The job this session launched into the queue: its notice stays until it starts.
QUEUED_KEY = "train_queued_job"
SEEN_ACTIVE_KEY = "train_seen_active"
ENDED_KEY = "train_ended"  # the jobs this session saw running that have ended since
DETAIL_KEY = "train_detail_job"
#: The job history's columns in view (the rest in an expander under it): its 11 scrolled
#: sideways on a projector, 1280 px at 125 % (h/projector); a job's set-up is in its details.
HISTORY_IN_VIEW = ("job", "state", "model", "epochs", "run time")
DETAIL_NEWEST_KEY = "train_detail_newest"
PREDICT_PAGE = "pages/predict.py"
STATE_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/autorenew:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def notice(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


def queued(job_id: str) -> None:
    """Say on every run that job ``job_id`` is queued, until it starts
    (:func:`queued_notice`); a one-run :func:`notice` went with the next full rerun, a
    second later when one followed the launch."""
    st.session_state[QUEUED_KEY] = job_id


def _still_queued(job_id: str, settings: Settings) -> jobs.Job | None:
    try:
        job = jobs.get_job(job_id, settings)
    except McalcError:
        return None  # deleted meanwhile
    return job if job.state == "queued" else None


def queued_notice(settings: Settings) -> None:
    """The notice of the job this session queued, while it waits; dropped once it started
    (or was cancelled or deleted)."""
    job_id = st.session_state.get(QUEUED_KEY)
    if not job_id:
        return
    if (job := _still_queued(str(job_id), settings)) is None:
        del st.session_state[QUEUED_KEY]
        return
    st.info(f"Job `{job.id}` is queued: it starts when the running job ends.")


def _cancel(job_id: str, settings: Settings) -> None:
    try:
        job = jobs.cancel(job_id, settings)
    except McalcError as exc:
        notice("warning", f"Could not cancel: {exc}")
        return
    notice("info", f"Job `{job.id}` {job.state}.")


def _delete(what: str, item_id: str, settings: Settings) -> None:
    user = signin.current_user()
    who = {"role": signin.current_role(), "user": user["name"] if user else ""}
    was_default = False
    try:
        if what == "job":
            jobs.delete_job(item_id, settings, **who)
        else:
            was_default = delete_model(settings.models_dir, item_id, **who)
    except McalcError as exc:
        notice("error", f"Not deleted: {exc}")
        return
    notice(
        "success",
        f"Deleted {what} `{item_id}`."
        + (" It was the default model: none is set now." if was_default else ""),
    )


def _demo_mode(settings: Settings) -> bool:
    """Nobody signs in (no account yet) and accounts are not off: the page deletes nothing."""
    return signin.current_user() is None and settings.auth != "off"


def _demo_note(what: str, item_id: str) -> None:
    st.caption(
        f"Deleting a {what} needs a signed-in admin (the admin log records who deleted "
        "what), and nobody signs in in demo mode: create one with `python -m mcalc users "
        f"add NAME --role admin` and sign in, or run `python -m mcalc delete {what} "
        f"{item_id} --as NAME`."
    )


def delete_each_ui(ids: list[str], settings: Settings, key: str) -> None:
    """:func:`delete_ui` for each job folder of ``ids`` (keys ``key_0``, ``key_1``...); in
    demo mode one note for all, not one copy of it per folder."""
    if not ids:
        return
    if _demo_mode(settings) and allows(signin.current_role(), "delete_job"):
        _demo_note("job", "ID" if len(ids) > 1 else ids[0])
        return
    for i, item_id in enumerate(ids):
        delete_ui("job", item_id, settings, key=f"{key}_{i}")


def delete_ui(
    what: str, item_id: str, settings: Settings, *, is_default: bool = False, key: str = ""
) -> None:
    """Admins only: a delete button behind a confirmation (the library refuses other roles
    as well; this only spares them a button they cannot use), for a signed-in admin or with
    accounts off (``MCALC_AUTH=off``); in demo mode a note says how to delete instead.
    ``is_default``: the model is the registry's default, which deleting it clears; the
    popover says so."""
    if not allows(signin.current_role(), f"delete_{what}"):
        return
    if _demo_mode(settings):
        # The demo mode (no account yet): every visitor has every role, so anyone could
        # delete the shipped model for good, recorded as by nobody (a user check did, in
        # two clicks); the command line asks for an admin account here too. With
        # MCALC_AUTH=off the operator chose no accounts: the button stays.
        _demo_note(what, item_id)
        return
    with st.popover(f"Delete this {what}", icon=":material/delete:"):
        st.caption(
            f"Deletes {what} `{item_id}` for good"
            + (" (its registered model stays)." if what == "job" else ".")
        )
        if is_default:
            st.warning(
                f"`{item_id}` is the default model: deleting it leaves no default. Predict, "
                "Batch, Audit and Evaluate then open on the newest model, and "
                "`python -m mcalc predict` and `evaluate` need `--model`, until a researcher "
                "or admin makes another model the default.",
                icon=":material/star:",
            )
        st.button(
            f"Delete {item_id}",
            key=key or f"train_delete_{what}",
            type="primary",
            on_click=_delete,
            args=(what, item_id, settings),
        )


def running_job_ui(job: jobs.Job, settings: Settings) -> None:
    """Progress bar, curves and log tail of one active job, with a Cancel button."""
    head, button = st.columns([5, 1])
    cfg = job.config
    head.markdown(
        f"**{STATE_ICONS[job.state]} {job.model_id}** · {cfg.arch} / {cfg.task} / freeze "
        f"{cfg.freeze} · {cfg.epochs} epochs · batch {cfg.batch}"
    )
    if button.button("Cancel", key=f"train_cancel_{job.id}", width="stretch"):
        with st.spinner("Stopping the training process…"):
            _cancel(job.id, settings)
        st.rerun(scope="app")
    if job.state == "queued":
        st.progress(0.0, text="queued: waits for the running job to end")
        return
    prog = jobs.progress(job)
    st.progress(
        prog.fraction, text=f"{prog.summary()} · {format_duration(job.seconds or 0)} elapsed"
    )
    if prog.batch_loss or prog.history:
        st.plotly_chart(
            theme.styled(curves_figure(prog)), width="stretch", key=f"train_curves_{job.id}"
        )
    tracking_ui(job)
    with st.expander("Log (last lines)"):
        log_ui(job, lines=25, key=f"train_raw_log_{job.id}")


def tracking_ui(job: jobs.Job) -> None:
    """Where the run's curves are: its TensorBoard logs (and the command) and MLflow run."""
    links = run_links(job.progress_path, job.model_path)
    if links.tensorboard_dir:
        st.caption(f"TensorBoard logs in `{links.tensorboard_dir}`; to see them:")
        st.code(links.tensorboard_command, language="bash")
    if links.mlflow_url:
        st.link_button("Open the MLflow run", links.mlflow_url, icon=":material/open_in_new:")
    elif links.mlflow_run_id:
        st.caption(f"MLflow run `{links.mlflow_run_id}` in `{links.mlflow_uri}`.")


def log_ui(job: jobs.Job, lines: int, key: str) -> None:
    """The job's log: training lines, or with ``raw`` ticked everything it wrote."""
    raw = st.checkbox("Raw log (with TensorFlow's start-up messages)", key=key)
    st.code(jobs.log_tail(job, lines=lines, raw=raw) or "(nothing yet)", language=None)


def live_section(settings: Settings) -> None:
    """Active jobs; refreshes itself while any job is queued or running."""
    try:
        all_jobs = jobs.reconcile(settings)
    except McalcError as exc:
        st.error(f"The job folder cannot be used: {exc}")
        return
    active = [j for j in all_jobs if j.active]
    mine = st.session_state.get(QUEUED_KEY)
    if mine and not any(j.id == mine and j.state == "queued" for j in all_jobs):
        st.rerun(scope="app")  # this session's queued job started: its notice goes
    seen = set(st.session_state.get(SEEN_ACTIVE_KEY, ()))
    st.session_state[SEEN_ACTIVE_KEY] = [j.id for j in active]
    if ended := seen - {j.id for j in active}:
        st.session_state[ENDED_KEY] = sorted(ended)
        st.rerun(scope="app")  # a job ended: refresh the history and the comparison
    if not active:
        st.caption("No job is running. Launch one above.")
        # The curves a reader watched went with the job: say where they are now.
        by_id = {j.id: j for j in all_jobs}
        for job in (by_id[i] for i in st.session_state.get(ENDED_KEY, ()) if i in by_id):
            st.caption(
                f"**{job.model_id}** ended ({job.state}): its curves, test figures and log "
                "are under *Job history* below."
            )
        return
    for job in sorted(active, key=lambda j: j.created):
        with st.container(border=True):
            running_job_ui(job, settings)


def broken_jobs_ui(settings: Settings, broken: list[jobs.BrokenJob]) -> None:
    """The job folders that cannot be read (``broken``), named with why, each with its
    delete: they were left out of the history without a word, and nothing could delete
    them."""
    if not broken:
        return
    st.warning(
        f"{counted(len(broken), 'job folder')} in `{jobs.jobs_root(settings)}` cannot be read and {'is' if len(broken) == 1 else 'are'} "
        "left out of the history (damaged, or half made by a process that was killed): "
        + "; ".join(f"`{b.id}`: {b.reason}" for b in broken)
        + ". Delete each (an admin: below, or `python -m mcalc delete job ID --as NAME`); "
        "a model it registered stays in the registry.",
        icon=":material/broken_image:",
    )
    delete_each_ui([b.id for b in broken], settings, "train_delete_broken_job")


def orphan_runs_ui(
    settings: Settings, history: list[jobs.Job], broken: list[jobs.BrokenJob]
) -> None:
    """The training run folders no job and no registered model owns (a `python -m mcalc
    train` killed or failed, or its model deleted), each deletable one with its delete:
    `delete job ID` removed them, but nothing named them. ``history`` and ``broken``: the
    jobs, read once for the section."""
    runs = jobs.orphan_run_folders(settings, history, broken)
    if not runs:
        return
    st.warning(
        f"{counted(len(runs), 'training run folder')} in `{settings.runs_dir}` {'belongs' if len(runs) == 1 else 'belong'} to no job and no "
        "registered model (a `python -m mcalc train` killed or failed, or its model deleted): "
        + "; ".join(
            f"`{r.id}`"
            + (f" (failed: {r.error})" if r.error else "")
            + (f" (not yet: {r.refusal})" if r.refusal else "")
            for r in runs
        )
        + ". Delete each (an admin: below, or `python -m mcalc delete job ID --as NAME`); a "
        "multi-worker run's `ID.workers` folder (its config and worker logs) goes with it.",
        icon=":material/folder_off:",
    )
    delete_each_ui([r.id for r in runs if not r.refusal], settings, "train_delete_run")


def history_ui(settings: Settings) -> None:
    """Every job (rebuilt from the folders), and the details of one."""
    history, broken = jobs.list_jobs(settings), jobs.broken_jobs(settings)
    broken_jobs_ui(settings, broken)
    orphan_runs_ui(settings, history, broken)
    if not history:
        st.caption("No job yet.")
        return
    rows = [
        {
            "job": j.id,
            "state": j.state,
            "model": j.model_id,
            "architecture": j.config.arch,
            "task": j.config.task,
            "freeze": j.config.freeze,
            "epochs": j.config.epochs,
            "created": _when(j.created),
            # A running job's time is in the live section (this table is not redrawn live).
            "run time": "see above"
            if j.active
            else (format_duration(j.seconds) if j.seconds is not None else ""),
            "error": j.error or "",
            "by": j.user,
        }
        for j in history
    ]
    split_table(pd.DataFrame(rows), HISTORY_IN_VIEW, key="train_history", more="More columns")
    ids = [j.id for j in history]
    # A keyed selectbox keeps its value while its options change: when a newer job
    # appears, point it at that job, so its outcome (failed, cancelled) is what shows.
    newest = history[0].id  # list_jobs is newest first
    if (
        st.session_state.get(DETAIL_NEWEST_KEY) != newest
        or st.session_state.get(DETAIL_KEY) not in ids
    ):
        st.session_state[DETAIL_NEWEST_KEY] = newest
        st.session_state[DETAIL_KEY] = newest
    chosen = st.selectbox("Details of job", ids, key=DETAIL_KEY)
    job = next(j for j in history if j.id == chosen)
    job_state_ui(job)
    if not job.active:
        delete_ui("job", job.id, settings)
    with st.expander("Configuration and log"):
        st.json(job.config.to_json(), expanded=False)
        log_ui(job, lines=40, key="train_raw_log_detail")


def job_state_ui(job: jobs.Job) -> None:
    """One job's outcome, as it stands now."""
    if job.state == "failed":
        st.error(f"Failed: {job.error}")
        st.code(job.error_tail or jobs.log_tail(job, lines=25) or "(empty log)", language=None)
    elif job.state == "done":
        st.success(f"Done in {format_duration(job.seconds or 0)}: model `{job.model_id}`.")
        skipped_ui(job.model_path)
        test_metrics_ui(job.model_path)
    elif job.state == "cancelled":
        st.info(f"Cancelled: {job.error or ''}", icon=":material/cancel:")
    else:
        st.info(f"{job.state}: see the live section above.")
        return
    # The curves watched live stay readable once it ended (where it went, or diverged).
    prog = jobs.progress(job) if job.run_dir else None
    if prog is not None and (prog.batch_loss or prog.history):
        st.plotly_chart(
            theme.styled(curves_figure(prog, ended=job.state)),
            width="stretch",
            key=f"train_done_curves_{job.id}",
        )
    elif job.state in ENDED_HOW:  # else the details said nothing of the curves at all
        st.caption(f"No training batch finished before it {ENDED_HOW[job.state]}: no curves.")
    if job.state == "done":
        tracking_ui(job)
        open_model_ui(job.model_id, job.model_path, key="train_open_job")


#: The card's test metrics as the rest of the app names them.
TEST_METRICS = {
    "auc": "AUC",
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
}


def test_metrics_ui(model_path: str | None) -> None:
    """The finished model's figures on its held-out test patches, from its card."""
    if not model_path:
        return
    try:
        test = load_card(model_path).test_metrics
    except McalcError:
        return
    shown = [(name, test.get(k)) for k, name in TEST_METRICS.items()]
    parts = [f"{name} {float(v):.3f}" for name, v in shown if isinstance(v, int | float)]
    if parts:
        st.markdown(f"**Test** ({test.get('n', '?')} held-out patches): " + " · ".join(parts))


def skipped_ui(model_path: str | None) -> None:
    """The images a finished run left out (unreadable files), from its card."""
    if not model_path:
        return
    try:
        card = load_card(model_path)
    except McalcError:
        return
    if card.skipped_images:
        st.warning(
            f"{counted(len(card.skipped_images), 'image')} could not be read and {'was' if len(card.skipped_images) == 1 else 'were'} left out of "
            "training: " + "; ".join(f"{k}: {v}" for k, v in card.skipped_images.items()),
            icon=":material/warning:",
        )


def open_model_ui(model_id: str, path: str | None, *, key: str) -> None:
    """A button that opens the Predict page with ``model_id`` selected (when the page
    exists), else where the model is."""
    if not (REPO_ROOT / PREDICT_PAGE).is_file():
        st.caption(f"Registered in the model registry at `{path}` (id `{model_id}`).")
        return
    if st.button(f"Open {model_id} on the Predict page", key=key, icon=":material/neurology:"):
        state.select_model(model_id)
        st.switch_page(PREDICT_PAGE)


def compare_ui(settings: Settings) -> None:
    """Registered models side by side, to pick the best."""
    listing = list_models(settings.models_dir)
    for problem in listing.problems:
        st.caption(f"Skipped `{problem['path']}`: {problem['message']}")
    if not listing.models:
        st.caption(f"No model in `{settings.models_dir}` yet.")
        return
    table = pd.DataFrame(comparison_rows(listing.models))
    shown = table[page_table_columns(table.columns)].rename(columns=PAGE_HEADERS)
    split_table(
        shown,
        # The columns in view: Evaluate's registry's (a long id wraps: pages.wide_tables).
        [PAGE_HEADERS.get(c, c) for c in PAGE_IN_VIEW],
        key="train_compare",
        more="The set-up of each model",
        column_config={
            PAGE_HEADERS.get(c, c): st.column_config.NumberColumn(format="%.3f")
            for c in METRIC_COLUMNS
        }
        # The model's name stays in sight while the other columns scroll beside it.
        | {"model": st.column_config.TextColumn(pinned=True)}
        | {"training s": st.column_config.NumberColumn(format="%.0f")},
    )
    best = table.dropna(subset=["test AUC"]).sort_values("test AUC", ascending=False)
    choice = default_model.ordered(listing.models)[1]
    ids = list(table["model"])
    # The default model first (the one every page opens on): it opened on the best test
    # AUC even with a default set, and those AUCs come from each model's own test patients.
    first = (
        ids.index(choice.wanted)
        if choice.is_default and choice.wanted in ids
        else int(table.index.get_loc(best.index[0]))
        if len(best)
        else 0
    )
    pick = st.selectbox(
        "Model to use",
        ids,
        index=first,
        key="train_pick_model",
        help="Opens on the default model; without one, on the best test AUC (each model's "
        "AUC is on its own test patients: compare models on the same cases on Evaluate).",
    )
    card = next(c for c in listing.models if c.id == pick)
    open_model_ui(pick, card.path, key="train_open_pick")
    st.caption(
        "Default model (Predict, Batch, Audit and Evaluate open on it): "
        + (f"`{choice.wanted}`" if choice.is_default else choice.note)
        + ". A new model, a quick try or a cross-validation fold never becomes it by itself."
    )
    default_model.default_ui(choice, pick, "train", note=False)
    delete_ui("model", pick, settings, is_default=choice.is_default and pick == choice.wanted)
