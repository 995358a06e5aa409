"""Train: retrain a model in the background, watch it, cancel it, compare the runs.

Training runs as a separate ``python -m mcalc train`` process (see :mod:`mcalc.jobs`): the
page only submits jobs, reads their folders and draws. A job survives a reload, a closed
tab or a second browser; the live section refreshes itself with ``st.fragment``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from mcalc import jobs
from mcalc.access import allows
from mcalc.config import REPO_ROOT, Settings
from mcalc.errors import McalcError
from mcalc.models import ARCHITECTURES, STRATEGIES, TASKS
from mcalc.models.architectures import MIN_PATCH_SIZE
from mcalc.models.compare import comparison_rows
from mcalc.models.patches import INPUT_MODES
from mcalc.models.plan import STRATEGY_TEXT, FreezePlan, freeze_plan
from mcalc.models.registry import delete_model, list_models, load_card
from mcalc.models.tracking import run_links
from mcalc.models.train_config import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_PATCH_SIZE,
    MAX_PER_IMAGE,
    TrainConfig,
)
from mcalc.models.weights import WeightsInfo, resolve_weights
from mcalc.present.train_figures import curves_figure
from pages import common, default_model, signin, state

common.frame("train")

REFRESH_S = 1.5
NOTICE_KEY = "train_notice"
SEEN_ACTIVE_KEY = "train_seen_active"
DETAIL_KEY = "train_detail_job"
DETAIL_NEWEST_KEY = "train_detail_newest"
PREDICT_PAGE = "pages/predict.py"
LR_CHOICES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
#: Defaults of the widgets the architecture does not set: the configuration's own.
DEFAULTS = TrainConfig(data="")
INPUT_LABELS = {"recent": "Recent image", "temporal": "Temporal (recent + subtraction of prior)"}
WEIGHT_MODES = {
    "auto": "Automatic (best available)",
    "file": "A weights file",
    "none": "None: random initialisation",
}
STATE_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/autorenew:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}


@st.cache_resource(show_spinner="Counting the parameters of this architecture…", max_entries=16)
def cached_plans(arch: str, n_classes: int, boundary: str | None) -> dict[str, FreezePlan]:
    return freeze_plan(arch, n_classes, boundary)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _notice(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


def what_ui() -> tuple[str, str, str, str | None]:
    """Task, architecture, freeze strategy and (``partial``) boundary layer."""
    c1, c2 = st.columns(2)
    task = c1.selectbox(
        "Task",
        list(TASKS),
        key="train_task",
        persist_state="session",
        help="What the model answers.",
    )
    arch = c2.selectbox(
        "Architecture",
        list(ARCHITECTURES),
        key="train_arch",
        persist_state="session",
        help="custom: the original project's two-convolution network; the others are "
        "Keras backbones (heavy on a CPU).",
    )
    freeze = st.radio(
        "Freeze strategy",
        list(STRATEGIES),
        key="train_freeze",
        persist_state="session",
        horizontal=True,
        format_func=lambda s: {"full": "Full", "partial": "Partial", "head": "Head only"}[s],
    )
    boundary = None
    if freeze == "partial":
        default = ARCHITECTURES[arch].partial_boundary
        text = st.text_input(
            "First layer that trains",
            key="train_boundary",
            persist_state="session",
            placeholder=default,
            help=f"Layers before it stay frozen. Default for {arch}: {default}.",
        )
        boundary = text.strip() or None
    return task, arch, freeze, boundary


def plan_ui(arch: str, task: str, freeze: str, boundary: str | None) -> bool:
    """The strategy in words, which blocks train, and the parameter counts."""
    st.markdown(STRATEGY_TEXT[freeze])
    try:
        plan = cached_plans(arch, len(TASKS[task].classes), boundary)[freeze]
    except McalcError as exc:
        st.error(f"{exc}")
        return False
    c1, c2, c3 = st.columns(3)
    c1.metric("Trainable parameters", f"{plan.trainable_params:,}")
    c2.metric("Total parameters", f"{plan.total_params:,}")
    c3.metric("Share that trains", plan.trainable_share)
    table = pd.DataFrame([b.as_dict() for b in plan.blocks])
    colors = {"trains": "#2e9d57", "frozen": "#4a78c2", "partly": "#c9962a", "fixed": "#777777"}
    styled = table.style.map(
        lambda v: f"color: {colors.get(v, 'inherit')}; font-weight: 600", subset=["status"]
    )
    common.dataframe(
        styled, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 320)
    )
    if plan.boundary:
        # The legend of a "partly" status only where a block has it (a custom CNN has no
        # BatchNorm layers: "partly" never appears in its table).
        partly = (table["status"] == "partly").any()
        legend = " *partly*: BatchNorm layers stay frozen." if partly else ""
        st.caption(f"Partial boundary: `{plan.boundary}`.{legend}")
    return True


def weights_ui(arch: str, freeze: str) -> tuple[str | None, WeightsInfo | None, bool]:
    """Where the starting weights come from; returns (weights argument, info, confirmed)."""
    mode = st.radio(
        "Starting weights",
        list(WEIGHT_MODES),
        key="train_weights_mode",
        persist_state="session",
        format_func=WEIGHT_MODES.get,
        horizontal=True,
    )
    value: str | None = None
    if mode == "file":
        value = st.text_input(
            "Weights file (.weights.h5 of an mcalc model, or a Keras-applications .h5)",
            key="train_weights_file",
            persist_state="session",
        ).strip()
        if not value:
            st.info("Type the path of a weights file on this machine.")
            return value, None, False
    elif mode == "none":
        value = "none"
    try:
        info = resolve_weights(arch, value)
    except McalcError as exc:
        st.error(f"{exc}. Check the path, or choose automatic weights.")
        return value, None, False
    badge = "pre-trained" if info.pretrained else "not pre-trained"
    st.markdown(f"**Weights:** {info.detail} · *{badge}*")
    if info.warning and mode != "none":
        st.caption(info.warning)
    if freeze != "full" and not info.pretrained:
        st.warning(
            f"**{freeze}** freezes layers of a {arch} base that has no pre-trained weights: "
            "those layers stay random and the model can only learn in what still trains. "
            "Choose **Full**, or give pre-trained weights."
        )
        confirmed = st.checkbox(
            "Freeze the random layers anyway", key="train_confirm_random", persist_state="session"
        )
        return value, info, confirmed
    return value, info, True


def _apply_defaults(arch: str, freeze: str, pretrained: bool) -> None:
    """Reset hyperparameters to the architecture's defaults when its choice changes."""
    marker = (arch, freeze, pretrained)
    if st.session_state.get("train_defaults_for") == marker:
        return
    d = jobs.arch_defaults(arch, freeze, pretrained)
    st.session_state["train_epochs"] = d["epochs"]
    st.session_state["train_batch"] = d["batch"]
    st.session_state["train_lr"] = min(LR_CHOICES, key=lambda v: abs(v - d["lr"]))
    st.session_state["train_patch"] = d["patch_size"]
    st.session_state["train_defaults_for"] = marker


