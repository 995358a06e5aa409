"""Batch inference on one machine: the table's rows, resumption, a corrupt image, the CLI.

Engines are compared in ``test_ray.py`` (one module starts Ray once); here the
in-process worker runs, checked against the Predict path (:func:`analyse_case`).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcalc.batch import (
    BatchSettings,
    filter_results,
    launched_set,
    read_progress,
    read_results,
    result_sets,
    run_batch,
)
from mcalc.batch.table import (
    case_scores,
    done_keys,
    empty_table,
    launch_counts,
    merge_rows,
    outcome_text,
    threshold_note,
    to_table,
    write_results,
)
from mcalc.cli import main
from mcalc.explain.scoring import DecisionThreshold, called, flat_map_note
from mcalc.explain.service import SlidingSettings
from tests.batch_fixtures import batch_data_fixture  # noqa: F401
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.procs_fixtures import launch_sleepers


@pytest.fixture(scope="module")
def first_run(spot_registry, batch_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch-run") / "out"
    summary = run_batch(
        "spot", batch_data, out, BatchSettings(maps=True), models_dir=spot_registry, workers=1
    )
    return summary, out


def test_rows_match_the_predict_path_and_a_corrupt_image_is_a_row(
    first_run, spot_registry, batch_data
) -> None:
    from mcalc.dataset import open_dataset
    from mcalc.explain.service import ImageInput, analyse_case
    from mcalc.models.detection import detection_clusters, find_detections
    from mcalc.models.inference import load_model

    summary, out = first_run
    assert (summary.total, summary.analysed, summary.failed, summary.resumed) == (4, 4, 1, 0)
    table = read_results(out)
    csv = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert list(table["image_key"]) == list(csv["image_key"])  # one table, two files
    assert len(table) == 4 and set(table["model_id"]) == {"spot"}
    broken = table.set_index("image_key").loc["broken/CC_recent"]
    assert broken["error_kind"] == "unreadable" and "broken_CC.dcm" in broken["error"]
    assert math.isnan(broken["score"])
    ok = table[table["error"] == ""].set_index("image_key")
    # The oracle: the call the Predict page and `predict --case` make, image by image.
    loaded = load_model("spot", spot_registry)
    index = open_dataset(batch_data)
    for key, row in ok.iterrows():
        case_id, rest = key.split("/")
        view, tp = rest.split("_")
        rec = index.case(case_id).image(view, tp)
        expected = analyse_case(loaded, [ImageInput.from_record(rec)]).images[0]
        assert row["score"] == pytest.approx(expected.score, abs=1e-12)
        assert row["n_regions"] == len(expected.regions)
        # Each region says whether the model calls it (spot decides at 0.5), as predict's.
        assert json.loads(row["top_regions"]) == [
            {**r.as_dict(), "called": r.score >= 0.5} for r in expected.regions
        ]
        assert row["warning"] == (flat_map_note(expected.pmap) or "")  # a flat map's
        assert row["predicted"] == (
            "calcification" if expected.score >= 0.5 else "not calcification"
        )
        dets = json.loads(row["detections"])
        assert len(dets) == row["n_detections"] and all(d["score"] >= 0.5 for d in dets)
        # The row's detections, told from the analysis's: those a search of the map with
        # the batch's settings finds (as rows were made before), to the letter.
        det = BatchSettings().detection
        searched = find_detections(
            expected.pmap.dense(),
            expected.spacing_mm,
            min_distance_mm=det.min_distance_mm,
            threshold=det.threshold,
            max_detections=det.max_detections,
            valid=expected.breast,
        )
        f = expected.pmap.factor
        assert row["detections"] == json.dumps(
            [
                {"row": round(d.row / f, 1), "col": round(d.col / f, 1),
                 "score": round(d.score, 6), "size_mm": d.size_mm, "called": d.score >= 0.5}
                for d in searched
            ]
        )  # fmt: skip
        assert row["n_clusters"] == len(detection_clusters(searched, expected.spacing_mm))
        maps = json.loads(row["maps"])
        proba = np.load(out / maps[0])
        assert proba.shape == expected.pmap.unit_shape
        np.testing.assert_array_equal(proba, expected.pmap.dense().astype(np.float32))
    # The hand-made spot detector finds the annotated calcifications of the recent exam.
    assert ok.loc["suspicious-1/CC_recent", "score"] > 0.9
    progress = json.loads((out / "progress.json").read_text())
    assert progress["state"] == "done" and progress["done"] == 4 and progress["failed"] == 1


def test_a_row_takes_the_analysis_detections_without_a_second_search(
    spot_registry, tiny_demo, monkeypatch
) -> None:
    """The analysis found its regions' detections (threshold 0.5, top 100): the row's
    (threshold 0.5, top 20) are told from them, with no search of the map."""
    import mcalc.models.detection as detection
    from mcalc.dataset import open_dataset
    from mcalc.explain.service import ImageInput, analyse_case
    from mcalc.models.inference import load_model

    rec = open_dataset(tiny_demo).case("suspicious-1").image("CC", "recent")
    im = analyse_case(load_model("spot", spot_registry), [ImageInput.from_record(rec)]).images[0]
    searches: list[object] = []
    real = detection.find_detections
    monkeypatch.setattr(
        detection, "find_detections", lambda *a, **k: searches.append(k) or real(*a, **k)
    )
    det = BatchSettings().detection
    assert im.detections(det) and searches == []
    assert im.detections(detection.DetectionSettings(threshold=0.3)) and len(searches) == 1


def test_rerun_skips_done_images_and_redoes_other_settings(
    first_run, spot_registry, batch_data, tmp_path
) -> None:
    import shutil

    _, first = first_run
    out = tmp_path / "out"
    shutil.copytree(first, out)
    before = read_results(out).set_index("image_key")
    again = run_batch(
        "spot", batch_data, out, BatchSettings(maps=True), models_dir=spot_registry, workers=1
    )
    assert (again.resumed, again.analysed, again.failed) == (3, 1, 1)  # only the failed retried
    after = read_results(out).set_index("image_key")
    assert len(after) == 4
    done = before["error"] == ""
    for col in ("finished_at", "worker", "seconds"):  # the done rows were not redone
        assert (after.loc[done, col] == before.loc[done, col]).all()
    other = BatchSettings(SlidingSettings(min_region_score=0.3), maps=False)
    third = run_batch("spot", batch_data, out, other, models_dir=spot_registry, workers=1)
    assert (third.resumed, third.analysed) == (0, 4)
    table = read_results(out)
    assert len(table) == 8 and table["settings_key"].nunique() == 2
    low = table[table["settings_key"] == other.key()].set_index("image_key")
    first = table[table["settings_key"] == BatchSettings(maps=True).key()].set_index("image_key")
    good = low["error"] == ""
    # The same map, so the same map score; more regions over the lower region threshold.
    assert (low.loc[good, "score"] == first.loc[good[good].index, "score"]).all()
    assert (low.loc[good, "n_regions"] >= first.loc[good[good].index, "n_regions"]).all()
    # Spot decides at 0.5 and finds nothing between 0.3 and 0.5: every region is called.
    assert (table["n_regions_called"] == table["n_regions"]).all()
    # The page shows one launch's rows at a time: the sets, newest first, with their labels.
    # (newest first: the runs may end within one second, so the order is tested below)
    sets = result_sets(table)
    assert sorted((s.settings_key, s.label, s.rows, s.failed) for s in sets) == sorted([
        # Its regions listed from 0.3, under spot's threshold (0.5): the label says so.
        (other.key(), "spot · no explanation · regions from 0.30", 4, 1),
        (BatchSettings(maps=True).key(), "spot · no explanation · maps", 4, 1),
    ])  # fmt: skip
    maps = launched_set(sets, None, True)
    assert maps is not None and maps.settings_key == BatchSettings(maps=True).key()
    (plain,) = [s for s in sets if s.key != maps.key]
    assert plain.key == f"{plain.model_key}|{other.key()}"
    # None made so: none (the label "the last launch's" went to the newest set).
    assert launched_set(sets, "gradcam", False) is None
    one = filter_results(table, result_set=maps)
    assert len(one) == 4 and set(one["settings_key"]) == {BatchSettings(maps=True).key()}
    assert len(filter_results(table, errors="only", result_set=plain)) == 1
    # What a launch does next: 3 skipped, the corrupt one tried again (the progress said 4
    # done, and the page "All 4 images are done"); nothing of another explanation.
    assert launch_counts(table, maps.model_key, None, True) == (3, 1)
    assert launch_counts(table, maps.model_key, "scorecam", True) == (0, 0)
    assert launch_counts(table, "spot@another-file", None, True) == (0, 0)
    # A launch from the page lists regions from the model's threshold (spot's 0.5): the set
    # listed from 0.3 (`--threshold 0.3`) is not what it resumes. The page said "All 4
    # images are done ... analyses none" over it, and its launch redid all 4.
    assert launch_counts(table, plain.model_key, None, False) == (3, 1)
    assert launch_counts(table, plain.model_key, None, False, regions_from=0.5) == (0, 0)
    assert launched_set(sets, None, False, regions_from=0.5) is None
    assert launched_set(sets, None, True, regions_from=0.5) == maps
    # Speeds by explanation: the relaunch that retried one image kept the speed of four.
    speeds = read_progress(out)["speeds"]
    assert list(speeds) == [""] and speeds[""]["analysed"] == 4


def test_table_helpers() -> None:
    rows = [
        {"image_key": "a/CC_prior", "case_id": "a", "score": 0.2, "model_id": "m",
         "model_key": "m@1", "settings_key": "s", "file_key": "fa", "order": 1},
        {"image_key": "a/CC_recent", "case_id": "a", "score": 0.9, "model_id": "m",
         "model_key": "m@1", "settings_key": "s", "file_key": "fb", "order": 0},
        {"image_key": "b/CC_recent", "case_id": "b", "model_id": "m", "model_key": "m@1",
         "settings_key": "s", "file_key": "fc", "order": 2, "error": "unreadable"},
    ]  # fmt: skip
    table = to_table(rows)
    assert table["score"].dtype == np.float64 and table["order"].dtype == np.int64
    assert math.isnan(table.loc[2, "score"]) and table.loc[0, "error"] == ""
    assert done_keys(table, "m@1", "s") == {"a/CC_prior": "fa", "a/CC_recent": "fb"}
    assert done_keys(table, "m@2", "s") == {}
    # A row decided at another threshold than the card's now is not done (redone), so
    # that a resumed run does not mix thresholds; rows without one are redone too.
    at = to_table([{**r, "threshold": t} for r, t in zip(rows, (0.5, 0.9215, 0.9215), strict=True)])
    assert done_keys(at, "m@1", "s", 0.9215) == {"a/CC_recent": "fb"}
    assert done_keys(at, "m@1", "s", 0.5) == {"a/CC_prior": "fa"}
    assert done_keys(table, "m@1", "s", 0.5) == {}
    # The page says so: which rows, at what, and the card's threshold now.
    now = DecisionThreshold(0.9215, "Youden's J")
    note = threshold_note(at, now)
    assert note is not None and note.startswith("1 of these 3 rows were decided at 0.50;")
    assert "the model now decides at 0.9215 (Youden's J)" in note
    assert threshold_note(at.iloc[1:], now) is None
    assert list(filter_results(table, min_score=0.5)["image_key"]) == ["a/CC_recent", "b/CC_recent"]
    assert list(filter_results(table, errors="only")["image_key"]) == ["b/CC_recent"]
    assert list(filter_results(table, min_score=0.1, errors="none")["score"]) == [0.2, 0.9]
    with pytest.raises(ValueError, match="errors must be"):
        filter_results(table, errors="some")
    with pytest.raises(ValueError, match="regions must be all, called or below"):
        filter_results(table, regions="some")
    cases = case_scores(table)
    assert cases.to_dict("records") == [
        {"model_id": "m", "case_id": "a", "case_score": 0.9, "images": 2}
    ]
    # Two sets of one model and the same options (other sliding settings, or another file
    # of the model): their labels say which is which.
    twin = to_table([{**r, "settings_key": "t", "finished_at": "2026-12-05"} for r in rows])
    sets = result_sets(pd.concat([table, twin], ignore_index=True))
    assert [s.settings_key for s in sets] == ["t", "s"]
    assert [s.label for s in sets] == [
        "m · no explanation · model m@1 · settings t",
        "m · no explanation · model m@1 · settings s",
    ]
    # Rows made before 5 December 2026 (their sliding settings name top_k): the label says
    # their map score is the old rule's, beside today's set of the same options.
    old = to_table([
        {**r, "settings_key": "o", "finished_at": "2026-12-04",
         "settings": json.dumps({"cam": None, "maps": False, "sliding": {"top_k": 3}})}
        for r in rows
    ])  # fmt: skip
    # Rows of the map score of today made before their regions were centred on the
    # detections (5 December 2026: no region_rule in their settings) say so too.
    grid = to_table([
        {**r, "settings_key": "g", "finished_at": "2026-12-05",
         "settings": json.dumps({"cam": None, "maps": False, "sliding": {}})}
        for r in rows
    ])  # fmt: skip
    labels = {s.label for s in result_sets(pd.concat([table, old, grid], ignore_index=True))}
    assert labels == {
        "m · no explanation",
        "m · no explanation · map score by the top-3 grid rule and regions by the grid rule "
        "(before 5 December 2026)",
        "m · no explanation · regions by the grid rule (before 5 December 2026)",
    }
    assert result_sets(empty_table()) == []
    # The failed row in words: its error kind, not "score nan".
    outcomes = [outcome_text(r.score, r.error_kind, r.error) for r in table.itertuples()]
    assert outcomes == ["score 0.200", "score 0.900", "failed: unreadable"]
    assert outcome_text(math.nan, "no-breast", "no breast tissue") == "failed: no-breast"
    redone = merge_rows(table, [{**rows[2], "score": 0.4, "error": ""}])
    assert len(redone) == 3 and redone.set_index("image_key").loc["b/CC_recent", "score"] == 0.4
    assert len(merge_rows(empty_table(), rows)) == 3


def test_cli_all_prints_json_and_refuses_a_case(
    spot_registry, batch_data, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("cli")  # relative, as typed: the summary's paths are absolute all the same
    args = ["predict", "--model", "spot", "--models", str(spot_registry), "--data",
            str(batch_data), "--out", str(out)]  # fmt: skip
    assert main([*args, "--all", "--case", "broken"]) == 2
    assert "leave out --image, --case" in capsys.readouterr().err
    assert main([*args, "--all", "--address", "127.0.0.1:1"]) == 2
    assert "add --engine ray" in capsys.readouterr().err
    # Options of the one-case command that --all has no use for were silently ignored.
    for extra in (["--no-cache"], ["--opacity", "0.3"], ["--cmap", "turbo"]):
        assert main([*args, "--all", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert f"--all does not take {extra[0]}" in err and "leave it out" in err, err
    assert not out.exists()
    # The run completed but one image failed: exit status 3 (0 until 6 December 2026, so a
    # script could not tell), the table written, --json unchanged, one line on stderr.
    # One worker: this process runs the model, importing TensorFlow quietly as the command
    # line asks (the command no longer imports it up front for --all).
    from mcalc.batch import engines

    asked: list[bool] = []
    monkeypatch.setattr(engines, "import_tensorflow_quietly_if_asked", lambda: asked.append(True))
    assert main([*args, "--all", "--workers", "1", "--json", "--stride", "32"]) == 3
    assert asked == [True]
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert report["total"] == 4 and report["failed"] == 1 and report["engine"] == "local"
    assert "1 of 4 images failed" in printed.err and "exit status 3" in printed.err
    assert Path(report["results"][0]).is_file() and (out / "results.csv").is_file()
    # `out` was absolute, `results` relative to the command's folder (until 7 December 2026).
    paths = [report["out"], *report["results"]]
    assert all(Path(p).is_absolute() for p in paths), paths
    assert report["out"] == str((tmp_path / "cli").resolve())
    settings = json.loads(read_results(out).loc[0, "settings"])
    assert settings["sliding"]["stride"] == 32 and settings["cam"] is None


def test_a_file_where_the_out_folder_goes_is_one_clear_line(
    spot_registry, batch_data, tmp_path, capsys
) -> None:
    """`predict --all --out FILE` said "cannot create the run folder FILE: [Errno 17] File
    exists: 'FILE'" (read as "already there"); it says what the other commands say."""
    blocker = tmp_path / "out"
    blocker.write_text("keep me")
    args = ["predict", "--model", "spot", "--models", str(spot_registry), "--data",
            str(batch_data), "--all", "--out", str(blocker)]  # fmt: skip
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {blocker} is a file where a folder is expected; move it or choose another path"
    ]
    assert blocker.read_text() == "keep me"


