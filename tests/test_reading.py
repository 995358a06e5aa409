"""mcalc.present.reading: the reading viewer's payloads (pixels, labels, marks back)."""

from __future__ import annotations

import base64
import gc
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.present.reading import (
    encode_pixels,
    hanging_note,
    image_names,
    marks_from_panel,
    missing_image,
    panel_label,
    row_names,
    shown_note,
    unreadable_image,
)
from tests.viewer_fixtures import tiny_view


def test_encode_pixels_keeps_16_bit_values_and_clips():
    values = np.array([[0, 4095], [65535, 1234]], dtype=np.uint16)
    back = np.frombuffer(base64.b64decode(encode_pixels(values)), dtype="<u2").reshape(2, 2)
    assert (back == values).all()
    floats = np.array([[-5.0, 70000.0], [1.4, 1.6]], dtype=np.float32)
    back = np.frombuffer(base64.b64decode(encode_pixels(floats)), dtype="<u2")
    assert back.tolist() == [0, 65535, 1, 2]
    with pytest.raises(ValueError, match="2-D"):
        encode_pixels(np.zeros((2, 2, 3)))


@pytest.mark.parametrize(
    "laterality, available, years, tp, expected",
    [
        ("R", "2015-2018", 3.0, "prior", "R CC prior 2015"),
        ("R", "2015-2018", 3.0, "recent", "R CC recent 2018"),
        ("L", None, 2.0, "prior", "L CC prior (−2 y)"),
        ("L", None, 2.0, "recent", "L CC recent"),
        (None, None, None, "prior", "? CC prior"),
    ],
)
def test_panel_label_has_side_view_round_year_and_no_identifier(
    laterality, available, years, tp, expected
):
    case = CaseRecord(
        case_id="patient-0042",
        patient_id="0042",
        images=(),
        laterality=laterality,
        available=available,
        years_between=years,
    )
    label = panel_label(case, "CC", tp)
    assert label == expected
    assert "0042" not in label


@pytest.mark.parametrize(
    ("laterality", "available", "expected"),
    [
        ("R", None, "R CC prior: this case has no such image."),
        ("L", "2015-2018", "L CC prior 2015: this case has no such image."),
        (None, None, "CC prior: this case has no such image."),  # no "?" in a sentence
    ],
)
def test_a_missing_image_is_named_with_the_side_like_its_panel(laterality, available, expected):
    """Browse, Predict and the viewer warned "CC prior: this case has no such image": no
    breast side, though the case gives it and every panel label shows it."""
    case = CaseRecord("c", "p", (), laterality=laterality, available=available)
    assert missing_image(case, "CC", "prior") == expected


def _case(*slots: str) -> CaseRecord:
    """A case with an image at each ``"VIEW round"`` slot."""
    images = tuple(
        ImageRecord("c", v, t, Path(f"{v}_{t}.png")) for v, t in (x.split() for x in slots)
    )
    return CaseRecord("c", "p", images, laterality="L")


BOTH_VIEWS, BOTH_ROUNDS = ("CC", "MLO"), ("prior", "recent")


@pytest.mark.parametrize(
    ("slots", "views", "rounds", "expected"),
    [
        # mini-MIAS: every case one MLO film
        (
            ["MLO recent"],
            ("MLO",),
            ("recent",),
            "This collection has MLO images only, of one exam.",
        ),
        # CBIS-DDSM: the collection has both views, this case its CC alone
        (
            ["CC recent"],
            BOTH_VIEWS,
            ("recent",),
            "This collection has one exam per case; this case has no MLO image.",
        ),
        (
            ["CC recent", "MLO recent"],
            BOTH_VIEWS,
            ("recent",),
            "This collection has one exam per case.",
        ),
        # two rounds: a case without one image, without a round
        (
            ["CC prior", "CC recent", "MLO prior"],
            BOTH_VIEWS,
            BOTH_ROUNDS,
            "This case has no MLO recent image.",
        ),
        (["CC recent", "MLO recent"], BOTH_VIEWS, BOTH_ROUNDS, "This case has no prior image."),
        (["CC prior", "CC recent", "MLO prior", "MLO recent"], BOTH_VIEWS, BOTH_ROUNDS, None),
    ],
)
def test_what_a_case_lacks_is_said_once(slots, views, rounds, expected):
    """Browse warned once per empty panel ("L CC recent: this case has no such image." on
    every mini-MIAS case): one sentence says what the collection never has, then what the
    case lacks of the rest."""
    assert hanging_note(_case(*slots), views, rounds) == expected


