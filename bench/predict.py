"""Whole-mammogram inference and explanation cost, per architecture, on a full-size image.

Two ratios per architecture (random weights: speed does not depend on them):

- **sliding / raw**: patches per second of :func:`mcalc.explain.sliding.predict_map` over a
  full-size synthetic mammogram (4096x3328 px at 0.07 mm, resampled to the model's 0.1 mm:
  breast segmentation, grid, patch extraction, batched forward passes, progress callback)
  against the model's raw throughput on batches of the same size already in memory. Near
  1.0 means the sliding window adds nothing; the aim is >= 0.8.
- **explanation / forward**: Grad-CAM time per region (``--regions`` top regions explained in
  one call, warm) against one forward pass of the same patches, per patch; the aim is <= 3x.
  Grad-CAM++ and Score-CAM are reported too (Score-CAM costs one forward pass per channel
  it uses, so it is far above 3x by design), and the single-region case (one click).

Large backbones slide over ``--max-patches`` breast patches of the image (the first ones
in raster order) so that the default run takes a few minutes on two CPU cores; ``custom``
slides over the whole breast.

    python bench/predict.py                         # every architecture
    python bench/predict.py --arch custom resnet50 --max-patches 256 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ARCHS = ("custom", "resnet50", "vgg16", "efficientnetb0")
OUT = Path(__file__).resolve().parent / "out"


def full_size_image() -> tuple[object, str]:
    """A full-size synthetic mammogram with calcifications (generated once, then reused)."""
    from mcalc.dataset import open_dataset
    from mcalc.imageio import read_image
    from mcalc.synthetic import generate_demo, is_synthetic

    folder = OUT / "predict-demo"
    if not is_synthetic(folder):
        generate_demo(folder, cases=3, seed=0, size="full")
    index = open_dataset(folder)
    case = next(c for c in index.cases if c.birads_group == "suspicious")
    rec = case.image("CC", "recent")
    return read_image(rec.image_path), rec.key


def _loaded(arch: str):
    import keras

    from mcalc.models.architectures import arch_spec, build_model
    from mcalc.models.card import ModelCard
    from mcalc.models.inference import LoadedModel
    from mcalc.models.tasks import TASKS

    keras.utils.set_random_seed(0)
    size = arch_spec(arch).patch_size
    model = build_model(arch, size, 2)
    card = ModelCard(id=f"bench-{arch}", task_name="calcification", architecture=arch)
    return LoadedModel(model, card, size, 0.1, TASKS["calcification"].classes, "file")


def _limit(breast: np.ndarray, patch: int, stride: int, max_patches: int | None) -> np.ndarray:
    """The breast mask cut below the row where ``max_patches`` patches are reached."""
    from mcalc.explain.grid import breast_fractions, make_grid

    if not max_patches:
        return breast
    grid = make_grid(breast.shape, patch, stride)
    counts = np.cumsum((breast_fractions(breast, grid) >= 0.25).sum(axis=1))
    rows = int(np.searchsorted(counts, max_patches)) + 1
    cut = breast.copy()
    cut[min(rows * stride + patch, breast.shape[0]) :] = False
    return cut


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_one(
    arch: str, mammo, *, batch: int, max_patches: int | None, regions: int, repeats: int = 2
) -> dict:
    from mcalc.breast import breast_mask
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.grid import breast_fractions, gather_patches
    from mcalc.explain.scoring import top_regions
    from mcalc.explain.sliding import SlidingSettings, predict_map
    from mcalc.models.inference import image_to_unit

    loaded = _loaded(arch)
    settings = SlidingSettings(batch=batch, min_region_score=0.0, max_regions=regions)
    t0 = time.perf_counter()
    unit, factor = image_to_unit(mammo, loaded)
    full_breast = breast_mask(unit)
    preprocess_s = time.perf_counter() - t0  # window, resampling, breast segmentation
    breast = _limit(
        full_breast, loaded.patch_size, settings.stride_for(loaded.patch_size), max_patches
    )

    # Warm-up of both paths (tracing, kernel selection).
    x = np.random.default_rng(0).random(
        (batch, loaded.patch_size, loaded.patch_size, 1), np.float32
    )
    loaded.model.predict_on_batch(x)
    stride = settings.stride_for(loaded.patch_size)
    warm = _limit(breast, loaded.patch_size, stride, batch)
    predict_map(loaded, unit, settings=settings, breast=warm)

    events: list[tuple] = []
    pmap = predict_map(loaded, unit, settings=settings, breast=breast, factor=factor)
    n = pmap.n_patches
    n_batches = -(-n // batch)

    def sliding() -> None:
        predict_map(
            loaded,
            unit,
            settings=settings,
            breast=breast,
            factor=factor,
            progress=lambda *a: events.append(a),
        )

    def raw() -> None:
        for _ in range(n_batches):
            loaded.model.predict_on_batch(x)

    # Alternate, best of each: the machine may be shared, and neither should pay the other's
    # noise.
    sliding_s = raw_s = float("inf")
    for _ in range(repeats):
        sliding_s = min(sliding_s, _best(sliding, 1))
        raw_s = min(raw_s, _best(raw, 1))
    sliding_pps = n / sliding_s
    raw_pps = n_batches * batch / raw_s

    # Explanation of the top regions vs a forward pass of the same patches.
    cells = np.array([r.cell for r in top_regions(pmap, settings=settings)])
    padded = np.zeros(pmap.grid.padded_shape, np.float32)
    padded[: unit.shape[0], : unit.shape[1]] = unit
    patches = gather_patches(padded, pmap.grid, cells)
    xp = Explainer(loaded.model, arch)
    t0 = time.perf_counter()
    xp.visualizer("gradcam", xp.default_layer())
    build_s = time.perf_counter() - t0
    forward = _best(lambda: loaded.model.predict_on_batch(patches[..., None]), 3) / len(patches)
    forward_one = _best(lambda: loaded.model.predict_on_batch(patches[:1, ..., None]), 3)
    out = {
        "arch": arch,
        "patch": loaded.patch_size,
        "image": list(mammo.shape),
        "model_input": list(unit.shape),
        "batch": batch,
        "patches": n,
        "sliding_s": round(sliding_s, 3),
        "sliding_patches_per_s": round(sliding_pps, 1),
        "raw_patches_per_s": round(raw_pps, 1),
        "sliding_over_raw": round(sliding_pps / raw_pps, 3),
        "preprocess_s": round(preprocess_s, 3),
        "whole_breast_patches": int(
            (breast_fractions(full_breast, pmap.grid) >= settings.min_breast).sum()
        ),
        "explainer_build_s": round(build_s, 3),
        "regions": len(patches),
        "forward_per_patch_s": round(forward, 5),
    }
    for method in ("gradcam", "gradcam++", "scorecam"):
        xp.explain_patches(patches[:2], method, 1, batch=len(patches))  # warm
        per_region = _best(
            lambda m=method: xp.explain_patches(patches, m, 1, batch=len(patches)), 2
        )
        per_region /= len(patches)
        out[f"{method}_per_region_s"] = round(per_region, 5)
        out[f"{method}_over_forward"] = round(per_region / forward, 2)
    one = _best(lambda: xp.explain_patches(patches[:1], "gradcam", 1), 3)
    out["gradcam_one_region_over_one_forward"] = round(one / forward_one, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHS), help="architectures")
    parser.add_argument("--batch", type=int, default=64, help="patches per forward pass")
    parser.add_argument(
        "--max-patches",
        type=int,
        default=256,
        help="patches slid over by the large backbones (0: the whole breast; custom always whole)",
    )
    parser.add_argument("--regions", type=int, default=8, help="regions explained per call")
    parser.add_argument("--repeats", type=int, default=2, help="timings per path (best kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    mammo, key = full_size_image()
    rows = []
    for arch in args.arch:
        limit = None if arch == "custom" or args.max_patches <= 0 else args.max_patches
        row = bench_one(
            arch,
            mammo,
            batch=args.batch,
            max_patches=limit,
            regions=args.regions,
            repeats=args.repeats,
        )
        row["image_key"] = key
        rows.append(row)
        if not args.json:
            print(
                f"{arch:15s} {row['patches']:5d} patches of {row['patch']} px: sliding "
                f"{row['sliding_patches_per_s']:8.1f}/s vs raw {row['raw_patches_per_s']:8.1f}/s "
                f"= {row['sliding_over_raw']:.2f} (+{row['preprocess_s']:.2f} s to prepare the image) "
                f"| per region vs forward: Grad-CAM "
                f"{row['gradcam_over_forward']:.1f}x, Grad-CAM++ {row['gradcam++_over_forward']:.1f}x, "
                f"Score-CAM {row['scorecam_over_forward']:.0f}x; one region "
                f"{row['gradcam_one_region_over_one_forward']:.1f}x; explainer built in "
                f"{row['explainer_build_s']:.2f} s",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