@pytest.mark.slow
def test_app_job_runs_in_a_child_process_cancels_and_refuses_a_second_launch(
    spot_registry, batch_data, tmp_path
) -> None:
    import time

    from mcalc.config import Settings
    from mcalc.errors import JobError
    from mcalc.jobs.batch import BatchOptions, cancel_batch, list_batch_jobs, submit_batch

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=spot_registry)
    first = submit_batch("spot", batch_data, BatchOptions(workers=1), settings)
    stopped = cancel_batch(first.name, settings)
    assert stopped.state == "cancelled" and "resume" in (stopped.error or "")
    job = submit_batch("spot", batch_data, BatchOptions(workers=1), settings, user="ana")
    assert job.active and job.folder.parent == tmp_path / "runs" / "batch"
    with pytest.raises(JobError, match="already runs on this dataset"):
        submit_batch("spot", batch_data, BatchOptions(workers=1), settings)
    deadline = time.monotonic() + 240
    while (job := list_batch_jobs(settings)[0]).active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job.state == "done", job.log_tail()
    assert job.user == "ana" and job.exit_code == 3  # done, the corrupt image failed
    assert job.progress()["done"] == 4 and len(job.results()) == 4
    with pytest.raises(JobError, match="not running"):
        cancel_batch(job.name, settings)


