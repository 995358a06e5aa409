"""The threshold Evaluate's metrics are read at by default, on the page and the command line.

Evaluate's patch, image and case scores are patch probabilities (an image's and a case's:
the maximum over their sampled patches); a model's decision threshold, on its card, is a
:data:`~mcalc.explain.scoring.MAP_SCORE` threshold, chosen on whole images' dense maps at
which Predict, Batch and the reports decide. The two are in different units, so the
metrics default to :data:`METRICS_THRESHOLD`, 0.5, on the page (its slider) and in
``python -m mcalc evaluate`` (its ``--threshold``) alike: the same evaluation gives the same
numbers on both (the command read them at the card's threshold until 7 December 2026, the
page at 0.5). Either takes another threshold, a card's value included. A paired comparison's
accuracies and McNemar's test (``python -m mcalc compare``, Evaluate's paired comparison) read
both models' scores at one such threshold too (:func:`paired_threshold_source`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mcalc.explain.scoring import DEFAULT_THRESHOLD, MAP_SCORE, DecisionThreshold

__all__ = [
    "METRICS_THRESHOLD",
    "DEFAULT_WHY",
    "OTHER_UNITS",
    "card_in_other_units",
    "metrics_threshold_source",
    "paired_threshold_source",
    "evaluation_threshold_note",
]

#: Evaluate's default threshold on patch probabilities (the page's slider, ``--threshold``).
METRICS_THRESHOLD = DEFAULT_THRESHOLD

#: Why the scores are read at :data:`METRICS_THRESHOLD` when no threshold was given.
DEFAULT_WHY = "Evaluate's default on patch probabilities, the app's too"

#: What a card's decision threshold is, beside patch-probability scores.
OTHER_UNITS = f"a {MAP_SCORE} threshold of whole images, in other units"


def card_in_other_units(card: DecisionThreshold) -> str:
    """A model card's decision threshold named in its own units, beside scores in others.

    >>> card_in_other_units(DecisionThreshold(0.921513, "Youden's J"))
    "the model card's decision threshold, 0.921513 (Youden's J), is a map score threshold of whole images, in other units"
    """
    return f"the model card's decision threshold, {card.value:g} ({card.source}), is {OTHER_UNITS}"


def metrics_threshold_source(card: DecisionThreshold) -> str:
    """Why the metrics are at :data:`METRICS_THRESHOLD`, beside the model's decision
    threshold ``card`` (said after the value: ``at threshold 0.5 (...)``).

    >>> metrics_threshold_source(DecisionThreshold(0.921513, "Youden's J"))[:58]
    "Evaluate's default on patch probabilities, the app's too; "
    """
    if card.is_default:
        decides = f"the model decides at {card.text} too ({card.source})"
    else:
        decides = f"{card_in_other_units(card)}: --threshold {card.value:g} reads the patches at it"
    return f"{DEFAULT_WHY}; {decides}"


def paired_threshold_source(
    cards: Mapping[str, DecisionThreshold], level: str, given: str | None = None
) -> str:
    """Why a paired comparison's accuracies, and McNemar's test of their difference, read
    both models' ``level`` scores (``image``, ``case``) at one threshold in the scores' own
    units, beside each model's card threshold (``cards``, by model id), in other units.
    ``given`` says who chose the threshold (``"given with --threshold"``, ``"the
    slider's"``); ``None``: :data:`METRICS_THRESHOLD`, the default.

    >>> t = {"m": DecisionThreshold(0.921513, "Youden's J")}
    >>> paired_threshold_source(t, "case")[-76:]
    "map score threshold of whole images, in other units: m 0.921513 (Youden's J)"
    """
    each = " and ".join(f"{k} {t.value:g} ({t.source})" for k, t in cards.items())
    return (
        f"{given or DEFAULT_WHY}; one threshold for both models' {level} scores (the maximum "
        f"of sampled patch probabilities), never chosen on the compared {level}s; each model "
        f"card's decision threshold is {OTHER_UNITS}: {each}"
    )


def evaluation_threshold_note(
    at: str, level: str, thresholds: Mapping[str, DecisionThreshold]
) -> str:
    """What Evaluate's metrics are at, beside each model's operating threshold, which is in
    other units: ``at`` says the threshold in force (``"0.50"``, ``"each model's Youden
    threshold"``), ``level`` the scores it reads (``patch``, ``image``, ``case``).

    >>> t = {"m": DecisionThreshold(0.921513, "Youden's J on 12 validation images")}
    >>> evaluation_threshold_note("0.50", "patch", t)[:62]
    'Metrics at 0.50, read against patch scores (patch probabilitie'
    """
    scores = "patch probabilities" if level == "patch" else "the maximum of sampled patches"
    cards = "; ".join(f"{k} {t.text} ({t.source})" for k, t in thresholds.items())
    return (
        f"Metrics at {at}, read against {level} scores ({scores}). Each model's operating "
        f"threshold, its card's decision threshold at which Predict, Batch and the reports "
        f"decide, is a {MAP_SCORE} threshold (the maximum of the whole mammogram's dense "
        f"map): {cards}. The two are in different units: the slider starts at "
        f"{METRICS_THRESHOLD:.2f}, as `python -m mcalc evaluate` does; set it to a card's "
        "value to read its patch metrics there (`evaluate --threshold V`), not to get "
        "Predict's decisions."
    )
