"""Curves, confidence intervals, operating points and cached evaluations
(mcalc.models.curves, mcalc.models.scores, mcalc.models.analysis, mcalc.models.evaluate)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mcalc.errors import DatasetError, ModelError
from mcalc.models.analysis import (
    analyse,
    ci_text,
    class_metrics,
    threshold_metrics,
)
from mcalc.models.curves import (
    ConfidenceInterval,
    bootstrap_auc,
    group_scores,
    operating_point,
    precision_recall,
    roc,
    youden,
)
from mcalc.models.registry import load_card
from mcalc.models.scores import EvalScores, positive_rule
from mcalc.models.tasks import positives_for
from tests.models_fixtures import tiny_data_fixture, tiny_model_fixture  # noqa: F401

# Five positives, four negatives; at 0.6 every negative is below and 4 of 5 positives above.
NEG = [0.1, 0.2, 0.3, 0.55]
POS = [0.4, 0.6, 0.7, 0.8, 0.9]
Y = np.array([0] * len(NEG) + [1] * len(POS))
S = np.array(NEG + POS)


# ---------------------------------------------------------------- curves on hand-made scores


def test_roc_and_pr_on_hand_made_scores():
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    curve = roc(y, s)
    assert curve.auc == pytest.approx(0.75)
    assert (curve.fpr[0], curve.tpr[0]) == (0.0, 0.0) and (curve.fpr[-1], curve.tpr[-1]) == (1, 1)
    assert list(zip(curve.fpr, curve.tpr, strict=True)) == [
        (0, 0),
        (0, 0.5),
        (0.5, 0.5),
        (0.5, 1),
        (1, 1),
    ]
    pr = precision_recall(y, s)
    # Ranked .8 (+), .4 (-), .35 (+): precision 1 at recall 1/2, 2/3 at recall 1.
    assert pr.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert pr.prevalence == 0.5


@pytest.mark.parametrize(
    "y, s, message",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "needs positives and negatives"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "expected 0/1 truth"),
        ([0, 1], [0.1, 0.2, 0.3], "one length"),
        ([0, 1], [0.1, np.nan], "NaN"),
    ],
)
def test_bad_curve_input_is_a_clear_error(y, s, message):
    with pytest.raises(ValueError, match=message):
        roc(np.array(y), np.array(s))


def test_the_positive_rule_takes_the_article_of_its_word():
    """The classification tab's caption read "an case is positive when ..."."""
    assert positive_rule("case") == "a case is positive when any of its patches is"
    assert positive_rule("image") == "an image is positive when any of its patches is"
    with pytest.raises(ValueError, match="image or case level, got 'patch'"):
        positive_rule("patch")


def test_youden_threshold_on_hand_made_example():
    best = youden(Y, S)
    assert best.threshold == 0.6
    assert (best.sensitivity, best.specificity) == (0.8, 1.0)
    assert best.j == pytest.approx(0.8)
    # The default operating point: 0.4 is missed, 0.55 is a false positive.
    at_half = operating_point(Y, S, 0.5)
    assert (at_half.sensitivity, at_half.specificity) == (0.8, 0.75)
    assert at_half.j < best.j


def test_youden_breaks_ties_towards_the_more_specific_threshold():
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9])
    assert youden(y, s).threshold == 0.7  # any threshold in (0.2, 0.7] separates them


# ---------------------------------------------------------------- bootstrap over patients


def test_bootstrap_is_seeded_and_brackets_the_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = rng.normal(size=400) + y
    groups = np.repeat(np.arange(40), 10)
    a = bootstrap_auc(y, s, groups, n_boot=300, seed=5)
    b = bootstrap_auc(y, s, groups, n_boot=300, seed=5)
    c = bootstrap_auc(y, s, groups, n_boot=300, seed=6)
    assert a == b and a != c
    assert a.low < roc(y, s).auc < a.high
    assert (a.level, a.n_boot, a.n_groups) == (0.95, 300, 40)


def test_bootstrap_resamples_cases_not_patches():
    # Two cases: all of case A's patches negative, all of B's positive. Drawing two cases
    # with replacement gives AA or BB (no AUC) half the time; drawing patches almost never.
    y = np.array([0] * 30 + [1] * 30)
    s = np.linspace(0, 1, 60)
    cases = np.array(["A"] * 30 + ["B"] * 30)
    by_case = bootstrap_auc(y, s, cases, n_boot=400, seed=0)
    assert 0.35 < by_case.n_valid / 400 < 0.65
    assert by_case.n_groups == 2
    by_patch = bootstrap_auc(y, s, np.arange(60), n_boot=400, seed=0)
    assert by_patch.n_valid == 400


