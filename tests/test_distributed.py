"""Multi-worker training: TF_CONFIG roles, the sharded stream, two local workers on CPU."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.distributed import cluster_from_env, local_tf_configs, worker_role
from mcalc.models.train_config import TrainConfig
from tests.models_fixtures import tiny_data_fixture  # noqa: F401


def _env(cluster: dict, task_type: str, index: int) -> dict[str, str]:
    return {
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    }


@pytest.mark.parametrize(
    ("cluster", "task", "expected"),
    [
        ({"worker": ["a:1", "b:1"]}, ("worker", 0), (2, 0, True)),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), (2, 1, False)),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("chief", 0), (3, 0, True)),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("worker", 0), (3, 1, False)),
        ({"worker": ["a:1"]}, ("worker", 0), (1, 0, True)),
    ],
)
def test_the_role_tf_config_gives(cluster, task, expected) -> None:
    role = cluster_from_env(_env(cluster, *task))
    assert role is not None and (role.workers, role.index, role.is_chief) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}), "ps"),
        (
            json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}),
            "not in",
        ),
        (
            json.dumps({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief"}}),
            "one chief",
        ),
    ],
)
def test_a_bad_tf_config_is_named(text, match) -> None:
    with pytest.raises(ModelError, match=match):
        cluster_from_env({"TF_CONFIG": text})


def test_no_cluster_and_the_local_configs() -> None:
    assert cluster_from_env({}) is None
    assert cluster_from_env({"TF_CONFIG": json.dumps({"cluster": {}})}) is None
    configs = local_tf_configs([1111, 2222])
    roles = [cluster_from_env({"TF_CONFIG": c}) for c in configs]
    assert [(r.index, r.is_chief) for r in roles if r] == [(0, True), (1, False)]
    assert json.loads(configs[1])["cluster"]["worker"] == ["localhost:1111", "localhost:2222"]


def test_auto_uses_several_workers_only_under_a_cluster() -> None:
    assert worker_role("auto", {}) is None
    with pytest.raises(ModelError, match="needs TF_CONFIG"):
        worker_role("multiworker", {})
    two = {"TF_CONFIG": local_tf_configs([1, 2])[1]}
    role = worker_role("auto", two)
    assert role is not None and role.index == 1
    assert worker_role("default", two) is None and worker_role("mirrored", two) is None
    one = {"TF_CONFIG": local_tf_configs([1])[0]}
    assert worker_role("auto", one) is None and worker_role("multiworker", one) is not None


def test_the_config_takes_multiworker_with_an_id() -> None:
    cfg = TrainConfig(data="d", strategy="multiworker", model_id="m1")
    cfg.validate()
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ModelError, match="needs a model id"):
        TrainConfig(data="d", strategy="multiworker").validate()
    old = {"data": "d", "strategy": "mirrored", "epochs": 2}  # a config of an older mcalc
    assert TrainConfig.from_json(old).strategy == "mirrored"


def test_the_shards_of_the_stream_are_the_whole_stream() -> None:
    """Worker i of n takes elements i, i+n, ... of the single-process stream, augmented
    as there (oracle: the unsharded stream itself)."""
    from mcalc.models.data import train_dataset

    rng = np.random.default_rng(0)
    x = rng.random((20, 8, 8), dtype=np.float32)
    y = np.array([0] * 14 + [1] * 6)
    whole = next(iter(train_dataset(x, y, 2, 12, seed=3).take(1)))[0].numpy()
    parts = [
        next(iter(train_dataset(x, y, 2, 6, seed=3, shard=(2, i)).take(1)))[0].numpy()
        for i in range(2)
    ]
    np.testing.assert_array_equal(parts[0], whole[0::2])
    np.testing.assert_array_equal(parts[1], whole[1::2])


@pytest.mark.slow
def test_two_local_workers_train_and_register_one_model(tiny_data, tmp_path, capsys) -> None:
    """Two worker processes on CPU (python -m mcalc train-workers); the chief registers."""
    from mcalc.cli import main
    from mcalc.models.registry import list_models

    models = tmp_path / "models"
    args = ["train-workers", "--workers", "2", "--timeout", "280", "--data", str(tiny_data),
            "--epochs", "1", "--batch", "8", "--patch-size", "32", "--max-steps", "2",
            "--patches-per-image", "4", "--models", str(models), "--id", "two", "--json",
            "--log-dir", str(tmp_path / "logs")]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exit_codes"] == [0, 0]
    listing = list_models(models)
    assert [c.id for c in listing.models] == ["two"] and not listing.problems
    card = listing.models[0]
    assert card.hyperparameters.workers == 2
    assert card.hyperparameters.distribution == "MultiWorkerMirroredStrategy"
    assert card.hyperparameters.replicas == 2
    worker1 = (tmp_path / "logs" / "worker1.out").read_text()
    assert json.loads(worker1) == {"model_id": "two", "chief": False}


@pytest.mark.slow
def test_a_worker_sent_sigterm_runs_pythons_handler_after_the_strategy_starts() -> None:
    """TensorFlow's coordination service, started with the strategy, put its own native
    SIGTERM handler in place of Python's: a worker sent SIGTERM trained on to the end and
    registered the model (7 December 2026). The command line's handler must run."""
    import subprocess
    import sys

    from mcalc.jobs.workers import free_ports

    script = (
        "import os, signal, time\n"
        "seen = []\n"
        "signal.signal(signal.SIGTERM, lambda *a: seen.append(1))\n"
        "from mcalc.models.distributed import multiworker_strategy\n"
        "multiworker_strategy()\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(0.2)\n"
        "print('handled' if seen else 'swallowed')\n"
    )
    env = {**os.environ, "TF_CONFIG": local_tf_configs(free_ports(1))[0]}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1:] == ["handled"], out.stderr[-2000:]


