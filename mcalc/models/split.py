"""Train / validation / test split by patient, seeded and stratified.

Prior and recent images of one breast are near-duplicates, and one patient may have two
cases: splitting by image or by patch would leak. Every case of a patient goes to the same
set. Patients are stratified by their most severe BI-RADS group so each set sees each group.

Example:
    >>> s = split_by_patient([(f"p{i}", f"c{i}", "normal" if i % 2 else "suspicious")
    ...                       for i in range(10)], seed=0)
    >>> sorted(map(len, (s.train, s.val, s.test)))
    [2, 2, 6]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.errors import DatasetError
from mcalc.plural import counted

if TYPE_CHECKING:
    from mcalc.dataset.records import CaseRecord

__all__ = [
    "Split",
    "split_by_patient",
    "split_cases",
    "patient_folds",
    "fold_split",
    "MIN_PATIENTS",
]

#: Fewest patients a split can be made of (one per set).
MIN_PATIENTS = 3

_SEVERITY = {"suspicious": 3, "benign": 2, "normal": 1}


@dataclass(frozen=True)
class Split:
    """Case ids (and their patients) of each set.

    Attributes:
        train, val, test: case ids, sorted.
        patients: set name -> sorted patient ids.
        seed: the seed used.
        fractions: (train, val, test) fractions asked for.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    patients: dict[str, tuple[str, ...]]
    seed: int
    fractions: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "patients": {k: list(v) for k, v in self.patients.items()},
            "seed": self.seed,
            "fractions": list(self.fractions),
            "by": "patient",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        return cls(
            tuple(data["train"]),
            tuple(data["val"]),
            tuple(data["test"]),
            {k: tuple(v) for k, v in data.get("patients", {}).items()},
            int(data.get("seed", 0)),
            tuple(data.get("fractions", (0.6, 0.2, 0.2))),
        )


def _counts(n: int, val: float, test: float) -> tuple[int, int, int]:
    if n >= 3:
        n_test = max(1, round(n * test))
        n_val = max(1, round(n * val))
        while n - n_test - n_val < 1:
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        return n - n_val - n_test, n_val, n_test
    if n == 2:
        return 1, 0, 1
    return n, 0, 0


