"""mcalc.models.operating_point and mcalc.explain.operating: a model's decision threshold
chosen on its validation patients, recorded on its card, followed by Predict."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mcalc.explain.scoring import decision_threshold
from mcalc.models.card import ModelCard
from mcalc.models.operating_point import (
    ImageScore,
    ThresholdError,
    choose_on_validation,
    choose_threshold,
    manual_threshold,
    parse_rule,
    record_threshold,
    set_threshold,
)
from tests.conftest import REPO
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.models_fixtures import tiny_data_fixture  # noqa: F401

NOW = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)


def _oracle(y: np.ndarray, s: np.ndarray, rule: str) -> float:
    """The rule by brute force over every score as a candidate, highest first; Youden's
    then half-way to the next lower score."""
    best, best_t = -np.inf, None
    ranked = sorted(set(s.tolist()), reverse=True)
    for k, t in enumerate(ranked):
        sens = float((s[y == 1] >= t).mean())
        spec = float((s[y == 0] < t).mean())
        if rule == "youden" and sens + spec - 1 > best + 1e-12:
            best = sens + spec - 1
            best_t = (t + ranked[k + 1]) / 2 if k + 1 < len(ranked) else t
        if rule.startswith("sensitivity:") and sens >= float(rule.split(":")[1]):
            return t
    assert best_t is not None
    return best_t


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # 0.7: sens 4/5, spec 3/4 (J 0.55) beats 0.2's sens 1, spec 0.25; then half-way
        # down to 0.4, the next lower score, where the decisions are the same.
        ("youden", 0.55),
        ("sensitivity:0.6", 0.7),  # 3 of 5 needed; 0.7 is shared by two positives
        ("sensitivity:0.8", 0.7),  # the tie reaches 4 of 5 at the same threshold
        ("sensitivity:0.9", 0.2),  # all 5 needed: the lowest positive
        ("sensitivity:0.2", 0.9),  # one positive: the highest
    ],
)
def test_the_rule_picks_the_threshold_of_the_hand_made_scores(rule, expected) -> None:
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.7, 0.2, 0.75, 0.4, 0.3, 0.1])
    point = choose_threshold(y, s, parse_rule(rule))
    assert point.threshold == pytest.approx(expected)
    assert point.threshold == pytest.approx(_oracle(y, s, rule))
    assert point.sensitivity == pytest.approx(float((s[y == 1] >= expected).mean()))
    assert point.specificity == pytest.approx(float((s[y == 0] < expected).mean()))


def test_youden_ties_go_to_the_highest_threshold() -> None:
    # 0.8: sens 1/2, spec 1 (J 0.5); 0.3: sens 1, spec 1/2 (J 0.5): the more specific wins,
    # half-way down to 0.5.
    y, s = np.array([1, 1, 0, 0]), np.array([0.8, 0.3, 0.5, 0.1])
    assert choose_threshold(y, s, parse_rule("youden")).threshold == pytest.approx(0.65)
    rng = np.random.default_rng(3)
    for _ in range(20):  # and agrees with the brute force on seeded random scores
        y = np.r_[np.ones(6, int), np.zeros(9, int)]
        s = np.round(rng.random(15), 1)  # ties among scores
        for rule in ("youden", "sensitivity:0.5", "sensitivity:0.9"):
            got = choose_threshold(y, s, parse_rule(rule)).threshold
            assert got == pytest.approx(_oracle(y, s, rule)), (rule, y, s)


@pytest.mark.parametrize("text", ["sensitivity:0", "sensitivity:1.5", "sensitivity:x", "auc"])
def test_a_bad_rule_says_which_rules_exist(text) -> None:
    with pytest.raises(ThresholdError, match="sensitivity"):
        parse_rule(text)


def _card(**split) -> ModelCard:
    return ModelCard.from_json(
        {
            "id": "m",
            "architecture": "custom",
            "task": "calcification",
            "classes": ["no-calcification", "calcification"],
            "patch": {"size": 32},
            "data": {"path": "data/demo", "fingerprint": "a" * 64},
            "split": {"train": ["t"], "val": ["v1", "v2"], "test": ["x"], **split},
        }
    )


def _scores(truths: list[int], case: str = "v1") -> list[ImageScore]:
    return [ImageScore(f"{case}/{k}", case, case, t, 0.1 + 0.2 * k) for k, t in enumerate(truths)]


def test_the_choice_says_what_it_was_chosen_on() -> None:
    scores = _scores([0, 0, 1]) + _scores([0, 1], "v2")
    choice = choose_on_validation(
        _card(), scores, parse_rule("youden"), "a" * 64, by="rob", now=NOW
    )
    # Youden's J at 0.3 (sens 1, spec 2/3), half-way down to 0.1.
    assert (choice.value, choice.images, choice.positives, choice.patients) == (0.2, 5, 2, 2)
    assert choice.source == (
        "Youden's J on 5 validation images (2 patients) of the training data, set by rob on "
        "2026-12-07"
    )
    card = choice.as_card()
    assert card["split"] == "val" and card["data_fingerprint"] == "a" * 64
    assert card["sensitivity"] == 1.0 and card["specificity"] == pytest.approx(2 / 3, abs=1e-6)


@pytest.mark.parametrize(
    ("card", "fingerprint", "scores", "match"),
    [
        (_card(val=[]), "a" * 64, _scores([0, 1]), "names no validation patients"),
        (_card(), "b" * 64, _scores([0, 1]), f"fingerprint {'b' * 12}.*fingerprint {'a' * 12}"),
        (_card(), "a" * 64, _scores([1, 1]), r"\(1 patient\) hold only positive images"),
        (_card(), "a" * 64, _scores([0, 0]), "no positive images"),
        (_card(), "a" * 64, _scores([0, 1], "x"), "never the test patients"),
    ],
)
def test_errors_say_what_is_wrong_and_what_to_do(card, fingerprint, scores, match) -> None:
    with pytest.raises(ThresholdError, match=match):
        choose_on_validation(card, scores, parse_rule("youden"), fingerprint)


def test_a_manual_threshold_needs_a_source_and_a_map_score() -> None:
    with pytest.raises(ThresholdError, match="needs its source"):
        manual_threshold(0.4, " ")
    with pytest.raises(ThresholdError, match=r"\[0, 1\]"):
        manual_threshold(1.5, "study")
    t = manual_threshold(0.4, "the reader study", by="rob", now=NOW)
    assert t.source == "the reader study (set by hand by rob on 2026-12-07)"


def _model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "m"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(_card().to_json(), indent=2), encoding="utf-8")
    (folder / "model.keras").write_bytes(b"x")
    return folder


def test_the_card_round_trip_keeps_the_old_card_beside_it(tmp_path) -> None:
    folder = _model_folder(tmp_path)
    original = (folder / "card.json").read_bytes()
    first = manual_threshold(0.4, "study A", now=NOW)
    change = record_threshold(folder, first, now=NOW)
    assert change.old is None and change.kept.name == "card.20261207T133000Z.json"
    assert change.kept.read_bytes() == original
    from mcalc.models.registry import load_card

    t = decision_threshold(load_card(folder))
    assert (t.value, t.source) == (0.4, first.source)
    second = record_threshold(folder, manual_threshold(0.6, "study B", now=NOW), now=NOW)
    assert second.old is not None and second.old["value"] == 0.4
    assert second.kept.name == "card.20261207T133000Z-2.json"  # the same second: not lost
    assert json.loads(second.kept.read_text())["decision_threshold"]["value"] == 0.4
    assert decision_threshold(load_card(folder)).value == 0.6


def test_a_reader_may_not_set_a_threshold(tmp_path) -> None:
    from mcalc.access.admin import NotAllowed

    folder = _model_folder(tmp_path)
    with pytest.raises(NotAllowed, match="decision threshold"):
        set_threshold(folder, manual_threshold(0.4, "s"), role="reader", user="rita")
    assert "decision_threshold" not in json.loads((folder / "card.json").read_text())
    set_threshold(folder, manual_threshold(0.4, "s"), role="researcher", user="rob")
    log = (folder.parent / ".admin-log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["action"] == "set_threshold"


def _spot_on_demo(spot_registry: Path, tiny_demo: Path, tmp_path: Path, val: list[str]) -> Path:
    """The hand-made spot detector registered as trained on the tiny demo, with ``val``
    as its validation cases."""
    from mcalc.dataset import open_dataset
    from mcalc.models.fingerprint import dataset_fingerprint

    folder = tmp_path / "models" / "spot"
    shutil.copytree(spot_registry / "spot", folder)
    card = json.loads((folder / "card.json").read_text())
    card["data"] = {
        "path": str(tiny_demo),
        "fingerprint": dataset_fingerprint(open_dataset(tiny_demo)),
    }
    card["split"] = {"train": [], "val": val, "test": []}
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_chosen_on_the_validation_images_and_predict_decides_at_it(
    spot_registry, tiny_demo, tmp_path
) -> None:
    from mcalc.dataset import open_dataset
    from mcalc.explain.operating import choose_operating_point
    from mcalc.explain.results import ResultsCache
    from mcalc.explain.runs import case_request, run_case
    from mcalc.explain.service import ImageInput
    from mcalc.models.inference import load_model
    from mcalc.models.registry import load_card

    index = open_dataset(tiny_demo)
    # normal-3's images hold no marked calcification, suspicious-3's all do.
    val = ["suspicious-3", "normal-3"]
    case = next(c for c in index.cases if c.case_id == "suspicious-3")
    folder = _spot_on_demo(spot_registry, tiny_demo, tmp_path, val)
    loaded = load_model(folder, folder.parent)
    results = ResultsCache(tmp_path / "cache")
    choice, skipped = choose_operating_point(
        loaded, index, parse_rule("sensitivity:1"), results=results
    )
    assert (choice.images, choice.positives, choice.patients, skipped) == (8, 4, 2, {})
    assert choice.sensitivity == 1.0 and choice.specificity == 1.0  # the spot detector
    assert choice.rule == "sensitivity:1" and choice.split == "val"

    # Predict's service path: an analysis kept by the shared analyses at the old threshold
    # is not what a reader gets once the card names another.
    rec = case.image("CC", "recent")
    assert rec is not None
    first = run_case(
        loaded, case_request(loaded, [ImageInput.from_record(rec, case)]), results=results
    )
    score = first.images[0].score
    assert first.threshold.is_default and first.predicted(first.images[0]) == "calcification"
    assert score >= 0.5
    set_threshold(folder, manual_threshold(min(1.0, score + 1e-3), "test"), role="admin")
    now = loaded.with_card(load_card(folder))
    assert now.model is loaded.model
    again = run_case(now, case_request(now, [ImageInput.from_record(rec, case)]), results=results)
    assert again.threshold.value == pytest.approx(min(1.0, score + 1e-3))
    assert again.predicted(again.images[0]) == "not calcification"


def test_the_command_shows_and_sets_by_hand_and_evaluate_names_it(tmp_path, capsys) -> None:
    """`evaluate` reads the patches at 0.5 as the page does (it defaulted to the card's
    map-score threshold until 7 December 2026) and names the card's threshold beside it."""
    import argparse

    from mcalc.cli import main
    from mcalc.cli.evaluate import _threshold

    folder = _model_folder(tmp_path)
    models = str(folder.parent)
    assert main(["models", "threshold", "m", "--models", models]) == 0
    assert "decision threshold 0.5 (default" in capsys.readouterr().out
    args = argparse.Namespace(threshold=None, model="m", models=models)
    said = _threshold(args)
    assert said.endswith("decides at 0.50 too (default, as the model card names none)")
    assert args.threshold == 0.5

    assert main(["models", "threshold", "m", "--models", models, "--value", "0.4"]) == 2
    assert "needs its source" in capsys.readouterr().err
    code = main(
        ["models", "threshold", "m", "--models", models, "--value", "0.42", "--source",
         "reader study", "--by", "rob", "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["old"]["value"] == 0.5 and out["new"]["value"] == 0.42
    assert out["new"]["source"].startswith("reader study (set by hand by rob on ")
    assert Path(out["kept"]).is_file() and Path(out["kept"]).parent == folder

    args = argparse.Namespace(threshold=None, model="m", models=models)
    said = _threshold(args)
    assert "decision threshold, 0.42 (reader study" in said and args.threshold == 0.5
    assert "--threshold 0.42 reads the patches at it" in said
    args = argparse.Namespace(threshold=0.3, model="m", models=models)
    assert _threshold(args) == "given with --threshold" and args.threshold == 0.3


def test_evaluate_shows_the_threshold_and_sets_it_on_the_validation_patients(
    app_env, spot_registry, tmp_path, monkeypatch
) -> None:
    from tests.app_pages import open_page

    folder = _spot_on_demo(spot_registry, app_env, tmp_path, ["suspicious-3", "normal-3"])
    shutil.copytree(REPO / "models" / "demo-custom", folder.parent / "demo-custom")
    monkeypatch.setenv("MCALC_MODELS", str(folder.parent))
    at = open_page("pages/evaluate.py")
    at.multiselect(key="evaluate_models").set_value(["spot", "demo-custom"]).run()
    shown = [m.value for m in at.markdown]
    assert any("**spot** decides at **0.5** (default" in m for m in shown)
    # demo-custom was trained on data/demo, not the tiny set open here: refused, said why.
    assert any("not the one demo-custom was trained on" in w.value for w in at.warning)
    assert at.button(key="evaluate_operating_set_spot") is not None
    at.radio(key="evaluate_operating_rule_spot").set_value("sensitivity").run()
    at.number_input(key="evaluate_operating_target_spot").set_value(1.0).run()
    at.button(key="evaluate_operating_set_spot").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("`spot` now decides at" in s.value for s in at.success)
    card = json.loads((folder / "card.json").read_text())["decision_threshold"]
    assert card["rule"] == "sensitivity:1" and card["images"] == 8 and card["split"] == "val"
    assert "set by" not in card["source"]  # nobody signed in (demo mode): no name invented
    assert list(folder.glob("card.*.json"))  # the card it replaced
    assert any(f"**spot** decides at **{card['value']:.4g}**" in m.value for m in at.markdown)


def test_a_chosen_threshold_is_shown_with_the_digits_that_decide() -> None:
    from mcalc.explain.scoring import DecisionThreshold

    t = DecisionThreshold(0.99467, "Youden's J on 12 validation images")
    # 0.992 is below 0.99467: shown as "(0.99)" the threshold read as if it were above.
    assert t.reading(0.992, "calcification") == (
        "below the model's operating threshold (0.9947): not read as calcification"
    )
    assert DecisionThreshold(0.5, "default").text == "0.50"


def test_train_refuses_a_bad_operating_point_rule_before_it_trains(tmp_path, capsys) -> None:
    from mcalc.cli import main

    data = tmp_path / "data"
    data.mkdir()
    models = tmp_path / "models"
    code = main(
        ["train", "--data", str(data), "--models", str(models), "--operating-point", "sens:0.9"]
    )
    assert code == 2 and "unknown rule 'sens:0.9'" in capsys.readouterr().err
    assert not models.exists()


@pytest.mark.slow
def test_train_with_an_operating_point_records_it_on_the_new_card(tiny_data, tmp_path, capsys):
    """As an app job runs it: the rule in the job's config.json (``train --config``), the
    choice made before the run's ``done`` (the job reads as running meanwhile), with its
    own progress events."""
    from mcalc.cli import main
    from mcalc.config import get_settings
    from mcalc.models.train_config import TrainConfig

    models = tmp_path / "models"
    config = TrainConfig(data=str(tiny_data), operating_point="youden", epochs=1, batch=8,
                         patch_size=32, max_steps=3, pos_per_image=4, neg_per_image=4)  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config.to_json()))
    code = main(
        ["train", "--config", str(tmp_path / "config.json"), "--models", str(models), "--id",
         "op", "--json"]
    )  # fmt: skip
    card = json.loads(capsys.readouterr().out)
    assert code == 0
    log = get_settings().runs_dir / "op" / "progress.jsonl"
    kinds = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert kinds[-1] == "done" and "threshold" in kinds, kinds
    assert kinds.index("threshold") > max(i for i, k in enumerate(kinds) if k == "epoch")
    t = card["decision_threshold"]
    assert t["rule"] == "youden" and t["split"] == "val" and t["images"] > t["positives"] > 0
    assert t["patients"] == len(card["split"]["val"])
    assert decision_threshold(ModelCard.from_json(card)).value == t["value"]


