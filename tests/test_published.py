"""The published results and the table that sets ours beside them (mcalc/models/published.py)."""

from __future__ import annotations

import pytest

from mcalc.models.published import (
    PRIOR_IMAGES,
    PRIOR_SUBTRACTION,
    REFERENCE_RESULTS,
    binormal_point,
    prior_use,
    reproduction_rows,
)


@pytest.mark.parametrize(
    ("ours", "shown"),
    [
        ({"auc": 0.5, "accuracy": 0.333, "n": 3, "patients": 3}, "3 cases (3 patients)"),
        ({"auc": 0.9, "n": 80, "patients": 1}, "80 cases (1 patient)"),
        ({"auc": 0.66, "n": 4}, "4 cases"),
        ({"auc": None, "accuracy": None}, "n/a"),
    ],
)
def test_our_rows_say_how_many_cases_ours_used(ours: dict, shown: str) -> None:
    """Ours read "accuracy 0.333 / AUC 0.500" beside "0.903 ... 80 patients" with the
    number of our cases only in a caption; every row now says it."""
    rows = reproduction_rows(ours, synthetic=True)
    assert len(rows) == len(REFERENCE_RESULTS)
    assert {r["our cases"] for r in rows} == {shown}
    # Beside our numbers, before the long protocol and caveat texts (a page shows the first
    # columns without scrolling: at 1400 px the count was scrolled out of sight).
    columns = list(rows[0])
    assert columns[: columns.index("our cases") + 1] == [
        "published", "published accuracy", "published AUC", "our accuracy", "our AUC",
        "our cases",
    ]  # fmt: skip


def test_binormal_point_is_on_the_descending_diagonal() -> None:
    fpr, tpr = binormal_point(0.87)
    assert fpr + tpr == pytest.approx(1.0) and tpr > 0.5
    with pytest.raises(ValueError, match=r"AUC in \(0, 1\), got 1.0"):
        binormal_point(1.0)


@pytest.mark.parametrize(
    ("prior", "temporal_row", "recent_row"),
    [
        ("", "they used the prior, ours did not", None),
        ("images", "ours took the prior images only as more images", "ours took the prior images"),
        ("subtraction", None, "ours subtracted the registered prior"),
    ],
)
def test_each_row_says_how_ours_and_theirs_used_the_prior(prior, temporal_row, recent_row) -> None:
    """A temporal model's rows said "they used the prior" beside the subtraction paper and
    nothing beside "recent image alone", as if ours had not used it; and a recent-only
    model's case score, the highest over the case's images, prior ones included, read as
    the recent image alone."""
    rows = {
        r["published"]: r["differences"]
        for r in reproduction_rows({}, synthetic=False, prior=prior)
    }
    for label, expected in (("Loizidou 2021, temporal subtraction", temporal_row),
                            ("Loizidou 2021, recent image alone", recent_row)):  # fmt: skip
        if expected is None:
            assert "prior" not in rows[label], rows[label]
        else:
            assert expected in rows[label], rows[label]


def test_prior_use_reads_the_scored_images() -> None:
    assert prior_use(False, ["c/CC_recent", "c/MLO_recent"]) == ""
    assert prior_use(False, ["c/CC_recent", "c/CC_prior"]) == PRIOR_IMAGES
    assert prior_use(True, ["c/CC_recent"]) == PRIOR_SUBTRACTION


@pytest.mark.parametrize(
    ("synthetic", "source", "shown", "caveat"),
    [
        (True, "real-layout", "SYNTHETIC demo data", "ours are on synthetic data"),
        (False, "real-layout", "real data (the dataset's layout)", None),
        (False, "manifest", "real data from a manifest", "not known to be the papers' dataset"),
        (None, "real-layout", "not known", "ours are on data not known"),
    ],
)
def test_our_data_says_whether_it_is_the_papers_dataset(synthetic, source, shown, caveat) -> None:
    """An INbreast manifest's case AUC read "our data: real data" beside Loizidou's 0.87 on
    this dataset, with no word that the data were another collection: as if reproduced."""
    rows = reproduction_rows({"auc": 0.8}, synthetic=synthetic, source=source)
    assert {r["our data"] for r in rows} == {shown} or all(
        r["our data"].startswith(shown) for r in rows
    )
    for r in rows:
        if caveat is None:
            assert "comparable" not in r["differences"], r["differences"]
        else:
            assert caveat in r["differences"], r["differences"]


