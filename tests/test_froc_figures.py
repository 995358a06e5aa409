"""FROC figures and summary rows (mcalc/present/froc_figures.py) from hand-made detection
dicts, as ``DetectionEvaluation.as_dict()`` gives them."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.models.analysis import analyse, few_patients_note
from mcalc.models.froc import froc
from mcalc.models.scores import EvalScores
from mcalc.present.froc_figures import band_outline, froc_figure, summary_notes, summary_rows
from tests.test_froc import _patients


def _step(xs: list[float], ys: list[float], at: float) -> float:
    """The value of an ``hv`` step line at ``at``: that of the last point at or before it."""
    return ys[int(np.searchsorted(xs, at, side="right")) - 1]


def _edges(xs: list[float], ys: list[float], at: float) -> tuple[float, float]:
    """Lowest and highest y of a closed outline on the vertical line ``x = at`` (``at`` not
    one of its x values)."""
    found = []
    ends = list(zip(xs, ys, strict=True))
    for (x0, y0), (x1, y1) in zip(ends, ends[1:] + ends[:1], strict=True):
        if min(x0, x1) < at < max(x0, x1):
            found.append(y0 + (y1 - y0) * (at - x0) / (x1 - x0))
    return min(found), max(found)


def test_band_is_drawn_as_steps_about_the_step_curve() -> None:
    """The band's outline joined its values by straight lines: between two FP values its
    low edge rose above the curve's step (here 0.25 against 0.2 at 0.5 FP/image)."""
    ev = {
        "froc": [{"fp_per_image": 0.0, "sensitivity": 0.2},
                 {"fp_per_image": 1.0, "sensitivity": 0.6},
                 {"fp_per_image": 2.5, "sensitivity": 0.7}],
        "band": {"fp_per_image": [0.0, 1.0, 2.5], "low": [0.0, 0.5, 0.6],
                 "high": [0.3, 0.8, 0.9]},
    }  # fmt: skip
    band, curve = froc_figure({"m": ev}).data
    assert band.fill == "toself" and curve.line.shape == "hv"
    xs, ys = list(band.x), list(band.y)
    assert (xs, ys) == band_outline(ev["band"])
    assert max(xs) == curve.x[-1]  # it ends where the curve ends
    for at in (0.5, 0.99, 1.7):
        low, high = _edges(xs, ys, at)
        assert low <= _step(list(curve.x), list(curve.y), at) <= high
        assert (low, high) == pytest.approx(
            (_step([0, 1, 2.5], [0.0, 0.5, 0.6], at), _step([0, 1, 2.5], [0.3, 0.8, 0.9], at))
        )


def test_a_bootstrapped_froc_lies_inside_its_band_everywhere() -> None:
    """From :func:`froc` itself (4 patients): at every midpoint between the curve's FP
    values the drawn band holds the drawn curve."""
    ev = froc(_patients(4, seed=2), n_boot=200, seed=0).as_dict()
    band, curve = froc_figure({"m": ev}).data
    cx, cy = list(curve.x), list(curve.y)
    for at in (np.asarray(cx[:-1]) + np.diff(cx) / 2).tolist():
        low, high = _edges(list(band.x), list(band.y), at)
        assert low - 1e-9 <= _step(cx, cy, at) <= high + 1e-9, at


def _summary(n_patients: int, ci: list[float] | None) -> dict:
    at = {"0.5": 1.0, "1": 1.0, "2": 1.0, "4": 1.0}
    return {
        "n_images": 12, "n_patients": n_patients, "n_findings": 42, "n_clusters": 2,
        "sensitivity_at": at, "cpm": 0.083, "ci": {"cpm": [0.056, 0.125]},
        "cluster_sensitivity_at": at, "cluster_cpm": 1.0,
        "cluster_ci": {} if ci is None else {"cpm": ci},
    }  # fmt: skip


