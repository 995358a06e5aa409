"""Train: retrain a model in the background, watch it, cancel it, compare the runs.

Training runs as a separate ``python -m mcalc train`` process (see :mod:`mcalc.jobs`): the
page only submits jobs, reads their folders and draws. A job survives a reload, a closed
tab or a second browser; the live section refreshes itself with ``st.fragment``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc import jobs
from mcalc.config import Settings
from mcalc.errors import FieldError, McalcError
from mcalc.models import ARCHITECTURES, STRATEGIES, TASKS
from mcalc.models.architectures import MIN_PATCH_SIZE
from mcalc.models.patches import INPUT_MODES, input_channels
from mcalc.models.plan import (
    STRATEGY_LABEL,
    STRATEGY_TEXT,
    FreezePlan,
    freeze_plan,
    random_freeze_text,
)
from mcalc.models.train_config import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_PATCH_SIZE,
    MAX_PER_IMAGE,
    TrainConfig,
)
from mcalc.models.weights import WeightsInfo, random_warning, resolve_weights
from pages import common, menu, signin, theme, train_jobs

common.frame(menu.page_action(__file__))

LR_CHOICES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
#: Defaults of the widgets the architecture does not set: the configuration's own.
DEFAULTS = TrainConfig(data="")
INPUT_LABELS = {"recent": "Recent image", "temporal": "Temporal (recent + subtraction of prior)"}
WEIGHT_MODES = {
    "auto": "Automatic (best available)",
    "file": "A weights file",
    "none": "None: random initialisation",
}


@st.cache_resource(show_spinner="Counting the parameters of this architecture…", max_entries=16)
def cached_plans(
    arch: str, n_classes: int, boundary: str | None, channels: int
) -> dict[str, FreezePlan]:
    return freeze_plan(arch, n_classes, boundary, channels)


def chosen_channels() -> int:
    """The input channels of the input chosen in section 3 (its last value: a change reruns
    the page), which sections 1 and 2 depend on: a temporal custom CNN has 288 parameters
    more than a gray one, and a temporal model's weights fit only a temporal model."""
    return len(input_channels(st.session_state.get("train_input", INPUT_MODES[0])))


#: The label of each configuration field's widget, also for its errors (:func:`error_text`).
FIELD_LABELS = {
    "task": "Task",
    "arch": "Architecture",
    "freeze": "Freeze strategy",
    "boundary": "First layer that trains",
    "epochs": "Epochs",
    "batch": "Batch size",
    "lr": "Learning rate",
    "seed": "Seed",
    "patch_size": "Patch size (px)",
    "pos_per_image": "Patches at findings per image",
    "neg_per_image": "Tissue patches per image",
    "patience": "Early-stopping patience",
    "max_steps": "Max batches per epoch (0: all)",
    "head_epochs": "Head epochs (two stages)",
    "hard_negatives": "Hard negatives per image (0: off)",
    "model_id": "Model id (empty: automatic)",
    "input": "Input",
}


def error_text(exc: McalcError) -> str:
    """An error of the run's configuration with its field called by its widget's label
    (*Batch size*, where the library says ``batch``)."""
    if isinstance(exc, FieldError):
        return exc.named(f"*{FIELD_LABELS.get(exc.field, exc.field)}*")
    return str(exc)


