"""The evaluation report as PDF and HTML from one set of blocks: the PDF's text
(``pdftotext``) holds the model, every section, the FROC and ROC figures' titles and
legends, the case-level BI-RADS tables and the published results beside ours, labelled
synthetic. Built from seeded synthetic scores: no model, no TensorFlow."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import subprocess
from html import escape as html_escape

import numpy as np
import pytest
from fpdf import FPDF

from mcalc.models.birads_eval import CaseFeatures, evaluate_birads
from mcalc.models.card import ModelCard
from mcalc.models.evaluate import EvaluationResult
from mcalc.models.published import COMPARABILITY_NOTE, REPRODUCTION_NOTE
from mcalc.models.scores import EvalScores
from mcalc.pdftext import latin1
from mcalc.present.report import ReportInput, evaluation_report, fmt_cell, report_blocks
from mcalc.present.report_pdf import (
    _ticks,
    column_widths,
    evaluation_report_pdf,
    render_pdf,
)
from tests.conftest import REPO


def _text(pdf: bytes, tmp_path) -> str:
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is missing: apt-get install poppler-utils (scripts/test.sh does)")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


@pytest.fixture(scope="module")
def report() -> ReportInput:
    rng = np.random.default_rng(0)
    n = 48
    i = np.arange(n)
    y = ((i // 4 % 2 == 0) & (i % 4 == 0)).astype(int)  # one positive patch in half the cases
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, n), 0, 1)
    cases = [f"c{i // 4}" for i in range(n)]
    images = [f"c{i // 4}/{'CC' if i % 4 < 2 else 'MLO'}_recent" for i in range(n)]
    scores = EvalScores(("normal", "calcification"), ("calcification",), y,
                        np.stack([1 - p, p], 1), cases, cases, images)  # fmt: skip
    card = ModelCard.from_json(json.loads((REPO / "models/demo-custom/card.json").read_text()))
    result = EvaluationResult("demo-custom", "data/demo", "all-patients", sorted(set(cases)),
                              {}, None, "calcification", "f00d", scores)  # fmt: skip
    detection = {
        "froc": [{"fp_per_image": 0.0, "sensitivity": 0.25},
                 {"fp_per_image": 1.0, "sensitivity": 0.5},
                 {"fp_per_image": 3.0, "sensitivity": 0.75}],
        "cluster_froc": [{"fp_per_image": 0.0, "sensitivity": 0.5},
                         {"fp_per_image": 2.0, "sensitivity": 1.0}],
        "band": {"fp_per_image": [0.0, 1.0, 2.0], "low": [0.1, 0.3, 0.5], "high": [0.4, 0.7, 0.9]},
        "cluster_band": None,
        "summary": {"n_images": 8, "n_findings": 4, "n_clusters": 2,
                    "sensitivity_at": {"0.5": 0.25, "1": 0.5, "2": 0.5, "4": 0.75}, "cpm": 0.5,
                    "ci": {}, "cluster_sensitivity_at": {"0.5": 0.5, "1": 0.5, "2": 1.0, "4": 1.0},
                    "cluster_cpm": 0.75, "cluster_ci": {}, "cpm_convention": "mean at 0.5-4"},
        "settings": {"tolerance_mm": 1.0},
    }  # fmt: skip
    groups = ["normal", "benign", "suspicious"] * 4
    feats = [
        CaseFeatures(
            f"c{i}",
            f"p{i}",
            g,
            "DCIS" if g == "suspicious" else None,
            (0.2 + 0.3 * (g == "suspicious") + 0.05 * i, 0.1),
            class_scores=((0.6, 0.3, 0.1),) if g == "normal" else ((0.2, 0.5, 0.3),),
        )
        for i, g in enumerate(groups)
    ]
    birads = evaluate_birads(feats, rule="max", threshold=0.5, n_boot=50)
    return ReportInput(result, card, detection=detection, birads=birads,
                       settings={"threshold": 0.5}, n_boot=50, synthetic_data=True)  # fmt: skip


def test_pdf_report_holds_every_section_and_figure(report, tmp_path) -> None:
    pdf = evaluation_report_pdf(report)
    assert pdf[:5] == b"%PDF-"
    text = _text(pdf, tmp_path)
    assert "Evaluation of demo-custom" in text and "research use only" in text
    assert "Trained on SYNTHETIC demo data" in text
    for title in ("ROC - patch level", "Precision-recall - case", "FROC - individual",
                  "FROC - clusters", "Case-level BI-RADS", "Biopsy-confirmed cases",
                  "Benign vs suspicious, normal cases left out",
                  "one-vs-rest AUC", "Published results beside ours", "Model card"):  # fmt: skip
        assert title in text, title
    assert "Loizidou 2021, temporal subtraction" in text and "demo-custom - AUC" in text
    assert "Loizidou 2020" in text and "80 patients" in text
    # How many cases ours are, on every row of ours (the cell wraps in the PDF).
    published = next(b.rows for b in report_blocks(report) if b.rows and "our cases" in b.rows[0])
    # Benign vs suspicious, the papers' task: the 12 cases but the 4 normal ones.
    assert {r["our cases"] for r in published} == {"8 cases (8 patients)"}
    assert "8 cases" in text  # its "(8 patients)" wraps as the columns fall
    assert "SYNTHETIC demo" in text and "not comparable" in text
    assert "mean false positives per image" in text  # the FROC's axis


def test_table_cells_break_between_words_never_inside_one(report, tmp_path) -> None:
    """Every column had an equal share of the page: the published table's protocol column
    broke "leave-one-patient-o / ut" and its differences column was a narrow tower. Columns
    are now at least as wide as their longest word; the wrapping column gets the rest."""
    blocks = report_blocks(report)  # one set (a report's blocks carry the time they were made)
    path = tmp_path / "r.pdf"
    path.write_bytes(render_pdf(blocks, "report"))
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    words = set(done.stdout.split())
    tables = [b.rows for b in blocks if b.kind == "table" and b.rows]
    published = next(t for t in tables if "differences" in t[0])
    assert "leave-one-patient-out," in words
    for rows in tables:
        cells = [str(c) for c in rows[0]] + [fmt_cell(r.get(c)) for r in rows for c in rows[0]]
        broken = {w for c in cells for w in latin1(c).split() if w not in words}
        assert not broken, (list(rows[0]), sorted(broken))
    # The differences column is the widest of its table, its lines the fewest it can be.
    pdf_ = FPDF(format="A4")
    pdf_.add_page()
    head = [latin1(c) for c in published[0]]
    cells = [head] + [[latin1(fmt_cell(r.get(c))) for c in published[0]] for r in published]
    widths = column_widths(pdf_, cells, size=8)
    assert abs(sum(widths) - pdf_.epw) < 1e-6
    assert widths[head.index("differences")] == max(widths)


def test_column_widths_fit_one_line_texts_and_keep_words_whole() -> None:
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", "", 8)
    short = [["a", "b"], ["x", "y"]]
    assert column_widths(pdf, short, size=8) == pytest.approx([pdf.epw / 2] * 2, abs=0.5)
    long_word = "leave-one-patient-out,"
    cells = [["protocol", "differences"], [f"{long_word} 80 patients", "word " * 80]]
    widths = column_widths(pdf, cells, size=8)
    assert widths[0] >= pdf.get_string_width(long_word) + 2 * pdf.c_margin
    assert widths[1] > widths[0] and sum(widths) == pytest.approx(pdf.epw)


def test_html_and_pdf_are_drawn_from_the_same_blocks(report) -> None:
    blocks = report_blocks(report)
    figures = [b for b in blocks if b.kind == "figure"]
    assert len(figures) == 8  # ROC + PR per level, FROC and cluster FROC
    html = evaluation_report(report)
    assert html.count("Plotly.newPlot") == len(figures)
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            assert html_escape(b.text) in html


def test_pdf_helpers() -> None:
    assert _ticks(-0.02, 1.02) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert _ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert _ticks(0.0, 8.16) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert latin1("ROC · case – 1 cm²") == "ROC - case - 1 cm²"
    # Typed quotes and letters of other Latin alphabets were "?" (mcalc.pdftext).
    assert latin1("“left” ‘a’ Łódź… Nguyễn 王") == "\"left\" 'a' Lódz... Nguyen ?"


def test_the_published_table_is_followed_by_a_note_about_that_table(report) -> None:
    """The ROC's note (patch-level numbers, "each point is placed where ...") also followed
    the "Published results beside ours" table, whose numbers are per case and which draws
    no point; so did the Evaluate page's BI-RADS tab."""
    blocks = report_blocks(report)
    at = next(i for i, b in enumerate(blocks) if b.text == "Published results beside ours")
    assert blocks[at + 1].kind == "table"
    note = blocks[at + 2]
    assert note.kind == "note" and note.text == REPRODUCTION_NOTE
    for wrong in ("patch-level", "each point"):
        assert wrong not in note.text
    assert "Loizidou" in note.text and "each row says what differs" in note.text


