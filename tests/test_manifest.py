"""Indexing a generic collection from a manifest CSV (mcalc.dataset.manifest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcalc.dataset import DatasetIndex, open_dataset
from mcalc.dataset.manifest import annotation_kind_for, index_manifest
from mcalc.errors import DatasetError, ManifestError

HEADER = "case_id,patient_id,laterality,view,timepoint,image,annotation,birads,density,biopsy,age"


def touch(path: Path, content: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_manifest(folder: Path, lines: list[str], header: str = HEADER) -> Path:
    """manifest.csv in ``folder``, creating every image/annotation path it names."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "manifest.csv"
    csv.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return csv


def messages(index: DatasetIndex, severity: str | None = None) -> str:
    return " | ".join(
        p.message for p in index.problems if severity is None or p.severity == severity
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    base = tmp_path.resolve() / "export"
    for rel in (
        "p2/cc_prior.dcm",
        "p2/cc_recent.dcm",
        "p2/mlo_recent.dcm",
        "p2/cc_recent_mask.png",
        "p2/mlo_recent_GT.png",
        "p10/cc.dcm",
        "p10/cc_marks.jpg",
        "p10/mlo.dcm",
        "p10/mlo_mask.jpg",
    ):
        touch(base / rel, b"\x00not an image\xff")  # indexing never decodes
    return base


GOOD = [
    "p2-L,p2,Left,CC,prior,p2/cc_prior.dcm,,2,B,,54",
    "p2-L,p2,L,cc,Recent,p2/cc_recent.dcm,p2/cc_recent_mask.png,2,b,,56",
    "p2-L,p2,L,MLO,recent,p2/mlo_recent.dcm,p2/mlo_recent_GT.png,2,b,,56",
    "p10-R,,R,CC,recent,p10/cc.dcm,p10/cc_marks.jpg,4A,c,DCIS,61",
    "p10-R,,R,MLO,RECENT,p10/mlo.dcm,,4a,c,DCIS,61",
]


def test_happy_path(folder: Path) -> None:
    write_manifest(folder, GOOD)
    index = open_dataset(folder)
    assert index.source == "manifest" and not index.synthetic
    assert index.root == folder
    assert [c.case_id for c in index.cases] == ["p2-L", "p10-R"]  # numbers sort as numbers
    p2 = index.case("p2-L")
    assert (p2.patient_id, p2.laterality, p2.birads, p2.density, p2.age) == (
        "p2",
        "L",
        "2",
        "b",
        56.0,  # the age at the recent mammogram
    )
    assert p2.group == "normal" and p2.biopsy is None
    assert [(r.view, r.timepoint) for r in p2.images] == [
        ("CC", "prior"),
        ("CC", "recent"),
        ("MLO", "recent"),
    ]
    cc = p2.image("CC", "recent")
    assert cc is not None and cc.image_path == folder / "p2" / "cc_recent.dcm"
    assert cc.annotation_path == folder / "p2" / "cc_recent_mask.png"
    assert cc.annotation_kind == "mask"
    mlo = p2.image("MLO", "recent")
    assert mlo is not None and mlo.annotation_kind == "red"  # _GT in the name
    assert p2.image("CC", "prior").annotation_kind == "none"  # type: ignore[union-attr]
    p10 = index.case("p10-R")
    assert (p10.patient_id, p10.birads, p10.group, p10.biopsy) == (
        "p10-R",
        "4a",
        "suspicious",
        "DCIS",
    )
    assert p10.image("CC", "recent").annotation_kind == "red"  # type: ignore[union-attr]  # JPEG
    assert index.problems == ()


def test_csv_path_and_dispatch(folder: Path) -> None:
    csv = write_manifest(folder, GOOD)
    (folder / "Dataset").mkdir()  # a manifest wins over a layout
    assert open_dataset(csv).root == csv
    assert open_dataset(folder).source == "manifest"
    assert index_manifest(folder).cases == open_dataset(csv).cases


def test_annotation_kind_column_overrides_the_rule(folder: Path) -> None:
    header = HEADER + ",annotation_kind"
    write_manifest(
        folder,
        [
            "p10-R,,R,CC,recent,p10/cc.dcm,p10/cc_marks.jpg,4a,c,,61,MASK",
            "p10-R,,R,MLO,recent,p10/mlo.dcm,p10/mlo_mask.jpg,4a,c,,61,",
            "p2-L,,L,CC,recent,p2/cc_recent.dcm,p2/cc_recent_mask.png,2,b,,56,sparkly",
        ],
        header=header,
    )
    index = index_manifest(folder)
    assert index.case("p10-R").image("CC", "recent").annotation_kind == "mask"  # type: ignore[union-attr]
    assert index.case("p10-R").image("MLO", "recent").annotation_kind == "red"  # type: ignore[union-attr]
    assert index.case("p2-L").image("CC", "recent").annotation_kind == "mask"  # type: ignore[union-attr]
    assert "annotation_kind 'sparkly' is not red/mask/region/none" in messages(index, "warning")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("CC_recent_GT.jpg", "red"),
        ("x_gt.png", "red"),
        ("render.JPEG", "red"),
        ("mask.png", "mask"),
        ("mask.tif", "mask"),
    ],
)
def test_annotation_kind_rule(name: str, kind: str) -> None:
    assert annotation_kind_for(Path(name)) == kind