def test_a_launch_starts_at_zero_and_keeps_the_speeds_measured(
    spot_registry, batch_data, tmp_path, monkeypatch
) -> None:
    """Right after a launch the Runs table showed the previous launch's progress ("running
    | 8/8 | 1 failed | 0.51 images/s") until the child's first save."""
    import os
    import time

    from mcalc.batch.table import write_progress
    from mcalc.config import Settings
    from mcalc.dataset import open_dataset
    from mcalc.fileio import atomic_write_json
    from mcalc.jobs import procs
    from mcalc.jobs.batch import (
        BatchJob,
        BatchOptions,
        batch_root,
        list_batch_jobs,
        run_name,
        submit_batch,
    )

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=spot_registry)
    folder = batch_root(settings) / run_name("spot", batch_data)
    folder.mkdir(parents=True)
    old = BatchJob(folder.name, folder, "spot", str(batch_data), BatchOptions(), state="done")
    old.created = time.time() - 60
    atomic_write_json(folder / "job.json", old.to_json())
    # A progress.json of before speeds were kept by explanation: its speed is its launch's.
    write_progress(folder, {"done": 4, "total": 4, "failed": 1, "images_per_s": 0.51})
    me = os.getpid(), procs.start_ticks(os.getpid())  # alive: this test
    monkeypatch.setattr(procs, "launch", lambda *a, **k: me)
    submit_batch("spot", batch_data, BatchOptions(cam="scorecam"), settings)
    (job,) = list_batch_jobs(settings)
    assert job.active and job.options.cam == "scorecam"
    # The total is written at launch: the table said "0/?" until the child's first save.
    n = len(open_dataset(batch_data).images())
    row = job.summary_row()
    assert (row["done"], row["failed"], row["images/s"]) == (f"0/{n}", 0, None)
    assert job.progress_line() == (
        f"running · 0/{n} images · 0 failed · starting: loading TensorFlow and the model"
    )
    assert job.speeds() == {
        "": {"images_per_s": 0.51, "engine": "local", "workers": None, "analysed": 0}
    }