def hyper_ui(
    data: str,
    task: str,
    arch: str,
    freeze: str,
    boundary: str | None,
    weights: str | None,
    pretrained: bool,
) -> TrainConfig:
    """Hyperparameters (defaults per architecture) -> the run's configuration."""
    _apply_defaults(arch, freeze, pretrained)
    c = st.columns(4)
    epochs = c[0].number_input(
        "Epochs", 1, MAX_EPOCHS, step=1, key="train_epochs", persist_state="session"
    )
    batch = c[1].number_input(
        "Batch size", 1, MAX_BATCH, step=1, key="train_batch", persist_state="session"
    )
    lr = c[2].select_slider(
        "Learning rate",
        LR_CHOICES,
        key="train_lr",
        persist_state="session",
        format_func=lambda v: f"{v:g}",
    )
    seed = c[3].number_input(
        "Seed", 0, 2**31 - 1, step=1, key="train_seed", persist_state="session"
    )
    augment = st.toggle(
        "Augmentation (flips, 90° rotations, mild intensity changes)",
        value=DEFAULTS.augment,
        key="train_augment",
        persist_state="session",
    )
    with st.expander("Advanced"):
        a = st.columns(4)
        patch = a[0].number_input(
            "Patch size (px)",
            MIN_PATCH_SIZE,
            MAX_PATCH_SIZE,
            step=8,
            key="train_patch",
            persist_state="session",
        )
        pos = a[1].number_input(
            "Patches at findings per image",
            1,
            MAX_PER_IMAGE,
            value=DEFAULTS.pos_per_image,
            key="train_pos_per_image",
            persist_state="session",
        )
        neg = a[2].number_input(
            "Tissue patches per image",
            1,
            MAX_PER_IMAGE,
            value=DEFAULTS.neg_per_image,
            key="train_neg_per_image",
            persist_state="session",
        )
        patience = a[3].number_input(
            "Early-stopping patience",
            0,
            100,
            value=DEFAULTS.patience,
            key="train_patience",
            persist_state="session",
        )
        b = st.columns(4)
        max_steps = b[0].number_input(
            "Max batches per epoch (0: all)",
            0,
            100_000,
            value=0,
            key="train_max_steps",
            persist_state="session",
        )
        two_stage = b[1].checkbox(
            "Two stages: train the head first, then fine-tune with this strategy",
            key="train_two_stage",
            persist_state="session",
        )
        head_epochs = b[2].number_input(
            "Head epochs (two stages)",
            1,
            MAX_EPOCHS,
            value=DEFAULTS.head_epochs,
            key="train_head_epochs",
            persist_state="session",
            disabled=not two_stage,
            help="Epochs of the first stage; they count towards Epochs.",
        )
        model_id = st.text_input(
            "Model id (empty: automatic)",
            key="train_model_id",
            persist_state="session",
            placeholder=f"{arch}-{task}-…",
        ).strip()
    input_mode = st.radio(
        "Input",
        INPUT_MODES,
        key="train_input",
        persist_state="session",
        horizontal=True,
        format_func=lambda m: INPUT_LABELS.get(m, m),
        help="Temporal: the model sees each recent patch with the subtraction of the prior "
        "exam registered to it (the published method's input); it trains and predicts on "
        "recent images of cases with both rounds.",
    )
    return TrainConfig(
        data=data,
        arch=arch,
        task=task,
        freeze=freeze,
        epochs=int(epochs),
        batch=int(batch),
        lr=float(lr),
        seed=int(seed),
        weights=weights,
        patch_size=int(patch),
        pos_per_image=int(pos),
        neg_per_image=int(neg),
        two_stage=bool(two_stage),
        head_epochs=int(head_epochs),
        boundary=boundary if freeze == "partial" else None,
        patience=int(patience),
        max_steps=int(max_steps) or None,
        model_id=model_id or None,
        augment=bool(augment),
        input=str(input_mode),
    )


