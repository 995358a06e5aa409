"""Case-level BI-RADS classification: aggregation rules and metrics by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mcalc.models.birads_eval import CaseFeatures, case_scores, evaluate_birads


def _case(i: int, group: str, scores, biopsy=None, det=0, classes=None) -> CaseFeatures:
    return CaseFeatures(f"c{i}", f"p{i}", group, biopsy, tuple(scores), det, 0, classes)


CASES = [
    _case(0, "normal", (0.1, 0.2)),
    _case(1, "benign", (0.3, 0.5)),
    _case(2, "suspicious", (0.4, 0.9), biopsy="DCIS"),
    _case(3, "suspicious", (0.2, 0.4), biopsy="benign"),
]


def test_max_and_mean_rules() -> None:
    assert case_scores(CASES, "max")[0].tolist() == [0.2, 0.5, 0.9, 0.4]
    assert case_scores(CASES, "mean")[0] == pytest.approx([0.15, 0.4, 0.65, 0.3])
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        case_scores(CASES, "median")


def test_binary_metrics_by_hand() -> None:
    out = evaluate_birads(CASES, rule="max", threshold=0.45, n_boot=200)
    m = out["all"]
    # max scores 0.2 0.5 | 0.9 0.4 (suspicious): pairs won 0.9>0.2, 0.9>0.5, 0.4>0.2 -> 3/4.
    assert m["auc"] == 0.75 and m["n"] == 4 and m["suspicious"] == 2
    at = m["at_threshold"]  # positive at >= 0.45: 0.5 (benign, FP), 0.9 (TP)
    assert (at["sensitivity"], at["specificity"], at["accuracy"]) == (0.5, 0.5, 0.5)
    assert at["confusion_matrix"] == [[1, 1], [1, 1]]
    # Youden: threshold 0.4 (sens 1, spec 0.5) and 0.9 (sens 0.5, spec 1) tie at J 0.5;
    # on ties the higher threshold wins (curves.youden): 0.9.
    assert m["youden"]["threshold"] == 0.9 and m["youden"]["specificity"] == 1.0
    assert "no three-class scores" in " ".join(m["notes"])
    b = out["biopsy_confirmed"]
    assert b["n"] == 2 and "auc" not in b  # both biopsied cases are suspicious
    assert [c["score"] for c in out["cases"]] == [0.2, 0.5, 0.9, 0.4]
    # 4 patients: the interval carries the few-patients note, as the other levels' do.
    assert "only 4 patients" in " ".join(m["notes"])


def test_a_zero_width_interval_of_few_patients_reads_n_a() -> None:
    """3 cases, the suspicious one scored highest: every usable resample gives AUC 1, so the
    interval is 1.000-1.000, which with 3 patients is no interval (as on the other levels)."""
    from mcalc.present.report import birads_rows

    cases = [_case(0, "normal", (0.1,)), _case(1, "benign", (0.2,)), _case(2, "suspicious", (0.9,))]
    m = evaluate_birads(cases, rule="max", n_boot=200)["all"]
    assert m["auc_ci"] == [1.0, 1.0] and m["patients"] == 3
    assert birads_rows(m)[0]["AUC 95% CI"] == "n/a (3 patients)"


def test_three_class_scores_of_a_birads_model() -> None:
    cls = [
        _case(0, "normal", (0.1,), classes=((0.8, 0.1, 0.1),)),
        _case(1, "benign", (0.2,), classes=((0.2, 0.7, 0.1),)),
        _case(2, "suspicious", (0.9,), classes=((0.1, 0.2, 0.7),)),
    ]
    m = evaluate_birads(cls, rule="max", n_boot=0)["all"]
    assert m["confusion_matrix_3class"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert m["accuracy_3class"] == 1.0
    assert m["per_class_auc"] == {"normal": 1.0, "benign": 1.0, "suspicious": 1.0}


def test_logistic_rule_is_fitted_on_training_cases_only() -> None:
    rng = np.random.default_rng(0)
    train = [
        _case(10 + i, g, (s, s / 2), det=d)
        for i, (g, s, d) in enumerate(
            [("normal", 0.1, 0), ("benign", 0.2, 1), ("suspicious", 0.8, 5), ("suspicious", 0.9, 7)]
            * 3
        )
    ]
    score, groups = case_scores(CASES, "logistic", train)
    assert score.shape == (4,) and groups is not None and groups.shape == (4, 3)
    assert score[2] > score[0]  # the most suspicious evaluated case scores highest
    # Changing the evaluated cases does not change the fit: same case, same score.
    again, _ = case_scores([CASES[2], _case(9, "normal", tuple(rng.random(2)))], "logistic", train)
    assert again[0] == pytest.approx(score[2])
    with pytest.raises(ValueError, match="not both suspicious and not"):
        case_scores(CASES, "logistic", [c for c in train if c.group == "normal"])


def test_new_findings_since_the_prior_are_counted_through_the_registration(
    tiny_demo, monkeypatch
) -> None:
    """Detections on the recent image without a counterpart on the registered prior are new;
    an identity registration stands in for the real one (tested in test_temporal)."""
    from types import SimpleNamespace

    import mcalc.temporal
    from mcalc.dataset import open_dataset
    from mcalc.explain.birads_run import change_counts
    from mcalc.explain.detection_eval import (
        DetectionEvalSettings,
        DetectionEvaluation,
        ImageDetections,
    )
    from mcalc.models.detection import Detection
    from mcalc.temporal.register import Registration

    case = open_dataset(tiny_demo).cases[0]
    identity = np.zeros((4, 4, 2), np.float32)
    reg = Registration((256, 208), (256, 208), 0.4, identity, identity, "affine", None, False)
    monkeypatch.setattr(
        mcalc.temporal, "register_pair", lambda *a, **k: SimpleNamespace(registration=reg)
    )

    def image(view: str, timepoint: str, points: list[tuple[int, int, float]]) -> ImageDetections:
        dets = tuple(Detection(2 * r, 2 * c, s, 0.5) for r, c, s in points)  # model grid x2
        return ImageDetections(f"{case.case_id}/{view}_{timepoint}", case.case_id,
                               case.patient_id, dets, 0, 0, (0.2, 0.2), 2.0)  # fmt: skip

    images = [
        image("CC", "recent", [(100, 80, 0.9), (30, 40, 0.8), (200, 150, 0.3)]),
        image("CC", "prior", [(102, 81, 0.7)]),  # 0.8 mm from the first: the same finding
        image("MLO", "recent", [(50, 50, 0.6)]),  # no prior MLO analysed: not counted
    ]
    ev = DetectionEvaluation(None, None, images, DetectionEvalSettings())  # type: ignore[arg-type]
    # recent CC at 0.5: (100, 80) matched, (30, 40) new, (200, 150) below the threshold.
    assert change_counts(ev, [case], cache=None) == {case.case_id: 1}  # type: ignore[arg-type]
    assert change_counts(ev, [case], cache=None, score_threshold=0.2) == {case.case_id: 2}  # type: ignore[arg-type]
    feats = [_case(0, "normal", (0.1,)), _case(1, "suspicious", (0.9,))]
    from mcalc.models.birads_eval import case_features

    assert case_features(feats).shape == (2, 4)
    with_change = [replace(f, new_findings=n) for f, n in zip(feats, (0, 3), strict=True)]
    assert case_features(with_change, with_change=True)[:, -1].tolist() == [0.0, 3.0]


def _fake_model(folder, input_mode: str, **extra):
    """A registry folder whose card is all ``birads_for_model`` reads before it counts."""
    import json

    folder.mkdir(parents=True)
    patch = {"size": 32, "input_mode": input_mode}
    card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"]}
    (folder / "card.json").write_text(json.dumps({**card, "patch": patch, **extra}))
    (folder / "model.keras").write_bytes(b"never loaded: the card is all the refusal reads")
    return folder


def test_change_count_is_refused_for_a_temporal_model_not_left_empty(tmp_path, capsys) -> None:
    """A temporal model reads no prior image, so no detection of the prior can be matched:
    --birads-change gave every case ``new_findings: null`` and the logistic rule silently
    dropped the feature (the audit of 6 December 2026). It is refused, and says why."""
    from mcalc.cli import main
    from mcalc.errors import ModelError
    from mcalc.explain.birads_run import birads_for_model

    model = _fake_model(tmp_path / "models" / "tiny-t", "temporal")
    with pytest.raises(ModelError, match="temporal model reads no prior image"):
        birads_for_model(model, tmp_path / "nodata", tmp_path / "models", None, temporal=True)  # type: ignore[arg-type]
    # The CLI says so before any image is read (here no data exists at all).
    args = ["evaluate", "--model", str(model), "--data", str(tmp_path / "nodata")]
    assert main([*args, "--birads-change"]) == 2
    assert "temporal model reads no prior image" in capsys.readouterr().err


def test_the_command_names_each_case_set_before_its_three_group_line(capsys) -> None:
    """`evaluate --birads-rule ...`: a set without suspicious-vs-not metrics (biopsy-confirmed
    cases of one class) printed its "3 groups: accuracy 1.000" line first, right under the
    set before, which read as that set's (accuracy 0.667 there)."""
    from mcalc.cli.evaluate_text import print_birads

    groups = {"normal": 1.0, "benign": 1.0, "suspicious": 1.0}
    print_birads({
        "rule": "max", "rule_text": "max over images",
        "all": {"n": 3, "suspicious": 1, "auc": 1.0, "auc_ci": None, "patients": 3,
                "at_threshold": {"threshold": 0.5, "accuracy": 0.667, "sensitivity": 1.0,
                                 "specificity": 0.5},
                "youden": {"threshold": 0.9, "sensitivity": 1.0, "specificity": 1.0},
                "accuracy_3class": 0.667, "per_class_auc": groups, "notes": []},
        "biopsy_confirmed": {"n": 1, "suspicious": 1, "patients": 1, "accuracy_3class": 1.0,
                             "per_class_auc": groups,
                             "notes": ["binary metrics need both classes; 1 of 1 suspicious"]},
    })  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    threes = [i for i, line in enumerate(lines) if "3 groups" in line]
    assert len(threes) == 2
    assert lines[threes[0] - 1].lstrip().startswith("all cases (3, 1 suspicious)")
    assert lines[threes[1] - 1].strip() == "biopsy-confirmed (1, 1 suspicious):"