@pytest.mark.parametrize(
    ("slots", "asked", "shown", "times", "expected"),
    [
        (
            ["MLO recent"],
            "CC",
            "MLO",
            BOTH_ROUNDS,
            "c has no CC image: its MLO is shown (one exam).",
        ),
        (
            ["MLO recent"],
            "MLO",
            "MLO",
            BOTH_ROUNDS,
            "c has one exam: its MLO recent image is shown.",
        ),
        (["CC recent"], "MLO", "CC", ["recent"], "c has no MLO image: its CC is shown."),
        (["CC prior", "CC recent"], "CC", "CC", BOTH_ROUNDS, None),
    ],
)
def test_predict_says_once_what_it_shows_in_place_of_what_was_asked(
    slots, asked, shown, times, expected
):
    """Predict said "has one screening round: the CC prior exam does not exist" and the
    same of the recent exam on mini-MIAS (a view missing, not a round)."""
    assert shown_note(_case(*slots), asked, shown, times) == expected


@pytest.mark.parametrize(
    ("laterality", "expected"),
    [("L", "L CC prior 2015: a.dcm: not a DICOM"), (None, "CC prior 2015: a.dcm: not a DICOM")],
)
def test_an_unreadable_image_is_named_with_the_side_like_its_panel(laterality, expected):
    """The viewer's problems said "CC prior: <file>: <reason>" for an image it could not
    read: no breast side, unlike a missing image's and every panel's label."""
    case = CaseRecord("c", "p", (), laterality=laterality, available="2015-2018")
    assert unreadable_image(case, "CC", "prior", "a.dcm: not a DICOM") == expected


def test_images_across_cases_are_named_by_case_and_panel_label(tmp_path):
    """Audit and Batch named an image by its key (``suspicious-1/CC_prior``): no side, no
    exam year. Now by its case and :func:`panel_label`; a batch row of another dataset by
    its own side, view and round (no year: the run's rows hold none)."""
    recs = tuple(ImageRecord("s-1", "CC", tp, tmp_path / f"{tp}.png") for tp in ("prior", "recent"))
    case = CaseRecord("s-1", "p", recs, laterality="L", available="2016-2018")
    index = DatasetIndex(tmp_path, "manifest", False, (case,))
    names = image_names(index)
    assert names == {
        "s-1/CC_prior": "s-1 · L CC prior 2016",
        "s-1/CC_recent": "s-1 · L CC recent 2018",
    }
    rows = pd.DataFrame(
        {
            "image_key": ["s-1/CC_recent", "other/MLO_prior", "bad/CC_recent"],
            "case_id": ["s-1", "other", "bad"],
            "laterality": ["L", "R", ""],
            "view": ["CC", "MLO", "CC"],
            "timepoint": ["recent", "prior", "recent"],
        }
    )
    assert row_names(rows, names) == [
        "s-1 · L CC recent 2018",
        "other · R MLO prior",
        "bad · ? CC recent",
    ]
    assert row_names(rows, {})[0] == "s-1 · L CC recent"  # another dataset's run: no year
    with pytest.raises(KeyError, match="laterality"):
        row_names(rows.drop(columns=["laterality"]), names)


def test_image_names_are_built_once_per_index_and_read_only(tmp_path):
    """Audit (every rerun) and Batch built the names of the whole index again each time
    (~37 ms for 20,000 images): now once per index object (the pages' cached index), read
    only since every caller shares them; another index, even an equal one, its own."""
    recs = (ImageRecord("s-1", "CC", "recent", tmp_path / "r.png"),)
    index = DatasetIndex(tmp_path, "manifest", False, (CaseRecord("s-1", "p", recs),))
    names = image_names(index)
    assert image_names(index) is names
    with pytest.raises(TypeError):
        names["s-1/CC_recent"] = "changed"  # type: ignore[index]
    relabelled = CaseRecord("s-1", "p", recs, laterality="R")
    other = DatasetIndex(tmp_path, "manifest", False, (relabelled,))
    assert image_names(other) == {"s-1/CC_recent": "s-1 · R CC recent"}
    assert image_names(DatasetIndex(tmp_path, "manifest", False, index.cases)) is not names
    gone = weakref.ref(index)
    del index
    gc.collect()
    assert gone() is None  # the names do not keep an index alive


