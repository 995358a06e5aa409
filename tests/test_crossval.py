"""Patient-level k-fold cross-validation: folds never share a patient; the command runs."""

from __future__ import annotations

import json

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
            "--freeze", "full", "--folds", "2", "--epochs", "1", "--batch", "8",
            "--patch-size", "32", "--max-steps", "2", "--patches-per-image", "4",
            "--bootstrap", "50", "--models", str(models), "--id", "cv", "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 2 and len(out["folds"]) == 2 and out["seed"] == 0
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
    assert main([*args[:9], "--folds", "1", "--models", str(models)]) == 2
    assert "--folds must be >= 2" in capsys.readouterr().err


# Two folds on Ray give the local result: tests/test_ray.py (one Ray instance for both).
