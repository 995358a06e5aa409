"""How much a single calcification's measured size moves between rounds, against the truth.

The synthetic generator plants every calcification with its diameter in both rounds
(``mcalc_demo.json``): a BI-RADS 2 case's scattered ones are the same size in both, a
suspicious case's "smaller" cluster keeps its members nearest the centre at 0.7 scale in
the prior. For each calcification found in both rounds (:func:`mcalc.temporal.track`,
through the registration), this prints its measured diameter in each round (the GT mask's
disc of the same area; the prior's carried onto the recent image through the registration)
beside the planted ratio, and how many unchanged ones (planted ratio 1) and planted growths
(1.2 or more) each rule would call grown: the measurement behind
:data:`mcalc.temporal.change.CALC_GROWTH_RATIO` and ``CALC_GROWTH_MM``.

    python bench/calc_growth.py                       # data/demo
    python bench/calc_growth.py data/demo /tmp/demo1  # several sets (other --seed)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _folder(case_id: str) -> str:
    """``suspicious-3`` -> ``Suspicious_cases/3`` (the demo's truth is keyed by folder)."""
    group, number = case_id.split("-")
    return f"{'Normal' if group == 'normal' else 'Suspicious'}_cases/{number}"


def pairs(root: Path, cache_dir: Path) -> list[dict[str, float | str]]:
    """Every calcification of both rounds of ``root``: measured and planted sizes."""
    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.errors import McalcError
    from mcalc.temporal import register_pair
    from mcalc.temporal.change import pair_tracked

    truth = json.loads((root / "mcalc_demo.json").read_text())["images"]
    cache = ImageCache(cache_dir, default_spacing_mm=0.1)
    out: list[dict[str, float | str]] = []
    for case in open_dataset(root).cases:
        for view in ("CC", "MLO"):
            try:
                pair = register_pair(cache, case, view)
            except McalcError:
                continue
            planted = {
                tp: truth[f"{_folder(case.case_id)}/{view}_{tp}"]["calcs"]
                for tp in ("recent", "prior")
            }

            def near(calcs: list[dict], at: tuple[float, float]) -> float:
                d = [np.hypot(c["row"] - at[0], c["col"] - at[1]) for c in calcs]
                return float(calcs[int(np.argmin(d))]["diameter_px"])

            for t in pair_tracked(pair):
                if t.kind != "calcification" or t.recent is None or t.prior is None:
                    continue
                assert t.recent_size is not None and t.prior_size_at_recent is not None
                out.append(
                    {
                        "case": case.case_id,
                        "view": view,
                        "birads": case.birads or "",
                        "status": t.status,
                        "recent_mm": t.recent_size,
                        "prior_at_recent_mm": t.prior_size_at_recent,
                        "planted_ratio": near(planted["recent"], t.recent)
                        / near(planted["prior"], t.prior),
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", default=["data/demo"], help="synthetic sets")
    parser.add_argument("--cache", default="bench/out/cache", help="registration cache")
    args = parser.parse_args()
    rows = [r for root in args.roots for r in pairs(Path(root), Path(args.cache))]
    same = [r for r in rows if r["planted_ratio"] == 1.0]
    grew = [r for r in rows if float(r["planted_ratio"]) >= 1.2]
    for r in rows:
        r["ratio"] = float(r["recent_mm"]) / float(r["prior_at_recent_mm"])
        r["more_mm"] = float(r["recent_mm"]) - float(r["prior_at_recent_mm"])
    print(f"{len(rows)} found in both rounds: {len(same)} planted unchanged, {len(grew)} "
          "planted at least 1.2x larger")  # fmt: skip
    for what in ("ratio", "more_mm"):
        values = [float(r[what]) for r in same]
        print(f"unchanged, measured {what}: {min(values):.3f} to {max(values):.3f}")
    for ratio in (1.15, 1.2, 1.25):
        for more in (0.1, 0.12, 0.15):

            def called(r: dict) -> bool:
                return r["ratio"] >= ratio and r["more_mm"] >= more  # noqa: B023

            print(
                f"grown at >= {ratio}x and +{more} mm: unchanged called grown "
                f"{sum(map(called, same))}/{len(same)}, planted growths "
                f"{sum(map(called, grew))}/{len(grew)}"
            )
    print("as labelled now: unchanged grown", sum(r["status"] == "grown" for r in same),
          "planted growths grown", sum(r["status"] == "grown" for r in grew))  # fmt: skip


if __name__ == "__main__":
    main()
