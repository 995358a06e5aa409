"""A batch launch's duration, estimated before launch from the speed earlier runs measured."""

from __future__ import annotations

import json
from pathlib import Path

from mcalc.batch.table import PROGRESS_FILE
from mcalc.jobs.batch import BatchJob, BatchOptions
from mcalc.jobs.batch_estimate import estimate_run


def _job(tmp_path: Path, name: str, model: str, rate: float | None, cam: str | None = None):
    folder = tmp_path / name
    folder.mkdir()
    if rate is not None:
        progress = {"done": 10, "total": 48, "images_per_s": rate}
        (folder / PROGRESS_FILE).write_text(json.dumps(progress))
    return BatchJob(name, folder, model, "data/demo", BatchOptions(workers=2, cam=cam))


def test_a_slow_models_measured_speed_gives_a_plain_estimate(tmp_path):
    jobs = [_job(tmp_path, "r1", "vgg", 0.06)]
    est = estimate_run("vgg", 48, jobs)
    assert est is not None and round(est.seconds) == 800 and est.slow
    assert est.text() == (
        "About 13 min for 48 images at 0.06 images/s, the speed run `r1` of this model "
        "measured here (local engine, 2 workers, no explanation)."
    )


def test_the_likest_newest_run_is_used(tmp_path):
    jobs = [  # newest first, as list_batch_jobs gives them
        _job(tmp_path, "other-arch", "resnet", 9.0),
        _job(tmp_path, "same-arch", "vgg-b", 0.5),
        _job(tmp_path, "not-measured", "vgg", None),
        _job(tmp_path, "cam", "vgg", 0.02, cam="gradcam"),
        _job(tmp_path, "plain-new", "vgg", 0.07),
        _job(tmp_path, "plain-old", "vgg", 0.05),
    ]
    archs = {"vgg": "vgg16", "vgg-b": "vgg16", "resnet": "resnet50"}
    assert estimate_run("vgg", 48, jobs, architectures=archs).run == "plain-new"
    assert estimate_run("vgg", 48, jobs, cam="gradcam", architectures=archs).run == "cam"
    other = estimate_run("vgg-c", 10, jobs, architectures={**archs, "vgg-c": "vgg16"})
    assert other is not None and (other.run, other.same_model) == ("same-arch", False)
    assert "`vgg-b` (same architecture)" in other.text() and not other.slow
    assert estimate_run("vgg-c", 10, jobs) is None  # no architectures given: same model only
    assert estimate_run("new", 10, jobs, architectures={"new": "custom"}) is None


def test_images_done_with_these_settings_are_left_out(tmp_path):
    jobs = [_job(tmp_path, "r1", "vgg", 0.06)]
    est = estimate_run("vgg", 48, jobs, done=12)
    assert est is not None and est.left == 36 and round(est.seconds) == 600
    assert est.text().startswith(
        "About 10 min for the 36 images left of 48 (12 done are skipped) at 0.06 images/s"
    )
    none_left = estimate_run("vgg", 48, jobs, done=48)
    assert none_left is not None and none_left.seconds == 0 and not none_left.slow
    assert none_left.text() == (
        "All 48 images are done with these settings: a launch resumes and analyses none."
    )


def test_failed_images_are_left_to_do_not_done(tmp_path):
    """A run of 8 images with 1 unreadable: its progress counted 8 done, and the estimate
    said "All 8 images are done ... analyses none" while a relaunch redid the failed one."""
    jobs = [_job(tmp_path, "r1", "vgg", 0.06)]
    est = estimate_run("vgg", 8, jobs, done=7, failed=1)
    assert est is not None and est.left == 1 and round(est.seconds) == 17
    assert est.text().startswith(
        "About 17 s for the 1 image left of 8 (7 done are skipped; 1 failed and will be tried "
        "again) at 0.06 images/s"
    )


def _speeds(tmp_path: Path, name: str, model: str, speeds: dict, cam: str | None = None):
    folder = tmp_path / name
    folder.mkdir()
    progress = {"done": 8, "total": 8, "images_per_s": 0.5, "speeds": speeds}
    (folder / PROGRESS_FILE).write_text(json.dumps(progress))
    return BatchJob(name, folder, model, "data/demo", BatchOptions(cam=cam))


def _speed(rate: float) -> dict:
    return {"images_per_s": rate, "engine": "local", "workers": None, "analysed": 8}


def test_the_speed_of_the_same_explanation_is_used_and_another_is_said(tmp_path):
    """Score-CAM was estimated at the 0.51 images/s of a run without explanations (it ran at
    0.06-0.12), and after a Score-CAM launch its folder's old speed passed for Score-CAM's."""
    plain = _speeds(tmp_path, "plain", "vgg", {"": _speed(0.51)}, cam="scorecam")
    est = estimate_run("vgg", 48, [plain], cam="scorecam")
    assert est is not None and est.images_per_s == 0.51 and est.other_method
    assert est.text().endswith(
        "(local engine, default workers, no explanation): no run with Score-CAM explanations "
        "has measured its speed here yet, and an explanation can make a run several times "
        "slower."
    )
    both = _speeds(tmp_path, "both", "vgg", {"": _speed(0.51), "scorecam": _speed(0.08)})
    est = estimate_run("vgg", 48, [both], cam="scorecam")
    assert est is not None and (est.images_per_s, est.other_method) == (0.08, False)
    assert est.text() == (
        "About 10 min for 48 images at 0.08 images/s, the speed run `both` of this model "
        "measured here (local engine, default workers, Score-CAM explanations)."
    )
    # Another model of the architecture with Score-CAM beats this model without it.
    twin = _speeds(tmp_path, "twin", "vgg-b", {"scorecam": _speed(0.1)})
    archs = {"vgg": "vgg16", "vgg-b": "vgg16"}
    est = estimate_run("vgg", 48, [plain, twin], cam="scorecam", architectures=archs)
    assert est is not None and est.run == "twin"
    est = estimate_run("vgg", 48, [twin], architectures=archs)
    assert est is not None and est.other_method
    assert "no run without explanations has measured its speed here yet" in est.text()


def test_one_image_reads_in_the_singular():
    from mcalc.jobs.batch_estimate import RunEstimate

    one = RunEstimate(1, 0.5, "r1", "vgg", True, "local", None, None)
    assert "About 2 s for 1 image at" in one.text()
    done = RunEstimate(1, 0.5, "r1", "vgg", True, "local", None, None, done=1)
    assert done.text().startswith("The 1 image is done with these settings")
