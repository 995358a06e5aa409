"""Plotly figures of detection evaluations: FROC curves of several models on one chart,
with their patient-bootstrap bands, and the summary table's rows.

Each band is a 15 % fill of its model's colour, edged by a thin line in the model's colour
and dash (:func:`mcalc.present.palette.model_style`). The fill alone told the models apart
on screen only: every palette colour at 15 % on white is a grey of relative luminance
0.79-0.84, so in a grey-scale print two models' bands differed by 1.01-1.05:1; their edges
keep the dashes that tell the curves apart (docs/measurements.md, h/print).

The figures take the JSON-ready dicts of :class:`mcalc.explain.detection_eval.
DetectionEvaluation` (``as_dict()``), so the page, the CLI's report and the tests draw the
same thing.

Example:
    >>> ev = {"froc": [{"fp_per_image": 0.0, "sensitivity": 0.5},
    ...                {"fp_per_image": 1.0, "sensitivity": 0.8}], "band": None}
    >>> fig = froc_figure({"m": ev})
    >>> fig.data[0].name, list(fig.data[0].x)
    ('m', [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from mcalc.models.analysis import FEW_PATIENTS, few_patients_note, interval_text
from mcalc.present.eval_figures import curve_trace
from mcalc.present.palette import model_style

__all__ = ["band_outline", "froc_figure", "summary_rows", "summary_notes"]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def band_outline(band: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """The outline of a FROC band drawn as steps like its curve (``hv``: each value holds
    until the next FP value): along the high edge forward, back along the low edge.

    A plotly ``fill="toself"`` joins its points by straight lines (and a reversed ``hv``
    line steps at the wrong ends), so the corners are given as points.

    Example:
        >>> band_outline({"fp_per_image": [0, 1, 2], "low": [0.0, .1, .2], "high": [.3, .4, .5]})
        ([0, 1, 1, 2, 2, 2, 2, 1, 1, 0], [0.3, 0.3, 0.4, 0.4, 0.5, 0.2, 0.1, 0.1, 0.0, 0.0])
    """

    def steps(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        px, py = xs[:1], ys[:1]
        for x, y in zip(xs[1:], ys[1:], strict=True):
            px += [x, x]
            py += [py[-1], y]
        return px, py

    xs = list(band["fp_per_image"])
    hx, hy = steps(xs, list(band["high"]))
    lx, ly = steps(xs, list(band["low"]))
    return hx + lx[::-1], hy + ly[::-1]


def froc_figure(
    evaluations: Mapping[str, Mapping[str, Any]],
    *,
    kind: str = "froc",
    title: str = "FROC · individual calcifications",
    x_title: str = "mean false positives per image",
    rates: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0),
    x_max: float | None = None,
) -> go.Figure:
    """FROC curves (step lines) of several models, bands where bootstrapped.

    Args:
        evaluations: model name -> detection dict (``DetectionEvaluation.as_dict()``).
        kind: ``froc`` (individual findings) or ``cluster_froc``.
        title, x_title: the chart's texts.
        rates: FP-per-image rates of the summary, drawn as dotted guides.
        x_max: right end of the x axis (default: twice the largest rate, or the curves'
            end when nearer; the curves go on to every detection, pan to see them).
    """
    if kind not in ("froc", "cluster_froc"):
        raise ValueError(f"kind must be 'froc' or 'cluster_froc', got {kind!r}")
    band_key = "band" if kind == "froc" else "cluster_band"
    fig = go.Figure()
    top = 0.0
    for i, (name, ev) in enumerate(evaluations.items()):
        style = model_style(i)
        points = ev.get(kind) or []
        band = ev.get(band_key)
        if band:
            bx, by = band_outline(band)
            fig.add_trace(
                go.Scatter(
                    x=bx,
                    y=by,
                    fill="toself",
                    mode="lines",  # plotly's default marked each corner, in its colorway
                    fillcolor=_rgba(style.color, 0.15),
                    # edged in the model's colour and dash: a 15 % fill of any palette
                    # colour prints as the same pale grey (see the module)
                    line={"color": style.color, "dash": style.dash, "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{name} band",
                )
            )
        xs = [p["fp_per_image"] for p in points]
        ys = [p["sensitivity"] for p in points]
        if xs:
            top = max(top, xs[-1])
        fig.add_trace(
            curve_trace(
                xs,
                ys,
                name,
                style.color,
                dash=style.dash,
                hover=f"<b>{name}</b><br>%{{x:.2f}} FP/image: sensitivity %{{y:.3f}}",
                width=2,
            )
        )
    for r in rates:
        fig.add_vline(x=r, line={"dash": "dot", "width": 1, "color": "#8c8c8c"})
    fig.update_layout(
        title=title,
        xaxis={
            "title": x_title,
            "range": [0, (x_max or min(max(top, max(rates)), 2 * max(rates))) * 1.02],
        },
        yaxis={"title": "sensitivity", "range": [0, 1.02]},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 50, "r": 10, "t": 50, "b": 40},
        height=420,
    )
    return fig


def summary_rows(
    evaluations: Mapping[str, Mapping[str, Any]], kind: str = "froc"
) -> list[dict[str, Any]]:
    """One row per model: the mean sensitivity over the rates with its bootstrap interval
    when there is one, the sensitivity at each rate, then the images and findings
    (``kind``: ``froc`` or ``cluster_froc``). The interval is shown as the classification
    tables show theirs (:func:`~mcalc.models.analysis.interval_text`: a zero-width interval
    from a handful of patients is ``n/a``).

    The mean and its interval come first, beside the model: last, they were the columns a
    page 1024 px wide (a projector at 125 %) scrolled out of view.
    """
    prefix = "" if kind == "froc" else "cluster_"
    rows = []
    for name, ev in evaluations.items():
        s = ev["summary"]
        ci = s[f"{prefix}ci"].get("cpm")
        patients = int(s.get("n_patients", FEW_PATIENTS))  # (not given: shown as it is)
        row: dict[str, Any] = {
            "model": name,
            "mean": s[f"{prefix}cpm"],
            "mean 95% CI": interval_text(ci[0], ci[1], patients) if ci else "n/a",
        }
        row |= {f"@{k} FP": v for k, v in s[f"{prefix}sensitivity_at"].items()}
        row["images"] = s["n_images"]
        row["findings"] = s["n_findings"] if kind == "froc" else s["n_clusters"]
        rows.append(row)
    return rows


def summary_notes(evaluations: Mapping[str, Mapping[str, Any]], kind: str = "froc") -> list[str]:
    """What to say under :func:`summary_rows`' table: that the models were scored on
    different images (a temporal model reads recent images only), and the small-sample
    warning of the classification tables (:func:`~mcalc.models.analysis.few_patients_note`),
    for each model whose intervals come from a bootstrap over a handful of patients."""
    prefix = "" if kind == "froc" else "cluster_"
    what = "findings" if kind == "froc" else "clusters"
    notes = []
    counted = {
        name: (ev["summary"].get("n_images"), ev["summary"].get("n_findings" if not prefix
               else "n_clusters"))
        for name, ev in evaluations.items()
    }  # fmt: skip
    if len(set(counted.values())) > 1:  # e.g. a temporal model beside a recent-only one
        each = "; ".join(f"{name}: {n} images, {k} {what}" for name, (n, k) in counted.items())
        notes.append(
            f"The models were scored on different images ({each}: other test patients, or "
            "a temporal model, which reads recent images only), so their sensitivities and "
            f"false positives per image are not over the same {what}: not a like-for-like "
            "comparison."
        )
    for name, ev in evaluations.items():
        s = ev["summary"]
        if not s[f"{prefix}ci"] or "n_patients" not in s:
            continue
        note = few_patients_note(int(s["n_patients"]))
        if note is not None:
            notes.append(f"{name} ({what}): {note}")
    return notes
