"""The evaluation report as a PDF (fpdf2), drawn from the same blocks as the HTML report
(:func:`mcalc.present.report.report_blocks`).

Figures are drawn by fpdf2 itself, as vector lines, from the plotly figures' own traces
(:func:`draw_figure`): step curves (``hv``/``vh``), filled bootstrap bands, markers and their
labels, dotted guides, axes with ticks, a title and a legend. Each line keeps its plotly dash
and each marker its symbol, drawn as plotly.js draws them (:mod:`mcalc.present.palette`'s
``DASH_PATTERNS`` and ``MARKER_OUTLINES``; a symbol it has no outline for is drawn as a
circle), and the legend shows each entry's line and marker, so that models stay apart in a
grey-scale print as on screen. A filled band is translucent as on screen (so that it hides no
curve drawn before it) and edged in its line's dash where it has one. Why not a PNG of the
plotly figure: plotly's image export (kaleido) drives a headless Chrome, a second browser
process to install, pin and keep working on every server and in CI, for pictures that fpdf2
draws sharper in a few dozen lines; matplotlib is not a dependency of mcalc. Only line
charts are drawn (every figure of the report is one); other traces are skipped.

Text uses the PDF core fonts (Latin-1): characters outside it are replaced (``·`` by ``-``).

Example:
    >>> pdf = evaluation_report_pdf(ReportInput(result, card))  # doctest: +SKIP
    >>> Path("report.pdf").write_bytes(pdf)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from fpdf import FPDF
from fpdf.enums import StrokeCapStyle
from fpdf.fonts import FontFace

from mcalc.pdftext import latin1
from mcalc.present.palette import DASH_PATTERNS, MARKER_OUTLINES
from mcalc.present.report import Block, ReportInput, fmt_cell, report_blocks

__all__ = ["evaluation_report_pdf", "render_pdf", "draw_figure", "column_widths"]

_RESEARCH = "mcalc evaluation report - research use only, not for clinical decisions."


#: The colour names mcalc's figures use (a marker's white ring); any other name is grey.
_NAMED = {"white": "#ffffff", "black": "#000000"}


def _rgba(color: str | None) -> tuple[tuple[int, int, int], float]:
    """A plotly colour (``#rrggbb``, ``rgba(r,g,b,a)``, white or black) and its alpha; any
    other is grey."""
    if not color:
        return (120, 120, 120), 1.0
    color = _NAMED.get(color.lower(), color)
    if color.startswith("#") and len(color) == 7:
        return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)), 1.0
    if color.startswith("rgb"):
        values = [float(v) for v in color[color.index("(") + 1 : color.index(")")].split(",")]
        r, g, b = (int(v) for v in values[:3])
        return (r, g, b), values[3] if len(values) > 3 else 1.0
    return (120, 120, 120), 1.0


def _rgb(color: str | None) -> tuple[int, int, int]:
    """A plotly colour (see :func:`_rgba`) blended onto white by its alpha."""
    rgb, alpha = _rgba(color)
    return tuple(round(255 - alpha * (255 - c)) for c in rgb)  # type: ignore[return-value]


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values between ``low`` and ``high``."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _steps(
    xs: Sequence[float], ys: Sequence[float], shape: str | None
) -> list[tuple[float, float]]:
    """The points of a line, with the corners of ``hv``/``vh`` steps."""
    pts: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=False)):
        if i and shape == "hv":
            pts.append((x, pts[-1][1]))
        elif i and shape == "vh":
            pts.append((pts[-1][0], y))
        pts.append((x, y))
    return pts


def _range(axis: Any, values: list[float]) -> tuple[float, float]:
    if axis.range is not None:
        return float(axis.range[0]), float(axis.range[1])
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _finite(values: Any) -> list[float]:
    out = []
    for v in values or ():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def draw_figure(pdf: FPDF, fig: go.Figure, *, width: float = 120.0, height: float = 85.0) -> None:
    """Draw a plotly line chart at the cursor (title, axes, traces, legend below).

    Args:
        pdf: the document; the cursor moves below the figure.
        fig: a figure of ``Scatter`` traces (lines, markers, ``toself`` fills).
        width, height: the plotting area in mm.
    """
    traces = [t for t in fig.data if isinstance(t, go.Scatter)]
    xs = [v for t in traces for v in _finite(t.x)]
    ys = [v for t in traces for v in _finite(t.y)]
    x0, x1 = _range(fig.layout.xaxis, xs)
    y0, y1 = _range(fig.layout.yaxis, ys)
    left, top = pdf.l_margin + 14, pdf.get_y() + 8
    if top + height + 30 > pdf.h - pdf.b_margin:
        pdf.add_page()
        top = pdf.get_y() + 8

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * width

    def py(y: float) -> float:
        return top + height - (y - y0) / (y1 - y0) * height

    pdf.set_font("Helvetica", "B", 9)
    pdf.set_text_color(0, 0, 0)
    pdf.text(left, top - 3, latin1(str(fig.layout.title.text or "")))
    pdf.set_font("Helvetica", "", 7)
    pdf.set_draw_color(225, 225, 225)
    pdf.set_line_width(0.1)
    for tx in _ticks(x0, x1):
        pdf.line(px(tx), top, px(tx), top + height)
        pdf.text(px(tx) - 2, top + height + 3.5, f"{tx:g}")
    for ty in _ticks(y0, y1):
        pdf.line(left, py(ty), left + width, py(ty))
        pdf.text(left - 7, py(ty) + 1, f"{ty:g}")
    pdf.text(
        left + width / 2 - 20, top + height + 8, latin1(str(fig.layout.xaxis.title.text or ""))
    )
    with pdf.rotation(90, left - 10, top + height / 2 + 20):
        pdf.text(left - 10, top + height / 2 + 20, latin1(str(fig.layout.yaxis.title.text or "")))
    with pdf.rect_clip(left, top, width, height):
        for shape in fig.layout.shapes or ():
            if shape.type == "line" and shape.xref == "x" and shape.x0 is not None:
                guide = [(px(shape.x0), top), (px(shape.x0), top + height)]
                _stroke(pdf, guide, _rgb(shape.line.color), shape.line.width or 1, shape.line.dash)
        for t in traces:
            _draw_trace(pdf, t, px, py)
    pdf.set_draw_color(80, 80, 80)
    pdf.set_line_width(0.2)
    pdf.rect(left, top, width, height)
    pdf.set_y(top + height + 11)
    _legend(pdf, traces)


#: Millimetres of a PDF figure per pixel of the plotly figure it draws (a chart 420 px high
#: is drawn 85 mm high, its plotting area about 0.25 mm a pixel): the scale of markers and
#: dash patterns, so that they keep their proportions to each other as on screen.
_MM_PER_PX = 0.2


def _pattern(dash: str | None, width: float) -> tuple[float, ...]:
    """A plotly line dash as on/off lengths in mm for a line ``width`` px wide; a custom
    dash (``"5px,10px"``) is drawn as "dash"."""
    unit = max(float(width), 3.0) * _MM_PER_PX
    return tuple(unit * v for v in DASH_PATTERNS.get(dash or "solid", DASH_PATTERNS["dash"]))


def _stroke(
    pdf: FPDF,
    pts: Sequence[tuple[float, float]],
    color: tuple[int, int, int],
    width: float,
    dash: str | None,
) -> None:
    """A polyline in a plotly line's colour, width (px) and dash, with butt ends so that a
    dot stays as long as its pattern says (fpdf2's own dash holds one dash length only)."""
    with pdf.new_path() as path:
        path.style.stroke_color = "#{:02x}{:02x}{:02x}".format(*color)
        path.style.fill_color = None
        path.style.stroke_width = 0.125 * float(width)
        path.style.stroke_cap_style = StrokeCapStyle.BUTT
        path.style.auto_close = False
        pattern = _pattern(dash, width)
        if pattern:
            path.style.stroke_dash_pattern = pattern
        path.move_to(*pts[0])
        for x, y in pts[1:]:
            path.line_to(x, y)


def _marker(pdf: FPDF, t: go.Scatter, cx: float, cy: float, size: float | None = None) -> None:
    """Trace ``t``'s marker centred at ``(cx, cy)``: its symbol's outline filled with its
    colour and edged with its line (plotly's white ring parts it from the curve under it);
    a ``-open`` symbol is the outline alone. ``size``: px, instead of the marker's own."""
    m = t.marker
    color = _rgb(m.color if isinstance(m.color, str) else None)
    symbol = m.symbol if isinstance(m.symbol, str) else "circle"
    hollow = symbol.endswith("-open")
    r = float(size or m.size or 6) / 2 * _MM_PER_PX
    style = "D" if hollow else "F"
    if hollow:
        pdf.set_draw_color(*color)
        pdf.set_line_width(0.3)
    elif m.line.color and isinstance(m.line.color, str) and m.line.width:
        pdf.set_draw_color(*_rgb(m.line.color))
        pdf.set_line_width(float(m.line.width) * _MM_PER_PX)
        style = "DF"
    pdf.set_fill_color(*color)
    outline = MARKER_OUTLINES.get(symbol.removesuffix("-open"))
    if outline:
        pdf.polygon([(cx + r * x, cy + r * y) for x, y in outline], style=style)
    else:
        pdf.circle(cx, cy, r, style=style)


def _label(pdf: FPDF, t: go.Scatter, i: int, cx: float, cy: float) -> None:
    """Point ``i``'s text beside its marker, where plotly puts it (left, right or centred)."""
    text = t.text[i] if isinstance(t.text, (list, tuple)) and i < len(t.text) else t.text
    if not isinstance(text, str) or not text:
        return
    where = t.textposition if isinstance(t.textposition, str) else "middle center"
    pdf.set_font("Helvetica", "", 7)
    color = t.textfont.color if isinstance(t.textfont.color, str) else None
    pdf.set_text_color(*(_rgb(color) if color else (0, 0, 0)))
    w = pdf.get_string_width(latin1(text))
    gap = float(t.marker.size or 6) / 2 * _MM_PER_PX + 0.8
    x = cx + gap if "right" in where else cx - gap - w if "left" in where else cx - w / 2
    pdf.text(x, cy + 1.0, latin1(text))
    pdf.set_text_color(0, 0, 0)


def _line_rgb(t: go.Scatter) -> tuple[int, int, int]:
    """A trace's line colour (its marker's where the line has none)."""
    return _rgb(t.line.color or (t.marker.color if isinstance(t.marker.color, str) else None))


def _draw_trace(pdf: FPDF, t: go.Scatter, px: Any, py: Any) -> None:
    x, y = list(t.x or ()), list(t.y or ())
    pts = [
        (px(float(a)), py(float(b)))
        for a, b in zip(x, y, strict=False)
        if a is not None and b is not None
    ]
    if not pts:
        return
    if t.fill == "toself":
        # Translucent as on screen: an opaque fill (the colour blended onto white) hid the
        # curves and bands drawn before it, every model's but the last of a FROC chart.
        rgb, alpha = _rgba(t.fillcolor)
        with pdf.local_context(fill_opacity=alpha):
            pdf.set_fill_color(*rgb)
            pdf.polygon(pts, style="F")
        if t.line.width:  # a band's edge, in its model's dash (froc_figures)
            _stroke(pdf, [*pts, pts[0]], _line_rgb(t), t.line.width, t.line.dash)
        return
    mode = t.mode or "lines"
    if "lines" in mode:
        steps = _steps([p[0] for p in pts], [p[1] for p in pts], t.line.shape)
        _stroke(pdf, steps, _line_rgb(t), t.line.width or 2, t.line.dash)
    if "markers" in mode:
        for cx, cy in pts:
            _marker(pdf, t, cx, cy)
    if "text" in mode:
        for i, (cx, cy) in enumerate(pts):
            _label(pdf, t, i, cx, cy)


def _legend(pdf: FPDF, traces: Sequence[go.Scatter]) -> None:
    """Each named trace's line (colour, width, dash) with its marker on it: its own, or that
    of the trace of its legend group that has one (a model's operating point, not in the
    legend of its own), so that the legend tells the models apart as the chart does."""
    pdf.set_font("Helvetica", "", 7)
    left = pdf.l_margin + 14
    for t in traces:
        if t.showlegend is False or not t.name or t.fill == "toself":
            continue
        y = pdf.get_y() + 1.75
        mode = t.mode or "lines"
        if "lines" in mode:
            sample = [(left, y), (left + 8, y)]
            _stroke(pdf, sample, _line_rgb(t), t.line.width or 2, t.line.dash)
        marked = [t] if "markers" in mode else []
        marked += [
            u
            for u in traces
            if t.legendgroup and u.legendgroup == t.legendgroup and "markers" in (u.mode or "")
        ]
        if marked:
            _marker(pdf, marked[0], left + 4, y, size=min(float(marked[0].marker.size or 6), 10))
        pdf.set_x(left + 10)
        # A name broken for the screen's legend (plotly's <br>) is one text: the cell wraps.
        name = t.name.replace("<br>", " ")
        pdf.multi_cell(0, 3.5, latin1(name), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def column_widths(pdf: FPDF, cells: Sequence[Sequence[str]], *, size: float) -> list[float]:
    """Widths (mm, summing to the page's text width) of a table's columns: each at least
    as wide as its longest word, so that lines break between words, never inside one (an
    equal share each broke "leave-one-patient-out" in a narrow column); the width left
    goes to the columns whose text wraps, in proportion to what they lack to fit on one
    line. Where even the longest words do not fit, in proportion to them.

    Args:
        pdf: the document (its page width, cell margin and fonts measure the text).
        cells: the table's rows of text, the first the headings (drawn bold).
        size: the font size of the table.
    """
    pad = 2 * pdf.c_margin + 0.5
    n = len(cells[0])
    words, lines = [0.0] * n, [0.0] * n
    for i, row in enumerate(cells):
        pdf.set_font("Helvetica", "B" if i == 0 else "", size)
        for j, text in enumerate(row):
            lines[j] = max(lines[j], pdf.get_string_width(text) + pad)
            for word in text.split() or [""]:
                words[j] = max(words[j], pdf.get_string_width(word) + pad)
    pdf.set_font("Helvetica", "", size)
    width = pdf.epw
    if sum(words) >= width:
        return [width * w / sum(words) for w in words]
    lack = [line - word for line, word in zip(lines, words, strict=True)]
    if sum(lack) <= width - sum(words):  # everything fits on one line: share the rest alike
        spare = (width - sum(lines)) / n
        return [line + spare for line in lines]
    share = (width - sum(words)) / sum(lack)
    return [word + share * gap for word, gap in zip(words, lack, strict=True)]


def _table(pdf: FPDF, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        pdf.multi_cell(0, 4, "(nothing to show)", new_x="LMARGIN", new_y="NEXT")
        return
    cols = list(rows[0])
    size = 8 if len(cols) <= 6 else 6 if len(cols) <= 12 else 5
    cells = [[latin1(str(c)) for c in cols]]
    cells += [[latin1(fmt_cell(r.get(c))) for c in cols] for r in rows]
    widths = column_widths(pdf, cells, size=size)
    pdf.set_font("Helvetica", "", size)
    head = FontFace(emphasis="BOLD", fill_color=(240, 240, 240))
    pdf.set_fill_color(255, 255, 255)  # a legend's swatch colour must not fill the cells
    with pdf.table(
        text_align="LEFT",
        line_height=size * 0.45,
        headings_style=head,
        first_row_as_headings=True,
        cell_fill_mode="NONE",
        col_widths=widths,
    ) as table:
        for row in cells:
            table.row(row)
    pdf.ln(2)


def render_pdf(blocks: Sequence[Block], title: str) -> bytes:
    """The blocks as a PDF document."""
    pdf = FPDF(format="A4")
    pdf.set_title(latin1(title))
    pdf.set_creator("mcalc")
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_page()

    def text(
        line: str, size: float, style: str = "", color: tuple[int, int, int] = (0, 0, 0)
    ) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.set_text_color(*color)
        pdf.multi_cell(0, size * 0.5, latin1(line), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    text(_RESEARCH, 8, "I", (110, 110, 110))
    for b in blocks:
        if b.kind == "h1":
            text(b.text, 16, "B")
        elif b.kind == "h2":
            pdf.ln(3)
            text(b.text, 13, "B")
        elif b.kind == "h3":
            pdf.ln(1)
            text(b.text, 10.5, "B")
        elif b.kind == "p":
            text(b.text, 9)
        elif b.kind == "note":
            text(b.text, 8, "", (100, 100, 100))
        elif b.kind == "warn":
            text(b.text, 9, "B", (190, 100, 0))
        elif b.kind == "pre":
            pdf.set_font("Courier", "", 6)
            pdf.multi_cell(0, 2.6, latin1(b.text), new_x="LMARGIN", new_y="NEXT")
        elif b.kind == "table":
            _table(pdf, b.rows)
        elif b.kind == "figure" and b.figure is not None:
            draw_figure(pdf, b.figure)
    return bytes(pdf.output())


def evaluation_report_pdf(report: ReportInput) -> bytes:
    """The report of one model's evaluation as a PDF (same content as the HTML)."""
    return render_pdf(report_blocks(report), f"Evaluation of {report.card.id}")
