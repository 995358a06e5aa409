"""mcalc.present.image_pick (and mcalc.dataset.memo): narrowing a large collection's
images to a few for a picker, with lookups made once per index."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from mcalc.dataset.memo import per_index
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.present.image_pick import (
    SEARCHES_KEPT,
    Narrowed,
    choices_of,
    image_choices,
    narrow,
)


def big_index(n_cases: int, root: Path = Path(".")) -> DatasetIndex:
    """``n_cases`` cases of four images each (CC and MLO, prior and recent), sides alternating."""
    cases = []
    for i in range(n_cases):
        cid = f"case-{i:05d}"
        recs = tuple(
            ImageRecord(cid, view, tp, root / f"{cid}_{view}_{tp}.png")
            for view in ("CC", "MLO")
            for tp in ("prior", "recent")
        )
        cases.append(CaseRecord(cid, f"p{i}", recs, laterality="LR"[i % 2], available="2015-2018"))
    return DatasetIndex(root, "manifest", False, tuple(cases))


def test_choices_are_made_once_per_index_and_name_every_image():
    """Audit built a key -> record map and a key -> case map over the whole index on every
    rerun (4.6 ms CPU for 20,000 images): now once per index object."""
    index = big_index(3)
    choices = image_choices(index)
    assert image_choices(index) is choices
    assert len(choices.keys) == 12 and choices.keys[0] == "case-00000/CC_prior"
    assert choices.names["case-00001/MLO_recent"] == "case-00001 · R MLO recent 2018"
    assert choices.case_of("case-00002/CC_recent") == "case-00002"
    assert choices.cases["case-00001"] is index.cases[1]
    with pytest.raises(TypeError):
        choices.records["x"] = index.cases[0].images[0]  # type: ignore[index]
    assert image_choices(big_index(3)) is not choices  # an equal index: its own
    gone = weakref.ref(index)
    del index, choices
    gc.collect()
    assert gone() is None  # the lookups do not keep an index alive


def test_per_index_builds_once_per_object():
    calls: list[int] = []

    @per_index
    def count(index: DatasetIndex) -> int:
        calls.append(1)
        return len(index.cases)

    index = big_index(2)
    assert (count(index), count(index), len(calls)) == (2, 2, 1)
    assert count(big_index(2)) == 2 and len(calls) == 2


def test_a_large_collection_offers_a_bounded_list_and_says_so():
    """20,000 images were all options of Audit's picker (640 kB of proto a rerun)."""
    choices = image_choices(big_index(5000))
    offer = narrow(choices, limit=200)
    assert len(offer.options) == 200 and offer.options[0] == "case-00000/CC_prior"
    assert (offer.matched, offer.total) == (20000, 20000)
    assert offer.note() == "Showing 200 of 20,000 matching images: type to narrow."
    small = narrow(image_choices(big_index(3)))
    assert len(small.options) == 12 and small.note() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("case-00042", ["CC_prior", "CC_recent", "MLO_prior", "MLO_recent"]),
        ("CASE-00042 mlo", ["MLO_prior", "MLO_recent"]),  # every word, any case
        ("case-00042 l cc prior 2015", ["CC_prior"]),  # side, view, round, year
        ("case-00042 R", []),  # case 42 is a left breast (and not the r of prior)
        ("00042 pri", ["CC_prior", "MLO_prior"]),  # a word's start
    ],
)
def test_words_narrow_by_case_side_view_round_and_year(text, expected):
    choices = image_choices(big_index(100))
    offer = narrow(choices, text)
    assert [k.split("/")[1] for k in offer.options] == expected
    assert offer.matched == len(expected)


def test_a_case_number_begun_finds_the_cases_it_begins():
    offer = narrow(image_choices(big_index(100)), "case-0004 r mlo recent")
    assert offer.options == tuple(f"case-000{i}/MLO_recent" for i in (41, 43, 45, 47, 49))


def test_within_and_without_narrow_to_a_set_in_index_order():
    choices = image_choices(big_index(100))
    audited = {"case-00099/CC_recent", "case-00003/MLO_prior", "elsewhere/CC_recent"}
    offer = narrow(choices, within=audited)
    assert offer.options == ("case-00003/MLO_prior", "case-00099/CC_recent")
    assert offer.note() == "2 of 400 images match the filter, all shown."
    rest = narrow(choices, without=audited, limit=1000)
    assert rest.matched == 398 and not set(rest.options) & audited
    assert narrow(choices, "case-00003", within=audited).options == ("case-00003/MLO_prior",)