def test_case_bootstrap_is_wider_than_a_patch_bootstrap_on_correlated_patches():
    # Each case shifts all of its patches' scores: patches of a case are not independent.
    rng = np.random.default_rng(3)
    cases = np.repeat(np.arange(20), 30)
    y = np.repeat(rng.integers(0, 2, 20), 30)
    s = y * 0.8 + np.repeat(rng.normal(scale=1.0, size=20), 30) + rng.normal(scale=0.2, size=600)
    clustered = bootstrap_auc(y, s, cases, n_boot=300, seed=0)
    naive = bootstrap_auc(y, s, np.arange(600), n_boot=300, seed=0)
    assert clustered.high - clustered.low > 2 * (naive.high - naive.low)


def test_bootstrap_with_too_few_patients_gives_no_interval():
    y, s = np.array([0, 1]), np.array([0.2, 0.8])
    assert bootstrap_auc(y, s, np.array(["a", "b"]), n_boot=5) is None


# ---------------------------------------------------------------- levels and group scores


def _scores() -> EvalScores:
    """Two patients; patient p1 has two images, one with a calcification patch."""
    return EvalScores(
        ("no-calcification", "calcification"),
        ("calcification",),
        np.array([0, 1, 0, 0, 0, 0]),
        np.array([[0.9, 0.1], [0.3, 0.7], [0.8, 0.2], [0.6, 0.4], [0.95, 0.05], [0.45, 0.55]]),
        ["c1", "c1", "c1", "c2", "c2", "c2"],
        ["p1", "p1", "p1", "p2", "p2", "p2"],
        ["c1/CC", "c1/CC", "c1/MLO", "c2/CC", "c2/CC", "c2/MLO"],
    )


def test_group_scores_rule_max_and_mean():
    ids, y, s = group_scores(
        np.array([0, 1, 0]), np.array([0.2, 0.6, 0.4]), np.array(["b", "b", "a"])
    )
    assert ids.tolist() == ["a", "b"] and y.tolist() == [0, 1] and s.tolist() == [0.4, 0.6]
    _, _, mean = group_scores(
        np.array([0, 1, 0]), np.array([0.2, 0.6, 0.4]), np.array(["b", "b", "a"]), "mean"
    )
    assert mean.tolist() == pytest.approx([0.4, 0.4])
    with pytest.raises(ValueError, match="unknown grouping rule"):
        group_scores(np.array([0]), np.array([0.1]), np.array(["a"]), "median")


def test_image_and_case_levels_take_the_most_suspicious_patch():
    scores = _scores()
    image = scores.binary("image")
    assert image.ids.tolist() == ["c1/CC", "c1/MLO", "c2/CC", "c2/MLO"]
    assert image.y.tolist() == [1, 0, 0, 0]
    assert image.score.tolist() == [0.7, 0.2, 0.4, 0.55]
    assert image.patients.tolist() == ["p1", "p1", "p2", "p2"]
    case = scores.binary("case")
    assert case.y.tolist() == [1, 0] and case.score.tolist() == [0.7, 0.55]
    m = threshold_metrics(scores, "image", 0.5)
    assert m.confusion_matrix == [[2, 1], [0, 1]]  # c2/MLO at 0.55 is a false positive
    assert (m.sensitivity, m.specificity, m.ppv) == (1.0, 2 / 3, 0.5)
    assert threshold_metrics(scores, "image", 0.6).specificity == 1.0
    with pytest.raises(ValueError, match="unknown level"):
        scores.binary("breast")