def test_the_command_line_prints_the_published_results_beside_ours(capsys) -> None:
    """`evaluate` printed our case-level BI-RADS AUC with no published number beside it:
    only `--report` and the app's tabs set them side by side."""
    from mcalc.cli.evaluate_text import print_published

    birads = {
        "rule": "max", "prior": "images",
        "benign_vs_suspicious": {"n": 8, "patients": 8, "auc": 0.625,
                                 "at_threshold": {"accuracy": 0.5}},
    }  # fmt: skip
    from mcalc.present.report import ours_for_reproduction

    ours, what, _ = ours_for_reproduction(birads, None)
    print_published(ours, what, synthetic=False, source="manifest")
    out = capsys.readouterr().out
    assert "Loizidou 2021, temporal subtraction: accuracy 0.903, AUC 0.870" in out
    assert "Loizidou 2020, without subtraction: accuracy 0.914; leave-one-patient-out" in out
    assert "ours: AUC 0.625, accuracy 0.500 on 8 cases (8 patients)" in out
    assert "benign vs suspicious, per case (normal cases left out; max rule)" in out
    assert "real data from a manifest" in out and "not comparable" in out
    assert "--report" in out  # where each row's differences are


def _comparison(**kw) -> dict:
    return {"model_a": "A", "model_b": "B", "auc_a": 0.9, "auc_b": 0.7, "difference": 0.2,
            "n": 20, "patients": 20, "cases": "benign_vs_suspicious", "ci": [0.05, 0.3],
            "p_value": 0.01, "prior_images": False,
            "delong": {"low": 0.1, "high": 0.3, "p_value": 0.002}} | kw  # fmt: skip


@pytest.mark.parametrize(
    ("temporal", "without", "with_", "difference", "ci"),
    [
        ((True, False), 0.7, 0.9, "+0.200", "DeLong p 0.002, 95% CI 0.100 to 0.300"),
        ((False, True), 0.9, 0.7, "-0.200", "DeLong p 0.002, 95% CI -0.300 to -0.100"),
    ],
)
def test_the_published_pair_sits_beside_ours_as_theirs(
    temporal, without, with_, difference, ci
) -> None:
    """The published comparison is one of two models (recent image alone vs with the prior);
    `compare` set no published number beside its difference. Ours are turned to theirs:
    the temporal model beside "with the prior", the difference with - without."""
    from mcalc.models.published import pair_rows

    rows = pair_rows(_comparison(), temporal, synthetic=False)
    assert [r["result"] for r in rows] == ["Loizidou 2021", "Loizidou 2020", "ours"]
    assert (rows[0]["AUC without prior"], rows[0]["AUC with prior"]) == (0.81, 0.87)
    assert rows[0]["with - without"] == "+0.060"
    assert rows[1]["accuracy without / with"] == "0.914 / 0.996"
    ours = rows[-1]
    assert (ours["AUC without prior"], ours["AUC with prior"]) == (without, with_)
    assert ours["with - without"] == difference
    assert ours["paired test"].startswith(ci)
    assert ours["data"] == "real data (the dataset's layout)"
    assert "not comparable" not in ours["differences"]


