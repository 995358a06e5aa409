"""Evaluate's cross-validation tab: start a patient-level k-fold cross-validation as
background jobs (one training job per fold), follow its folds, pool them when done, and
show every fold, mean ± sd and the pooled out-of-fold AUC and FROC. Runs of ``python -m
mcalc crossval`` are listed too."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from mcalc import jobs
from mcalc.access import allows
from mcalc.errors import McalcError
from mcalc.jobs.crossval import (
    CrossvalRun,
    list_runs,
    pool_run,
    pooled_scores,
    run_data_kind,
    run_jobs,
    run_state,
    submit_crossval,
)
from mcalc.models.analysis import analyse, papers_task_summary
from mcalc.models.architectures import ARCHITECTURES
from mcalc.models.crossval import fold_threshold_lines
from mcalc.models.freeze import STRATEGIES
from mcalc.models.plan import STRATEGY_LABEL, random_freeze_text
from mcalc.models.pooled_accuracy import stored_accuracy
from mcalc.models.published import other_task_note, prior_use, reproduction_rows
from mcalc.models.scores import EvalScores
from mcalc.models.tasks import TASKS, has_papers_task
from mcalc.models.train_config import TrainConfig
from mcalc.models.weights import resolve_weights
from mcalc.present.eval_figures import CurveEntry, roc_figure
from mcalc.present.froc_figures import froc_figure, summary_notes, summary_rows
from pages import common, signin, theme
from pages.evaluate_tabs.shared import BOOTSTRAP_CHOICES, PUBLISHED_IN_VIEW, fitted_table
from pages.wide_tables import split_table


def start_ui() -> None:
    """The form that starts a cross-validation of the current dataset."""
    # Enter in a field does not start anything (Streamlit submits a form on Enter by
    # default: each Enter while filling it in started a whole cross-validation).
    with st.form("evaluate_cv_form", border=True, enter_to_submit=False):
        c = st.columns(4)
        arch = c[0].selectbox(
            "Architecture", list(ARCHITECTURES), key="evaluate_cv_arch", persist_state="session"
        )
        task = c[1].selectbox("Task", list(TASKS), key="evaluate_cv_task", persist_state="session")
        freeze = c[2].selectbox(
            "Freeze",
            list(STRATEGIES),
            key="evaluate_cv_freeze",
            persist_state="session",
            format_func=STRATEGY_LABEL.__getitem__,  # as Train names them
        )
        folds = c[3].number_input(
            "Folds", 0, 50, 5, 1, key="evaluate_cv_folds", persist_state="session",
            help="Patients are dealt into this many folds, stratified by BI-RADS group; "
            "0: leave-one-patient-out (one fold per patient).",
        )  # fmt: skip
        c = st.columns(4)
        epochs = c[0].number_input(
            "Epochs per fold", 1, 500, 10, 1, key="evaluate_cv_epochs", persist_state="session"
        )
        max_steps = c[1].number_input(
            "Batches per epoch (0: all)",
            0,
            100000,
            0,
            1,
            key="evaluate_cv_steps",
            persist_state="session",
        )
        seed = c[2].number_input(
            "Seed", 0, 2**31 - 1, 0, 1, key="evaluate_cv_seed", persist_state="session"
        )
        prefix = c[3].text_input("Run id (optional)", key="evaluate_cv_id", persist_state="session")
        # As on Train: freezing layers that have no pre-trained weights keeps them random;
        # the folds started at once without a word (a user check, 6 December).
        operating = st.toggle(
            "When trained, choose its decision threshold on the validation patients (Youden's J)",
            key="evaluate_cv_operating_point",
            persist_state="session",
            help="As on Train, for each fold's model. Off, every fold decides at 0.5 (so does "
            "the accuracy set beside the published results). On, each fold's job then runs its "
            "model over every validation image of its fold, as Predict does (seconds a fold "
            "for the custom CNN on the demo, much longer for a backbone on full-size "
            "images), and records the threshold of best sensitivity + specificity on its "
            "card, as `crossval --operating-point youden` does.",
        )
        random_ok = st.checkbox(
            "Freeze random layers anyway (when the architecture has no pre-trained weights "
            "here and the strategy is not Full)",
            key="evaluate_cv_random_ok",
        )
        submitted = st.form_submit_button("Start cross-validation", type="primary")
    if not submitted:
        return
    if freeze != "full" and not random_ok:
        try:
            pretrained = resolve_weights(str(arch)).pretrained
        except McalcError:
            pretrained = False
        if not pretrained:
            st.warning(
                f"{random_freeze_text(str(freeze), str(arch))} Nothing was started: choose "
                "**Full**, or tick *Freeze random layers anyway*.",
                icon=":material/warning:",
            )
            return
    config = TrainConfig(
        data=common.current_data_path(),
        arch=str(arch),
        task=str(task),
        freeze=str(freeze),
        epochs=int(epochs),
        seed=int(seed),
        max_steps=int(max_steps) or None,
        model_id=prefix.strip() or None,
        operating_point="youden" if operating else "none",
    )
    user = signin.current_user()
    try:
        run = submit_crossval(
            config, int(folds), common.settings(), user=user["name"] if user else ""
        )
    except McalcError as exc:
        st.error(f"The cross-validation cannot start: {exc}", icon=":material/error:")
        return
    jobs.ensure_scheduler(common.settings())
    st.session_state["evaluate_cv_run"] = run.id  # the run just started is the one followed
    st.success(f"Started **{run.id}**: {run.k} training jobs queued (the Train page lists them).")


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC") if t else ""


#: The runs' table's columns in view (from and started under it; an automatic run id names
#: its time); a long run id wraps (pages.wide_tables).
RUNS_IN_VIEW = ("run", "folds", "model", "state")


def runs_ui(runs: list[CrossvalRun]) -> CrossvalRun | None:
    """The runs as a table; returns the one chosen."""
    settings = common.settings()
    rows = [
        {
            "run": r.id,
            "folds": "leave-one-patient-out" if r.leave_one_patient_out else r.k,
            "model": f"{r.config.arch} / {r.config.task} / {r.config.freeze}",
            "state": run_state(r, settings),
            "from": "app" if r.source == "app" else "command line",
            "started": _when(r.created),
        }
        for r in runs
    ]
    # Where and when under it: 766 px in a projector's 690 with a 38-character run id.
    split_table(pd.DataFrame(rows), RUNS_IN_VIEW, key="evaluate_cv_runs", more="More columns")
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox("Run", list(by_id), key="evaluate_cv_run", persist_state="session")
    return by_id.get(str(chosen))


def folds_ui(run: CrossvalRun) -> None:
    """The fold jobs' states and progress."""
    for i, job in enumerate(run_jobs(run, common.settings())):
        text = f"fold {i + 1}: {job.model_id} · {job.state}"
        if job.state == "running":
            prog = jobs.progress(job)
            st.progress(prog.fraction, text=f"{text} · {prog.summary()}")
        elif job.state == "failed":
            st.error(f"{text}: {job.error}", icon=":material/error:")
        else:
            st.caption(text)