def test_missing_required_columns(folder: Path) -> None:
    write_manifest(folder, ["p2,p2/cc_prior.dcm"], header="case,image_path")
    with pytest.raises(ManifestError) as err:
        index_manifest(folder)
    text = str(err.value)
    assert "missing 3 columns ['case_id', 'view', 'image']; expected [" in text
    assert "found ['case', 'image_path']" in text


def test_bad_rows_are_skipped_and_reported(folder: Path) -> None:
    write_manifest(
        folder,
        [
            GOOD[0],
            "p2-L,p2,L,CC,prior,p2/cc_recent.dcm,,2,b,,54",  # duplicate case/view/timepoint
            "p2-L,p2,L,ML,recent,p2/cc_recent.dcm,,2,b,,54",  # bad view
            "p2-L,p2,L,CC,later,p2/cc_recent.dcm,,2,b,,54",  # bad timepoint
            "p3,p3,L,CC,recent,p3/missing.dcm,,2,b,,54",  # missing image
            ",p3,L,CC,recent,p2/cc_recent.dcm,,2,b,,54",  # no case id
            "p2-L,p2,L,MLO,recent,p2/mlo_recent.dcm,p2/nope.png,2,b,,54",  # missing annotation
        ],
    )
    index = index_manifest(folder)
    assert [c.case_id for c in index.cases] == ["p2-L"]
    assert [(r.view, r.timepoint) for r in index.case("p2-L").images] == [
        ("CC", "prior"),
        ("MLO", "recent"),
    ]
    errors = [p for p in index.problems if p.severity == "error"]
    assert len(errors) == 5
    text = messages(index, "error")
    assert "row 2 (line 3): second CC prior image for case 'p2-L' (first on row 1)" in text
    assert "row 3 (line 4): view 'ML' is not one of ['CC', 'MLO']" in text
    assert "row 4 (line 5): timepoint 'later' is not one of ['prior', 'recent']" in text
    assert "row 5 (line 6): image file" in text and "missing.dcm not found; row skipped" in text
    assert "row 6 (line 7): empty case_id" in text
    missing = next(p for p in errors if "missing.dcm" in p.message)
    assert missing.path == str(folder / "p3" / "missing.dcm")
    warning = messages(index, "warning")
    assert (
        "row 7 (line 8): annotation file" in warning and "image kept without annotation" in warning
    )
    mlo = index.case("p2-L").image("MLO", "recent")
    assert mlo is not None and mlo.annotation_path is None
    # Named but not found: unknown, not an image without calcifications (6 December 2026).
    assert mlo.annotation_missing == "p2/nope.png" and "its calcifications unknown" in warning


def test_conflicting_case_values_reported(folder: Path) -> None:
    write_manifest(
        folder,
        [
            "p2-L,p2,L,CC,prior,p2/cc_prior.dcm,,2,b,,54",
            "p2-L,p2,R,CC,recent,p2/cc_recent.dcm,,2,b,,abc",
        ],
    )
    index = index_manifest(folder)
    assert index.case("p2-L").laterality == "L"
    text = messages(index, "warning")
    assert "laterality 'R' differs from 'L' on row 1" in text
    assert "age 'abc' is not a number" in text


def test_examination_values_from_the_recent_row(folder: Path) -> None:
    write_manifest(
        folder,
        [
            "p2-L,p2,L,CC,recent,p2/cc_recent.dcm,,,b,,",
            "p2-L,p2,L,CC,prior,p2/cc_prior.dcm,,2,a,,50",
            "p2-L,p2,L,MLO,recent,p2/mlo_recent.dcm,,4b,,Benign,52",
        ],
    )
    case = index_manifest(folder).case("p2-L")
    assert (case.birads, case.density, case.biopsy, case.age) == ("4b", "b", "Benign", 52.0)
    assert case.group == "suspicious"


