"""A calcification model on one split of its own card: what choosing a demo model needs.

For the card's ``val`` or ``test`` patients on its training data, prints one JSON object:

- image level, under the map-score rule of the day (the top detection's score,
  :mod:`mcalc.explain.scoring`): AUC, and sensitivity and specificity at ``--threshold``
  (an image is positive when it holds an annotated finding);
- the FROC and cluster FROC of :func:`mcalc.explain.detection_eval.detection_for_model`
  (Predict's detection rule, default tolerances): sensitivity at 0.5 / 1 / 2 / 4 false
  positives per image and their mean;
- the patch AUC, sensitivity and specificity the card records for that split;
- for every image without a finding, its top detection's score, that detection's distance
  to the breast mask's edge (mm; the image's border counts as edge) and how many of its
  detections score at or above ``--threshold`` (what Predict draws on a normal image).

The maps go through their own results cache (``--cache``), so a second run only recounts.

    python bench/demo_model.py models/demo-custom --data data/demo --split val
    python bench/demo_model.py /tmp/models/try --data data/demo --split test --cache /tmp/c

``--check-reproduces`` asks instead whether the model's published recipe (models/README.md,
"Reproduce it"; :func:`recipe_args` reads it from the card) still gives its weights: the demo
set is generated afresh in a temporary folder, the recipe trained there with this clone's code
(``python -m mcalc train``, about 1.5-3 min on two shared cores), and every layer's weights
compared with the committed ``model.keras`` bit for bit. It prints one JSON object and exits 1
when they differ (each differing layer and its largest difference, both cards' test metrics,
whether the data's fingerprint is still the card's), 0 when they are the same:

    python bench/demo_model.py demo-custom --check-reproduces
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def edge_distance_mm(breast: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Distance (mm) of every pixel to the nearest pixel outside the breast mask, the
    image's border counting as outside."""
    import cv2

    padded = np.pad(np.asarray(breast, np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return np.asarray(dist, np.float64) * spacing_mm


def measure(model: str, data: str, split: str, cache: str, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import detection_for_model
    from mcalc.explain.results import ResultsCache
    from mcalc.models.patches import load_training_image
    from mcalc.models.registry import load_card, resolve_model

    models_dir = str(Path(model).parent) if os.sep in model else "models"
    card = load_card(resolve_model(model, models_dir))
    cases = list(getattr(card.split, split))
    if not cases:
        raise SystemExit(f"the card of {model} names no {split} patients")
    t0 = time.perf_counter()
    ev = detection_for_model(model, data, models_dir, case_ids=cases, results=ResultsCache(cache))
    seconds = time.perf_counter() - t0
    records = {r.key: r for c in open_dataset(data).cases for r in c.images}
    truth = np.array([im.n_findings > 0 for im in ev.images])
    score = np.array([im.map_score for im in ev.images])
    if truth.all() or not truth.any():
        raise SystemExit(f"the {split} images are all of one kind: no image-level AUC")
    normals = []
    for im in ev.images:
        if im.n_findings:
            continue
        top = im.detections[0]
        _, _, breast = load_training_image(records[im.key], card.patch.spacing_mm)
        edge = edge_distance_mm(breast, im.spacing_mm[0])
        normals.append(
            {
                "key": im.key,
                "top": round(top.score, 3),
                "edge_mm": round(float(edge[top.row, top.col]), 1),
                "at_threshold": sum(d.score >= threshold for d in im.detections),
            }
        )
    summary = ev.summary()
    patch = dict((card.metrics or {}).get(split, {}))
    return {
        "model": model,
        "split": split,
        "cases": cases,
        "images": {"positive": int(truth.sum()), "negative": int((~truth).sum())},
        "image_auc": round(float(roc_auc_score(truth, score)), 3),
        "image_sensitivity": round(float((score[truth] >= threshold).mean()), 3),
        "image_specificity": round(float((score[~truth] < threshold).mean()), 3),
        "threshold": threshold,
        "froc": summary["sensitivity_at"],
        "froc_mean": summary["cpm"],
        "cluster": summary["cluster_sensitivity_at"],
        "cluster_mean": summary["cluster_cpm"],
        "findings": summary["n_findings"],
        "clusters": summary["n_clusters"],
        "patch_auc": patch.get("auc"),
        "patch_sensitivity": patch.get("sensitivity"),
        "patch_specificity": patch.get("specificity"),
        "normal_images": normals,
        "normal_detections_at_threshold": round(
            float(np.mean([n["at_threshold"] for n in normals])), 2
        ),
        "positive_scores": sorted(round(float(v), 3) for v in score[truth]),
        "seconds": round(seconds, 1),
    }


def layer_weights(model_file: Path) -> dict[str, np.ndarray]:
    """Every layer variable of a Keras 3 ``.keras`` file (its ``model.weights.h5``) by its
    name there (``layers/conv2d/vars/0``...); the optimizer's state is left out."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(model_file) as archive:
        raw = archive.read("model.weights.h5")
    out: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(raw), "r") as weights:

        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and name.startswith("layers/"):
                out[name] = np.asarray(item[()])

        weights.visititems(visit)
    if not out:
        raise SystemExit(f"{model_file}: no layer weights in its model.weights.h5")
    return out


def weight_differences(
    expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
) -> dict[str, float | str]:
    """The layer variables that are not bit for bit the same: name -> largest absolute
    difference, or why they cannot be compared (missing, another shape or dtype)."""
    out: dict[str, float | str] = {}
    for name in sorted(set(expected) | set(got)):
        if name not in got or name not in expected:
            out[name] = "missing in the " + ("trained" if name not in got else "committed")
            continue
        a, b = expected[name], got[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            out[name] = f"{a.shape} {a.dtype} committed, {b.shape} {b.dtype} trained"
        elif a.tobytes() != b.tobytes():
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            out[name] = float(np.nanmax(diff)) if np.isfinite(diff).any() else "NaN"
    return out


def recipe_args(card: dict[str, Any]) -> list[str]:
    """The ``python -m mcalc train`` options of a card's recipe, in models/README.md's order
    (all but ``--data``): what ``--check-reproduces`` trains."""
    hyper = card.get("hyperparameters") or {}
    mining = card.get("hard_negatives") or {}
    args = [
        "--arch", card["architecture"],
        "--task", card["task"],
        "--freeze", (card.get("freeze") or {}).get("strategy", "?"),
        "--epochs", str(hyper["epochs"]),
        "--patience", str(hyper["patience"]),
        "--seed", str(card["seed"]),
    ]  # fmt: skip
    if mining.get("per_image"):
        args += ["--hard-negatives", str(mining["per_image"])]
    args += ["--id", card["id"]]
    if card.get("trained_by"):
        args += ["--trained-by", card["trained_by"]]
    return args


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise SystemExit(
            f"{what} failed (exit {done.returncode}): {shlex.join(cmd)}\n" + "\n".join(tail)
        )


def check_reproduces(model: str, data: str | None, work: str) -> dict[str, Any]:
    """Train ``model``'s card recipe in ``work`` and compare its weights with the model's."""
    from mcalc.models.registry import resolve_model

    models_dir = str(Path(model).parent) if os.sep in model else str(REPO / "models")
    folder = Path(resolve_model(model, models_dir))
    card = json.loads((folder / "card.json").read_text())
    # No accounts (MCALC_USERS: a file that does not exist): the card's trained_by ("mcalc
    # maintainers") is written as it was, not checked against this machine's accounts.
    env = {
        **os.environ,
        "MCALC_CACHE": f"{work}/cache",
        "MCALC_RUNS": f"{work}/runs",
        "MCALC_USERS": f"{work}/no-users.yaml",
    }
    if data is not None:
        data = str(Path(data).resolve())  # the command runs in the clone
    else:
        data = f"{work}/demo"
        _run([sys.executable, "-m", "mcalc", "demo", "--out", data], env, "generating the demo")
    recipe = recipe_args(card)
    cmd = [sys.executable, "-m", "mcalc", "train", "--data", data, *recipe]
    cmd += ["--models", f"{work}/models"]
    t0 = time.perf_counter()
    _run(cmd, env, "training the recipe")
    seconds = time.perf_counter() - t0
    trained = Path(work) / "models" / card["id"]
    again = json.loads((trained / "card.json").read_text())
    differ = weight_differences(
        layer_weights(folder / "model.keras"), layer_weights(trained / "model.keras")
    )
    test = ("auc", "sensitivity", "specificity")
    return {
        "model": str(folder),
        "reproduces": not differ,
        "recipe": shlex.join(["python", "-m", "mcalc", "train", "--data", "DATA", *recipe]),
        "data_fingerprint_as_card": again["data"]["fingerprint"] == card["data"]["fingerprint"],
        "differing_layers": differ,
        "test_committed": {k: card["metrics"]["test"][k] for k in test},
        "test_trained": {k: again["metrics"]["test"][k] for k in test},
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="registry id (in models/) or a model folder's path")
    parser.add_argument(
        "--data",
        help="the model's training data (default data/demo; with --check-reproduces: a fresh "
        "demo set in a temporary folder)",
    )
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--cache", help="results cache folder (default: a fresh temporary one)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--check-reproduces",
        action="store_true",
        help="train the card's recipe afresh (about 1.5-3 min) and compare the weights bit for "
        "bit; exit 1 when they differ (--data: a dataset to use instead of a fresh demo set)",
    )
    args = parser.parse_args()
    if args.check_reproduces:
        with tempfile.TemporaryDirectory() as work:
            out = check_reproduces(args.model, args.data, work)
        print(json.dumps(out))
        if not out["reproduces"]:
            sys.exit(
                f"{args.model} is not reproduced by its recipe with this code: "
                f"{len(out['differing_layers'])} layer variables differ. Find the commit that "
                "changed it (git bisect over mcalc/, models/README.md) and either fix the code "
                "or, for an intended change, retrain the model by its recipe and update its "
                "figures."
            )
        return
    data = args.data or "data/demo"
    if args.cache:
        out = measure(args.model, data, args.split, args.cache, args.threshold)
    else:
        with tempfile.TemporaryDirectory() as cache:
            out = measure(args.model, data, args.split, cache, args.threshold)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
