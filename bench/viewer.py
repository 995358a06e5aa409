"""Viewer latency: a full-size DICOM pair from disk to the displayed view, cold and warm.

Prints each time beside the floor (raw pydicom decode of the same two files) as a ratio.

    python bench/viewer.py [--data DIR] [--repeat N]

Without ``--data`` a 3-case full-size (4096x3328) synthetic set is generated in a temporary
folder first (not timed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pydicom

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.present.viewer_figures import pair_figure
from mcalc.synthetic import generate_demo
from mcalc.viewer import DisplayOptions, prepare_view


def _timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset with full-size images (default: generate one)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-"))
    data = Path(args.data) if args.data else tmp / "full"
    if not args.data:
        print("generating a full-size synthetic set (not timed)…", file=sys.stderr)
        generate_demo(data, cases=3, seed=1, size="full")
    index = open_dataset(data)
    case = next(c for c in index.cases if c.group == "suspicious")
    pair = [case.image("CC", "prior"), case.image("CC", "recent")]
    opts = DisplayOptions()

    def floor() -> None:
        for rec in pair:
            _ = pydicom.dcmread(rec.image_path).pixel_array

    def show(cache: ImageCache) -> None:
        views = [prepare_view(cache, rec, opts) for rec in pair]
        pair_figure(views, ["prior", "recent"]).to_json()

    counter = iter(range(10_000))

    def cold() -> None:
        show(ImageCache(tmp / f"cache-{next(counter)}"))

    warm_cache = ImageCache(tmp / "cache-warm")
    show(warm_cache)

    def warm_disk() -> None:  # a new process: disk cache only
        show(ImageCache(tmp / "cache-warm"))

    t_floor = _timed(floor, args.repeat)
    rows = [
        ("raw pydicom decode (floor)", t_floor),
        ("cold: decode+annotations+view", _timed(cold, args.repeat)),
        ("warm, disk cache (new process)", _timed(warm_disk, args.repeat)),
        ("warm, memory (same process)", _timed(lambda: show(warm_cache), args.repeat)),
    ]
    shape = warm_cache.load(pair[0].image_path).shape
    print(f"pair {pair[0].key} + {pair[1].key}, {shape[0]}x{shape[1]}, median of {args.repeat}")
    for name, t in rows:
        print(f"{name:34s} {t * 1000:8.0f} ms   ratio to floor {t / t_floor:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
