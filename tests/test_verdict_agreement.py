"""Agreement between readers on audit verdicts: kappa per pair, alpha over all, first reads."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from mcalc.store.audit import AuditStore, AuditVerdict, record_verdict
from mcalc.store.verdict_agreement import (
    SMALL_SAMPLE,
    _kappas,
    agreement_rows,
    first_reads,
    krippendorff_alpha,
    revisions,
    verdict_agreement,
    verdict_histories,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the reliability data
# matrix of four observers and twelve units with missing values (C1-C4 of its section D);
# nominal alpha 0.743.
KRIPPENDORFF_2011 = [
    [1, 1, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [5, 5, 5],
    [1, 1],
    [3],
]


def test_alpha_matches_krippendorffs_worked_example():
    assert krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)


def test_alpha_is_undefined_without_pairable_answers_or_with_one_answer_only():
    assert krippendorff_alpha([["a"], ["b"]]) is None
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None


def test_bootstrap_kappa_is_sklearns_on_each_resample():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 2, 25).astype(float), rng.integers(0, 2, 25).astype(float)
    weights = np.stack([np.bincount(rng.integers(0, 25, 25), minlength=25) for _ in range(5)])
    for w, k in zip(weights, _kappas(a, b, weights), strict=True):
        idx = np.repeat(np.arange(25), w)
        assert k == pytest.approx(cohen_kappa_score(a[idx], b[idx]))


def _v(image, reader, verdict, plausible=None):
    return AuditVerdict("m1", image, reader, verdict, explanation_plausible=plausible)


def _study(n, flip_every=4):
    """Two readers on ``n`` images (bob differs from ann on every ``flip_every``-th), a
    third on the first half."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        ann = "agree" if rng.random() < 0.6 else "disagree"
        bob = ann if i % flip_every else ("disagree" if ann == "agree" else "agree")
        out += [_v(f"i{i}", "ann", ann), _v(f"i{i}", "bob", bob)]
        if i < n // 2:
            out.append(_v(f"i{i}", "cy", ann))
    return out


def test_kappa_per_pair_alpha_over_all_with_intervals_and_images_in_common():
    vs = _study(30)
    ag = verdict_agreement(vs, n_boot=200)
    assert ag.readers == ("ann", "bob", "cy")
    ab = ag.pairs["ann", "bob"]
    x = [v.score_verdict for v in vs if v.reader == "ann"]
    y = [v.score_verdict for v in vs if v.reader == "bob"]
    assert ab.value == pytest.approx(cohen_kappa_score(x, y))
    assert ab.n_images == 30 and ag.pairs["ann", "cy"].n_images == 15
    assert ag.pairs["ann", "cy"].value == 1.0 and ab.observed == pytest.approx(22 / 30)
    assert ab.low < ab.value < ab.high
    assert ag.overall.n_images == 30 and ag.overall.low <= ag.overall.value <= ag.overall.high
    # 15 images in common for two pairs: said
    assert any("as few as 15" in c and str(SMALL_SAMPLE) in c for c in ag.caveats)
    rows = agreement_rows(ag)
    assert list(rows["readers"]) == ["ann & bob", "ann & cy", "bob & cy", "all readers"]
    assert verdict_agreement(vs, n_boot=200) == ag  # seeded


def test_one_answer_only_is_undefined_and_said():
    ag = verdict_agreement([_v(f"i{i}", r, "agree") for i in range(3) for r in ("a", "b")])
    e = ag.pairs["a", "b"]
    assert e.value is None and e.observed == 1.0 and e.n_images == 3
    assert any("undefined" in c for c in ag.caveats)