def launch(config: TrainConfig, settings: Settings) -> None:
    """Submit the job; the outcome is shown as a notice on the next run."""
    try:
        signed_in = signin.current_user()
        job = jobs.submit(config, settings, user=signed_in["name"] if signed_in else "")
    except McalcError as exc:
        _notice("error", f"Not launched: {exc}")
        return
    jobs.ensure_scheduler(settings)
    if job.extra.get("deduplicated"):
        _notice("info", f"This job was launched a moment ago (job `{job.id}`): not launched twice.")
    elif job.state == "queued":
        _notice("info", f"Job `{job.id}` is queued: it starts when the running job ends.")
    else:
        _notice("success", f"Job `{job.id}` started: model `{job.model_id}`.")


def _cancel(job_id: str, settings: Settings) -> None:
    try:
        job = jobs.cancel(job_id, settings)
    except McalcError as exc:
        _notice("warning", f"Could not cancel: {exc}")
        return
    _notice("info", f"Job `{job.id}` {job.state}.")


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
        _notice("error", f"Not deleted: {exc}")
        return
    _notice(
        "success",
        f"Deleted {what} `{item_id}`."
        + (" It was the default model: none is set now." if was_default else ""),
    )


def delete_ui(what: str, item_id: str, settings: Settings, *, is_default: bool = False) -> None:
    """Admins only: a delete button behind a confirmation (the library refuses other roles
    as well; this only spares them a button they cannot use). ``is_default``: the model is
    the registry's default, which deleting it clears; the popover says so."""
    if not allows(signin.current_role(), f"delete_{what}"):
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
            key=f"train_delete_{what}",
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
        prog.fraction, text=f"{prog.summary()} · {jobs.format_seconds(job.seconds or 0)} elapsed"
    )
    if prog.batch_loss or prog.history:
        st.plotly_chart(curves_figure(prog), width="stretch", key=f"train_curves_{job.id}")
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
        st.error(f"The job folder cannot be read: {exc}")
        return
    active = [j for j in all_jobs if j.active]
    seen = set(st.session_state.get(SEEN_ACTIVE_KEY, ()))
    st.session_state[SEEN_ACTIVE_KEY] = [j.id for j in active]
    if seen - {j.id for j in active}:
        st.rerun(scope="app")  # a job ended: refresh the history and the comparison
    if not active:
        st.caption("No job is running. Launch one above.")
        return
    for job in sorted(active, key=lambda j: j.created):
        with st.container(border=True):
            running_job_ui(job, settings)


