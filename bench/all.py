"""Every bench of issue 14 in one run: one table, or one JSON object with ``--json``.

Benches (each a module of ``bench/`` exposing ``figures(quick) -> list[dict]``):

- ``viewer``: a full-size pair from disk to view, and Browse's cold case (four images to
  panels), against the raw decode of the same files; a warm case switch, server side;
- ``predict``: the 2-conv CNN's whole-mammogram probability map against its raw forward
  pass over the same pixels, and under 1 s; the explanation per region of every
  architecture against a forward pass of the same patches;
- ``train``: the training input pipeline against the same train step on in-memory tensors,
  every architecture;
- ``browser``: the page interactions in Chromium (``bench/browser.py``, when present); the
  viewer's wheel and W/L also from a real mouse (XTest, headed Chromium on an Xvfb of its
  own) where Xvfb and libXtst exist (``bench/xinput.py``).

A figure is ``{"name", "value", "floor", "ratio", "aim", "met"}`` (seconds; see
``bench/figures.py`` for how ratios follow the aims). A bench that is absent or fails is
listed under ``"skipped"`` with the reason; the others still run.

    python bench/all.py [--quick] [--json] [--only viewer predict]

``--quick`` (fewer repeats, fewer patches for the large backbones) finishes in under ten
minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from figures import KEYS  # noqa: E402

#: Bench name -> module in bench/ (in running order).
BENCHES: dict[str, str] = {
    "viewer": "viewer",
    "predict": "predict",
    "train": "train",
    "browser": "browser",
}


def _load(module: str) -> Callable[[bool], list[dict]]:
    return importlib.import_module(module).figures


def machine() -> dict:
    """Where and when: the figures are ratios, but the reader should know the machine."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load],
    }


def run(names: list[str], quick: bool, loader: Callable[[str], Callable] | None = None) -> dict:
    """Run the benches; returns ``{"figures", "skipped", "machine", "seconds"}``."""
    loader = loader or _load
    start = time.perf_counter()
    before = machine()
    figures: list[dict] = []
    skipped: list[dict] = []
    for name in names:
        t0 = time.perf_counter()
        try:
            fn = loader(BENCHES[name])
        except ImportError as exc:
            skipped.append({"bench": name, "reason": f"not available: {exc}"})
            continue
        try:
            got = list(fn(quick))
        except Exception as exc:  # one bench's failure must not lose the others' figures
            traceback.print_exc(file=sys.stderr)
            skipped.append({"bench": name, "reason": f"failed: {type(exc).__name__}: {exc}"})
            continue
        for fig in got:
            missing = [k for k in KEYS if k not in fig]
            if missing:
                skipped.append({"bench": name, "reason": f"figure without {missing}: {fig}"})
                continue
            figures.append({**fig, "bench": name})
        print(f"[{name}] {len(got)} figures in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    after = machine()
    return {
        "figures": figures,
        "skipped": skipped,
        "machine": {**before, "load_average_after": after["load_average_1_5_15"]},
        "seconds": round(time.perf_counter() - start, 1),
    }


def _time(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 0.01:
        return f"{v * 1000:.2f} ms"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def table(result: dict) -> str:
    """The figures as a Markdown table (the README's benchmark section)."""
    lines = [
        "| figure | value | floor | ratio | aim | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in result["figures"]:
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}"
        met = "yes" if f["met"] else "**no**"
        lines.append(
            f"| {f['name']} | {_time(f['value'])} | {_time(f['floor'])} | {ratio} | "
            f"{f['aim']} | {met} |"
        )
    for s in result["skipped"]:
        reason = " ".join(str(s["reason"]).split())[:200]
        lines.append(f"| {s['bench']}: {reason} | - | - | - | - | - |")
    m = result["machine"]
    lines.append("")
    lines.append(
        f"{m['date']}, {m['platform']}, {m['cpus']} CPUs, load average "
        f"{m['load_average_1_5_15'][0]} before and {m['load_average_after'][0]} after; "
        f"{result['seconds']:.0f} s in all."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (< 10 min)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="these benches only")
    args = parser.parse_args(argv)
    result = run(args.only or list(BENCHES), args.quick)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
