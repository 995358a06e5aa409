"""Patient-level k-fold cross-validation: folds never share a patient (the command: tests/test_ray.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mcalc.explain.scoring import DecisionThreshold
from mcalc.models.split import patient_folds

#: A card that names no decision threshold: what a fold's card says (crossval takes none).
_DEFAULT_AT = DecisionThreshold(0.5, "default, as the model card names none")

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


@pytest.mark.parametrize(
    ("patients", "k", "says"),
    [
        (1, 0, "found 1 patient, but leave-one-patient-out cross-validation needs at least 3"),
        (1, 5, "found 1 patient, but 5-fold cross-validation needs at least 5"),
        (2, 2, "found 2 patients, but 2-fold cross-validation needs at least 3"),
        (3, 5, "found 3 patients, but 5-fold cross-validation needs at least 5"),
        (3, 2, "2 folds put 2 in the largest fold, which leaves 1 to train and validate on"),
        (4, 9, "use 2 to 4 folds, or 0 (leave-one-patient-out: 4 folds)"),
    ],
)
def test_too_few_patients_for_the_folds_says_how_many_and_what_to_do(patients, k, says) -> None:
    from mcalc.errors import DatasetError
    from mcalc.models.crossval import check_fold_count

    with pytest.raises(DatasetError, match=re.escape(says)) as err:
        check_fold_count(patients, k, "data/x")
    assert str(err.value).startswith("data/x: found")
    todo = "more patients" if patients < 3 else "use "
    assert todo in str(err.value)
    for n, folds in ((3, 0), (3, 3), (4, 2), (10, 5)):
        check_fold_count(n, folds)  # enough: no error


def test_crossval_on_one_patient_names_patients_not_folds(tmp_path, capsys) -> None:
    from mcalc.cli import main
    from mcalc.synthetic import generate_demo

    data = tmp_path / "demo"
    generate_demo(data, cases=3, seed=1, shape=(160, 128))
    for group in ("Normal_cases", "Suspicious_cases"):  # keep one case folder: one patient
        for folder in sorted((data / "Dataset" / group).iterdir()):
            if (group, folder.name) != ("Suspicious_cases", "1"):
                shutil.rmtree(folder)
    for folds in ("0", "5"):
        assert main(["crossval", "--data", str(data), "--folds", folds, "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert "found 1 patient, but" in err and "choose a dataset with more patients" in err
        assert "at least 2 folds" not in err


def test_a_ray_address_without_the_ray_engine_is_refused_before_any_fold(capsys) -> None:
    from mcalc.cli import main
    from mcalc.errors import ModelError
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig

    # Refused before the data is even opened: the folder does not exist.
    config = TrainConfig(data="/nonexistent/data")
    with pytest.raises(ModelError, match="add --engine ray"):
        crossval(config, 2, engine="local", address="head:6379")
    code = main(["crossval", "--data", "/nonexistent/data", "--folds", "2", "--address", "h:1"])
    assert code == 2
    assert "'h:1' is a Ray cluster, but the engine is 'local'" in capsys.readouterr().err


# The command on a tiny demo (folds never share a patient, every patient tested once, the
# --folds check) and two folds on Ray giving its result: tests/test_ray.py, one test (one
# local run for both checks, one Ray instance for the module).


def test_crossval_takes_hard_negatives(monkeypatch) -> None:
    """``crossval --hard-negatives N`` reaches every fold's TrainConfig (train had the flag,
    crossval only through a config file)."""
    import mcalc.models.crossval as cv_module
    from mcalc.cli import main

    seen = []

    def stop(config, *args, **kwargs):
        seen.append(config)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(cv_module, "crossval", stop)
    assert main(["crossval", "--data", "d", "--folds", "2", "--hard-negatives", "8"]) == 2
    assert [c.hard_negatives for c in seen] == [8]


def test_the_text_names_the_spread_over_folds_a_standard_deviation(monkeypatch, capsys) -> None:
    """ "AUC mean 0.326 ± 0.041 over 2 folds": a standard deviation, a standard error or an
    interval? The JSON says sd; the text now does too."""
    import mcalc.jobs.crossval as jobs_module
    import mcalc.models.crossval as cv_module
    from mcalc.cli import main

    out = {
        "leave_one_patient_out": False, "k": 2, "seed": 0,
        "folds": [{"fold": 1, "model_id": "m-fold1of2", "patients": ["p1"], "auc": {"patch": 0.3}}],
        "mean_sd": {"patch": {"mean": 0.326, "sd": 0.041, "n": 2}},
        "pooled": {"patch": {"auc": 0.33, "auc_ci_text": "0.261–0.404"}},
        "detection_mean_sd": {"cpm": {"mean": 0.2, "sd": 0.05}, "cluster_cpm": {"mean": 0.5}},
        "detection_pooled": {"summary": {"n_images": 12, "cpm": 0.21, "cluster_cpm": 0.5}},
    }  # fmt: skip
    monkeypatch.setattr(cv_module, "crossval", lambda *args, **kwargs: out)
    monkeypatch.setattr(jobs_module, "record_result", lambda result: None)
    assert main(["crossval", "--data", "d", "--folds", "2"]) == 0
    text = capsys.readouterr().out
    assert "patch: AUC mean 0.326 (sd 0.041) over 2 folds; pooled out-of-fold 0.330" in text
    assert "mean sensitivity at 0.5-4 FP/image 0.200 (sd 0.050); clusters" in text
    assert "±" not in text
    # Leave-one-patient-out: no fold has an AUC of its own (one patient, one class of
    # case); it read "AUC mean n/a (sd n/a) over 0 folds".
    out["mean_sd"]["patch"] = {"mean": None, "sd": None, "n": 0}
    assert main(["crossval", "--data", "d", "--folds", "2"]) == 0
    text = capsys.readouterr().out
    assert "  patch: no fold has an AUC of its own (each fold's test items are of one class); " \
        "pooled out-of-fold 0.330" in text  # fmt: skip


def test_the_text_sets_the_published_results_beside_the_pooled_case_auc(
    monkeypatch, capsys, tiny_demo
) -> None:
    """`crossval --folds 0` is the analogue of Loizidou 2020's leave-one-patient-out
    protocol, but its text printed the pooled case AUC with no published number beside it
    (only the Evaluate page's Cross-validation tab had them). A birads run's AUC on the
    papers' task (benign vs suspicious, normal cases left out) is set beside them; a
    calcification run's case AUC (any calcification vs none) was set beside them too, and
    is not any more: another task."""
    import mcalc.jobs.crossval as jobs_module
    import mcalc.models.crossval as cv_module
    from mcalc.cli import main
    from mcalc.models.train_config import TrainConfig

    out = {
        "leave_one_patient_out": True, "k": 6, "seed": 0, "folds": [],
        "mean_sd": {"case": {"mean": None, "sd": None, "n": 0}},
        "pooled": {"case": {"auc": 0.7, "auc_ci_text": "", "n": 6, "patients": 6}},
        "config": TrainConfig(data=str(tiny_demo), task="birads").to_json(),
        "papers_task": {"text": "benign vs suspicious, normal cases left out", "auc": 0.75,
                        "auc_ci_text": "0.500–1.000", "n": 5, "positives": 3, "patients": 5,
                        "notes": [], "accuracy": 0.8, "correct": 4,
                        "accuracy_at": "each fold's decision threshold, 0.50 (default, as the "
                                       "model card names none)"},
    }  # fmt: skip
    monkeypatch.setattr(cv_module, "crossval", lambda *args, **kwargs: out)
    monkeypatch.setattr(jobs_module, "record_result", lambda result: None)
    assert main(["crossval", "--data", str(tiny_demo), "--folds", "0"]) == 0
    text = capsys.readouterr().out
    assert "  case, benign vs suspicious, normal cases left out (the papers' task): pooled " \
        "out-of-fold AUC 0.750 (95% CI 0.500–1.000) on 5 cases (3 suspicious)" in text  # fmt: skip
    assert "Loizidou 2020, without subtraction: accuracy 0.914; leave-one-patient-out" in text
    # Loizidou 2020 gives accuracies only: ours read "accuracy n/a" beside them.
    assert "  accuracy 0.800 (4 of 5 cases right) at each fold's decision threshold, 0.50 " \
        "(default, as the model card names none)" in text  # fmt: skip
    assert "ours: AUC 0.750, accuracy 0.800 on 5 cases (5 patients), benign vs suspicious" in text
    assert "leave-one-patient-out, pooled out of fold; accuracy at each fold's decision" in text
    assert "our data: SYNTHETIC demo data" in text
    for key in ("accuracy", "correct", "accuracy_at"):  # a run pooled before 7 December 2026
        del out["papers_task"][key]
    assert main(["crossval", "--data", str(tiny_demo), "--folds", "0"]) == 0
    text = capsys.readouterr().out
    assert "ours: AUC 0.750, accuracy n/a on 5 cases (5 patients), benign vs suspicious" in text
    del out["papers_task"]
    out["config"] = TrainConfig(data=str(tiny_demo)).to_json()  # the calcification task
    assert main(["crossval", "--data", str(tiny_demo), "--folds", "0"]) == 0
    text = capsys.readouterr().out
    assert "Loizidou" not in text and "ours:" not in text
    assert "Not set beside the published results: its models classify calcification vs not" in text
    assert (
        "different task from the papers' benign vs suspicious per case, so not comparable" in text
    )


def test_a_birads_run_keeps_its_pooled_auc_on_the_papers_task(monkeypatch) -> None:
    """The published results were set beside the pooled case AUC of suspicious vs the rest,
    every normal case a negative; the papers' task leaves the normal cases out."""
    import mcalc.models.crossval as cv_module
    import mcalc.models.evaluate as evaluate_module
    from mcalc.models.crossval import CrossvalPlan, summarise_folds
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.models.train_config import TrainConfig
    from tests.test_paired import GROUPS, _birads

    # Both normal cases score highest: suspicious vs the rest 0.5, benign vs suspicious 1.
    score = {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}
    folds = [("n1", "b1", "s1"), ("n2", "b2", "s2")]
    plan = CrossvalPlan(TrainConfig(data="d", task="birads"), 2, folds, "m", False)

    def evaluate(model, *a, **k):
        mine = {c: GROUPS[c] for c in folds[int(str(model)[6]) - 1]}
        scores = _birads(mine, {c: score[c] for c in mine})
        return EvaluationResult(str(model), "d", "test-split", list(mine), {}, None,
                                scores=scores)  # fmt: skip

    monkeypatch.setattr(evaluate_module, "evaluate_model", evaluate)
    monkeypatch.setattr(cv_module, "fold_threshold", lambda model, models_dir: _DEFAULT_AT)
    out = summarise_folds(plan, ["m-fold1of2", "m-fold2of2"], n_boot=0).summary
    assert out["pooled"]["case"]["auc"] == 0.5
    papers = out["papers_task"]
    assert (papers["auc"], papers["n"], papers["positives"], papers["patients"]) == (1.0, 4, 2, 4)
    # Loizidou 2020's leave-one-patient-out results are accuracies only, beside which ours
    # read "accuracy n/a": each case is decided by its own fold's model.
    assert (papers["accuracy"], papers["correct"]) == (1.0, 4)
    assert papers["accuracy_at"] == (
        "0.50 on every fold's case scores (Evaluate's default on patch probabilities, the "
        "app's too)"
    )
    # A calcification model's run has no such result.
    monkeypatch.setattr(
        evaluate_module, "evaluate_model",
        lambda model, *a, **k: _fold_result(str(model), list(folds[int(str(model)[6]) - 1]),
                                            "test-split"),
    )  # fmt: skip
    assert (
        "papers_task" not in summarise_folds(plan, ["m-fold1of2", "m-fold2of2"], n_boot=0).summary
    )


def test_the_pooled_accuracy_on_the_papers_task_decides_each_case_by_its_folds_model(
    monkeypatch,
) -> None:
    """Each out-of-fold case is decided by its own fold's model, its case score read at 0.5:
    fold 2's card threshold of 0.75 (a map-score threshold) no longer reads s2 (0.7) as
    benign; the cards' thresholds are named, in other units."""
    import mcalc.models.crossval as cv_module
    import mcalc.models.evaluate as evaluate_module
    from mcalc.models.crossval import CrossvalPlan, summarise_folds
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.models.train_config import TrainConfig
    from tests.test_paired import GROUPS, _birads

    score = {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}
    folds = [("n1", "b1", "s1"), ("n2", "b2", "s2"), ("n3",)]
    groups = GROUPS | {"n3": "normal"}
    score["n3"] = 0.4
    plan = CrossvalPlan(TrainConfig(data="d", task="birads"), 3, folds, "m", False)

    def evaluate(model, *a, **k):
        mine = {c: groups[c] for c in folds[int(str(model)[6]) - 1]}
        return EvaluationResult(str(model), "d", "test-split", list(mine), {}, None,
                                scores=_birads(mine, {c: score[c] for c in mine}))  # fmt: skip

    at = {"m-fold1of3": 0.5, "m-fold2of3": 0.75, "m-fold3of3": 0.5}
    monkeypatch.setattr(evaluate_module, "evaluate_model", evaluate)
    monkeypatch.setattr(
        cv_module,
        "fold_threshold",
        lambda model, models_dir: DecisionThreshold(at[str(model)], "Youden's J on ..."),
    )
    papers = summarise_folds(plan, list(at), n_boot=0).summary["papers_task"]
    assert (papers["accuracy"], papers["correct"], papers["n"]) == (1.0, 4, 4)
    assert papers["accuracy_at"].startswith("0.50 on every fold's case scores")
    assert "in other units: fold 1 0.5 (Youden's J on ...), fold 2 0.75" in papers["accuracy_at"]


def _fold_result(model_id: str, patients: list[str], scope: str):  # type: ignore[no-untyped-def]
    """An evaluation of ``model_id`` that scored one positive and one negative patch of
    each of ``patients`` (case id = patient id)."""
    import numpy as np

    from mcalc.models.evaluate import EvaluationResult
    from mcalc.models.scores import EvalScores

    pats = np.repeat(patients, 2)
    scores = EvalScores(
        ("no-calcification", "calcification"),
        ("calcification",),
        np.tile([0, 1], len(patients)),
        np.tile([[0.8, 0.2], [0.3, 0.7]], (len(patients), 1)),
        pats,
        pats,
        np.char.add(pats, "/CC_recent"),
    )
    return EvaluationResult(model_id, "d", scope, list(patients), {}, None, scores=scores)


def test_pooling_refuses_a_fold_scored_beyond_its_test_patients(monkeypatch) -> None:
    """A fold's model scored on every patient (its evaluation's scope is ``all-patients``
    when the dataset's fingerprint no longer matches the one it was trained on) holds its
    own training patients: pooled, they leaked into the out-of-fold AUC and every patient
    counted k times. Before the fix the folds were pooled silently (8 items of 4
    patients for 2 folds)."""
    import mcalc.models.evaluate as evaluate_module
    from mcalc.errors import DatasetError
    from mcalc.models.crossval import CrossvalPlan, summarise_folds
    from mcalc.models.train_config import TrainConfig

    everyone = ["p0", "p1", "p2", "p3"]
    plan = CrossvalPlan(TrainConfig(data="d"), 2, [("p0", "p1"), ("p2", "p3")], "m", False)
    monkeypatch.setattr(
        evaluate_module,
        "evaluate_model",
        lambda model, *a, **k: _fold_result(str(model), everyone, "all-patients"),
    )
    said = r"fold 1: m-fold1of2 was scored on 2 patients outside its test fold \(p2, p3; scope all-patients\)"
    with pytest.raises(DatasetError, match=said):
        summarise_folds(plan, ["m-fold1of2", "m-fold2of2"], n_boot=0)
    # Each fold scored on its own test patients only: pooled once each.
    monkeypatch.setattr(
        evaluate_module,
        "evaluate_model",
        lambda model, *a, **k: _fold_result(
            str(model), list(plan.folds[int(str(model)[6]) - 1]), "test-split"
        ),
    )
    pooled = summarise_folds(plan, ["m-fold1of2", "m-fold2of2"], n_boot=0).pooled
    assert sorted(pooled.patient_ids.tolist()) == sorted(everyone * 2)  # 2 patches each


def test_a_stopped_run_names_the_folds_it_registered(
    tiny_demo, tmp_path, monkeypatch, caplog, capsys
):
    """Ctrl-C during fold 2 of 3: fold 1 stayed registered without a word, and a rerun with
    the same --id stopped at it ("model 'cv-fold1of3' already exists"). The command ends as
    an interrupted one (130; it said "error: training of cv-fold2of3 was interrupted",
    status 2, until 7 December 2026)."""
    import mcalc.models.crossval as cv_module
    from mcalc.cli import main
    from mcalc.config import REPO_ROOT

    models = tmp_path / "models"

    from mcalc.errors import ModelError

    def train_fold(config):  # fold 1 registers (a copy of the shipped model), fold 2 stops
        if config.fold == 0:
            return shutil.copytree(REPO_ROOT / "models" / "demo-custom", models / config.model_id)
        try:  # as training.train says an interrupt
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ModelError(f"training of {config.model_id} was interrupted") from exc

    monkeypatch.setattr(cv_module, "train_fold", train_fold)
    args = ["crossval", "--data", str(tiny_demo), "--folds", "3", "--id", "cv", "--models",
            str(models)]  # fmt: skip
    assert main(args) == 130
    assert capsys.readouterr().err.endswith("interrupted\n")
    said = caplog.text  # a warning on stderr from the command (its logging's handler)
    assert "cross-validation stopped with 1 of 3 folds registered: cv-fold1of3" in said, said
    assert "choose another --id, or delete them" in said, said


def test_folds_killed_on_ray_end_their_run_folders_as_interrupted(tmp_path) -> None:
    """A fold's Ray task killed by the stop (``ray.cancel(force=True)``) left its run folder
    ending on a batch, read as a run still going; a fold finished, or that said its own last
    word, is left as it is."""
    import json

    from mcalc.models.crossval import CrossvalPlan, close_killed_folds
    from mcalc.models.train_config import TrainConfig

    config = TrainConfig(data="d", runs_dir=str(tmp_path / "runs"),
                         models_dir=str(tmp_path / "models"))  # fmt: skip
    plan = CrossvalPlan(config, 3, [("p1",), ("p2",), ("p3",)], "cv", False)
    last = {"cv-fold1of3": "done", "cv-fold2of3": "batch", "cv-fold3of3": "interrupted"}
    for model_id, event in last.items():
        (tmp_path / "runs" / model_id).mkdir(parents=True)
        lines = [{"event": "start"}, {"event": event}]
        (tmp_path / "runs" / model_id / "progress.jsonl").write_text(
            "".join(json.dumps(e) + "\n" for e in lines)
        )
    assert close_killed_folds(plan, ["cv-fold1of3"]) == ["cv-fold2of3"]
    killed = tmp_path / "runs" / "cv-fold2of3"
    events = [json.loads(x) for x in (killed / "progress.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "interrupted" and (killed / "FAILED").is_file()
    assert not (tmp_path / "runs" / "cv-fold3of3" / "FAILED").exists()
    assert close_killed_folds(plan, ["cv-fold1of3"]) == []  # once


def test_each_fold_chooses_its_threshold_on_its_own_validation_patients(
    monkeypatch, tiny_demo, tmp_path
) -> None:
    """`crossval --operating-point youden`: each fold's model gets the threshold the rule
    picks on that fold's validation patients (as `train --operating-point`), recorded on its
    card, so that the pooled accuracy on the papers' task is at thresholds chosen as
    Loizidou 2020's protocol asks, not at 0.5; a fold where none can be chosen keeps 0.5
    and says why."""
    from types import SimpleNamespace

    import mcalc.explain.operating as operating_module
    import mcalc.models.crossval as cv_module
    import mcalc.models.inference as inference_module
    import mcalc.models.operating_point as op_module
    from mcalc.models.crossval import CrossvalResult, crossval
    from mcalc.models.operating_point import ThresholdError
    from mcalc.models.train_config import TrainConfig

    models = tmp_path / "models"

    def train_fold(config):  # type: ignore[no-untyped-def]
        (models / config.model_id).mkdir(parents=True)
        return str(models / config.model_id)

    def choose(loaded, index, rule, *a, **k):  # type: ignore[no-untyped-def]
        if loaded.model_id.endswith("fold2of3"):
            raise ThresholdError("validation images of one class only (4 negative)")
        return SimpleNamespace(value=0.7, source=f"{rule.text} on 4 validation images"), {}

    recorded: list[tuple[str, float]] = []
    monkeypatch.setattr(cv_module, "train_fold", train_fold)
    monkeypatch.setattr(cv_module, "summarise_folds", lambda *a, **k: CrossvalResult({}, None))  # type: ignore[arg-type]
    monkeypatch.setattr(inference_module, "load_model",
                        lambda folder, *a: SimpleNamespace(model_id=Path(folder).name))  # fmt: skip
    monkeypatch.setattr(operating_module, "choose_operating_point", choose)
    monkeypatch.setattr(op_module, "record_threshold",
                        lambda folder, choice: recorded.append((Path(folder).name, choice.value)))  # fmt: skip
    config = TrainConfig(data=str(tiny_demo), models_dir=str(models), model_id="cv",
                         operating_point="youden")  # fmt: skip
    out = crossval(config, 3, n_boot=0)
    assert recorded == [("cv-fold1of3", 0.7), ("cv-fold3of3", 0.7)]
    assert out["operating_points"] == [
        {"fold": 1, "value": 0.7, "source": "youden on 4 validation images"},
        {"fold": 2, "value": None,
         "note": "validation images of one class only (4 negative): it decides at 0.5"},
        {"fold": 3, "value": 0.7, "source": "youden on 4 validation images"},
    ]  # fmt: skip


def test_the_command_takes_an_operating_point_and_says_each_folds(monkeypatch, capsys) -> None:
    import mcalc.jobs.crossval as jobs_module
    import mcalc.models.crossval as cv_module
    from mcalc.cli import main

    assert main(["crossval", "--data", "d", "--folds", "2", "--operating-point", "yuoden"]) == 2
    assert "unknown rule 'yuoden'" in capsys.readouterr().err
    seen: list[object] = []
    out = {
        "leave_one_patient_out": False, "k": 2, "seed": 0, "folds": [], "mean_sd": {},
        "operating_points": [{"fold": 1, "value": 0.7, "source": "Youden's J on 4 images"},
                             {"fold": 2, "value": None, "note": "one class only: it decides at 0.5"}],
    }  # fmt: skip

    def crossval(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(args[0].operating_point)  # the run's TrainConfig carries the rule
        return out

    monkeypatch.setattr(cv_module, "crossval", crossval)
    monkeypatch.setattr(jobs_module, "record_result", lambda result: None)
    assert main(["crossval", "--data", "d", "--folds", "2", "--operating-point", "youden"]) == 0
    assert seen == ["youden"]
    text = capsys.readouterr().out
    assert "  fold 1 decides at 0.70: Youden's J on 4 images" in text
    assert "  fold 2 decides at 0.50: one class only: it decides at 0.5" in text


def test_the_papers_task_accuracy_reads_case_scores_at_half_not_the_cards_map_threshold() -> None:
    """The pooled accuracy beside Loizidou 2020 read each fold's case scores (the maximum
    of sampled patch probabilities) at that fold card's decision threshold, which
    ``--operating-point`` makes a map-score threshold (0.921513): both suspicious cases
    (0.6, 0.7) read benign. It reads them at 0.5, as Evaluate and compare do, and names the
    cards' thresholds as in other units."""
    from mcalc.models.crossval import papers_task_accuracy
    from tests.test_paired import GROUPS, _birads

    fold = {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}
    parts = [_birads(GROUPS, fold), _birads(GROUPS, fold)]
    cards = [DecisionThreshold(0.921513, "Youden's J on fold 1's validation images"),
             DecisionThreshold(0.9, "Youden's J on fold 2's validation images")]  # fmt: skip
    out = papers_task_accuracy(parts, cards)
    assert (out["accuracy"], out["correct"]) == (1.0, 8)
    assert out["accuracy_at"].startswith("0.50 on every fold's case scores (Evaluate's default")
    assert "fold 1 0.921513 (Youden's J on fold 1's validation images)" in out["accuracy_at"]
    assert "in other units" in out["accuracy_at"]
    # Folds whose cards name no threshold: the default, said once.
    default = DecisionThreshold(0.5, "default, as the model card names none")
    said = papers_task_accuracy(parts, [default, default])["accuracy_at"]
    assert (
        said
        == "0.50 on every fold's case scores (Evaluate's default on patch probabilities, the app's too)"
    )


def test_a_run_stored_at_the_fold_cards_thresholds_is_recomputed_or_marked() -> None:
    """Runs pooled before 7 December 2026, 23:01 UTC kept the accuracy at each fold card's
    decision threshold (map-score units), shown beside runs pooled since at 0.5 on case
    scores without a word. Recomputed from the folds' case scores where those are at hand
    (the evaluation cache), else left out and the rule it used said."""
    from mcalc.models.crossval import papers_task_accuracy, pool_scores
    from mcalc.models.pooled_accuracy import ACCURACY_RULE, stored_accuracy
    from tests.test_paired import GROUPS, _birads

    fold = {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}
    parts = [_birads(GROUPS, fold), _birads(GROUPS, fold)]
    old = {"accuracy": 0.5, "correct": 4, "n": 8,
           "accuracy_at": "each fold's decision threshold, 0.9215 (Youden's J on validation)"}  # fmt: skip
    marked = stored_accuracy(old)
    assert marked.accuracy is None and marked.rule == "fold cards"
    assert "0.500 (4 of 8 cases) at each fold's decision threshold, 0.9215" in marked.note
    assert "not comparable" in marked.note
    again = stored_accuracy(old, pool_scores(parts))
    assert (again.accuracy, again.rule) == (1.0, ACCURACY_RULE)
    assert again.at.startswith("0.50 on every fold's case scores")
    assert "recomputed" in again.note and "it stored 0.500" in again.note
    # Pooled since: as stored (the rule kept in the result from now on).
    new = {"n": 8, **papers_task_accuracy(parts, [])}
    assert new["accuracy_rule"] == ACCURACY_RULE
    kept = stored_accuracy(new)
    assert (kept.accuracy, kept.at, kept.note) == (1.0, new["accuracy_at"], None)
    del new["accuracy_rule"]  # pooled between 23:01 and this change: the same rule
    assert stored_accuracy(new).accuracy == 1.0 and stored_accuracy(new).note is None
    # Every fold at its card's default 0.5: the numbers today's rule gives, said so.
    half = old | {"accuracy_at": "each fold's decision threshold, 0.50 (default, as the model "
                                 "card names none)"}  # fmt: skip
    same = stored_accuracy(half)
    assert same.accuracy == 0.5 and "the same" in same.note
    assert stored_accuracy({"n": 8}).accuracy is None  # before any accuracy: n/a, as before