def test_the_roc_note_does_not_call_every_level_patch_level(report) -> None:
    """The ROC's note follows the patch, image and case levels (and Evaluate's level
    choice): it said "patch-level numbers of mcalc models" under the case-level curves too."""
    blocks = report_blocks(report)
    levels = [b.text for b in blocks if b.kind == "h3" and b.text.endswith(("level", ")"))]
    assert any(t.startswith("Case level") for t in levels), levels
    assert COMPARABILITY_NOTE in [b.text for b in blocks if b.kind == "note"]
    assert "patch-level" not in COMPARABILITY_NOTE
    assert "patch, image or case level" in COMPARABILITY_NOTE


def test_the_published_rows_say_how_a_temporal_model_used_the_prior(report) -> None:
    """A temporal model (recent image and the subtraction of its registered prior) was
    written as not using the prior: "they used the prior" beside Loizidou's subtraction,
    nothing beside their recent image alone."""
    patch = dataclasses.replace(report.card.patch, input_mode="temporal")
    temporal = dataclasses.replace(report, card=dataclasses.replace(report.card, patch=patch))
    for r, expected in (
        (report, {"temporal subtraction": None, "recent image alone": None}),
        (temporal, {"temporal subtraction": None,
                    "recent image alone": "ours subtracted the registered prior"}),
    ):  # fmt: skip
        blocks = report_blocks(r)
        rows = next(b.rows for b in blocks if b.rows and "differences" in b.rows[0])
        said = {str(row["published"]).split(", ")[-1]: str(row["differences"]) for row in rows}
        for name, words in expected.items():
            if words is None and r is temporal:
                assert "prior" not in said[name], said[name]
            elif words is not None:
                assert words in said[name], said[name]
    # The fixture's images are all recent ones: its rows keep saying theirs used the prior.
    rows = next(b.rows for b in report_blocks(report) if b.rows and "differences" in b.rows[0])
    assert "they used the prior, ours did not" in str(rows[0]["differences"])