def pool_ui(run: CrossvalRun) -> None:
    """The button that scores every fold's model and pools them."""
    c1, c2 = st.columns(2)
    detection = c1.toggle(
        "With detection (FROC per fold and pooled)", key="evaluate_cv_detection", persist_state="session",
        help="Slides every fold's model over its test images: slower.",
    )  # fmt: skip
    n_boot = c2.selectbox(
        "Bootstrap resamples", BOOTSTRAP_CHOICES, index=BOOTSTRAP_CHOICES.index(500),
        key="evaluate_cv_bootstrap", persist_state="session",
    )  # fmt: skip
    if not st.button("Pool the folds", key="evaluate_cv_pool", type="primary"):
        return
    bar = st.progress(0.0, text="Scoring each fold's model on its own test patients…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=message)

    try:
        pool_run(
            run, common.settings(), n_boot=int(n_boot), detection=bool(detection),
            progress=progress,
        )  # fmt: skip
    except McalcError as exc:
        st.error(f"The folds cannot be pooled: {exc}", icon=":material/error:")
        bar.empty()
        return
    # Drawn again from the start: the runs table above still said "ready" beside the
    # pooled result.
    st.rerun()


def result_ui(run: CrossvalRun) -> None:
    """Every fold, mean ± sd over folds and the pooled out-of-fold results."""
    out = run.result or {}
    levels = list(out["mean_sd"])
    rows = [
        {"fold": f["fold"], "model": f["model_id"], "patients": len(f["patients"])}
        | {f"{lv} AUC": f["auc"][lv] for lv in levels}
        for f in out["folds"]
    ]
    common.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        key="evaluate_cv_folds_table",
        column_config={  # three decimals, as the summary: not 0.746 beside 0.7497, nor "1"
            f"{lv} AUC": st.column_config.NumberColumn(format="%.3f") for lv in levels
        },
    )
    summary = [
        {
            "level": lv,
            "AUC": out["mean_sd"][lv]["mean"],
            "sd": out["mean_sd"][lv]["sd"],
            "folds": out["mean_sd"][lv]["n"],
            "pooled AUC": out["pooled"][lv]["auc"],
            "pooled 95% CI": out["pooled"][lv]["auc_ci_text"] or "n/a",
            "pooled n": out["pooled"][lv]["n"],
        }
        for lv in levels
    ]
    st.caption(
        "AUC: mean ± sd over the folds; pooled: every fold's out-of-fold scores together, "
        "interval by a bootstrap over patients."
    )
    fitted_table(pd.DataFrame(summary), key="evaluate_cv_summary")
    if out.get("operating_points"):  # each fold's, chosen on its validation patients
        st.caption("\n\n".join(fold_threshold_lines(out["operating_points"])))
    scores = pooled_scores(run)
    if scores is not None:
        entries = [
            CurveEntry(f"{run.id} pooled", analyse(scores, lv, n_boot=0), 0.5, None)
            for lv in ("case",)
        ]
        st.plotly_chart(
            theme.styled(roc_figure(entries, title="ROC · pooled out-of-fold, case level")),
            width="stretch",
            key="evaluate_cv_roc",
        )
    if "detection_pooled" in out:
        det = {f"{run.id} pooled": out["detection_pooled"]}
        st.plotly_chart(
            theme.styled(froc_figure(det, title="FROC · pooled over the folds")),
            width="stretch",
            key="evaluate_cv_froc",
        )
        fitted_table(pd.DataFrame(summary_rows(det)), key="evaluate_cv_froc_table")
        for note in summary_notes(det):
            st.caption(note)
    published_ui(run, scores)


