"""Agreement between readers on their audit verdicts, as reader studies report it.

Per pair of readers, Cohen's kappa (:func:`sklearn.metrics.cohen_kappa_score`) over the
images both judged; over all readers, Krippendorff's alpha for nominal data, which takes
images judged by any number of readers (Fleiss' kappa needs every image judged by as many).
Each comes with a 95% percentile bootstrap interval over images (seeded) and the number of
images it rests on.

Krippendorff's alpha is written out here (about 15 lines over a coincidence matrix):
scikit-learn has no such statistic, and the two libraries that do (``krippendorff``,
``statsmodels`` for Fleiss) would be a dependency for one formula; it is checked against the
worked example of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
Annenberg School for Communication, University of Pennsylvania, where nominal alpha is 0.743.

Under independent reads a reader may revise a verdict once the others' are shown; the first
read stays in the record's history (:func:`verdict_histories`, :func:`first_reads`,
:func:`revisions`), so the agreement of first reads can be told from that of revised ones.

Example:
    >>> round(krippendorff_alpha([["a", "a"], ["b", "b"], ["a", "b"]]), 3)
    0.444
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from mcalc.plural import counted
from mcalc.store.audit import AuditStore, AuditVerdict
from mcalc.store.region_calls import PAIR_IOU, RegionCall, pair_calls
from mcalc.store.versioned import note_skipped

__all__ = [
    "QUESTIONS",
    "UNITS",
    "SMALL_SAMPLE",
    "Estimate",
    "VerdictAgreement",
    "krippendorff_alpha",
    "verdict_agreement",
    "agreement_rows",
    "agreement_figures",
    "verdict_histories",
    "first_reads",
    "revisions",
]

#: What can be agreed on: the score verdict, and the explanation's plausibility (an
#: explanation left unjudged is missing, not a third answer), per image; and each top
#: region's call (calcification / not), per region: two readers' calls pair where their
#: regions of the same image overlap by at least
#: :data:`~mcalc.store.region_calls.PAIR_IOU`, one-to-one
#: (:func:`~mcalc.store.region_calls.pair_calls`; a call saved without its box pairs at
#: the same centre only), "unsure" is missing like an unjudged explanation.
QUESTIONS: dict[str, str] = {
    "score": "the model's score (agree / disagree)",
    "explanation": "the explanation (plausible / not)",
    "regions": "each region (calcification / not)",
}
#: What each question's figures are computed over (the tables' column and the caveats).
UNITS: dict[str, str] = {"score": "images", "explanation": "images", "regions": "regions"}
#: Fewer images in common than this and a kappa is read as indicative only (reader studies
#: plan for more; the interval says how wide).
SMALL_SAMPLE = 20


def _units(verdicts: Iterable[AuditVerdict], question: str) -> dict[Hashable, dict[str, Hashable]]:
    """The readers' answers to ``question`` by what they are about (an image, or a region
    of one), each keyed by reader."""
    if question not in QUESTIONS:
        raise ValueError(f"question must be one of {', '.join(QUESTIONS)}, got {question!r}")
    units: dict[Hashable, dict[str, Hashable]] = {}
    calls: dict[str, dict[str, list[RegionCall]]] = {}  # image -> reader -> decided calls
    for v in verdicts:
        if question == "score":
            units.setdefault(v.image_key, {})[v.reader] = v.score_verdict
        elif question == "explanation" and v.explanation_plausible is not None:
            units.setdefault(v.image_key, {})[v.reader] = v.explanation_plausible
        elif question == "regions":
            decided = [c for c in v.regions if c.call != "unsure"]
            if decided:
                calls.setdefault(v.image_key, {})[v.reader] = decided
    for image, per_reader in calls.items():
        for i, group in enumerate(pair_calls(per_reader)):
            units[image, i] = {r: c.call for r, c in group.items()}
    return units


@dataclass(frozen=True)
class Estimate:
    """A statistic, its 95% bootstrap interval and what it rests on.

    Attributes:
        value: the statistic (``None``: undefined, e.g. every reader gave one answer only).
        low, high: the interval's ends (``None``: too few images, or too many resamples
            where the statistic is undefined).
        n_images: images (regions, for the region calls) it is computed over (for a pair:
            both judged them).
        observed: share of agreeing pairs of answers (raw agreement), ``None`` with none.
    """

    value: float | None
    low: float | None
    high: float | None
    n_images: int
    observed: float | None


@dataclass(frozen=True)
class VerdictAgreement:
    """Agreement on one question over one model's verdicts.

    Attributes:
        question: a key of :data:`QUESTIONS`.
        readers: the readers with an answer, sorted.
        pairs: Cohen's kappa per pair of readers, keyed ``(reader_a, reader_b)``.
        overall: Krippendorff's alpha over every reader (images with at least two answers).
        caveats: sentences to show beside the figures.
        units: what the figures count (:data:`UNITS`).
        unpaired: answers in no figure, no other reader having answered on the same unit
            (an image only one reader answered; a region call whose region no other
            reader called either way): said in :attr:`caveats`, never dropped silently.
    """

    question: str
    readers: tuple[str, ...]
    pairs: dict[tuple[str, str], Estimate]
    overall: Estimate
    caveats: tuple[str, ...]
    units: str = "images"
    unpaired: int = 0


def _counts(units: Sequence[Sequence[Hashable]]) -> np.ndarray:
    """Images x answers: how many readers gave each answer; only images with two or more."""
    values = sorted({a for u in units for a in u}, key=repr)
    col = {a: i for i, a in enumerate(values)}
    counts = np.zeros((len(units), max(len(values), 1)))
    for i, unit in enumerate(units):
        for a in unit:
            counts[i, col[a]] += 1
    return counts[counts.sum(axis=1) >= 2]


def _alpha_from(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Nominal alpha for each row of ``weights`` (how often each image is drawn)."""
    m = counts.sum(axis=1)
    # Disagreeing pairable values within each image, each pair weighted 1 / (m - 1).
    d_o = (m**2 - (counts**2).sum(axis=1)) / (m - 1)
    n_c = weights @ counts
    n = n_c.sum(axis=1)
    d_e = n**2 - (n_c**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d_e > 0, 1 - (n - 1) * (weights @ d_o) / d_e, np.nan)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal answers.

    Args:
        units: for each image, the answers of the readers who judged it (any number;
            images with fewer than two are not pairable and count for nothing).

    Returns:
        Alpha, or ``None`` when it is undefined (fewer than two pairable answers, or one
        answer only throughout: no disagreement could be expected).
    """
    counts = _counts(units)
    if len(counts) == 0:
        return None
    value = float(_alpha_from(counts, np.ones((1, len(counts))))[0])
    return None if np.isnan(value) else value


def _kappas(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two readers' binary answers (0/1) for each row of ``weights``;
    the bootstrap's vectorised form of :func:`sklearn.metrics.cohen_kappa_score`."""
    n = weights.sum(axis=1)
    p_o = (weights @ (a == b).astype(float)) / n
    pa, pb = (weights @ a) / n, (weights @ b) / n
    p_e = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_e < 1, (p_o - p_e) / (1 - p_e), np.nan)


