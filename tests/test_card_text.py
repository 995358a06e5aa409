"""The model card in words: every row a card holds, and the same rows (those it kept) from
the one-line summary an audit verdict records, whole or cut short."""

from __future__ import annotations

import json

from mcalc.models.card import ModelCard
from mcalc.models.card_text import (
    card_facts,
    card_from_summary,
    metrics_text,
    summary_fields,
    summary_json,
)

CARD = {
    "architecture": "resnet50",
    "task": "calcification",
    "classes": ["no-calcification", "calcification"],
    "freeze": {"strategy": "partial", "two_stage": True},
    "trainable_params": 1000,
    "total_params": 25000,
    "weights": {"source": "imagenet", "pretrained": True, "detail": "keras applications"},
    "pretrained": True,
    "patch": {"size": 96, "spacing_mm": 0.07, "window": "file"},
    "data": {"path": "/data/x", "fingerprint": "ab" * 32, "synthetic": False, "cases": 40},
    "hyperparameters": {"epochs": 10, "epochs_run": 7, "batch": 16, "optimizer": "adam"},
    "seed": 3,
    "training_seconds": 312.4,
    "metrics": {
        "val": {"n": 50, "support": {"a": 1}, "auc": 0.91, "accuracy": 0.8},
        "test": {
            "n": 60,
            "support": {"a": 1},
            "auc": 0.875,
            "accuracy": 0.85,
            "sensitivity": 0.7,
            "specificity": 0.9,
            "confusion_matrix": [[1, 2], [3, 4]],
        },
    },
    "created": "2026-12-02T12:40:46+00:00",
    "trained_by": "rob",
    "warnings": ["frozen base without pre-trained weights"],
}


def test_every_row_of_a_full_card() -> None:
    facts = dict(card_facts(ModelCard.from_json(CARD)))
    assert facts == {
        "Architecture": "resnet50 (1,000 of 25,000 parameters trained)",
        "Task": "calcification (classes no-calcification, calcification)",
        "Starting weights": "imagenet (pre-trained): keras applications",
        "Freeze strategy": "partial, two stages",
        "Input": "patches of 96 px at 0.07 mm",
        "Training data": "40 cases, /data/x, fingerprint abababababababab",
        "Training": "7 of 10 epochs, batch 16, adam, seed 3, 312 s",
        "Test metrics": "AUC 0.875 · accuracy 0.850 · sensitivity 0.700 · specificity 0.900 "
        "(60 patches)",
        "Validation metrics": "AUC 0.910 · accuracy 0.800 (50 patches)",
        "Created": "2026-12-02 12:40 UTC by rob",
        "Warning": "frozen base without pre-trained weights",
    }


def test_the_summary_line_reads_back_into_the_same_rows() -> None:
    card = ModelCard.from_json(CARD)
    full = dict(card_facts(card))
    back = dict(card_facts(card_from_summary(card.summary_line())))
    kept = ("Task", "Input", "Validation metrics")
    assert {k: back[k] for k in kept} == {k: full[k] for k in kept}
    # The line keeps four items of each metrics section: n, support, auc, accuracy.
    assert back["Test metrics"] == "AUC 0.875 · accuracy 0.850 (60 patches)"
    assert back["Architecture"] == "resnet50" and back["Created"] == "2026-12-02 12:40 UTC"
    short = dict(card_facts(card_from_summary(card.summary_line(120))))  # an older record
    assert short["Architecture"] == "resnet50" and "Test metrics" not in short
    assert card_facts(card_from_summary("free text")) == []


def test_metrics_at_a_threshold_say_which() -> None:
    """Accuracy, sensitivity and specificity hold at one threshold: the card's metrics
    name it where the card has it (the case report printed them without it)."""
    raw = {**CARD, "metrics": {"test": {**CARD["metrics"]["test"], "threshold": 0.5}}}
    facts = dict(card_facts(ModelCard.from_json(raw)))
    assert facts["Test metrics"].endswith("specificity 0.900 (60 patches, at threshold 0.5)")
    auc_only = {**CARD, "metrics": {"test": {"n": 9, "auc": 0.8, "threshold": 0.5}}}
    assert (
        dict(card_facts(ModelCard.from_json(auc_only)))["Test metrics"] == "AUC 0.800 (9 patches)"
    )


