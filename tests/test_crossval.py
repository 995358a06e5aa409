"""Patient-level k-fold cross-validation: folds never share a patient; the command runs."""

from __future__ import annotations

import json
import time

import pytest

from mcalc.models.split import patient_folds
from tests.models_fixtures import tiny_data_fixture  # noqa: F401

ROWS = [(f"p{i}", f"c{i}", ("normal", "benign", "suspicious")[i % 3]) for i in range(10)]


def test_folds_partition_the_patients_stratified_and_seeded() -> None:
    folds = patient_folds(ROWS, 3, seed=4)
    every = [p for f in folds for p in f]
    assert sorted(every) == sorted(r[0] for r in ROWS) and len(set(every)) == len(every)
    assert sorted(len(f) for f in folds) == [3, 3, 4]
    group = {p: g for p, _, g in ROWS}
    for f in folds:  # 3 or 4 of each group's 3-4 patients: one or two per fold
        assert {group[p] for p in f} == {"normal", "benign", "suspicious"}
    assert patient_folds(ROWS, 3, seed=4) == folds
    assert patient_folds(ROWS, 3, seed=5) != folds
    assert [len(f) for f in patient_folds(ROWS, 10)] == [1] * 10  # leave-one-patient-out


def test_too_many_folds_is_an_error() -> None:
    from mcalc.errors import DatasetError

    with pytest.raises(DatasetError, match="at least 11 patients"):
        patient_folds(ROWS, 11)
    with pytest.raises(ValueError, match="at least 2 folds"):
        patient_folds(ROWS, 1)


@pytest.mark.slow
def test_crossval_command_on_a_tiny_demo(tiny_data, tmp_path, capsys) -> None:
    from mcalc.cli import main
    from mcalc.dataset import open_dataset
    from mcalc.models.registry import load_card

    models = tmp_path / "models"
    args = ["crossval", "--data", str(tiny_data), "--arch", "custom", "--task", "calcification",
            "--freeze", "full", "--folds", "3", "--epochs", "1", "--batch", "8",
            "--patch-size", "32", "--max-steps", "2", "--patches-per-image", "4",
            "--bootstrap", "50", "--models", str(models), "--id", "cv", "--json"]  # fmt: skip
    t0 = time.perf_counter()
    assert main(args) == 0
    seconds = time.perf_counter() - t0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 3 and len(out["folds"]) == 3 and out["seed"] == 0
    patient_of = {c.case_id: c.patient_id for c in open_dataset(tiny_data).cases}
    seen: set[str] = set()
    for fold in out["folds"]:
        card = load_card(models / fold["model_id"])
        test = {patient_of[c] for c in card.split.test}
        train = {patient_of[c] for c in card.split.train + card.split.val}
        assert not test & train  # a fold's model never saw its test patients
        assert not test & seen  # folds never share a patient
        assert test == set(fold["patients"])
        seen |= test
    assert seen == set(patient_of.values())  # every patient is tested once
    assert out["pooled"]["case"]["n"] == len(set(patient_of))  # pooled out-of-fold cases
    assert set(out["mean_sd"]) == {"patch", "image", "case"}
    assert seconds < 240, seconds
    assert main([*args[:9], "--folds", "1", "--models", str(models)]) == 2
    assert "--folds must be >= 2" in capsys.readouterr().err


@pytest.mark.slow
def test_folds_on_ray_give_the_local_result(tiny_data, tmp_path) -> None:
    """Two folds as parallel Ray tasks (a local instance of 2 CPUs) equal the local run."""
    ray = pytest.importorskip("ray")
    from mcalc.config import REPO_ROOT
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig
    from tests.models_fixtures import TINY

    def run(engine: str) -> dict:
        config = TrainConfig(data=tiny_data, models_dir=tmp_path / engine, model_id="cv", **TINY)
        done: list[int] = []
        out = crossval(config, 2, n_boot=20, engine=engine, progress=lambda d, t, m: done.append(d))
        assert done == [1, 2] and out.pop("engine") == engine
        out.pop("seconds")
        out["config"].pop("models_dir")
        return out

    local = run("local")
    ray.init(num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
    try:
        on_ray = run("ray")
    finally:
        ray.shutdown()
    assert on_ray == local
    assert [f["model_id"] for f in on_ray["folds"]] == ["cv-fold1of2", "cv-fold2of2"]
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["cv-fold1of2", "cv-fold2of2"]