@pytest.mark.parametrize(
    ("state", "progress", "line"),
    [
        # Launched, the child still loading TensorFlow: it says so (it read "0/? images").
        (
            "running",
            {"state": "starting", "done": 0, "total": 48, "failed": 0, "analysed": 0},
            "running · 0/48 images · 0 failed · starting: loading TensorFlow and the model",
        ),
        (
            "running",
            {"done": 30, "total": 48, "failed": 1, "analysed": 30, "images_per_s": 2.5},
            "running · 30/48 images · 1 failed · 2.50 images/s",
        ),
        # A resumed launch: its images done before count, it has analysed none yet.
        (
            "running",
            {"done": 40, "total": 48, "failed": 0, "analysed": 0},
            "running · 40/48 images · 0 failed · starting: loading TensorFlow and the model",
        ),
        # Ended without analysing anything (all done before): no "starting".
        (
            "done",
            {"done": 48, "total": 48, "failed": 0, "analysed": 0},
            "done · 48/48 images · 0 failed",
        ),
        # A folder of before totals were written at launch: no "?".
        (
            "running",
            {},
            "running · 0 images · 0 failed · starting: loading TensorFlow and the model",
        ),
    ],
)
def test_the_progress_line_says_what_a_run_is_doing(tmp_path, state, progress, line) -> None:
    from mcalc.batch.table import write_progress
    from mcalc.jobs.batch import BatchJob, BatchOptions

    job = BatchJob("r", tmp_path, "spot", "data", BatchOptions(), state=state)
    if progress:
        write_progress(tmp_path, progress)
    assert job.progress_line() == line


def test_a_run_that_ended_with_failed_images_is_done(spot_registry, batch_data, tmp_path) -> None:
    """Exit status 3 (the run completed, some images failed) is a finished run, not a failed
    launch: its rows say which images failed."""
    from mcalc.batch import EXIT_SOME_FAILED
    from mcalc.config import Settings
    from mcalc.jobs.batch import BatchJob, BatchOptions, _finish, batch_root, list_batch_jobs

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=spot_registry)
    for name, code, state in [("a", EXIT_SOME_FAILED, "done"), ("b", 2, "failed")]:
        folder = batch_root(settings) / name
        folder.mkdir(parents=True)
        _finish(BatchJob(name, folder, "spot", str(batch_data), BatchOptions()), code)
        (job,) = [j for j in list_batch_jobs(settings) if j.name == name]
        assert (job.state, job.exit_code) == (state, code)
    assert job.error == "the batch process exited with status 2"


def _hang() -> None:
    import time

    time.sleep(120)


def test_more_workers_than_cores_is_said_on_both_engines(caplog, monkeypatch) -> None:
    """``--workers 4`` on a 2-core machine: the local pool and a local Ray instance (started
    with a CPU per actor, so its pool fits and Ray's own shortfall warning never came) both
    say that the workers share the cores, naming both counts. Until 6 December 2026 neither
    said a word. No process, no Ray instance is started here."""
    import logging

    ray = pytest.importorskip("ray")
    from mcalc.batch import engines
    from mcalc.batch.settings import WorkerSpec

    monkeypatch.setattr(engines, "default_workers", lambda: 2)
    pools: list[int] = []
    monkeypatch.setattr(
        engines, "_run_pool", lambda items, spec, n, threads, on_rows: pools.append(n) or ([], None)
    )
    spec = WorkerSpec("model", BatchSettings(), "out")
    caplog.set_level(logging.WARNING, logger="mcalc.batch.engines")
    engines.run_local([object()] * 3, spec, 4, lambda rows: None)  # type: ignore[list-item]
    assert pools == [3]
    assert "3 worker processes on the 2 cores of this machine" in caplog.text
    assert "pass --workers 2 or fewer" in caplog.text
    caplog.clear()
    engines.run_local([object()] * 3, spec, 2, lambda rows: None)  # type: ignore[list-item]
    assert caplog.text == ""

    started: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(engines, "init_ray", lambda **kw: started.append(kw))
    assert engines._connect(None, 4) is True
    assert started[-1]["num_cpus"] == 4  # the pool fits: it runs, sharing the cores
    assert "4 Ray actors on the 2 cores of this machine" in caplog.text
    caplog.clear()
    assert engines._connect(None, None) is True and started[-1]["num_cpus"] == 2
    assert engines._connect("head:6379", 4) is False  # a cluster's cores are not ours
    assert caplog.text == ""