def test_metrics_at_another_threshold_than_the_operating_one_say_so() -> None:
    """The shipped demo model decides at 0.9215 (its card's operating point), and its card's
    sensitivity 0.833 and specificity 0.995 are per patch at 0.5: Predict printed them beside
    "Decision threshold 0.9215" with neither the threshold nor "per patch" (a radiologist's
    walk, 7 December 2026), read as what the model's decisions reach."""
    test = {"n": 234, "auc": 0.974, "sensitivity": 0.833, "specificity": 0.995, "threshold": 0.5}
    assert metrics_text(test, operating=0.921513) == (
        "AUC 0.974 · sensitivity 0.833 · specificity 0.995 (234 patches, at threshold 0.5, "
        "not the operating threshold 0.9215)"
    )
    assert metrics_text(test, operating=0.5).endswith("(234 patches, at threshold 0.5)")
    assert metrics_text(test).endswith("(234 patches, at threshold 0.5)")
    assert metrics_text({"n": 9, "auc": 0.8}, missing=True) == (
        "AUC 0.800 · accuracy n/a · sensitivity n/a · specificity n/a (9 patches)"
    )
    raw = {
        **CARD,
        "metrics": {"test": {**CARD["metrics"]["test"], "threshold": 0.5}},
        "decision_threshold": {"value": 0.75, "source": "Youden's J"},
    }
    facts = dict(card_facts(ModelCard.from_json(raw)))
    assert facts["Test metrics"].endswith(
        "(60 patches, at threshold 0.5, not the operating threshold 0.75)"
    )


#: An audit verdict's summary as recorded before 7 December 2026: nested values in Python's
#: notation (what the audit CSV's model_card column held).
OLD_LINE = (
    "architecture=custom; task=calcification; classes=no-calcification,calcification; "
    "patch=size:64,spacing_mm:0.1,window:file,input:gray [0, 1], preprocessing inside the "
    "model; created=2026-12-06T16:21:02+00:00; metrics=val:{'n': 228, 'support': "
    "{'no-calcification': 192}, 'auc': 0.98206},test:{'n': 234, 'auc': 0.973958, "
    "'confusion_matrix': [[191, 1], [7, 35]]}"
)


def test_a_recorded_summary_reads_as_json_fields_old_lines_included() -> None:
    """The audit table's model_card is a JSON object: today's records hold one; an older
    record's key=value line is read item by item, its metrics from Python's notation."""
    card = ModelCard.from_json(CARD)
    fields = summary_fields(summary_json(card))
    assert fields == card.summary_fields()
    assert fields["metrics"]["test"]["confusion_matrix"] == [[1, 2], [3, 4]]
    old = summary_fields(OLD_LINE)
    assert old == {
        "architecture": "custom",
        "task": "calcification",
        "classes": ["no-calcification", "calcification"],
        "patch": {
            "size": 64,
            "spacing_mm": 0.1,
            "window": "file",
            "input": "gray [0, 1], preprocessing inside the model",
        },
        "created": "2026-12-06T16:21:02+00:00",
        "metrics": {
            "val": {"n": 228, "support": {"no-calcification": 192}, "auc": 0.98206},
            "test": {"n": 234, "auc": 0.973958, "confusion_matrix": [[191, 1], [7, 35]]},
        },
    }
    # A line cut short (records before the summary was kept whole): what is whole is read,
    # the cut section kept as text; free text and nothing recorded.
    cut = summary_fields(OLD_LINE[:-30])
    assert cut["metrics"]["val"]["auc"] == 0.98206 and isinstance(cut["metrics"]["test"], str)
    assert summary_fields("metrics=test:{1, 2}") == {"metrics": {"test": "{1, 2}"}}  # no JSON form
    assert summary_fields("free text") == {"text": "free text"} and summary_fields("") == {}
    assert json.loads(summary_json(OLD_LINE)) == old and summary_json("") == ""


def test_a_json_summary_reads_back_into_the_cards_rows() -> None:
    """Today's records hold the summary as JSON: shown as the card's own rows (the line
    kept four items of each metrics section)."""
    card = ModelCard.from_json(CARD)
    full = dict(card_facts(card))
    back = dict(card_facts(card_from_summary(summary_json(card))))
    kept = ("Task", "Input", "Test metrics", "Validation metrics")
    assert {k: back[k] for k in kept} == {k: full[k] for k in kept}
    assert back["Architecture"] == "resnet50" and back["Created"] == "2026-12-02 12:40 UTC"


def test_seed_0_is_said_like_any_other_seed() -> None:
    """The Training row of every model trained with the default seed said no seed (demo-
    custom's among them: the reader could not tell 0 from not recorded)."""
    card = {**CARD, "seed": 0, "split": {"seed": 0, "train": ["a"], "test": ["b"]}}
    assert dict(card_facts(ModelCard.from_json(card)))["Training"] == (
        "7 of 10 epochs, batch 16, adam, seed 0, 312 s"
    )
    unknown = {k: v for k, v in CARD.items() if k != "seed"}  # a card that records none
    assert "seed" not in dict(card_facts(ModelCard.from_json(unknown)))["Training"]
