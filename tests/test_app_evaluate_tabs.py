"""AppTest of Evaluate's BI-RADS and cross-validation tabs (each tab is its own module in
pages/evaluate_tabs/)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mcalc.config import Settings
from mcalc.jobs.crossval import record_result
from mcalc.models.train_config import TrainConfig
from pages.wide_tables import ID_COLUMN_PX, WRAP_ROW_PX
from tests.app_pages import open_page, shown
from tests.conftest import REPO

APP = "../app.py"
PAGE = "pages/evaluate.py"


@pytest.fixture
def eval_env(app_env, tmp_path, monkeypatch) -> Path:
    models = tmp_path / "models"
    shutil.copytree(REPO / "models" / "demo-custom", models / "demo-custom")
    monkeypatch.setenv("MCALC_MODELS", str(models))
    return models


def _page(timeout: float = 120) -> AppTest:
    return open_page(PAGE, timeout)


def _table(at: AppTest, column: str):
    for df in at.dataframe:
        if column in df.value.columns:
            return shown(df)
    raise AssertionError(f"no table with a {column!r} column")


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_crossval_tab_lists_a_command_line_run_and_its_pooled_result(app_env, eval_env, tmp_path):
    levels = ("patch", "image", "case")
    folds = [["p1", "p2"], ["p3", "p4"]]
    summary = {
        "k": 2, "leave_one_patient_out": False, "seed": 0, "prefix": "cv-cli",
        "folds": [{"fold": i + 1, "model_id": f"cv-cli-fold{i + 1}of2", "patients": f,
                   "auc": {lv: 0.6 + 0.1 * i for lv in levels}} for i, f in enumerate(folds)],
        "fold_patients": folds,
        "mean_sd": {lv: {"mean": 0.65, "sd": 0.0707, "n": 2} for lv in levels},
        "pooled": {lv: {"auc": 0.66, "auc_ci_text": "0.500–0.800", "n": 4} for lv in levels},
        "config": TrainConfig(data=str(app_env)).to_json(),
    }  # fmt: skip
    record_result(summary, Settings(runs_dir=tmp_path / "runs"))
    # A user's --id prefix: the runs' table was 766 px in a projector's 690 with a 38-character
    # run id, *started* cut (h/trainids): the id wraps, where from and when under the table.
    long = "cv-efficientnet-birads-hard-negatives-lr1e-4-20261208-0130"
    record_result(summary | {"prefix": long}, Settings(runs_dir=tmp_path / "runs"))
    at = _page()
    assert not any("folds" in df.value.columns for df in at.dataframe)  # drawn when chosen
    at.session_state["evaluate_tab"] = "Cross-validation"  # the reader chooses the tab
    at.session_state["evaluate_cv_run"] = "cv-cli"
    at.run()
    [table] = [d for d in at.dataframe if "state" in d.value.columns]
    runs = shown(table).set_index("run")
    assert list(runs.columns) == ["folds", "model", "state"], list(runs.columns)
    assert set(runs.index) == {"cv-cli", long} and runs.loc["cv-cli", "state"] == "pooled"
    assert json.loads(table.proto.columns).get("run", {}).get("width") == ID_COLUMN_PX, (
        table.proto.columns
    )
    assert table.proto.row_height >= WRAP_ROW_PX
    more = _table(at, "started").set_index("run")
    assert more.loc["cv-cli", "from"] == "command line"
    pooled = _table(at, "pooled AUC")
    assert list(pooled["level"]) == list(levels) and pooled["pooled 95% CI"][0] == "0.500–0.800"
    assert list(_table(at, "case AUC")["model"]) == ["cv-cli-fold1of2", "cv-cli-fold2of2"]
    # Every fold's AUC to three decimals, as the summary's: the table showed 0.746 beside
    # 0.7497 and a fold's case AUC as "0" and "1".
    folds_table = next(d for d in at.dataframe if "case AUC" in d.value.columns)
    config = json.loads(folds_table.proto.columns)
    formats = {k: v.get("type_config", {}).get("format") for k, v in config.items()}
    assert all(formats[f"{lv} AUC"] == "%.3f" for lv in levels), formats
    # A calcification model's run (any calcification vs none): another task than the
    # papers', not set beside their results (its case AUC was, with a caveat in a row).
    assert not any("published AUC" in d.value.columns for d in at.dataframe)
    assert any(
        "Not set beside the published results: its models classify calcification" in i.value
        for i in at.info
    )
    assert at.button(key="evaluate_cv_pool")  # the folds can be pooled again


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_run_beside_the_papers_says_its_own_data_not_the_open_datasets(
    app_env, eval_env, tmp_path, monkeypatch
):
    """A cross-validation run on the synthetic demo, listed while a real-layout dataset was
    open in the sidebar, read "our data: real data" beside the published AUCs; and a run
    whose data cannot be opened any more read as the open dataset's."""
    real = tmp_path / "real"
    shutil.copytree(app_env, real)
    (real / "mcalc_demo.json").unlink()  # what makes it the synthetic demo
    monkeypatch.setenv("MCALC_DATA", str(real))
    monkeypatch.setenv("MCALC_AUTH", "off")  # real data asks for a sign-in otherwise
    settings = Settings(runs_dir=tmp_path / "runs")
    papers = {"text": "benign vs suspicious, normal cases left out", "auc": 0.75,
              "auc_ci_text": None, "n": 3, "positives": 2, "patients": 3, "notes": [],
              "accuracy": 0.666667, "correct": 2,
              "accuracy_at": "each fold's decision threshold, 0.50 (default, as the model "
                             "card names none)"}  # fmt: skip
    # Pooled before 7 December 2026, 23:01 UTC at each fold card's map-score threshold (the
    # stored format of then): its accuracy (0.5) read beside runs pooled since at 0.5 on
    # case scores, in other units, without a word.
    cards = papers | {"accuracy": 0.5, "correct": 1,
                      "accuracy_at": "each fold's decision threshold: fold 1 0.9215, fold 2 "
                                     "0.8800 (from the cards)"}  # fmt: skip
    runs = (("cv-demo", app_env, papers), ("cv-gone", tmp_path / "gone", papers))
    for prefix, data, told in (*runs, ("cv-cards", app_env, cards)):
        config = TrainConfig(data=str(data), task="birads").to_json()
        record_result(_summary(prefix) | {"config": config, "papers_task": told}, settings)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    for prefix, expected in (("cv-demo", "SYNTHETIC demo data"), ("cv-gone", "not known")):
        at.session_state["evaluate_cv_run"] = prefix
        at.run()
        assert not at.exception, at.exception
        published = _table(at, "published AUC")
        differs = _table(at, "differences")  # what differs: under the table in view
        # The papers' task's pooled AUC (0.75), not the case level's (0.7: suspicious vs
        # the rest, every normal case a negative).
        assert (
            set(published["our AUC"]) == {0.75}
            and differs["our cases"][0] == "3 cases (3 patients)"
        )
        assert (
            "ours benign vs suspicious, per case (normal cases left out"
            in differs["differences"][0]
        )
        # Loizidou 2020's results are accuracies only; ours read n/a beside them.
        assert set(published["our accuracy"]) == {0.666667}, set(published["our accuracy"])
        assert "accuracy at each fold's decision threshold, 0.50" in differs["differences"][0]
        assert set(differs["our data"]) == {expected} or all(
            d.startswith(expected) for d in differs["our data"]
        ), (prefix, set(differs["our data"]))
    at.session_state["evaluate_cv_run"] = "cv-cards"
    at.run()
    assert not at.exception, at.exception
    published, differs = _table(at, "published AUC"), _table(at, "differences")
    assert set(published["our AUC"]) == {0.75}
    assert set(published["our accuracy"]) == {"n/a"}, set(published["our accuracy"])
    assert "accuracy" not in differs["differences"][0]
    [said] = [w.value for w in at.warning if "each fold card's decision threshold" in w.value]
    assert "0.500 (1 of 3 cases)" in said and "fold 1 0.9215, fold 2 0.8800" in said
    assert "not comparable" in said and "Pool the folds" in said


