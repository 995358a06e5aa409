"""Counts in words (``1 case``, never ``1 cases``) and the summaries that use them."""

from __future__ import annotations

import copy

import pytest

from mcalc.models.card import ModelCard
from mcalc.models.card_text import card_facts
from mcalc.plural import counted, plural
from tests.test_card_text import CARD


@pytest.mark.parametrize(
    ("n", "noun", "many", "said"),
    [
        (1, "case", None, "1 case"),
        (2, "case", None, "2 cases"),
        (0, "image", None, "0 images"),
        (1, "patch", None, "1 patch"),
        (5, "patch", None, "5 patches"),
        (3, "study", None, "3 studies"),
        (3, "key", None, "3 keys"),
        (2, "analysis", "analyses", "2 analyses"),
        (None, "patch", None, "None patches"),  # as before: a count the card lacks
        (2, "validation image", None, "2 validation images"),
    ],
)
def test_counted(n, noun, many, said) -> None:
    assert counted(n, noun, many) == said


def test_plural_of_the_nouns_counted() -> None:
    assert [plural(w) for w in ("patient", "fold", "finding", "box")] == [
        "patients", "folds", "findings", "boxes",
    ]  # fmt: skip


def test_a_card_of_one_case_one_epoch_and_one_patch_says_so_in_the_singular() -> None:
    """Before: 'Training data: 1 cases', 'Training: 1 epochs', '(1 patches)'."""
    raw = copy.deepcopy(CARD)
    raw["data"]["cases"] = 1
    raw["hyperparameters"].update(epochs=1, epochs_run=1)  # all run: no "1 of 1"
    raw["metrics"]["test"]["n"] = 1
    facts = dict(card_facts(ModelCard.from_json(raw)))
    assert facts["Training data"].startswith("1 case, ")
    assert facts["Training"].startswith("1 epoch, ")
    assert facts["Test metrics"].endswith("(1 patch)")
