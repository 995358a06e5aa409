"""The split is by patient: no patient is ever in two sets."""

from __future__ import annotations

import pytest

from mcalc.errors import DatasetError
from mcalc.models.split import Split, split_by_patient

GROUPS = ("normal", "benign", "suspicious")


def _rows(n_patients: int, cases_per_patient: int = 2):
    return [
        (f"p{p}", f"c{p}-{k}", GROUPS[p % 3])
        for p in range(n_patients)
        for k in range(cases_per_patient)
    ]


@pytest.mark.parametrize("n", [3, 4, 7, 12, 50, 100])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_patient_in_two_sets(n: int, seed: int) -> None:
    split = split_by_patient(_rows(n), seed=seed)
    sets = [set(split.patients[name]) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert set().union(*sets) == {f"p{p}" for p in range(n)}
    cases = split.train + split.val + split.test
    assert len(cases) == len(set(cases)) == 2 * n
    for name in ("train", "val", "test"):  # both cases of a patient go together
        assert {c.split("-")[0][1:] for c in getattr(split, name)} == {
            p[1:] for p in split.patients[name]
        }


def test_seeded_and_stratified() -> None:
    a, b = split_by_patient(_rows(30), seed=3), split_by_patient(_rows(30), seed=3)
    assert a == b
    assert a != split_by_patient(_rows(30), seed=4)
    group = {f"p{p}": GROUPS[p % 3] for p in range(30)}
    for name in ("train", "val", "test"):
        assert {group[p] for p in a.patients[name]} == set(GROUPS)


def test_too_few_patients() -> None:
    with pytest.raises(DatasetError, match="too few patients"):
        split_by_patient(_rows(2), seed=0)


def test_round_trip_through_dict() -> None:
    split = split_by_patient(_rows(9), seed=0)
    assert Split.from_dict(split.as_dict()) == split


def test_a_fold_split_records_the_shares_of_all_patients() -> None:
    """``val_fraction`` is a share of the patients left after the test fold; the split's
    ``fractions`` (kept on the card) are shares of all patients, and with 20 patients in 5
    folds and a quarter of the rest validating, the sets hold 12, 4 and 4: (0.6, 0.2, 0.2).
    Before the fix the card read (0.55, 0.25, 0.2): the rest's share as all patients'."""
    from types import SimpleNamespace

    from mcalc.models.split import fold_split

    cases = [
        SimpleNamespace(patient_id=f"p{i}", case_id=f"c{i}", birads_group="normal")
        for i in range(20)
    ]
    s = fold_split(cases, 5, 0, val_fraction=0.25)  # type: ignore[arg-type]
    assert (len(s.train), len(s.val), len(s.test)) == (12, 4, 4)
    assert s.fractions == pytest.approx((0.6, 0.2, 0.2))