def test_a_lost_worker_is_said_as_such_not_as_a_bug() -> None:
    """The survivor of a killed worker ended with "unexpected UnavailableError: ... (a bug in
    mcalc ...)": its collective failed because the other worker was gone."""
    import tensorflow as tf

    from mcalc.models.distributed import WorkerRole, lost_workers

    role = WorkerRole(workers=2, index=0, task_type="worker", task_index=0, is_chief=True)
    # TensorFlow's text when worker 1 was killed with SIGKILL (train-workers, 7 December).
    text = ("{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:0"
            "/device:CPU:0}} Collective ops is aborted by: failed to connect to all addresses\n"
            "Additional GRPC error information from remote target /job:worker/replica:0/task:1")  # fmt: skip
    said = lost_workers(role, tf.errors.UnavailableError(None, None, text))
    assert isinstance(said, ModelError)
    assert str(said).startswith("worker 0 lost worker 1 during training")
    assert lost_workers(None, tf.errors.UnavailableError(None, None, text)) is None
    assert lost_workers(role, tf.errors.InvalidArgumentError(None, None, "bad shape")) is None


def test_the_workers_summary_reads_as_trains(monkeypatch, tiny_demo, tmp_path, capsys) -> None:
    """`train-workers` printed "test AUC 0.512153" (the card's six decimals) where `train`
    prints "AUC 0.512" beside its accuracy; both now print the same three decimals."""
    import mcalc.jobs.workers as workers_module
    from mcalc.cli import main
    from mcalc.jobs.workers import WorkersResult

    card = {"hyperparameters": {"workers": 2, "distribution": "MultiWorkerMirroredStrategy",
                                "replicas": 2},
            "metrics": {"test": {"auc": 0.512153, "accuracy": 0.8213}}}  # fmt: skip
    done = WorkersResult("try-2w", [0, 0], [tmp_path / "worker0.out"], card, 35.2)
    monkeypatch.setattr(workers_module, "run_local_workers", lambda *a, **k: done)
    assert main(["train-workers", "--data", str(tiny_demo), "--id", "try-2w"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "registered try-2w: 2 workers, MultiWorkerMirroredStrategy, 2 replicas, test AUC 0.512, "
        "accuracy 0.821; 35 s"
    ]
