"""What Audit's image picker costs on a 20,000-image collection, in process (AppTest).

A synthetic index of ``--images`` images (a 3-case demo's four files, repeated over
``images / 4`` cases, so the thumbnail reads a real file) stands in for the dataset the
sidebar opened (``pages.common.current_index`` patched). A reader signs in; then
``--reps`` reruns of the page (nothing changed) are timed: process CPU seconds (the
script runs in AppTest's thread), and the byte size of the image picker's proto and of
all the elements drawn (what the browser receives for them). Also times the picker's
own work: the maps over the index that ``pages/audit.py`` needs per rerun.

Usage: ``python bench/audit_picker.py [--images 20000] [--reps 7]`` from a checkout's
root (run it from each tree to compare: copy this file into an older one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))


def synthetic_index(base: Path, n_images: int):  # type: ignore[no-untyped-def]
    """A :class:`DatasetIndex` of ``n_images`` images over cases of four images each."""
    from mcalc.dataset import open_dataset
    from mcalc.synthetic import generate_demo
    from mcalc.synthetic.scale import repeated_index

    generate_demo(base, cases=3, seed=7, shape=(256, 208), difficulty="easy")
    return repeated_index(open_dataset(base), n_images // 4, alternate_sides=True)


def _proto_bytes(node) -> int:  # type: ignore[no-untyped-def]
    """The byte size of every element proto under an AppTest node."""
    own = node.proto.ByteSize() if getattr(node, "proto", None) is not None else 0
    kids = getattr(node, "children", {}) or {}
    return own + sum(_proto_bytes(k) for k in kids.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="audit_picker_"))
    shutil.copytree(ROOT / "models" / "demo-custom", tmp / "registry" / "demo-custom")
    for name, sub in (("CACHE", "cache"), ("STORE", "store"), ("RUNS", "runs")):
        os.environ[f"MCALC_{name}"] = str(tmp / sub)
    os.environ["MCALC_MODELS"] = str(tmp / "registry")
    os.environ["MCALC_DEMO_DIR"] = str(tmp / "demo")
    index = synthetic_index(tmp / "demo", args.images)

    from streamlit.testing.v1 import AppTest

    from pages import common

    common.current_index = lambda: index  # type: ignore[assignment]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/audit.py").run()
    at.text_input(key="audit_reader_input").input("Dr. Bench").run()
    assert not at.exception, [e.value for e in at.exception]
    cpu = []
    for _ in range(args.reps):
        t0 = time.process_time()
        at.run()
        cpu.append(time.process_time() - t0)
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="audit_image")
    every = _proto_bytes(at._tree)
    print(f"images {sum(len(c.images) for c in index.cases)}, load {os.getloadavg()}")
    print(
        f"rerun CPU s: median {statistics.median(cpu):.4f} ({', '.join(f'{c:.4f}' for c in cpu)})"
    )
    print(f"picker options {len(picker.options)}, proto {picker.proto.ByteSize()} bytes")
    print(f"all elements' protos {every} bytes")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