def test_a_handful_of_patients_gets_the_classification_tables_warning() -> None:
    """The cluster table read "mean 95% CI 1.000–1.000" from 2 clusters of 3 patients with
    no word of warning, while the classification tab warned of so few patients."""
    few = {"m": {"summary": _summary(3, [1.0, 1.0])}}
    assert summary_rows(few, "cluster_froc")[0]["mean 95% CI"] == "n/a (3 patients)"
    assert summary_rows(few)[0]["mean 95% CI"] == "0.056–0.125"  # a real interval, shown
    warning = few_patients_note(3)
    assert warning is not None and "understates the uncertainty" in warning
    assert summary_notes(few, "cluster_froc") == [f"m (clusters): {warning}"]
    assert summary_notes(few) == [f"m (findings): {warning}"]
    # The classification tab's note is the same sentence, from the same function.
    scores = EvalScores(("no", "yes"), ("yes",), np.array([0, 1, 0, 1, 0, 1]),
                        np.array([[.9, .1], [.3, .7], [.8, .2], [.6, .4], [.4, .6], [.5, .5]]),
                        np.array(list("aabbcc")), np.array(list("aabbcc")),
                        np.array([f"{p}/CC" for p in "abcdef"]))  # fmt: skip
    assert warning in analyse(scores, "patch", n_boot=200).notes
    # Enough patients, or no interval: nothing to say.
    assert summary_notes({"m": {"summary": _summary(12, [0.5, 0.9])}}, "cluster_froc") == []
    assert summary_notes({"m": {"summary": _summary(3, None)}}, "cluster_froc") == []
    assert (
        summary_rows({"m": {"summary": _summary(3, None)}}, "cluster_froc")[0]["mean 95% CI"]
        == "n/a"
    )


def test_models_scored_on_different_images_are_said_not_comparable() -> None:
    """A temporal model reads recent images only: beside a recent-only model (prior and
    recent images) its FROC is over other images and findings (6 images, 29 findings
    against 12 and 42 on the demo's test cases), and the table put the two side by side
    with nothing said (the audit of 6 December 2026)."""
    same = {"a": {"summary": _summary(12, None)}, "b": {"summary": _summary(12, None)}}
    assert summary_notes(same) == []
    temporal = {**_summary(12, None), "n_images": 6, "n_findings": 29, "n_clusters": 2}
    mixed = {"recent-only": same["a"], "temporal": {"summary": temporal}}
    assert summary_notes(mixed) == [
        "The models were scored on different images (recent-only: 12 images, 42 findings; "
        "temporal: 6 images, 29 findings: other test patients, or a temporal model, which "
        "reads recent images only), so their sensitivities and false positives per image are "
        "not over the same findings: not a like-for-like comparison."
    ]
    assert summary_notes(mixed, "cluster_froc") == [
        "The models were scored on different images (recent-only: 12 images, 2 clusters; "
        "temporal: 6 images, 2 clusters: other test patients, or a temporal model, which "
        "reads recent images only), so their sensitivities and false positives per image are "
        "not over the same clusters: not a like-for-like comparison."
    ]


def _tint(color: str, alpha: float) -> str:
    """``color`` at opacity ``alpha`` over white, as a print or a PDF viewer shows it."""
    return "#" + "".join(f"{round(255 - alpha * (255 - int(color[i : i + 2], 16))):02x}"
                         for i in (1, 3, 5))  # fmt: skip


def test_each_models_band_keeps_its_models_dash_for_a_grey_print() -> None:
    """A band was a 15 % fill with no edge: every palette colour at 15 % on white is a
    grey of relative luminance 0.79-0.84, so in a grey-scale print two models' bands
    differed by 1.01-1.05:1 and could not be told apart; and plotly marked each corner of
    a band in its own colorway (#636efa...), not the model's. Each band is now edged by a
    line in its model's colour and dash, 3:1 or more on its fill and on white."""
    from mcalc.present.palette import MODEL_DASHES, model_style
    from pages.theme import contrast

    ev = {"froc": [{"fp_per_image": 0.0, "sensitivity": 0.5}],
          "band": {"fp_per_image": [0.0, 1.0], "low": [0.3, 0.4], "high": [0.6, 0.7]}}  # fmt: skip
    names = [f"m{i}" for i in range(len(MODEL_DASHES))]
    bands = [t for t in froc_figure(dict.fromkeys(names, ev)).data if t.fill == "toself"]
    assert [b.name for b in bands] == [f"{n} band" for n in names]
    for i, band in enumerate(bands):
        style = model_style(i)
        assert (band.line.color, band.line.dash, band.mode) == (style.color, style.dash, "lines")
        assert band.line.width >= 1
        fill = _tint(style.color, float(band.fillcolor.split(",")[-1].rstrip(")")))
        assert contrast(band.line.color, fill) >= 3.0 and contrast(band.line.color, "#ffffff") >= 3
    assert len({b.line.dash for b in bands}) == len(bands)


def test_the_mean_and_its_interval_come_beside_the_model() -> None:
    """The summary's interval was its last column, scrolled out of view on a 1024 px page
    (a projector at 125 %): the mean and its interval come first, the counts last."""
    rows = summary_rows({"m": {"summary": _summary(12, None)}})
    assert list(rows[0])[:3] == ["model", "mean", "mean 95% CI"]
    assert list(rows[0])[-2:] == ["images", "findings"]
