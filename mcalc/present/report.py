"""The evaluation report: one document a user can attach to a paper or a model review,
as self-contained HTML (:func:`evaluation_report`) or PDF
(:func:`mcalc.present.report_pdf.evaluation_report_pdf`).

It holds the model card, the data fingerprint and scope, every curve (ROC and
precision-recall per level, FROC and cluster FROC), every table (metrics per level,
detection summary, case-level BI-RADS, the published results beside ours) and the settings
used. Both formats are drawn from one list of :class:`Block` (:func:`report_blocks`), so
they say the same thing: HTML embeds the plotly figures with plotly.js inlined **once** (the
file opens offline, nothing is fetched); the PDF draws the same figures' traces as vector
lines. Numbers are those of the evaluation passed in; nothing is recomputed here but the
curves' analysis of the stored scores.

Example:
    >>> html = evaluation_report(ReportInput(result, card))  # doctest: +SKIP
    >>> Path("report.html").write_text(html)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from mcalc.explain.metrics_threshold import card_in_other_units
from mcalc.explain.scoring import decision_threshold, threshold_label
from mcalc.models.analysis import (
    analyse,
    ci_text,
    interval_text,
    papers_task_scores,
    papers_task_summary,
    summary_row,
    threshold_metrics,
)
from mcalc.models.birads_eval import GROUPS, SUBSETS
from mcalc.models.curves import OperatingPoint
from mcalc.models.published import (
    COMPARABILITY_NOTE,
    REPRODUCTION_NOTE,
    other_task_note,
    prior_use,
    reproduction_rows,
)
from mcalc.models.scores import LEVEL_RULES, LEVELS
from mcalc.models.tasks import has_papers_task
from mcalc.present.eval_figures import CurveEntry, pr_figure, roc_figure
from mcalc.present.froc_figures import froc_figure, summary_notes, summary_rows

if TYPE_CHECKING:
    from mcalc.models.card import ModelCard
    from mcalc.models.evaluate import EvaluationResult

__all__ = [
    "Block",
    "ReportInput",
    "report_blocks",
    "render_html",
    "evaluation_report",
    "birads_rows",
    "birads_threshold_rows",
    "birads_threshold_words",
    "confusion_rows",
    "fmt_cell",
    "ours_for_reproduction",
]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; } .note { color: #666; font-size: .9em; }
.warn { background: #fff4e0; padding: .5em; border-left: 4px solid #f0a020; }
.scroll { overflow-x: auto; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .8em; }
"""


@dataclass(frozen=True)
class Block:
    """One piece of the report, in order.

    Attributes:
        kind: ``h1``, ``h2``, ``h3``, ``p``, ``note``, ``warn``, ``table``, ``figure`` or
            ``pre``.
        text: the text of headings, paragraphs and ``pre``.
        rows: a table's rows (``table``).
        figure: a plotly figure (``figure``).
    """

    kind: str
    text: str = ""
    rows: Sequence[Mapping[str, Any]] = ()
    figure: go.Figure | None = None


@dataclass(frozen=True)
class ReportInput:
    """What a report is made of.

    Attributes:
        result: the evaluation (:func:`mcalc.models.evaluate.evaluate_model`).
        card: the model's card.
        detection: ``DetectionEvaluation.as_dict()`` when detections were evaluated.
        birads: :func:`mcalc.models.birads_eval.evaluate_birads`'s result, if any.
        settings: what the user chose (command-line options), shown as given.
        threshold: the operating threshold of the metrics.
        n_boot: patient bootstrap resamples of the AUC intervals (0: none).
        synthetic_data: the evaluated dataset is mcalc's synthetic demo (``None``: unknown,
            taken from the card's training data).
        data_source: the reader that opened it, ``real-layout`` (the papers' dataset's
            folders) or ``manifest`` (``None``: unknown, read as ``real-layout``); the
            published results' rows say which (:func:`mcalc.models.published.our_data`).
    """

    result: EvaluationResult
    card: ModelCard
    detection: Mapping[str, Any] | None = None
    birads: Mapping[str, Any] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    n_boot: int = 1000
    synthetic_data: bool | None = None
    data_source: str | None = None


def fmt_cell(value: Any) -> str:
    """A table cell as text: floats with 3 decimals, ``n/a`` for none."""
    if isinstance(value, float):
        return f"{value:.3f}"
    return "n/a" if value is None else str(value)


def _pairs(items: Mapping[str, Any]) -> Block:
    return Block("table", rows=[{"field": k, "value": v} for k, v in items.items()])


