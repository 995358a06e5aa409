"""Input-pipeline overhead of training: steps/s through the full tf.data pipeline
(caching, class balancing, augmentation, prefetch) against the same train step fed a batch
already in memory, per architecture and freeze strategy.

A ratio near 1.0 means the pipeline keeps up with the model; well below 1.0 means training is
input-bound. Small sizes (32 px patches, random weights) so it completes in minutes on a CPU.

    python bench/train.py                      # every architecture x strategy
    python bench/train.py --arch custom vgg16 --strategy head --steps 30 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure

from mcalc.models.freeze import STRATEGIES

ARCHS = ("custom", "resnet50", "vgg16", "efficientnetb0")


def _timed(model, dataset, steps: int) -> float:
    t0 = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps / (time.perf_counter() - t0)


def _compare(model, memory, pipeline, steps: int, repeats: int = 2) -> tuple[float, float]:
    """Best steps/s of each feed, measured alternately after a warm-up of both (tracing,
    cache filling, kernel selection), so neither pays the other's start-up."""
    for dataset in (memory, pipeline):
        model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0)
    mem, pipe = 0.0, 0.0
    for _ in range(repeats):
        mem = max(mem, _timed(model, memory, steps))
        pipe = max(pipe, _timed(model, pipeline, steps))
    return mem, pipe


def bench_one(arch: str, strategy: str, *, size: int, batch: int, steps: int, n: int) -> dict:
    import keras
    import tensorflow as tf

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
    onehot = np.eye(2, dtype=np.float32)[y[:batch]]
    # One batch held in memory, with the same (None-batch) element spec: no retracing.
    memory = (
        tf.data.Dataset.from_tensor_slices((x[:batch, ..., None], onehot))
        .batch(batch)
        .take(1)
        .cache()
        .repeat()
    )
    mem_sps, pipe_sps = _compare(model, memory, pipeline, steps)
    return {
        "arch": arch,
        "strategy": strategy,
        "trainable_params": report.trainable_params,
        "total_params": report.total_params,
        "memory_steps_per_s": round(mem_sps, 3),
        "pipeline_steps_per_s": round(pipe_sps, 3),
        "ratio": round(pipe_sps / mem_sps, 3),
    }


def figures(quick: bool = False, archs: tuple[str, ...] = ARCHS) -> list[dict]:
    """``bench/all.py``'s figures: the pipeline's train steps against in-memory steps, per
    architecture, under the default freeze strategy (``full``: the step trainings run)."""
    out = []
    for arch in archs:
        # Enough steps that fit()'s start-up (iterators, prefetch threads) stays small
        # beside them: the custom model's step takes milliseconds.
        steps = (60 if arch == "custom" else 10) * (1 if quick else 2)
        row = bench_one(arch, "full", size=32, batch=16, steps=steps, n=256 if quick else 512)
        out.append(
            figure(
                f"training input pipeline, {arch}",
                1.0 / row["pipeline_steps_per_s"],
                1.0 / row["memory_steps_per_s"],
                ">= 0.9x",
                steps_per_s=row["pipeline_steps_per_s"],
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
    parser.add_argument("--patches", type=int, default=512, help="patches in the pipeline")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    if not args.json:
        print(
            f"{'arch':<16}{'strategy':<9}{'trainable':>12}{'memory st/s':>13}{'pipeline st/s':>15}{'ratio':>8}"
        )
    for arch in args.arch:
        for strategy in args.strategy:
            row = bench_one(
                arch, strategy, size=args.size, batch=args.batch, steps=args.steps, n=args.patches
            )
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{arch:<16}{strategy:<9}{row['trainable_params']:>12,}"
                    f"{row['memory_steps_per_s']:>13.2f}{row['pipeline_steps_per_s']:>15.2f}"
                    f"{row['ratio']:>8.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
