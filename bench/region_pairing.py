"""How many top regions two analyses of the same images share, by the pairing rule.

Reads two results tables (``results.parquet`` of a batch run or of ``python -m mcalc
predict --all --out DIR``: each image's ``top_regions``) and pairs each image's regions of
one with the other's, one-to-one (:func:`mcalc.store.region_calls.pair_calls`): at the same
centre to the pixel (the agreement's rule until 7 December 2026) and at several box
overlaps (IoU; :data:`~mcalc.store.region_calls.PAIR_IOU` is the rule now). Two readers who
judged an image with these two analyses could agree on at most that many regions.

Usage: ``python bench/region_pairing.py RUN_A RUN_B`` from a checkout's root, e.g. the
demo with two versions of a model::

    python -m mcalc predict --model demo-custom --data data/demo --all --cam none --out /tmp/a
    python -m mcalc predict --model OTHER --data data/demo --all --cam none --out /tmp/b
    python bench/region_pairing.py /tmp/a /tmp/b
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))


def regions_by_image(folder: Path) -> dict[str, list]:  # type: ignore[type-arg]
    """Each image's top regions in ``folder``'s results table, as calls (the call unused)."""
    from mcalc.batch.table import read_results
    from mcalc.store.region_calls import RegionCall

    table = read_results(folder)
    out = {}
    for row in table.itertuples(index=False):
        raw = json.loads(str(row.top_regions or "[]"))
        out[str(row.image_key)] = [
            RegionCall(r["rank"], r["center"], r["score"], "unsure", r["box"]) for r in raw
        ]
    return out


def main() -> None:
    from mcalc.store.region_calls import pair_calls

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    args = parser.parse_args()
    a, b = regions_by_image(args.run_a), regions_by_image(args.run_b)
    both = [k for k in a if a[k] and b.get(k)]
    print(
        f"{len(both)} images list regions in both: {sum(len(a[k]) for k in both)} and "
        f"{sum(len(b[k]) for k in both)} regions"
    )
    same = sum(
        len(
            {tuple(round(v) for v in c.center) for c in a[k]}
            & {tuple(round(v) for v in c.center) for c in b[k]}
        )
        for k in both
    )
    print(f"same centre to the pixel: {same} pairs")
    for t in (0.7, 0.5, 0.3, 0.1):
        groups = [g for k in both for g in pair_calls({"a": a[k], "b": b[k]}, t)]
        paired = [g for g in groups if len(g) == 2]
        off = [np.hypot(*np.subtract(g["a"].center, g["b"].center)) for g in paired]
        spread = (
            f", centres {np.median(off):.1f} px apart (median), {max(off):.1f} max" if off else ""
        )
        print(f"box IoU >= {t}: {len(paired)} pairs{spread}")


if __name__ == "__main__":
    main()