def _classification(result: EvaluationResult, threshold: float, n_boot: int) -> list[Block]:
    scores = result.scores
    if scores is None:
        return [Block("note", "This evaluation holds no patch scores: no curves.")]
    out = []
    for level in LEVELS:
        analysis = analyse(scores, level, n_boot=n_boot, seed=0)
        at = threshold_metrics(scores, level, threshold)
        point = None
        if at.sensitivity is not None and at.specificity is not None:
            point = OperatingPoint(threshold, at.sensitivity, at.specificity, 0.0)
        entry = CurveEntry(result.model_id, analysis, threshold, point)
        rule = f" ({LEVEL_RULES[level]})" if level in LEVEL_RULES else ""
        out.append(Block("h3", f"{level.capitalize()} level{rule}"))
        out.append(Block("table", rows=[summary_row(result.model_id, analysis, at)]))
        if analysis.roc is not None:
            out.append(
                Block(
                    "figure", figure=roc_figure([entry], title=f"ROC · {level} level", height=420)
                )
            )
        if analysis.pr is not None:
            out.append(
                Block(
                    "figure",
                    figure=pr_figure([entry], title=f"Precision-recall · {level}", height=420),
                )
            )
        out += [Block("note", n) for n in analysis.notes]
        if analysis.auc_ci is not None:
            out.append(
                Block(
                    "note",
                    f"AUC 95% CI: {ci_text(analysis.auc_ci, analysis.n_patients)} "
                    f"({n_boot} resamples of patients)",
                )
            )
    out.append(Block("note", COMPARABILITY_NOTE))
    return out


def _detection(detection: Mapping[str, Any], model_id: str) -> list[Block]:
    evs = {model_id: detection}
    s = detection["summary"]
    cluster = froc_figure(
        evs,
        kind="cluster_froc",
        title="FROC · clusters (3+ within 1 cm²)",
        x_title="mean false-positive clusters per image",
    )
    return [
        Block("figure", figure=froc_figure(evs)),
        Block("table", rows=summary_rows(evs)),
        *[Block("note", n) for n in summary_notes(evs)],
        Block("figure", figure=cluster),
        Block("table", rows=summary_rows(evs, "cluster_froc")),
        *[Block("note", n) for n in summary_notes(evs, "cluster_froc")],
        Block(
            "note",
            f"Mean = {s['cpm_convention']}. Settings: {json.dumps(detection['settings'])}",
        ),
    ]


def _birads_ci(m: Mapping[str, Any]) -> str:
    """The case-level AUC's interval shown as the classification tables show theirs
    (:func:`ci_text`: a zero-width interval from a handful of patients is ``n/a``)."""
    if not m.get("auc_ci"):
        return "n/a"
    low, high = m["auc_ci"]
    return interval_text(low, high, int(m.get("patients", 0)))


