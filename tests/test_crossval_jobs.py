"""Cross-validation runs in the background (mcalc/jobs/crossval.py) and the FROC pooled over
folds: one training job per fold, recorded and listed, pooled when every fold is done."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from mcalc import jobs
from mcalc.config import Settings
from mcalc.errors import JobError
from mcalc.explain.detection_eval import DetectionEvalSettings, DetectionEvaluation, pool_detections
from mcalc.jobs import crossval as cvjobs
from mcalc.models.froc import ImageTruth, calcification_counts, cluster_counts, froc
from mcalc.models.train_config import TrainConfig


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(runs_dir=tmp_path / "runs", models_dir=tmp_path / "models")


def _evaluation(images: list[tuple[list, list, list]], patient: str) -> DetectionEvaluation:
    counts, clusters = [], []
    for truth_pts, det_pts, det_scores in images:
        truth = ImageTruth.from_points(truth_pts, (1.0, 1.0))
        pts, s = np.asarray(det_pts, float).reshape(-1, 2), np.asarray(det_scores, float)
        counts.append(calcification_counts(pts, s, truth, tolerance_mm=2.0, patient=patient))
        clusters.append(cluster_counts(pts, s, truth, patient=patient))
    return DetectionEvaluation(froc(counts), froc(clusters), [], DetectionEvalSettings(),
                               counts=counts, cluster_counts=clusters)  # fmt: skip


def test_pooled_froc_is_the_froc_of_every_fold_image_together() -> None:
    # Fold 1: one calcification found at 0.9, a false positive at 0.6.
    a = _evaluation([([(10, 10)], [(10, 11), (50, 50)], [0.9, 0.6])], "p1")
    # Fold 2: two calcifications, one found at 0.7, a false positive at 0.8; an empty image.
    b = _evaluation([([(10, 10), (40, 40)], [(40, 41), (80, 80)], [0.7, 0.8]), ([], [], [])], "p2")
    pooled = pool_detections([a, b])
    # 3 images, 3 calcifications. Thresholds 0.9: 1 hit 0 FP; 0.8: 1 hit 1 FP; 0.7: 2 hits
    # 1 FP; 0.6: 2 hits 2 FP -> FP/image 0, 1/3, 1/3, 2/3.
    assert pooled.froc.points == [(0.0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3)]
    assert pooled.froc.n_images == 3 and pooled.froc.n_truth == 3 and pooled.froc.n_patients == 2
    assert pooled.froc.points == froc(a.counts + b.counts).points
    banded = pool_detections([a, b], n_boot=50, seed=1)
    assert banded.froc.n_boot == 50 and banded.settings.n_boot == 50
    with pytest.raises(ValueError, match="different settings"):
        other = DetectionEvaluation(a.froc, a.cluster_froc, [], DetectionEvalSettings(tolerance_mm=3.0),
                                    counts=a.counts, cluster_counts=a.cluster_counts)  # fmt: skip
        pool_detections([a, other])
    with pytest.raises(ValueError, match="without per-image counts"):
        pool_detections([DetectionEvaluation(a.froc, a.cluster_froc, [], DetectionEvalSettings())])


def test_a_run_is_recorded_with_one_job_per_fold(tiny_demo, settings, monkeypatch) -> None:
    submitted: list[TrainConfig] = []

    def fake_submit(config, settings, *, start=True, user=""):
        submitted.append(config)
        return jobs.Job(id=f"job{len(submitted)}", folder=settings.runs_dir, config=config,
                        model_id=str(config.model_id))  # fmt: skip

    monkeypatch.setattr(cvjobs, "submit", fake_submit)
    run = cvjobs.submit_crossval(TrainConfig(data=str(tiny_demo), model_id="cv1"), 3, settings,
                                 user="ana")  # fmt: skip
    assert [(c.folds, c.fold, c.model_id) for c in submitted] == [
        (3, 0, "cv1-fold1of3"), (3, 1, "cv1-fold2of3"), (3, 2, "cv1-fold3of3")
    ]  # fmt: skip
    every = [p for f in run.folds for p in f]
    assert len(every) == len(set(every)) == 6  # the tiny demo's patients, each once
    listed = cvjobs.list_runs(settings)
    assert [r.id for r in listed] == ["cv1"] and listed[0].job_ids == ["job1", "job2", "job3"]
    assert listed[0].user == "ana" and listed[0].folds == run.folds
    assert cvjobs.run_state(listed[0], settings) == "failed"  # the fake jobs have no folders
    with pytest.raises(JobError, match="exists already"):
        cvjobs.submit_crossval(TrainConfig(data=str(tiny_demo), model_id="cv1"), 3, settings)
    with pytest.raises(JobError, match="folds must be >= 2"):
        cvjobs.submit_crossval(TrainConfig(data=str(tiny_demo)), 1, settings)
    with pytest.raises(JobError, match="must be done"):
        cvjobs.pool_run(listed[0], settings)


@pytest.mark.slow
def test_tiny_crossval_runs_as_jobs_and_pools(tiny_demo, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    config = TrainConfig(data=str(tiny_demo), epochs=1, batch=8, max_steps=2, patch_size=32,
                         pos_per_image=4, neg_per_image=4, model_id="cvt")  # fmt: skip
    run = cvjobs.submit_crossval(config, 2, settings)
    assert cvjobs.run_state(run, settings) == "running"
    deadline = time.monotonic() + 300
    while cvjobs.run_state(run, settings) == "running" and time.monotonic() < deadline:
        jobs.reconcile(settings)
        time.sleep(0.5)
    states = [(j.state, j.error) for j in cvjobs.run_jobs(run, settings)]
    assert cvjobs.run_state(run, settings) == "ready", states
    pooled = cvjobs.pool_run(run, settings, n_boot=20)
    out = pooled.result
    assert out is not None and [f["model_id"] for f in out["folds"]] == [
        "cvt-fold1of2",
        "cvt-fold2of2",
    ]
    assert [f["patients"] for f in out["folds"]] == run.folds
    assert out["pooled"]["case"]["n"] == 6  # every case scored once, out of fold
    assert cvjobs.run_state(cvjobs.list_runs(settings)[0], settings) == "pooled"
    scores = cvjobs.pooled_scores(pooled)  # from the evaluation cache
    assert scores is not None and len(set(scores.case_ids)) == 6


def test_a_command_line_run_stopped_is_recorded_cancelled_with_its_finished_folds(
    settings,
) -> None:
    """``crossval`` stopped before its last fold (Ctrl+C, SIGTERM) said which folds it kept,
    as a warning, and left no record: the Evaluate page did not list it."""
    from mcalc.models.crossval import CrossvalPlan, CrossvalStopped

    config = TrainConfig(data="d", models_dir=str(settings.models_dir))
    plan = CrossvalPlan(config, 2, [("p1",), ("p2",)], "cv-stop", False)
    cvjobs.record_stopped(CrossvalStopped(plan, ["cv-stop-fold1of2"]), settings)
    (run,) = cvjobs.list_runs(settings)
    assert (run.id, run.source, run.k, run.folds) == ("cv-stop", "cli", 2, [["p1"], ["p2"]])
    assert run.finished == ["cv-stop-fold1of2"]
    assert run.model_ids == ["cv-stop-fold1of2", "cv-stop-fold2of2"]
    assert cvjobs.run_state(run, settings) == "cancelled"
    with pytest.raises(JobError, match="is cancelled"):
        cvjobs.pool_run(run, settings)


def test_an_app_run_that_chose_thresholds_pools_with_each_folds_from_its_card(
    settings, monkeypatch
) -> None:
    """The folds' training jobs choose their thresholds on their validation patients (the
    rule in the run's TrainConfig, as ``train --operating-point``) and record them on the
    cards; pooling says each fold's, as ``crossval --operating-point``'s result does, and
    which fold none could be chosen for (its job warned in its log)."""
    import mcalc.models.crossval as cv_module
    from mcalc.explain.scoring import DecisionThreshold
    from mcalc.models.crossval import CrossvalPlan, CrossvalResult, fold_threshold_lines

    at = {
        "cv-fold1of2": DecisionThreshold(0.7, "Youden's J on 4 validation images"),
        "cv-fold2of2": DecisionThreshold(0.5, "default, as the model card names none"),
    }
    monkeypatch.setattr(cv_module, "fold_threshold", lambda model, models_dir: at[str(model)])
    pooled: Any = None  # the scores are not read here
    monkeypatch.setattr(
        cv_module, "summarise_folds", lambda plan, *a, **k: CrossvalResult({"k": plan.k}, pooled)
    )
    monkeypatch.setattr(cvjobs, "run_state", lambda run, settings=None: "ready")
    # Fold 2's training job said why in its progress (`train`'s operating point, below): the
    # page says it (it read "its training job's log says why", a log the tab does not show).
    fold2 = settings.runs_dir / "cv-fold2of2"
    fold2.mkdir(parents=True)
    (fold2 / "progress.jsonl").write_text(
        '{"event": "threshold", "done": 1, "total": 2}\n'
        '{"event": "no_threshold", "message": "the validation images are of one class"}\n'
    )
    job = jobs.Job("j2", settings.runs_dir / "jobs" / "j2", TrainConfig(data="d"),
                   state="done", model_id="cv-fold2of2", run_dir=str(fold2))  # fmt: skip
    monkeypatch.setattr(cvjobs, "run_jobs", lambda run, settings=None: [job])
    chosen: list[dict[str, Any]] = [
        {"fold": 1, "value": 0.7, "source": "Youden's J on 4 validation images"},
        {"fold": 2, "value": None, "note": "none could be chosen on its validation "
         "patients (the validation images are of one class): it decides at 0.5"},
    ]  # fmt: skip
    for rule, expected in (("none", None), ("youden", chosen)):
        config = TrainConfig(data="d", operating_point=rule, models_dir=str(settings.models_dir))
        plan = CrossvalPlan(config, 2, [("p1",), ("p2",)], f"cv-{rule}", False)
        run = cvjobs.CrossvalRun(plan.prefix, settings.runs_dir / "crossval" / plan.prefix,
                                 config, 2, [["p1"], ["p2"]], list(at))  # fmt: skip
        run.folder.mkdir(parents=True)
        out = cvjobs.pool_run(run, settings, n_boot=0).result
        assert out is not None and out.get("operating_points") == expected
    # Pooled again (a command-line run's, whose result said why): the reason is kept.
    said = {"fold": 2, "value": None, "note": "one class only: it decides at 0.5"}
    run.result = {"operating_points": [chosen[0], said]}
    again = cvjobs.pool_run(run, settings, n_boot=0).result
    assert again is not None and again["operating_points"][1] == said
    assert fold_threshold_lines(chosen) == [
        "fold 1 decides at 0.70: Youden's J on 4 validation images",
        "fold 2 decides at 0.50: none could be chosen on its validation patients (the "
        "validation images are of one class): it decides at 0.5",
    ]
