"""mcalc.store.region_calls: a reader's call on each region, and with the image's verdict."""

from __future__ import annotations

import json

import pytest

from mcalc.store.audit import SCORE_DECIMALS, AuditStore, audit_table, record_verdict
from mcalc.store.exchange import ExportError, region_calls_csv
from mcalc.store.exchange.export import audit_csv
from mcalc.store.region_calls import (
    CALL_COLUMNS,
    RegionCall,
    calls_table,
    calls_text,
    region_calls,
    tally,
)
from mcalc.store.region_calls import (
    SCORE_DECIMALS as REGION_DECIMALS,
)

KW = {"model_id": "m1", "image_key": "c-1/CC_recent", "reader": "ann"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rank": 0, "center": [1, 2], "score": 0.5, "call": "unsure"}, "rank"),
        ({"rank": True, "center": [1, 2], "score": 0.5, "call": "unsure"}, "rank"),
        ({"rank": 1, "center": [1, 2], "score": 0.5, "call": "maybe"}, "one of"),
        ({"rank": 1, "center": [1, float("nan")], "score": 0.5, "call": "unsure"}, "finite"),
        ({"rank": 1, "center": [1, "a"], "score": 0.5, "call": "unsure"}, "centre"),
        ({"rank": 1, "score": 0.5, "call": "unsure"}, "malformed"),
    ],
)
def test_a_bad_call_is_refused_saying_what_was_expected(raw, message):
    with pytest.raises(ValueError, match=message):
        region_calls([raw])


def test_two_calls_on_one_region_are_refused():
    one = {"rank": 2, "center": [1, 2], "score": 0.5, "call": "unsure"}
    with pytest.raises(ValueError, match=r"region \[2\] was called"):
        region_calls([one, {**one, "call": "calcification"}])


def test_calls_round_trip_in_rank_order_with_the_verdicts_decimals():
    raw = [
        {"rank": 3, "center": [10, 20.25], "score": 0.123456789, "call": "unsure"},
        {"rank": 1, "center": [5, 6], "score": 0.9, "call": "calcification"},
    ]
    calls = region_calls(raw)
    assert [c.rank for c in calls] == [1, 3]
    assert calls[1].score == 0.123457 and REGION_DECIMALS == SCORE_DECIMALS
    assert region_calls(json.loads(json.dumps([c.to_dict() for c in calls]))) == calls


def test_text_and_tally_count_each_kind():
    calls = region_calls(
        [
            {"rank": 1, "center": [1, 1], "score": 0.9, "call": "calcification"},
            {"rank": 2, "center": [2, 2], "score": 0.8, "call": "calcification"},
            {"rank": 3, "center": [3, 3], "score": 0.7, "call": "not calcification"},
            {"rank": 4, "center": [4, 4], "score": 0.6, "call": "unsure"},
        ]
    )
    assert calls_text(calls) == "4 judged: 2 calcification, 1 not, 1 unsure"
    assert calls_text(()) == ""
    t = tally([calls, calls[:1]])
    assert (t.judged, t.calcification, t.not_calcification, t.unsure) == (5, 3, 1, 1)
    assert t.confirmed_rate == 0.75
    assert tally([calls[3:]]).confirmed_rate is None  # only "unsure": no rate


def test_a_verdict_keeps_its_region_calls_in_the_store_table_and_csv(tmp_path):
    """Saved with the verdict, read back as saved, counted in the model's audit (a region
    called no calcification puts the verdict among those to look at again, though the
    reader agreed with the score) and written in the CSV."""
    calls = [
        RegionCall(1, (120.0, 80.5), 0.91, "calcification"),
        RegionCall(2, (40.0, 300.0), 0.62, "not calcification"),
    ]
    v = record_verdict(tmp_path, **KW, agree=True, regions=calls)
    assert AuditStore(tmp_path).latest("m1", "c-1/CC_recent", "ann") == v
    assert v.regions == tuple(calls) and v.disagrees
    record_verdict(tmp_path, **{**KW, "reader": "bob"}, agree=True)  # no region judged
    s = audit_table(tmp_path, "m1")
    assert (s.regions_judged, s.regions_confirmed_rate) == (2, 0.5)
    assert list(s.disagreements["reader"]) == ["ann"]
    assert list(s.table["regions"]) == ["2 judged: 1 calcification, 1 not", ""]
    assert "2 judged: 1 calcification, 1 not" in audit_csv(s.table)


def test_a_verdict_saved_before_region_calls_reads_as_none_judged(tmp_path):
    """Records written before 7 December 2026 have no ``regions``: none judged, the same
    rates as before."""
    v = record_verdict(tmp_path, **KW, agree=False)
    (path,) = (tmp_path / "audits").rglob("*.json")
    doc = json.loads(path.read_text())
    text = json.dumps(doc)
    assert '"regions": []' in text
    path.write_text(text.replace(', "regions": []', ""))
    assert '"regions"' not in path.read_text()
    old = AuditStore(tmp_path).latest("m1", "c-1/CC_recent", "ann")
    assert old is not None and old.regions == () and old.score_verdict == v.score_verdict
    s = audit_table(tmp_path, "m1")
    assert (s.regions_judged, s.regions_confirmed_rate) == (0, None)


