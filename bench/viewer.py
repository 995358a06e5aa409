"""Viewer latency: full-size DICOM images from disk to the displayed view, cold and warm.

Prints each time beside the floor (raw decode of the same files: pydicom for the DICOM
images, OpenCV for their annotation JPEGs, one after the other) as a ratio. Two cold paths:
the classic viewer's pair (:func:`mcalc.viewer.prepare_views`, an RGB preview with the marks
drawn in) and Browse's reading viewer on a case (:func:`mcalc.present.panel_cache.case_panels`:
four images to panels, 16-bit values base64-encoded, marks, window presets).

Each cold path is measured as the explanation rows are (:func:`figures.paired`): a cold run
and a floor back to back, pairs repeated for a few seconds, the pair of median ratio kept;
the JSON gives the pair count and the ratios' p10-p90. "Cold" is the app's caches empty (a
new image cache on an empty folder, Browse's panel cache cleared); the files are in the OS
page cache for both sides (read once before), and the process has run the path once (its
imports and first calls), as a running server has. The cache files a cold run leaves to its
writer thread are waited for after its clock stops (``*_written_s``) and removed before the
next call, so no call pays for the one before it.

    python bench/viewer.py [--data DIR] [--repeat N] [--min-seconds S]

Without ``--data`` the full-size (4096x3328) synthetic set of ``bench/predict.py`` is used
(generated once under ``bench/out``, not timed).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import numpy as np
import pydicom
from figures import figure, median_index, median_of, paired

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
    """The floor: every DICOM and annotation JPEG of ``recs`` decoded, one after the other,
    nothing else. The JPEG is decoded straight into NumPy's memory (``cv2.imread``'s ``dst``
    overload, as :func:`mcalc.annotations.align.load_annotation_mask` does): without it
    OpenCV decodes into its own buffer and copies 40 MB out, faulting every page in, which
    cost 0.11-0.51 s of CPU for the pair here against 0.08-0.10 s with it (5 December): a
    floor that swung with the machine's page-fault cost, not with decoding."""
    for rec in recs:
        _ = pydicom.dcmread(rec.image_path).pixel_array
        if rec.annotation_path is not None:
            cv2.imread(str(rec.annotation_path), None, cv2.IMREAD_UNCHANGED)


def _cpu_s() -> float:
    """CPU seconds of this process so far, every thread (the cache writer's too)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


class _Cold:
    """A cold path against its floor, for :func:`figures.paired`: each call of :meth:`value`
    gets an empty cache folder; :meth:`settle` (off both clocks) waits for the files the call
    left to the writer thread, notes that wait and the call's CPU (all threads, its writes
    included), and removes the folder, so no call pays for its predecessor's writes or
    finds its page cache full of them."""

    def __init__(self, tmp: Path, run: Callable[[ImageCache], object], floor: Callable[[], object]):
        self.tmp, self.run, self.floor = tmp, run, floor
        self.folder: Path | None = None
        self.cpu0 = 0.0
        self.written: list[float] = []  # per value call: the writer's wait after its clock
        self.cpu: list[float] = []  # per call, value and floor in turn

    def value(self) -> None:
        self.folder = Path(tempfile.mkdtemp(dir=self.tmp))
        self.cpu0 = _cpu_s()
        self.run(ImageCache(self.folder))

    def floor_call(self) -> None:
        self.folder = None
        self.cpu0 = _cpu_s()
        self.floor()

    def settle(self) -> None:
        t0 = time.perf_counter()
        flush_writes()
        self.cpu.append(_cpu_s() - self.cpu0)
        if self.folder is not None:
            self.written.append(time.perf_counter() - t0)
            shutil.rmtree(self.folder, ignore_errors=True)

    def measure(self, repeat: int, min_seconds: float) -> dict:
        """The median pair (value, floor), its writer wait and CPU, every pair's ratio."""
        value, floor, ratios = paired(
            self.value, self.floor_call, repeat, min_seconds=min_seconds, settle=self.settle
        )
        k = median_index(ratios)
        return {
            "value_s": value,
            "floor_s": floor,
            "written_s": value + self.written[k],
            "cpu_s": self.cpu[2 * k],
            "floor_cpu_s": self.cpu[2 * k + 1],
            "pairs": len(ratios),
            "ratio_p10_p90": [round(float(q), 2) for q in np.percentile(ratios, [10, 90])],
            "ratio_min_max": [round(min(ratios), 2), round(max(ratios), 2)],
        }