def test_a_birads_models_truth_is_its_cases_group(spot_registry, tiny_demo) -> None:
    from mcalc.dataset import open_dataset
    from mcalc.explain.operating import validation_scores
    from mcalc.models.inference import load_model

    index = open_dataset(tiny_demo)
    cases = [c for c in index.cases if c.case_id in ("normal-3", "suspicious-3")]
    loaded = load_model("rand-birads", spot_registry)
    scores, skipped = validation_scores(loaded, cases)
    assert not skipped and len(scores) == sum(len(c.images) for c in cases)
    group = {c.case_id: c.birads_group for c in cases}
    assert {s.case_id: s.truth for s in scores} == {
        k: int(g == "suspicious") for k, g in group.items()
    }
    assert set(group.values()) == {"normal", "suspicious"}


def test_a_threshold_that_cannot_be_chosen_leaves_the_model_at_half_with_a_warning(
    monkeypatch, tmp_path, capsys
) -> None:
    """After training, validation images of one class (a tiny set) leave no threshold to
    choose: the model stays registered, deciding at 0.5, and the run says so and what to do
    instead of failing a job whose model exists."""
    from types import SimpleNamespace

    import mcalc.dataset as dataset_module
    import mcalc.explain.operating as operating_module
    import mcalc.models.inference as inference_module
    import mcalc.models.registry as registry_module
    from mcalc.cli.models import _operating_point
    from mcalc.models.operating_point import ThresholdError
    from mcalc.models.train_config import TrainConfig

    loaded = SimpleNamespace(model_id="m1", card=SimpleNamespace(trained_by=""))
    monkeypatch.setattr(inference_module, "load_model", lambda folder, root: loaded)
    monkeypatch.setattr(dataset_module, "open_dataset", lambda data: object())

    def one_class(*args, progress, **kwargs):  # type: ignore[no-untyped-def]
        progress(0, 4, "CC")
        raise ThresholdError("its 4 validation images are all of one class")

    monkeypatch.setattr(operating_module, "choose_operating_point", one_class)
    card = SimpleNamespace(to_json=lambda: {"model_id": "m1"})
    monkeypatch.setattr(registry_module, "load_card", lambda folder: card)
    events: list[dict] = []
    out = _operating_point(
        TrainConfig(data="d", operating_point="youden"), tmp_path / "m1", events.append
    )
    assert out == {"model_id": "m1"}
    assert events == [
        {"event": "threshold", "done": 0, "total": 4, "message": "CC"},
        {"event": "no_threshold", "message": "its 4 validation images are all of one class"},
    ]
    err = capsys.readouterr().err
    assert "WARNING: m1 is registered but its decision threshold was not chosen" in err
    assert "all of one class" in err and "models threshold m1 --value" in err
