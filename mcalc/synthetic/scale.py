"""A collection-sized index from a small one, for timing pages at a real collection's size.

Real collections hold far more images than the demo (VinDr-Mammo about 20,000): pickers,
name tables and lookups over the index are measured at that size on an index whose cases
repeat one case of a small dataset under new ids, its files shared (nothing is written).
"""

from __future__ import annotations

from dataclasses import replace

from mcalc.dataset.records import CaseRecord, DatasetIndex
from mcalc.errors import DatasetError

__all__ = ["repeated_index"]


def repeated_index(
    index: DatasetIndex, n_cases: int, *, alternate_sides: bool = False
) -> DatasetIndex:
    """``index`` with its first four-image case repeated ``n_cases`` times as
    ``case-00000``, ``case-00001``, ... (the same image files), in place of its cases.

    Args:
        index: a dataset with at least one case of four images (CC and MLO, two rounds).
        n_cases: how many cases the new index holds.
        alternate_sides: the cases' laterality L, R, L, ... (else the model case's).

    Raises:
        DatasetError: ``index`` has no case of four images.
    """
    model = next((c for c in index.cases if len(c.images) == 4), None)
    if model is None:
        raise DatasetError(
            f"expected a case of four images (CC and MLO, prior and recent) in {index.root}, "
            f"got cases of {sorted({len(c.images) for c in index.cases})} images"
        )

    def case(i: int) -> CaseRecord:
        case_id = f"case-{i:05d}"
        side = "LR"[i % 2] if alternate_sides else model.laterality
        images = tuple(replace(r, case_id=case_id) for r in model.images)
        return replace(model, case_id=case_id, laterality=side, images=images)

    return replace(index, cases=tuple(case(i) for i in range(n_cases)))