def test_a_worker_that_does_not_exit_is_stopped_after_the_grace(caplog, monkeypatch) -> None:
    """A pool process that hangs on its way out (seen once in the suite on a loaded
    machine: the pool's own shutdown waited on it for ever) is terminated after the grace;
    one started before the run is left alone."""
    import multiprocessing
    import sys
    import time
    import types

    from mcalc.batch.engines import _stop_workers

    # A bare __main__, as the pool gives its processes: after an AppTest in this process,
    # __main__ is the app's script, which spawned children would run again.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = multiprocessing.get_context("spawn")
    before = ctx.Process(target=_hang, daemon=True)
    before.start()
    others = {p.pid for p in multiprocessing.active_children()}
    stuck = ctx.Process(target=_hang, daemon=True)
    stuck.start()
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="mcalc.batch.engines"):
        _stop_workers(others, grace_s=0.5)
    assert 0.5 <= time.monotonic() - t0 < 10
    assert not stuck.is_alive() and before.is_alive()
    assert f"batch worker process {stuck.pid} did not exit" in caplog.text
    before.terminate()
    before.join(5)


def _quick() -> None:
    pass


def test_a_worker_reaped_by_the_pool_is_not_called_stuck(caplog, monkeypatch) -> None:
    """The pool's own thread joins its processes too (``ProcessPoolExecutor`` shutdown):
    when it reaps one first, ``Process.join`` and ``is_alive`` in ``_stop_workers`` see no
    exit status (``waitpid`` fails with ECHILD) and took the process for stuck: the warning
    "did not exit 30 s after its work" came at once, in 3 of 7 CLI runs on 6 December, and
    a signal went to a pid already reaped. Here the test reaps it, as that thread does."""
    import multiprocessing
    import os
    import sys
    import time
    import types

    from mcalc.batch.engines import _stop_workers

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    others = {p.pid for p in multiprocessing.active_children()}
    done = multiprocessing.get_context("spawn").Process(target=_quick, daemon=True)
    done.start()
    os.waitpid(done.pid, 0)  # what the pool's thread does first
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="mcalc.batch.engines"):
        _stop_workers(others, grace_s=30.0)
    assert time.monotonic() - t0 < 5
    assert "did not exit" not in caplog.text


def test_a_dead_worker_gives_the_images_left_to_new_processes_once(monkeypatch, caplog) -> None:
    """When a worker process dies (a pool broken), the images not finished go to a new pool
    once; a second death is the run's error, the finished rows kept."""
    from concurrent.futures.process import BrokenProcessPool

    from mcalc.batch import engines
    from mcalc.batch.settings import BatchError, WorkerSpec

    items = ["a", "b", "c"]
    calls: list[list[str]] = []

    def once_broken(todo, spec, workers, threads, on_rows):
        calls.append(list(todo))
        if len(calls) == 1:
            on_rows([{"item": "a"}])
            return todo[1:], BrokenProcessPool("a worker died")
        on_rows([{"item": x} for x in todo])
        return [], None

    rows: list[dict] = []
    monkeypatch.setattr(engines, "_run_pool", once_broken)
    spec = WorkerSpec(model_path="m", settings=BatchSettings(), out_dir="o")
    with caplog.at_level("WARNING", logger="mcalc.batch.engines"):
        engines.run_local(items, spec, 2, rows.extend)  # type: ignore[arg-type]
    assert calls == [["a", "b", "c"], ["b", "c"]]
    assert [r["item"] for r in rows] == ["a", "b", "c"]
    assert "2 image(s) left, trying once more" in caplog.text

    calls.clear()
    monkeypatch.setattr(
        engines,
        "_run_pool",
        lambda todo, *a: (calls.append(list(todo)) or todo, BrokenProcessPool("x")),
    )
    with pytest.raises(BatchError, match="twice"):
        engines.run_local(items, spec, 2, rows.extend)  # type: ignore[arg-type]
    assert len(calls) == 2


def test_cli_all_without_model_runs_the_default_or_refuses(
    spot_registry, batch_data, tmp_path, capsys
) -> None:
    """``predict --all`` without --model: the default model, named on stderr; none set:
    exit 2 before any image is read, no results table."""
    import shutil

    from mcalc.models.registry import set_default_model

    models = tmp_path / "models"
    shutil.copytree(spot_registry, models)
    args = ["predict", "--all", "--models", str(models), "--data", str(batch_data),
            "--workers", "1", "--json", "--stride", "32"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "none")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == 2 and not (tmp_path / "none").exists()
    assert "no default model is set" in captured.err and "models default ID" in captured.err
    set_default_model(models, "spot", role="admin", user="ana")
    assert main([*args, "--out", str(tmp_path / "d")]) == 3  # the corrupt image failed
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["model_id"] == "spot" and report["total"] == 4
    assert "using the default model spot (set by ana on " in captured.err
    assert set(read_results(tmp_path / "d")["model_id"]) == {"spot"}


def test_a_change_of_the_detection_rule_redoes_finished_rows(monkeypatch) -> None:
    """A batch's rows hold their detections: rows found by an earlier rule (a plateau as a
    row of detections) are redone, not kept."""
    import mcalc.models.detection as detection

    before = BatchSettings().key()
    monkeypatch.setattr(detection, "RULE_VERSION", detection.RULE_VERSION + 1)
    assert BatchSettings().key() != before