def test_three_class_per_class_metrics_average_probabilities_per_case():
    classes = ("normal", "benign", "suspicious")
    scores = EvalScores(
        classes,
        positives_for(classes, {"suspicious": ["suspicious"]}),
        np.array([0, 0, 1, 1, 2, 2]),
        np.array(
            [
                [0.8, 0.1, 0.1],
                [0.4, 0.5, 0.1],
                [0.2, 0.7, 0.1],
                [0.3, 0.3, 0.4],
                [0.1, 0.2, 0.7],
                [0.1, 0.1, 0.8],
            ]
        ),
        ["n", "n", "b", "b", "s", "s"],
        ["n", "n", "b", "b", "s", "s"],
        ["n/CC", "n/MLO", "b/CC", "b/MLO", "s/CC", "s/MLO"],
    )
    assert scores.positive_label == "suspicious"
    patch = class_metrics(scores, "patch")
    assert patch["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert patch["per_class"]["suspicious"]["sensitivity"] == 1.0
    case = class_metrics(scores, "case")  # mean probabilities: n, b, s each right
    assert case["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert set(case["per_class"]) == set(classes)
    assert class_metrics(_scores(), "patch") is None  # binary task: no per-class table
    susp = scores.binary("patch")
    assert susp.y.tolist() == [0, 0, 0, 0, 1, 1]


def test_analyse_gives_curves_ci_youden_and_says_when_undefined():
    scores = _scores()
    a = analyse(scores, "patch", n_boot=200)
    assert a.auc == pytest.approx(1.0) and a.roc is not None and a.pr is not None
    assert a.youden is not None and a.n_patients == 2
    assert any("only 2 patients" in n for n in a.notes) or a.auc_ci is None
    one_class = EvalScores(
        scores.classes, scores.positive, np.zeros(6, int), scores.proba,
        scores.case_ids, scores.patient_ids, scores.image_keys,
    )  # fmt: skip
    b = analyse(one_class, "case")
    assert b.auc is None and b.roc is None and "only one class" in b.notes[0]


def test_scores_round_trip_through_json():
    scores = _scores()
    back = EvalScores.from_json(json.loads(json.dumps(scores.as_json())))
    assert back.classes == scores.classes and np.allclose(back.proba, scores.proba)
    assert back.image_keys.tolist() == scores.image_keys.tolist()
    with pytest.raises(ValueError, match="lack a field"):
        EvalScores.from_json({"classes": ["a", "b"]})


# ---------------------------------------------------------------- cached evaluations


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def registry(tiny_model, tmp_path) -> Path:
    """A private copy of the tiny model's registry, so caches do not leak between tests."""
    root = tmp_path / "models"
    shutil.copytree(tiny_model.path, root / tiny_model.model_id)
    return root


def test_cache_file_written_then_reused(registry, tiny_data, tiny_model, monkeypatch):
    from mcalc.models import evaluate as ev
    from mcalc.models import inference

    folder = registry / tiny_model.model_id
    before = {name: _digest(folder / name) for name in ("model.keras", "card.json")}
    first = ev.evaluate_model(tiny_model.model_id, tiny_data, registry, cache=True)
    assert first.scope == "test-split" and not first.from_cache
    card = load_card(folder)
    assert first.metrics == card.test_metrics
    path = ev.evaluation_path(folder, first.fingerprint)
    assert path.is_file() and path.parent.parent.name == "evaluations"
    assert len(first.scores) == first.metrics["n"]
    assert set(first.scores.case_ids) <= set(first.cases)

    def no_prediction(*args, **kwargs):
        raise AssertionError("the cached evaluation should have been reused")

    monkeypatch.setattr(inference, "predict_patches", no_prediction)
    monkeypatch.setattr(inference, "load_model", no_prediction)
    again = ev.evaluate_model(tiny_model.model_id, tiny_data, registry, cache=True)
    assert again.from_cache and again.metrics == first.metrics
    assert np.allclose(again.scores.proba, first.scores.proba, atol=1e-6)
    at_03 = ev.evaluate_model(tiny_model.model_id, tiny_data, registry, cache=True, threshold=0.3)
    assert at_03.metrics["threshold"] == 0.3
    assert json.loads(path.read_text())["metrics"]["threshold"] == 0.5
    assert {name: _digest(folder / name) for name in before} == before  # never modified
    monkeypatch.undo()

    # A changed model file makes the cache stale; a corrupt cache is computed again.
    from mcalc.dataset import open_dataset

    files = ev.data_files(open_dataset(tiny_data), first.cases)
    assert ev.load_evaluation(card, first.fingerprint, files) is not None
    stat = (folder / "model.keras").stat()
    os.utime(folder / "model.keras", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ev.load_evaluation(card, first.fingerprint, files) is None
    path.write_text("{")
    assert ev.load_evaluation(card, first.fingerprint, files) is None
    fresh = ev.evaluate_model(tiny_model.model_id, tiny_data, registry, cache=True)
    assert not fresh.from_cache and ev.load_evaluation(card, first.fingerprint, files) is not None


def test_corrupt_model_is_a_model_error(registry, tiny_data, tiny_model):
    from mcalc.models.evaluate import evaluate_model

    bad = registry / "broken"
    shutil.copytree(registry / tiny_model.model_id, bad)
    (bad / "model.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match="cannot load model"):
        evaluate_model("broken", tiny_data, registry)


def test_dataset_without_the_needed_labels_is_a_dataset_error(
    registry, tiny_data, tiny_model, tmp_path
):
    from mcalc.models.evaluate import evaluate_model

    images = sorted((tiny_data / "Dataset").rglob("*_prior.dcm"))[:4]
    rows = ["case_id,view,timepoint,image"]
    rows += [f"x{i},{p.stem.split('_')[0]},prior,{p}" for i, p in enumerate(images)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="needs annotation masks"):
        evaluate_model(tiny_model.model_id, manifest, registry)
    # A birads model (only its card is read before the check) on cases without BI-RADS.
    birads = registry / "birads-card"
    shutil.copytree(registry / tiny_model.model_id, birads)
    card = json.loads((birads / "card.json").read_text())
    card.update(task="birads", classes=["normal", "benign", "suspicious"])
    (birads / "card.json").write_text(json.dumps(card))
    with pytest.raises(DatasetError, match="needs a BI-RADS category"):
        evaluate_model("birads-card", manifest, registry)


def test_cli_evaluate_threshold_and_bootstrap(registry, tiny_data, tiny_model, capsys):
    from mcalc.cli import main

    base = ["evaluate", "--model", tiny_model.model_id, "--data", str(tiny_data)]
    base += ["--models", str(registry), "--json"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    card = load_card(registry / tiny_model.model_id)
    assert "analysis" not in plain and plain["metrics"] == card.test_metrics
    assert main([*base, "--threshold", "0.3", "--bootstrap", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["threshold"] == 0.3
    assert set(out["analysis"]) == {"patch", "image", "case"}
    patch = out["analysis"]["patch"]
    assert patch["at_threshold"]["threshold"] == 0.3 and patch["n"] == plain["metrics"]["n"]
    assert patch["auc"] == pytest.approx(plain["metrics"]["auc"], abs=1e-6)
    assert patch["auc_ci"] is None or patch["auc_ci"]["resampled"] == "patients"
    assert main([*base, "--threshold", "2"]) == 2
    assert "--threshold must lie in [0, 1]" in capsys.readouterr().err


def test_zero_width_interval_from_few_patients_reads_na():
    assert ci_text(None, 3) is None
    assert ci_text(ConfidenceInterval(1.0, 1.0, 0.95, 1000, 1000, 3, 0), 3) == "n/a (3 patients)"
    assert ci_text(ConfidenceInterval(0.8, 0.9, 0.95, 1000, 1000, 3, 0), 3) == "0.800–0.900"


def test_legend_and_table_show_the_interval_alike():
    """A perfect model on 3 patients: the table said "n/a (3 patients)" while the ROC
    legend said "AUC 1.000 (95% CI 1.000–1.000)"; both now ask ci_text."""
    from mcalc.models.analysis import summary_row
    from mcalc.present.eval_figures import CurveEntry, auc_text, roc_figure

    scores = EvalScores(
        ("no", "yes"),
        ("yes",),
        np.array([0, 1, 0, 1, 0, 1]),
        np.array([[0.9, 0.1], [0.1, 0.9]] * 3),
        ["a", "a", "b", "b", "c", "c"],
        ["a", "a", "b", "b", "c", "c"],
        list("abcdef"),
    )
    analysis = analyse(scores, "patch", n_boot=200)
    assert analysis.auc == 1.0 and analysis.auc_ci is not None
    row = summary_row("m", analysis, threshold_metrics(scores, "patch", 0.5))
    assert row["AUC 95% CI"] == "n/a (3 patients)"
    assert auc_text(analysis) == "AUC 1.000, 95% CI n/a (3 patients)"
    legend = [t.name for t in roc_figure([CurveEntry("m", analysis, 0.5, None)], anchors=()).data]
    assert "m · AUC 1.000, 95% CI n/a (3 patients)" in legend
    assert not any("1.000–1.000" in name for name in legend)


@pytest.mark.slow  # three evaluations of the tiny model: about 2 s
def test_a_data_file_rewritten_at_the_same_size_is_scored_again(
    registry, tiny_data, tiny_model, tmp_path
):
    """The data fingerprint reads names and sizes: a test image rewritten at the same size
    (here: its last pixels reversed) kept it, and the cached evaluation of the data before
    the change was served as this data's ("scored from the cache"). So was a copy's."""
    from mcalc.dataset import open_dataset
    from mcalc.models import evaluate as ev
    from mcalc.models.fingerprint import dataset_fingerprint

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    first = ev.evaluate_model(tiny_model.model_id, data, registry, cache=True)
    assert first.scope == "test-split" and not first.from_cache
    assert ev.evaluate_model(tiny_model.model_id, data, registry, cache=True).from_cache
    index = open_dataset(data)
    case = next(c for c in index.cases if c.case_id == first.cases[0])
    image = next(Path(r.image_path) for r in case.images if r.image_path is not None)
    raw = image.read_bytes()
    image.write_bytes(raw[:-4096] + raw[-4096:][::-1])  # the header kept, pixels changed
    assert dataset_fingerprint(open_dataset(data)) == first.fingerprint
    again = ev.evaluate_model(tiny_model.model_id, data, registry, cache=True)
    assert not again.from_cache
    # Another copy of the same data (same fingerprint) is scored, not served this one's.
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    assert dataset_fingerprint(open_dataset(other)) == first.fingerprint
    assert not ev.evaluate_model(tiny_model.model_id, other, registry, cache=True).from_cache