def _detections(data: Path) -> tuple[str, object]:
    """A detection evaluation of every image of ``data`` without a model: map scores by
    BI-RADS group (what the BI-RADS tab classifies from), keyed as the Detection tab keys it."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import (
        DetectionEvalSettings,
        DetectionEvaluation,
        ImageDetections,
    )
    from mcalc.models.fingerprint import dataset_fingerprint

    index = open_dataset(data)
    level = {"normal": 0.1, "benign": 0.4, "suspicious": 0.8}
    images = [
        ImageDetections(
            r.key,
            c.case_id,
            c.patient_id,
            (),
            0,
            0,
            (0.1, 0.1),
            1.0,
            level.get(str(c.birads_group), 0.5) + 0.01 * k,
        )
        for c in index.cases
        for k, r in enumerate(c.images)
    ]
    key = f"demo-custom@{dataset_fingerprint(index)}|test"
    return key, DetectionEvaluation(None, None, images, DetectionEvalSettings())  # type: ignore[arg-type]


def _froc_evaluation(data: Path) -> tuple[str, object]:
    """A detection evaluation of 3 patients keyed as the Detection tab keys its defaults:
    a FROC from random detections, and a cluster FROC whose every cluster is found first
    (sensitivity 1 in every resample: a zero-width interval)."""
    import numpy as np

    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import DetectionEvalSettings, DetectionEvaluation
    from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM, DetectionSettings
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.froc import (
        DEFAULT_TOLERANCE_MM,
        ImageTruth,
        calcification_counts,
        froc,
    )
    from tests.test_froc import _patients

    found = [
        calcification_counts(
            np.array([[5.0, 5.0]]), np.array([0.9]), ImageTruth.from_points([(5, 5)], (1, 1)),
            patient=f"p{p}",
        )
        for p in range(3)
    ]  # fmt: skip
    settings = DetectionEvalSettings(
        detection=DetectionSettings(min_distance_mm=float(DEFAULT_MIN_DISTANCE_MM)),
        tolerance_mm=float(DEFAULT_TOLERANCE_MM),
        n_boot=200,
    )
    ev = DetectionEvaluation(froc(_patients(3), n_boot=200), froc(found, n_boot=200), [], settings)
    fingerprint = dataset_fingerprint(open_dataset(data))
    return f"demo-custom@{fingerprint}|{json.dumps(settings.as_dict(), sort_keys=True)}", ev


@pytest.mark.slow  # an AppTest run of the page: 3-10 s (no model: detections given)
def test_detection_tab_warns_of_a_handful_of_patients(app_env, eval_env):
    """The cluster table read "1.000–1.000" from 3 patients without a word; the
    classification tab's warning (the same function's words) now follows both tables,
    and the zero-width interval reads as the classification tables show one."""
    from mcalc.models.analysis import few_patients_note

    key, ev = _froc_evaluation(app_env)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["evaluate_detection"] = {key: ev}
    at.session_state["evaluate_tab"] = "Detection"
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [shown(d) for d in at.dataframe if "mean 95% CI" in d.value.columns]
    assert len(tables) == 2
    assert tables[1]["mean 95% CI"][0] == "n/a (3 patients)"
    captions = [c.value for c in at.caption]
    warning = few_patients_note(3)
    assert f"demo-custom (clusters): {warning}" in captions
    assert f"demo-custom (findings): {warning}" in captions
    # Each FROC's axis titles fit its half of a 1024 px page (a projector's 1280 at 125 %):
    # "mean false-positive clusters per image" (38 characters) ran out of its chart.
    specs = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
    titles = [s[a]["title"]["text"] for s in specs for a in ("xaxis", "yaxis")]
    assert len(titles) == 4 and all(len(t) <= 30 for t in titles), titles


@pytest.mark.slow  # an AppTest run of the page: 4-9 s (no model: detections given)
def test_birads_tab_classifies_cases_with_the_rule_stated(app_env, eval_env):
    at = AppTest.from_file(APP, default_timeout=60)
    key, detection = _detections(app_env)
    at.session_state["evaluate_detection"] = {key: detection}
    at.session_state["evaluate_tab"] = "BI-RADS"
    at.run()
    at.switch_page(PAGE)
    at.run()
    # Each rule's label fits its box at 1024 px of page (about 28 characters; "max: the most
    # suspicious image decides" was cut, a projector at 125 %).
    rules = at.selectbox(key="evaluate_birads_rule").options
    assert len(rules) == 3 and max(len(r) for r in rules) <= 28, rules
    at.selectbox(key="evaluate_birads_rule").set_value("mean").run()
    at.button(key="evaluate_birads_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    table = _table(at, "subset")
    assert list(table["subset"]) == [
        "all cases", "benign vs suspicious, normal cases left out", "biopsy-confirmed",
    ]  # fmt: skip
    assert table["cases"][0] == 6  # every case of the tiny demo
    # Suspicious cases score highest; the biopsy-confirmed subset of the tiny demo has one
    # class only: no AUC, which the table says ("n/a", not a grey "None").
    assert table["AUC"][0] == pytest.approx(1.0) and table["AUC"][2] == "n/a"
    assert table["cases"][1] < 6 and table["AUC"][1] == pytest.approx(1.0)  # no normal case
    # The metrics at a threshold to three decimals, as the AUC (they read 0.3333, 1, 0).
    # In a table of their own, a row per threshold: one row of 14 columns scrolled sideways
    # at a projector's 1024 px of page (h/projector).
    birads = next(d for d in at.dataframe if "threshold" in d.value.columns)
    assert list(birads.value.columns) == [
        "subset", "at", "threshold", "sensitivity", "specificity", "accuracy",
    ]  # fmt: skip
    assert list(birads.value["at"][:2]) == ["chosen", "Youden"]
    columns = json.loads(birads.proto.columns)
    formats = {k: v.get("type_config", {}).get("format") for k, v in columns.items()}
    # ... but a threshold to four: the operating threshold 0.921513 read "0.922" in the
    # table under a caption saying 0.9215 (a score of 0.9218 read as below "0.922").
    assert formats["threshold"] == "%.4f", formats
    assert all(formats[c] == "%.3f" for c in ("sensitivity", "specificity", "accuracy"))
    assert columns["sensitivity"]["label"] == "sens."  # the full name is its help
    assert any("mean map score of its images" in c.value for c in at.caption)
    # A note the subsets share is said once, naming them (the same "no three-class scores
    # (...)" sentence read three times in a row under the table).
    three = [c.value for c in at.caption if "no three-class scores" in c.value]
    assert len(three) == 1 and "all cases; " in three[0] and "biopsy-confirmed: " in three[0], three
    published = _table(at, "published AUC")
    differs = _table(at, "differences")  # what differs: under the table in view
    assert "Loizidou 2021, temporal subtraction" in list(published["published"])
    # A table per model, named above it: a model column (an id as `train` makes them, ~40
    # characters) pushed "our AUC" out of a projector's 690 px (h/projector2).
    assert list(published.columns) == [
        "published", "published accuracy", "published AUC", "our accuracy", "our AUC",
    ]  # fmt: skip
    assert "Ours: **demo\\-custom**" in [m.value for m in at.markdown]
    assert published["our AUC"][0] == 1.0 and "SYNTHETIC" in differs["our data"][0]
    # Benign vs suspicious, the papers' task: the tiny demo's 6 cases but its normal one.
    assert re.fullmatch(r"5 cases \(\d+ patients?\)", differs["our cases"][0])
    assert differs["differences"][0].endswith("ours benign vs suspicious, per case (normal "
                                                 "cases left out; mean rule)")  # fmt: skip
    assert at.button(key="evaluate_birads_run").disabled  # classified for these settings
    # Read at the model's operating threshold (demo-custom's card: 0.921513), said with its
    # unit and source, as `evaluate` reads it; the tab read them at a slider from 0.5.
    assert birads.value["threshold"][0] == pytest.approx(0.921513)
    said = [c.value for c in at.caption if c.value.startswith("Sensitivity, specificity")]
    assert len(said) == 1 and said[0].startswith(
        "Sensitivity, specificity and accuracy at 0.9215, and the detections and clusters "
        "counted at it: the model's operating threshold, a map score threshold: Youden's J"
    ), said
    assert at.slider(key="evaluate_birads_threshold").disabled
    at.toggle(key="evaluate_birads_operating").set_value(False).run()
    at.button(key="evaluate_birads_run").click().run()
    assert _table(at, "at")["threshold"][0] == pytest.approx(0.5)
    said = [c.value for c in at.caption if c.value.startswith("Sensitivity, specificity")]
    assert "at 0.50 (the slider's)" in said[0] and "counted at 0.9215" in said[0], said


@pytest.mark.slow  # evaluates two models
def test_two_models_are_compared_on_the_same_cases(eval_env):
    shutil.copytree(eval_env / "demo-custom", eval_env / "copy")
    at = _page()
    at.multiselect(key="evaluate_models").set_value(["demo-custom", "copy"]).run()
    at.button(key="evaluate_run").click().run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    assert any("patches are sampled per model" in c.value for c in at.caption)  # patch level
    at.radio(key="evaluate_level").set_value("case").run()
    paired = _table(at, "DeLong p")
    assert list(paired["model B"]) == ["copy"] and paired["n"][0] == 6
    assert paired["A − B"][0] == 0.0 and paired["AUC A"][0] == paired["AUC B"][0]


def _birads_cards(models: Path) -> None:
    """Three birads cards, a recent-only and two temporal ones (demo-custom's folder: only
    the cards are read, their evaluations given)."""
    for model_id, mode in (("rec", "recent"), ("tmp", "temporal"), ("tmp2", "temporal")):
        shutil.copytree(models / "demo-custom", models / model_id)
        card = json.loads((models / model_id / "card.json").read_text())
        card |= {"id": model_id, "task": "birads", "classes": ["normal", "benign", "suspicious"],
                 "binary_views": {"suspicious": ["suspicious"]}}  # fmt: skip
        card["patch"]["input_mode"] = mode
        card.pop("decision_threshold", None)  # demo-custom's own, chosen on its patches
        if model_id == "rec":  # tmp's card names none: the default, 0.5
            card["decision_threshold"] = {"value": 0.65, "source": "Youden's J on validation"}
        (models / model_id / "card.json").write_text(json.dumps(card))


@pytest.mark.slow  # an AppTest run of the page: 3-10 s (no model: evaluations given)
def test_two_birads_models_are_compared_on_the_papers_task_beside_the_published_pair(
    app_env, eval_env, monkeypatch
):
    """The paired comparison of two birads models compared suspicious vs the rest (every
    normal case a negative) with no published number beside it, though the published
    comparison on this dataset is one of two models: recent image alone vs with the prior."""
    import pages.evaluate_tabs.classification as tab
    from mcalc.dataset import open_dataset
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.models.fingerprint import dataset_fingerprint
    from tests.test_paired import GROUPS, _birads

    _birads_cards(eval_env)
    # Not this test's point, and half its time: each model's HTML and PDF report.
    monkeypatch.setattr(tab, "evaluation_report", lambda report: "")
    monkeypatch.setattr(tab, "evaluation_report_pdf", lambda report: b"")
    scores = {
        "tmp": _birads(GROUPS, {"n1": 0.9, "n2": 0.8, "b1": 0.1, "b2": 0.2, "s1": 0.6, "s2": 0.7}),
        "rec": _birads(GROUPS, {"n1": 0.1, "n2": 0.1, "b1": 0.6, "b2": 0.7, "s1": 0.2, "s2": 0.3}),
    }
    fingerprint = dataset_fingerprint(open_dataset(app_env))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["evaluate_results"] = {
        f"{m}@{fingerprint}": EvaluationResult(m, str(app_env), "test-split", list(GROUPS), {},
                                              None, "birads", scores=s, created="t")
        for m, s in scores.items()
    }  # fmt: skip
    at.session_state["evaluate_models"] = ["tmp", "rec"]
    at.session_state["evaluate_level"] = "case"
    at.session_state["evaluate_bootstrap"] = 200
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _table(at, "DeLong p")["n"][0] == 6  # every case: suspicious vs the rest
    assert not any("AUC with prior" in d.value.columns for d in at.dataframe)
    assert any("set beside the papers' task" in c.value for c in at.caption)
    at.radio(key="evaluate_paired_cases").set_value("benign_vs_suspicious").run()
    assert not at.exception, [e.value for e in at.exception]
    paired = _table(at, "DeLong p")
    assert (paired["n"][0], paired["AUC A"][0], paired["AUC B"][0]) == (4, 1.0, 0.0)
    assert any("2 normal cases left out" in c.value for c in at.caption)
    published = _table(at, "AUC with prior")
    assert list(published["result"]) == ["Loizidou 2021", "Loizidou 2020", "ours"]
    ours = published.iloc[-1]
    # The recent-only model beside "without the prior", the difference with - without.
    assert (ours["AUC without prior"], ours["AUC with prior"]) == (0.0, 1.0)
    assert ours["with - without"] == "+1.000"
    assert ours["without / with"] == "rec (recent-only) / tmp (subtraction)"
    assert ours["data"] == "SYNTHETIC demo data"
    # Both accuracies at the slider's 0.50 on the case scores (the maximum of sampled patch
    # probabilities), beside Loizidou 2020's; not at each card's (rec's 0.65 is a map score).
    accuracy = _table(at, "McNemar p")
    assert accuracy["threshold"][0] == 0.5
    # To four decimals, as the caption gives a threshold (0.921513 read "0.922").
    table = next(d for d in at.dataframe if "McNemar p" in d.value.columns)
    config = json.loads(table.proto.columns)
    formats = {k: v.get("type_config", {}).get("format") for k, v in config.items()}
    assert formats["threshold"] == "%.4f", formats
    assert (accuracy["accuracy A"][0], accuracy["accuracy B"][0], accuracy["McNemar p"][0]) == (
        1.0,
        0.0,
        0.125,
    )
    assert published["accuracy without / with"][1] == "0.914 / 0.996"
    assert ours["accuracy without / with"] == "0.000 / 1.000"
    assert (
        "McNemar exact p 0.125 (only tmp right on 4, only rec on 0 of 4 cases)"
        in ours["paired test"]
    )
    (said,) = [c.value for c in at.caption if c.value.startswith("Accuracy at ")]
    assert said.startswith("Accuracy at 0.50: the slider's; one threshold for both models'"), said
    assert (
        "map score threshold of whole images, in other units: tmp 0.5 (default, as the model "
        "card names none) and rec 0.65 (Youden's J on validation)" in said
    ), said
    # The slider moves them; each model's Youden threshold (chosen on these very cases)
    # does not, and the caption says why.
    at.slider(key="evaluate_threshold").set_value(0.65).run()
    accuracy = _table(at, "McNemar p")
    assert (accuracy["threshold"][0], accuracy["accuracy A"][0], accuracy["accuracy B"][0]) == (
        0.65,
        0.75,
        0.25,
    )
    at.toggle(key="evaluate_youden").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _table(at, "McNemar p")["threshold"][0] == 0.65
    (said,) = [c.value for c in at.caption if c.value.startswith("Accuracy at ")]
    assert "the slider's (not each model's Youden threshold" in said, said
    assert "it would bias McNemar's test" in said, said
    at.toggle(key="evaluate_youden").set_value(False)
    at.slider(key="evaluate_threshold").set_value(0.5).run()
    # A third model: two of our rows, which read alike ("ours") up to "without / with", off
    # the page's edge at 1280 px. Each names its pair, in the first column, pinned; the
    # data beside it (scrolled out of view at 1024 px).
    at.session_state["evaluate_results"] = {
        **at.session_state["evaluate_results"],
        f"tmp2@{fingerprint}": EvaluationResult(
            "tmp2", str(app_env), "test-split", list(GROUPS), {}, None, "birads",
            scores=scores["rec"], created="t",
        ),
    }  # fmt: skip
    at.session_state["evaluate_models"] = ["tmp", "rec", "tmp2"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d for d in at.dataframe if "AUC with prior" in d.value.columns)
    published = shown(table)
    assert list(published["result"]) == [
        "Loizidou 2021", "Loizidou 2020", "ours: tmp vs rec", "ours: tmp vs tmp2"
    ]  # fmt: skip
    assert list(published.columns[:2]) == ["result", "data"]
    assert json.loads(table.proto.columns)["result"]["pinned"] is True


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_pooling_a_ready_run_shows_it_pooled_in_the_runs_table(eval_env, tmp_path, monkeypatch):
    import pages.evaluate_tabs.crossval as tab
    from mcalc.jobs.crossval import RESULT_FILE

    levels = ("patch", "image", "case")
    summary = {
        "k": 2, "leave_one_patient_out": False, "seed": 0, "prefix": "cv-ready",
        "folds": [{"fold": i + 1, "model_id": f"cv-ready-fold{i + 1}of2", "patients": [f"p{i}"],
                   "auc": {lv: 0.7 for lv in levels}} for i in range(2)],
        "fold_patients": [["p0"], ["p1"]],
        "mean_sd": {lv: {"mean": 0.7, "sd": 0.0, "n": 2} for lv in levels},
        "pooled": {lv: {"auc": 0.7, "auc_ci_text": "0.600–0.800", "n": 2} for lv in levels},
        "config": TrainConfig(data="x").to_json(),
    }  # fmt: skip
    settings = Settings(runs_dir=tmp_path / "runs")
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    run = record_result(summary, settings)
    result = run.folder / RESULT_FILE
    kept = result.read_bytes()
    result.unlink()  # every fold done, not pooled yet

    def pool(run, *args, **kwargs):  # the folds' scoring is tests/test_crossval_jobs.py's
        result.write_bytes(kept)

    monkeypatch.setattr(tab, "run_state", lambda r, s=None: "pooled" if r.result else "ready")
    monkeypatch.setattr(tab, "pool_run", pool)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    assert list(_table(at, "folds")["state"]) == ["ready"]
    at.button(key="evaluate_cv_pool").click().run()
    assert not at.exception and not at.error
    assert list(_table(at, "folds")["state"]) == ["pooled"]  # not "ready" beside the result
    assert _table(at, "pooled AUC")["pooled 95% CI"][0] == "0.600–0.800"


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_run_started_in_the_tab_is_the_run_shown(eval_env, tmp_path, monkeypatch):
    """Starting a cross-validation said "Started app-cv" while the tab went on showing the
    run chosen before (the newest when the tab was first drawn, here a command-line run):
    the reader had to find the new run in the list to follow its folds."""
    import pages.evaluate_tabs.crossval as tab

    summary = _summary
    settings = Settings(runs_dir=tmp_path / "runs")
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    record_result(summary("cv-before"), settings)
    # The folds' jobs are tests/test_crossval_jobs.py's: here the run is only recorded.
    monkeypatch.setattr(
        tab, "submit_crossval", lambda *a, **k: record_result(summary("cv-new"), settings)
    )
    monkeypatch.setattr(tab.jobs, "ensure_scheduler", lambda *a, **k: None)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    assert at.selectbox(key="evaluate_cv_run").value == "cv-before"
    next(b for b in at.button if b.label == "Start cross-validation").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Started" in s.value for s in at.success)
    assert at.selectbox(key="evaluate_cv_run").value == "cv-new"


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_freezing_random_layers_in_a_cross_validation_asks_first(eval_env, tmp_path, monkeypatch):
    """Head-only on the custom network (no pre-trained weights) started three folds at once,
    where Train asks the reader to confirm that the frozen layers stay random."""
    import pages.evaluate_tabs.crossval as tab

    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    started = []
    monkeypatch.setattr(
        tab, "submit_crossval", lambda *a, **k: started.append(a) or record_result(
            _summary("cv-head"), Settings(runs_dir=tmp_path / "runs"))
    )  # fmt: skip
    monkeypatch.setattr(tab.jobs, "ensure_scheduler", lambda *a, **k: None)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    at.selectbox(key="evaluate_cv_arch").set_value("custom")
    at.selectbox(key="evaluate_cv_freeze").set_value("head")
    start = next(b for b in at.button if b.label == "Start cross-validation")
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not started
    (said,) = [w.value for w in at.warning if "stay random" in w.value]
    assert said.startswith("The freeze strategy **Head only** freezes layers of a custom base")
    at.checkbox(key="evaluate_cv_random_ok").check()
    next(b for b in at.button if b.label == "Start cross-validation").click().run()
    assert len(started) == 1 and started[0][0].freeze == "head"


def _summary(prefix: str) -> dict:
    """A two-fold run's recorded result (its folds' jobs are tests/test_crossval_jobs.py's)."""
    levels = ("patch", "image", "case")
    return {
        "k": 2, "leave_one_patient_out": False, "seed": 0, "prefix": prefix,
        "folds": [{"fold": i + 1, "model_id": f"{prefix}-fold{i + 1}of2",
                   "patients": [f"p{i}"], "auc": {lv: 0.7 for lv in levels}}
                  for i in range(2)],
        "fold_patients": [["p0"], ["p1"]],
        "mean_sd": {lv: {"mean": 0.7, "sd": 0.0, "n": 2} for lv in levels},
        "pooled": {lv: {"auc": 0.7, "auc_ci_text": "0.600–0.800", "n": 2} for lv in levels},
        "config": TrainConfig(data="x").to_json(),
    }  # fmt: skip