def published_ui(run: CrossvalRun, scores: EvalScores | None) -> None:
    """The published results beside the pooled case-level AUC on the papers' task (a
    birads model's run), or why a run of another task is not set beside them."""
    out = run.result or {}
    papers = out.get("papers_task")
    if papers is None and scores is not None:  # a run pooled before the papers' task was kept
        papers = papers_task_summary(scores, n_boot=0)
    task = TASKS.get(run.config.task)
    if papers is None and task is not None and has_papers_task(task.classes):
        st.info(
            "This run was pooled before the papers' task (benign vs suspicious, normal cases "
            "left out) was kept with it, and its fold scores are not cached: press **Pool the "
            "folds** to set it beside the published results.",
            icon=":material/menu_book:",
        )
        return
    if papers is None:
        st.info(other_task_note(run.config.task), icon=":material/menu_book:")
        return
    protocol = (
        "leave-one-patient-out" if run.leave_one_patient_out else f"{run.k}-fold cross-validation"
    )
    # The run's own data, not the sidebar's: a run on the demo read "real data" beside the
    # papers' numbers while a real dataset was open.
    kind = run_data_kind(run)
    st.caption(
        f"Published results beside this run's pooled case-level AUC on the papers' task, "
        f"{papers['text']}: {papers['n']} cases, {papers['positives']} suspicious"
        + (f", 95% CI {papers['auc_ci_text']}" if papers.get("auc_ci_text") else "")
        + "."
    )
    # Pooled before 7 December 2026: no accuracy (Loizidou 2020 gives accuracies only);
    # before its 23:01 UTC, one at each fold card's threshold (other units): recomputed from
    # the cached scores, else left out and said.
    stored = stored_accuracy(papers, scores)
    if stored.note is not None and stored.accuracy is not None:
        st.caption(stored.note)
    elif stored.note is not None:
        st.warning(stored.note, icon=":material/straighten:")
    accuracy = stored.accuracy
    at = f"; accuracy at {stored.at}" if accuracy is not None else ""
    fitted_table(
        pd.DataFrame(
            reproduction_rows(
                {
                    "auc": papers["auc"],
                    "accuracy": accuracy,
                    "n": papers["n"],
                    "patients": papers["patients"],
                },
                synthetic=None if kind is None else kind[0],
                source="real-layout" if kind is None else kind[1],
                what=f"benign vs suspicious, per case (normal cases left out; max over images{at})",
                protocol=protocol,
                prior=prior_use(
                    run.config.input == "temporal",
                    () if scores is None else scores.image_keys.tolist(),
                ),
            )
        ),
        key="evaluate_cv_published",
        in_view=PUBLISHED_IN_VIEW,
        more="What differs",
    )


