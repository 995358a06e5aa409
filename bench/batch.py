"""Batch inference throughput: single process vs the local pool vs Ray, on the demo data.

Runs :func:`mcalc.batch.run_batch` three times over the same synthetic demo set (the app's
default demo: ``--cases`` cases, small size, four images each) with the ``custom``
architecture (seeded random weights: speed does not depend on them):

- **single**: ``--engine local --workers 1``, in this process;
- **pool**: ``--engine local --workers N``, a process pool (``spawn``, one model each);
- **ray**: ``--engine ray --workers N``, Ray Data on N actors of a local Ray instance
  started for the run.

Each run writes into a fresh folder, so nothing is resumed. Images/s is end to end (worker
start, TensorFlow import and model load included: what a user waits for); ratios are
against the single process. The tables must agree: the largest score difference between
engines is printed.

    python bench/batch.py                      # 12 cases, N = the CPUs here
    python bench/batch.py --cases 24 --workers 4 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OUT = Path(__file__).resolve().parent / "out" / "batch"


def demo_set(cases: int) -> Path:
    """The synthetic demo set (generated once per size, then reused)."""
    from mcalc.synthetic import generate_demo, is_synthetic

    folder = OUT / f"demo-{cases}"
    if not is_synthetic(folder):
        generate_demo(folder, cases=cases, seed=0)
    return folder


def bench_model(models_dir: Path) -> str:
    """A ``custom`` model with seeded random weights, registered once."""
    from mcalc.models.registry import is_registered, register_model

    model_id = "bench-custom"
    if is_registered(models_dir, model_id):
        return model_id
    import keras

    from mcalc.models.architectures import build_model
    from mcalc.models.tasks import TASKS

    keras.utils.set_random_seed(0)
    model = build_model("custom", 64, 2)
    card = {
        "card_version": 1,
        "architecture": "custom",
        "task": "calcification",
        "classes": list(TASKS["calcification"].classes),
        "freeze": {"strategy": "full"},
        "weights": {"source": "random", "pretrained": False, "detail": "bench: seeded random"},
        "pretrained": False,
        "patch": {"size": 64, "spacing_mm": 0.1, "window": "file"},
        "data": {"synthetic": True},
    }

    def write(folder: Path) -> None:
        model.save(folder / "model.keras")
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")

    register_model(models_dir, model_id, write)
    return model_id


def one_run(name: str, model: str, data: Path, models: Path, **kwargs) -> dict:
    from mcalc.batch import read_results, run_batch

    out = OUT / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_batch(model, data, out, models_dir=models, **kwargs)
    wall = time.perf_counter() - t0
    return {
        "run": name,
        "images": summary.analysed,
        "failed": summary.failed,
        "seconds": round(wall, 2),
        "images_per_s": round(summary.analysed / wall, 3),
        "scores": read_results(out)["score"].to_numpy(),
    }


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from mcalc.batch import default_workers
    from mcalc.config import prepare_tensorflow

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=12, help="demo cases (4 images each)")
    parser.add_argument("--workers", type=int, default=None, help="pool processes, Ray actors")
    parser.add_argument("--skip-ray", action="store_true", help="leave Ray out")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    prepare_tensorflow()
    workers = args.workers or default_workers()
    data = demo_set(args.cases)
    models = OUT / "models"
    model = bench_model(models)
    runs = [one_run("single", model, data, models, workers=1)]
    runs.append(one_run("pool", model, data, models, workers=workers))
    if not args.skip_ray:
        runs.append(one_run("ray", model, data, models, engine="ray", workers=workers))
    base_rate, base_scores = runs[0]["images_per_s"], runs[0]["scores"]
    for r in runs:
        r["ratio_vs_single"] = round(r["images_per_s"] / base_rate, 3)
        r["max_score_diff_vs_single"] = float(np.nanmax(np.abs(r.pop("scores") - base_scores)))
    report = {"cases": args.cases, "workers": workers, "cpus": default_workers(), "runs": runs}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.cases} demo cases, {workers} worker(s), {default_workers()} CPU(s) here")
    for r in runs:
        print(
            f"  {r['run']:<7} {r['images']} images in {r['seconds']:7.2f} s: "
            f"{r['images_per_s']:6.3f} images/s, x{r['ratio_vs_single']:.2f} vs single, "
            f"max |score diff| {r['max_score_diff_vs_single']:.2e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
