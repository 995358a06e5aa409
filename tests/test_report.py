"""The case report: ``python -m mcalc report`` writes a PDF whose text (``pdftotext``) names
the case, the model and the reader, says "research use only", and holds no identifier."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcalc.cli import main
from mcalc.dataset import open_dataset
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.report.case import annotation_line, image_title, other_models_note, verdict_line
from mcalc.store import ImageMarks, MarkStore
from mcalc.store.audit import AuditVerdict, VerdictContext, record_verdict
from mcalc.store.region_calls import RegionCall
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def _text(pdf) -> str:
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is missing: apt-get install poppler-utils (scripts/test.sh does)")
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_report_names_case_model_reader_and_verdicts(
    tiny_demo, spot_registry, tmp_path, monkeypatch, capsys
):
    store = tmp_path / "store"
    monkeypatch.setenv("MCALC_STORE", str(store))
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    key = "suspicious-1/CC_recent"
    marks = ImageMarks(key, "rita", image_shape=(256, 208)).add_point(100, 80, "suspicious")
    MarkStore(store).save(marks, base_version=0)
    record_verdict(
        store, model_id="spot", image_key=key, reader="rita", agree=False, plausible=True,
        comment="map on the cluster “left” of the nipple – Łódź’s protocol…", score=0.97,
        context=VerdictContext(method="gradcam", layer="conv2", target="calcification",
                               threshold=0.5),
        regions=[RegionCall(1, (120.0, 80.4), 0.97, "not calcification")],
    )  # fmt: skip
    out = tmp_path / "report.pdf"
    code = main(
        ["report", "--data", str(tiny_demo), "--case", "suspicious-1", "--model", "spot",
         "--models", str(spot_registry), "--user", "ana", "--cmap", "viridis", "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes()[:5] == b"%PDF-"
    text = " ".join(_text(out).split())
    assert "mcalc case report: suspicious-1" in text
    assert "RESEARCH USE ONLY" in text and "SYNTHETIC DEMO DATA" in text
    assert "Model spot" in text and "map score" in text
    # Each image by side, view, round and exam year: prior and recent cannot be mixed up
    # (titles read "suspicious-1/CC_prior").
    case = open_dataset(tiny_demo).case("suspicious-1")
    side = {"L": "Left", "R": "Right"}[case.laterality]
    prior, recent = case.exam_year("prior"), case.exam_year("recent")
    assert prior and recent and prior != recent
    for view in ("CC", "MLO"):
        assert f"{side} {view}, prior exam ({prior})" in text
        assert f"{side} {view}, recent exam ({recent})" in text
    assert "image suspicious-1/CC_prior; window centre" in text  # the key still there
    # The decision in a reader's words, with its threshold: no bare "decision negative".
    assert re.search(
        r"map score \d\.\d{3}, (at or above|below) the model's operating threshold "
        r"\(0\.50\): (not )?read as calcification",
        text,
    ), text
    assert "decision" not in text.lower() and "negative" not in text
    # What the pictures' colours, rings and outlines are (a key under each picture, in the
    # colour map asked for), and the abbreviations.
    assert "in the viridis colour map, opaque where it is high, with its key under it" in text
    keyed = _pictures_with_a_colour_bar(out, tmp_path / "images")
    # One key per map picture (4 images), none in jet or inferno ("hot", black to white,
    # can match a grey image's row).
    assert keyed.get("viridis") == 4 and not {"jet", "inferno"} & set(keyed), keyed
    assert re.search(r"Grad-CAM here reaches \d+% of its largest value", text)
    assert "CC: craniocaudal view; MLO: mediolateral oblique view" in text
    assert "Density: ACR breast density category" in text
    assert "window centre" in text and "(pixel values)" in text
    # The method by its published name, as the pages say it, not its CLI id.
    assert "Grad-CAM" in text and "gradcam" not in text
    # The model card in words, not its stored key=value line.
    assert "architecture=" not in text and "task=" not in text
    assert "Architecture custom" in text and "Freeze strategy full" in text
    assert "Starting weights handmade (not pre-trained): set by hand for tests" in text
    assert "Test metrics AUC 0.900 - accuracy 0.800 (10 patches)" in text
    assert "by ana" in text  # who made it
    # The case as Browse describes it (the header said only its group and image count).
    assert case.birads and case.laterality and case.age is not None
    assert f"Side {side}; Age {case.age:.0f}; " in text
    assert f"; BI-RADS {case.birads}; " in text
    assert "reader rita: 1 mark, green squares outlined black" in text  # colour and shape
    assert (
        f"rita on {side} CC, recent exam ({recent}) (suspicious-1/CC_recent) with model spot: "
        "disagreed with the model's score (0.970), explanation judged plausible"
    ) in text
    # The reader's call on the region (Predict's verdict form), named as on screen.
    assert "region 1 (score 0.970, at row 120, col 80): not calcification; comment:" in text
    # Typed text the core fonts cannot draw: curly quotes and dashes (as a Mac or Word
    # types them) were "?" on the report, letters outside Latin-1 too.
    assert 'comment: map on the cluster "left" of the nipple - Lódz\'s protocol...' in text
    # The change since the prior round, from the registered pairs (both views).
    # Per view, calcifications and clusters told apart: a view's "8 new" was 7
    # calcifications and a cluster, under "(annotated calcifications...)", and a summary
    # added CC and MLO (two projections of the same calcifications) up.
    assert "Change since the prior exam" in text and "Summary: " not in text
    assert "annotated calcifications and clusters, per view" in text
    assert re.search(r"CC: \d+ new calcifications?,", text), text
    assert re.search(r"MLO: \d+ new calcifications?,", text), text
    assert "annotated calcifications, prior registered" not in text


def _pictures_with_a_colour_bar(pdf: Path, folder: Path) -> dict[str, int]:
    """How many of the PDF's pictures have a colour bar (a key) of each colour map: the
    pictures as stored (``pdfimages -png``: fpdf2 keeps a PNG's pixels)."""
    from PIL import Image

    from mcalc.explain.overlay import COLORMAPS
    from tests.test_explain_display import bar_rows

    folder.mkdir()
    done = subprocess.run(["pdfimages", "-png", str(pdf), str(folder / "p")], capture_output=True)
    assert done.returncode == 0, done.stderr
    found: dict[str, int] = {}
    for path in sorted(folder.glob("*.png")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for cmap in COLORMAPS:
            if len(bar_rows(rgb, cmap)) >= 4:
                found[cmap] = found.get(cmap, 0) + 1
    return found


@pytest.mark.parametrize(
    ("plausible", "said"),
    [
        (True, "explanation judged plausible"),
        (False, "explanation judged implausible"),
        (None, "explanation not judged"),
    ],
)
def test_a_verdicts_line_says_the_explanation_answer_in_words(plausible, said):
    """A verdict whose explanation was not judged read "explanation judged not judged"."""
    v = AuditVerdict("m", "c/CC_recent", "ana", "disagree", plausible, score=0.5, recorded_at="t")
    assert verdict_line(v, "Right CC").endswith(
        f"with model m: disagreed with the model's score (0.500), {said}"
    )


def test_unknown_case_is_a_clear_error(tiny_demo, tmp_path, capsys):
    code = main(["report", "--data", str(tiny_demo), "--case", "nope-9", "--out",
                 str(tmp_path / "r.pdf")])  # fmt: skip
    assert code == 2 and "no case 'nope-9'" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize(
    "calcs, clusters, words",
    [
        (0, 0, "radiologists' annotation: no calcification marked"),
        (1, 1, "radiologists' annotation (red): 1 calcification, 1 cluster"),
        (9, 2, "radiologists' annotation (red): 9 calcifications, 2 clusters"),
        (None, 0, "no radiologists' annotation file for this image"),
    ],
)
def test_an_images_annotation_in_words(calcs, clusters, words):
    """An annotated prior with nothing on it said so (it read "0 calcification(s), 0
    cluster(s)"), told apart from an image without an annotation file."""
    assert annotation_line(calcs, clusters) == words


def test_a_region_annotation_is_said_as_its_regions_on_the_report(tmp_path, monkeypatch, capsys):
    """An image annotated with a region (a CBIS-DDSM ROI, a VinDr box, a MIAS circle: an
    area holding calcifications) read "radiologists' annotation: no calcification marked"
    under a picture with the region's red outline (a user check, 6 December)."""
    from tests.convert_fixtures import make_region_manifest

    assert annotation_line(0, 0, 1) == (
        "radiologists' annotation (red outline): 1 region holding calcifications"
    )
    assert annotation_line(0, 0, 2).endswith(": 2 regions holding calcifications")
    data = make_region_manifest(tmp_path / "regions")
    monkeypatch.setenv("MCALC_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report.pdf"
    code = main(["report", "--data", str(data), "--case", "c1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    text = " ".join(_text(out).split())
    assert "1 region holding calcifications" in text, text
    assert "no calcification marked" not in text


@pytest.mark.parametrize(
    "laterality, available, years, tp, title",
    [
        ("L", "2013-2015", 2.0, "prior", "Left MLO, prior exam (2013)"),
        ("L", "2013-2015", 2.0, "recent", "Left MLO, recent exam (2015)"),
        (None, None, 3.0, "prior", "MLO, prior exam (3 years before the recent)"),
        (None, None, 1.0, "prior", "MLO, prior exam (1 year before the recent)"),
        ("R", None, None, "recent", "Right MLO, recent exam"),
    ],
)
def test_image_titles_say_side_view_round_and_year(laterality, available, years, tp, title):
    case = CaseRecord("c-7", "p-7", (), laterality=laterality, available=available,
                      years_between=years)  # fmt: skip
    assert image_title(case, ImageRecord("c-7", "MLO", tp, Path("x.png"))) == title


def test_an_unreadable_image_is_left_out_of_the_report_not_the_report(tiny_demo, tmp_path, capsys):
    """One truncated DICOM of the case: the report is made, says which image is left out
    and why (the whole report failed: a user check)."""
    data = tmp_path / "data"
    shutil.copytree(tiny_demo, data)
    rec = open_dataset(data).case("suspicious-1").image("MLO", "prior")
    rec.image_path.write_bytes(rec.image_path.read_bytes()[:4000])
    out = tmp_path / "r.pdf"
    code = main(["report", "--data", str(data), "--case", "suspicious-1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    text = " ".join(_text(out).split())
    assert "images: 4, 1 of them unreadable (below)." in text, text
    assert "(suspicious-1/MLO_prior) is left out:" in text
    assert "image suspicious-1/MLO_recent; window centre" in text  # the others are there


def test_a_report_made_for_a_blinded_reader_leaves_out_what_they_may_not_see(tiny_demo, tmp_path):
    """Independent reads on: made for rita, the report held bob's marks and verdicts on
    images she had not read yet (a user check as two readers, 6 December 2026)."""
    from mcalc.access.reads import ReadPolicy
    from mcalc.config import Settings
    from mcalc.report import case_report

    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache")
    store = MarkStore(settings.store_dir)
    cc, mlo = "suspicious-1/CC_recent", "suspicious-1/MLO_recent"
    for reader, key in (("bob", cc), ("bob", mlo), ("rita", mlo)):
        marks = ImageMarks(key, reader, image_shape=(256, 208)).add_point(100, 80, "benign")
        store.save(marks, base_version=0)
        record_verdict(settings.store_dir, model_id="spot", image_key=key, reader=reader,
                       agree=True, comment=f"{reader} on {key}")  # fmt: skip
    out = tmp_path / "r.pdf"
    rita = ReadPolicy("on", "rita", "reader")
    out.write_bytes(case_report(tiny_demo, "suspicious-1", settings=settings, temporal=False,
                                reads=rita))  # fmt: skip
    text = " ".join(_text(out).split())
    assert "comment: bob on suspicious-1/MLO_recent" in text  # rita read MLO: shown after
    assert "comment: rita on suspicious-1/MLO_recent" in text
    assert "bob on suspicious-1/CC_recent" not in text  # she has not read CC
    assert text.count("reader bob: 1 mark,") == 1  # on MLO only
    assert "Made for rita. Independent reads: other readers' verdicts on an image" in text


def test_readers_marks_differ_by_shape_and_outline_on_the_red_annotation():
    """Readers' thin crosses, told apart by colour alone, were lost on the red annotation
    dots they sat on (an orange or magenta cross on red): each reader has a shape of their
    own, drawn open over a black outline."""
    import numpy as np

    from mcalc.report.case import READER_SHAPES, draw_reader_marks

    red = np.zeros((40, 40, 3), np.uint8)
    red[:] = (255, 48, 48)  # the annotation's red, as blended under a mark
    drawn = []
    for i in range(len(READER_SHAPES)):
        rgb = red.copy()
        _, shape = draw_reader_marks(rgb, np.array([[20.0, 20.0]]), i)
        assert shape == READER_SHAPES[i][0]
        assert (rgb.max(axis=2) < 60).sum() >= 20  # a black outline around it
        dot = rgb[19:22, 19:22] == red[19:22, 19:22]  # the red dot under it still shows
        assert dot.all() or shape == "crosses"
        drawn.append((rgb != red).any(axis=2))
    # no two readers' marks cover the same pixels, whatever their colours
    assert len({m.tobytes() for m in drawn}) == len(drawn)


def test_the_reports_ring_count_is_the_rings_its_pictures_drew(
    tiny_demo, spot_registry, tmp_path, monkeypatch
):
    """The report found each picture's hot spots twice, once to ring them and once for its
    line "N area(s) ringed": one computation now, whose spots are the rings drawn."""
    import mcalc.explain.overlay as overlay
    import mcalc.present.result_picture as result_picture
    from mcalc.cache import ImageCache
    from mcalc.report.case import _model_section

    found, drawn = [], []
    real_spots, real_draw = overlay.hot_spots, overlay.draw_hot_spots

    def counted(heat, *args, **kwargs):
        found.append(heat.shape)
        return real_spots(heat, *args, **kwargs)

    def ringed(rgb, spots, *args, **kwargs):
        drawn.append(len(spots))
        return real_draw(rgb, spots, *args, **kwargs)

    for module in (overlay, result_picture):  # where the report and its pictures look
        monkeypatch.setattr(module, "hot_spots", counted)
    monkeypatch.setattr(result_picture, "draw_hot_spots", ringed)
    case = open_dataset(tiny_demo).case("suspicious-1")
    cache = ImageCache(tmp_path / "cache")
    pictures, _, _ = _model_section("spot", spot_registry, case, cache, "inferno")
    assert len(pictures) == len(drawn) == len(case.images)
    assert len(found) == len(pictures)  # once a picture (twice before)
    counts = []
    for picture in pictures:
        said = re.search(r"; (\d+) areas? ringed", picture.lines[-1])
        assert said or "reaches 0% of its largest" in picture.lines[-1], picture.lines
        counts.append(int(said.group(1)) if said else 0)
    assert counts == drawn and any(drawn), (counts, drawn)


def test_a_model_that_scores_every_patch_the_same_is_said_so_under_each_picture(
    tiny_demo, tmp_path
):
    """The walk of 7 December 2026: an EfficientNet-B0 two steps into training scored every
    patch 0.500; Predict said so, the report read "map score 0.500, ... read as
    calcification; Grad-CAM ... 5 area(s) ringed" without a word."""
    from mcalc.cache import ImageCache
    from mcalc.report.case import _model_section
    from tests.explain_fixtures import register, spot_model

    flat = spot_model()
    dense = flat.get_layer("head_output")
    dense.set_weights([np.zeros((4, 2), np.float32), np.zeros(2, np.float32)])  # 0.5 anywhere
    register(tmp_path / "models", "flat", flat)
    case = open_dataset(tiny_demo).case("suspicious-1")
    pictures, _, _ = _model_section(
        "flat", tmp_path / "models", case, ImageCache(tmp_path / "cache"), "inferno"
    )
    assert pictures
    for picture in pictures:
        assert any("same probability of calcification (0.500)" in line for line in picture.lines), (
            picture.lines
        )


def test_region_calls_of_another_model_are_said_not_to_be_the_boxes_above():
    """The walk of 7 December 2026: a report with flat-effb0's pictures (white boxes 1-5,
    "numbered as in the readers' verdicts below") listed rita's calls on demo-custom's
    regions 1-4 below, with nothing to say that those are another model's regions."""
    call = RegionCall(1, (528.0, 550.0), 0.99, "calcification")
    mine = AuditVerdict("flat-effb0", "c/CC_recent", "rita", "agree", regions=(call,))
    other = AuditVerdict("demo-custom", "c/CC_recent", "rita", "agree", regions=(call,))
    bare = AuditVerdict("other", "c/CC_recent", "bob", "agree")  # no region called
    note = other_models_note([mine, other, bare], "flat-effb0")
    assert note is not None and "demo-custom" in note and "flat-effb0" in note
    assert "other" not in note.replace("other than", "")
    assert other_models_note([mine, bare], "flat-effb0") is None
    assert other_models_note([other], None) is None  # no model's pictures: no boxes above
