"""``python -m mcalc temporal``: JSON keys, points, files, and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mcalc.cli import main
from mcalc.cli.temporal import read_points
from mcalc.dataset import open_dataset
from mcalc.errors import DatasetError


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _suspicious(root) -> str:
    return next(c.case_id for c in open_dataset(root).cases if c.group == "suspicious")


def test_json_has_the_issue_keys_and_maps_points_in_order(tiny_demo, env, capsys):
    case = _suspicious(tiny_demo)
    pts = env / "points.csv"
    pts.write_text("row,col\n120,60\n30.5,20\n")
    out = env / "out"
    code = main(
        [
            "temporal",
            str(tiny_demo),
            "--case",
            case,
            "--view",
            "CC",
            "--points",
            str(pts),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["case_id"] == case and "stable" in doc["summary"]
    view = doc["views"]["CC"]
    assert set(view) >= {"registration", "points", "calcifications", "counts"}
    assert {"method", "ncc_before", "ncc_after", "seconds", "folding"} <= set(view["registration"])
    assert [p["recent_px"] for p in view["points"]] == [[120.0, 60.0], [30.5, 20.0]]
    assert all(len(p["prior_px"]) == 2 for p in view["points"])
    statuses = {c["status"] for c in view["calcifications"]}
    assert statuses <= {"new", "stable", "grown", "resolved"} and statuses
    assert set(view["counts"]) == {"new", "stable", "grown", "resolved"}
    assert sum(view["counts"].values()) == len(view["calcifications"])
    assert list(doc["views"]) == ["CC"]
    for name in ("subtraction", "registered_prior", "change"):
        assert (out / f"{case}_CC_{name}.png").is_file()
        arr = np.load(out / f"{case}_CC_{name}.npy")
        assert arr.shape == (256, 208)


def test_the_case_summary_counts_each_view_not_their_sum(tiny_demo, env, capsys):
    """CC and MLO are two projections of one breast: a cluster of 7 seen in both read "14
    new calcifications" when the summary added the views up."""
    case = _suspicious(tiny_demo)
    assert main(["temporal", str(tiny_demo), "--case", case, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    parts = doc["summary"].split("; ")
    assert [p.split(": ")[0] for p in parts] == ["CC", "MLO"], doc["summary"]
    for view, part in zip(("CC", "MLO"), parts, strict=True):
        new = doc["views"][view]["counts_by_kind"]["calcification"]["new"]
        assert part.startswith(f"{view}: {new} new calcification"), (part, new)


def test_the_text_counts_calcifications_and_clusters_apart(tiny_demo, env, capsys):
    """A view's line read "new 8" under "7 new calcifications, 1 new cluster": both kinds
    counted together, with no word saying so."""
    case = _suspicious(tiny_demo)
    assert main(["temporal", str(tiny_demo), "--case", case, "--view", "CC", "--json"]) == 0
    by_kind = json.loads(capsys.readouterr().out)["views"]["CC"]["counts_by_kind"]
    assert main(["temporal", str(tiny_demo), "--case", case, "--view", "CC"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  CC: "))
    calc, clus = by_kind["calcification"], by_kind["cluster"]
    assert f"; calcifications new {calc['new']}, stable {calc['stable']}, " in line, line
    assert f"; clusters new {clus['new']}, stable {clus['stable']}, " in line, line
    # A single calcification can grow too (beyond the measurement's noise, README): its
    # count is printed as a cluster's, where it was left out ("never grown").
    assert (
        f"stable {calc['stable']}, grown {calc['grown']}, resolved {calc['resolved']}; clusters"
    ) in line, line


def test_a_pair_compared_as_filed_is_printed_not_registered(tiny_demo, env, monkeypatch, capsys):
    """It printed "FALLBACK: ..." beside method none, as if a global stage had been kept."""
    from dataclasses import replace

    import mcalc.temporal.pair as pair_module

    real = pair_module.register_images

    def as_filed(*args, **kwargs):
        return replace(real(*args, **kwargs), method="none", fallback="lowered the similarity")

    monkeypatch.setattr(pair_module, "register_images", as_filed)
    case = _suspicious(tiny_demo)
    assert main(["temporal", str(tiny_demo), "--case", case, "--view", "CC"]) == 0
    out = capsys.readouterr().out
    assert "NOT REGISTERED: lowered the similarity" in out and "FALLBACK" not in out


def test_a_missing_prior_is_flagged_and_fatal_only_when_nothing_is_left(tiny_demo, env, capsys):
    root = env / "demo"
    shutil.copytree(tiny_demo, root)
    case = open_dataset(root).cases[0]
    rec = case.image("CC", "prior")
    assert rec is not None
    rec.image_path.unlink()
    assert main(["temporal", str(root), "--case", case.case_id, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "no prior CC image" in doc["views"]["CC"]["error"]
    assert "registration" in doc["views"]["MLO"]
    # The case's one line names the view it could not compare (it read "MLO: ..." alone,
    # as if that were the whole case).
    assert doc["summary"].startswith("CC: not compared (no prior image); MLO: "), doc["summary"]
    assert main(["temporal", str(root), "--case", case.case_id, "--view", "CC"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no prior CC image" in err and "\n" not in err


def test_unknown_case_and_bad_points_are_one_line_errors(tiny_demo, env, capsys):
    assert main(["temporal", str(tiny_demo), "--case", "nope-9"]) == 2
    assert "no case 'nope-9'" in capsys.readouterr().err
    bad = env / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    case = _suspicious(tiny_demo)
    assert main(["temporal", str(tiny_demo), "--case", case, "--points", str(bad)]) == 2
    assert "expected a CSV with columns row,col" in capsys.readouterr().err


def test_data_is_taken_by_flag_as_elsewhere_and_positionally_as_before(tiny_demo, env, capsys):
    """``--data DATA``, as ``report``, ``evaluate`` and the others take it; the positional
    ``DATA`` of old scripts still works; both, when they differ, or neither, is a one-line
    error saying what to pass."""
    case = _suspicious(tiny_demo)
    flag = ["temporal", "--data", str(tiny_demo), "--case", case, "--view", "CC", "--json"]
    assert main(flag) == 0
    by_flag = json.loads(capsys.readouterr().out)
    assert main(["temporal", str(tiny_demo), "--case", case, "--view", "CC", "--json"]) == 0
    positional = json.loads(capsys.readouterr().out)
    assert by_flag["case_id"] == positional["case_id"] == case
    assert by_flag["views"]["CC"]["counts"] == positional["views"]["CC"]["counts"]
    assert main(["temporal", str(tiny_demo), "--data", str(tiny_demo), "--case", case,
                 "--view", "CC", "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["temporal", str(env), "--data", str(tiny_demo), "--case", case]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "\n" not in err.strip()
    assert f"two datasets given: {env} and --data {tiny_demo}" in err
    assert main(["temporal", "--case", case]) == 2
    assert "no dataset given: pass --data DATA" in capsys.readouterr().err


def test_read_points_checks_numbers(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("Row,Col\n1,2\n3,x\n")
    with pytest.raises(DatasetError, match="line 3"):
        read_points(f)
    f.write_text("row,col\n1,2\n")
    assert read_points(f).tolist() == [[1.0, 2.0]]


def test_a_readers_marks_are_tracked_across_rounds(tiny_demo, env, monkeypatch, capsys):
    from mcalc.store.mark_store import MarkStore

    monkeypatch.setenv("MCALC_STORE", str(env / "store"))
    case = open_dataset(tiny_demo).case(_suspicious(tiny_demo))
    pts = env / "points.csv"
    pts.write_text("row,col\n120,60\n")
    args = ["temporal", str(tiny_demo), "--case", case.case_id, "--view", "CC", "--json"]
    assert main([*args, "--points", str(pts)]) == 0
    prior_at = json.loads(capsys.readouterr().out)["views"]["CC"]["points"][0]["prior_px"]
    store = MarkStore(env / "store")
    for tp, spots in (("recent", [(120, 60), (40, 40)]), ("prior", [tuple(prior_at)])):
        rec = case.image("CC", tp)
        assert rec is not None
        state = store.load(rec.key, "ann")
        marks = state.marks
        for r, c in spots:
            marks = marks.add_point(r, c)
        store.save(marks, base_version=state.version)
    assert main([*args, "--reader", "ann"]) == 0
    view = json.loads(capsys.readouterr().out)["views"]["CC"]
    assert view["reader_marks"]["counts"] == {"new": 1, "stable": 1, "grown": 0, "resolved": 0}
    assert "note" not in view["reader_marks"]
    # A name with no marks (misspelt) says so; a point off the image is flagged in the text
    # too (both read as valid results: "nobody's marks: new 0, stable 0 ...").
    pts.write_text("row,col\n99999,5\n")
    text = [*args[:-1], "--reader", "nobody", "--points", str(pts)]
    assert main(text) == 0
    out = capsys.readouterr().out
    assert "nobody's marks: nobody has no saved point marks on this view's images" in out, out
    assert ": WARNING outside the recent image (256x208 px)" in out, out


#: Keys of a tracked item that carry no quantity; every other one ends with its unit.
_UNITLESS = {"kind", "status", "recent_id", "prior_id", "recent_members", "prior_members"}


def test_changes_are_in_full_resolution_pixels_and_mm_with_units_named(
    tmp_path, env, monkeypatch, capsys
):
    """Positions are the files' full-resolution pixels (not a preview's: the images are
    larger than the 1024 px previews), sizes and distances in mm from the DICOM's spacing,
    each key naming its unit; a file without spacing says that the mm are assumed."""
    from mcalc.cache import ImageCache
    from mcalc.synthetic import generate_demo
    from mcalc.viewer import annotation_for

    root = tmp_path / "big"
    generate_demo(root, cases=3, seed=3, shape=(1400, 1120), difficulty="easy")
    case = open_dataset(root).case(_suspicious(root))
    args = ["temporal", str(root), "--case", case.case_id, "--view", "CC", "--json"]
    assert main(args) == 0
    view = json.loads(capsys.readouterr().out)["views"]["CC"]
    assert view["recent_shape_px"] == [1400, 1120]  # a 1024 px preview is 0.73 of it
    assert view["spacing_known"] and view["spacing_source"] != "default"
    items = view["calcifications"]
    assert items and all(k in _UNITLESS or k.endswith(("_px", "_mm", "_mm2")) for k in items[0])
    rec = case.image("CC", "recent")
    cache = ImageCache(tmp_path / "own-cache")
    mammo = cache.load(rec.image_path)
    assert view["pixel_spacing_mm"] == mammo.pixel_spacing_mm[0]
    summary = annotation_for(cache, rec, mammo.shape, mammo.pixel_spacing_mm)[1]
    assert summary is not None
    truth = sorted(
        [round(c.centroid[0], 1), round(c.centroid[1], 1)] for c in summary.calcifications
    )
    calcs = [t for t in items if t["kind"] == "calcification"]
    assert sorted(t["recent_px"] for t in calcs if t["recent_px"]) == truth
    diameters = sorted(round(c.diameter_mm, 3) for c in summary.calcifications)
    assert sorted(t["recent_diameter_mm"] for t in calcs if t["recent_px"]) == diameters
    clusters = [t for t in items if t["kind"] == "cluster"]
    assert all(t["recent_diameter_mm"] is None for t in clusters)
    assert all(isinstance(t["recent_members"], int) for t in clusters if t["recent_px"])
    assert not any("no pixel spacing" in n for n in view["notes"])


def test_a_file_without_pixel_spacing_says_its_mm_are_assumed(tiny_demo, env, capsys):
    import pydicom

    root = env / "demo"
    shutil.copytree(tiny_demo, root)
    case = open_dataset(root).case(_suspicious(root))
    rec = case.image("CC", "prior")
    assert rec is not None
    ds = pydicom.dcmread(rec.image_path)
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        if tag in ds:
            delattr(ds, tag)
    ds.save_as(rec.image_path)
    assert main(["temporal", str(root), "--case", case.case_id, "--view", "CC", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)["views"]["CC"]
    assert view["spacing_known"] is False and view["spacing_source"] != "default"
    assert any("no pixel spacing in the prior file" in n for n in view["notes"])
    assert main(["temporal", str(root), "--case", case.case_id, "--view", "CC"]) == 0
    assert "note: no pixel spacing in the prior file" in capsys.readouterr().out


def test_a_round_without_its_annotation_file_is_not_counted_as_no_calcification(
    tiny_demo, env, tmp_path, capsys
):
    """A case folder without MLO_prior_GT.jpg read as a prior with nothing marked: every
    calcification of the recent MLO came out "new", 0 stable (6 December 2026)."""
    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    case = _suspicious(root)
    assert main(["temporal", str(root), "--case", case, "--view", "MLO", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)["views"]["MLO"]
    assert before["counts"]["stable"] > 0 and before["uncounted"] is None
    (root / "Dataset" / "Suspicious_cases" / case.split("-")[1] / "MLO_prior_GT.jpg").unlink()

    assert main(["temporal", str(root), "--case", case, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    mlo, cc = doc["views"]["MLO"], doc["views"]["CC"]
    assert mlo["counts"] is None and mlo["counts_by_kind"] is None and mlo["calcifications"] == []
    assert mlo["uncounted"] == (
        "the prior image has no annotation (MLO_prior_GT.jpg is missing): its "
        "calcifications are unknown, not none"
    )
    assert any(n.startswith("changes between exams not counted: the prior") for n in mlo["notes"])
    assert cc["counts"] is not None  # the other view is counted as before
    assert "; MLO: changes not counted: the prior image has no annotation" in doc["summary"]
    assert main(["temporal", str(root), "--case", case, "--view", "MLO"]) == 0
    assert "changes not counted" in capsys.readouterr().out


def test_the_case_report_does_not_count_a_round_without_its_annotation(tiny_demo, env, tmp_path):
    from mcalc.cache import ImageCache
    from mcalc.config import get_settings
    from mcalc.report.case import _temporal_lines

    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    case_id = _suspicious(root)
    (root / "Dataset" / "Suspicious_cases" / case_id.split("-")[1] / "MLO_prior_GT.jpg").unlink()
    s = get_settings()
    lines = _temporal_lines(ImageCache(s.cache_dir), open_dataset(root).case(case_id))
    mlo = next(x for x in lines if x.startswith("MLO: "))
    assert mlo.startswith("MLO: changes not counted: the prior image has no annotation"), mlo
    assert next(x for x in lines if x.startswith("CC: ")).startswith("CC: ")


def test_region_annotations_are_not_counted_as_no_calcification(tiny_demo, env, tmp_path):
    """Annotations that outline regions (``annotation_kind`` ``region``, a manifest's) mark no
    single calcification: tracking them gave "CC: 0 new calcifications, 0 stable" for every
    view of a case whatever its regions (the audit of 6 December 2026)."""
    from dataclasses import replace

    from mcalc.cache import ImageCache
    from mcalc.temporal import case_summary, pair_tracked, register_pair

    case = next(c for c in open_dataset(tiny_demo).cases if c.case_id == _suspicious(tiny_demo))
    regions = replace(case, images=tuple(replace(r, annotation_kind="region") for r in case.images))
    pair = register_pair(ImageCache(tmp_path / "cache"), regions, "CC")
    assert pair.recent_summary is not None and pair.recent_summary.n_regions > 0
    assert pair.uncounted == (
        "the recent and the prior image's annotations outline regions, not single "
        "calcifications: changes between exams are counted between calcification marks"
    )
    assert pair_tracked(pair) == []
    assert case_summary({"CC": pair_tracked(pair)}, uncounted={"CC": pair.uncounted}).startswith(
        "CC: changes not counted: the recent and the prior image's annotations outline regions"
    )