def test_a_change_of_the_region_rule_redoes_finished_rows(monkeypatch) -> None:
    """A batch's rows hold their top regions: rows of grid-patch regions are redone, and
    their settings name the rule they were made with."""
    import mcalc.explain.scoring as scoring

    before = BatchSettings().key()
    assert BatchSettings().as_dict()["region_rule"] == scoring.REGION_RULE_VERSION
    monkeypatch.setattr(scoring, "REGION_RULE_VERSION", scoring.REGION_RULE_VERSION + 1)
    assert BatchSettings().key() != before


def test_ray_actor_plan_fits_a_local_instance_and_names_a_shortfall():
    from mcalc.batch.engines import plan_actors

    fits = plan_actors(2.0, 0.0, 2, 48)
    assert (fits.size, fits.num_cpus, fits.num_gpus, fits.shortfall) == (2, 1.0, None, None)
    assert plan_actors(8.0, 0.0, 2, 48).num_cpus == 4.0  # an even share of the CPUs
    assert plan_actors(2.0, 0.0, 4, 3).size == 3  # at most one actor per image
    assert plan_actors(16.0, 2.0, None, 48).num_gpus == 1.0
    short = plan_actors(2.0, 0.0, 4, 48).shortfall
    assert short is not None
    assert short.startswith("4 Ray actors need 4 CPU but the cluster has 2 CPU")
    assert "pass --workers 2 or fewer" in short
    shared = plan_actors(16.0, 1.0, 4, 48)  # four actors share one GPU
    assert (shared.num_gpus, shared.num_cpus, shared.shortfall) == (0.25, 1.0, None)
    # What each actor asks Ray for: a GPU share (Ray names the device), or no GPU and no
    # CUDA device (what Ray's override on zero GPUs gave; tests/test_ray.py checks it).
    assert shared.remote_args == {"num_cpus": 1.0, "num_gpus": 0.25}
    assert fits.remote_args == {
        "num_cpus": 1.0,
        "num_gpus": None,
        "runtime_env": {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}},
    }


def test_items_carry_the_manifest_spacing_and_old_rows_still_read(batch_data, tmp_path) -> None:
    """A manifest's ``spacing_mm`` (mini-MIAS: 0.2) reaches the worker's record, and rows
    done at another spacing are not taken as done."""
    from mcalc.batch.run import _file_key, collection_items
    from mcalc.batch.settings import BatchItem

    text = batch_data.read_text(encoding="utf-8").splitlines()
    given = tmp_path / "manifest.csv"
    given.write_text(
        "\n".join([text[0] + ",spacing_mm", *(line + ",0.2" for line in text[1:])]) + "\n",
        encoding="utf-8",
    )
    old, new = collection_items(batch_data)[0], collection_items(given)[0]
    assert (old.spacing_mm, new.spacing_mm) == ("", "0.2")
    back = BatchItem.from_row(new.as_row())
    assert back == new and back.image_input().record.pixel_spacing_mm == 0.2  # type: ignore[union-attr]
    row = old.as_row()
    del row["spacing_mm"]  # a row written before the column
    assert BatchItem.from_row(row).image_input().record.pixel_spacing_mm is None  # type: ignore[union-attr]
    assert _file_key(old) != _file_key(new) and _file_key(new).endswith("-0.2mm")  # type: ignore[union-attr]


@pytest.mark.parametrize("fits", [True, False])
def test_ray_data_warnings_that_do_not_apply_are_dropped_and_nothing_else(fits, caplog) -> None:
    """During a Ray run, Ray Data's advice to give its object store half the memory (seen on
    `predict --all --engine ray` over the demo: "only 42.9% of available memory (5.9GiB out
    of 13.8GiB total)"; a run's blocks are rows of about 2 kB) is dropped; its spurious
    low-resource line only for a pool that fits; every other record, errors included,
    passes, and nothing is dropped after the run."""
    import logging

    from mcalc.batch import engines

    ray_log = logging.getLogger("ray.data._internal.execution.resource_manager")
    store = (
        "⚠️  Ray's object store is configured to use only 42.9% of available memory (5.9GiB "
        "out of 13.8GiB total). For optimal Ray Data performance, we recommend ..."
    )
    low = "Cluster resources are not enough to run any task from ActorPoolMapOperator"
    plan = engines.plan_actors(2.0, 0.0, 2 if fits else 3, 48)
    # A handler on the logger itself: once Ray is imported (another test in this worker),
    # Ray's loggers stop propagating to the root, where caplog listens.
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append  # type: ignore[method-assign]
    ray_log.addHandler(handler)
    caplog.set_level(logging.WARNING)
    try:
        with engines._quiet_ray_data_warnings(plan):
            ray_log.warning(store)
            ray_log.warning(low)
            ray_log.warning("Some other warning")
            ray_log.error("Ray's object store is configured to use only ... and then it failed")
        ray_log.warning(store)  # the filter is gone after the run
    finally:
        ray_log.removeHandler(handler)
    said = [(r.levelname, r.getMessage()[:40]) for r in seen]
    assert said == [
        *([] if fits else [("WARNING", low[:40])]),
        ("WARNING", "Some other warning"),
        ("ERROR", "Ray's object store is configured to use "),
        ("WARNING", store[:40]),
    ]
    assert any("cluster has 2 CPU" in r.getMessage() for r in caplog.records) is not fits


