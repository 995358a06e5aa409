"""Whole-mammogram inference and explanation cost, per architecture, on a full-size image.

Two ratios per architecture (random weights: speed does not depend on them):

- **map / raw**: :func:`mcalc.explain.sliding.predict_map` over a full-size synthetic
  mammogram (4096x3328 px at 0.07 mm, resampled to the model's 0.1 mm: breast fractions,
  bands, the forward passes, progress) against the model's raw forward pass over the same
  pixels already in memory: for a dense model (the 2-conv CNN) the whole model run over the
  same bands (base, global pooling, head), for the others batches of patches of the same
  size. Near 1.0 means the map adds nothing; the aim is >= 0.9. The map and its floor run
  back to back in rounds for at least ``--min-seconds`` and the round of median ratio is
  kept (the JSON gives the round count and the ratios' p10-p90).
- **explanation / forward**: Grad-CAM time per region (``--regions`` top regions explained in
  one call, warm) against one forward pass of the same patches, per patch, both warm; calls
  alternated for at least half a second and the pair of median ratio kept
  (:func:`figures.paired`: a call of the 2-conv CNN lasts 2-4 ms, and the best of three
  such calls per side moved the ratio between 0.64 and 6.5 on the shared 2-core machine,
  4 December 2026); the aim is <= 1.5x.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import best_of, figure, median_index, paired, rounds

ARCHS = ("custom", "resnet50", "vgg16", "efficientnetb0")
OUT = Path(__file__).resolve().parent / "out"


def full_size_data() -> Path:
    """A full-size synthetic dataset with calcifications (generated once, then reused)."""
    from mcalc.synthetic import generate_demo, is_synthetic

    folder = OUT / "predict-demo"
    if not is_synthetic(folder):
        generate_demo(folder, cases=3, seed=0, size="full")
    return folder


def full_size_image() -> tuple[object, str]:
    """A full-size suspicious mammogram of :func:`full_size_data` and its key."""
    from mcalc.dataset import open_dataset
    from mcalc.imageio import read_image

    index = open_dataset(full_size_data())
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


def _any_size_forward(model):
    """The model itself (same layers and weights) on a gray image of any size, compiled:
    its base over the pixels, its global pooling over the whole feature map, its head."""
    import keras
    import tensorflow as tf

    anysize = keras.models.clone_model(
        model, input_tensors=keras.Input((None, None, 1)), clone_function=lambda layer: layer
    )
    return tf.function(
        lambda x: anysize(x, training=False),
        input_signature=[tf.TensorSpec((1, None, None, 1), tf.float32)],
    )


def prepare(arch: str, mammo, *, batch: int = 64, max_patches: int | None = None) -> dict:
    """The model, its input image and breast mask (cut to ``max_patches`` patches), warm."""
    from mcalc.breast import breast_mask
    from mcalc.explain.image_analysis import unit_spacing
    from mcalc.explain.sliding import SlidingSettings, predict_map
    from mcalc.models.inference import image_to_unit

    loaded = _loaded(arch)
    settings = SlidingSettings(batch=batch, min_region_score=0.0)
    t0 = time.perf_counter()
    unit, factor = image_to_unit(mammo, loaded)
    full_breast = breast_mask(unit)
    preprocess_s = time.perf_counter() - t0  # window, resampling, breast segmentation
    stride = settings.stride_for(loaded.patch_size)
    breast = _limit(full_breast, loaded.patch_size, stride, max_patches)
    # Warm-up of every path (tracing, kernel selection, the dense runner's self-check).
    x = np.zeros((batch, loaded.patch_size, loaded.patch_size, 1), np.float32)
    loaded.model.predict_on_batch(x)
    warm = _limit(breast, loaded.patch_size, stride, batch)
    warm_map = predict_map(loaded, unit, settings=settings, breast=warm)
    return {
        "arch": arch,
        "loaded": loaded,
        "unit": unit,
        "factor": factor,
        "spacing_mm": unit_spacing(mammo, factor),
        "breast": breast,
        "full_breast": full_breast,
        "settings": settings,
        "preprocess_s": preprocess_s,
        "x": x,
        "warm_map": warm_map,
    }


def measure_map(prep: dict, *, repeats: int = 9, min_seconds: float = 0.0) -> dict:
    """The whole probability map against the model's raw throughput on the same pixels.

    Dense models: the floor is the model's own forward pass over the very bands the map runs
    (compiled, in memory, any size: its base over the pixels, its global pooling over the
    band's whole feature map, its head); ``base_only_s`` is the base alone (the floor before
    2026-12-02, without the pooling every forward pass of the model reads its feature map
    with). Sliding models: batches of the same size already in memory.

    The map, the floor (and the base alone) run back to back in rounds (``repeats`` at
    least, more until ``min_seconds`` have passed) and the round of median throughput ratio
    is kept (:func:`figures.rounds`, as :func:`figures.paired`): each round shares the load
    of its moment (the best of two calls a side, taken at different moments, swung between
    runs of the same code: docs/measurements.md, 6 December 2026). ``cpu_ratio`` is the
    median over rounds of the same ratio in process CPU time (every thread), which the
    machine's load moves less.
    """
    from mcalc.explain.dense import dense_runner
    from mcalc.explain.grid import PatchGrid, breast_fractions, pad_to_grid
    from mcalc.explain.sliding import predict_map

    loaded, unit, breast = prep["loaded"], prep["unit"], prep["breast"]
    settings, batch = prep["settings"], prep["settings"].batch
    pmap = predict_map(loaded, unit, settings=settings, breast=breast, factor=prep["factor"])
    events: list[tuple] = []

    def whole() -> None:
        predict_map(
            loaded,
            unit,
            settings=settings,
            breast=breast,
            factor=prep["factor"],
            progress=lambda *a: events.append(a),
        )

    runner = dense_runner(loaded.model) if pmap.fine is not None else None
    scale = 1.0  # floor seconds per measured second (sliding: whole batches -> the patches)
    if runner is not None:
        grid, step = pmap.grid, pmap.fine_stride
        k = grid.stride // step
        fine = PatchGrid(
            grid.image_shape, grid.patch, step, (grid.rows - 1) * k + 1, (grid.cols - 1) * k + 1
        )
        wanted = breast_fractions(breast, fine) >= settings.min_breast
        tiles = [t for _, t in runner.tiles(pad_to_grid(unit, grid), step, wanted)]
        forward = _any_size_forward(loaded.model)

        def raw() -> None:  # the whole model (base, its global pooling, head) on each band
            for tile in tiles:
                np.asarray(forward(tile[None, ..., None]))

        def base_only() -> None:
            for tile in tiles:
                runner.features(tile)

        pixels = int(sum(t.size for t in tiles))
        fns = (whole, raw, base_only)
    else:
        n_batches = -(-pmap.n_patches // batch)

        def raw() -> None:
            for _ in range(n_batches):
                loaded.model.predict_on_batch(prep["x"])

        pixels = 0
        scale = pmap.n_patches / (n_batches * batch)
        fns = (whole, raw)
    for fn in fns[1:]:  # warm: the floor's functions trace on their first call
        fn()
    cpu: list[list[float]] = [[] for _ in fns]

    def on_cpu_clock(fn, into: list[float]):
        def call() -> None:
            c0 = time.process_time()
            fn()
            into.append(time.process_time() - c0)

        return call

    times = rounds(
        tuple(on_cpu_clock(fn, c) for fn, c in zip(fns, cpu, strict=True)),
        repeats,
        min_seconds=min_seconds,
    )
    times[1] = [t * scale for t in times[1]]
    cpu[1] = [t * scale for t in cpu[1]]
    ratios = [r / m for m, r in zip(times[0], times[1], strict=True)]  # floor / map
    i = median_index(ratios)
    map_s, raw_s = times[0][i], times[1][i]
    cpu_ratios = [r / m for m, r in zip(cpu[0], cpu[1], strict=True)]
    base = None
    if runner is not None:
        to_map = [b / m for m, b in zip(times[0], times[2], strict=True)]
        base = (times[2][i], float(np.median(to_map)))
    return {
        "arch": prep["arch"],
        "patch": loaded.patch_size,
        "model_input": list(unit.shape),
        "mode": f"dense (lattice {pmap.fine_stride} px)" if runner is not None else "sliding",
        "patches": pmap.n_patches,
        "pixels_forwarded": pixels,
        "map_s": round(map_s, 3),
        "raw_s": round(raw_s, 3),
        "throughput_ratio": round(raw_s / map_s, 3),
        "pairs": len(ratios),
        "ratio_p10_p90": [round(float(q), 2) for q in np.percentile(ratios, [10, 90])],
        "cpu_ratio": round(float(np.median(cpu_ratios)), 3),
        "base_only_s": None if base is None else round(base[0], 3),
        "base_only_ratio": None if base is None else round(base[1], 3),
        "preprocess_s": round(prep["preprocess_s"], 3),
        "whole_breast_patches": int(
            (breast_fractions(prep["full_breast"], pmap.grid) >= settings.min_breast).sum()
        ),
        "pmap": pmap,
    }


def measure_explanation(prep: dict, pmap, *, regions: int = 8, methods=("gradcam",)) -> dict:
    """Explanation per region (``regions`` top regions in one call, warm) against one forward
    pass of the same patches, per patch: the pair of median ratio among pairs alternated for
    at least 0.5 s (three at least)."""
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.grid import pad_to_grid, patches_at
    from mcalc.explain.scoring import top_regions
    from mcalc.explain.sliding import SlidingSettings

    loaded = prep["loaded"]
    settings = SlidingSettings(min_region_score=0.0, max_regions=regions)
    found = top_regions(pmap, prep["spacing_mm"], settings=settings)
    origins = np.array([r.origin for r in found], np.int64).reshape(-1, 2)
    patches = patches_at(pad_to_grid(prep["unit"], pmap.grid), origins, pmap.grid.patch)
    xp = Explainer(loaded.model, prep["arch"])
    t0 = time.perf_counter()
    if xp.compiled_gradcam(xp.default_layer()) is None:
        xp.visualizer("gradcam", xp.default_layer())
    build_s = time.perf_counter() - t0
    out = {"arch": prep["arch"], "regions": len(patches), "explainer_build_s": round(build_s, 3)}

    def forward_pass() -> None:
        loaded.model.predict_on_batch(patches[..., None])

    for method in methods:

        def explain(m: str = method) -> None:
            xp.explain_patches(patches, m, 1, batch=len(patches))

        explain()  # warm: its first call optimises the graph
        forward_pass()  # warm: the map ran other batch sizes
        per_region, forward, ratios = paired(explain, forward_pass, 3, min_seconds=0.5)
        out[f"{method}_per_region_s"] = round(per_region / len(patches), 7)
        out[f"{method}_forward_per_patch_s"] = round(forward / len(patches), 7)
        out[f"{method}_over_forward"] = round(per_region / forward, 2)
        out[f"{method}_pairs"] = len(ratios)
        out[f"{method}_ratio_p10_p90"] = [
            round(float(q), 2) for q in np.percentile(ratios, [10, 90])
        ]
    forward_one = best_of(lambda: loaded.model.predict_on_batch(patches[:1, ..., None]), 3)
    one = best_of(lambda: xp.explain_patches(patches[:1], "gradcam", 1), 3)
    out["gradcam_one_region_over_one_forward"] = round(one / forward_one, 2)
    return out


def figures(quick: bool = False, archs: tuple[str, ...] = ARCHS) -> list[dict]:
    """``bench/all.py``'s figures: the 2-conv CNN's whole-mammogram map (throughput and
    seconds) and the explanation per region of every architecture."""
    mammo, _ = full_size_image()
    out = []
    for arch in archs:
        limit = None if arch == "custom" else (64 if quick else 256)
        prep = prepare(arch, mammo, max_patches=limit)
        if arch != "custom":  # only the 2-conv CNN's map has an aim; its regions suffice
            e = measure_explanation(prep, prep["warm_map"])
            out.append(_explanation_figure(arch, e))
            continue
        m = measure_map(prep, repeats=9, min_seconds=6.0 if quick else 12.0)
        if arch == "custom":
            keys = (
                "mode",
                "model_input",
                "patches",
                "pixels_forwarded",
                "pairs",
                "ratio_p10_p90",
                "cpu_ratio",
                "base_only_ratio",
            )
            detail = {k: m[k] for k in keys}
            out.append(
                figure(
                    "whole-mammogram map, custom: throughput vs raw forward",
                    m["map_s"],
                    m["raw_s"],
                    ">= 0.9x",
                    **detail,
                )
            )
            out.append(figure("whole-mammogram map, custom: seconds", m["map_s"], None, "< 1 s"))
        out.append(_explanation_figure(arch, measure_explanation(prep, m["pmap"])))
    return out


def _explanation_figure(arch: str, e: dict) -> dict:
    return figure(
        f"explanation per region, {arch} (Grad-CAM, {e['regions']} regions)",
        e["gradcam_per_region_s"],
        e["gradcam_forward_per_patch_s"],
        "<= 1.5x",
        pairs=e["gradcam_pairs"],
        ratio_p10_p90=e["gradcam_ratio_p10_p90"],
    )


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
    parser.add_argument(
        "--repeats", type=int, default=9, help="map/floor rounds at least (median kept)"
    )
    parser.add_argument(
        "--min-seconds", type=float, default=6.0, help="map/floor rounds for at least this long"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    mammo, key = full_size_image()
    rows = []
    for arch in args.arch:
        limit = None if arch == "custom" or args.max_patches <= 0 else args.max_patches
        prep = prepare(arch, mammo, batch=args.batch, max_patches=limit)
        m = measure_map(prep, repeats=args.repeats, min_seconds=args.min_seconds)
        e = measure_explanation(
            prep, m.pop("pmap"), regions=args.regions, methods=("gradcam", "gradcam++", "scorecam")
        )
        row = {**m, **e, "image_key": key}
        rows.append(row)
        if not args.json:
            print(
                f"{arch:15s} {row['mode']}, {row['patches']} patches of {row['patch']} px: map "
                f"{row['map_s']:.2f} s vs raw {row['raw_s']:.2f} s = {row['throughput_ratio']:.2f} "
                f"(median of {row['pairs']} rounds, p10-p90 {row['ratio_p10_p90']}, CPU "
                f"{row['cpu_ratio']:.2f}) "
                f"(+{row['preprocess_s']:.2f} s to prepare the image) | per region vs forward: "
                f"Grad-CAM {row['gradcam_over_forward']:.1f}x, Grad-CAM++ "
                f"{row['gradcam++_over_forward']:.1f}x, Score-CAM {row['scorecam_over_forward']:.0f}x;"
                f" one region {row['gradcam_one_region_over_one_forward']:.1f}x; explainer built in "
                f"{row['explainer_build_s']:.2f} s",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
