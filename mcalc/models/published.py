"""Published results on the micro-calcification dataset, as reference points.

The numbers come from ``shared/DATASET.md``. They are **not directly comparable** with an
mcalc evaluation: the papers classify benign vs suspicious calcifications per case on the
real mammograms (one with temporal subtraction of the registered prior), while mcalc
models score patches, often of synthetic data, sampled where the annotations are.

The papers give accuracy and AUC but not sensitivity and specificity, so a published
result has no point of its own in ROC space. To show its AUC on a ROC chart,
:func:`binormal_point` places it where the equal-variance binormal ROC curve with that AUC
meets the descending diagonal (sensitivity = specificity). That placement is an assumption
made for display; only the AUC is published.

Example:
    >>> fpr, tpr = binormal_point(0.87)
    >>> round(fpr, 3), round(tpr, 3)
    (0.213, 0.787)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from mcalc.models.tasks import TASKS
from mcalc.plural import counted

__all__ = [
    "PublishedResult",
    "PUBLISHED",
    "REFERENCE_RESULTS",
    "COMPARABILITY_NOTE",
    "REPRODUCTION_NOTE",
    "PRIOR_IMAGES",
    "PRIOR_SUBTRACTION",
    "binormal_point",
    "our_data",
    "prior_use",
    "reproduction_rows",
    "PAIR_NOTE",
    "other_task_note",
    "pair_rows",
]


@dataclass(frozen=True)
class PublishedResult:
    """One published result.

    Attributes:
        label: short name for a legend.
        citation: authors, journal, year and DOI.
        task: what was classified, at which level.
        accuracy: reported accuracy (fraction).
        auc: reported area under the ROC curve (``None``: not reported).
        protocol: how it was validated, as published.
        uses_prior: whether the prior mammogram was used (temporal subtraction).
    """

    label: str
    citation: str
    task: str
    accuracy: float
    auc: float | None
    protocol: str = ""
    uses_prior: bool = False


_LOIZIDOU_2020 = "Loizidou et al., IEEE Access 2020, doi 10.1109/ACCESS.2020.2980616"
_LOIZIDOU_2021 = (
    "Loizidou et al., European Radiology Experimental 2021, doi 10.1186/s41747-021-00238-w"
)

#: Every published result of ``shared/DATASET.md``.
REFERENCE_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult(
        "Loizidou 2021, temporal subtraction",
        _LOIZIDOU_2021,
        "benign vs suspicious micro-calcifications, per case, recent minus registered prior",
        0.903,
        0.87,
        "as published (the dataset's cases)",
        True,
    ),
    PublishedResult(
        "Loizidou 2021, recent image alone",
        _LOIZIDOU_2021,
        "benign vs suspicious micro-calcifications, per case, recent mammogram only",
        0.827,
        0.81,
        "as published (the dataset's cases)",
        False,
    ),
    PublishedResult(
        "Loizidou 2020, with subtraction",
        _LOIZIDOU_2020,
        "benign vs suspicious micro-calcifications, 80 patients, with temporal subtraction",
        0.996,
        None,
        "leave-one-patient-out, 80 patients",
        True,
    ),
    PublishedResult(
        "Loizidou 2020, without subtraction",
        _LOIZIDOU_2020,
        "benign vs suspicious micro-calcifications, 80 patients, recent mammogram only",
        0.914,
        None,
        "leave-one-patient-out, 80 patients",
        False,
    ),
)
#: The anchors that report an AUC (drawn on ROC charts).
PUBLISHED: tuple[PublishedResult, ...] = tuple(r for r in REFERENCE_RESULTS if r.auc is not None)

#: What to say wherever the anchors are shown.
COMPARABILITY_NOTE = (
    "Published reference points (Loizidou et al. 2021): benign vs suspicious "
    "micro-calcifications classified per case on the real mammograms: accuracy 90.3% and "
    "AUC 0.87 with temporal subtraction of the prior, 82.7% and AUC 0.81 from the recent "
    "image alone. They are a different task on different data, not directly comparable "
    "with the numbers of mcalc models at the patch, image or case level, least of all on "
    "synthetic data. The papers "
    "report no sensitivity/specificity: each point is placed where an equal-variance "
    "binormal ROC curve with the published AUC has sensitivity = specificity."
)

#: What to say under the table of published results beside ours
#: (:func:`reproduction_rows`): its numbers are per case, and it draws no point.
REPRODUCTION_NOTE = (
    "Published results on the real mammograms: Loizidou et al. 2021, benign vs suspicious "
    "micro-calcifications per case, accuracy 90.3% and AUC 0.87 with temporal subtraction "
    "of the prior, 82.7% and AUC 0.81 from the recent image alone; Loizidou et al. 2020, "
    "accuracy 91.4% without and 99.6% with subtraction (leave-one-patient-out, 80 "
    "patients). Ours are per case too, but each row says what differs (task, protocol, "
    "data): anchors, not a like-for-like comparison, least of all on synthetic data."
)


#: How our case-level numbers used the prior mammograms (:func:`prior_use`): as more images
#: of the case (a recent-only model's case score is the highest of all its images, prior
#: and recent), or through the subtraction of the registered prior (a temporal model).
PRIOR_IMAGES = "images"
PRIOR_SUBTRACTION = "subtraction"


def prior_use(temporal: bool, image_keys: Iterable[str]) -> str:
    """How a case-level result used the prior: :data:`PRIOR_SUBTRACTION` for a temporal
    model, :data:`PRIOR_IMAGES` when the images scored include a prior one (image keys
    ``case/VIEW_prior``), else ``""`` (not at all).

    Example:
        >>> prior_use(False, ["c1/CC_recent", "c1/CC_prior"]), prior_use(True, [])
        ('images', 'subtraction')
    """
    if temporal:
        return PRIOR_SUBTRACTION
    return PRIOR_IMAGES if any(str(k).endswith("_prior") for k in image_keys) else ""


def _prior_caveat(theirs: bool, ours: str) -> str | None:
    """What differs in the use of the prior between a published result and ours."""
    if theirs:
        if ours == PRIOR_SUBTRACTION:
            return None
        if ours == PRIOR_IMAGES:
            return (
                "they subtracted the registered prior; ours took the prior images only as "
                "more images of the case"
            )
        return "they used the prior, ours did not"
    if ours == PRIOR_SUBTRACTION:
        return "they did not use the prior; ours subtracted the registered prior"
    if ours == PRIOR_IMAGES:
        return (
            "they read the recent image alone; ours took the prior images too (the case "
            "score is over all its images)"
        )
    return None


def our_data(synthetic: bool | None, source: str = "real-layout") -> tuple[str, str | None]:
    """What our data were, as the rows name them, and the caveat that goes with it.

    ``synthetic``: mcalc's demo (``None``: not known, e.g. the data cannot be opened any
    more); ``source``: the reader that opened it (``real-layout``: the folders of the
    papers' dataset; ``manifest``: a CSV, of another collection as far as mcalc knows).

    Example:
        >>> our_data(False, "manifest")[0]
        "real data from a manifest (not known to be the papers' dataset)"
    """
    if synthetic is None:
        return "not known (the data cannot be opened)", "ours are on data not known: not comparable"
    if synthetic:
        return "SYNTHETIC demo data", "ours are on synthetic data: not comparable"
    if source == "real-layout":
        return "real data (the dataset's layout)", None
    return (
        "real data from a manifest (not known to be the papers' dataset)",
        "ours are on a collection read from a manifest, not known to be the papers' "
        "dataset: not comparable",
    )


def reproduction_rows(
    ours: dict[str, float | None],
    *,
    synthetic: bool | None,
    source: str = "real-layout",
    prior: str = "",
    what: str = "suspicious vs not, per case",
    protocol: str = "held-out test patients",
) -> list[dict[str, object]]:
    """The published results side by side with ours, one row each, labelled with what
    differs (the "reproduce published comparisons" table).

    Args:
        ours: our ``auc`` and ``accuracy`` (``None`` where not measured), and the ``n``
            cases and ``patients`` they come from (shown as ``our cases``: 0.500 on 3 cases
            beside 0.87 on the dataset's reads as what it is).
        synthetic: our numbers come from mcalc's synthetic demo data (``None``: not known).
        source: the reader of our data (:func:`our_data`): ``real-layout`` or ``manifest``.
        prior: how ours used the prior mammograms (:func:`prior_use`; ``""``: not at all).
        what: what our numbers classify, at which level.
        protocol: how ours were validated (held-out split, k-fold, leave-one-patient-out).

    Example:
        >>> rows = reproduction_rows({"auc": 0.7, "accuracy": None}, synthetic=True)
        >>> rows[0]["published AUC"], rows[0]["our AUC"], rows[0]["our data"]
        (0.87, 0.7, 'SYNTHETIC demo data')
        >>> reproduction_rows({"auc": 0.7}, synthetic=False)[0]["our data"]
        "real data (the dataset's layout)"
        >>> reproduction_rows({"auc": 0.5, "n": 3, "patients": 3}, synthetic=True)[0]["our cases"]
        '3 cases (3 patients)'
    """
    cases = _count(ours.get("n"), "case")
    patients = _count(ours.get("patients"), "patient")
    our_cases = f"{cases} ({patients})" if cases and patients else cases or patients or "n/a"
    data, data_caveat = our_data(synthetic, source)
    rows: list[dict[str, object]] = []
    for r in REFERENCE_RESULTS:
        caveats = [data_caveat] if data_caveat else []
        prior_caveat = _prior_caveat(r.uses_prior, prior)
        if prior_caveat:
            caveats.append(prior_caveat)
        caveats.append("they classify benign vs suspicious, ours " + what)
        rows.append(
            {  # the numbers first, ours with their count: a page shows them unscrolled
                "published": r.label,
                "published accuracy": r.accuracy,
                "published AUC": r.auc,
                "our accuracy": ours.get("accuracy"),
                "our AUC": ours.get("auc"),
                "our cases": our_cases,
                "published protocol": r.protocol,
                "our data": data,
                "our protocol": protocol,
                "differences": "; ".join(caveats),
            }
        )
    return rows


#: What to say under the published pairs beside a paired comparison (:func:`pair_rows`).
PAIR_NOTE = (
    "The published pairs: one method without and with the prior mammogram, on the same "
    "cases. Ours: two models of ours (a recent-only one, a temporal one: recent image and "
    "the subtraction of the registered prior) on the same cases, their difference tested "
    "by DeLong's test and a patient bootstrap; their accuracies at one threshold on both "
    "models' case scores (0.5 unless another is chosen), never chosen on the compared "
    "cases, their difference tested by McNemar's exact test. Loizidou 2020 reports "
    "accuracies only (80 patients, leave-one-patient-out; its operating point is not "
    "stated beside them). mcalc holds the published AUCs and accuracies only, no test of "
    "their difference. Anchors, not a like-for-like comparison: each row says what differs."
)


def other_task_note(
    task: str,
    *,
    subject: str = "its models classify",
    instead: str = "Cross-validate a birads model (crossval --task birads; Task: birads) for "
    "their analogue.",
) -> str:
    """Why results of a model of ``task`` are not set beside the published ones (a
    ``calcification`` model: its case is positive when any patch holds a calcification, a
    question other than the papers' benign vs suspicious), and what to run instead.

    Example:
        >>> other_task_note("calcification")[:60]
        'Not set beside the published results: its models classify ca'
    """
    positive = TASKS[task].positive_class if task in TASKS else task
    return (
        f"Not set beside the published results: {subject} {positive} vs not (task "
        f"{task}; a case is positive when any of its patches is), a different task from the "
        f"papers' benign vs suspicious per case, so not comparable. {instead}"
    )


def _published_pairs() -> list[tuple[PublishedResult, PublishedResult]]:
    """Each paper's pair of results ``(without the prior, with it)``, in the order of
    :data:`REFERENCE_RESULTS`."""
    pairs = []
    for citation in dict.fromkeys(r.citation for r in REFERENCE_RESULTS):
        mine = [r for r in REFERENCE_RESULTS if r.citation == citation]
        without = [r for r in mine if not r.uses_prior]
        with_prior = [r for r in mine if r.uses_prior]
        if without and with_prior:
            pairs.append((without[0], with_prior[0]))
    return pairs


def _signed(x: float | None) -> str:
    """``+0.060``; a zero has no sign (a difference turned round read ``-0.000``)."""
    return "n/a" if x is None else f"{x + 0.0:+.3f}".replace("-0.000", "+0.000")


def _fixed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _interval(low: float, high: float, sign: int) -> str:
    """``low to high`` of a difference, turned round when ``sign`` is -1."""
    a, b = sorted((sign * low + 0.0, sign * high + 0.0))
    return f"{a:.3f} to {b:.3f}".replace("-0.000", "0.000")


def _paired_test(comparison: Mapping[str, Any], sign: int) -> str:
    """DeLong's and the bootstrap's results of ``comparison`` (``paired_comparison``),
    intervals of ``sign`` times its ``a - b`` difference."""
    d = comparison.get("delong") or {}
    parts = []
    if "low" in d:
        p = "n/a (identical rankings)" if d.get("p_value") is None else f"{d['p_value']:.3f}"
        parts.append(f"DeLong p {p}, 95% CI {_interval(d['low'], d['high'], sign)}")
    else:
        parts.append(str(d.get("note") or "no DeLong test"))
    ci = comparison.get("ci")
    if ci:
        parts.append(
            f"patient bootstrap p {comparison['p_value']:.3f}, 95% CI {_interval(ci[0], ci[1], sign)}"
        )
    return "; ".join(parts)


def _accuracy_test(comparison: Mapping[str, Any], sign: int) -> str:
    """McNemar's exact test of the accuracies of ``comparison`` (``accuracy``), the
    difference as ``sign`` times ``a - b``; empty when there are none."""
    acc = comparison.get("accuracy")
    if not acc:
        return ""
    turned = sign * acc["difference"]
    first, second = ("a", "b") if sign == 1 else ("b", "a")
    names = {"a": comparison.get("model_a", "A"), "b": comparison.get("model_b", "B")}
    return (
        f"; accuracy {_signed(turned)}, McNemar exact p {acc['p_value']:.3f} (only "
        f"{names[first]} right on {acc[f'{first}_only']}, only {names[second]} on "
        f"{acc[f'{second}_only']} of {counted(acc['n'], 'case')})"
    )


def _thresholds_caveat(comparison: Mapping[str, Any]) -> str | None:
    """The threshold of our accuracies (``None``: no accuracies); why it is that one is
    said beside the accuracies (``accuracy.threshold_source``)."""
    from mcalc.explain.scoring import MAP_SCORE, threshold_label

    acc = comparison.get("accuracy")
    if not acc:
        return None
    return (
        f"our accuracies are at {threshold_label(acc['threshold'])} on both models' case scores "
        f"(the maximum of sampled patch probabilities), not tuned on these cases; not at a "
        f"card's decision threshold, a {MAP_SCORE} threshold in other units"
    )


def pair_rows(
    comparison: Mapping[str, Any],
    temporal: tuple[bool, bool],
    *,
    synthetic: bool | None,
    source: str = "real-layout",
    protocol: str = "held-out test patients",
    label: str = "ours",
) -> list[dict[str, object]]:
    """The published pairs (each paper without and with the prior) and our paired
    comparison as one more row, each labelled with what differs.

    Args:
        comparison: :func:`mcalc.models.analysis.paired_comparison`'s result with
            ``model_a`` and ``model_b``.
        temporal: whether model A and model B read the subtraction of the registered prior
            (``--input temporal``).
        synthetic, source: our data (:func:`our_data`).
        protocol: how ours were validated (held-out test patients, all patients).
        label: our row's ``result``: a page that sets several of our pairs beside the
            published ones names each pair there (``ours: a vs b``), in the first column.

    Our row sets the recent-only model beside the published "without the prior" and the
    temporal one beside "with the prior", the difference taken as theirs (with - without);
    two models of one input have no such counterpart, and the row says so. Where the
    comparison has ``accuracy`` (both models' at one threshold), ours sit beside the
    published accuracies, McNemar's exact test in ``paired test`` and the thresholds in
    ``differences``.

    Example:
        >>> c = {"model_a": "t", "model_b": "r", "auc_a": 0.75, "auc_b": 0.5,
        ...      "difference": 0.25, "n": 8, "patients": 8, "cases": "benign_vs_suspicious",
        ...      "delong": {"note": "no DeLong test: ..."}, "ci": None, "prior_images": False}
        >>> rows = pair_rows(c, (True, False), synthetic=True)
        >>> [(r["result"], r["AUC without prior"], r["with - without"]) for r in rows]
        [('Loizidou 2021', 0.81, '+0.060'), ('Loizidou 2020', None, 'n/a'), ('ours', 0.5, '+0.250')]
    """
    data, data_caveat = our_data(synthetic, source)
    rows: list[dict[str, object]] = []
    for without, with_prior in _published_pairs():
        diff = None if without.auc is None else round(with_prior.auc - without.auc, 6)  # type: ignore[operator]
        rows.append(
            {  # who, on what data, and the numbers first: a page shows them unscrolled
                "result": without.label.split(",")[0],
                # Beside the result: at 1024 px of page (a projector at 125 %) the data's
                # column, after the numbers, was scrolled out of view.
                "data": "real (as published)",
                "AUC without prior": without.auc,
                "AUC with prior": with_prior.auc,
                "with - without": _signed(diff),
                "accuracy without / with": f"{without.accuracy:.3f} / {with_prior.accuracy:.3f}",
                "cases and protocol": without.protocol,
                "without / with": f"{without.label.split(', ')[1]} / {with_prior.label.split(', ')[1]}",
                "paired test": "n/a (not held)",
                "differences": "",
            }
        )
    cases = _count(comparison.get("n"), "case")
    patients = _count(comparison.get("patients"), "patient")
    caveats = [data_caveat] if data_caveat else []
    if comparison.get("cases") != "benign_vs_suspicious":
        caveats.append(
            "they classify benign vs suspicious, ours compared every case (suspicious vs "
            "not, the normal cases among the negatives)"
        )
    caveats.append(
        "ours are patch models, a case scored by the highest of its sampled patches, not "
        "the papers' method"
    )
    if (thresholds := _thresholds_caveat(comparison)) is not None:
        caveats.append(thresholds)
    ours: dict[str, object] = {"result": label}  # its columns in the published rows' order
    cells: dict[str, object] = {
        "cases and protocol": f"{cases} ({patients}), {protocol}" if cases else protocol,
        "data": data,
    }
    a, b = str(comparison.get("model_a", "A")), str(comparison.get("model_b", "B"))
    if temporal[0] == temporal[1]:
        kind = "temporal" if temporal[0] else "recent-only"
        caveats.insert(
            0,
            f"both models are {kind}: the published pair (without vs with the prior) has no "
            "counterpart here; compare a recent-only model with a temporal one "
            "(train --input temporal)",
        )
        cells |= {
            "AUC without prior": None,
            "AUC with prior": None,
            "with - without": "n/a",
            "accuracy without / with": "n/a",
            "paired test": f"{a} AUC {_fixed(comparison.get('auc_a'))} vs {b} "
            f"{_fixed(comparison.get('auc_b'))}, difference {_signed(comparison.get('difference'))}; "
            + _paired_test(comparison, 1)
            + _accuracy_test(comparison, 1),
            "without / with": f"{a} and {b}: both {kind}",
            "differences": "; ".join(caveats),
        }
        return [*rows, ours | {k: cells[k] for k in rows[0] if k != "result"}]
    sign = 1 if temporal[0] else -1  # ours as theirs: with the prior minus without
    recent, with_model = (b, a) if temporal[0] else (a, b)
    auc_recent, auc_with = (
        (comparison.get("auc_b"), comparison.get("auc_a"))
        if temporal[0]
        else (comparison.get("auc_a"), comparison.get("auc_b"))
    )
    diff = comparison.get("difference")
    acc = comparison.get("accuracy")
    accuracy = "n/a"
    if acc:
        without_acc, with_acc = (
            (acc["accuracy_b"], acc["accuracy_a"])
            if temporal[0]
            else (acc["accuracy_a"], acc["accuracy_b"])
        )
        accuracy = f"{without_acc:.3f} / {with_acc:.3f}"
    if comparison.get("prior_images"):
        caveats.append(
            f"{recent} took the prior images in as more images of the case; theirs read the "
            "recent image alone"
        )
    cells |= {
        "AUC without prior": auc_recent,
        "AUC with prior": auc_with,
        "with - without": _signed(None if diff is None else sign * diff),
        "accuracy without / with": accuracy,
        "paired test": _paired_test(comparison, sign) + _accuracy_test(comparison, sign),
        "without / with": f"{recent} (recent-only) / {with_model} (subtraction)",
        "differences": "; ".join(caveats),
    }
    return [*rows, ours | {k: cells[k] for k in rows[0] if k != "result"}]


def _count(n: float | None, noun: str) -> str:
    """``3 cases``, ``1 patient``; empty when not known."""
    return "" if n is None else f"{int(n)} {noun}{'' if int(n) == 1 else 's'}"


def binormal_point(auc: float) -> tuple[float, float]:
    """``(fpr, tpr)`` where the equal-variance binormal ROC curve of ``auc`` has
    sensitivity = specificity.

    With separation ``d' = sqrt(2) * Phi^-1(auc)`` that point is
    ``tpr = Phi(d'/2) = 1 - fpr``.

    Raises:
        ValueError: ``auc`` outside (0, 1).
    """
    if not 0.0 < auc < 1.0:
        raise ValueError(f"expected an AUC in (0, 1), got {auc}")
    normal = NormalDist()
    d_prime = 2**0.5 * normal.inv_cdf(auc)
    tpr = normal.cdf(d_prime / 2.0)
    return 1.0 - tpr, tpr