def test_each_line_dash_is_drawn_as_its_own_pattern_and_solid_as_solid() -> None:
    """A model's curve keeps its dash in the PDF (:mod:`mcalc.present.palette`): the first
    model's solid line is not dashed (every named dash, "solid" too, was drawn 1 mm on,
    1 mm off), and the others' dashes differ."""
    import re

    import plotly.graph_objects as go

    from mcalc.present.palette import MODEL_DASHES
    from mcalc.present.report_pdf import draw_figure

    drawn = {}
    for dash in MODEL_DASHES:
        pdf = FPDF()
        pdf.set_compression(False)
        pdf.add_page()
        line = {"color": "#4172a4", "dash": dash}
        draw_figure(pdf, go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=line)))
        patterns = re.findall(rb"\[([0-9. ]+)\] [0-9.]+ d", bytes(pdf.output()))
        drawn[dash] = set(patterns)
    assert drawn["solid"] == set(), drawn
    # plotly's dash-dot is a dash and a dot (fpdf2's own pattern holds one dash length: it
    # was drawn as a dash 2.2 mm long, like "dash" and "longdash" but for its length)
    assert [len(p.split()) for p in drawn["dashdot"]] == [4], drawn
    others = [drawn[d] for d in MODEL_DASHES if d != "solid"]
    assert all(len(p) == 1 for p in others) and len(set.union(*others)) == len(others), drawn