def test_a_pair_with_one_image_in_common_is_not_said_to_give_one_answer():
    """ann found the explanation plausible, bob not, on their one image in common: kappa
    n/a (one image) was explained as "every answer was the same" beside 0% raw agreement."""
    ag = verdict_agreement([_v("i1", "a", "agree", True), _v("i1", "b", "agree", False)],
                           "explanation", n_boot=0)  # fmt: skip
    e = ag.pairs["a", "b"]
    assert (e.value, e.observed, e.n_images) == (None, 0.0, 1)
    assert any("only one of the images in common" in c for c in ag.caveats), ag.caveats
    assert not any("every answer was the same" in c for c in ag.caveats), ag.caveats
    # One answer throughout on two images is still said so.
    same = verdict_agreement([_v(f"i{i}", r, "agree") for i in (1, 2) for r in "ab"], n_boot=0)
    assert any("every answer was the same" in c for c in same.caveats)
    assert not any("only one of" in c for c in same.caveats)


def test_explanation_unjudged_is_missing_not_an_answer():
    vs = [_v("i1", "a", "agree", True), _v("i1", "b", "agree", None)]
    vs += [_v("i2", "a", "agree", False), _v("i2", "b", "agree", False)]
    ag = verdict_agreement(vs, "explanation", n_boot=0)
    assert ag.pairs["a", "b"].n_images == 1


def test_region_calls_pair_where_two_readers_called_the_same_region():
    """Per region, not per image: a region pairs with the other reader's call on the same
    image at the same centre (another analysis' region does not), "unsure" is missing."""
    from mcalc.store.region_calls import RegionCall

    def calls(*spec):
        return tuple(RegionCall(k + 1, c, 0.9 - k / 10, call) for k, (c, call) in enumerate(spec))

    yes, no, unsure = "calcification", "not calcification", "unsure"
    a, b = (10.0, 20.0), (50.0, 60.0)
    vs = [
        AuditVerdict("m", "i1", "ann", "agree", regions=calls((a, yes), (b, no))),
        AuditVerdict("m", "i1", "bob", "agree", regions=calls((a, yes), (b, yes))),
        AuditVerdict("m", "i2", "ann", "agree", regions=calls((a, no), (b, unsure))),
        AuditVerdict("m", "i2", "bob", "agree", regions=calls((a, no), (b, no))),
        # another analysis' region (its centre elsewhere): nobody else called it
        AuditVerdict("m", "i3", "ann", "agree", regions=calls(((30.0, 30.0), yes))),
        AuditVerdict("m", "i3", "bob", "agree", regions=calls(((31.0, 30.0), yes))),
    ]
    ag = verdict_agreement(vs, "regions", n_boot=0)
    pair = ag.pairs["ann", "bob"]
    assert pair.n_images == 3  # i1's two regions and i2's first: i2's second is unsure
    x, y = [yes, no, no], [yes, yes, no]
    assert pair.value == pytest.approx(cohen_kappa_score(x, y)) and pair.observed == 2 / 3
    assert ag.overall.n_images == 3 and ag.units == "regions"
    rows = agreement_rows(ag)
    assert list(rows.columns) == [
        "readers", "statistic", "value", "95% interval", "regions", "raw agreement"
    ]  # fmt: skip
    assert any(c.startswith("Few regions in common (as few as 3") for c in ag.caveats)
    # The image questions count images, as before.
    assert "images" in agreement_rows(verdict_agreement(vs, n_boot=0)).columns