def birads_rows(m: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row of case-level binary metrics (:func:`mcalc.models.birads_eval.birads_metrics`):
    AUC with its interval, and the metrics at the chosen and at Youden's threshold."""
    row: dict[str, Any] = {
        "cases": m.get("n"),
        "suspicious": m.get("suspicious"),
        "AUC": m.get("auc"),
        "AUC 95% CI": _birads_ci(m),
    }
    for key, label in (("at_threshold", "at threshold"), ("youden", "at Youden")):
        at = m.get(key)
        if at:
            row[f"{label}: t"] = at["threshold"]
            row[f"{label}: sens"] = at["sensitivity"]
            row[f"{label}: spec"] = at["specificity"]
            row[f"{label}: acc"] = at["accuracy"]
    return [row]


def birads_threshold_rows(m: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metrics of :func:`birads_rows` at a threshold, a row per threshold: ``at`` the
    chosen one (the model's operating threshold or a slider's), then Youden's. The app's
    second BI-RADS table: one row of 14 columns scrolled sideways in a projector's 1024 px
    of page (docs/measurements.md, h/projector).

    >>> birads_threshold_rows({"youden": {"threshold": 0.9, "sensitivity": 1.0,
    ...     "specificity": 0.5, "accuracy": 0.75}})
    [{'at': 'Youden', 'threshold': 0.9, 'sensitivity': 1.0, 'specificity': 0.5, 'accuracy': 0.75}]
    """
    rows = []
    for key, label in (("at_threshold", "chosen"), ("youden", "Youden")):
        if at := m.get(key):
            rows.append({"at": label} | {k: at[k] for k in _AT_METRICS})
    return rows


_AT_METRICS = ("threshold", "sensitivity", "specificity", "accuracy")


def confusion_rows(matrix: Sequence[Sequence[int]], groups: Sequence[str]) -> list[dict[str, Any]]:
    """A confusion matrix as table rows: one per true group, a column per predicted group
    and the row's total (the report printed the matrix as a Python list in a sentence).

    Raises:
        ValueError: the matrix is not square with one row and column per group.
    """
    if len(matrix) != len(groups) or any(len(r) != len(groups) for r in matrix):
        shape = [len(r) for r in matrix]
        raise ValueError(
            f"expected a {len(groups)}x{len(groups)} matrix for groups {list(groups)}, "
            f"got rows of lengths {shape}"
        )
    return [
        {
            "truth": g,
            **{f"predicted {h}": int(n) for h, n in zip(groups, row, strict=True)},
            "cases": int(sum(row)),
        }
        for g, row in zip(groups, matrix, strict=True)
    ]


def birads_threshold_words(b: Mapping[str, Any], given: str = "given") -> str | None:
    """Which threshold a case-level result's metrics are at and where the detections it
    counted start, each with its source (:func:`mcalc.explain.birads_run.birads_for_model`);
    ``given`` names a threshold given by hand (the page's slider, ``--threshold``). ``None``
    for a result that does not say (made before 7 December 2026)."""
    if "threshold_source" not in b or "detection_threshold" not in b:
        return None
    source = b["threshold_source"]
    d = b["detection_threshold"]
    at = threshold_label(b["threshold"])
    if source != "given" and b["threshold"] == d["value"]:  # the operating threshold: once
        return f"Sensitivity, specificity and accuracy at {at}, and the detections and clusters counted at it: {source}."
    return (
        f"Sensitivity, specificity and accuracy at {at} "
        f"({given if source == 'given' else source}); detections and clusters counted at "
        f"{threshold_label(d['value'])} ({d['source']})."
    )


def _birads(birads: Mapping[str, Any]) -> list[Block]:
    out = [Block("p", f"Aggregation rule {birads['rule']}: {birads['rule_text']}.")]
    if words := birads_threshold_words(birads, "given with the evaluation"):
        out.append(Block("p", words))
    for name, label in SUBSETS:
        if name not in birads:  # a result written before 7 December 2026
            continue
        m = birads[name]
        heading = label[0].upper() + label[1:]
        out.append(Block("h3", heading if "cases" in heading else f"{heading} cases"))
        out.append(Block("table", rows=birads_rows(m)))
        if "per_class_auc" in m:
            out.append(
                Block(
                    "table",
                    rows=[
                        {"group": k, "one-vs-rest AUC": v} for k, v in m["per_class_auc"].items()
                    ],
                )
            )
            out.append(Block("p", "Three groups: cases by truth (rows) and predicted group."))
            out.append(Block("table", rows=confusion_rows(m["confusion_matrix_3class"], GROUPS)))
        out += [Block("note", n) for n in m.get("notes", [])]
    return out


def ours_for_reproduction(
    birads: Mapping[str, Any] | None,
    result: EvaluationResult | None,
    *,
    temporal: bool = False,
    threshold: tuple[float, str] | None = None,
) -> tuple[dict[str, float | None], str, str]:
    """Our case-level numbers to set beside the published ones (with the ``n`` cases and
    ``patients`` they come from), what they are (the BI-RADS result when there is one,
    benign vs suspicious first; else, for a birads model, the papers' task from the
    evaluation's patches; else the case-level AUC of the evaluation's binary view), and how
    they used the prior mammograms (:func:`mcalc.models.published.prior_use`; ``temporal``:
    the model's input is temporal). With ``threshold`` (a threshold on the case scores, the
    maximum of sampled patch probabilities, and why it is that one), the papers' task from
    the patches has our accuracy there too, the threshold said in what they are."""
    keys = () if result is None or result.scores is None else result.scores.image_keys.tolist()
    # Benign vs suspicious first, the papers' task (results written before 7 December
    # 2026 have only "all"), else suspicious vs not, the normal cases among the negatives.
    for name, what in (
        ("benign_vs_suspicious", "benign vs suspicious, per case (normal cases left out; {})"),
        ("all", "suspicious vs not, per case ({})"),
    ):
        m = (birads or {}).get(name) or {}
        if birads is not None and "auc" in m:
            return (
                {
                    "auc": m["auc"],
                    "accuracy": m["at_threshold"]["accuracy"],
                    "n": m.get("n"),
                    "patients": m.get("patients"),
                },
                what.format(f"{birads['rule']} rule"),
                str(birads["prior"]) if "prior" in birads else prior_use(temporal, keys),
            )
    papers = (
        None
        if result is None or result.scores is None
        else papers_task_summary(result.scores, n_boot=0)
    )
    if papers is not None:  # a birads model: the papers' task from its sampled patches
        ours = {k: papers[k] for k in ("auc", "n", "patients")} | {"accuracy": None}
        what = "benign vs suspicious, per case (normal cases left out; max over images"
        if threshold is not None and result is not None and result.scores is not None:
            at = threshold_metrics(papers_task_scores(result.scores), "case", threshold[0])
            ours["accuracy"] = at.accuracy
            what += f"; accuracy at {threshold_label(threshold[0])} ({threshold[1]})"
        return ours, what + ")", prior_use(temporal, keys)
    if result is not None and result.scores is not None:
        a = analyse(result.scores, "case", n_boot=0)
        ours = {"auc": a.auc, "accuracy": None, "n": a.n, "patients": a.n_patients}
        return ours, f"{a.positive} vs not, per case", prior_use(temporal, keys)
    return {"auc": None, "accuracy": None}, "nothing at the case level", ""


def report_blocks(report: ReportInput) -> list[Block]:
    """The report's content, in order (see the module)."""
    result, card = report.result, report.card
    now = datetime.now(UTC).isoformat(timespec="seconds")
    head = {
        "model": card.id,
        "architecture": card.architecture,
        "task": card.task_name,
        "model file": card.fingerprint(),
        "dataset": result.data,
        "data fingerprint": result.fingerprint,
        "scope": result.scope,
        "cases": len(result.cases),
        "evaluated": result.created or now,
    }
    blocks = [
        Block("h1", f"Evaluation of {card.id}"),
        Block("note", f"mcalc evaluation report, written {now}."),
    ]
    if card.data.synthetic:
        blocks.append(
            Block(
                "warn",
                "Trained on SYNTHETIC demo data: these numbers say nothing about real mammograms.",
            )
        )
    blocks += [Block("h2", "Summary"), _pairs(head)]
    blocks += [
        Block("h2", "Classification"),
        *_classification(result, report.threshold, report.n_boot),
    ]
    if report.detection is not None:
        blocks += [
            Block("h2", "Detection (FROC)"),
            *_detection(report.detection, card.id or "model"),
        ]
    if report.birads is not None:
        blocks += [Block("h2", "Case-level BI-RADS"), *_birads(report.birads)]
    if (
        report.birads is None
        and result.scores is not None
        and not has_papers_task(result.scores.classes)
    ):  # a calcification model's case AUC: another task (as the Cross-validation tab says)
        note = other_task_note(
            card.task_name,
            subject="this model classifies",
            instead="Its BI-RADS results (evaluate without --no-detection; the BI-RADS "
            "tab) classify the cases benign vs suspicious from its map scores, the papers' "
            "task, and are set beside them.",
        )
        blocks += [Block("h2", "Published results beside ours"), Block("note", note)]
        return [*blocks, *_tail(report)]
    # On the case scores (patch probabilities' maximum), at the report's metrics threshold:
    # the card's decision threshold is a map score threshold, in other units.
    at = (
        report.threshold,
        f"the report's threshold, on patch probabilities; {card_in_other_units(decision_threshold(card))}",
    )
    ours, what, prior = ours_for_reproduction(
        report.birads, result, temporal=card.patch.temporal, threshold=at
    )
    synthetic = card.data.synthetic if report.synthetic_data is None else report.synthetic_data
    protocol = "held-out test patients" if result.scope == "test-split" else "all patients"
    blocks += [
        Block("h2", "Published results beside ours"),
        Block(
            "table",
            rows=reproduction_rows(
                ours,
                synthetic=synthetic,
                source=report.data_source or "real-layout",
                what=what,
                protocol=protocol,
                prior=prior,
            ),
        ),
        Block("note", REPRODUCTION_NOTE),
    ]
    return [*blocks, *_tail(report)]


def _tail(report: ReportInput) -> list[Block]:
    """The report's last blocks: the settings and the model card."""
    return [
        Block("h2", "Settings"),
        _pairs(dict(report.settings)),
        Block("h2", "Model card"),
        Block("pre", json.dumps(report.card.to_json(), indent=1, default=str)),
    ]


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class='note'>(nothing to show)</p>"
    e = html.escape
    cols = list(rows[0])
    head = "".join(f"<th>{e(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(fmt_cell(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def render_html(blocks: Sequence[Block], title: str) -> str:
    """The blocks as one self-contained HTML document (plotly.js inlined once)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
    ]
    first = True
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            parts.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind in ("note", "warn"):
            parts.append(f"<p class='{b.kind}'>{e(b.text)}</p>")
        elif b.kind == "p":
            parts.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "pre":
            parts.append(f"<pre>{e(b.text)}</pre>")
        elif b.kind == "table":
            parts.append(_html_table(b.rows))
        elif b.kind == "figure" and b.figure is not None:
            config = {"responsive": True}
            parts.append(
                str(b.figure.to_html(full_html=False, include_plotlyjs=first, config=config))
            )
            first = False
    parts.append("</body></html>")
    return "".join(parts)


def evaluation_report(report: ReportInput) -> str:
    """The report of one model's evaluation, as one self-contained HTML document."""
    return render_html(report_blocks(report), f"Evaluation of {report.card.id}")