def crossval_ui() -> None:
    """The cross-validation tab."""
    st.caption(
        "Patient-level k-fold cross-validation: one model per fold, each tested on patients "
        "it never saw, the out-of-fold scores pooled. Same as `python -m mcalc crossval`."
    )
    if allows(signin.current_role(), "train"):
        with st.expander("Start a cross-validation of this dataset", expanded=False):
            start_ui()
    try:
        runs = list_runs(common.settings())
    except McalcError as exc:
        st.error(f"The runs cannot be read: {exc}")
        return
    if not runs:
        st.info("No cross-validation yet: start one above, or run `python -m mcalc crossval`.")
        return
    run = runs_ui(runs)
    if run is None:
        return
    state = run_state(run, common.settings())
    running = state == "running"
    # While its folds train, the run's part of the tab follows them by itself (as the Train
    # page's live section does): it said "press R to refresh" and stayed "queued" meanwhile.
    st.fragment(run_ui, run_every=REFRESH_S if running else None)(run, state, running)


#: Seconds between two looks at a run's folds while they train (the Train page's live
#: section's cadence, ``pages.train_jobs.REFRESH_S``).
REFRESH_S = 1.5


def run_ui(run: CrossvalRun, state: str, following: bool) -> None:
    """The run's folds, its state (``state``), pooling and results; ``following``: drawn
    every :data:`REFRESH_S` while its folds train (each such rerun of this part alone reads
    the run and its state afresh), the whole page drawn again once they no longer train
    (the runs table, pooling)."""
    settings = common.settings()
    if following:  # its folds training: the run as it is now (this part reruns alone)
        fresh = next((r for r in list_runs(settings) if r.id == run.id), None)
        if fresh is None:
            st.warning(f"The run {run.id} is gone from {settings.runs_dir}.")
            return
        run, state = fresh, run_state(fresh, settings)
    if following and state != "running":
        st.rerun(scope="app")
    if run.source == "app":
        folds_ui(run)
    if state == "running":
        st.info("Folds are training; this tab follows them as they finish.")
    elif state == "cancelled":
        done = ", ".join(f"`{m}`" for m in run.finished or []) or "none"
        st.warning(
            f"Cancelled (stopped before its last fold): {len(run.finished or [])} of {run.k} "
            f"folds finished ({done}), each a whole model of its fold; no pooled result.",
            icon=":material/cancel:",
        )
    elif state == "failed":
        st.warning("A fold failed or was cancelled: this run cannot be pooled.")
    else:  # ready, or pooled (again, e.g. with detection)
        pool_ui(run)
    if run.result is not None or state == "pooled":
        run = next((r for r in list_runs(settings) if r.id == run.id), run)
        if run.result is not None:
            result_ui(run)