def test_views_that_disagree_give_the_breast_the_most_severe_and_say_so(folder: Path) -> None:
    # Until 6 December 2026 the first row's value was kept silently: an INbreast breast
    # with CC BI-RADS 2 and MLO 4a read as BI-RADS 2, group normal; density a/b as a.
    write_manifest(
        folder,
        [
            "p2-L,p2,L,CC,recent,p2/cc_recent.dcm,,2,a,,56",
            "p2-L,p2,L,MLO,recent,p2/mlo_recent.dcm,,4a,b,,56",
            "p2-L,p2,L,CC,prior,p2/cc_prior.dcm,,1,a,,54",  # another round: the recent wins
            "p10-R,,R,CC,recent,p10/cc.dcm,,5,c,,61",
            "p10-R,,R,MLO,recent,p10/mlo.dcm,,0,c,,61",  # 0 (incomplete) is below 5
        ],
    )
    index = index_manifest(folder)
    case = index.case("p2-L")
    assert (case.birads, case.density, case.group) == ("4a", "b", "suspicious")
    assert index.case("p10-R").birads == "5"
    text = messages(index, "warning")
    assert (
        "row 2 (line 3): birads '4a' differs from '2' on row 1 (the same recent exam): "
        "the most severe, '4a', is kept for case 'p2-L'" in text
    )
    assert "density 'b' differs from 'a' on row 1" in text and "the denser, 'b', is kept" in text
    assert "the most severe, '5', is kept" in text
    assert "'1' differs" not in text  # the prior round's value is no disagreement


def test_a_birads_that_is_not_a_category_is_reported_and_left_empty(folder: Path) -> None:
    write_manifest(folder, ["p2-L,p2,L,CC,recent,p2/cc_recent.dcm,,7,b,,56"])
    index = index_manifest(folder)
    assert index.case("p2-L").birads is None and index.case("p2-L").group is None
    assert "row 1 (line 2): BI-RADS '7' is not a category (0-6, 4a/4b/4c); left empty" in messages(
        index, "warning"
    )


def test_no_timepoint_column_reads_recent(folder: Path) -> None:
    write_manifest(
        folder, ["p10,CC,p10/cc.dcm", "p10,MLO,p10/mlo.dcm"], header="case_id,view,image"
    )
    index = index_manifest(folder)
    assert [(r.view, r.timepoint) for r in index.case("p10").images] == [
        ("CC", "recent"),
        ("MLO", "recent"),
    ]
    assert "no timepoint column" in messages(index, "info")


def test_a_column_not_read_is_named(folder: Path) -> None:
    """`side` typed for `laterality` (and a scanner column) were ignored without a word: every
    breast's side read as unknown."""
    write_manifest(
        folder,
        ["p10,L,CC,p10/cc.dcm,x", "p10,L,MLO,p10/mlo.dcm,x"],
        header="Case_ID,Side,View,Image,Scanner",
    )
    index = index_manifest(folder)
    assert index.case("p10").laterality is None
    notes = messages(index, "info")
    assert "['side', 'scanner'] not read" in notes and "'laterality'" in notes, notes
    write_manifest(folder, ["p10,L,CC,p10/cc.dcm"], header="case_id,LATERALITY,view,image")
    assert "not read" not in messages(index_manifest(folder))


def test_semicolon_and_absolute_paths(folder: Path) -> None:
    image = folder / "p10" / "cc.dcm"
    write_manifest(folder, [f"p10;CC;recent;{image}"], header="Case_ID ; View ; Timepoint ; Image")
    index = index_manifest(folder)
    assert index.case("p10").images[0].image_path == image


@pytest.mark.parametrize("content", ["", "\n\n", HEADER + "\n"])
def test_empty_manifest(folder: Path, content: str) -> None:
    (folder / "manifest.csv").write_text(content)
    with pytest.raises(ManifestError, match=r"empty|no rows"):
        open_dataset(folder)


def test_all_rows_bad(folder: Path) -> None:
    write_manifest(folder, ["p3,p3,L,CC,recent,p3/missing.dcm,,2,b,,54"])
    with pytest.raises(ManifestError, match="no usable row"):
        index_manifest(folder)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        index_manifest(tmp_path / "absent.csv")
    with pytest.raises(ManifestError, match=r"holds no manifest\.csv"):
        index_manifest(tmp_path)
    with pytest.raises(DatasetError, match="or at a manifest CSV"):
        open_dataset(tmp_path / "absent.csv")


def _png(path: Path) -> Path:
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.arange(48 * 40, dtype=np.uint16).reshape(48, 40))
    return path


