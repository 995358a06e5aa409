"""Paired comparison of two models on the same cases: AUC difference by patient bootstrap."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mcalc.models.analysis import paired_comparison
from mcalc.models.curves import paired_auc
from mcalc.models.scores import EvalScores
from tests.models_fixtures import tiny_data_fixture, tiny_model_fixture  # noqa: F401


def test_paired_auc_by_hand_and_seeded() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    a = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])  # perfect: AUC 1
    b = np.array([0.1, 0.9, 0.8, 0.2, 0.3, 0.7])  # pairs won: 0.8>0.1,0.3; 0.2>0.1; 0.7>0.1,0.3
    r = paired_auc(y, a, b, np.array(["p1", "p1", "p2", "p2", "p3", "p3"]), n_boot=300, seed=1)
    assert (r.auc_a, r.auc_b) == (1.0, pytest.approx(5 / 9))
    assert r.difference == pytest.approx(1 - 5 / 9) and r.n_groups == 3
    assert r.low is not None and r.low <= r.difference <= r.high
    assert paired_auc(y, a, b, np.arange(6), n_boot=300, seed=1) == paired_auc(
        y, a, b, np.arange(6), n_boot=300, seed=1
    )
    # A model against itself: every resample differs by exactly 0.
    same = paired_auc(y, a, a, np.arange(6), n_boot=100)
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="one length"):
        paired_auc(y, a, b[:3], np.arange(6))


def _scores(case_score: dict[str, float], positive: set[str]) -> EvalScores:
    cases = list(case_score)
    p = np.asarray([case_score[c] for c in cases])
    return EvalScores(
        ("no", "yes"),
        ("yes",),
        np.asarray([int(c in positive) for c in cases]),
        np.stack([1 - p, p], axis=1),
        cases,
        cases,
        cases,
    )


def test_paired_comparison_uses_common_cases_only() -> None:
    a = _scores({"a": 0.1, "b": 0.9, "c": 0.2, "d": 0.8, "x": 0.5}, {"b", "d"})
    b = _scores({"a": 0.6, "b": 0.4, "c": 0.2, "d": 0.8}, {"b", "d"})
    out = paired_comparison(a, b, "case", n_boot=100)
    assert out["n"] == 4 and out["auc_a"] == 1.0 and out["auc_b"] == 0.75
    # 4 patients: the bootstrap's interval and p-value come with the few-patients note.
    assert len(out["notes"]) == 1 and "only 4 patients" in out["notes"][0]
    many = {f"c{i}": i / 20 for i in range(12)}
    assert (
        paired_comparison(
            _scores(many, {"c9", "c10", "c11"}),
            _scores(many, {"c9", "c10", "c11"}),
            "case",
            n_boot=20,
        )["notes"]
        == []
    )
    with pytest.raises(ValueError, match="level image or case"):
        paired_comparison(a, b, "patch")
    with pytest.raises(ValueError, match="disagree on the truth"):
        paired_comparison(a, _scores({"a": 0.6, "b": 0.4}, {"a"}), "case")
    # Both scored on the same dataset, each on its own test patients (two cross-validation
    # folds): "evaluate both models on the same dataset" told them to do what they had done.
    with pytest.raises(ValueError, match="share no case") as said:
        paired_comparison(a, _scores({"z": 0.6, "w": 0.4}, {"z"}), "case")
    assert "own test patients" in str(said.value)
    assert "on the same dataset" not in str(said.value)


def test_paired_comparison_of_one_class_says_why_and_what_to_do() -> None:
    # Two models scored on their own test patients (a cross-validation fold against a model
    # of another split): they share one case, a negative one.
    a = _scores({"a": 0.1, "b": 0.9, "c": 0.2}, {"b"})
    b = _scores({"c": 0.3, "d": 0.8, "e": 0.4, "f": 0.7}, {"d", "f"})
    with pytest.raises(ValueError) as info:
        paired_comparison(a, b, "case", n_boot=10)
    message = str(info.value)
    assert "1 case both models scored is negative (yes: 0 of 1)" in message
    assert "scored on different cases (3 and 4" in message
    assert "same split" in message
    # The same items, all positive: not a question of splits.
    same = _scores({"a": 0.1, "b": 0.9}, {"a", "b"})
    with pytest.raises(ValueError, match=r"all positive .*compare on more data, or at the image"):
        paired_comparison(same, same, "case", n_boot=10)


def test_cli_compare_prints_delongs_caveat_beside_its_p_value(capsys) -> None:
    """A user check: ``compare`` printed "DeLong: 95% CI ..., p 0.028" without its caveat
    (items of few patients taken as independent), which the JSON carried as delong.note:
    the note was printed only when there was no test."""
    from mcalc.cli.compare import print_comparison

    many = {f"c{i}": i / 20 for i in range(12)}
    other = {c: 1 - v if c in ("c1", "c10") else v for c, v in many.items()}
    out = paired_comparison(
        _scores(many, {"c9", "c10", "c11"}), _scores(other, {"c9", "c10", "c11"}), "case", n_boot=20
    )
    out = {"model_a": "A", "model_b": "B", **out}
    out["delong"]["note"] = "12 items from 3 patients: DeLong treats items as independent"
    print_comparison(out, "image")
    lines = capsys.readouterr().out.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("  DeLong: 95% CI")]
    assert lines[at + 1] == (
        "    note: 12 items from 3 patients: DeLong treats items as independent"
    )


@pytest.mark.slow
def test_cli_compare_a_model_with_its_copy(tiny_model, tiny_data, tmp_path, capsys) -> None:
    from mcalc.cli import main

    reg = tmp_path / "models"
    shutil.copytree(tiny_model.path, reg / "a")
    shutil.copytree(tiny_model.path, reg / "b")
    args = ["compare", "--model", "a", "--model", "b", "--data", str(tiny_data)]
    args += ["--models", str(reg), "--level", "image", "--bootstrap", "50", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["difference"] == 0.0 and out["auc_a"] == out["auc_b"] and out["level"] == "image"
    assert main(args[:3] + args[5:]) == 2
    assert "exactly two --model" in capsys.readouterr().err
    # One model twice, by id or by id and path: refused (it printed AUC 1.000 vs 1.000, p 1).
    for other in ("a", str(reg / "a")):
        assert main([*args[:4], other, *args[5:]]) == 2
        err = capsys.readouterr().err
        assert "two different models, got a twice" in err, err


def _birads(case_group: dict[str, str], score: dict[str, float]) -> EvalScores:
    """One recent image per case of a birads model, every patch labelled with its case's
    group (as training labels them), ``p(suspicious)`` the case's score."""
    classes = ("normal", "benign", "suspicious")
    cases = list(case_group)
    p = np.asarray([score[c] for c in cases])
    rest = (1 - p) / 2
    return EvalScores(
        classes,
        ("suspicious",),
        np.asarray([classes.index(case_group[c]) for c in cases]),
        np.stack([rest, rest, p], axis=1),
        cases,
        cases,
        [f"{c}/CC_recent" for c in cases],
    )