class _Spy(FPDF):
    """An FPDF that records the markers (polygons, circles), the dash of every line drawn
    as a path (curves, legend samples) and the texts it draws, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str, list[tuple[float, float]]]] = []
        self.dashes: list[tuple[float, ...]] = []
        self.texts: list[str] = []

    def polygon(self, point_list, fill=False, style=None) -> None:  # type: ignore[no-untyped-def]
        self.marks.append(("polygon", [(float(x), float(y)) for x, y in point_list]))
        super().polygon(point_list, fill=fill, style=style)

    def circle(self, x, y, radius, style=None) -> None:  # type: ignore[no-untyped-def]
        self.marks.append(("circle", [(float(x), float(y))]))
        super().circle(x, y, radius, style=style)

    def text(self, x, y, text="") -> None:  # type: ignore[no-untyped-def]
        self.texts.append(text)
        super().text(x, y, text)

    @contextlib.contextmanager
    def new_path(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with super().new_path(*args, **kwargs) as path:
            yield path
            pattern = path.style.stroke_dash_pattern
            self.dashes.append(tuple(pattern) if isinstance(pattern, (tuple, list)) else ())


def _shape(kind: str, pts: list[tuple[float, float]]) -> str:
    """The plotly symbol a drawn marker is, told from its outline alone (plotly.js's
    symbol_defs: a square's corners lie on the diagonals, a diamond's on the axes, a
    triangle-up's apex above its flat base, a cross has 12 corners and a star 10)."""
    if kind == "circle":
        return "circle"
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    d = [(x - cx, y - cy) for x, y in pts]
    if len(pts) == 4 and all(abs(abs(dx) - abs(dy)) < 1e-6 for dx, dy in d):
        return "square"
    if len(pts) == 4 and all(min(abs(dx), abs(dy)) < 1e-6 for dx, dy in d):
        return "diamond"
    if len(pts) == 3 and sorted(ys)[0] < sorted(ys)[1] - 1e-6 and abs(ys[0] - ys[1]) < 1e-6:
        return "triangle-up"
    return {12: "cross", 10: "star"}.get(len(pts), f"{len(pts)} corners")


def _three_models() -> list:
    from mcalc.models.analysis import analyse
    from mcalc.models.curves import OperatingPoint
    from mcalc.present.eval_figures import CurveEntry

    y = np.array([0, 1, 0, 1, 0, 1, 0, 0])
    entries = []
    for k in range(3):
        p = np.clip(0.3 + 0.4 * y + 0.1 * np.sin(np.arange(8) * (k + 1)), 0, 1)
        ids = [f"c{i}" for i in range(8)]
        s = EvalScores(("no", "yes"), ("yes",), y, np.stack([1 - p, p], 1), ids, ids, ids)
        point = OperatingPoint(0.5, 0.5 + 0.1 * k, 0.9 - 0.2 * k, 0.0)
        entries.append(CurveEntry(f"m{k}", analyse(s, "patch", n_boot=0), 0.5, point))
    return entries


def test_each_model_keeps_its_marker_and_dash_in_the_chart_and_the_legend() -> None:
    """Every operating point was drawn as a circle and the legend showed a colour swatch
    only, so in a grey-scale print models told apart on screen by dash and marker
    (mcalc.present.palette) were told apart by nothing. Now the PDF draws each model's
    marker as plotly does, and its legend shows each model's dash with its marker."""
    from mcalc.present.eval_figures import roc_figure
    from mcalc.present.palette import MODEL_DASHES, MODEL_SYMBOLS
    from mcalc.present.report_pdf import draw_figure

    pdf = _Spy()
    pdf.add_page()
    draw_figure(pdf, roc_figure(_three_models(), anchors=()))
    shapes = [_shape(kind, pts) for kind, pts in pdf.marks]
    assert shapes == [*MODEL_SYMBOLS[:3], *MODEL_SYMBOLS[:3]]  # the chart's, the legend's
    # chance (dashed), then the three models' curves; the legend's samples the same again
    assert len(pdf.dashes) == 8 and pdf.dashes[:4] == pdf.dashes[4:], pdf.dashes
    chance, *models = pdf.dashes[:4]
    assert chance and models[0] == () and MODEL_DASHES[0] == "solid"
    assert len({*models}) == 3 and all(models[1:]), models  # each its own pattern


def test_the_published_points_are_stars_with_their_labels() -> None:
    """The published points (grey stars labelled with their AUC on screen) were grey
    circles without their labels, alike and like the first model's (circle) operating
    point in grey scale."""
    from mcalc.present.eval_figures import roc_figure
    from mcalc.present.report_pdf import draw_figure

    pdf = _Spy()
    pdf.add_page()
    draw_figure(pdf, roc_figure(_three_models()[:1]))
    shapes = [_shape(kind, pts) for kind, pts in pdf.marks]
    assert shapes == ["circle", "star", "star", "circle", "star", "star"], shapes
    assert {"AUC 0.87", "AUC 0.81"} <= set(pdf.texts), pdf.texts


def test_froc_bands_print_translucent_each_edged_in_its_models_dash() -> None:
    """With several models on a FROC chart each band was filled opaque (its colour blended
    onto white): the last model's band covered the curves drawn before it (of three models
    only the third's curve showed) and every band printed as one pale grey. Now each band
    is filled at its own opacity (a PDF ``/ca``) and edged in its model's dash."""
    from mcalc.present.froc_figures import froc_figure
    from mcalc.present.palette import MODEL_DASHES
    from mcalc.present.report_pdf import _pattern, draw_figure

    xs = [0.0, 1.0, 2.0]
    evs = {
        f"m{k}": {
            "froc": [{"fp_per_image": x, "sensitivity": 0.4 + 0.05 * k} for x in xs],
            "band": {"fp_per_image": xs, "low": [0.3] * 3, "high": [0.7] * 3},
        }
        for k in range(3)
    }
    pdf = _Spy()
    pdf.set_compression(False)
    pdf.add_page()
    draw_figure(pdf, froc_figure(evs, rates=(1.0,)))
    pattern = [_pattern(d, 2) for d in MODEL_DASHES[:3]]
    # the rate's dotted guide; each model's band edge then its curve; the legend's samples
    assert pdf.dashes == [_pattern("dot", 1), *[p for p in pattern for _ in "ab"], *pattern]
    assert len(set(pattern)) == 3
    assert b"/ca 0.15" in bytes(pdf.output())


def test_the_three_group_confusion_matrix_prints_as_a_table(report, tmp_path) -> None:
    """The report printed it as a Python list in a sentence ("... suspicious): [[4, 0, 0],
    [0, 4, 0], [0, 4, 0]]"): now a table, a row per true group, a column per predicted one."""
    from mcalc.present.report import confusion_rows

    matrix = report.birads["all"]["confusion_matrix_3class"]
    tables = [b.rows for b in report_blocks(report) if b.kind == "table" and b.rows]
    shown = [t for t in tables if "predicted benign" in t[0]]
    assert shown and shown[0] == confusion_rows(matrix, ("normal", "benign", "suspicious"))
    assert [r["truth"] for r in shown[0]] == ["normal", "benign", "suspicious"]
    assert [r["predicted benign"] for r in shown[0]] == [row[1] for row in matrix]
    assert [r["cases"] for r in shown[0]] == [sum(row) for row in matrix] == [4, 4, 4]
    text = _text(evaluation_report_pdf(report), tmp_path)
    assert "predicted suspicious" in text and "[[" not in text
    with pytest.raises(ValueError, match=r"expected a 3x3 matrix .* got rows of lengths \[2, 2\]"):
        confusion_rows([[1, 0], [0, 1]], ("normal", "benign", "suspicious"))


def test_a_calcification_models_report_without_birads_results_says_why_no_published_row(
    report,
) -> None:
    """Without BI-RADS results (`evaluate --no-detection`) a calcification model's case AUC
    (any calcification vs none) sat beside the papers' benign vs suspicious, a caveat in a
    row; the Cross-validation tab no longer sets such a run beside them, nor does this."""
    assert report.card.task_name == "calcification"
    blocks = report_blocks(dataclasses.replace(report, birads=None))
    at = next(i for i, b in enumerate(blocks) if b.text == "Published results beside ours")
    note = blocks[at + 1]
    assert note.kind == "note" and note.text.startswith(
        "Not set beside the published results: this model classifies calcification vs not"
    )
    assert "Its BI-RADS results (evaluate without --no-detection" in note.text
    assert not any(b.rows and "our AUC" in b.rows[0] for b in blocks)
    assert [b.text for b in blocks if b.kind == "h2"][-2:] == ["Settings", "Model card"]
    # With them, the BI-RADS set of benign vs suspicious is the papers' task: the rows stay.
    assert any(b.rows and "our AUC" in b.rows[0] for b in report_blocks(report))


def test_a_legend_entry_of_two_lines_prints_as_one_text(tmp_path) -> None:
    """The screen breaks a published point's long legend entry (plotly's ``<br>``); the PDF
    wraps text itself, so it prints the entry as one text, never the tag."""
    from mcalc.present.eval_figures import roc_figure
    from mcalc.present.report_pdf import draw_figure

    pdf = _Spy()
    pdf.add_page()
    draw_figure(pdf, roc_figure(_three_models()[:1]))
    text = _text(bytes(pdf.output()), tmp_path)
    assert "<br>" not in text
    assert "Loizidou 2021, temporal subtraction: AUC 0.87 (published; other task and data)" in text
