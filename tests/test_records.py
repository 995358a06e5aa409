"""DatasetIndex: the cases before and after one in a page's list of ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord


@pytest.fixture()
def index() -> DatasetIndex:
    cases = tuple(CaseRecord(case_id=c, patient_id=c, images=()) for c in "abcde")
    return DatasetIndex(Path("."), "manifest", False, cases)


@pytest.mark.parametrize(
    ("ids", "case_id", "n", "after", "before"),
    [
        (list("abcde"), "a", 2, ["b", "c"], None),
        (list("abcde"), "c", 2, ["d", "e"], "b"),
        (list("abcde"), "d", 2, ["e"], "c"),
        (list("abcde"), "e", 2, [], "d"),
        (list("abcde"), "b", 1, ["c"], "a"),
        (["e", "a", "c"], "a", 2, ["c"], "e"),  # the page's order, filtered
        (["a", "c"], "b", 2, [], None),  # not listed (filtered out): no neighbours
        ([], "a", 2, [], None),
    ],
)
def test_next_cases_and_previous_case_follow_the_listed_order(
    index: DatasetIndex,
    ids: list[str],
    case_id: str,
    n: int,
    after: list[str],
    before: str | None,
) -> None:
    assert [c.case_id for c in index.next_cases(ids, case_id, n)] == after
    prev = index.previous_case(ids, case_id)
    assert (prev.case_id if prev else None) == before


def test_an_id_not_in_the_index_is_a_key_error(index: DatasetIndex) -> None:
    with pytest.raises(KeyError, match="no case 'zz'"):
        index.next_cases(["a", "zz"], "a")


@pytest.mark.parametrize(
    "available, prior, recent",
    [("2015-2018", "2015", "2018"), ("2015 and 2018", "2015", "2018"), ("2018", None, None),
     (None, None, None)],
)  # fmt: skip
def test_exam_year_of_each_round_from_the_exam_years(available, prior, recent) -> None:
    """The year of each round where the exam years give one per round (the case report's
    and the viewer's titles); none where they do not, never a guess."""
    case = CaseRecord("c", "p", (), available=available)
    assert (case.exam_year("prior"), case.exam_year("recent")) == (prior, recent)
    with pytest.raises(ValueError, match="timepoint must be one of"):
        case.exam_year("later")


def _image(case: str, view: str, tp: str, annotated: bool = True) -> ImageRecord:
    return ImageRecord(
        case, view, tp, Path(f"{case}_{view}.png"), Path("a.png") if annotated else None
    )


def test_views_rounds_and_the_view_a_case_shows() -> None:
    """mini-MIAS has MLO films only, one round; a CBIS-DDSM case may have CC alone: Predict
    opened every such case on CC, which none of them has."""
    mlo = CaseRecord("m", "p", (_image("m", "MLO", "recent"),))
    cc = CaseRecord("c", "p", (_image("c", "CC", "recent"),))
    mias = DatasetIndex(Path("."), "manifest", False, (mlo,))
    assert (mias.views(), mias.rounds()) == (("MLO",), ("recent",))
    assert DatasetIndex(Path("."), "manifest", False, (cc, mlo)).views() == ("CC", "MLO")
    assert DatasetIndex(Path("."), "manifest", False, ()).views() == ("CC", "MLO")
    assert (mlo.views, mlo.view_shown("CC"), mlo.view_shown("MLO")) == (("MLO",), "MLO", "MLO")
    assert CaseRecord("e", "p", ()).view_shown("CC") == "CC"
    with pytest.raises(ValueError, match="view must be one of"):
        mlo.view_shown("LM")


def test_annotated_images_leave_out_the_unreadable() -> None:
    """Home showed "Images 7 of 8" beside "Annotated images 8": the unreadable image counted."""
    case = CaseRecord(
        "c", "p", (_image("c", "CC", "recent"), _image("c", "MLO", "recent", annotated=False))
    )
    index = DatasetIndex(Path("."), "manifest", False, (case,))
    assert index.annotated_images() == 1
    assert index.annotated_images(leaving_out=["c/CC_recent"]) == 0
    assert index.annotated_images(leaving_out=["c/MLO_recent"]) == 1