def test_benign_vs_suspicious_leaves_the_normal_cases_out_as_the_papers_task() -> None:
    """The published task is benign vs suspicious per case; ours was suspicious vs not, with
    every normal (BI-RADS 1) case among the negatives, and the rows beside the papers' AUCs
    carried that AUC."""
    from mcalc.present.report import ours_for_reproduction

    out = evaluate_birads(CASES, rule="max", threshold=0.45, n_boot=0)
    m = out["benign_vs_suspicious"]
    # max scores: benign 0.5 | suspicious 0.9, 0.4: one of two pairs won -> 0.5.
    assert (m["n"], m["suspicious"], m["patients"], m["auc"]) == (3, 2, 3, 0.5)
    ours, what, _ = ours_for_reproduction(out | {"prior": ""}, None)
    assert (ours["auc"], ours["n"]) == (0.5, 3)
    assert what.startswith("benign vs suspicious, per case (normal cases left out")


def _graded_detections(data):
    """Every image of ``data`` with a map score by its case's group (normal 0.3, benign
    0.7, suspicious 0.95) and two detections, 0.95 and 0.7 (none on a normal image)."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import (
        DetectionEvalSettings,
        DetectionEvaluation,
        ImageDetections,
    )
    from mcalc.models.detection import Detection

    level = {"normal": 0.3, "benign": 0.7, "suspicious": 0.95}
    images = []
    for c in open_dataset(data).cases:
        top = level.get(str(c.birads_group), 0.3)
        dets = () if top < 0.5 else (Detection(20, 20, top, 0.5), Detection(90, 60, 0.7, 0.5))
        for r in c.images:
            images.append(
                ImageDetections(r.key, c.case_id, c.patient_id, dets, 0, 0, (0.2, 0.2), 1.0, top)
            )
    return DetectionEvaluation(None, None, images, DetectionEvalSettings())  # type: ignore[arg-type]


def test_case_threshold_and_detections_follow_the_models_operating_threshold(
    tiny_demo, tmp_path
) -> None:
    """The BI-RADS tab counted detections at 0.5 and read its metrics at a slider from 0.5,
    while `evaluate` read them at the card's threshold: demo-custom decides at 0.921513. The
    max and mean rules' case scores are map scores, the unit of the card's operating
    threshold: they are read at it, and the detections (map-score peaks, the logistic
    rule's features) are counted at it, each said with its source; a threshold given
    stays the one used."""
    from mcalc.explain.birads_run import birads_for_model, case_threshold
    from mcalc.models.card import ModelCard

    chosen = {"value": 0.9, "source": "Youden's J on 4 validation images"}
    model = _fake_model(tmp_path / "models" / "m", "recent", decision_threshold=chosen)
    ev = _graded_detections(tiny_demo)
    out = birads_for_model(model, tiny_demo, tmp_path / "models", ev, rule="max", n_boot=0)
    assert out["threshold"] == 0.9 and out["all"]["at_threshold"]["threshold"] == 0.9
    assert "operating threshold" in out["threshold_source"]
    assert "Youden's J on 4 validation images" in out["threshold_source"]
    assert out["detection_threshold"]["value"] == 0.9
    images = {}
    for im in ev.images:
        images[im.case_id] = images.get(im.case_id, 0) + 1
    for row in out["cases"]:  # at 0.9: a suspicious image's 0.95, never the 0.7s
        want = images[row["case_id"]] if row["group"] == "suspicious" else 0
        assert row["detections"] == want, row
    assert any(r["group"] == "benign" for r in out["cases"])  # whose 0.7s were counted at 0.5
    given = birads_for_model(
        model, tiny_demo, tmp_path / "models", ev, rule="mean", threshold=0.25, n_boot=0
    )
    assert given["threshold"] == 0.25 and given["threshold_source"] == "given"
    assert given["detection_threshold"]["value"] == 0.9  # what the model calls, still
    # The logistic rule's case score is the regression's probability: another unit.
    card = ModelCard.from_json({"decision_threshold": chosen})
    logistic = case_threshold(card, "logistic")
    assert logistic.value == 0.5 and "probability" in logistic.source
    assert case_threshold(card, "mean").value == 0.9


def test_the_command_says_which_threshold_the_case_level_reads(capsys) -> None:
    """`evaluate`'s BI-RADS lines gave "at 0.921513" per set without where it came from, nor
    at what score the detections it counts start."""
    from mcalc.cli.evaluate_text import print_birads

    print_birads({
        "rule": "max", "rule_text": "max over images", "threshold": 0.921513,
        "threshold_source": "the model's operating threshold, a map score threshold: Youden",
        "detection_threshold": {"value": 0.921513, "source": "the model's operating threshold"},
        "all": {"n": 1, "suspicious": 1, "patients": 1, "notes": []},
    })  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "    Sensitivity, specificity and accuracy at 0.9215, and the detections and clusters "
        "counted at it: the model's operating threshold, a map score threshold: Youden."
    )
    b = {"rule": "logistic", "rule_text": "logistic", "threshold": 0.5, "all": {"n": 0},
         "threshold_source": "0.5 on the logistic regression's probability",
         "detection_threshold": {"value": 0.9, "source": "the model's operating threshold"}}  # fmt: skip
    print_birads(b)
    assert capsys.readouterr().out.splitlines()[1] == (
        "    Sensitivity, specificity and accuracy at 0.50 (0.5 on the logistic regression's "
        "probability); detections and clusters counted at 0.90 (the model's operating "
        "threshold)."
    )


def test_the_metrics_at_thresholds_are_a_row_per_threshold() -> None:
    """The page's second BI-RADS table: a row per threshold (the chosen one, Youden's) of the
    metrics ``birads_rows`` gives in 8 columns (its 14 scrolled sideways at a projector's
    1024 px of page, h/projector); ``birads_rows`` keeps them for the report."""
    from mcalc.present.report import birads_rows, birads_threshold_rows

    cases = [_case(0, "normal", (0.1,)), _case(1, "benign", (0.6,)), _case(2, "suspicious", (0.9,))]
    m = evaluate_birads(cases, rule="max", threshold=0.5, n_boot=0)["all"]
    wide = birads_rows(m)[0]
    rows = birads_threshold_rows(m)
    assert [r["at"] for r in rows] == ["chosen", "Youden"]
    for row, label in zip(rows, ("at threshold", "at Youden"), strict=True):
        assert row["threshold"] == wide[f"{label}: t"]
        assert row["sensitivity"] == wide[f"{label}: sens"]
        assert row["specificity"] == wide[f"{label}: spec"]
        assert row["accuracy"] == wide[f"{label}: acc"]
    assert rows[0]["threshold"] == 0.5 and rows[0]["specificity"] == 0.5