def measure(data: Path | None = None, repeat: int = 5, min_seconds: float = 3.0) -> dict:
    """The cold paths against their floors (:class:`_Cold`: value and floor alternated,
    ``repeat`` pairs at least and ``min_seconds`` of them, the pair of median ratio kept),
    then the warm paths (medians of ``repeat``), the pair's shape and the load average.

    Cold means: the app's caches are empty (a new :class:`~mcalc.cache.ImageCache` on an
    empty folder: no decoded image in memory, no disk cache entry; Browse's panel cache
    cleared); the dataset's files are in the OS page cache for the value and the floor alike
    (read once before); the process has run the path once before (imports, OpenCV's and
    NumPy's first calls), as the app's server has.
    """
    case = _case(data)
    pair = [case.image("CC", "prior"), case.image("CC", "recent")]
    images = [r for r in case.images if r is not None]
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-"))
    opts = DisplayOptions()
    max_side = 1024

    def cold(cache: ImageCache) -> None:
        prepare_views(cache, pair, opts)

    def cold_case(cache: ImageCache) -> None:  # Browse: a case never shown, in no cache
        panel_cache.clear()
        panel_cache.case_panels(cache, case, opts, max_side)

    load_before = os.getloadavg()
    try:
        _raw_decode(images)  # the files in the page cache for every path alike
        for run in (cold, cold_case):  # the process' first calls, off the clock
            warm_up = _Cold(tmp, run, lambda: None)
            warm_up.value()
            warm_up.settle()
        out: dict = {"pair": f"{pair[0].key} + {pair[1].key}", "case_images": len(images)}
        for name, run, recs in (("cold", cold, pair), ("case_cold", cold_case, images)):
            m = _Cold(tmp, run, lambda recs=recs: _raw_decode(recs)).measure(repeat, min_seconds)
            floor_name = "floor" if name == "cold" else "case_floor"
            out[f"{name}_s"] = m["value_s"]
            out[f"{floor_name}_s"] = m["floor_s"]
            out[f"{name}_written_s"] = m["written_s"]
            out[f"{name}_cpu_s"] = m["cpu_s"]
            out[f"{floor_name}_cpu_s"] = m["floor_cpu_s"]
            out[f"{name}_pairs"] = m["pairs"]
            out[f"{name}_ratio_p10_p90"] = m["ratio_p10_p90"]
            out[f"{name}_ratio_min_max"] = m["ratio_min_max"]
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
    m = measure(repeat=5 if quick else 7, min_seconds=2.0 if quick else 4.0)

    def cold_details(name: str, floor_name: str) -> dict:
        return {
            f"{name}_written_s": round(m[f"{name}_written_s"], 4),
            f"{name}_cpu_s": round(m[f"{name}_cpu_s"], 4),
            f"{floor_name}_cpu_s": round(m[f"{floor_name}_cpu_s"], 4),
            "pairs": m[f"{name}_pairs"],
            "ratio_p10_p90": m[f"{name}_ratio_p10_p90"],
            "ratio_min_max": m[f"{name}_ratio_min_max"],
        }

    return [
        figure(
            "viewer: full-size pair from disk to view, cold",
            m["cold_s"],
            m["floor_s"],
            "<= 1.5x",
            shape=m["shape"],
            **cold_details("cold", "floor"),
        ),
        figure(
            "viewer: Browse cold case (4 images) from disk to panels",
            m["case_cold_s"],
            m["case_floor_s"],
            "<= 1.5x",
            **cold_details("case_cold", "case_floor"),
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
    ap.add_argument("--repeat", type=int, default=5, help="pairs at least, and warm runs")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="of pairs, each cold path")
    args = ap.parse_args()
    m = measure(Path(args.data) if args.data else None, args.repeat, args.min_seconds)
    print(
        f"pair {m['pair']}, {m['shape'][0]}x{m['shape'][1]}, "
        f"load average {m['load'][0]} {m['load'][1]} {m['load'][2]} (1 min after: {m['load'][3]})"
    )
    for title, name, floor_name, rows in (
        ("The pair", "cold", "floor", "decode+annotations+view"),
        (
            f"Browse, a case of {m['case_images']} images",
            "case_cold",
            "case_floor",
            "decode+annotations+panels",
        ),
    ):
        floor = m[f"{floor_name}_s"]
        lo, hi = m[f"{name}_ratio_p10_p90"]
        print(
            f"{title}: the median of {m[f'{name}_pairs']} pairs (cold, floor) back to back; "
            f"ratios p10-p90 {lo:.2f}-{hi:.2f}x"
        )
        lines = [
            ("raw decode, DICOM + JPEG (floor)", floor, m[f"{floor_name}_cpu_s"]),
            (f"cold: {rows}", m[f"{name}_s"], m[f"{name}_cpu_s"]),
            ("  + its cache files written", m[f"{name}_written_s"], None),
        ]
        for label, t, cpu in lines:
            cpu_text = "" if cpu is None else f"   CPU {cpu * 1000:6.0f} ms (all threads)"
            print(f"{label:34s} {t * 1000:8.0f} ms   ratio to floor {t / floor:5.2f}x{cpu_text}")
    print(f"Warm (medians of {args.repeat}):")
    for label, t in (
        ("pair, disk cache (new process)", m["warm_disk_s"]),
        ("pair, memory (same process)", m["warm_memory_s"]),
        ("pair figure to JSON", m["figure_json_s"]),
        ("Browse toggle, 4 panels", m["toggle_s"]),
    ):
        print(f"{label:34s} {t * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
