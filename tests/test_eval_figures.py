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
    legend entry now holds at most 48 characters (plotly's 11 px font: about 5.5 px each)."""
    from mcalc.present.eval_figures import roc_figure

    names = [t.name for t in roc_figure([]).data if t.name]
    assert any("Loizidou" in n for n in names), names
    long = [line for n in names for line in n.split("<br>") if len(line) > 48]
    assert not long, long