@pytest.mark.parametrize("flipped", [False, True])
def test_marks_from_panel_map_back_to_file_coordinates(flipped):
    view = tiny_view(flipped)  # scale 0.5, 100x80 file
    # A mark at file (20, 10) is drawn at display (20, 10 or 69) * 0.5 in the panel's grid.
    dr, dc = view.to_display(20, 10)
    raw = [
        {"id": "abc", "row": dr * 0.5, "col": dc * 0.5, "label": "benign"},
        {"id": "new-1-1", "row": 5, "col": 5, "label": "suspicious"},
    ]
    (mid, r, c, label), (new_id, *_rest) = marks_from_panel(view, raw)
    assert (mid, label) == ("abc", "benign")
    assert (r, c) == pytest.approx((20, 10))
    assert new_id is None
    with pytest.raises(ValueError, match="row"):
        marks_from_panel(view, [{"id": "x", "label": "benign"}])


@pytest.mark.parametrize("laterality", ["L", "R"])
def test_a_region_annotation_goes_to_the_viewer_as_its_outline_in_the_panel_grid(
    tmp_path, laterality
):
    """A region annotation (a CBIS-DDSM ROI, a VinDr box, a MIAS circle) reached the reading
    viewer as nothing: its panel carried ``points`` and ``outlines`` (none for a region) and
    the viewer drew no region, while the simple viewer outlined it (a user check, 6
    December). The panel now carries each region's outline in its own pixel grid, mirrored
    as the image hangs, and the dataset-marks toggle hides it with the markers."""
    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.present.reading import reading_panel, without_dataset_marks
    from mcalc.viewer import DisplayOptions, prepare_view
    from tests.convert_fixtures import make_region_manifest

    index = open_dataset(make_region_manifest(tmp_path / "regions"))
    rec = index.cases[0].images[0]
    cache = ImageCache(tmp_path / "cache")
    view = prepare_view(cache, rec, DisplayOptions(), max_side=128, laterality=laterality)
    panel = reading_panel(
        cache, rec, view, label="", view_name="CC", time="recent", max_side=128,
        with_pixels=False,
    )  # fmt: skip
    assert panel["points"] == [] and panel["outlines"] == []
    (outline,) = panel["region_outlines"]
    pts = np.asarray(outline)
    assert 8 <= len(pts) <= 64  # a 15-px circle: a few dozen vertices
    # the disk of radius 30 around (120, 90) in the file, at the panel's scale and hanging
    centre = np.asarray(view.to_display(120, 90)) * view.scale
    radii = np.hypot(*(pts - centre).T)
    assert np.all(np.abs(radii - 30 * view.scale) < 1.5), radii
    assert without_dataset_marks([panel])[0]["region_outlines"] == []
    assert panel["region_outlines"] == [outline]  # the cached panel is left as it was


def test_a_large_region_is_sent_as_a_few_dozen_vertices():
    """A region traced at full resolution (a 4000-pixel ROI's border: thousands of border
    pixels) is simplified to at most ``REGION_POINTS`` vertices, within about a panel pixel
    of its border; a box stays its four corners."""
    import cv2

    from mcalc.annotations import find_regions
    from mcalc.present.reading import REGION_POINTS, panel_regions

    mask = np.zeros((4000, 3000), np.uint8)
    cv2.circle(mask, (1500, 2000), 900, 1, -1)
    mask[100:140, 200:260] = 1
    regions = find_regions(mask, (0.07, 0.07))
    assert max(len(r.outline) for r in regions) > 1000
    view = tiny_view(False, full_shape=(4000, 3000), with_calcification=False)
    view = view.__class__(**{**view.__dict__, "region_outlines": tuple(r.outline for r in regions)})
    sent = panel_regions(view)
    assert len(sent) == 2
    circle, box = sorted(sent, key=len, reverse=True)
    assert len(circle) <= REGION_POINTS and len(box) == 4
    assert len(circle) <= 128  # a smooth border: within half a pixel well below the cap
    radii = np.hypot(*(np.asarray(circle) - np.array([2000, 1500]) * view.scale).T)
    assert np.all(np.abs(radii - 900 * view.scale) < 1.5), radii
    # A border too jagged for the cap at half a pixel: the tolerance grows until it fits.
    turn = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    radius = 600 + 12 * (np.arange(4000) % 2)  # a saw-tooth border, 6 panel px deep
    ragged = np.column_stack([2000 + radius * np.sin(turn), 1500 + radius * np.cos(turn)])
    view = view.__class__(**{**view.__dict__, "region_outlines": (ragged,)})
    (few,) = panel_regions(view, most=50)
    assert 8 <= len(few) <= 50
    assert sorted(map(tuple, box)) == [(50.0, 100.0), (50.0, 129.5), (69.5, 100.0), (69.5, 129.5)]
