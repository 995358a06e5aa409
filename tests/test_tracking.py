"""Experiment tracking: the MLflow adapter (a fake client, always; real MLflow when
installed), TensorBoard logs of a run, and the links the Train page shows."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mcalc.errors import ModelError
from mcalc.models.tracking import (
    MlflowRun,
    open_mlflow,
    run_links,
    run_params,
    tee_events,
    tracking_event,
)
from tests.models_fixtures import TINY, tiny_data_fixture, tiny_model_fixture  # noqa: F401


class FakeClient:
    """Records MlflowClient calls (the methods the adapter uses)."""

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[tuple] = []
        self.experiments: dict[str, str] = {}
        self.fail_on = fail_on

    def get_experiment_by_name(self, name):
        eid = self.experiments.get(name)
        return None if eid is None else SimpleNamespace(experiment_id=eid)

    def create_experiment(self, name):
        self.experiments[name] = str(len(self.experiments) + 7)
        return self.experiments[name]

    def create_run(self, experiment_id, run_name=None, tags=None):
        self.calls.append(("create_run", experiment_id, run_name, tags))
        return SimpleNamespace(info=SimpleNamespace(run_id="r1"))

    def __getattr__(self, method):
        def record(run_id, *args, **kwargs):
            if method == self.fail_on:
                raise OSError("server went away")
            self.calls.append((method, run_id, *args, *sorted(kwargs.items())))

        return record


def test_the_adapter_logs_params_epochs_card_and_model(tmp_path) -> None:
    client = FakeClient()
    env = {"MLFLOW_TRACKING_URI": "http://mlflow.local:5000/", "MLFLOW_EXPERIMENT_NAME": "calc"}
    params = run_params({"data": "d", "fractions": [0.6, 0.2, 0.2], "lr": None}, {"workers": 2})
    assert params == {"data": "d", "fractions": "[0.6, 0.2, 0.2]", "lr": "null", "workers": "2"}
    run = open_mlflow("m1", params, {"t": "v"}, environ=env, client=client)
    assert run is not None and run.run_id == "r1" and run.experiment_id == "7"
    assert run.url == "http://mlflow.local:5000/#/experiments/7/runs/r1"
    assert client.calls[0] == ("create_run", "7", "m1", {"t": "v"})
    assert ("log_param", "r1", "workers", "2") in client.calls
    # two stages of one epoch each: steps 1 and 2; batch and other events are not metrics
    seen: list[dict] = []
    tee = tee_events(run, seen.append)
    assert tee is not None and tee_events(None, seen.append) == seen.append
    tee({"event": "batch", "loss": 0.9})
    tee({"event": "epoch", "stage": "head", "epoch": 1, "loss": 0.7, "val_auc": None})
    tee({"event": "epoch", "stage": "finetune", "epoch": 1, "loss": 0.5})
    assert [e["event"] for e in seen] == ["batch", "epoch", "epoch"]
    metrics = [c for c in client.calls if c[0] == "log_metric"]
    assert metrics == [("log_metric", "r1", "loss", 0.7, ("step", 1)),
                       ("log_metric", "r1", "loss", 0.5, ("step", 2))]  # fmt: skip
    folder = tmp_path / "model"
    (folder / "tensorboard").mkdir(parents=True)
    run.finish({"id": "m1"}, folder)
    tail = [c[0] for c in client.calls[-4:]]
    assert tail == ["log_dict", "log_artifact", "log_artifacts", "set_terminated"]
    assert client.calls[-3][2:] == (str(folder / "model.keras"), "model")
    assert client.calls[-1] == ("set_terminated", "r1", ("status", "FINISHED"))


def test_no_uri_no_run_and_a_failing_server_does_not_stop_training() -> None:
    assert open_mlflow("m1", {}, environ={}, client=FakeClient()) is None
    client = FakeClient(fail_on="log_metric")
    run = MlflowRun(client, "file:///tmp/x", "1", "r1")
    assert run.url is None  # a file store has no web page
    run.on_event({"event": "epoch", "loss": 0.7, "accuracy": 0.5})
    run.end("FAILED")
    assert "server went away" in run.broken
    assert [c[0] for c in client.calls] == []  # stopped after the first failure


def test_a_store_that_refuses_is_a_clear_error() -> None:
    class Refusing(FakeClient):
        def get_experiment_by_name(self, name):
            raise OSError("connection refused")

    env = {"MLFLOW_TRACKING_URI": "http://nowhere:5000"}
    with pytest.raises(ModelError, match="cannot start an MLflow run at http://nowhere:5000"):
        open_mlflow("m1", {}, environ=env, client=Refusing())


def test_a_uri_without_mlflow_says_what_to_do(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(ModelError, match="pip install mlflow-skinny"):
        open_mlflow("m1", {}, environ={"MLFLOW_TRACKING_URI": "file:///tmp/x"})


def test_links_of_a_run_and_of_its_model(tmp_path) -> None:
    run_dir = tmp_path / "runs" / "m1"
    (run_dir / "tensorboard" / "train").mkdir(parents=True)
    log = run_dir / "progress.jsonl"
    event = tracking_event(MlflowRun(None, "http://h", "3", "r9"))
    log.write_text(json.dumps({"event": "start"}) + "\n" + json.dumps(event) + "\n")
    links = run_links(log)
    # The log names the folder beside it, not where this machine keeps it.
    assert event["tensorboard"] == "tensorboard"
    assert links.tensorboard_dir == str(log.parent / event["tensorboard"])
    assert links.tensorboard_command == f"tensorboard --logdir {run_dir / 'tensorboard'}"
    assert (links.mlflow_run_id, links.mlflow_url) == ("r9", "http://h/#/experiments/3/runs/r9")
    model = tmp_path / "models" / "m1"
    (model / "tensorboard").mkdir(parents=True)
    assert run_links(log, model).tensorboard_dir == str(model / "tensorboard")
    bare = run_links(tmp_path / "none" / "progress.jsonl")
    assert bare.tensorboard_dir == "" and bare.mlflow_run_id == ""


def test_a_trained_model_keeps_its_tensorboard_logs(tiny_model) -> None:
    card = tiny_model.card
    assert card.tracking.tensorboard == "tensorboard" and card.tracking.mlflow == {}
    events = list((Path(tiny_model.path) / "tensorboard").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} == {"train", "validation"}
    assert card.hyperparameters.workers == 1


@pytest.mark.slow
def test_training_logs_to_a_real_mlflow_file_store(tiny_data, tmp_path, monkeypatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    from mcalc.models.training import TrainConfig, train

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mcalc-test")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores opt-in
    config = TrainConfig(data=tiny_data, models_dir=tmp_path / "models", runs_dir=tmp_path / "runs",
                         model_id="tracked", **TINY)  # fmt: skip
    result = train(config)
    run_id = result.card.tracking.mlflow["run_id"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert run.data.params["patch_size"] == "32" and run.data.params["workers"] == "1"
    history = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1]
    assert history[0].value == pytest.approx(result.card.history["train"]["val_loss"][0])
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"card.json", "model", "tensorboard"} <= names
    assert [a.path for a in client.list_artifacts(run_id, "model")] == ["model/model.keras"]


def test_a_password_in_the_tracking_uri_is_never_written_or_said() -> None:
    """``MLFLOW_TRACKING_URI=https://ana:s3cret@host`` (basic auth in the address, which
    the HTTP client sends) went as it was into the run's ``tracking`` event (its log, and
    the registered model's copy), the model card, the Train page's caption and the error
    of a store that refuses. The client still gets the whole address."""
    env = {"MLFLOW_TRACKING_URI": "https://ana:s3cret@mlflow.example.org/"}
    client = FakeClient()
    run = open_mlflow("m1", {}, environ=env, client=client)
    assert run is not None
    written = json.dumps([run.as_dict(), tracking_event(run), run.url])
    assert "s3cret" not in written
    assert "https://ana:***@mlflow.example.org" in written  # who, and where, still said

    class Refusing(FakeClient):
        def get_experiment_by_name(self, name):
            raise OSError("connection refused")

    with pytest.raises(ModelError) as refused:
        open_mlflow("m1", {}, environ=env, client=Refusing())
    assert "s3cret" not in str(refused.value) and "ana:***@mlflow.example.org" in str(refused.value)