def _forms(node) -> list:
    """Every form block under ``node`` of an AppTest tree."""
    found = []
    from streamlit.proto.Block_pb2 import Block

    proto = getattr(node, "proto", None)
    if isinstance(proto, Block) and proto.WhichOneof("type") == "form":
        found.append(proto.form)
    for child in getattr(node, "children", {}).values():
        found.extend(_forms(child))
    return found


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_the_cross_validation_form_starts_only_on_its_button(eval_env, tmp_path, monkeypatch):
    """Enter in a field submitted the form: filling in folds, epochs, batches and a run id
    with Enter after each started four cross-validations (twelve training jobs)."""
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    forms = [f for f in _forms(at.main) if f.form_id == "evaluate_cv_form"]
    assert len(forms) == 1 and forms[0].enter_to_submit is False


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_run_whose_folds_train_is_followed_without_a_reload(eval_env, tmp_path, monkeypatch):
    """The tab said "press R to refresh" and showed every fold queued long after they had
    finished: the run's part now reruns by itself while its folds train (as Train's live
    section), and is drawn once, with the pooling, when they are done."""
    import streamlit as st

    import pages.evaluate_tabs.crossval as tab

    settings = Settings(runs_dir=tmp_path / "runs")
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    record_result(_summary("cv-live"), settings)
    states = {"cv-live": "running"}
    monkeypatch.setattr(tab, "run_state", lambda r, s=None: states[r.id])
    every: list[float | None] = []
    real = st.fragment

    def fragment(fn=None, *, run_every=None, **kw):
        if getattr(fn, "__name__", "") == "run_ui":
            every.append(run_every)
        return real(fn, run_every=run_every, **kw)

    monkeypatch.setattr(st, "fragment", fragment)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert every == [tab.REFRESH_S]
    assert any("follows them as they finish" in i.value for i in at.info)
    assert not any(b.key == "evaluate_cv_pool" for b in at.button)
    states["cv-live"] = "ready"
    at.run()
    assert every[-1] is None  # nothing left to follow
    assert at.button(key="evaluate_cv_pool")


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_stopped_command_line_run_shows_cancelled_with_its_finished_folds(
    eval_env, tmp_path, monkeypatch
):
    """A ``crossval`` stopped before its last fold (SIGTERM, Ctrl+C) was not listed at all;
    it is now, as cancelled, with the folds it finished (each a whole model)."""
    from mcalc.jobs.crossval import record_stopped
    from mcalc.models.crossval import CrossvalPlan, CrossvalStopped

    settings = Settings(runs_dir=tmp_path / "runs")
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    plan = CrossvalPlan(TrainConfig(data="d"), 2, [("p1",), ("p2",)], "cv-stop", False)
    record_stopped(CrossvalStopped(plan, ["cv-stop-fold1of2"]), settings)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if "Cancelled" in w.value]
    assert said and "1 of 2 folds finished (`cv-stop-fold1of2`)" in said[0], said
    assert not any(b.key == "evaluate_cv_pool" for b in at.button)


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_cross_validation_can_choose_each_folds_threshold_as_train_does(
    eval_env, tmp_path, monkeypatch
):
    """Every fold of the tab's cross-validation decided at 0.5 (Loizidou 2020's
    leave-one-patient-out accuracies are each fold's at its own threshold): the tab has
    Train's choice now, off by default, carried in the folds' training configuration."""
    import pages.evaluate_tabs.crossval as tab

    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    started: list[TrainConfig] = []

    def submit(config, *a, **k):  # the folds' jobs are tests/test_crossval_jobs.py's
        started.append(config)
        return record_result(_summary(f"cv-op{len(started)}"), Settings(runs_dir=tmp_path / "runs"))

    monkeypatch.setattr(tab, "submit_crossval", submit)
    monkeypatch.setattr(tab.jobs, "ensure_scheduler", lambda *a, **k: None)
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    toggle = at.toggle(key="evaluate_cv_operating_point")
    assert toggle.value is False
    assert toggle.label == (
        "When trained, choose its decision threshold on the validation patients (Youden's J)"
    )
    next(b for b in at.button if b.label == "Start cross-validation").click().run()
    at.toggle(key="evaluate_cv_operating_point").set_value(True)
    next(b for b in at.button if b.label == "Start cross-validation").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [c.operating_point for c in started] == ["none", "youden"]


@pytest.mark.slow  # an AppTest run of the page: 3-10 s
def test_a_pooled_run_says_the_threshold_each_fold_decides_at(eval_env, tmp_path, monkeypatch):
    """As ``crossval --operating-point`` prints them: "fold 1 decides at 0.70: ..."."""
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    points = [{"fold": 1, "value": 0.7, "source": "Youden's J on 4 validation images"},
              {"fold": 2, "value": None, "note": "one class only: it decides at 0.5"}]  # fmt: skip
    record_result(
        _summary("cv-op") | {"operating_points": points}, Settings(runs_dir=tmp_path / "runs")
    )
    at = _page()
    at.session_state["evaluate_tab"] = "Cross-validation"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = [c.value for c in at.caption if "decides at" in c.value]
    assert said == [
        "fold 1 decides at 0.70: Youden's J on 4 validation images\n\n"
        "fold 2 decides at 0.50: one class only: it decides at 0.5"
    ], said