def test_first_reads_apart_from_revisions_after_others_were_shown(tmp_path, monkeypatch):
    # Every save in the same millisecond (the store's precision), as a script saving them
    # at once may: the revision still counts as after bob's (it was not, at random, in the
    # suite: test_app_audit's agreement test failed once so).
    import mcalc.store.versioned

    monkeypatch.setattr(mcalc.store.versioned, "utc_now", lambda: "2026-12-07T01:00:00.000Z")
    kw = {"model_id": "m1", "image_key": "c-1/CC_recent"}
    record_verdict(tmp_path, **kw, reader="ann", agree=False)
    record_verdict(tmp_path, **kw, reader="bob", agree=True)
    record_verdict(tmp_path, **kw, reader="ann", agree=True, comment="after seeing bob's")
    record_verdict(tmp_path, **{**kw, "image_key": "c-2/CC_recent"}, reader="bob", agree=True)
    record_verdict(tmp_path, **{**kw, "image_key": "c-2/CC_recent"}, reader="bob", agree=False)
    # cy revises only a region's call: an answer changed too
    call = {"rank": 1, "center": [4, 5], "score": 0.8}
    for said in ("calcification", "not calcification"):
        record_verdict(tmp_path, **{**kw, "image_key": "c-3/CC_recent"}, reader="cy",
                       agree=True, regions=[{**call, "call": said}])  # fmt: skip
    hist = verdict_histories(AuditStore(tmp_path), "m1")
    assert {(v.reader, v.score_verdict) for v in first_reads(hist)} == {
        ("ann", "disagree"),
        ("bob", "agree"),
        ("cy", "agree"),
    }
    table = revisions(hist).set_index(["image_key", "reader"])
    assert table.loc[("c-1/CC_recent", "ann"), "revised after others were shown"]
    assert table.loc[("c-1/CC_recent", "ann"), "answer changed"]
    assert not table.loc[("c-1/CC_recent", "bob"), "revised after others were shown"]
    # revised, but nobody else judged that image
    assert not table.loc[("c-2/CC_recent", "bob"), "revised after others were shown"]
    assert table.loc[("c-2/CC_recent", "bob"), "versions"] == 2
    assert table.loc[("c-3/CC_recent", "cy"), "answer changed"]


def _boxed(rank, col, call, side=60):
    """A call on the ``side``-pixel square region whose left edge is at ``col``."""
    from mcalc.store.region_calls import RegionCall

    box = (0, side, col, col + side)
    return RegionCall(rank, (side / 2, col + side / 2), 0.9, call, box)


@pytest.mark.parametrize(("shift", "pairs"), [(0, True), (20, True), (21, False)])
def test_two_readers_regions_pair_while_their_boxes_overlap_by_half(shift, pairs):
    """Another analysis (model version, settings) puts the same region's box a few pixels
    off: two 60-pixel boxes overlap by IoU (60 - d) / (60 + d), 0.5 at d = 20 (paired),
    0.49 at d = 21 (not). Before boxes were kept, only the same centre paired."""
    yes, no = "calcification", "not calcification"
    vs = [
        AuditVerdict("m", "i1", "ann", "agree", regions=(_boxed(1, 100, yes), _boxed(2, 300, no))),
        AuditVerdict("m", "i1", "bob", "agree",
                     regions=(_boxed(1, 100 + shift, yes), _boxed(2, 300 - shift, no))),
    ]  # fmt: skip
    ag = verdict_agreement(vs, "regions", n_boot=0)
    assert ag.pairs["ann", "bob"].n_images == (2 if pairs else 0)
    assert ag.unpaired == (0 if pairs else 4)
    said = [c for c in ag.caveats if "in no figure" in c]
    assert said == ([] if pairs else [
        "4 region calls are in no figure: no other reader called their region calcification "
        "or not (on that image, no call of theirs overlapping it by IoU >= 0.5, or an unsure one)."
    ])  # fmt: skip


def test_region_calls_pair_one_to_one_the_most_pairs_first():
    """ann's region 1 overlaps both of bob's (IoU 1 and 0.6), her region 2 only bob's
    region 1 (0.6; so close to her region 1 for the matching's sake only): nearest first
    would pair ann 1 with bob 1 and leave two calls out; the assignment pairs ann 1 with
    bob 2 and ann 2 with bob 1. A third call overlapping a paired one is left alone, and
    counted as unpaired, as is cy's call on an image nobody else called."""
    yes, no = "calcification", "not calcification"
    vs = [
        AuditVerdict("m", "i1", "ann", "agree", regions=(_boxed(1, 100, yes), _boxed(2, 85, no))),
        AuditVerdict("m", "i1", "bob", "agree", regions=(_boxed(1, 100, no), _boxed(2, 115, yes))),
        AuditVerdict("m", "i2", "ann", "agree", regions=(_boxed(1, 0, yes),)),
        AuditVerdict("m", "i2", "bob", "agree", regions=(_boxed(1, 0, yes), _boxed(2, 5, no))),
        AuditVerdict("m", "i3", "cy", "agree", regions=(_boxed(1, 0, yes),)),
    ]  # fmt: skip
    ag = verdict_agreement(vs, "regions", n_boot=0)
    pair = ag.pairs["ann", "bob"]
    assert (pair.n_images, pair.observed) == (3, 1.0)  # ann 1-bob 2, ann 2-bob 1, i2's first
    assert ag.unpaired == 2  # bob's second call on i2, cy's on i3
    assert ag.pairs["ann", "cy"].n_images == 0


