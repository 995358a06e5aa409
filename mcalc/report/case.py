"""The case report: a PDF (fpdf2) of one case for the audit trail.

It holds the prior and recent images windowed as the viewer shows them, with the
radiologists' annotation (red) and every reader's own marks (one colour and shape per reader), the
model's maps and scores with its card summary and warnings when a model is given, the
change since the prior round (registered, :mod:`mcalc.temporal`) where there is one, every
reader's verdict on the case's images with who and when (those the reader it is made for may
see, under independent reads: :mod:`mcalc.access.reads`), and "research use only". No
patient identifier is read or written: images are named by their dataset key.

Example:
    >>> pdf = case_report("data/demo", "suspicious-1", user="ana")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mcalc.access.reads import ReadPolicy, read_note, visible_readers, visible_verdicts
from mcalc.cache import ImageCache
from mcalc.config import Settings, get_settings
from mcalc.dataset import open_dataset
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.errors import DatasetError, McalcError
from mcalc.explain.methods import method_name
from mcalc.models.card_text import card_facts
from mcalc.pdftext import latin1
from mcalc.plural import counted
from mcalc.store.audit import AuditStore, AuditVerdict
from mcalc.store.mark_store import MarkStore
from mcalc.store.region_calls import call_words
from mcalc.viewer import DisplayOptions, prepare_view

__all__ = [
    "REPORT_CMAP",
    "REPORT_CMAP_WHY",
    "ReportImage",
    "image_title",
    "annotation_line",
    "draw_reader_marks",
    "case_report",
    "write_case_report",
    "other_models_note",
]

log = logging.getLogger(__name__)

RESEARCH_ONLY = "RESEARCH USE ONLY - not for clinical use or diagnosis."
#: The colour map of the report's pictures, unless asked for another: a report is printed,
#: often in grey, and inferno's grey level rises with the value (jet's rises and falls:
#: 11% and 100% print alike) and it never comes near the annotations' cyan (jet is that
#: cyan at 35%). docs/measurements.md has the numbers; tests/test_report.py re-measures.
REPORT_CMAP = "inferno"
#: Why :data:`REPORT_CMAP` is the report's default, in a reader's words (the app's choice).
REPORT_CMAP_WHY = (
    f"The map of the report's model pictures. {REPORT_CMAP} (the default) suits a printed "
    "report: its grey level rises with the value, so a grey-scale print keeps its order "
    "(jet's rises and falls: its 11% and its 100% print alike), and none of its colours is "
    "the annotation outlines' cyan (jet's 35% is that cyan)."
)
#: Where the report's numbered regions appear again (a reader's calls on them).
REPORT_NUMBERING = "the readers' verdicts below"
#: Each reader's marks: a colour by name (said in the text) and its RGB.
_READER_COLOURS: list[tuple[str, tuple[int, int, int]]] = [
    ("green", (0, 200, 0)),
    ("magenta", (255, 0, 255)),
    ("orange", (255, 170, 0)),
    ("blue", (0, 160, 255)),
    ("yellow", (255, 255, 0)),
]
#: Each reader's marks also by shape (named in the text), open so that the radiologists'
#: red dot under a mark stays visible: colour alone did not tell a reader's orange or
#: magenta crosses from the red dots they sat on (nor, for some, from each other).
#: Name, outline (corners on a unit circle around the point, or ``None``: a circle) and
#: size across in preview pixels (a 700 px preview: about 2% of its side).
_S = 0.7071  # a square's corners on the unit circle
READER_SHAPES: tuple[tuple[str, tuple[tuple[float, float], ...] | None, int], ...] = (
    ("squares", ((-_S, -_S), (_S, -_S), (_S, _S), (-_S, _S)), 15),
    ("diamonds", ((0, -1), (1, 0), (0, 1), (-1, 0)), 15),
    ("triangles", ((0, -1), (0.866, 0.5), (-0.866, 0.5)), 19),  # its sides nearer the point
    ("circles", None, 13),
    ("crosses", ((-_S, -_S), (_S, _S), (0, 0), (_S, -_S), (-_S, _S)), 13),
)


def draw_reader_marks(rgb: np.ndarray, points: np.ndarray, index: int) -> tuple[str, str]:
    """Draw the marks of the ``index``-th reader on ``rgb`` (in place) at ``points``
    ((N, 2) row, col in its pixels): that reader's shape in that reader's colour over a
    black outline, so they stand out on the red annotation and on bright tissue alike.

    Returns:
        The colour's and the shape's names, for the text under the picture.
    """
    colour_name, colour = _READER_COLOURS[index % len(_READER_COLOURS)]
    shape_name, corners, size = READER_SHAPES[index % len(READER_SHAPES)]
    for r, c in np.asarray(points, float).reshape(-1, 2):
        centre = np.array([float(c), float(r)])
        for col, thick in (((0, 0, 0), 3), (colour, 1)):  # the outline, then the colour
            if corners is None:
                at = (round(centre[0]), round(centre[1]))
                cv2.circle(rgb, at, size // 2, col, thick, cv2.LINE_AA)
            else:
                pts = np.round(np.array(corners) * size / 2 + centre).astype(np.int32)
                closed = shape_name != "crosses"
                cv2.polylines(rgb, [pts], closed, col, thick, cv2.LINE_AA)
    return colour_name, shape_name


#: What the report's abbreviations and scales mean, for a reader who has not used mcalc.
GLOSSARY = (
    "CC: craniocaudal view; MLO: mediolateral oblique view. Prior and recent: the earlier "
    "and the later screening exam of the same breast. Density: ACR breast density category "
    "(a: almost entirely fatty to d: extremely dense). BI-RADS: the radiologists' assessment "
    "category. Window centre and width: the display's grey-level window, in the image's "
    "stored pixel values. Map score: the model's probability (0 to 1) of its positive class "
    "(e.g. calcification), its highest value over the breast. AUC: area under the ROC "
    "curve; the card's metrics are per image patch, at the threshold they name. Grad-CAM: "
    "gradient-weighted class activation map, where the model's evidence lies; its values "
    "are relative (in its own units), only their proportions mean something."
)


@dataclass
class ReportImage:
    """One image of the report: a picture (RGB uint8) and lines of text under it."""

    title: str
    rgb: np.ndarray
    lines: list[str] = field(default_factory=list)


def _png(rgb: np.ndarray) -> io.BytesIO:
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise McalcError("a report picture could not be encoded")
    return io.BytesIO(data.tobytes())


def image_title(case: CaseRecord, rec: ImageRecord) -> str:
    """An image's title in the report: side, view, round and the exam's year where the data
    gives it, so that prior and recent cannot be mixed up (``Right CC, prior exam (2009)``).

    >>> c = CaseRecord("c", "p", (), laterality="R", available="2009-2012")
    >>> image_title(c, ImageRecord("c", "CC", "prior", Path("x.png")))
    'Right CC, prior exam (2009)'
    >>> image_title(CaseRecord("c", "p", (), years_between=3), ImageRecord("c", "MLO", "prior", Path("x")))
    'MLO, prior exam (3 years before the recent)'
    """
    side = {"L": "Left ", "R": "Right "}.get(case.laterality or "", "")
    year = case.exam_year(rec.timepoint)
    when = f" ({year})" if year else ""
    if not year and rec.timepoint == "prior" and case.years_between is not None:
        y = case.years_between
        when = f" ({y:g} year{'' if y == 1 else 's'} before the recent)"
    return f"{side}{rec.view}, {rec.timepoint} exam{when}"


def annotation_line(calcifications: int | None, clusters: int, regions: int = 0) -> str:
    """What the radiologists annotated on an image, in words (``None``: no annotation file:
    the image was not annotated, which is not the same as nothing found). ``regions``: the
    areas of a ``region`` annotation (a CBIS-DDSM ROI, a VinDr box, a MIAS circle), which
    hold calcifications without marking each one (drawn as a red outline).

    >>> annotation_line(0, 0)
    "radiologists' annotation: no calcification marked"
    >>> annotation_line(4, 1)
    "radiologists' annotation (red): 4 calcifications, 1 cluster"
    >>> annotation_line(0, 0, regions=1)
    "radiologists' annotation (red outline): 1 region holding calcifications"
    """
    if calcifications is None:
        return "no radiologists' annotation file for this image"
    if regions:
        return (
            f"radiologists' annotation (red outline): {regions} "
            f"region{'' if regions == 1 else 's'} holding calcifications"
        )
    if calcifications == 0:
        return "radiologists' annotation: no calcification marked"
    calcs = f"{calcifications} calcification{'' if calcifications == 1 else 's'}"
    return (
        f"radiologists' annotation (red): {calcs}, {clusters} cluster{'' if clusters == 1 else 's'}"
    )


def _reader_marks(
    view: Any, rgb: np.ndarray, marks: MarkStore, key: str, reads: ReadPolicy
) -> list[str]:
    lines = []
    for i, reader in enumerate(visible_readers(marks.readers(key), reads)):
        points = marks.load(key, reader).marks.points
        pts = view.points_to_display(np.array([[p.row, p.col] for p in points], float))
        colour, shape = draw_reader_marks(rgb, pts * view.scale, i)
        lines.append(
            f"reader {reader}: {counted(len(points), 'mark')}, {colour} {shape} outlined black"
        )
    return lines


def _model_section(
    model: str, models_dir: Path, case_rec: CaseRecord, cache: ImageCache, cmap: str
) -> tuple[list[ReportImage], list[str], Any]:
    """The model's pictures (map over each image in ``cmap``, its hot spots ringed, a key
    under each), the lines that say what they show, and the card."""
    from mcalc.explain.cams import CamSettings
    from mcalc.explain.scoring import decision_threshold
    from mcalc.explain.service import AnalysisSettings, ImageInput, SlidingSettings, analyse_case
    from mcalc.models.inference import load_model
    from mcalc.present.result_picture import ringed_shown_picture

    loaded = load_model(model, models_dir)
    records = {r.key: r for r in case_rec.images}
    # Regions boxed at the model's operating threshold, as Predict lists them by default:
    # an image read as not the positive class has none, one read as it region 1 at least.
    sliding = SlidingSettings(min_region_score=decision_threshold(loaded.card).value)
    case = analyse_case(
        loaded,
        [ImageInput.from_record(r) for r in case_rec.images],
        AnalysisSettings(sliding, CamSettings()),
        image_cache=cache,
    )
    pictures = []
    t = case.threshold
    # The explanations' one colour scale, taken once for the case.
    vmax = case.cam_scale() if any(r.cam is not None for r in case.images) else 1.0
    for r in case.images:
        # The CLI's and a verdict's picture (map, labelled rings, cyan outlines, numbered
        # regions) with its colour bar and key under it: a printed report is read without
        # the app, and its reader must be able to read the colours from the page.
        # Its rings are the spots counted below: found once, for the picture.
        shown = ringed_shown_picture(case, r, cmap=cmap, numbered_as=REPORT_NUMBERING, vmax=vmax)
        lines = [f"map score {r.score:.3f}, {t.reading(r.score, r.scores.positive_class)}"]
        if (flat := r.flat_note) is not None:  # the score, regions, map: noise
            lines.append(flat)
        if r.cam is not None:
            spots = shown.spots  # an explanation's: every spot over half its peak
            peak = spots[0].peak if spots else 0.0
            lines.append(
                f"{method_name(r.cam.settings.method)} here reaches {peak:.0%} of its largest "
                f"value over this case's images"
                + (f"; {counted(len(spots), 'area')} ringed" if spots else "")
            )
        pictures.append(ReportImage(image_title(case_rec, records[r.key]), shown.rgb, lines))
    notes = [f"{s.key}: not analysed ({s.message})" for s in case.skipped]
    rule = case.images[0].scores.rule if case.images else ""
    notes.append(
        f"Each picture: the model's map over the image in the {cmap} colour map, opaque where "
        "it is high, with its key under it (the colour bar, what 0 and its top mean, what "
        "the rings, boxes and cyan outlines are). Map score: "
        + (f"{rule}; " if rule else "")
        + f"the model's operating threshold is {t.text} ({t.source})."
    )
    return pictures, notes, loaded.card


def _temporal_lines(cache: ImageCache, case: Any) -> list[str]:
    """The prior-to-recent change of each view (:mod:`mcalc.temporal`), where a case has both
    rounds; what was compared first, then one line per view (never summed over views: CC
    and MLO show the same calcifications)."""
    from mcalc.dataset.zenodo import VIEWS
    from mcalc.temporal import pair_tracked, register_pair, summary_line

    lines, compared = [], False
    for view in VIEWS:
        try:
            pair = register_pair(cache, case, view)
        except McalcError as exc:  # no prior, no breast, an unreadable file
            lines.append(f"{view}: not compared ({exc})")
            continue
        items = pair_tracked(pair)
        compared = True
        lines.append(f"{view}: {summary_line(items, uncounted=pair.uncounted)}")
    if compared:
        years = case.years_between
        lines.insert(
            0,
            "The radiologists' annotated calcifications and clusters, per view, the prior "
            "registered to the recent image"
            + (
                f" ({years:g} year{'' if years == 1 else 's'} between exams):"
                if years is not None
                else ":"
            ),
        )
    return lines


def case_report(
    data: str | Path,
    case_id: str,
    *,
    model: str | None = None,
    user: str = "",
    settings: Settings | None = None,
    temporal: bool = True,
    reads: ReadPolicy | None = None,
    cmap: str = REPORT_CMAP,
) -> bytes:
    """The PDF of one case, as bytes.

    Args:
        data: dataset folder or manifest.
        case_id: the case (e.g. ``suspicious-1``).
        model: registry id or folder; its maps, scores and card are added.
        user: who made the report (printed on it).
        settings: store, registry and cache folders (default: the environment's).
        temporal: add the change between the prior and the recent round of each view
            (registers each pair: a few seconds; cached).
        reads: who the report is for, under the independent-reads setting
            (:mod:`mcalc.access.reads`): other readers' marks and verdicts it may not see
            are left out, and the report says so. ``None``: everything (the command line,
            whose user reads the store's files anyway).
        cmap: the colour map of the model's pictures (a key of
            :data:`mcalc.explain.overlay.COLORMAPS`).

    Raises:
        ValueError: an unknown colour map.
        DatasetError: no such case.
        McalcError: an image or the model cannot be read.
    """
    from fpdf import FPDF

    from mcalc.explain.overlay import COLORMAPS

    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; expected one of {', '.join(COLORMAPS)}")
    s = settings or get_settings()
    index = open_dataset(data)
    case = next((c for c in index.cases if c.case_id == case_id), None)
    if case is None:
        known = ", ".join(c.case_id for c in index.cases[:8])
        raise DatasetError(f"no case {case_id!r} in {data} (cases: {known}, ...)")
    cache = ImageCache(s.cache_dir, default_spacing_mm=s.default_pixel_spacing_mm)
    marks = MarkStore(s.store_dir)
    policy = reads or ReadPolicy()
    records = list(case.images)
    shown: list[ReportImage] = []
    # One unreadable file leaves its image out, said on the report, as Predict and the
    # batch run do (it stopped the whole report: a user check, 6 December).
    left_out: list[str] = []
    for rec in records:
        try:
            view = prepare_view(cache, rec, DisplayOptions(), max_side=700)
        except McalcError as exc:
            left_out.append(f"{image_title(case, rec)} ({rec.key}) is left out: {exc}")
            log.warning("report of %s: %s left out: %s", case_id, rec.key, exc)
            continue
        rgb = view.preview.copy()
        lines = [
            f"image {rec.key}; window centre {view.window[0]:g}, width {view.window[1]:g} "
            "(pixel values)" + (" (file's VOI LUT)" if view.use_lut else ""),
            annotation_line(
                view.n_calcifications if view.has_annotation else None,
                len(view.cluster_sizes),
                view.n_regions,
            ),
        ]
        lines += _reader_marks(view, rgb, marks, rec.key, policy) or ["no reader's marks"]
        shown.append(ReportImage(image_title(case, rec), rgb, lines))
    model_pictures: list[ReportImage] = []
    model_notes: list[str] = []
    card = None
    if model:
        model_pictures, model_notes, card = _model_section(
            model, Path(s.models_dir), case, cache, cmap
        )
    changes = _temporal_lines(cache, case) if temporal else []
    keys = {r.key for r in records}
    verdicts: list[AuditVerdict] = visible_verdicts(
        (v for v in AuditStore(s.store_dir).verdicts() if v.image_key in keys), policy
    )

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(f"mcalc case report {case_id}")
    pdf.add_page()

    def text(line: str, size: int = 10, style: str = "") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(0, size * 0.5, latin1(line), new_x="LMARGIN", new_y="NEXT")

    text(f"mcalc case report: {case_id}", 16, "B")
    text(RESEARCH_ONLY, 11, "B")
    if index.synthetic:
        text("SYNTHETIC DEMO DATA generated by mcalc: not patient images.", 10, "B")
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text(f"Made {now}" + (f" by {user}" if user else "") + f"; dataset {index.source}.")
    text(
        f"Dataset group: {case.group or 'n/a'} (the dataset's own grouping, not a reading); "
        f"images: {len(records)}"
        + (f", {len(left_out)} of them unreadable (below)." if left_out else ".")
    )
    for line in left_out:
        text(line, 10, "B")
    hidden = read_note(policy, "verdicts")
    if hidden is not None:  # made for a blinded reader: say what it leaves out
        text(f"Made for {policy.viewer}. {hidden} {read_note(policy, 'marks')}", 9, "B")
    # What Browse shows under the case: the reader of the report sees the same case.
    text("; ".join(f"{label} {value}" for label, value in case.facts()) + ".")

    def pictures(items: list[ReportImage], heading: str, intro: list[str] | None = None) -> None:
        pdf.ln(3)
        text(heading, 13, "B")
        for line in intro or []:
            text(line, 9)
        width = (pdf.w - pdf.l_margin - pdf.r_margin - 6) / 2
        for i in range(0, len(items), 2):
            pair = items[i : i + 2]
            height = max(width * p.rgb.shape[0] / p.rgb.shape[1] for p in pair)
            if pdf.get_y() + height + 25 > pdf.h - pdf.b_margin:
                pdf.add_page()
            top = pdf.get_y()
            for j, item in enumerate(pair):
                x = pdf.l_margin + j * (width + 6)
                pdf.set_xy(x, top)
                pdf.set_font("Helvetica", "B", 9)
                pdf.cell(width, 5, latin1(item.title))
                pdf.image(_png(item.rgb), x=x, y=top + 5, w=width)
            pdf.set_y(top + 6 + height)
            for item in pair:
                for line in item.lines:
                    text(f"{item.title}: {line}", 8)
            pdf.ln(2)

    def card_table(rows: list[tuple[str, str]]) -> None:
        """The model card as label/value rows (a warning in bold)."""
        label_w = 34
        for label, value in rows:
            style = "B" if label == "Warning" else ""
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(label_w, 4.5, latin1(label))
            pdf.set_font("Helvetica", style, 9)
            pdf.multi_cell(0, 4.5, latin1(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    pictures(shown, "Images as shown (windowed), with the marks")
    if model:
        pdf.add_page()
        text(f"Model {card.id if card else model}", 13, "B")
        if card is not None:
            card_table(card_facts(card))
        pictures(model_pictures, "The model's maps and scores", model_notes)
    if changes:
        pdf.ln(3)
        text("Change since the prior exam", 13, "B")
        for line in changes:
            text(line, 9)
    pdf.ln(3)
    text("Readers' verdicts", 13, "B")
    if not verdicts:
        text("No verdict recorded on this case.", 9)
    if (other := other_models_note(verdicts, None if card is None else card.id)) is not None:
        text(other, 8)
    titles = {r.key: image_title(case, r) for r in records}
    for v in sorted(verdicts, key=lambda v: (v.image_key, v.recorded_at)):
        text(verdict_line(v, titles.get(v.image_key, v.image_key)), 8)
    pdf.ln(3)
    text("Abbreviations and scales", 11, "B")
    text(GLOSSARY, 8)
    pdf.ln(2)
    text(RESEARCH_ONLY, 9, "B")
    return bytes(pdf.output())


def write_case_report(out: str | Path, data: str | Path, case_id: str, **kwargs: Any) -> Path:
    """Write :func:`case_report` to ``out`` atomically; returns the path."""
    from mcalc.fileio import atomic_write_bytes

    path = Path(out)
    atomic_write_bytes(path, case_report(data, case_id, **kwargs))
    return path


#: A verdict's answers in the report's words.
_AGREED = {"agree": "agreed with", "disagree": "disagreed with"}
_PLAUSIBLE = {
    True: "explanation judged plausible",
    False: "explanation judged implausible",
    None: "explanation not judged",
}


def verdict_line(v: AuditVerdict, title: str) -> str:
    """One reader's verdict as the case report lists it (``title``: the image in words).

    Example:
        >>> from mcalc.store.audit import AuditVerdict
        >>> v = AuditVerdict("m", "c/CC_recent", "ana", "agree", score=0.9, recorded_at="t0")
        >>> verdict_line(v, "Right CC")
        "t0 - ana on Right CC (c/CC_recent) with model m: agreed with the model's score (0.900), explanation not judged"
    """
    ctx = f"; map {v.context.text()}" if v.context else ""
    score = f" ({v.score:.3f})" if v.score is not None else ""
    return (
        f"{v.recorded_at} - {v.reader} on {title} ({v.image_key}) with model {v.model_id}: "
        f"{_AGREED.get(v.score_verdict, v.score_verdict)} the model's score{score}, "
        f"{_PLAUSIBLE[v.explanation_plausible]}{ctx}"
        + "".join(f"; {call_words(c)}" for c in v.regions)
        + (f"; comment: {v.comment}" if v.comment else "")
    )


def other_models_note(verdicts: Sequence[AuditVerdict], model_id: str | None) -> str | None:
    """A line for the readers' verdicts when some called the regions of a model other than
    the report's (``model_id``; ``None``: no model's pictures, no numbered boxes): their
    region numbers are that model's, not the boxes of the pictures above.

    Example:
        >>> from mcalc.store.region_calls import RegionCall
        >>> call = RegionCall(1, (5.0, 5.0), 0.9, "calcification")
        >>> other_models_note([AuditVerdict("a", "c/CC_recent", "r", "agree", regions=(call,))], "b")
        "Region calls with a model other than b (a) number that model's regions, not the boxes of b's pictures above."
    """
    if model_id is None:
        return None
    others = sorted({v.model_id for v in verdicts if v.regions and v.model_id != model_id})
    if not others:
        return None
    return (
        f"Region calls with a model other than {model_id} ({', '.join(others)}) number that "
        f"model's regions, not the boxes of {model_id}'s pictures above."
    )