def test_the_calls_table_has_a_row_per_call_and_its_csv_escapes_typed_names(tmp_path):
    calls = [
        RegionCall(2, (40.0, 300.0), 0.62, "not calcification"),
        RegionCall(1, (120.0, 80.5), 0.91, "calcification"),
    ]
    record_verdict(tmp_path, **{**KW, "reader": "=HYPERLINK(1)"}, agree=True, regions=calls)
    record_verdict(tmp_path, **{**KW, "reader": "bob"}, agree=False)  # none called
    table = calls_table(AuditStore(tmp_path).verdicts("m1"))
    assert list(table.columns) == list(CALL_COLUMNS)
    assert table[["region", "row", "col", "call"]].values.tolist() == [
        [1, 120.0, 80.5, "calcification"],
        [2, 40.0, 300.0, "not calcification"],
    ]
    text = region_calls_csv(table)
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text  # not run by a spreadsheet
    with pytest.raises(ExportError, match="no region calls"):
        region_calls_csv(calls_table([]))


def test_a_calls_box_round_trips_and_a_bad_box_is_refused():
    raw = {"rank": 1, "center": [30, 40], "score": 0.9, "call": "unsure", "box": [0, 60, 10, 70]}
    (call,) = region_calls([raw])
    assert call.box == (0, 60, 10, 70)
    assert region_calls([call.to_dict()]) == (call,)
    assert "box" not in RegionCall(1, (3, 4), 0.5, "unsure").to_dict()  # unknown: not kept
    for bad, message in [([0, 60, 10], "4 whole"), ([0, 60.5, 0, 9], "4 whole"),
                         ([60, 0, 10, 70], "r0 < r1"), ("abcd", "box")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            region_calls([{**raw, "box": bad}])


def test_the_forms_answers_become_calls_with_the_regions_shown():
    """Predict's and Audit's forms: a region left "not judged" is not kept; the others keep
    the rank, centre, score and box shown."""
    from types import SimpleNamespace as R

    from mcalc.store.region_calls import NOT_JUDGED, calls_from_answers

    shown = [
        R(rank=1, center=(5.04, 6.0), score=0.91, box=(0, 10, 1, 11)),
        R(rank=2, center=(50.0, 60.0), score=0.7, box=(45, 55, 55, 65)),
        R(rank=3, center=(80.0, 90.0), score=0.6, box=(75, 85, 85, 95)),
    ]
    calls = calls_from_answers(shown, {2: "not calcification", 1: NOT_JUDGED, 3: "unsure"})
    assert calls == (
        RegionCall(2, (50.0, 60.0), 0.7, "not calcification", (45, 55, 55, 65)),
        RegionCall(3, (80.0, 90.0), 0.6, "unsure", (75, 85, 85, 95)),
    )
    assert calls_from_answers(shown, {}) == ()
    with pytest.raises(ValueError, match="one of"):
        calls_from_answers(shown, {1: "maybe"})


def test_the_calls_table_gives_each_calls_box_and_leaves_an_unknown_one_empty(tmp_path):
    calls = [
        RegionCall(1, (30.0, 40.0), 0.9, "calcification", (0, 60, 10, 70)),
        RegionCall(2, (5.0, 6.0), 0.6, "unsure"),  # saved before boxes were kept
    ]
    record_verdict(tmp_path, **KW, agree=True, regions=calls)
    table = calls_table(AuditStore(tmp_path).verdicts("m1"))
    boxes = table[["box_r0", "box_r1", "box_c0", "box_c1"]]
    assert boxes.iloc[0].tolist() == [0, 60, 10, 70] and boxes.iloc[1].isna().all()
    lines = region_calls_csv(table).splitlines()
    assert lines[0].startswith("\ufeffmodel_id,image_key,reader,region,row,col,box_r0,box_r1,")
    assert ",0,60,10,70," in lines[1] and ",,,,," in lines[2]


def test_pairing_overlaps_match_box_iou_one_by_one_and_a_boxless_call_needs_its_centre():
    """The matrix of overlaps pair_calls reads at once is box_iou of each two calls (the
    oracle, a few lines); a call saved without a box pairs only at the same centre."""
    import numpy as np

    from mcalc.store.region_calls import _ious, box_iou, pair_calls

    rng = np.random.default_rng(0)

    def call(rank):  # type: ignore[no-untyped-def]
        r0, c0 = (int(v) for v in rng.integers(0, 100, 2))
        h, w = (int(v) for v in rng.integers(1, 80, 2))
        return RegionCall(rank, (r0 + h / 2, c0 + w / 2), 0.5, "unsure", (r0, r0 + h, c0, c0 + w))

    a, b = [call(k + 1) for k in range(7)], [call(k + 1) for k in range(5)]
    want = [[box_iou(x, y) for y in b] for x in a]
    partial = ((np.array(want) > 0) & (np.array(want) < 1)).sum()
    assert np.allclose(_ious(a, b), want) and partial >= 3  # overlaps to check, not zeros
    boxed = RegionCall(1, (30, 30), 0.9, "calcification", (0, 60, 0, 60))
    old = [
        RegionCall(1, (30.4, 29.6), 0.9, "calcification"),
        RegionCall(2, (31, 30), 0.8, "unsure"),
    ]
    assert [sorted(g) for g in pair_calls({"ann": [boxed], "bob": old})] == [
        ["ann", "bob"], ["bob"]
    ]  # fmt: skip
    assert pair_calls({"ann": [boxed], "bob": old})[0]["bob"].rank == 1