def test_three_readers_regions_group_only_where_each_two_overlap():
    """A region group holds calls that overlap each other by half: cy's box (shift 40)
    overlaps bob's (shift 20) by 0.5 but ann's (0) by 0.2, so it joins no group."""
    from mcalc.store.region_calls import pair_calls

    yes = "calcification"
    ann, bob, cy = _boxed(1, 100, yes), _boxed(1, 120, yes), _boxed(1, 140, yes)
    groups = pair_calls({"cy": [cy], "bob": [bob], "ann": [ann]})
    assert [sorted(g) for g in groups] == [["ann", "bob"], ["cy"]]
    vs = [
        AuditVerdict("m", "i1", r, "agree", regions=(c,))
        for r, c in (("ann", ann), ("bob", bob), ("cy", cy))
    ]
    assert verdict_agreement(vs, "regions", n_boot=0).unpaired == 1


def test_an_image_only_one_reader_judged_is_counted_as_unpaired():
    vs = [_v("i1", "a", "agree"), _v("i1", "b", "agree"), _v("i2", "a", "disagree")]
    ag = verdict_agreement(vs, n_boot=0)
    assert ag.unpaired == 1
    assert "1 answer is in no figure: no other reader answered on the same image." in ag.caveats


def test_the_kappa_paradox_is_said_only_beside_a_high_raw_agreement():
    """The walk of 7 December 2026: rita and bob disagreed on each of their 3 images, the
    answers balanced (kappa -0.80, raw agreement 0%), and the note said kappa is low "even
    with high raw agreement" where one answer is much the commonest: neither held."""
    walk = [_v("i1", "rita", "agree"), _v("i2", "rita", "agree"), _v("i3", "rita", "disagree")]
    walk += [_v("i1", "bob", "disagree"), _v("i2", "bob", "disagree"), _v("i3", "bob", "agree")]
    ag = verdict_agreement(walk, n_boot=0)
    e = ag.pairs["bob", "rita"]
    assert e.value == pytest.approx(-0.8) and e.observed == 0.0
    assert not any("paradox" in c for c in ag.caveats), ag.caveats
    # 20 images, "agree" on 19 for each reader, never on the same "disagree": 90% raw, kappa < 0.
    skewed = [_v(f"i{i}", "a", "disagree" if i == 0 else "agree") for i in range(20)]
    skewed += [_v(f"i{i}", "b", "disagree" if i == 1 else "agree") for i in range(20)]
    ag = verdict_agreement(skewed, n_boot=0)
    e = ag.pairs["a", "b"]
    assert e.observed == 0.9 and e.value is not None and e.value < 0.1
    assert any("paradox" in c for c in ag.caveats), ag.caveats


def test_an_interval_at_zero_is_not_printed_as_minus_zero():
    """The walk's first reads: rita agreed throughout, so kappa is 0 on every resample, its
    interval's low end -3e-16 by rounding, printed "-0.00 to 0.00" (CLI and Audit)."""
    vs = [_v(i, "rita", "agree") for i in ("i1", "i2", "i3")]
    vs += [_v("i1", "bob", "disagree"), _v("i2", "bob", "disagree"), _v("i3", "bob", "agree")]
    row = agreement_rows(verdict_agreement(vs)).iloc[0]
    assert (row["value"], row["95% interval"]) == ("0.00", "0.00 to 0.00")