def history_ui(settings: Settings) -> None:
    """Every job (rebuilt from the folders), and the details of one."""
    history = jobs.list_jobs(settings)
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
            "run time": jobs.format_seconds(j.seconds) if j.seconds is not None else "",
            "error": j.error or "",
            "by": j.user,
        }
        for j in history
    ]
    common.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
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
        st.success(f"Done in {jobs.format_seconds(job.seconds or 0)}: model `{job.model_id}`.")
        skipped_ui(job.model_path)
        tracking_ui(job)
        open_model_ui(job.model_id, job.model_path, key="train_open_job")
    elif job.state == "cancelled":
        st.info(f"Cancelled: {job.error or ''}", icon=":material/cancel:")
    else:
        st.info(f"{job.state}: see the live section above.")


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
            f"{len(card.skipped_images)} image(s) could not be read and were left out of "
            "training: " + "; ".join(f"{k}: {v}" for k, v in card.skipped_images.items()),
            icon=":material/warning:",
        )


def open_model_ui(model_id: str, path: str | None, *, key: str) -> None:
    """A button that opens the Predict page with ``model_id`` selected (when the page
    exists), else where the model is."""
    if not (REPO_ROOT / PREDICT_PAGE).is_file():
        st.caption(f"Registered in the model registry at `{path}` (id `{model_id}`).")
        return
    if st.button(f"Open {model_id} on the Predict page", key=key, icon="🔮"):
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
    common.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("test AUC", "accuracy", "sensitivity", "specificity")
        }
        | {"training s": st.column_config.NumberColumn(format="%.0f")},
    )
    best = table.dropna(subset=["test AUC"]).sort_values("test AUC", ascending=False)
    pick = st.selectbox(
        "Model to use",
        list(table["model"]),
        index=int(table.index.get_loc(best.index[0])) if len(best) else 0,
        key="train_pick_model",
        help="Defaults to the best test AUC.",
    )
    card = next(c for c in listing.models if c.id == pick)
    open_model_ui(pick, card.path, key="train_open_pick")
    choice = default_model.ordered(listing.models)[1]
    st.caption(
        "Default model (Predict, Batch, Audit and Evaluate open on it): "
        + (f"`{choice.wanted}`" if choice.is_default else choice.note)
        + ". A new model, a quick try or a cross-validation fold never becomes it by itself."
    )
    default_model.default_ui(choice, pick, "train", note=False)
    delete_ui("model", pick, settings, is_default=choice.is_default and pick == choice.wanted)


settings = common.settings()
st.title("Train")
st.caption(
    "Retrain a model in the background: it keeps running if you reload, close the tab or "
    "open the app elsewhere. One job runs at a time; further launches wait in a queue."
)
index = common.require_index()
common.synthetic_banner(index)
data_path = common.current_data_path()
n_patients = len({c.patient_id for c in index.cases})
st.markdown(
    f"**Dataset:** `{data_path}` · {len(index.cases)} cases · {n_patients} patients "
    "(change it in the sidebar)"
)

st.subheader("1 · What to train")
task, arch, freeze, boundary = what_ui()
plan_ok = plan_ui(arch, task, freeze, boundary)
st.subheader("2 · Starting weights")
weights, winfo, confirmed = weights_ui(arch, freeze)
st.subheader("3 · Hyperparameters")
config = hyper_ui(
    data_path, task, arch, freeze, boundary, weights, bool(winfo and winfo.pretrained)
)
ready = plan_ok and winfo is not None and confirmed
if st.button(
    "Launch training",
    key="train_launch",
    type="primary",
    icon=":material/rocket_launch:",
    disabled=not ready,
):
    launch(config, settings)
if NOTICE_KEY in st.session_state:
    kind, text = st.session_state.pop(NOTICE_KEY)
    getattr(st, kind)(text)

st.subheader("Live progress")
jobs.ensure_scheduler(settings)
has_active = any(j.active for j in jobs.list_jobs(settings))
st.fragment(live_section, run_every=REFRESH_S if has_active else None)(settings)

st.subheader("Job history")
history_ui(settings)
st.subheader("Compare registered models")
compare_ui(settings)
