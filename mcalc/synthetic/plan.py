"""Planning the synthetic set: which cases, their metadata, and the real set's name quirks.

Everything here is drawn from the ``STREAM_PLAN`` stream, before any pixel is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcalc.dataset.zenodo import GROUP_FOLDERS, NOT_AVAILABLE
from mcalc.synthetic.spec import CLUSTER_SIZE, STREAM_PLAN, stream_rng

__all__ = ["Case", "plan_cases", "name_quirks"]


# Case mix of the real set (DATASET.md), scaled to the requested number of cases.
_NORMAL_MIX = {"1": 22, "2": 28}
_SUSPICIOUS_MIX = {"4a": 27, "4b": 15, "4c": 6, "5": 2}
_BIOPSY = ("benign", "DCIS", "malignant", NOT_AVAILABLE)
_BIOPSY_P = {
    "4a": (0.55, 0.05, 0.0, 0.40),
    "4b": (0.40, 0.15, 0.10, 0.35),
    "4c": (0.20, 0.30, 0.30, 0.20),
    "5": (0.0, 0.30, 0.60, 0.10),
}
_DENSITY = ("a", "b", "c", "d")
_DENSITY_P = (0.1, 0.4, 0.4, 0.1)


@dataclass(frozen=True)
class Case:
    """One case folder's metadata and the random choices that shape its images."""

    index: int
    group: str
    folder: int
    birads: str
    laterality: str
    age: int
    density: str
    years_between: int
    prior_year: int
    recent_year: int
    prior_date: str
    recent_date: str
    biopsy: str
    patient_id: str
    cluster_size: int
    prior_cluster: str
    scattered: int

    @property
    def available(self) -> str:
        return f"{self.prior_year}-{self.recent_year}"

    @property
    def suspicious(self) -> bool:
        return self.group == GROUP_FOLDERS["suspicious"]


def _allocate(total: int, weights: dict[str, int], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), ``minimum`` each."""
    counts = dict.fromkeys(weights, minimum)
    rest = total - minimum * len(weights)
    wsum = float(sum(weights.values()))
    quotas = {k: rest * w / wsum for k, w in weights.items()}
    for k, q in quotas.items():
        counts[k] += int(np.floor(q))
    left = total - sum(counts.values())
    by_fraction = sorted(weights, key=lambda k: -(quotas[k] - np.floor(quotas[k])))
    for k in by_fraction[:left]:
        counts[k] += 1
    return counts


def plan_cases(cases: int, seed: int) -> list[Case]:
    """Metadata of every case, normal ones first, each group numbered from 1."""
    rng = stream_rng(seed, STREAM_PLAN)
    n_normal = max(2, cases // 2)
    n_suspicious = cases - n_normal
    labels: list[tuple[str, str]] = []
    for group, n, mix, minimum in (
        (GROUP_FOLDERS["normal"], n_normal, _NORMAL_MIX, 1),
        (GROUP_FOLDERS["suspicious"], n_suspicious, _SUSPICIOUS_MIX, 0),
    ):
        categories = [k for k, c in _allocate(n, mix, minimum).items() for _ in range(c)]
        order = rng.permutation(len(categories))
        labels.extend((group, categories[i]) for i in order)

    plans: list[Case] = []
    folders = dict.fromkeys(GROUP_FOLDERS.values(), 0)
    for index, (group, birads) in enumerate(labels):
        folders[group] += 1
        suspicious = group == GROUP_FOLDERS["suspicious"]
        recent_year = int(rng.integers(2012, 2020))
        years = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
        age_mean = 62.0 if suspicious else 56.0
        lo, hi = CLUSTER_SIZE.get(birads, (0, 0))
        plans.append(
            Case(
                index=index,
                group=group,
                folder=folders[group],
                birads=birads,
                laterality=str(rng.choice(["L", "R"])),
                age=int(np.clip(round(rng.normal(age_mean, 10.0)), 38, 83)),
                density=str(rng.choice(_DENSITY, p=_DENSITY_P)),
                years_between=years,
                prior_year=recent_year - years,
                recent_year=recent_year,
                prior_date=_date(rng, recent_year - years),
                recent_date=_date(rng, recent_year),
                biopsy=str(rng.choice(_BIOPSY, p=_BIOPSY_P[birads]))
                if suspicious
                else NOT_AVAILABLE,
                patient_id=f"MCALC-SYN-{group[0]}{folders[group]:03d}",
                cluster_size=int(rng.integers(lo, hi + 1)) if suspicious else 0,
                prior_cluster=str(rng.choice(["absent", "smaller"], p=[0.4, 0.6]))
                if suspicious
                else "none",
                scattered=int(rng.integers(0, 3)) if suspicious else 0,
            )
        )
    return plans


def _date(rng: np.random.Generator, year: int) -> str:
    return f"{year:04d}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"


def name_quirks(plans: list[Case]) -> list[dict[str, str]]:
    """The real set's file-name quirks, placed deterministically on distinct files.

    With the minimum of 3 cases (2 normal, 1 suspicious) all four still land on different
    files: the first normal case gets a misspelled GT, the last normal an upper-case
    ``.DCM`` (and the ``.Jpg`` GT when there is a single suspicious case), the first
    suspicious case the misspelled ``CC_recemt.dcm``.
    """
    normals = [p for p in plans if not p.suspicious]
    suspicious = [p for p in plans if p.suspicious]
    jpg_case = suspicious[-1] if len(suspicious) >= 2 else normals[-1]
    chosen = (
        (normals[-1], "MLO_prior.dcm", "MLO_prior.DCM", "upper-case extension"),
        (suspicious[0], "CC_recent.dcm", "CC_recemt.dcm", "misspelled DICOM name"),
        (normals[0], "CC_recent_GT.jpg", "CC_reent_GT.jpg", "misspelled GT name"),
        (jpg_case, "CC_recent_GT.jpg", "CC_recent_GT.Jpg", "mixed-case GT suffix"),
    )
    return [
        {"folder": f"{p.group}/{p.folder}", "expected": exp, "file": name, "kind": kind}
        for p, exp, name, kind in chosen
    ]