def test_a_launch_whose_record_cannot_be_written_leaves_no_process_behind(
    spot_registry, batch_data, tmp_path, monkeypatch
) -> None:
    """On a full disk the launch was refused ("cannot write .../job.json: the disk is full;
    nothing was changed there") while the child it had already started ran on, a
    ``predict --all`` no page knew of (seen with MCALC_RUNS on a full 2 MB tmpfs)."""
    import errno
    import subprocess

    from mcalc.config import Settings
    from mcalc.errors import McalcError
    from mcalc.fileio import write_error
    from mcalc.jobs import batch as jobs_batch
    from mcalc.jobs import procs
    from mcalc.jobs.batch import BatchOptions, list_batch_jobs, submit_batch

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=spot_registry)
    started = launch_sleepers(monkeypatch)

    def full(job) -> None:
        path = job.folder / "job.json"
        raise write_error(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(jobs_batch, "_save", full)
    with pytest.raises(McalcError, match="disk is full") as err:
        submit_batch("spot", batch_data, BatchOptions(workers=1), settings)
    assert "stopped" in str(err.value), err.value
    (pid,) = started
    assert not procs.is_alive(pid, None) or subprocess.run(
        ["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True
    ).stdout.strip().startswith("Z")
    assert list_batch_jobs(settings) == []


def test_a_ray_run_with_default_workers_reports_its_actors(
    spot_registry, batch_data, tmp_path, monkeypatch
) -> None:
    """``--engine ray`` without ``--workers``: the summary (``--json``) and progress.json
    said ``"workers": 0``; they name the actor pool Ray's engine made (here a stand-in
    engine that analyses nothing and reports 3 actors; tests/test_ray.py runs the real one)."""
    from mcalc.batch import run as batch_run

    monkeypatch.setattr(batch_run, "run_ray", lambda todo, spec, workers, saver, address: 3)
    out = run_batch("spot", batch_data, tmp_path / "r", models_dir=spot_registry, engine="ray")
    assert out.workers == 3
    assert read_progress(tmp_path / "r")["workers"] == 3


def test_cancel_signals_the_run_before_its_group(tmp_path) -> None:
    """A batch run's cancel signals the run's process first and its group only after the
    grace: on ``--engine ray`` the group holds the local Ray instance (raylet, GCS, actors),
    and a SIGTERM to all of them at once killed Ray under the run, which could not save
    (6 December: progress.json left "running", Ray's "SIGTERM received" trace). Here a leader
    whose child, in its group, writes a file if it is signalled; the leader stops it itself."""
    import subprocess
    import sys

    from mcalc.jobs import procs

    hit = tmp_path / "child-signalled"
    child = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (open({str(hit)!r}, 'w').close(), "
        "sys.exit(0)))\n"
        "print('child ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    leader = (
        "import signal, subprocess, sys, time\n"
        f"c = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "def stop(*a):\n"
        "    c.kill(); c.wait(); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", leader], start_new_session=True, stdout=subprocess.PIPE
    )
    # Both say so (the child on the leader's stdout, which it inherits): the leader's handler
    # and the child's are in place. A half-second sleep stood for the child's before: on a
    # loaded machine its Python may not have started by then, and a SIGTERM that killed it
    # without its handler left no file, a pass that checked nothing.
    assert p.stdout is not None
    assert {p.stdout.readline().strip() for _ in range(2)} == {b"ready", b"child ready"}
    outcome = procs.stop_group(p.pid, procs.start_ticks(p.pid), grace=10.0, leader_first=True)
    p.wait(5)
    assert outcome == "terminated"
    assert not hit.exists()


def test_results_csv_writes_a_case_id_a_spreadsheet_would_run_as_text(tmp_path) -> None:
    """A collection's manifest is a spreadsheet; a case id '=...' in it became a formula
    in the Excel of whoever opened results.csv. The parquet keeps it as it is."""
    rows = [{"image_key": "=1+1/CC_recent", "case_id": "=1+1", "score": -0.25, "order": 0}]
    write_results(tmp_path, to_table(rows))
    text = (tmp_path / "results.csv").read_text()
    row = pd.read_csv(io.StringIO(text), keep_default_na=False).iloc[0]
    assert (row["image_key"], row["case_id"], row["score"]) == ("'=1+1/CC_recent", "'=1+1", -0.25)
    assert read_results(tmp_path)["image_key"].tolist() == ["=1+1/CC_recent"]


@pytest.mark.parametrize("stored_as", ["parquet", "csv"])
def test_a_decision_below_the_threshold_reads_in_the_class_words_old_rows_too(
    tmp_path, stored_as: str
) -> None:
    """Rows said "negative" below the threshold beside "calcification" above it; a run of
    before 7 December 2026 keeps its words on disk and reads as new rows do."""
    rows = [
        {"image_key": "a/CC_recent", "predicted": "negative", "positive_class": "calcification"},
        {
            "image_key": "b/CC_recent",
            "predicted": "calcification",
            "positive_class": "calcification",
        },
        {"image_key": "c/CC_recent", "predicted": "negative", "positive_class": "suspicious"},
        {"image_key": "d/CC_recent", "predicted": "", "positive_class": "", "error": "unreadable"},
    ]
    write_results(tmp_path, to_table(rows))
    if stored_as == "csv":
        (tmp_path / "results.parquet").unlink()
    assert list(read_results(tmp_path)["predicted"]) == [
        "not calcification",
        "calcification",
        "not suspicious",
        "",
    ]


#: A decision threshold as Youden's J sets one (demo-custom's): spot's regions of 0.5-0.92
#: are listed under a lowered --threshold, and not called.
OPERATING = 0.921513


@pytest.fixture(scope="module")
def operating_run(batch_data, tmp_path_factory):
    """``python -m mcalc predict --all --threshold 0.5`` of spot deciding at
    :data:`OPERATING` (its card's): ``(registry, out)``."""
    from tests.explain_fixtures import register, spot_model

    root = tmp_path_factory.mktemp("operating") / "models"
    card = register(root, "spot-op", spot_model()) / "card.json"
    data = json.loads(card.read_text(encoding="utf-8"))
    data["decision_threshold"] = {"value": OPERATING, "source": "Youden's J"}
    card.write_text(json.dumps(data), encoding="utf-8")
    out = root.parent / "out"
    args = ["predict", "--model", "spot-op", "--models", str(root), "--data", str(batch_data),
            "--out", str(out), "--all", "--workers", "1", "--json", "--threshold", "0.5"]  # fmt: skip
    assert main(args) == 3  # the corrupt image
    return root, out


def test_rows_say_which_regions_and_detections_the_model_calls(operating_run) -> None:
    """Under a lowered ``--threshold`` a row lists regions the model does not call: each
    region and detection says whether it is called at the row's threshold (as ``predict``'s
    scores.json does), and the row counts the called ones beside the listed ones."""
    table = read_results(operating_run[1])
    ok = table[table["error"] == ""]
    assert (table["threshold"] == OPERATING).all() and len(ok) == 3
    for row in ok.itertuples():
        regions, dets = json.loads(row.top_regions), json.loads(row.detections)
        assert [r["called"] for r in regions] == [r["score"] >= OPERATING for r in regions]
        assert [d["called"] for d in dets] == [called(d["score"], OPERATING) for d in dets]
        assert row.n_regions_called == sum(r["score"] >= OPERATING for r in regions)
        assert row.n_detections_called == sum(d["called"] for d in dets)
    # Some images list regions below the threshold (0.85, 0.81 ... on suspicious-1 recent).
    below = filter_results(table, regions="below")
    assert len(below) >= 1 and (below["n_regions_called"] < below["n_regions"]).all()
    assert set(filter_results(table, regions="called")["image_key"]) == set(
        ok.loc[ok["n_regions_called"] > 0, "image_key"]
    )
    # The CSV holds the same columns.
    csv = pd.read_csv(operating_run[1] / "results.csv", keep_default_na=False)
    assert list(csv["n_regions_called"]) == list(table["n_regions_called"])


@pytest.mark.parametrize("stored_as", ["parquet", "csv"])
def test_a_table_made_before_called_reads_it_and_resumes(
    operating_run, batch_data, tmp_path, capsys, stored_as: str
) -> None:
    """A table written before regions and detections said ``called`` (no flags in their
    JSON, no counts of called ones) reads with them, told from each one's score and the
    row's threshold; its done rows are still done (a rerun skips them)."""
    import shutil

    registry, made = operating_run
    out = tmp_path / "out"
    shutil.copytree(made, out)
    now = read_results(out)
    raw = pd.read_parquet(out / "results.parquet").drop(
        columns=["n_regions_called", "n_detections_called"]
    )
    for col in ("top_regions", "detections"):
        raw[col] = [
            json.dumps([{k: v for k, v in x.items() if k != "called"} for x in json.loads(t)])
            if t
            else t
            for t in raw[col]
        ]
    assert "called" not in raw.loc[0, "top_regions"]
    write_results(out, raw)
    if stored_as == "csv":
        (out / "results.parquet").unlink()
    old = read_results(out)
    pd.testing.assert_frame_equal(old, now)
    assert (old["n_regions_called"] < old["n_regions"]).any()  # flags of both kinds
    args = ["predict", "--model", "spot-op", "--models", str(registry), "--data", str(batch_data),
            "--out", str(out), "--all", "--workers", "1", "--json", "--threshold", "0.5"]  # fmt: skip
    assert main(args) == 3
    again = json.loads(capsys.readouterr().out)
    assert (again["resumed"], again["analysed"]) == (3, 1)  # only the corrupt image tried again


def test_rows_of_the_manifest_not_read_are_said_beside_the_run(
    spot_registry, batch_data, tmp_path, capsys
) -> None:
    """A manifest row that `scan` reports as skipped (a view 'AP', an image file not found)
    is no image of the run: `predict --all` said "over 4 image(s)", status 0, no word of the
    rows it never ran. Now stderr says how many and which (and `scan` lists them all), and
    `--json` gives them as `not_read`."""
    manifest = tmp_path / "manifest.csv"
    lines = batch_data.read_text(encoding="utf-8").splitlines()
    first = lines[1].split(",")
    lines += [",".join(["ap", "AP", *first[2:]]), f"gone,CC,recent,{tmp_path / 'gone.dcm'},"]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["predict", "--model", "spot", "--models", str(spot_registry), "--data",
            str(manifest), "--out", str(tmp_path / "out"), "--all", "--workers", "1",
            "--stride", "32"]  # fmt: skip
    assert main([*args, "--json"]) == 3  # the broken image of batch_data, as before
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert report["total"] == 4 and len(report["not_read"]) == 2, report
    # Problem records as scan's and manifest's (they were bare messages, path and line lost).
    ap, gone = report["not_read"]
    assert {*ap} == {*gone} == {"path", "line", "message", "severity"}
    assert "view 'AP' is not one of ['CC', 'MLO']; row skipped" in ap["message"]
    assert (ap["path"], ap["line"]) == (str(manifest), len(lines) - 1)
    assert "gone.dcm not found; row skipped" in gone["message"]
    assert gone["path"] == str(tmp_path / "gone.dcm")
    assert read_progress(tmp_path / "out")["not_read"] == report["not_read"]  # for the page
    warned = [line for line in printed.err.splitlines() if line.startswith("warning:")]
    assert warned == [
        f"warning: 2 rows or files of {manifest} were not read, so their images are in no "
        f"row of the table (`python -m mcalc scan {manifest}` lists why)"
    ], printed.err


def test_the_summary_line_counts_in_words_and_gives_no_speed_of_nothing(
    monkeypatch, tmp_path, capsys
) -> None:
    """A rerun with every image done said "0 analysed ... 48 already done; 0.00 images/s",
    and every summary "over 48 image(s)"."""
    import mcalc.batch as batch_module
    from mcalc.batch.run import BatchSummary

    def summary(analysed: int, total: int) -> BatchSummary:
        return BatchSummary(str(tmp_path), "m", "k", "s", "local", 1, total, total - analysed,
                            analysed, 0, 2.0, analysed / 2.0, ("r.parquet", "r.csv"))  # fmt: skip

    def returning(done: BatchSummary):  # type: ignore[no-untyped-def]
        return lambda *a, **k: done

    args = ["predict", "--model", "m", "--data", str(tmp_path), "--out", str(tmp_path), "--all"]
    for analysed, total, said in (
        (0, 48, "model m over 48 images with --engine local: nothing left to analyse, 48 already done"),
        (1, 1, "model m over 1 image with --engine local: 1 analysed (0 with an error), 0 already done; 0.50 images/s"),
    ):  # fmt: skip
        monkeypatch.setattr(batch_module, "run_batch", returning(summary(analysed, total)))
        assert main(args) == 0
        assert capsys.readouterr().out.splitlines()[0] == said
