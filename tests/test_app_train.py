"""AppTest: the Train page draws its plan, refuses bad input, and runs a tiny job to the end."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from mcalc import jobs
from mcalc.config import get_settings

pytestmark = pytest.mark.slow  # AppTest runs that build models and train: 6-47 s each

APP = "../app.py"  # AppTest resolves relative paths against this file
PAGE = "pages/train.py"


@pytest.fixture
def train_env(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "models"))
    return app_env


def _page(timeout: float = 90) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _tiny(at: AppTest) -> AppTest:
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(8)
    at.number_input(key="train_patch").set_value(32)
    at.number_input(key="train_per_image").set_value(4)
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
    assert any("stay random" in w.value for w in at.warning)
    assert at.button(key="train_launch").disabled  # until the user confirms
    at.checkbox(key="train_confirm_random").check().run()
    assert not at.button(key="train_launch").disabled


def test_architecture_sets_its_default_hyperparameters(train_env):
    at = _page()
    assert at.number_input(key="train_batch").value == 32
    at.selectbox(key="train_arch").select("vgg16").run()
    assert not at.exception
    assert at.number_input(key="train_batch").value == 16
    assert at.number_input(key="train_patch").value == 96
    assert any("Weights:" in m.value for m in at.markdown)


def test_bad_input_is_a_clear_message_and_nothing_is_launched(train_env):
    at = _tiny(_page())
    at.number_input(key="train_batch").set_value(1000)
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("Not launched" in e.value and "lower the batch size" in e.value for e in at.error)
    assert jobs.list_jobs(get_settings()) == []


def test_tiny_job_launched_from_the_page_runs_to_done(train_env):
    at = _tiny(_page())
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("started" in s.value for s in at.success), [e.value for e in at.error]
    (job,) = jobs.list_jobs(get_settings())
    assert job.state == "running"

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        assert not at.exception
        if jobs.get_job(job.id, get_settings()).state != "running":
            break
    at.run()
    done = jobs.get_job(job.id, get_settings())
    assert done.state == "done", done.error
    history = at.dataframe[1].value
    assert "done" in history.loc[history["job"] == job.id, "state"].iloc[0]
    assert any(job.model_id in s.value for s in at.success)
    compare = at.dataframe[2].value
    assert list(compare["model"]) == [job.model_id]
    assert at.session_state["mcalc_selected_model"] == job.model_id


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
