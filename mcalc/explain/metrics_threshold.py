"""The threshold Evaluate's metrics are read at by default, on the page and the command line.

Evaluate's patch, image and case scores are patch probabilities (an image's and a case's:
the maximum over their sampled patches); a model's decision threshold, on its card, is a
:data:`~mcalc.explain.scoring.MAP_SCORE` threshold, chosen on whole images' dense maps at
which Predict, Batch and the reports decide. The two are in different units, so the
metrics default to :data:`METRICS_THRESHOLD`, 0.5, on the page (its slider) and in
``python -m mcalc evaluate`` (its ``--threshold``) alike: the same evaluation gives the same
numbers on both (the command read them at the card's threshold until 7 December 2026, the
page at 0.5). Either takes another threshold, a card's value included.
"""

from __future__ import annotations

from collections.abc import Mapping

from mcalc.explain.scoring import DEFAULT_THRESHOLD, MAP_SCORE, DecisionThreshold

__all__ = ["METRICS_THRESHOLD", "metrics_threshold_source", "evaluation_threshold_note"]

#: Evaluate's default threshold on patch probabilities (the page's slider, ``--threshold``).
METRICS_THRESHOLD = DEFAULT_THRESHOLD


def metrics_threshold_source(card: DecisionThreshold) -> str:
    """Why the metrics are at :data:`METRICS_THRESHOLD`, beside the model's decision
    threshold ``card`` (said after the value: ``at threshold 0.5 (...)``).

    >>> metrics_threshold_source(DecisionThreshold(0.921513, "Youden's J"))[:58]
    "Evaluate's default on patch probabilities, the app's too; "
    """
    if card.is_default:
        decides = f"the model decides at {card.text} too ({card.source})"
    else:
        decides = (
            f"the model card's decision threshold, {card.value:g} ({card.source}), is a "
            f"{MAP_SCORE} threshold of whole images, in other units: --threshold "
            f"{card.value:g} reads the patches at it"
        )
    return f"Evaluate's default on patch probabilities, the app's too; {decides}"


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