def _interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    ok = draws[np.isfinite(draws)]
    if len(ok) < len(draws) / 2:  # mostly undefined: an interval would mislead
        return None, None
    low, high = np.percentile(ok, [2.5, 97.5])
    return float(low), float(high)


def _weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` images is drawn in each of ``n_boot`` resamples."""
    drawn = rng.integers(0, n, (n_boot, n)) + np.arange(n_boot)[:, None] * n
    return np.bincount(drawn.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _pair(x: list[Hashable], y: list[Hashable], n_boot: int, rng: np.random.Generator) -> Estimate:
    from sklearn.metrics import cohen_kappa_score

    n = len(x)
    observed = sum(p == q for p, q in zip(x, y, strict=True)) / n if n else None
    labels = sorted(set(x) | set(y), key=repr)
    if n < 2 or len(labels) < 2:
        return Estimate(None, None, None, n, observed)  # undefined: one answer, or one image
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(cohen_kappa_score(x, y, labels=labels))
    low = high = None
    if len(labels) == 2 and n_boot:
        a = np.array([v == labels[1] for v in x], dtype=float)
        b = np.array([v == labels[1] for v in y], dtype=float)
        low, high = _interval(_kappas(a, b, _weights(n, n_boot, rng)))
    return Estimate(None if np.isnan(value) else value, low, high, n, observed)


def verdict_agreement(
    verdicts: Iterable[AuditVerdict],
    question: str = "score",
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> VerdictAgreement:
    """Cohen's kappa per pair of readers and Krippendorff's alpha over all, with intervals.

    Args:
        verdicts: one model's verdicts, one per image and reader (the current ones, or
            :func:`first_reads`); pass only those the viewer may see
            (:func:`mcalc.access.reads.visible_verdicts`).
        question: a key of :data:`QUESTIONS`.
        n_boot: bootstrap resamples of the images (0: no intervals).
        seed: the resampling's seed (the same verdicts give the same intervals).
    """
    by_image = _units(verdicts, question)  # by unit: image, or region
    readers = tuple(sorted({r for answers in by_image.values() for r in answers}))
    rng = np.random.default_rng(seed)
    pairs: dict[tuple[str, str], Estimate] = {}
    for ra, rb in combinations(readers, 2):
        both = [a for a in by_image.values() if ra in a and rb in a]
        pairs[ra, rb] = _pair([a[ra] for a in both], [a[rb] for a in both], n_boot, rng)
    counts = _counts([list(a.values()) for a in by_image.values()])
    n_units = len(counts)
    agreeing = (counts * (counts - 1)).sum() if n_units else 0
    pairable = (counts.sum(axis=1) * (counts.sum(axis=1) - 1)).sum() if n_units else 0
    alpha = krippendorff_alpha([list(a.values()) for a in by_image.values()])
    low = high = None
    if alpha is not None and n_boot and n_units >= 2:
        low, high = _interval(_alpha_from(counts, _weights(n_units, n_boot, rng)))
    overall = Estimate(alpha, low, high, n_units, agreeing / pairable if pairable else None)
    units = UNITS[question]
    unpaired = sum(len(a) == 1 for a in by_image.values())
    caveats = _caveats(pairs, overall, units, unpaired)
    return VerdictAgreement(question, readers, pairs, overall, caveats, units, unpaired)


def _unpaired_words(units: str, unpaired: int) -> str:
    if units == "regions":
        return (
            f"{counted(unpaired, 'region call')} {'is' if unpaired == 1 else 'are'} in no figure: no other reader called their region "
            f"calcification or not (on that image, no call of theirs overlapping it by "
            f"IoU >= {PAIR_IOU:g}, or an unsure one)."
        )
    return f"{counted(unpaired, 'answer')} {'is' if unpaired == 1 else 'are'} in no figure: no other reader answered on the same image."


#: The kappa paradox is said where the raw agreement is at least this and kappa or alpha
#: lies more than :data:`PARADOX_GAP` below it: the answers' chance agreement is then at
#: least 0.57, one answer much the commonest.
PARADOX_RAW = 0.7
PARADOX_GAP = 0.4


def _caveats(
    pairs: Mapping[tuple[str, str], Estimate],
    overall: Estimate,
    units: str = "images",
    unpaired: int = 0,
) -> tuple[str, ...]:
    out = []
    small = [e.n_images for e in [*pairs.values(), overall] if 0 < e.n_images < SMALL_SAMPLE]
    if small:
        out.append(
            f"Few {units} in common (as few as {min(small)}; reader studies plan for at least "
            f"~{SMALL_SAMPLE}): the figures are indicative and their intervals wide."
        )
    # A pair's kappa is undefined on one unit in common whatever the answers (a pair that
    # disagreed on its one image read "every answer was the same" beside a raw agreement
    # of 0%); otherwise, and for alpha, only where one answer was given throughout.
    if any(e.value is None and e.n_images == 1 for e in pairs.values()):
        out.append(
            f"n/a where two readers have only one of the {units} in common: Cohen's kappa "
            "needs two or more."
        )
    if any(
        e.value is None and e.n_images > (1 if paired else 0)
        for e, paired in [*((e, True) for e in pairs.values()), (overall, False)]
    ):
        out.append(
            "n/a: every answer was the same, so chance agreement is total and kappa or alpha "
            "is undefined; the raw agreement still says how often the answers matched."
        )
    # The paradox is a high raw agreement beside a low kappa; a low kappa beside a low raw
    # agreement (readers who disagree, answers balanced) is plain disagreement.
    if any(
        e.value is not None
        and e.observed is not None
        and e.observed >= PARADOX_RAW
        and e.observed - e.value > PARADOX_GAP
        for e in [*pairs.values(), overall]
    ):
        out.append(
            "Where one answer is much the commonest, kappa and alpha are low even with high raw "
            "agreement (the kappa paradox): read them with the raw agreement."
        )
    if unpaired:
        out.append(_unpaired_words(units, unpaired))
    return tuple(out)


def _fmt(x: float | None) -> str:
    """Two decimals, ``n/a`` for none; never ``-0.00`` (a bound of -3e-16 from rounding)."""
    return "n/a" if x is None else f"{round(x, 2) + 0.0:.2f}"


KAPPA, ALPHA = "Cohen's kappa", "Krippendorff's alpha"


def _named(agreement: VerdictAgreement) -> list[tuple[tuple[str, ...], str, Estimate]]:
    """``(readers, statistic, estimate)``: each pair's Cohen's kappa, then Krippendorff's
    alpha over all where there are more than two readers (or no pair)."""
    named: list[tuple[tuple[str, ...], str, Estimate]] = [
        ((a, b), KAPPA, e) for (a, b), e in agreement.pairs.items()
    ]
    if len(agreement.readers) > 2 or not agreement.pairs:
        named.append((tuple(agreement.readers), ALPHA, agreement.overall))
    return named


def agreement_rows(agreement: VerdictAgreement) -> pd.DataFrame:
    """One row per pair of readers and one for all, for a page or the command line (text
    for the eye; :func:`agreement_figures` gives the numbers)."""
    rows: list[dict[str, Any]] = []
    for readers, stat, e in _named(agreement):
        rows.append(
            {
                "readers": "all readers" if stat == ALPHA else " & ".join(readers),
                "statistic": stat,
                "value": _fmt(e.value),
                "95% interval": "n/a"
                if e.low is None or e.high is None
                else f"{_fmt(e.low)} to {_fmt(e.high)}",
                agreement.units: e.n_images,
                "raw agreement": "n/a" if e.observed is None else f"{e.observed:.0%}",
            }
        )
    columns = ["readers", "statistic", "value", "95% interval", agreement.units, "raw agreement"]
    return pd.DataFrame(rows, columns=columns)


def agreement_figures(agreement: VerdictAgreement) -> list[dict[str, Any]]:
    """The rows of :func:`agreement_rows` as numbers, for JSON: ``readers`` (a list),
    ``statistic``, ``value``, ``ci_low`` and ``ci_high`` (its 95% bootstrap interval),
    ``n`` (the images, or regions, it rests on: ``units``) and ``raw_agreement`` (a
    fraction); ``None`` where undefined."""

    def num(x: float | None) -> float | None:
        return None if x is None else round(float(x), 6)

    return [
        {
            "readers": list(readers),
            "statistic": stat,
            "value": num(e.value),
            "ci_low": num(e.low),
            "ci_high": num(e.high),
            "n": int(e.n_images),
            "units": agreement.units,
            "raw_agreement": num(e.observed),
        }
        for readers, stat, e in _named(agreement)
    ]


def verdict_histories(
    store: AuditStore, model_id: str, *, skipped: list[str] | None = None
) -> dict[tuple[str, str], list[AuditVerdict]]:
    """Every version of every reader's verdict on each image for ``model_id``, oldest
    first, keyed ``(image_key, reader)``."""
    out: dict[tuple[str, str], list[AuditVerdict]] = {}
    for record in store.records.records(prefix=(model_id,), skipped=skipped):
        try:
            history = [
                AuditVerdict.from_payload(v.payload, recorded_at=v.saved_at, version=v.number)
                for v in record.versions
            ]
        except ValueError as exc:
            note_skipped(skipped, f"{record.path}: {exc}")
            continue
        if history:
            out[history[0].image_key, history[0].reader] = history
    return out


def first_reads(histories: Mapping[tuple[str, str], list[AuditVerdict]]) -> list[AuditVerdict]:
    """Each reader's first verdict on each image (version 1: made before any revision)."""
    return [h[0] for h in histories.values()]


def revisions(histories: Mapping[tuple[str, str], list[AuditVerdict]]) -> pd.DataFrame:
    """One row per image and reader: the first read beside the current one, whether the
    answers changed (the region calls included), and whether a later version was saved after another reader's first
    verdict on that image (under independent reads ``on``, once the others were shown).

    Saves are timed to the millisecond: a revision saved in the same millisecond as another
    reader's first verdict counts as after it (flagged for a look rather than missed; a
    script saving both at once made the flag depend on the clock's tick)."""
    first_seen: dict[str, list[tuple[str, str]]] = {}
    for (image, reader), h in histories.items():
        first_seen.setdefault(image, []).append((h[0].recorded_at, reader))
    rows = []
    for (image, reader), h in sorted(histories.items()):
        first, cur = h[0], h[-1]
        others = [t for t, r in first_seen[image] if r != reader]
        rows.append(
            {
                "image_key": image,
                "reader": reader,
                # The flags first: the answers after them (at 1400 px the last column was
                # cut off the page's table).
                "revised after others were shown": any(
                    v.recorded_at >= t for v in h[1:] for t in others
                ),
                "answer changed": (first.score_verdict, first.explanation_plausible, first.regions)
                != (cur.score_verdict, cur.explanation_plausible, cur.regions),
                "first read": first.score_verdict,
                "first explanation": first.explanation_plausible,
                "current": cur.score_verdict,
                "current explanation": cur.explanation_plausible,
                "versions": len(h),
                "first read at": first.recorded_at,
            }
        )
    return pd.DataFrame(rows)