GROUPS = {"n1": "normal", "n2": "normal", "b1": "benign", "b2": "benign", "s1": "suspicious",
          "s2": "suspicious"}  # fmt: skip


def test_the_papers_task_leaves_the_normal_cases_out() -> None:
    """`compare --level case` of two birads models compared suspicious vs the rest, every
    normal (BI-RADS 1) case a negative; the papers compare benign vs suspicious."""
    # A ranks both suspicious above both benign but below the normal ones; B the reverse of
    # A among benign and suspicious.
    a = _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7})
    b = _birads(GROUPS, {"n1": 0.1, "n2": 0.1, "b1": 0.6, "b2": 0.7, "s1": 0.2, "s2": 0.3})
    every = paired_comparison(a, b, "case", n_boot=20)
    assert (every["n"], every["positives"], every["left_out"], every["cases"]) == (6, 2, 0, "all")
    assert every["auc_a"] == 0.5  # each suspicious case beats the two benign, not the normal
    papers = paired_comparison(a, b, "case", n_boot=20, cases="benign_vs_suspicious")
    assert (papers["n"], papers["positives"], papers["left_out"]) == (4, 2, 2)
    assert (papers["auc_a"], papers["auc_b"], papers["difference"]) == (1.0, 0.0, 1.0)
    assert papers["cases_text"].startswith("benign vs suspicious, normal cases left out")
    assert papers["delong"]["n_positive"] == 2 and papers["delong"]["n_negative"] == 2
    assert papers["prior_images"] is False
    with pytest.raises(ValueError, match="per case: compare at the case level"):
        paired_comparison(a, b, "image", cases="benign_vs_suspicious")
    # A calcification model's truth is a calcification in the patch, not the case's group.
    calc = _scores({"a": 0.1, "b": 0.9}, {"b"})
    with pytest.raises(ValueError, match="train them with --task birads"):
        paired_comparison(calc, calc, "case", cases="benign_vs_suspicious")
    normal = {"n1": "normal", "n2": "normal"}
    with pytest.raises(ValueError, match="2 cases both models scored are all normal"):
        paired_comparison(
            _birads(normal, {"n1": 0.1, "n2": 0.2}),
            _birads(normal, {"n1": 0.3, "n2": 0.2}),
            "case",
            cases="benign_vs_suspicious",
        )


