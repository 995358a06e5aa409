"""Input-pipeline overhead of training: steps/s through the full tf.data pipeline
(class-balanced draws, augmentation, prefetch) against the same train step fed a batch
already in memory, per architecture and freeze strategy.

A ratio near 1.0 means the pipeline keeps up with the model; well below 1.0 means training is
input-bound. Small sizes (32 px patches, random weights) so it completes in minutes on a CPU.
Both feeds run the same compiled step: the in-memory batch is the pipeline's own first batch,
cached, so its shapes (and the traced function) are the same. Each measurement is the steady
rate inside one ``fit()`` (its first steps, with the iterator's start-up, not counted:
training pays that once per run), feeds alternated, medians of the repetitions. The process's
CPU time per step is reported beside the wall time: on a shared machine it moves less.

    python bench/train.py                      # every architecture x strategy
    python bench/train.py --arch custom vgg16 --strategy head --steps 30 --json
    python bench/train.py --arch custom --strategy full --before main   # A/B in one run

First, each feed alone: CPU per batch with no model (what the stream takes from a step).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure

from mcalc.models.freeze import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent
ARCHS = ("custom", "resnet50", "vgg16", "efficientnetb0")
#: Steps of each fit() left out of its rate: tracing is done, but the iterator starts (and
#: the stream makes its first block) in the first.
SKIP = 2


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _steady(model, dataset, steps: int) -> tuple[float, float]:
    """Seconds of wall and process CPU time per step, steps ``SKIP``..``SKIP + steps`` of one
    ``fit()``."""
    import keras

    marks: list[tuple[float, float]] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((time.perf_counter(), _cpu()))

    model.fit(dataset, epochs=1, steps_per_epoch=SKIP + steps, verbose=0, callbacks=[Clock()])
    (t0, c0), (t1, c1) = marks[SKIP - 1], marks[-1]
    return (t1 - t0) / steps, (c1 - c0) / steps


def _compare(model, feeds: dict, steps: int, repeats: int) -> dict[str, dict]:
    """Median wall and CPU seconds per step of each feed, measured in turn (the order
    rotated each repetition) after a warm-up of each (tracing, kernel selection)."""
    for dataset in feeds.values():
        model.fit(dataset, epochs=1, steps_per_epoch=SKIP, verbose=0)
    names = list(feeds)
    got: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            got[name].append(_steady(model, feeds[name], steps))
    out: dict[str, dict] = {
        name: {
            "wall": statistics.median(w for w, _ in runs),
            "cpu": statistics.median(c for _, c in runs),
            "walls": [round(w, 5) for w, _ in runs],
            "runs": runs,
        }
        for name, runs in got.items()
    }
    return out


def median_pair(floor: list[tuple[float, float]], feed: list[tuple[float, float]]) -> dict:
    """The repetition whose ratio ``floor / feed`` (wall per step) is the median of all
    repetitions: its two walls and the ratios of every repetition.

    Each repetition measures the two feeds back to back, so a pair shares the machine's load
    of that moment; medians taken over each feed separately mix the load of different
    moments (a rising load put a 0.79 beside paired ratios 1.02, 1.00, 0.73, 1.08, 1.24).
    With an even count, the lower of the two middle pairs (the figure errs on the low side).
    """
    ratios = [f[0] / p[0] for f, p in zip(floor, feed, strict=True)]
    k = sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2]
    return {"floor": floor[k][0], "value": feed[k][0], "ratios": [round(r, 3) for r in ratios]}


def data_module_at(rev: str) -> ModuleType:
    """``mcalc/models/data.py`` as it was at git revision ``rev`` (for an A/B in one run)."""
    text = subprocess.run(
        ["git", "show", f"{rev}:mcalc/models/data.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "data_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("data_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stream_alone(
    *, size: int, batch: int, n: int, batches: int = 3000, before: ModuleType | None = None
) -> dict[str, float]:
    """CPU milliseconds per batch of each feed iterated on its own (no model; in TensorFlow,
    no Python per batch): what the stream takes from the train step, load aside."""
    from mcalc.models.data import train_dataset

    rng = np.random.default_rng(0)
    x = rng.random((n, size, size), dtype=np.float32)
    y = (rng.random(n) < 0.2).astype(np.int64)
    pipeline = train_dataset(x, y, 2, batch, seed=0)
    feeds = {"memory": pipeline.take(1).cache().repeat(), "pipeline": pipeline}
    if before is not None:
        feeds["before"] = before.train_dataset(x, y, 2, batch, seed=0)
    got: dict[str, list[float]] = {name: [] for name in feeds}
    for ds in feeds.values():
        ds.take(50).reduce(np.int64(0), lambda s, _: s + 1)
    for _ in range(3):
        for name, ds in feeds.items():
            c0 = _cpu()
            ds.take(batches).reduce(np.int64(0), lambda s, _: s + 1)
            got[name].append((_cpu() - c0) / batches * 1e3)
    return {name: round(statistics.median(v), 3) for name, v in got.items()}


def bench_one(
    arch: str,
    strategy: str,
    *,
    size: int,
    batch: int,
    steps: int,
    n: int,
    repeats: int = 3,
    before: ModuleType | None = None,
) -> dict:
    import keras

    from mcalc.models.architectures import build_model
    from mcalc.models.data import train_dataset
    from mcalc.models.freeze import apply_freeze

    rng = np.random.default_rng(0)
    x = rng.random((n, size, size), dtype=np.float32)
    y = (rng.random(n) < 0.2).astype(np.int64)  # imbalanced, as calcification patches are
    keras.utils.set_random_seed(0)
    model = build_model(arch, size, 2)
    report = apply_freeze(model, arch, strategy, pretrained=False)
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)

    pipeline = train_dataset(x, y, 2, batch, seed=0)
    # The pipeline's first batch held in memory: the same element spec, the same step.
    feeds = {"memory": pipeline.take(1).cache().repeat(), "pipeline": pipeline}
    if before is not None:
        feeds["before"] = before.train_dataset(x, y, 2, batch, seed=0)
    got = _compare(model, feeds, steps, repeats)
    mem, pipe = got["memory"], got["pipeline"]
    pair = median_pair(mem["runs"], pipe["runs"])
    row = {
        "arch": arch,
        "strategy": strategy,
        "trainable_params": report.trainable_params,
        "total_params": report.total_params,
        "memory_steps_per_s": round(1 / mem["wall"], 3),
        "pipeline_steps_per_s": round(1 / pipe["wall"], 3),
        "ratio": round(mem["wall"] / pipe["wall"], 3),
        # The median of the repetitions' own ratios (see median_pair): the figure.
        "paired_ratio": round(pair["floor"] / pair["value"], 3),
        "paired_ratios": pair["ratios"],
        "pair_seconds": [round(pair["value"], 5), round(pair["floor"], 5)],
        "memory_cpu_ms_per_step": round(mem["cpu"] * 1e3, 3),
        "pipeline_cpu_ms_per_step": round(pipe["cpu"] * 1e3, 3),
        "cpu_ratio": round(mem["cpu"] / pipe["cpu"], 3),
        "walls": {name: g["walls"] for name, g in got.items()},
        "load_average": round(os.getloadavg()[0], 2),
    }
    if before is not None:
        old = got["before"]
        row["before_steps_per_s"] = round(1 / old["wall"], 3)
        row["before_ratio"] = round(mem["wall"] / old["wall"], 3)
        row["before_cpu_ms_per_step"] = round(old["cpu"] * 1e3, 3)
        row["before_cpu_ratio"] = round(mem["cpu"] / old["cpu"], 3)
        row["before_paired_ratio"] = round(
            statistics.median(m[0] / b[0] for m, b in zip(mem["runs"], old["runs"], strict=True)),
            3,
        )
    return row


def figures(quick: bool = False, archs: tuple[str, ...] = ARCHS) -> list[dict]:
    """``bench/all.py``'s figures: the pipeline's train steps against in-memory steps, per
    architecture, under the default freeze strategy (``full``: the step trainings run)."""
    out = []
    for arch in archs:
        # The custom model's step takes milliseconds: many steps per measurement. The large
        # models' steps take 0.2-0.3 s: 8 per measurement (about 2 s; 4 read +-25 % apart
        # on a quiet machine), alternated often: a shared machine's load changes within
        # seconds.
        steps = (60 if arch == "custom" else 8) * (1 if quick else 2)
        row = bench_one(
            arch,
            "full",
            size=32,
            batch=16,
            steps=steps,
            n=256 if quick else 512,
            repeats=5 if quick else 7,
        )
        value, floor = row["pair_seconds"]  # the repetition of median ratio
        out.append(
            figure(
                f"training input pipeline, {arch}",
                value,
                floor,
                ">= 0.9x",
                steps_per_s=row["pipeline_steps_per_s"],
                ratio_of_medians=row["ratio"],
                paired_ratios=row["paired_ratios"],
                cpu_ratio=row["cpu_ratio"],
                load_average=row["load_average"],
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHS))
    parser.add_argument("--strategy", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--size", type=int, default=32, help="patch side (default 32)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each feed")
    parser.add_argument("--patches", type=int, default=512, help="patches in the pipeline")
    parser.add_argument(
        "--before", metavar="REV", help="also time mcalc/models/data.py of this git revision"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    before = data_module_at(args.before) if args.before else None
    alone = stream_alone(size=args.size, batch=args.batch, n=args.patches, before=before)
    if args.json:
        print(json.dumps({"stream_alone_cpu_ms_per_batch": alone}), flush=True)
    else:
        print("stream alone, CPU ms per batch: " + ", ".join(f"{k} {v}" for k, v in alone.items()))
        extra = f"{'before':>8}{'cpu':>6}" if before else ""
        print(
            f"{'arch':<16}{'strategy':<9}{'trainable':>12}{'memory st/s':>13}"
            f"{'pipeline st/s':>15}{'ratio':>8}{'paired':>8}{'cpu':>6}{extra}{'load':>7}"
        )
    for arch in args.arch:
        for strategy in args.strategy:
            row = bench_one(
                arch,
                strategy,
                size=args.size,
                batch=args.batch,
                steps=args.steps,
                n=args.patches,
                repeats=args.repeats,
                before=before,
            )
            if args.json:
                print(json.dumps(row), flush=True)
                continue
            extra = f"{row['before_ratio']:>8.2f}{row['before_cpu_ratio']:>6.2f}" if before else ""
            print(
                f"{arch:<16}{strategy:<9}{row['trainable_params']:>12,}"
                f"{row['memory_steps_per_s']:>13.2f}{row['pipeline_steps_per_s']:>15.2f}"
                f"{row['ratio']:>8.2f}{row['paired_ratio']:>8.2f}{row['cpu_ratio']:>6.2f}{extra}{row['load_average']:>7.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