def what_ui() -> tuple[str, str, str, str | None]:
    """Task, architecture, freeze strategy and (``partial``) boundary layer."""
    c1, c2 = st.columns(2)
    task = c1.selectbox(
        FIELD_LABELS["task"],
        list(TASKS),
        key="train_task",
        persist_state="session",
        help="What the model answers.",
    )
    arch = c2.selectbox(
        FIELD_LABELS["arch"],
        list(ARCHITECTURES),
        key="train_arch",
        persist_state="session",
        help="custom: the original project's two-convolution network; the others are "
        "Keras backbones (heavy on a CPU).",
    )
    freeze = st.radio(
        FIELD_LABELS["freeze"],
        list(STRATEGIES),
        key="train_freeze",
        persist_state="session",
        horizontal=True,
        format_func=STRATEGY_LABEL.__getitem__,
    )
    boundary = None
    if freeze == "partial":
        default = ARCHITECTURES[arch].partial_boundary
        text = st.text_input(
            FIELD_LABELS["boundary"],
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
        plan = cached_plans(arch, len(TASKS[task].classes), boundary, chosen_channels())[freeze]
    except McalcError as exc:
        st.error(f"{exc}")
        return False
    c1, c2, c3 = st.columns(3)
    c1.metric("Trainable parameters", f"{plan.trainable_params:,}")
    c2.metric("Total parameters", f"{plan.total_params:,}")
    c3.metric("Share that trains", plan.trainable_share)
    table = pd.DataFrame([b.as_dict() for b in plan.blocks])
    colors = theme.status_colours(theme.theme_type())
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
        info = resolve_weights(arch, value, chosen_channels())
    except McalcError as exc:  # it says what was expected and what to do
        st.error(f"{exc}.", icon=":material/block:")
        return value, None, False
    badge = "pre-trained" if info.pretrained else "not pre-trained"
    st.markdown(f"**Weights:** {info.detail} · *{badge}*")
    if info.source == "random" and ARCHITECTURES[arch].keras_app:
        # A backbone from scratch (millions of parameters, a few patients) is the choice
        # that most often wastes a run: said as a warning, not in small print.
        why = (
            ", as asked: every layer starts random and learns from this dataset alone"
            if mode == "none"
            # The page's words for giving a file, not the command line's flag.
            else f": {random_warning(arch, 'choose *A weights file*')}"
        )
        st.warning(f"**Training {arch} from scratch**{why}.", icon=":material/warning:")
    elif info.warning and mode != "none":
        st.caption(info.warning)
    if freeze != "full" and not info.pretrained:
        st.warning(
            f"{random_freeze_text(freeze, arch)} Choose **Full**, or give pre-trained weights."
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
        FIELD_LABELS["epochs"], 1, MAX_EPOCHS, step=1, key="train_epochs", persist_state="session"
    )
    batch = c[1].number_input(
        FIELD_LABELS["batch"], 1, MAX_BATCH, step=1, key="train_batch", persist_state="session"
    )
    lr = c[2].select_slider(
        FIELD_LABELS["lr"],
        LR_CHOICES,
        key="train_lr",
        persist_state="session",
        format_func=lambda v: f"{v:g}",
    )
    seed = c[3].number_input(
        FIELD_LABELS["seed"], 0, 2**31 - 1, step=1, key="train_seed", persist_state="session"
    )
    augment = st.toggle(
        "Augmentation (flips, 90° rotations, mild intensity changes)",
        value=DEFAULTS.augment,
        key="train_augment",
        persist_state="session",
    )
    operating = st.toggle(
        "When trained, choose its decision threshold on the validation patients (Youden's J)",
        key="train_operating_point",
        persist_state="session",
        help="Off, the new model decides at 0.5 until a threshold is chosen (Evaluate, "
        "*Operating points*). On, the job then runs the model over every validation image, "
        "as Predict does (seconds for the custom CNN on the demo, much longer for a backbone "
        "on full-size images), and records the threshold of best sensitivity + specificity "
        "on its card, as `train --operating-point youden` does.",
    )
    with st.expander("Advanced"):
        a = st.columns(4)
        patch = a[0].number_input(
            FIELD_LABELS["patch_size"],
            MIN_PATCH_SIZE,
            MAX_PATCH_SIZE,
            step=8,
            key="train_patch",
            persist_state="session",
        )
        pos = a[1].number_input(
            FIELD_LABELS["pos_per_image"],
            1,
            MAX_PER_IMAGE,
            value=DEFAULTS.pos_per_image,
            key="train_pos_per_image",
            persist_state="session",
        )
        neg = a[2].number_input(
            FIELD_LABELS["neg_per_image"],
            1,
            MAX_PER_IMAGE,
            value=DEFAULTS.neg_per_image,
            key="train_neg_per_image",
            persist_state="session",
        )
        patience = a[3].number_input(
            FIELD_LABELS["patience"],
            0,
            100,
            value=DEFAULTS.patience,
            key="train_patience",
            persist_state="session",
        )
        b = st.columns(4)
        max_steps = b[0].number_input(
            FIELD_LABELS["max_steps"],
            0,
            100_000,
            value=0,
            key="train_max_steps",
            persist_state="session",
        )
        two_stage = b[1].checkbox(
            "Two stages: head first",  # the whole sentence was cut in a quarter-width column
            key="train_two_stage",
            persist_state="session",
            help="Train the head alone first (Head epochs), then fine-tune with the freeze "
            "strategy chosen above.",
        )
        head_epochs = b[2].number_input(
            FIELD_LABELS["head_epochs"],
            1,
            MAX_EPOCHS,
            value=DEFAULTS.head_epochs,
            key="train_head_epochs",
            persist_state="session",
            disabled=not two_stage,
            help="Epochs of the first stage; they count towards Epochs.",
        )
        hard_negatives = b[3].number_input(
            FIELD_LABELS["hard_negatives"],
            0,
            MAX_PER_IMAGE,
            value=DEFAULTS.hard_negatives,
            key="train_hard_negatives",
            persist_state="session",
            disabled=task != "calcification" or st.session_state.get("train_input") == "temporal",
            help="Hard-negative mining, for the calcification task: after the first half of "
            "the epochs, the model is run over the training patients' images and the highest-"
            "scoring spots away from every annotated calcification (the pectoral muscle's edge, "
            "the image border: what a random tissue patch rarely shows) join the negatives; the "
            "second half trains on them. Fewer false positives on normal images; the split, "
            "validation and test patients are unchanged.",
        )
        model_id = st.text_input(
            FIELD_LABELS["model_id"],
            key="train_model_id",
            persist_state="session",
            placeholder=f"{arch}-{task}-…",
        ).strip()
    input_mode = st.radio(
        FIELD_LABELS["input"],
        INPUT_MODES,
        key="train_input",
        persist_state="session",
        horizontal=True,
        format_func=lambda m: INPUT_LABELS.get(m, m),
        help="Temporal: the model sees each recent patch with the subtraction of the prior "
        "exam registered to it (the published method's input); it trains and predicts on "
        "recent images of cases with both exams.",
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
        operating_point="youden" if operating else "none",
        augment=bool(augment),
        input=str(input_mode),
        hard_negatives=int(hard_negatives)
        if task == "calcification" and input_mode == "recent"
        else 0,
    )


def data_ok(config: TrainConfig) -> bool:
    """Whether the dataset suits the run (enough patients to split, what the task needs, a
    batch it can fill); else its error, with what to do, above the button. The launch's own
    check said it only once *Launch training* was clicked ("Not launched: ...")."""
    try:
        jobs.check_dataset(config)
    except McalcError as exc:
        st.error(error_text(exc), icon=":material/block:")
        return False
    return True


def launch_blocker(
    plan_ok: bool, weights_ok: bool, confirmed: bool, dataset_ok: bool = True
) -> str | None:
    """Why *Launch training* is disabled, in words, or ``None`` when it is not."""
    if not plan_ok:
        return "the freeze plan of section 1 cannot be made (its error says why)"
    if not weights_ok:
        return "the starting weights are not usable yet (see section 2)"
    if not dataset_ok:
        return "the dataset does not suit this run (its error, above, says what to do)"
    if not confirmed:
        return (
            "tick *Freeze the random layers anyway* in section 2, or choose the **Full** "
            "strategy or pre-trained weights"
        )
    return None


def launch(config: TrainConfig, settings: Settings) -> None:
    """Submit the job; the outcome is shown as a notice on the next run."""
    try:
        signed_in = signin.current_user()
        job = jobs.submit(config, settings, user=signed_in["name"] if signed_in else "")
    except McalcError as exc:
        train_jobs.notice("error", f"Not launched: {error_text(exc)}")
        return
    jobs.ensure_scheduler(settings)
    if job.extra.get("deduplicated"):
        train_jobs.notice(
            "info", f"This job was launched a moment ago (job `{job.id}`): not launched twice."
        )
    elif job.state == "queued":
        train_jobs.queued(job.id)  # said on every run until it starts
    else:
        train_jobs.notice("success", f"Job `{job.id}` started: model `{job.model_id}`.")


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

st.header("1 · What to train")
task, arch, freeze, boundary = what_ui()
plan_ok = plan_ui(arch, task, freeze, boundary)
st.header("2 · Starting weights")
weights, winfo, confirmed = weights_ui(arch, freeze)
st.header("3 · Hyperparameters")
config = hyper_ui(
    data_path, task, arch, freeze, boundary, weights, bool(winfo and winfo.pretrained)
)
blocker = launch_blocker(plan_ok, winfo is not None, confirmed, data_ok(config))
if st.button(
    "Launch training",
    key="train_launch",
    type="primary",
    icon=":material/rocket_launch:",
    disabled=blocker is not None,
):
    launch(config, settings)
if blocker:
    # The reason sits sections above the greyed-out button, often scrolled out of sight.
    st.caption(f"Launch is off: {blocker}.")
if train_jobs.NOTICE_KEY in st.session_state:
    kind, text = st.session_state.pop(train_jobs.NOTICE_KEY)
    getattr(st, kind)(text)
train_jobs.queued_notice(settings)

st.header("Live progress")
jobs.ensure_scheduler(settings)
has_active = any(j.active for j in jobs.list_jobs(settings))
st.fragment(train_jobs.live_section, run_every=train_jobs.REFRESH_S if has_active else None)(
    settings
)

st.header("Job history")
train_jobs.history_ui(settings)
st.header("Compare registered models")
train_jobs.compare_ui(settings)
