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
