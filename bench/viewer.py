"""Viewer latency: a full-size DICOM pair from disk to the displayed view, cold and warm.

Prints each time beside the floor (raw decode of the same files: pydicom for the two DICOM
images, OpenCV for their two annotation JPEGs) as a ratio.

    python bench/viewer.py [--data DIR] [--repeat N]

Without ``--data`` the full-size (4096x3328) synthetic set of ``bench/predict.py`` is used
(generated once under ``bench/out``, not timed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import pydicom
from figures import figure, median_of

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.present import panel_cache
from mcalc.present.viewer_figures import pair_figure
from mcalc.viewer import DisplayOptions, prepare_views


def _case(data: Path | None):
    if data is None:
        from predict import full_size_data

        data = full_size_data()
    index = open_dataset(data)
    return next(c for c in index.cases if c.group == "suspicious")


def _pair(data: Path | None):
    case = _case(data)
    return [case.image("CC", "prior"), case.image("CC", "recent")]


def measure(data: Path | None = None, repeat: int = 3) -> dict:
    """Seconds of each path (median of ``repeat``) and the pair's shape."""
    pair = _pair(data)
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-"))
    opts = DisplayOptions()

    def floor() -> None:
        for rec in pair:
            _ = pydicom.dcmread(rec.image_path).pixel_array
            if rec.annotation_path is not None:
                cv2.imread(str(rec.annotation_path), cv2.IMREAD_UNCHANGED)

    counter = iter(range(10_000))

    def cold() -> None:
        prepare_views(ImageCache(tmp / f"cache-{next(counter)}"), pair, opts)

    warm_cache = ImageCache(tmp / "cache-warm")
    views = prepare_views(warm_cache, pair, opts)

    def warm_disk() -> None:  # a new process: disk cache only
        prepare_views(ImageCache(tmp / "cache-warm"), pair, opts)

    floor()  # the files in the page cache for every path alike
    out = {
        "pair": f"{pair[0].key} + {pair[1].key}",
        "shape": list(views[0].full_shape),
        "floor_s": median_of(floor, repeat),
        "cold_s": median_of(cold, repeat),
        "warm_disk_s": median_of(warm_disk, repeat),
        "warm_memory_s": median_of(lambda: prepare_views(warm_cache, pair, opts), repeat),
        "figure_json_s": median_of(lambda: pair_figure(views, ["prior", "recent"]).to_json(), 3),
    }
    # Browse's reading viewer: the case's four panels, then a display toggle (invert), warm.
    case = _case(data)
    max_side = 1024
    panel_cache.case_panels(warm_cache, case, opts, max_side)
    flips = iter(range(10_000))
    out["toggle_s"] = median_of(
        lambda: panel_cache.case_panels(
            warm_cache, case, replace(opts, invert=next(flips) % 2 == 0), max_side
        ),
        repeat,
    )
    return out


def figures(quick: bool = False) -> list[dict]:
    """``bench/all.py``'s viewer figures."""
    m = measure(repeat=3 if quick else 5)
    return [
        figure(
            "viewer: full-size pair from disk to view, cold",
            m["cold_s"],
            m["floor_s"],
            "<= 1.5x",
            shape=m["shape"],
        ),
        figure(
            "viewer: Browse display toggle (4 panels), server side",
            m["toggle_s"],
            None,
            "< 50 ms",
        ),
        figure(
            "viewer: case switch, warm, server side",
            m["warm_memory_s"],
            None,
            "< 50 ms",
            figure_json_s=round(m["figure_json_s"], 4),
            warm_disk_s=round(m["warm_disk_s"], 4),
        ),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset with full-size images (default: bench/out's)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    m = measure(Path(args.data) if args.data else None, args.repeat)
    print(f"pair {m['pair']}, {m['shape'][0]}x{m['shape'][1]}, median of {args.repeat}")
    rows = [
        ("raw decode, DICOM + JPEG (floor)", m["floor_s"]),
        ("cold: decode+annotations+view", m["cold_s"]),
        ("warm, disk cache (new process)", m["warm_disk_s"]),
        ("warm, memory (same process)", m["warm_memory_s"]),
        ("pair figure to JSON", m["figure_json_s"]),
        ("Browse toggle, 4 panels (warm)", m["toggle_s"]),
    ]
    for name, t in rows:
        print(f"{name:34s} {t * 1000:8.0f} ms   ratio to floor {t / m['floor_s']:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
