"""ModelCard: reads every card written so far, loses no key, and answers what pages ask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mcalc.models.card import ModelCard
from mcalc.models.registry import list_models, load_card
from mcalc.models.tasks import TASKS

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "models" / "demo-custom"


def _demo() -> dict[str, Any]:
    return json.loads((DEMO / "card.json").read_text(encoding="utf-8"))


# The two summaries as they were before ModelCard (oracles: the card's methods must agree).
def _old_audit_summary(card: Mapping[str, Any], max_len: int = 300) -> str:
    keys = ("architecture", "task", "classes", "patch", "created", "val_auc", "metrics")
    parts = []
    for key in keys:
        if key in card and card[key] not in (None, ""):
            value = card[key]
            if isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, Mapping):
                value = ",".join(f"{k}:{v}" for k, v in list(value.items())[:4])
            parts.append(f"{key}={value}")
    return "; ".join(parts)[:max_len]


def _old_cli_summary(card: dict[str, Any]) -> dict[str, Any]:
    test = (card.get("metrics") or {}).get("test") or {}
    return {
        "id": card.get("id"),
        "architecture": card.get("architecture"),
        "task": card.get("task"),
        "classes": card.get("classes"),
        "freeze": (card.get("freeze") or {}).get("strategy"),
        "weights": (card.get("weights") or {}).get("source"),
        "pretrained": bool(card.get("pretrained", False)),
        "synthetic_data": bool((card.get("data") or {}).get("synthetic", False)),
        "patch": card.get("patch"),
        "test_auc": test.get("auc"),
        "test_accuracy": test.get("accuracy"),
        "trained_by": card.get("trained_by", ""),
    }


OLD_CARD = {  # an early card: no version, weights, data, split, versions or binary views
    "architecture": "custom",
    "task": "calcification",
    "classes": ["no-calcification", "calcification"],
    "patch": {"size": 64, "spacing_mm": 0.1},
    "metrics": {"val": {"auc": 0.8}},
    "val_auc": 0.8,
    "created": "2025-01-01T00:00:00+00:00",
}
ODD_CARD = {  # values of unexpected types are kept as they are
    "architecture": "resnet50",
    "task": "patch",
    "classes": ["normal", "calc"],
    "patch": 64,
    "metrics": {"auc": 0.9},
    "seed": "zero",
    "data": {"synthetic": "yes", "cases": 3, "note": {"a": 1}},
}


@pytest.mark.parametrize(
    "data", [_demo(), OLD_CARD, ODD_CARD, {}], ids=["demo", "old", "odd", "empty"]
)
def test_round_trip_keeps_every_key_value_and_order(data: dict[str, Any]) -> None:
    back = ModelCard.from_json(data).to_json()
    assert back == data
    assert list(back) == list(data)
    assert json.loads(json.dumps(back)) == data


def test_typed_fields_of_the_committed_card() -> None:
    card = ModelCard.from_json(_demo())
    assert card.id == "demo-custom" and card.architecture == "custom"
    assert card.task is TASKS["calcification"] and card.task_name == "calcification"
    assert card.classes == ("no-calcification", "calcification")
    assert card.freeze.strategy == "full" and not card.freeze.two_stage
    # 40 epochs with hard-negative mining: 20 on the sampled patches, 20 with the mined ones.
    assert [(s["stage"], s["epochs"]) for s in card.freeze.stages] == [
        ("train", 20),
        ("hardneg", 20),
    ]
    assert card.hard_negatives is not None
    hard = card.hard_negatives
    assert (hard.per_image, hard.mined, hard.images, hard.after_epoch) == (16, 384, 24, 20)
    assert (card.trainable_params, card.total_params) == (23106, 23106)
    assert card.weights.source == "random" and not card.weights.pretrained
    assert (card.patch.size, card.patch.spacing_mm, card.patch.window) == (64, 0.1, "file")
    assert card.data.synthetic and len(card.data.fingerprint) == 64 and card.data.cases == 12
    assert card.split.test == ("normal-1", "normal-4", "suspicious-6")
    assert card.hyperparameters.batch == 32 and card.seed == 0
    # Retrained on the harder demo (difficulty "real"): a model, not a perfect score; by
    # today's code (6 December 2026, h/demo: mining takes a near-flat plateau once, at its
    # centre, since detection rule 3; 5 December, h/repro: an exactly flat one, 40bc512).
    assert card.test_metrics["auc"] == 0.973958 and card.test_metrics["n"] == 234
    assert card.training_seconds == 165.78 and card.versions["keras"] == "3.15.1"
    assert card.trained_by == "mcalc maintainers"
    # Its operating point, chosen on its validation patients (never the test split) by
    # `models threshold demo-custom --data data/demo` on 7 December 2026.
    point = card.decision_threshold
    assert point is not None and (point.value, point.rule, point.split) == (
        0.921513,
        "youden",
        "val",
    )
    assert (point.images, point.positives, point.patients) == (12, 8, 3)
    assert point.data_fingerprint == card.data.fingerprint and point.extra == {}
    assert card.extra == {}  # every top-level key of today's cards is typed


def test_old_card_gets_defaults_and_keeps_unknown_keys() -> None:
    card = ModelCard.from_json(OLD_CARD)
    assert card.test_metrics == {} and card.weights.source == "?" and not card.data.synthetic
    assert card.patch.pos_per_image == 16 and card.split.test == ()
    assert card.extra == {"val_auc": 0.8}
    odd = ModelCard.from_json(ODD_CARD)
    assert odd.patch.size == 0 and odd.extra["patch"] == 64 and odd.seed == 0
    assert odd.data.cases == 3 and odd.data.extra == {"synthetic": "yes", "note": {"a": 1}}


def test_task_of_a_foreign_model_comes_from_its_classes() -> None:
    foreign = ModelCard.from_json({"task": "density", "classes": ["a", "b", "c"]})
    assert foreign.task.name == "density" and foreign.task.positive_class == "c"
    views = ModelCard.from_json(
        {"task": "birads", "classes": ["normal", "benign", "suspicious"],
         "binary_views": {"suspicious": ["suspicious"]}}
    )  # fmt: skip
    assert views.task is TASKS["birads"] and views.binary_views == {"suspicious": ("suspicious",)}


@pytest.mark.parametrize(
    "data", [_demo(), OLD_CARD, ODD_CARD, {}], ids=["demo", "old", "odd", "empty"]
)
def test_summaries_say_what_the_two_card_summary_functions_said(data: dict[str, Any]) -> None:
    from mcalc.store.audit import card_summary

    card = ModelCard.from_json(data)
    assert card.summary_line() == _old_audit_summary(data)
    assert card.summary_line(40) == _old_audit_summary(data, 40)
    # The audit record keeps the summary whole (it was cut at 300 characters), as JSON
    # (it was the line, its nested values in Python's notation).
    assert card_summary(card) == card_summary(data)
    keys = ("architecture", "task", "classes", "patch", "created", "val_auc", "metrics")
    fields = {k: data[k] for k in keys if data.get(k) not in (None, "")}
    assert (json.loads(card_summary(card)) if fields else card_summary(card)) == (fields or "")


def test_summary_dict_is_the_cli_summary() -> None:
    from mcalc.cli.predict import card_summary

    data = _demo()
    assert card_summary(ModelCard.from_json(data)) == _old_cli_summary(data)


def test_registry_returns_cards_with_their_model_file_and_fingerprint(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(DEMO, tmp_path / "m")
    card = load_card(tmp_path / "m")
    assert card.id == "m" and Path(card.path) == (tmp_path / "m").resolve()
    assert card.model_file.is_file() and card.model_file.parent == Path(card.path)
    assert card.to_json()["id"] == "m" and card.to_json()["path"] == card.path
    stamp = card.fingerprint()
    assert stamp == card.fingerprint() != "unknown"
    st = card.model_file.stat()
    os.utime(card.model_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert card.fingerprint() != stamp  # a retrained (rewritten) model is a new model
    card.model_file.unlink()
    assert card.fingerprint() == "unknown"
    assert [c.id for c in list_models(tmp_path).models] == []


def test_card_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from mcalc.models.card import ModelCard; "
        f"ModelCard.from_json({_demo()!r}).summary_line(); "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_trained_by_is_read_written_and_absent_on_old_cards() -> None:
    assert ModelCard.from_json(OLD_CARD).trained_by == ""
    assert "trained_by" not in ModelCard.from_json(OLD_CARD).to_json()  # old cards stay as read
    card = ModelCard.from_json({**OLD_CARD, "trained_by": "rita"})
    assert card.trained_by == "rita" and card.to_json()["trained_by"] == "rita"
    assert card.summary_dict()["trained_by"] == "rita"


def test_a_card_names_data_inside_the_clone_relative_to_it() -> None:
    """The committed demo card reads the same in every clone: no one's home folder."""
    from mcalc.config import REPO_ROOT
    from mcalc.models.train_card import card_data_path

    assert card_data_path(REPO_ROOT / "data" / "demo") == "data/demo"
    assert card_data_path(REPO_ROOT / "data" / ".." / "data" / "demo") == "data/demo"
    outside = Path("/srv/datasets/microcalc")
    assert card_data_path(outside, clone=Path("/srv/clone")) == str(outside.resolve())
    data = _demo()["data"]
    assert data["path"] == "data/demo" and data["synthetic"] is True


