"""The confusion matrix of mcalc/present/eval_figures.py reads on the page and in print (the
curves' legibility is tests/test_palette.py's)."""

from __future__ import annotations

import pytest
from plotly.colors import sample_colorscale

from mcalc.present.eval_figures import confusion_figure
from pages.theme import BACKGROUNDS, contrast

#: Where a confusion matrix is seen: printed on white, on the light and the dark page.
PAPERS = ("#ffffff", BACKGROUNDS["light"][0], BACKGROUNDS["dark"][0])


def _hex(rgb: str) -> str:
    """``rgb(r, g, b)`` (plotly's, with fractions) as ``#rrggbb``."""
    values = rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")
    return "#" + "".join(f"{round(float(v)):02x}" for v in values)


@pytest.mark.parametrize(
    "matrix",
    [[[3, 1], [0, 4]], [[40, 3, 0], [5, 21, 9], [1, 2, 17]], [[0, 0], [0, 0]]],
    ids=["2x2", "3x3", "all zero"],
)
def test_every_cell_shows_on_the_paper_and_its_count_on_the_cell(matrix) -> None:
    """The cells were plotly's Blues from its lightest: a cell of few cases (#f7fbff) read
    1.04:1 on white, on paper and the light theme, there only by its number; the largest
    count's (#08306b) 1.42:1 on the dark theme. Every cell now reads 3:1 or more on each
    (WCAG 2's minimum for a graphic, SC 1.4.11), the cells are parted by a gap of the
    page, and each count reads 4.5:1 or more on its cell (WCAG's minimum for text)."""
    labels = ["normal", "benign", "suspicious"][: len(matrix)]
    heat, *texts = confusion_figure(matrix, labels, "m · 0.50").data
    flat = [v for row in matrix for v in row]
    low = min(flat) if heat.zmin is None else heat.zmin  # plotly's own range where unset
    high = max(flat) if heat.zmax is None else heat.zmax
    at = [(v - low) / (high - low) if high > low else 0.0 for v in flat]
    cells = [_hex(c) for c in sample_colorscale([list(s) for s in heat.colorscale], at)]
    faint = {(c, p, round(contrast(c, p), 2)) for c in cells for p in PAPERS if contrast(c, p) < 3}
    assert not faint, faint
    assert heat.zmin == 0 and heat.xgap >= 1 and heat.ygap >= 1  # no case is the lightest
    [text] = texts
    n = len(labels)
    for x, y, count, ink in zip(text.x, text.y, text.text, text.textfont.color, strict=True):
        k = labels.index(y) * n + labels.index(x)
        assert count == str(flat[k])
        assert contrast(ink, cells[k]) >= 4.5, (count, ink, cells[k])
    assert len(text.x) == n * n


def test_every_roc_legend_line_fits_half_a_projectors_page() -> None:
    """Evaluate draws ROC beside precision-recall, each in half the page's width: about
    270 px at a projector's 1280 px with the browser at 125 % (1024 px of page). A legend
    entry wider than its chart is cut, and the published points' entries ("Loizidou 2021,
    temporal subtraction: AUC 0.87 (pub", 79 characters on one line) were. Each line of a
    legend entry now holds at most :data:`LEGEND_CHARS` characters (the page's 14 px: about
    7 px each, h/projector), a model's with a long id too ("custom-calcification-20261207-
    190452 · AUC 0.548, 95% CI 0.3" was cut)."""
    from mcalc.models.analysis import analyse
    from mcalc.present.eval_figures import LEGEND_CHARS, CurveEntry, pr_figure, roc_figure
    from tests.test_palette import four_scores

    analysis = analyse(four_scores(), "patch", n_boot=0)
    ids = ("demo-custom", "custom-calcification-20261207-190452")
    entries = [CurveEntry(i, analysis, 0.5, None) for i in ids]
    names = [t.name for f in (roc_figure(entries), pr_figure(entries)) for t in f.data if t.name]
    assert any("Loizidou" in n for n in names), names
    long = [line for n in names for line in n.split("<br>") if len(line) > LEGEND_CHARS]
    assert not long, long
    assert LEGEND_CHARS <= 44
    assert any(n.startswith("demo-custom · AUC") for n in names), names  # short: one line


def test_a_confusion_matrix_title_fits_a_third_of_a_projectors_page() -> None:
    """Evaluate draws a model's confusion matrix in a third of the page (about 215 px at
    1024 px): "custom-calcification-20261207-190452 · thre" was all of its 17 px title
    (h/projector). A long title breaks at its dots and after hyphens into lines of
    :data:`TITLE_CHARS` characters."""
    from mcalc.present.eval_figures import TITLE_CHARS

    long = "custom-calcification-20261207-190452 · threshold 0.50"
    title = confusion_figure([[1, 0], [0, 1]], ["no", "yes"], long).layout.title.text
    assert title == "custom-calcification-<br>20261207-190452<br>threshold 0.50"
    short = confusion_figure([[1, 0], [0, 1]], ["no", "yes"], "demo-custom · argmax")
    assert short.layout.title.text == "demo-custom · argmax" and TITLE_CHARS <= 24
