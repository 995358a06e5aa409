"""The evaluation report: one self-contained HTML file a user can attach to a paper or a
model review.

It holds the model card, the data fingerprint and scope, every curve (ROC and
precision-recall per level, FROC and cluster FROC) as interactive plotly figures with the
plotly.js library inlined **once** (the file opens offline, nothing is fetched), every table
(metrics per level, detection summary, case-level BI-RADS) and the settings used. Text is
HTML-escaped; numbers are those of the evaluation passed in, nothing is recomputed here but
the curves' analysis of the stored scores.

Example:
    >>> html = evaluation_report(result, card, settings={"threshold": 0.5})  # doctest: +SKIP
    >>> Path("report.html").write_text(html)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from mcalc.models.analysis import analyse, ci_text, summary_row, threshold_metrics
from mcalc.models.curves import OperatingPoint
from mcalc.models.published import COMPARABILITY_NOTE
from mcalc.models.scores import LEVEL_RULES, LEVELS
from mcalc.present.eval_figures import CurveEntry, pr_figure, roc_figure
from mcalc.present.froc_figures import froc_figure, summary_rows

if TYPE_CHECKING:
    from mcalc.models.card import ModelCard
    from mcalc.models.evaluate import EvaluationResult

__all__ = ["evaluation_report"]

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


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "n/a" if value is None else str(value)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class='note'>(nothing to show)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _pairs(items: Mapping[str, Any]) -> str:
    return _table([{"field": k, "value": v} for k, v in items.items()])


class _Figures:
    """Figures as HTML fragments; plotly.js is inlined with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        out = fig.to_html(full_html=False, include_plotlyjs=self.first, config={"responsive": True})
        self.first = False
        return str(out)


def _classification(result: EvaluationResult, threshold: float, n_boot: int, fig: _Figures) -> str:
    scores = result.scores
    if scores is None:
        return "<p class='note'>This evaluation holds no patch scores: no curves.</p>"
    parts = []
    for level in LEVELS:
        analysis = analyse(scores, level, n_boot=n_boot, seed=0)
        at = threshold_metrics(scores, level, threshold)
        point = None
        if at.sensitivity is not None and at.specificity is not None:
            point = OperatingPoint(threshold, at.sensitivity, at.specificity, 0.0)
        entry = CurveEntry(result.model_id, analysis, threshold, point)
        rule = f" ({LEVEL_RULES[level]})" if level in LEVEL_RULES else ""
        parts.append(f"<h3>{_e(level.capitalize())} level{_e(rule)}</h3>")
        parts.append(_table([summary_row(result.model_id, analysis, at)]))
        if analysis.roc is not None:
            parts.append(fig(roc_figure([entry], title=f"ROC · {level} level", height=420)))
        if analysis.pr is not None:
            parts.append(fig(pr_figure([entry], title=f"Precision-recall · {level}", height=420)))
        parts += [f"<p class='note'>{_e(n)}</p>" for n in analysis.notes]
        if analysis.auc_ci is not None:
            parts.append(
                f"<p class='note'>AUC 95% CI: {_e(ci_text(analysis.auc_ci, analysis.n_patients))}"
                f" ({n_boot} resamples of patients)</p>"
            )
    parts.append(f"<p class='note'>{_e(COMPARABILITY_NOTE)}</p>")
    return "".join(parts)


def _detection(detection: Mapping[str, Any], model_id: str, fig: _Figures) -> str:
    evs = {model_id: detection}
    s = detection["summary"]
    return "".join(
        [
            fig(froc_figure(evs)),
            _table(summary_rows(evs)),
            fig(
                froc_figure(
                    evs,
                    kind="cluster_froc",
                    title="FROC · clusters (3+ within 1 cm²)",
                    x_title="mean false-positive clusters per image",
                )
            ),
            _table(summary_rows(evs, "cluster_froc")),
            f"<p class='note'>Mean = {_e(s['cpm_convention'])}. Settings: "
            f"{_e(json.dumps(detection['settings']))}</p>",
        ]
    )


def _birads(birads: Mapping[str, Any]) -> str:
    parts = [f"<p>Aggregation rule <b>{_e(birads['rule'])}</b>: {_e(birads['rule_text'])}.</p>"]
    for name in ("all", "biopsy_confirmed"):
        m = birads[name]
        row = {
            "cases": m.get("n"),
            "suspicious": m.get("suspicious"),
            "AUC": m.get("auc"),
            "AUC 95% CI": (
                f"{m['auc_ci'][0]:.3f}–{m['auc_ci'][1]:.3f}" if m.get("auc_ci") else "n/a"
            ),
        }
        for key, label in (("at_threshold", "at threshold"), ("youden", "at Youden")):
            at = m.get(key)
            if at:
                row[f"{label}: t"] = at["threshold"]
                row[f"{label}: sens"] = at["sensitivity"]
                row[f"{label}: spec"] = at["specificity"]
                row[f"{label}: acc"] = at["accuracy"]
        parts.append(f"<h3>{'All cases' if name == 'all' else 'Biopsy-confirmed cases'}</h3>")
        parts.append(_table([row]))
        if "per_class_auc" in m:
            parts.append(
                _table([{"group": k, "one-vs-rest AUC": v} for k, v in m["per_class_auc"].items()])
            )
            parts.append(
                f"<p>3x3 confusion matrix (rows truth normal/benign/suspicious): "
                f"{_e(m['confusion_matrix_3class'])}</p>"
            )
        parts += [f"<p class='note'>{_e(n)}</p>" for n in m.get("notes", [])]
    return "".join(parts)


def evaluation_report(
    result: EvaluationResult,
    card: ModelCard,
    *,
    detection: Mapping[str, Any] | None = None,
    birads: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    threshold: float = 0.5,
    n_boot: int = 1000,
) -> str:
    """The report of one model's evaluation, as one self-contained HTML document.

    Args:
        result: the evaluation (:func:`mcalc.models.evaluate.evaluate_model`).
        card: the model's card.
        detection: ``DetectionEvaluation.as_dict()`` when detections were evaluated.
        birads: :func:`mcalc.models.birads_eval.evaluate_birads`'s result, if any.
        settings: what the user chose (command-line options), shown as given.
        threshold: the operating threshold of the metrics.
        n_boot: patient bootstrap resamples of the AUC intervals (0: none).
    """
    fig = _Figures()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    card_json = card.to_json()
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
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation of {_e(card.id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation of {_e(card.id)}</h1>",
        f"<p class='note'>mcalc evaluation report, written {_e(now)}.</p>",
    ]
    if card.data.synthetic:
        parts.append(
            "<p class='warn'>Trained on SYNTHETIC demo data: these numbers say nothing "
            "about real mammograms.</p>"
        )
    parts += ["<h2>Summary</h2>", _pairs(head)]
    parts += ["<h2>Classification</h2>", _classification(result, threshold, n_boot, fig)]
    if detection is not None:
        parts += ["<h2>Detection (FROC)</h2>", _detection(detection, card.id or "model", fig)]
    if birads is not None:
        parts += ["<h2>Case-level BI-RADS</h2>", _birads(birads)]
    parts += ["<h2>Settings</h2>", _pairs(dict(settings or {}))]
    parts += [
        "<h2>Model card</h2>",
        f"<pre>{_e(json.dumps(card_json, indent=1, default=str))}</pre>",
        "</body></html>",
    ]
    return "".join(parts)