def test_a_training_log_names_paths_inside_the_clone_relative_to_it(tmp_path) -> None:
    """The committed demo model's log named the maintainer's /work/main/... folders."""
    from mcalc.config import REPO_ROOT
    from mcalc.models.train_card import log_config
    from mcalc.models.train_config import TrainConfig

    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    config = TrainConfig(
        data=str(REPO_ROOT / "data" / "demo"),
        models_dir=str(REPO_ROOT / "models"),
        runs_dir=str(tmp_path / "runs"),
        weights=str(weights),
    )
    logged = log_config(config)
    assert (logged["data"], logged["models_dir"]) == ("data/demo", "models")
    assert logged["runs_dir"] == str((tmp_path / "runs").resolve())  # outside: absolute
    assert logged["weights"] == str(weights.resolve())
    assert log_config(TrainConfig(data="d", weights="imagenet"))["weights"] == "imagenet"
    assert {
        k: v for k, v in logged.items() if k not in ("data", "models_dir", "runs_dir", "weights")
    } == {
        k: v
        for k, v in config.to_json().items()
        if k not in ("data", "models_dir", "runs_dir", "weights")
    }


def test_the_committed_demo_models_log_names_no_absolute_folder_of_the_clone() -> None:
    from mcalc.config import REPO_ROOT

    log = REPO_ROOT / "models" / "demo-custom" / "training_log.jsonl"
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    (tracking,) = [e for e in events if e["event"] == "tracking"]
    assert tracking["tensorboard"] == "tensorboard"
    assert (log.parent / tracking["tensorboard"]).is_dir()
    assert "/work/main" not in log.read_text(encoding="utf-8")


def test_test_scope_note_says_when_the_test_figures_are_of_other_data() -> None:
    """Predict shows a card's test AUC beside the open dataset's images: it said nothing
    when that dataset was not the one the figures were measured on (a user check)."""
    card = ModelCard.from_json(json.loads(Path("models/demo-custom/card.json").read_text()))
    assert card.data.fingerprint
    # The card's own data gives no note; another dataset one that names the card's data.
    same = card.data.fingerprint
    assert card.test_scope_note(same) is None
    note = card.test_scope_note("0" * 64)
    assert note is not None and "`data/demo`, 12 cases" in note and "not on the dataset" in note
    # A card that does not say where its figures come from is never taken for "this data".
    bare = ModelCard.from_json({"architecture": "custom"})
    assert "does not record" in (bare.test_scope_note(same) or "")