def test_the_image_open_is_kept_on_top_when_the_filter_leaves_it_out():
    """A picker whose value is not among its options loses the reader's image."""
    choices = image_choices(big_index(100))
    offer = narrow(choices, "case-00007 cc", keep="case-00050/MLO_recent")
    assert offer.options == (
        "case-00050/MLO_recent",
        "case-00007/CC_prior",
        "case-00007/CC_recent",
    )
    assert offer.kept_outside and offer.shown == 2
    assert offer.note() == (
        "2 of 400 images match the filter, all shown. The image open stays on top, "
        "though it does not match."
    )
    assert narrow(choices, "case-00007", keep="case-00007/CC_prior").options[0] == (
        "case-00007/CC_prior"
    )
    assert "gone/CC_prior" not in narrow(choices, keep="gone/CC_prior").options
    assert narrow(choices, "nothing").note() == "No image of 400 matches the filter."


def test_narrow_refuses_a_limit_below_one():
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        narrow(image_choices(big_index(1)), limit=0)


def test_note_of_one_image():
    assert Narrowed(("a",), 1, 9).note() == "1 of 9 images matches the filter, all shown."


def test_a_search_is_read_once_and_few_are_kept():
    """A search read every name again on each rerun (~10 ms for 20,000 images)."""
    choices = image_choices(big_index(100))
    first = narrow(choices, "case-0001 cc", without={"case-00012/CC_prior"})
    assert first.matched == 19 and "case-00012/CC_prior" not in first.options
    hits = choices.matching((" case", " 0001", " cc"))
    assert choices.matching((" case", " 0001", " cc")) is hits and len(hits) == 20
    for i in range(SEARCHES_KEPT + 5):
        narrow(choices, f"case-{i:05d}")
    assert len(choices._searches) == SEARCHES_KEPT


def test_scores_order_the_offer_highest_first_with_the_unscored_after():
    """Audit's *Scored by the model* listed the images in the index's order: an auditor
    checks the highest scores first. Equal scores keep the index's order; NaN is none."""
    choices = image_choices(big_index(3))  # 12 images
    scores = {
        "case-00000/CC_prior": 0.2,
        "case-00001/MLO_recent": 0.9,
        "case-00002/CC_recent": 0.5,
        "case-00000/MLO_prior": 0.5,
        "case-00002/MLO_prior": float("nan"),
    }
    offer = narrow(choices, within=scores, scores=scores)
    assert offer.options == (
        "case-00001/MLO_recent",
        "case-00000/MLO_prior",
        "case-00002/CC_recent",
        "case-00000/CC_prior",
        "case-00002/MLO_prior",
    )
    assert offer.note() == "5 of 12 images match the filter, all shown, highest score first."
    # Words and the left out narrow first; the image open outside stays on top.
    offer = narrow(
        choices, "cc", within=scores, without={"case-00002/CC_recent"},
        keep="case-00001/CC_prior", scores=scores,
    )  # fmt: skip
    assert offer.options == ("case-00001/CC_prior", "case-00000/CC_prior")
    assert offer.note() == (
        "1 of 12 images matches the filter, all shown, highest score first. "
        "The image open stays on top, though it does not match."
    )
    everything = narrow(choices, scores=scores)  # every image: the unscored after
    assert everything.options[:2] == ("case-00001/MLO_recent", "case-00000/MLO_prior")
    assert everything.options[4:6] == ("case-00000/CC_recent", "case-00000/MLO_recent")
    assert everything.note() == "All 12 images, highest score first."


def test_a_large_scored_collection_offers_its_highest_scores():
    """20,000 scored images: the 200 best, not the index's first 200."""
    choices = image_choices(big_index(5000))
    scores = {k: (i * 7919 % 20000) / 20000 for i, k in enumerate(choices.keys)}
    offer = narrow(choices, within=scores, scores=scores, keep=choices.keys[0])
    best = sorted(scores, key=lambda k: -scores[k])[:200]
    assert offer.options == (choices.keys[0], *best) and offer.kept_outside
    assert [scores[k] for k in offer.options[1:]] == sorted(
        (scores[k] for k in offer.options[1:]), reverse=True
    )
    assert offer.note() == (
        "Showing 200 of 20,000 matching images, highest score first: type to narrow. "
        "The image open stays on top, though it does not match."
    )


def test_other_choices_narrow_the_same_way_and_are_named_in_the_note():
    """Audit's verdict picker listed every verdict of a model: now narrowed as images are."""
    names = {f"v{i}": f"case-{i:05d} · L CC recent 2018 · {'Ann' if i % 2 else 'Bob'}"
             for i in range(500)}  # fmt: skip
    choices = choices_of(names)
    offer = narrow(choices, noun="verdict")
    assert len(offer.options) == 200 and offer.options[0] == "v0"
    assert offer.note() == "Showing 200 of 500 matching verdicts: type to narrow."
    offer = narrow(choices, "ann 0001", keep="v2", noun="verdict")  # cases 10-19, Ann's
    assert offer.options == ("v2", "v11", "v13", "v15", "v17", "v19")
    assert offer.note() == (
        "5 of 500 verdicts match the filter, all shown. "
        "The verdict open stays on top, though it does not match."
    )
    assert narrow(choices_of({"a": "x"}), noun="verdict").note() is None
    assert narrow(choices, "nobody", noun="verdict").note() == (
        "No verdict of 500 matches the filter."
    )
