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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="registry id (in models/) or a model folder's path")
    parser.add_argument("--data", default="data/demo", help="the model's training data")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--cache", help="results cache folder (default: a fresh temporary one)")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    if args.cache:
        out = measure(args.model, args.data, args.split, args.cache, args.threshold)
    else:
        with tempfile.TemporaryDirectory() as cache:
            out = measure(args.model, args.data, args.split, cache, args.threshold)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
