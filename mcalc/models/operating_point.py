"""A model's operating point: the decision threshold chosen on its validation patients.

Predict decides on an image's map score (:data:`mcalc.explain.scoring.MAP_SCORE`): positive
at or above the model's decision threshold (:func:`mcalc.explain.scoring.decision_threshold`,
which reads the card's ``decision_threshold``). This module chooses that threshold on the map
scores of the images of the card's **validation** patients (never the test patients, on which
the model is judged), by a rule, and records it on the card with its provenance:

- ``youden``: the threshold maximising Youden's J = sensitivity + specificity - 1 (Youden,
  Cancer 1950, doi 10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3): of the
  scores reaching the highest J (within round-off) the highest (the more specific choice),
  then moved half-way down to the next lower validation score, where the validation images
  are decided the same (as R's pROC places its thresholds between scores): the score itself
  sits on the edge of the positives, and on the demo's perfectly separated validation
  images (negatives up to 0.848, positives from 0.99467) it read 4 of the 8 positive test
  images as negative, the midpoint 0.9215 read 2.
- ``sensitivity:T``: the highest threshold at which the sensitivity reaches ``T`` (a
  screening reader's "miss at most 10 %": ``sensitivity:0.9``).

A manual value with a stated source is allowed too (:func:`manual_threshold`). The card
file is never lost: :func:`record_threshold` keeps the card it replaces beside it
(``card.<UTC stamp>.json``).

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1, 1]); s = np.array([0.1, 0.3, 0.6, 0.5, 0.9])
    >>> choose_threshold(y, s, parse_rule("youden")).threshold
    0.4
    >>> choose_threshold(y, s, parse_rule("sensitivity:0.5")).threshold
    0.9
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mcalc.access.admin import check_allowed, record_action
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_bytes, atomic_write_json, file_lock
from mcalc.models.card import ModelCard
from mcalc.models.curves import OperatingPoint, operating_point, youden
from mcalc.models.layout import CARD_FILE
from mcalc.plural import counted

__all__ = [
    "CARD_KEY",
    "RULES",
    "ThresholdError",
    "ThresholdRule",
    "ImageScore",
    "ThresholdChoice",
    "ThresholdChange",
    "parse_rule",
    "choose_threshold",
    "validation_cases",
    "choose_on_validation",
    "manual_threshold",
    "record_threshold",
    "set_threshold",
]

#: The card's key of the decision threshold (read by ``decision_threshold``).
CARD_KEY = "decision_threshold"
#: The rules, as given on the command line and the page.
RULES = ("youden", "sensitivity:T")


class ThresholdError(McalcError):
    """A threshold that cannot be chosen or recorded (the message says what to do)."""


@dataclass(frozen=True)
class ThresholdRule:
    """How the threshold is chosen: ``youden``, or ``sensitivity`` with its ``target``."""

    kind: str
    target: float | None = None

    @property
    def text(self) -> str:
        """The rule as given (``youden``, ``sensitivity:0.9``)."""
        return self.kind if self.target is None else f"{self.kind}:{self.target:g}"

    @property
    def words(self) -> str:
        """The rule in a reader's words."""
        if self.kind == "youden":
            return "Youden's J"
        return f"the highest threshold reaching sensitivity {self.target:.2f}"


def parse_rule(text: str) -> ThresholdRule:
    """A rule from its text: ``youden`` or ``sensitivity:T`` with ``0 < T <= 1``.

    Raises:
        ThresholdError: anything else (the message lists the rules).

    >>> parse_rule("sensitivity:0.9")
    ThresholdRule(kind='sensitivity', target=0.9)
    """
    raw = str(text).strip().lower()
    if raw in ("youden", "youden's j", "j"):
        return ThresholdRule("youden")
    kind, _, value = raw.partition(":")
    if kind == "sensitivity":
        try:
            target = float(value)
        except ValueError:
            target = math.nan
        if 0.0 < target <= 1.0:
            return ThresholdRule("sensitivity", target)
        raise ThresholdError(
            f"rule {text!r}: the sensitivity target must be a number above 0 and at most 1 "
            "(e.g. sensitivity:0.9)"
        )
    raise ThresholdError(f"unknown rule {text!r}; expected youden or sensitivity:T (e.g. 0.9)")