def test_spacing_mm_column(tmp_path: Path) -> None:
    """A manifest gives each image its pixel spacing (mini-MIAS: 0.2 mm); a value that is not
    millimetres (200 microns typed as 200) is reported and left empty."""
    from mcalc.cache import ImageCache

    base = tmp_path.resolve()
    for name in ("a", "b", "c", "d"):
        _png(base / f"{name}.png")
    write_manifest(
        base,
        ["a,CC,a.png,0.2", "b,CC,b.png,", "c,CC,c.png,200", "d,CC,d.png,wide"],
        header="case_id,view,image,spacing_mm",
    )
    index = index_manifest(base)
    spacing = {c.case_id: c.images[0].pixel_spacing_mm for c in index.cases}
    assert spacing == {"a": 0.2, "b": None, "c": None, "d": None}
    problems = messages(index, "warning")
    assert "row 3 (line 4): spacing_mm '200' is not a pixel spacing in millimetres" in problems
    assert "row 4 (line 5): spacing_mm 'wide'" in problems
    cache = ImageCache(None)
    a, b = (cache.load_record(index.case(k).images[0]) for k in ("a", "b"))
    assert (a.pixel_spacing_mm, a.spacing_source) == ((0.2, 0.2), "manifest")
    assert (b.pixel_spacing_mm, b.spacing_source) == ((0.07, 0.07), "default")


def test_manifest_without_spacing_column_reads_as_before(tmp_path: Path) -> None:
    """Manifests written before the column: no spacing given, the file's or the default."""
    from mcalc.imageio import read_image

    base = tmp_path.resolve()
    _png(base / "p1" / "cc.png")
    write_manifest(base, ["p1-L,p1,L,CC,recent,p1/cc.png,,2,b,,54"])
    index = index_manifest(base)
    assert index.problems == ()
    (rec,) = index.case("p1-L").images
    assert rec.pixel_spacing_mm is None
    mammo = read_image(rec.image_path, spacing_mm=rec.pixel_spacing_mm)
    assert (mammo.pixel_spacing_mm, mammo.spacing_source) == ((0.07, 0.07), "default")
    assert "raster file: no pixel spacing, assuming 0.07 mm" in mammo.flags


def test_every_reader_of_a_mias_like_collection_measures_at_its_spacing(
    tmp_path: Path, monkeypatch
) -> None:
    """A collection of PGM files (no spacing of their own) whose manifest says 0.2 mm, as
    ``manifest mias`` writes: the viewer's and Predict's cache, training's patches (and
    hard-negative mining, which decodes through the same reader) and ``scan`` read it at
    0.2 mm, so a 0.1 mm model grid is twice the file's size everywhere (at the assumed
    0.07 mm it would be 0.7 times). The reader outside the cache takes the configured
    default for a file nothing gives a spacing for, as the cache does."""
    import cv2
    import numpy as np

    import mcalc.config
    from mcalc.cache import ImageCache
    from mcalc.imageio import read_record
    from mcalc.models.patches import load_training_image
    from mcalc.scan import scan_index

    base = tmp_path.resolve()
    img = np.full((96, 80), 30, np.uint8)
    img[20:80, 10:70] = 180  # a bright breast on a dark background
    for name in ("mdb001", "mdb002"):
        cv2.imwrite(str(base / f"{name}.pgm"), img)
    write_manifest(
        base, ["m1,CC,mdb001.pgm,0.2", "m2,CC,mdb002.pgm,"], header="case_id,view,image,spacing_mm"
    )
    index = index_manifest(base)
    mias, plain = (index.case(k).images[0] for k in ("m1", "m2"))

    assert ImageCache(None).load_record(mias).pixel_spacing_mm == (0.2, 0.2)
    assert read_record(mias).pixel_spacing_mm == (0.2, 0.2)
    unit, _calc, _breast = load_training_image(mias, 0.1)
    assert unit.shape == (192, 160)
    per_image = {s.key: s.spacing_mm for s in scan_index(index).per_image}
    assert per_image[mias.key] == (0.2, 0.2)

    settings = mcalc.config.Settings(default_pixel_spacing_mm=0.05)
    monkeypatch.setattr(mcalc.config, "get_settings", lambda: settings)
    assert read_record(plain).pixel_spacing_mm == (0.05, 0.05)
    cache = ImageCache(None, default_spacing_mm=settings.default_pixel_spacing_mm)
    assert cache.load_record(plain).pixel_spacing_mm == (0.05, 0.05)
    assert load_training_image(plain, 0.1)[0].shape == (48, 40)


def test_a_column_not_read_is_counted_in_words(folder: Path) -> None:
    write_manifest(folder, [g + ",x" for g in GOOD], header=HEADER + ",side")
    said = messages(index_manifest(folder), "info")
    assert "manifest.csv: 1 column ['side'] not read (mcalc reads [" in said, said
