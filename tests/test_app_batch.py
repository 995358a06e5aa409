"""AppTest: the Batch page lists a run, filters its table and opens a row in Predict.

The run is made in this process (:func:`run_batch`, one worker); launching a child
process from the page is covered by ``test_batch.py``'s job test.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from mcalc.batch import read_progress, run_batch
from mcalc.batch import worker as batch_worker
from mcalc.config import get_settings
from mcalc.fileio import atomic_write_json
from mcalc.jobs.batch import BatchJob, BatchOptions, batch_root, run_name
from pages.state import SELECTED_MODEL_KEY
from tests.app_pages import choices_after_another_page, shown
from tests.batch_fixtures import batch_data_fixture  # noqa: F401
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytestmark = pytest.mark.slow  # Predict loads TensorFlow and the model

APP = "../app.py"  # AppTest resolves relative paths against this file


def _results(at: AppTest):
    return next(shown(d) for d in at.dataframe if "image_key" in d.value.columns)


def _done_run(registry, data, options: BatchOptions, *launches, model: str = "spot") -> str:
    """A finished batch run of ``model`` over ``data`` (one launch per settings given, the
    default settings when none), recorded as the app records it; returns its name."""
    from mcalc.batch import BatchSettings

    name = run_name(model, data)
    folder = batch_root(get_settings()) / name
    for settings in launches or (BatchSettings(),):
        run_batch(model, data, folder, settings, models_dir=registry, workers=1)
    job = BatchJob(name, folder, model, str(data), options, state="done")
    job.created = time.time()
    atomic_write_json(folder / "job.json", job.to_json())
    return name


def _batch_page(monkeypatch, data) -> AppTest:
    """The Batch page, with ``data`` as the dataset in use (its picker offers the runs of
    that dataset only)."""
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")  # a real dataset asks for a sign-in
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/batch.py")
    at.run()
    return at


def test_batch_page_filters_the_table_and_opens_a_row_in_predict(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    name = _done_run(spot_registry, batch_data, BatchOptions())
    at = _batch_page(monkeypatch, batch_data)
    assert not at.exception, [e.value for e in at.exception]
    # The model picker and its *Make default* button take the page's width: in a column
    # three fifths wide (335 px on a projector's 1280 px at 125 %) an id as crossval makes
    # them read "cv-custom-calcification-20261207-221530-fold1of", its fold cut (h/ids).
    in_columns = {w.key for c in at.columns for w in [*c.selectbox, *c.button, *c.radio]}
    assert "batch_engine" in in_columns and "batch_cam" in in_columns  # the rest in rows
    assert at.button(key="batch_make_default").label == "Make rand-birads the default model"
    assert {"batch_model", "batch_make_default"}.isdisjoint(in_columns), in_columns
    # Before launch: the time it will take, at the speed the finished run measured (the
    # page opens on rand-birads, which has no run: the run of spot, also a custom CNN).
    rate = read_progress(batch_root(get_settings()) / name)["images_per_s"]
    (estimate,) = [c for c in [*at.caption, *at.warning] if "images/s, the speed" in c.value]
    assert estimate.value.endswith(
        f"images at {rate:.2g} images/s, the speed run `{name}` of `spot` (same architecture) "
        "measured here (local engine, 1 worker, no explanation)."
    )
    table = _results(at)
    scores = table["score"].iloc[:-1].astype(float)  # the unreadable image's, last: "n/a"
    assert len(table) == 4 and scores.iloc[0] == scores.max()  # by score
    assert table["score"].iloc[-1] == "n/a"  # not a grey "None"
    assert table["error"].iloc[-1] != ""  # the corrupt image, last
    # Seconds to two decimals (they showed four), scores to three.
    grid = next(d for d in at.dataframe if "image_key" in d.value.columns)
    cols = json.loads(grid.proto.columns)
    formats = {k: v.get("type_config", {}).get("format") for k, v in cols.items()}
    assert formats["seconds"] == "%.2f" and formats["score"] == "%.3f"
    # n_detections is capped: the caption says so (20 everywhere read as a finding).
    assert any("at most 20 an image" in c.value for c in at.caption)
    at.radio(key="batch_errors").set_value("only").run()
    assert list(_results(at)["image_key"]) == ["broken/CC_recent"]
    # Each image in words beside its key: case, side, view, round (the run is over a
    # manifest without sides: "?"; nor years, and the dataset in use is another).
    assert list(_results(at)["image"]) == ["broken · ? CC recent"]
    # The failed image reads its error kind, not "score nan".
    assert at.selectbox(key="batch_open_row").options[0] == (
        "broken · ? CC recent · spot · failed: unreadable"
    )
    at.radio(key="batch_errors").set_value("none").run()
    # The image chosen to open, then filtered out of the table (as when a running batch's
    # rows arrive and are sorted again): the widget's label of a row no longer there came
    # back as a string, and the page raised a TypeError comparing it with a number.
    low = _results(at).sort_values("score")
    at.selectbox(key="batch_open_row").set_value(low["image_key"].iloc[0]).run()
    at.slider(key="batch_score").set_value((float(low["score"].iloc[0]) + 1e-3, 1.0)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="batch_open_row").value == _results(at)["image_key"].iloc[0]
    at.slider(key="batch_score").set_value((0.9, 1.0)).run()
    # The filters, and the launch's settings, are kept across pages.
    choices = [
        ("selectbox", "batch_model", "spot"),
        ("number_input", "batch_workers", 2),
        ("selectbox", "batch_cam", "gradcam"),
        ("toggle", "batch_maps", True),
    ]
    kept = choices_after_another_page(at, "pages/batch.py", choices)
    assert kept == {key: value for _, key, value in choices}
    # spot with gradcam: spot's own run is the likest; it explained nothing: a warning says
    # so (Score-CAM was estimated at a plain run's speed, without a word).
    (estimate,) = [w for w in at.warning if "images/s, the speed" in w.value]
    assert f"the speed run `{name}` of this model measured here" in estimate.value
    assert estimate.value.endswith(
        "(local engine, 1 worker, no explanation): no run with Grad-CAM explanations "
        "has measured its speed here yet, and an explanation can make a run several times "
        "slower."
    )
    assert at.radio(key="batch_errors").value == "none"
    assert at.slider(key="batch_score").value == (0.9, 1.0)
    shown = _results(at)
    assert len(shown) >= 1 and (shown["score"] >= 0.9).all()
    assert at.selectbox(key="batch_open_row").value == shown["image_key"].iloc[0]
    at.selectbox(key="batch_open_row").set_value("suspicious-1/CC_recent").run()
    at.button(key="batch_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["predict_case"] == "suspicious-1"
    assert at.session_state["predict_view"] == "CC"
    assert at.session_state["predict_timepoint"] == "recent"
    assert at.session_state[SELECTED_MODEL_KEY] == "spot"
    assert at.session_state["predict_model"] == "spot"


def test_batch_page_shows_one_launchs_rows_of_a_folder_that_keeps_several(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    from mcalc.batch import BatchSettings
    from mcalc.explain.service import SlidingSettings

    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    later = BatchSettings(
        SlidingSettings(min_region_score=0.3)
    )  # other settings: the same images again
    # The last launch asked for maps: its rows are the set shown first, not the newest.
    name = _done_run(
        spot_registry, batch_data, BatchOptions(maps=True), BatchSettings(maps=True), later
    )
    at = _batch_page(monkeypatch, batch_data)
    at.selectbox(key="batch_model").set_value("spot").run()
    assert not at.exception, [e.value for e in at.exception]
    # A new session's launch choices are this run folder's last launch's (maps): they were
    # the defaults, and Launch then began another set over every image instead of resuming.
    assert at.toggle(key="batch_maps").value is True
    assert at.selectbox(key="batch_cam").value == "none"
    pick = at.selectbox(key=f"batch_set:{name}")
    label = pick.options[pick.index]  # (both runs may end within one second: any order)
    assert len(pick.options) == 2 and "maps" in label and "the last launch's" in label
    assert not any(" rows" in o for o in pick.options)  # a count goes stale while it runs
    assert len(_results(at)) == 4  # one row per image, not one per image and launch
    assert any(c.value.startswith("4 of 4 rows") for c in at.caption)
    pick.select_index(1 - pick.index).run()
    assert not at.exception, [e.value for e in at.exception]
    pick = at.selectbox(key=f"batch_set:{name}")
    assert "maps" not in pick.options[pick.index]
    assert len(_results(at)) == 4


def test_the_table_says_which_regions_the_model_calls_and_filters_on_it(
    app_env, batch_data, tmp_path, monkeypatch
) -> None:
    """spot deciding at 0.921513 (its card's, as demo-custom's), its regions listed from
    0.5 (``--threshold 0.5``): the table shows each row's threshold and the called regions
    and detections beside those listed; the Regions filter keeps images with a region below
    it (nothing told a reader sorting the table which regions the model calls)."""
    from dataclasses import replace

    from mcalc.batch import BatchSettings
    from mcalc.batch.settings import DEFAULT_DETECTION
    from mcalc.explain.service import SlidingSettings
    from tests.explain_fixtures import register, spot_model

    registry = tmp_path / "op-models"
    card = register(registry, "spot-op", spot_model()) / "card.json"
    data = json.loads(card.read_text(encoding="utf-8"))
    data["decision_threshold"] = {"value": 0.921513, "source": "Youden's J"}
    card.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("MCALC_MODELS", str(registry))
    lowered = BatchSettings(  # what predict --all --threshold 0.5 asks of this model
        SlidingSettings(min_region_score=0.5),
        detection=replace(DEFAULT_DETECTION, threshold=0.921513),
    )
    _done_run(registry, batch_data, BatchOptions(), lowered, model="spot-op")
    at = _batch_page(monkeypatch, batch_data)
    assert not at.exception, [e.value for e in at.exception]
    table = _results(at)
    for col in ("threshold", "n_regions_called", "n_detections_called"):
        assert col in table.columns, list(table.columns)
    grid = next(d for d in at.dataframe if "image_key" in d.value.columns)
    formats = {
        k: v.get("type_config", {}).get("format") for k, v in json.loads(grid.proto.columns).items()
    }
    assert formats["threshold"] == "%.4f"  # 0.921513, not 0.92
    ok = table[table["error"] == ""]
    assert (ok["n_regions_called"].astype(int) < ok["n_regions"].astype(int)).any()
    assert any("n_regions_called" in c.value and "not called" in c.value for c in at.caption)
    at.radio(key="batch_regions").set_value("below").run()
    below = _results(at)
    assert 0 < len(below) < len(table)
    assert (below["n_regions_called"].astype(int) < below["n_regions"].astype(int)).all()
    at.radio(key="batch_regions").set_value("called").run()
    assert (_results(at)["n_regions_called"].astype(int) > 0).all()


def test_a_running_batch_says_when_its_table_comes(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    """While a run goes on, only its progress line refreshes: the table is the one read
    when the page was drawn. At 11 of 48 images done (rows saved every 10 s) the page said
    "No result yet." until the run ended, with nothing to say when the rows would show."""
    import os

    from mcalc.jobs import procs

    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    name = run_name("spot", batch_data)
    folder = batch_root(get_settings()) / name
    folder.mkdir(parents=True)
    job = BatchJob(name, folder, "spot", str(batch_data), BatchOptions(), state="running")
    job.pid, job.pid_ticks = os.getpid(), procs.start_ticks(os.getpid())  # alive: this test
    job.created = time.time()
    atomic_write_json(folder / "job.json", job.to_json())
    at = _batch_page(monkeypatch, batch_data)
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(c.value for c in at.caption)
    assert "No result yet." not in text
    assert "when the run ends" in text and "reload the page" in text


def _chosen_set(at: AppTest, name: str) -> str:
    pick = at.selectbox(key=f"batch_set:{name}")
    return pick.options[pick.index]


class _RowClock:
    """Stands for ``datetime`` in :mod:`mcalc.batch.worker`, whose rows are stamped with
    ``datetime.now(UTC)`` (``finished_at``): the time it was made, plus a second per
    :meth:`tick` (it does not move otherwise)."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.offset = 0

    def now(self, tz=None) -> datetime:
        return (self.start + timedelta(seconds=self.offset)).astimezone(tz)

    def tick(self) -> None:
        self.offset += 1


