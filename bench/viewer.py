"""Viewer latency: full-size DICOM images from disk to the displayed view, cold and warm.

Prints each time beside the floor (raw decode of the same files: pydicom for the DICOM
images, OpenCV for their annotation JPEGs, one after the other) as a ratio. Two cold paths:
the classic viewer's pair (:func:`mcalc.viewer.prepare_views`, an RGB preview with the marks
drawn in) and Browse's reading viewer on a case (:func:`mcalc.present.panel_cache.case_panels`:
four images to panels, 16-bit values base64-encoded, marks, window presets). Each cold run
starts from an empty cache; floors and cold runs take turns (medians), and the cache files a
cold run leaves to its writer thread are waited for after its clock stops (``*_written_s``).

    python bench/viewer.py [--data DIR] [--repeat N]

Without ``--data`` the full-size (4096x3328) synthetic set of ``bench/predict.py`` is used
(generated once under ``bench/out``, not timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import pydicom
from figures import figure, median_of

from mcalc.cache import ImageCache, flush_writes
from mcalc.dataset import open_dataset
from mcalc.dataset.records import ImageRecord
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


def _raw_decode(recs: list[ImageRecord]) -> None:
    """The floor: every DICOM and annotation JPEG of ``recs`` decoded, nothing else."""
    for rec in recs:
        _ = pydicom.dcmread(rec.image_path).pixel_array
        if rec.annotation_path is not None:
            cv2.imread(str(rec.annotation_path), cv2.IMREAD_UNCHANGED)


def _in_turn(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each run, the runs taking turns ``repeat`` times, so that a shared
    machine's load falls on all of them alike. After each run's clock stops, the cache
    files it left to the writer thread are waited for: ``<name>_written_s`` adds that wait."""
    times: dict[str, list[float]] = {}
    for _ in range(max(1, repeat)):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            t1 = time.perf_counter()
            flush_writes()
            times.setdefault(name, []).append(t1 - t0)
            times.setdefault(f"{name}_written", []).append(time.perf_counter() - t0)
    return {f"{k}_s": statistics.median(v) for k, v in times.items()}


def measure(data: Path | None = None, repeat: int = 3) -> dict:
    """Seconds of each path (medians of ``repeat``), the pair's shape and the load average."""
    case = _case(data)
    pair = [case.image("CC", "prior"), case.image("CC", "recent")]
    images = [r for r in case.images if r is not None]
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-"))
    opts = DisplayOptions()
    max_side = 1024
    counter = iter(range(10_000))

    def cold() -> None:
        prepare_views(ImageCache(tmp / f"cache-{next(counter)}"), pair, opts)

    def cold_case() -> None:  # Browse: a case never shown, in no cache
        panel_cache.clear()
        panel_cache.case_panels(ImageCache(tmp / f"cache-{next(counter)}"), case, opts, max_side)

    load_before = os.getloadavg()
    try:
        _raw_decode(images)  # the files in the page cache for every path alike
        out: dict = {
            "pair": f"{pair[0].key} + {pair[1].key}",
            "case_images": len(images),
            **_in_turn(
                {
                    "floor": lambda: _raw_decode(pair),
                    "cold": cold,
                    "case_floor": lambda: _raw_decode(images),
                    "case_cold": cold_case,
                },
                repeat,
            ),
        }
        warm_cache = ImageCache(tmp / "cache-warm")
        views = prepare_views(warm_cache, pair, opts)
        flush_writes()
        out["shape"] = list(views[0].full_shape)

        def warm_disk() -> None:  # a new process: disk cache only
            prepare_views(ImageCache(tmp / "cache-warm"), pair, opts)

        out["warm_disk_s"] = median_of(warm_disk, repeat)
        out["warm_memory_s"] = median_of(lambda: prepare_views(warm_cache, pair, opts), 3 * repeat)
        out["figure_json_s"] = median_of(
            lambda: pair_figure(views, ["prior", "recent"]).to_json(), 3
        )
        # Browse's reading viewer: the case's four panels, then a display toggle (invert), warm.
        panel_cache.case_panels(warm_cache, case, opts, max_side)
        flips = iter(range(10_000))
        out["toggle_s"] = median_of(
            lambda: panel_cache.case_panels(
                warm_cache, case, replace(opts, invert=next(flips) % 2 == 0), max_side
            ),
            repeat,
        )
    finally:
        flush_writes()
        shutil.rmtree(tmp, ignore_errors=True)
    out["load"] = [round(v, 1) for v in (*load_before, os.getloadavg()[0])]
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
            cold_written_s=round(m["cold_written_s"], 4),
        ),
        figure(
            "viewer: Browse cold case (4 images) from disk to panels",
            m["case_cold_s"],
            m["case_floor_s"],
            "<= 1.5x",
            case_cold_written_s=round(m["case_cold_written_s"], 4),
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
    print(
        f"pair {m['pair']}, {m['shape'][0]}x{m['shape'][1]}, median of {args.repeat}, "
        f"load average {m['load'][0]} {m['load'][1]} {m['load'][2]} (1 min after: {m['load'][3]})"
    )
    pair_rows = [
        ("raw decode, DICOM + JPEG (floor)", m["floor_s"]),
        ("cold: decode+annotations+view", m["cold_s"]),
        ("  + its cache files written", m["cold_written_s"]),
        ("warm, disk cache (new process)", m["warm_disk_s"]),
        ("warm, memory (same process)", m["warm_memory_s"]),
        ("pair figure to JSON", m["figure_json_s"]),
    ]
    for name, t in pair_rows:
        print(f"{name:34s} {t * 1000:8.0f} ms   ratio to floor {t / m['floor_s']:5.1f}x")
    print(f"Browse, a case of {m['case_images']} images:")
    case_rows = [
        ("raw decode, DICOM + JPEG (floor)", m["case_floor_s"]),
        ("cold: decode+annotations+panels", m["case_cold_s"]),
        ("  + its cache files written", m["case_cold_written_s"]),
        ("toggle, 4 panels (warm)", m["toggle_s"]),
    ]
    for name, t in case_rows:
        print(f"{name:34s} {t * 1000:8.0f} ms   ratio to floor {t / m['case_floor_s']:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