def test_compare_sets_the_published_pair_beside_ours_on_the_papers_task(
    monkeypatch, capsys, tiny_demo
) -> None:
    """`compare` printed no published number, though the published comparison on this
    dataset is exactly two models compared (recent image alone vs with the prior)."""
    from types import SimpleNamespace

    import mcalc.models.evaluate as evaluate
    import mcalc.models.registry as registry
    from mcalc.cli import main
    from mcalc.models.card import CardDecisionThreshold
    from mcalc.models.evaluate import EvaluationResult

    scores = {
        "tmp": _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}),
        "rec": _birads(GROUPS, {"n1": 0.1, "n2": 0.1, "b1": 0.6, "b2": 0.7, "s1": 0.2, "s2": 0.3}),
    }

    def fake_evaluate(model, data, models_dir, **kwargs):
        return EvaluationResult(model, data, "test-split", list(GROUPS), {}, None, "birads",
                                scores=scores[model])  # fmt: skip

    monkeypatch.setattr(evaluate, "evaluate_model", fake_evaluate)
    monkeypatch.setattr(registry, "resolve_model", lambda m, d: m)
    chosen = {"value": 0.65, "source": "Youden's J on validation"}
    monkeypatch.setattr(
        registry,
        "load_card",
        lambda m: SimpleNamespace(
            patch=SimpleNamespace(temporal=m == "tmp"),
            decision_threshold=None if m == "tmp" else CardDecisionThreshold.from_json(chosen),
            extra={},
        ),
    )
    # A synthetic set that exists in a clean clone too (data/demo is made on first start):
    # "data/demo" read "not known (the data cannot be opened)" there.
    args = ["compare", "--model", "tmp", "--model", "rec", "--data", str(tiny_demo)]
    assert main([*args, "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "Loizidou" not in out and "--cases benign-vs-suspicious" in out
    assert main([*args, "--bootstrap", "20", "--cases", "benign-vs-suspicious"]) == 0
    out = capsys.readouterr().out
    assert "tmp - rec on 4 cases (2 positive, 4 patients): AUC 1.000 vs 0.000" in out
    assert (
        "benign vs suspicious, normal cases left out (the published work's task); 2 normal" in out
    )
    assert "Loizidou 2021 (recent image alone / temporal subtraction): AUC 0.810 vs 0.870, " \
        "difference +0.060" in out  # fmt: skip
    # Ours as theirs: the recent-only model without the prior, the difference with - without.
    assert "ours (rec (recent-only) / tmp (subtraction)): AUC 0.000 vs 1.000, difference " \
        "+1.000; accuracy 0.000 / 1.000; 4 cases (4 patients), held-out test patients; data: " \
        "SYNTHETIC demo data" in out  # fmt: skip
    assert "ours are on synthetic data: not comparable" in out
    # Both accuracies at 0.5 on the case scores, beside the 2020 pair; rec's card threshold
    # (0.65, a map score) named in other units, not used.
    assert "  accuracy at 0.50 (both models): 1.000 vs 0.000 (4 and 0 of 4), difference " \
        "1.000\n    threshold: Evaluate's default on patch probabilities" in out  # fmt: skip
    assert "in other units: tmp 0.5 (default, as the model card names none) and rec 0.65 " \
        "(Youden's J on validation)\n  McNemar exact: p 0.125 (only tmp right on 4, only " \
        "rec on 0)" in out  # fmt: skip
    assert "Loizidou 2020 (without subtraction / with subtraction): accuracy 0.914 / 0.996" in out
    assert "accuracy +1.000, McNemar exact p 0.125 (only tmp right on 4, only rec on 0" in out
    assert main([*args, "--bootstrap", "20", "--cases", "benign-vs-suspicious", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["cases"] == "benign_vs_suspicious" and js["left_out"] == 2
    assert (js["accuracy"]["accuracy_a"], js["accuracy"]["accuracy_b"]) == (1.0, 0.0)
    assert js["accuracy"]["card_thresholds"]["rec"]["source"] == "Youden's J on validation"
    assert js["published"][-1]["accuracy without / with"] == "0.000 / 1.000"
    assert [r["result"] for r in js["published"]] == ["Loizidou 2021", "Loizidou 2020", "ours"]
    assert main([*args, "--level", "image", "--cases", "benign-vs-suspicious"]) == 2
    assert "compare at the case level" in capsys.readouterr().err


def test_mcnemars_exact_test_against_a_textbook_value_and_by_hand() -> None:
    """Fagerland, Lydersen & Laake 2013 (BMC Med Res Methodol 13:91): b = 1, c = 7 gives
    the exact conditional p 0.070; by hand 2 * (C(8,0) + C(8,1)) / 2**8."""
    from math import comb

    from mcalc.models.mcnemar import mcnemar_exact

    assert round(mcnemar_exact(1, 7), 3) == 0.070
    assert mcnemar_exact(7, 1) == pytest.approx(2 * (comb(8, 0) + comb(8, 1)) / 2**8)
    assert mcnemar_exact(2, 10) == pytest.approx(2 * sum(comb(12, k) for k in range(3)) / 2**12)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError, match="counts >= 0"):
        mcnemar_exact(-1, 2)


def test_the_papers_task_gives_both_models_accuracies_at_one_threshold() -> None:
    """`compare` gave AUCs only, so the Loizidou 2020 pair (accuracies only) had nothing of
    ours beside it. Both models decide at one stated threshold on their scores, McNemar's
    exact test on the cases only one of them got right."""
    a = _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7})
    b = _birads(GROUPS, {"n1": 0.1, "n2": 0.1, "b1": 0.6, "b2": 0.7, "s1": 0.2, "s2": 0.3})
    out = paired_comparison(
        a, b, "case", n_boot=10, cases="benign_vs_suspicious", threshold=(0.65, "given")
    )
    acc = out["accuracy"]
    # At 0.65: A gets b1, b2 (0.1, 0.2) and s2 (0.7) right, s1 (0.6) wrong; B b1 (0.6) only.
    assert (acc["correct_a"], acc["correct_b"], acc["n"]) == (3, 1, 4)
    assert (acc["accuracy_a"], acc["accuracy_b"], acc["difference"]) == (0.75, 0.25, 0.5)
    assert (acc["a_only"], acc["b_only"], acc["p_value"]) == (2, 0, 0.5)
    assert (acc["threshold"], acc["threshold_source"]) == (0.65, "given")
    assert "2 discordant cases" in acc["notes"][0]
    assert "accuracy" not in paired_comparison(a, b, "case", n_boot=10)


def _two_cards(monkeypatch, scores: dict[str, EvalScores], cards: dict[str, dict | None]) -> None:
    """``compare``'s models given: their evaluations (``scores``) and their cards' decision
    thresholds (``cards``; ``None``: the card names none)."""
    from types import SimpleNamespace

    import mcalc.models.evaluate as evaluate
    import mcalc.models.registry as registry
    from mcalc.models.card import CardDecisionThreshold
    from mcalc.models.evaluate import EvaluationResult

    def fake_evaluate(model, data, models_dir, **kwargs):
        return EvaluationResult(model, data, "test-split", ["x"], {}, None, "calcification",
                                scores=scores[model])  # fmt: skip

    monkeypatch.setattr(evaluate, "evaluate_model", fake_evaluate)
    monkeypatch.setattr(registry, "resolve_model", lambda m, d: m)
    monkeypatch.setattr(
        registry,
        "load_card",
        lambda m: SimpleNamespace(
            patch=SimpleNamespace(temporal=False),
            decision_threshold=None
            if cards[m] is None
            else CardDecisionThreshold.from_json(cards[m]),
            extra={},
        ),
    )


def test_compare_reads_the_accuracies_in_the_scores_units_not_at_a_cards_map_score_threshold(
    monkeypatch, capsys, tiny_demo
) -> None:
    """`compare` read each model's case scores (the maximum of sampled patch probabilities)
    at its card's decision threshold, a map-score threshold of whole images (demo-custom's
    0.921513): every positive case scored between 0.5 and 0.92 read negative. Both are now
    read at 0.5, Evaluate's default on patch probabilities, or at --threshold."""
    from mcalc.cli import main

    cases = {"p1": 0.62, "p2": 0.75, "p3": 0.9, "n1": 0.1, "n2": 0.3, "n3": 0.55}
    other = {"p1": 0.58, "p2": 0.4, "p3": 0.85, "n1": 0.2, "n2": 0.1, "n3": 0.3}
    positive = {"p1", "p2", "p3"}
    youden = {"value": 0.921513, "source": "Youden's J on 12 validation images"}
    _two_cards(
        monkeypatch,
        {"a": _scores(cases, positive), "b": _scores(other, positive)},
        {"a": youden, "b": None},
    )
    args = ["compare", "--model", "a", "--model", "b", "--data", str(tiny_demo)]
    args += ["--bootstrap", "20"]
    assert main(args) == 0
    out = capsys.readouterr().out
    # a: the 3 positives (0.62-0.9) right and n3 (0.55) wrong; b: p2 (0.4) wrong.
    assert "accuracy at 0.50 (both models): 0.833 vs 0.833 (5 and 5 of 6)" in out, out
    assert "McNemar exact: p 1.000 (only a right on 1, only b on 1)" in out, out
    why = [line for line in out.splitlines() if line.startswith("    threshold:")]
    assert len(why) == 1, out
    assert "Evaluate's default on patch probabilities" in why[0]
    assert "a 0.921513 (Youden's J on 12 validation images)" in why[0]
    assert "b 0.5 (default, as the model card names none)" in why[0]
    assert "map score threshold of whole images, in other units" in why[0]
    assert main([*args, "--json"]) == 0
    acc = json.loads(capsys.readouterr().out)["accuracy"]
    assert (acc["threshold"], acc["correct_a"], acc["correct_b"]) == (0.5, 5, 5)
    assert acc["card_thresholds"] == {
        "a": {"value": 0.921513, "source": "Youden's J on 12 validation images"},
        "b": {"value": 0.5, "source": "default, as the model card names none"},
    }
    # At a card's value on request, said so: a's positives all read negative there.
    assert main([*args, "--threshold", "0.921513", "--json"]) == 0
    acc = json.loads(capsys.readouterr().out)["accuracy"]
    assert (acc["threshold"], acc["correct_a"], acc["correct_b"]) == (0.921513, 3, 3)
    assert acc["threshold_source"].startswith("given with --threshold")
    for bad in ("1.5", "-0.1", "nan"):
        assert main([*args, "--threshold", bad]) == 2
        err = capsys.readouterr().err
        assert f"--threshold must lie in [0, 1], got {bad}" in err, err