def test_a_launch_shows_its_own_set_and_a_chosen_set_is_kept_by_identity(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    """The choice of result set was kept as a place in the list: a launch that added a set
    moved the others, and the label of one set stood over the rows of another."""
    from mcalc.batch import BatchSettings
    from mcalc.explain.service import CamSettings
    from mcalc.jobs import batch as jobs_batch

    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    # Rows are stamped to the second and the sets are ordered by their newest row: each
    # launch below is a second later on the rows' clock (1.1 s sleeps until 7 December).
    # With every row stamped alike the choice kept as a place passed this test (checked).
    clock = _RowClock()
    monkeypatch.setattr(batch_worker, "datetime", clock)
    name = _done_run(spot_registry, batch_data, BatchOptions(), BatchSettings(maps=True))
    clock.tick()
    _done_run(spot_registry, batch_data, BatchOptions(), BatchSettings())

    def launch(model_id, data, options, settings=None, *, user=""):  # in this process
        cam = CamSettings(options.cam) if options.cam else None
        clock.tick()
        _done_run(spot_registry, data, options, BatchSettings(cam=cam, maps=options.maps))
        return BatchJob.from_folder(batch_root(get_settings()) / run_name(model_id, data))

    monkeypatch.setattr(jobs_batch, "submit_batch", launch)
    at = _batch_page(monkeypatch, batch_data)
    at.selectbox(key="batch_model").set_value("spot").run()
    assert _chosen_set(at, name) == "spot · no explanation · the last launch's"
    pick = at.selectbox(key=f"batch_set:{name}")
    pick.select_index(pick.options.index("spot · no explanation · maps")).run()
    assert _chosen_set(at, name) == "spot · no explanation · maps"
    # A launch with Grad-CAM: its own set is shown, named as the last launch's.
    at.selectbox(key="batch_cam").set_value("gradcam").run()
    at.button(key="batch_launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _chosen_set(at, name) == "spot · Grad-CAM · the last launch's"
    # The reader picks the plain set; rows of another set then come (a launch elsewhere):
    # the plain set stays chosen (the place it had now holds another set).
    pick = at.selectbox(key=f"batch_set:{name}")
    pick.select_index(pick.options.index("spot · no explanation")).run()
    clock.tick()
    cam = BatchSettings(cam=CamSettings("gradcam"), maps=True)
    run_batch(
        "spot",
        batch_data,
        batch_root(get_settings()) / name,
        cam,
        models_dir=spot_registry,
        workers=1,
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _chosen_set(at, name) == "spot · no explanation"
    assert len(at.selectbox(key=f"batch_set:{name}").options) == 4
    # Another model's folder has no launch: the choice made here stays (it is the user's).
    at.selectbox(key="batch_model").set_value("rand-birads").run()
    assert at.selectbox(key="batch_cam").value == "gradcam"


def test_the_estimate_counts_a_failed_image_as_left_and_the_runs_are_this_datasets(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    """After a run of 4 images with 1 unreadable, the estimate said "All 4 images are done
    with these settings: a launch resumes and analyses none" (a launch retries the failed
    one); and the Run picker offered another dataset's run."""
    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    name = _done_run(spot_registry, batch_data, BatchOptions())
    other = batch_root(get_settings()) / run_name("spot", app_env)  # the demo's run
    other.mkdir()
    job = BatchJob(other.name, other, "spot", str(app_env), BatchOptions(), state="done")
    job.created = time.time()
    atomic_write_json(other / "job.json", job.to_json())
    at = _batch_page(monkeypatch, batch_data)
    at.selectbox(key="batch_model").set_value("spot").run()
    assert not at.exception, [e.value for e in at.exception]
    (estimate,) = [c for c in [*at.caption, *at.warning] if "images/s, the speed" in c.value]
    assert "for the 1 image left of 4 (3 done are skipped; 1 failed and will be tried again)" in (
        estimate.value
    )
    assert at.selectbox(key="batch_run").options == [name]
    # Another explanation has done nothing yet (it read the last launch's 4 done).
    at.selectbox(key="batch_cam").set_value("scorecam").run()
    (estimate,) = [w for w in at.warning if "images/s, the speed" in w.value]
    assert estimate.value.startswith("About") and " for 4 images at " in estimate.value


def test_the_ray_cluster_is_the_servers_choice_not_a_field_of_the_page(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    """The page had a free "Ray cluster address" field: a researcher could make the server
    join any host's Ray cluster, which trades pickles with it (code run in the server's
    process, by Ray's own security notes). The operator names it (MCALC_RAY_ADDRESS)."""
    from mcalc.batch.engines import ray_available

    if not ray_available():
        pytest.skip("Ray is not installed")
    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    monkeypatch.setenv("MCALC_RAY_ADDRESS", "ray://10.0.0.7:10001")
    at = _batch_page(monkeypatch, batch_data)
    at.radio(key="batch_engine").set_value("ray").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [t for t in at.text_input if t.key == "batch_address"]
    assert "Ray: the cluster at `ray://10.0.0.7:10001` (the server's `MCALC_RAY_ADDRESS`)" in [
        c.value for c in at.caption
    ]


def test_a_full_rerun_lists_the_runs_once_and_reads_each_progress_once(
    app_env, monkeypatch
) -> None:
    """A rerun of the Batch page listed the runs four times (the launch's estimate, the
    page, the Runs table's fragment, the chosen run's progress fragment) and read a run's
    progress.json four times (its speeds, its row, the progress bar and its line). One
    listing now serves the whole run, each run's progress read once with it; a rerun still
    shows what changed since."""
    import mcalc.jobs.batch as jobs
    from mcalc.batch.table import write_progress

    name = run_name("demo-custom", app_env)
    folder = batch_root(get_settings()) / name
    folder.mkdir(parents=True)
    job = BatchJob(name, folder, "demo-custom", str(app_env), BatchOptions(), state="done")
    job.created = time.time()
    atomic_write_json(folder / "job.json", job.to_json())
    progress = {"done": 3, "total": 24, "failed": 0, "analysed": 3, "images_per_s": 1.5}
    write_progress(folder, progress)
    at = _batch_page(monkeypatch, app_env)
    assert not at.exception, [e.value for e in at.exception]
    listings: list[int] = []
    reads: list[str] = []
    real_list, real_read = jobs.list_batch_jobs, jobs.read_progress
    monkeypatch.setattr(jobs, "list_batch_jobs", lambda s=None: listings.append(1) or real_list(s))
    monkeypatch.setattr(jobs, "read_progress", lambda f: reads.append(str(f)) or real_read(f))
    write_progress(folder, {**progress, "done": 5})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (runs,) = [shown(d) for d in at.dataframe if "run" in d.value.columns]
    assert list(runs["done"]) == ["5/24"]
    assert len(listings) == 1 and reads == [str(folder)], (listings, reads)


def test_rows_the_run_could_not_read_are_said_beside_its_progress(
    app_env, spot_registry, batch_data, monkeypatch
) -> None:
    """A manifest row that names a view 'AP' or a file that is gone is in no row of the
    table: `predict --all` said so on stderr, while the page that launched it said nothing
    (its progress.json did not hold them)."""
    monkeypatch.setenv("MCALC_MODELS", str(spot_registry))
    name = run_name("spot", batch_data)
    folder = batch_root(get_settings()) / name
    folder.mkdir(parents=True)
    job = BatchJob(name, folder, "spot", str(batch_data), BatchOptions(), state="done")
    job.created = time.time()
    atomic_write_json(folder / "job.json", job.to_json())
    missed = ["manifest.csv row 3: view 'AP' is not one of ['CC', 'MLO']; row skipped",
              "manifest.csv row 4: /x/gone.dcm not found; row skipped"]  # fmt: skip
    atomic_write_json(folder / "progress.json", {"done": 4, "total": 4, "not_read": missed})
    at = _batch_page(monkeypatch, batch_data)
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if "were not read" in w.value]
    assert len(said) == 1 and said[0].startswith(f"2 rows or files of {batch_data} were not"), said
    assert any(t.value == "\n".join(missed) for t in at.text), [t.value for t in at.text]