def split_by_patient(
    rows: Iterable[tuple[str, str, str | None]],
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> Split:
    """Split ``(patient_id, case_id, group)`` rows by patient, stratified by group.

    Raises:
        DatasetError: fewer than :data:`MIN_PATIENTS` patients, or a set would be empty.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    cases_of: dict[str, list[str]] = defaultdict(list)
    severity: dict[str, int] = defaultdict(int)
    for patient, case, group in rows:
        cases_of[patient].append(case)
        severity[patient] = max(severity[patient], _SEVERITY.get(group or "", 0))
    if len(cases_of) < MIN_PATIENTS:
        raise DatasetError(
            f"too few patients to split: need at least {MIN_PATIENTS} (one per set), "
            f"got {len(cases_of)}"
        )
    rng = np.random.default_rng(seed)
    strata: dict[int, list[str]] = defaultdict(list)
    for patient in sorted(cases_of):
        strata[severity[patient]].append(patient)
    sets: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for level in sorted(strata):
        patients = [strata[level][i] for i in rng.permutation(len(strata[level]))]
        n_train, n_val, _ = _counts(len(patients), fractions[1], fractions[2])
        sets["train"] += patients[:n_train]
        sets["val"] += patients[n_train : n_train + n_val]
        sets["test"] += patients[n_train + n_val :]
    # Tiny strata may leave a set empty: move a training patient of the stratum with the
    # most training patients (test first: a model without a test set has no metrics).
    for name in ("test", "val"):
        if not sets[name] and len(sets["train"]) > 1:
            level = max(strata, key=lambda s: sum(severity[p] == s for p in sets["train"]))
            donor = next(p for p in reversed(sets["train"]) if severity[p] == level)
            sets["train"].remove(donor)
            sets[name].append(donor)
    empty = [name for name, members in sets.items() if not members]
    if empty:
        raise DatasetError(
            f"too few patients to split: the {', '.join(empty)} {'set' if len(empty) == 1 else 'sets'} would be empty "
            f"with {counted(len(cases_of), 'patient')}; add cases"
        )
    cases = {
        name: tuple(sorted(c for p in members for c in cases_of[p]))
        for name, members in sets.items()
    }
    return Split(
        cases["train"],
        cases["val"],
        cases["test"],
        {name: tuple(sorted(members)) for name, members in sets.items()},
        seed,
        tuple(fractions),  # type: ignore[arg-type]
    )


def split_cases(
    cases: Sequence[CaseRecord],
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> Split:
    """:func:`split_by_patient` over a dataset's cases (patient id, case id, BI-RADS group)."""
    return split_by_patient(
        ((c.patient_id, c.case_id, c.birads_group) for c in cases), seed=seed, fractions=fractions
    )


def patient_folds(
    rows: Iterable[tuple[str, str, str | None]], k: int, *, seed: int = 0
) -> list[tuple[str, ...]]:
    """``k`` folds of patients, stratified by BI-RADS group, seeded: the patients of each
    group are shuffled and dealt round-robin, continuing where the previous group stopped,
    so fold sizes differ by at most one. ``k`` = number of patients: leave-one-patient-out.

    Example:
        >>> rows = [(f"p{i}", f"c{i}", "normal" if i % 2 else "suspicious") for i in range(6)]
        >>> [len(f) for f in patient_folds(rows, 3)]
        [2, 2, 2]

    Raises:
        DatasetError: fewer patients than folds. ValueError: ``k < 2``.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    severity: dict[str, int] = defaultdict(int)
    for patient, _, group in rows:
        severity[patient] = max(severity[patient], _SEVERITY.get(group or "", 0))
    if len(severity) < k:
        raise DatasetError(
            f"{k} folds need at least {k} patients, got {len(severity)}: use fewer folds"
        )
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    turn = 0
    for level in sorted(set(severity.values())):
        patients = sorted(p for p, s in severity.items() if s == level)
        for i in rng.permutation(len(patients)):
            folds[turn % k].append(patients[i])
            turn += 1
    return [tuple(sorted(f)) for f in folds]


def fold_split(
    cases: Sequence[CaseRecord],
    k: int,
    fold: int,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> Split:
    """The split of fold ``fold`` of :func:`patient_folds`: its patients are the test set;
    of the others, ``val_fraction`` (at least one patient) validate and the rest train.

    Raises:
        DatasetError: too few patients. ValueError: ``fold`` out of range.
    """
    if not 0 <= fold < k:
        raise ValueError(f"fold must be in 0..{k - 1}, got {fold}")
    rows = [(c.patient_id, c.case_id, c.birads_group) for c in cases]
    folds = patient_folds(rows, k, seed=seed)
    test = set(folds[fold])
    rest = [p for i, f in enumerate(folds) if i != fold for p in f]
    rng = np.random.default_rng(seed + 1 + fold)
    rest = [rest[i] for i in rng.permutation(len(rest))]
    n_val = max(1, round(len(rest) * val_fraction)) if len(rest) > 1 else 0
    if n_val == 0:
        raise DatasetError(f"fold {fold} of {k} leaves too few patients to train and validate")
    members = {"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": sorted(test)}
    by_patient: dict[str, list[str]] = defaultdict(list)
    for patient, case, _ in rows:
        by_patient[patient].append(case)
    cases_of = {n: tuple(sorted(c for p in m for c in by_patient[p])) for n, m in members.items()}
    return Split(
        cases_of["train"],
        cases_of["val"],
        cases_of["test"],
        {n: tuple(m) for n, m in members.items()},
        seed,
        # Shares of all patients: ``val_fraction`` is a share of those left after the test fold.
        ((1.0 - 1.0 / k) * (1.0 - val_fraction), (1.0 - 1.0 / k) * val_fraction, 1.0 / k),
    )