def choose_threshold(truth: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> OperatingPoint:
    """The threshold ``rule`` picks on ``scores`` (positive when ``score >= threshold``),
    with the sensitivity and specificity reached there.

    Raises:
        ThresholdError: shapes that differ, truth not 0/1, or one class only.
    """
    y = np.asarray(truth)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int((y == 1).sum()) if y.shape == s.shape else 0
    if y.shape != s.shape or n_pos == 0 or n_pos == len(y):
        raise ThresholdError(
            f"a threshold needs positive and negative images; got {n_pos} positive of "
            f"{len(y)} (scores {s.shape}): choose it on data holding both"
        )
    try:
        if rule.kind == "youden":
            best = youden(y, s).threshold
            below = s[s < best]
            if below.size:  # half-way to the next lower score: the same decisions there
                best = (best + float(below.max())) / 2
            return operating_point(y, s, best)
        assert rule.target is not None
        ranked = np.sort(s[y == 1])[::-1]
        # The k-th highest positive score is the highest threshold at which k positives
        # read positive; 1e-9 keeps 0.9 * 10 from reading as 9.000000000000002.
        k = max(1, math.ceil(rule.target * n_pos - 1e-9))
        return operating_point(y, s, float(ranked[k - 1]))
    except ValueError as exc:
        raise ThresholdError(f"cannot choose a threshold: {exc}") from exc


@dataclass(frozen=True)
class ImageScore:
    """One validation image: its key, case, patient, truth (1: the positive class) and
    map score."""

    key: str
    case_id: str
    patient_id: str
    truth: int
    score: float


def validation_cases(card: ModelCard, fingerprint: str) -> tuple[str, ...]:
    """The case ids of the card's validation patients, on the dataset ``fingerprint``.

    Raises:
        ThresholdError: the card names no validation patients, or no dataset, or the
            dataset is not the one the model was trained on (its validation patients are
            defined on that one only).
    """
    name = card.id or "the model"
    if not card.split.val:
        raise ThresholdError(
            f"{name}'s card names no validation patients (split.val is empty): a threshold "
            "cannot be chosen on them; set one by hand with its source (--value V --source TEXT)"
        )
    if not card.data.fingerprint:
        raise ThresholdError(
            f"{name}'s card does not record the dataset it was trained on: its validation "
            "patients cannot be found; set a threshold by hand (--value V --source TEXT)"
        )
    if card.data.fingerprint != fingerprint:
        where = f"`{card.data.path}`" if card.data.path else "not recorded"
        raise ThresholdError(
            f"the dataset given (fingerprint {fingerprint[:12]}) is not the one {name} was "
            f"trained on (its card: {where}, fingerprint {card.data.fingerprint[:12]}): its "
            "validation patients are those of that dataset; give that one (--data), or set a "
            "threshold by hand with its source (--value V --source TEXT)"
        )
    return tuple(card.split.val)


@dataclass(frozen=True)
class ThresholdChoice:
    """A decision threshold and where it comes from, as the card keeps it.

    Attributes:
        value: the threshold (a map score).
        source: where it comes from, in words (shown beside every decision).
        rule: the rule's text (``youden``, ``sensitivity:0.9``, ``manual``).
        split: the split chosen on (``val``; ``""`` for a manual value).
        images, positives, patients: what it was chosen on.
        sensitivity, specificity: reached there on those images.
        data_fingerprint: the dataset's fingerprint.
        chosen_at: when (ISO 8601, UTC).
        set_by: who (``""``: not known).
    """

    value: float
    source: str
    rule: str
    split: str = ""
    images: int = 0
    positives: int = 0
    patients: int = 0
    sensitivity: float | None = None
    specificity: float | None = None
    data_fingerprint: str = ""
    chosen_at: str = ""
    set_by: str = ""

    def as_card(self) -> dict[str, Any]:
        """The card's ``decision_threshold`` object."""
        out: dict[str, Any] = {"value": self.value, "source": self.source, "rule": self.rule}
        if self.split:
            out.update(
                split=self.split,
                images=self.images,
                positives=self.positives,
                patients=self.patients,
                sensitivity=self.sensitivity,
                specificity=self.specificity,
                data_fingerprint=self.data_fingerprint,
            )
        out.update(chosen_at=self.chosen_at, set_by=self.set_by)
        return out


def _by_on(now: datetime, by: str) -> str:
    """`` by rob on 2026-12-07`` (`` on 2026-12-07`` when who is not known)."""
    who = f" by {by}" if by else ""
    return f"{who} on {now.date().isoformat()}"


def choose_on_validation(
    card: ModelCard,
    scores: Sequence[ImageScore],
    rule: ThresholdRule,
    fingerprint: str,
    *,
    by: str = "",
    now: datetime | None = None,
) -> ThresholdChoice:
    """The threshold ``rule`` picks on the map scores of the card's validation images.

    Args:
        card: the model's card (its split and dataset are checked).
        scores: the validation images' map scores (images of other cases refused).
        rule: :func:`parse_rule`'s.
        fingerprint: the dataset the scores were taken on.
        by: who chooses it (``""``: not known).
        now: when (default: now, UTC).

    Raises:
        ThresholdError: the card names no validation split or another dataset, an image
            of another split, or validation images of one class only.
    """
    val = set(validation_cases(card, fingerprint))
    foreign = sorted({s.case_id for s in scores} - val)
    if foreign:
        raise ThresholdError(
            f"images of cases outside the validation split ({', '.join(foreign[:4])}): a "
            "threshold is chosen on the validation patients only, never the test patients"
        )
    y = np.array([s.truth for s in scores], dtype=np.int64)
    n_pos, patients = int(y.sum()), len({s.patient_id for s in scores})
    if n_pos == 0 or n_pos == len(scores):
        only = "no" if n_pos == 0 else "only"
        raise ThresholdError(
            f"the {len(scores)} validation images of {card.id or 'the model'} "
            f"({counted(patients, 'patient')}) hold {only} positive images: a threshold needs both; set one by hand "
            "with its source (--value V --source TEXT)"
        )
    point = choose_threshold(y, np.array([s.score for s in scores]), rule)
    now = now or datetime.now(UTC)
    source = (
        f"{rule.words} on {counted(len(scores), 'validation image')} ({counted(patients, 'patient')}) of the "
        f"training data, set{_by_on(now, by)}"
    )
    return ThresholdChoice(
        value=round(point.threshold, 6),
        source=source,
        rule=rule.text,
        split="val",
        images=len(scores),
        positives=n_pos,
        patients=patients,
        sensitivity=round(point.sensitivity, 6),
        specificity=round(point.specificity, 6),
        data_fingerprint=fingerprint,
        chosen_at=now.isoformat(timespec="seconds"),
        set_by=by,
    )


def manual_threshold(
    value: float, source: str, *, by: str = "", now: datetime | None = None
) -> ThresholdChoice:
    """A threshold set by hand, with its source in words (required: a bare number says
    nothing of where it comes from).

    Raises:
        ThresholdError: a value outside [0, 1], or no source.
    """
    if not (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0):
        raise ThresholdError(f"a threshold is a map score in [0, 1], got {value!r}")
    if not source.strip():
        raise ThresholdError(
            "a threshold set by hand needs its source (--source TEXT: where it comes from, "
            "e.g. 'the reader study of 2026-11')"
        )
    now = now or datetime.now(UTC)
    return ThresholdChoice(
        value=float(value),
        source=f"{source.strip()} (set by hand{_by_on(now, by)})",
        rule="manual",
        chosen_at=now.isoformat(timespec="seconds"),
        set_by=by,
    )


@dataclass(frozen=True)
class ThresholdChange:
    """What :func:`record_threshold` did: the card's entry before (``None``: none) and
    after, and where the card it replaced was kept."""

    old: Mapping[str, Any] | None
    new: Mapping[str, Any]
    kept: Path


def record_threshold(
    folder: str | Path, choice: ThresholdChoice, *, now: datetime | None = None
) -> ThresholdChange:
    """Write ``choice`` to the card of the model in ``folder`` under ``decision_threshold``,
    keeping the card it replaces beside it as ``card.<UTC stamp>.json`` (the same bytes).

    Raises:
        ThresholdError: no card, an unreadable one, or one that cannot be written.
    """
    path = Path(folder) / CARD_FILE
    now = now or datetime.now(UTC)
    with file_lock(path):
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise ThresholdError(f"{path}: cannot read the model card ({exc})") from exc
        if not isinstance(data, dict):
            raise ThresholdError(f"{path}: expected a JSON object")
        kept = _free_name(Path(folder), now)
        old = data.get(CARD_KEY)
        data[CARD_KEY] = choice.as_card()
        try:
            atomic_write_bytes(kept, raw)
            atomic_write_json(path, data, indent=2)
        except (OSError, McalcError) as exc:
            raise ThresholdError(
                f"cannot write the threshold to {path} ({exc}): check that the registry is "
                "writable; the card is unchanged"
            ) from exc
    before = old if isinstance(old, Mapping) or old is None else {"value": old}
    return ThresholdChange(before, data[CARD_KEY], kept)


def _free_name(folder: Path, now: datetime) -> Path:
    """``card.<stamp>.json`` in ``folder`` that does not exist yet."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = Path(CARD_FILE).stem
    path, n = folder / f"{stem}.{stamp}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}.{stamp}-{n}.json"
    return path


def set_threshold(
    folder: str | Path, choice: ThresholdChoice, *, role: str | None, user: str = ""
) -> ThresholdChange:
    """:func:`record_threshold` for ``user`` (researchers and admins), recorded in the
    registry's admin log beside the default model's choices.

    Raises:
        NotAllowed: ``role`` may not set a model's threshold.
        ThresholdError: as :func:`record_threshold`.
    """
    check_allowed(role, "set_threshold", user)
    change = record_threshold(folder, choice)
    record_action(Path(folder).parent, "set_threshold", Path(folder).name, user, str(role))
    return change