def test_our_accuracies_sit_beside_the_2020_pair_with_their_thresholds() -> None:
    """Loizidou 2020 reports accuracies only, and ours were ``n/a``: now each model's
    accuracy (both at one threshold on their scores), turned as theirs (without / with),
    McNemar's test in the paired test and the threshold said."""
    from mcalc.models.published import PAIR_NOTE, pair_rows

    accuracy = {"n": 20, "accuracy_a": 0.9, "accuracy_b": 0.65, "difference": 0.25,
                "a_only": 6, "b_only": 1, "p_value": 0.125, "threshold": 0.5,
                "threshold_source": "Evaluate's default on patch probabilities"}  # fmt: skip
    ours = pair_rows(_comparison(accuracy=accuracy), (True, False), synthetic=False)[-1]
    assert ours["accuracy without / with"] == "0.650 / 0.900"
    assert ours["paired test"].endswith(
        "; accuracy +0.250, McNemar exact p 0.125 (only A right on 6, only B on 1 of 20 cases)"
    )
    # One threshold on both models' scores, not a card's (a map score: other units).
    assert ours["differences"].endswith(
        "our accuracies are at 0.50 on both models' case scores (the maximum of sampled "
        "patch probabilities), not tuned on these cases; not at a card's decision threshold, "
        "a map score threshold in other units"
    )
    turned = pair_rows(_comparison(accuracy=accuracy), (False, True), synthetic=False)[-1]
    assert turned["accuracy without / with"] == "0.900 / 0.650"
    assert (
        "accuracy -0.250, McNemar exact p 0.125 (only B right on 1, only A on 6"
        in turned["paired test"]
    )
    assert "McNemar's exact test" in PAIR_NOTE


def test_a_pair_of_one_input_has_no_published_counterpart() -> None:
    from mcalc.models.published import pair_rows

    ours = pair_rows(_comparison(cases="all", prior_images=True), (False, False), synthetic=True)[
        -1
    ]
    assert ours["AUC with prior"] is None and ours["with - without"] == "n/a"
    assert ours["differences"].startswith("both models are recent-only: the published pair")
    assert "ours compared every case (suspicious vs not" in ours["differences"]
    assert "ours are on synthetic data: not comparable" in ours["differences"]
    assert ours["paired test"].startswith(
        "A AUC 0.900 vs B 0.700, difference +0.200; DeLong p 0.002"
    )


def test_a_birads_models_report_without_a_birads_result_uses_the_papers_task() -> None:
    """With no BI-RADS result (`evaluate --no-detection`, or the page's report before the
    BI-RADS tab ran), the report set a birads model's suspicious-vs-rest case AUC, every
    normal case a negative, beside the papers' benign vs suspicious."""
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.present.report import ours_for_reproduction
    from tests.test_paired import GROUPS, _birads

    scores = _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7})
    result = EvaluationResult("m", "d", "test-split", list(GROUPS), {}, None, scores=scores)
    ours, what, prior = ours_for_reproduction(None, result)
    assert (ours["auc"], ours["n"], ours["patients"]) == (1.0, 4, 4)
    assert what.startswith("benign vs suspicious, per case (normal cases left out")
    assert prior == ""
    # At a given threshold its accuracy too (it was None beside Loizidou 2020's).
    ours, what, _ = ours_for_reproduction(None, result, threshold=(0.65, "given"))
    assert ours["accuracy"] == 0.75  # s1 (0.6) below 0.65: 3 of 4
    assert what.endswith("; accuracy at 0.65 (given))")


def test_a_birads_models_report_reads_its_papers_task_accuracy_at_the_reports_threshold() -> None:
    """The report read the papers' task's case scores (the maximum of sampled patch
    probabilities) at the card's decision threshold, a map-score threshold in other units:
    with a card at 0.921513 both suspicious cases (0.6, 0.7) read benign. It reads them at
    the report's threshold (Evaluate's 0.5 unless another is chosen), as its metrics."""
    import json

    from mcalc.models.card import ModelCard
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.present.report import ReportInput, report_blocks
    from tests.conftest import REPO
    from tests.test_paired import GROUPS, _birads

    card = json.loads((REPO / "models" / "demo-custom" / "card.json").read_text())
    card |= {"id": "m", "task": "birads", "classes": ["normal", "benign", "suspicious"],
             "binary_views": {"suspicious": ["suspicious"]}}  # fmt: skip
    scores = _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7})
    result = EvaluationResult("m", "d", "test-split", list(GROUPS), {}, None, scores=scores)
    report = ReportInput(result, ModelCard.from_json(card), threshold=0.5, n_boot=0)
    rows = next(b.rows for b in report_blocks(report) if b.rows and "our cases" in b.rows[0])
    ours = {str(r["our accuracy"]) for r in rows}
    assert ours == {"1.0"}, rows  # b1, b2 below 0.5, s1, s2 above: 4 of 4
    differs = " ".join(str(r["differences"]) for r in rows)
    assert "accuracy at 0.50 (the report's threshold, on patch probabilities" in differs, differs
