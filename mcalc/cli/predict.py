"""``python -m mcalc predict``: run a registered model over mammograms and explain it.

Writes, for each image, into ``--out``:

- ``<image>_proba.png``: the positive class's probability map (fixed 0-1 colour scale)
  blended over the model-input image (the file's window, MONOCHROME1 inverted), the
  annotated calcifications outlined in cyan, the map's hot spots ringed
  (:func:`mcalc.explain.overlay.draw_hot_spots`) and the top regions boxed and numbered by
  rank as in ``scores.json``; under the image (whose pixels stay the picture's first rows
  and columns; one narrower than ``LEGEND_MIN_PX`` is widened on the right),
  a strip with the colour bar and what the colours, boxes and rings show;
- ``<image>_<cam>.png``: the explanation, drawn the same way, on one colour scale shared by
  every image of the run (so prior and recent compare);
- ``<image>_proba.npy`` (the map at the model-input size), ``<image>_proba_grid.npy``
  (``rows x cols x classes`` patch probabilities) and ``<image>_<cam>.npy`` (the raw
  stitched explanation);
- ``<image>`` is the image's key made a file name, no two images alike
  (:func:`mcalc.filenames.key_stems`); each image's entry in ``scores.json`` lists its
  ``files``;
- ``scores.json``: what is printed with ``--json``. Each image's ``score`` is its *map
  score* (``score_name``; ``rule``: the highest value of the dense probability map in the
  breast, the score of the image's top detection; not evaluation's image score) and
  ``predicted`` its decision at the model's ``decision_threshold``; each region and
  detection says whether the model calls it there (``called``: regions listed under a
  lowered ``--threshold`` are not, and the printed table says so of each).

With ``--all``, every image of ``--data`` goes into one results table instead
(:mod:`mcalc.cli.batch`, :func:`mcalc.batch.run_batch`).

Without ``--model`` the registry's default model runs (``python -m mcalc models default ID``
sets it), named in a note on stderr; with no default set the command stops with exit status
2 rather than pick one (:func:`mcalc.cli.common.model_or_default`).

``--json`` prints one JSON object on stdout and nothing else; the progress bar goes to
stderr. Errors mcalc raises on purpose are one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mcalc.cli.batch import add_batch_arguments, cmd_batch
from mcalc.cli.common import document_out, fraction, model_or_default, models_dir, positive_int
from mcalc.config import TIMEPOINTS, VIEWS, get_settings
from mcalc.errors import os_error_text
from mcalc.explain.errors import ExplainError
from mcalc.explain.scoring import REGION_RULE_VERSION, decision_threshold, threshold_label
from mcalc.explain.service import (
    CAM_METHODS,
    COLORMAPS,
    DEFAULT_TOLERANCE_MM,
    SCOPES,
    AnalysisSettings,
    CamSettings,
    CaseAnalysis,
    ImageInput,
    SlidingSettings,
)
from mcalc.explain.stitch import normalize_map
from mcalc.filenames import key_stem, key_stems
from mcalc.models.card import ModelCard
from mcalc.models.detection import DetectionSettings
from mcalc.paths import shown_path
from mcalc.plural import counted
from mcalc.present.result_picture import (
    explanation_legend,
    probability_legend,
    result_picture,
)
from mcalc.progress import ProgressFn, TerminalProgress

__all__ = ["register_commands", "cmd_predict", "file_stem", "card_summary"]

_CAM_FILE = {"gradcam": "gradcam", "gradcam++": "gradcampp", "scorecam": "scorecam"}
#: Overlay opacity and colour map of the result pictures (one image or one case).
OPACITY = 0.6
CMAP = "jet"


def file_stem(key: str) -> str:
    """A file-name stem for an image key (``case/CC_recent`` -> ``case_CC_recent``; a key
    whose name would lose characters gets a hash: :func:`mcalc.filenames.key_stem`)."""
    return key_stem(key)


def card_summary(card: ModelCard) -> dict[str, Any]:
    """What a prediction reports about its model (:meth:`ModelCard.summary_dict`)."""
    return card.summary_dict()


def _inputs(args: argparse.Namespace) -> list[ImageInput]:
    """The images asked for: one file, or a case's views and rounds."""
    from mcalc.dataset import open_dataset

    if args.image:
        return [ImageInput.from_file(args.image)]
    index = open_dataset(args.data)
    try:
        case = index.case(args.case)
    except KeyError as exc:
        raise ExplainError(str(exc).strip("'\"")) from exc
    views = [args.view] if args.view else list(VIEWS)
    times = [args.timepoint] if args.timepoint else list(TIMEPOINTS)
    records = [r for v in views for t in times if (r := case.image(v, t)) is not None]
    if not records:
        raise ExplainError(
            f"case {case.case_id} has no {'/'.join(views)} {'/'.join(times)} image; it has: "
            + ", ".join(f"{r.view} {r.timepoint}" for r in case.images)
        )
    return [ImageInput.from_record(rec, case) for rec in records]


def _terminal_progress(enabled: bool) -> ProgressFn:
    """One terminal bar per image: messages come as ``<image key>: <phase>: ...``."""
    bars: dict[str, TerminalProgress] = {}

    def report(done: int, total: int, message: str) -> None:
        key, _, rest = message.partition(": ")
        bar = bars.setdefault(key, TerminalProgress(key, enabled=enabled))
        bar(done, total, rest)

    return report


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def region_threshold(args: argparse.Namespace, operating: float) -> float:
    """The smallest score of a listed region: ``--threshold``, else the model's decision
    threshold (``operating``), so that an image lists a region exactly when it reads positive."""
    return operating if args.threshold is None else float(args.threshold)


def _settings(args: argparse.Namespace, operating: float) -> AnalysisSettings:
    least = region_threshold(args, operating)
    sliding = SlidingSettings(stride=args.stride, batch=args.batch, min_region_score=least)
    cam = None
    if args.cam != "none":
        cam = CamSettings(method=args.cam, layer=args.layer, target=args.target, scope=args.scope)
    return AnalysisSettings(sliding, cam, args.tolerance)


def _write_maps(
    case: CaseAnalysis, out_dir: Path, opacity: float, cmap: str
) -> dict[str, list[str]]:
    """The maps (``.npy``) and pictures (``.png``,
    :func:`~mcalc.present.result_picture.result_picture`) of every image; their file names by
    image key (:func:`mcalc.filenames.key_stems`: no two images share a name)."""
    vmax = case.cam_scale()
    explained = sum(r.cam is not None for r in case.images)
    least = case.settings.sliding.min_region_score
    stems = key_stems(r.key for r in case.images)
    by_key: dict[str, list[str]] = {}
    for r in case.images:
        stem = stems[r.key]
        files = by_key.setdefault(r.key, [])
        dense = r.pmap.dense()
        np.save(out_dir / f"{stem}_proba.npy", dense)
        np.save(out_dir / f"{stem}_proba_grid.npy", r.pmap.proba)
        picture = result_picture(
            r,
            dense,
            opacity,
            cmap,
            legend=probability_legend(r, case),
            min_region_score=least,
            operating=case.threshold.value,
        )
        _write_png(out_dir / f"{stem}_proba.png", picture)
        files += [f"{stem}_proba.npy", f"{stem}_proba_grid.npy", f"{stem}_proba.png"]
        if r.cam is not None:
            name = _CAM_FILE[r.cam.settings.method]
            np.save(out_dir / f"{stem}_{name}.npy", r.cam.heat)
            heat01 = normalize_map(r.cam.heat, 0.0, vmax)
            legend = explanation_legend(r, heat01, vmax, explained, case.threshold)
            picture = result_picture(
                r,
                heat01,
                opacity,
                cmap,
                legend=legend,
                min_region_score=least,
                operating=case.threshold.value,
            )
            _write_png(out_dir / f"{stem}_{name}.png", picture)
            files += [f"{stem}_{name}.npy", f"{stem}_{name}.png"]
    return by_key


def _precheck_predict(args: argparse.Namespace) -> None:
    """What ``predict`` (one image or a case) refuses before TensorFlow starts: the images
    asked for given twice or not at all, an ``--image`` that is not a file (a typo started
    TensorFlow, seconds, before saying "no such file"), an ``--out`` that is a file.
    ``--all`` makes its own checks (:mod:`mcalc.cli.batch`)."""
    if not args.tolerance >= 0:  # the library's "tolerance must be ..." came after the model's load
        raise ExplainError(f"--tolerance must be >= 0 mm, got {args.tolerance}")
    if args.all:
        return
    if not args.image and not (args.data and args.case):
        raise ExplainError(
            "pass --image PATH, --data DATA with --case CASE, or --data DATA with --all "
            "(every image)"
        )
    if args.image and args.data:
        raise ExplainError("pass either --image or --data/--case, not both")
    image = Path(args.image) if args.image else None
    if image is not None and image.is_dir():
        raise ExplainError(f"--image {image} is a folder, not an image file; for a dataset "
                           "pass --data DIR --case CASE")  # fmt: skip
    if image is not None and not image.is_file():
        raise ExplainError(f"{image}: no such file")
    out = Path(args.out)
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # --out FILE or FILE/sub
        raise ExplainError(
            f"{blocker} is a file where a folder is expected; move it or choose another path"
        )


def _cmd_predict(args: argparse.Namespace) -> int:
    from mcalc.explain.results import ResultsCache
    from mcalc.explain.service import analyse_case
    from mcalc.models.inference import load_model

    _precheck_predict(args)  # again: main() runs it first, a caller of this may not
    settings = get_settings()
    out_dir = Path(args.out)
    inputs = _inputs(args)
    loaded = load_model(args.model, models_dir(args))
    analysis = _settings(args, decision_threshold(loaded.card).value)
    cache = None if args.no_cache else ResultsCache(settings.cache_dir / "predict")
    case = analyse_case(
        loaded,
        inputs,
        analysis,
        _terminal_progress(not args.json),
        results=cache,
        strict=bool(args.image),  # one image: its error is the answer; a case goes on
    )
    if not case.images:
        keys: dict[str, list[str]] = {}  # a reason every image shares (a bad --layer) once
        for s in case.skipped:
            keys.setdefault(s.message, []).append(s.key)
        reasons = "; ".join(f"{', '.join(k)}: {why}" for why, k in keys.items())
        raise ExplainError(f"no image of case {args.case} could be analysed: {reasons}")
    try:  # once there is something to write: a refused or failed run leaves no folder
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExplainError(f"cannot create the output folder: {os_error_text(exc)}") from exc
    opacity = OPACITY if args.opacity is None else args.opacity
    files = _write_maps(case, out_dir, opacity, args.cmap or CMAP)
    # The detections that make an image positive (the map score is the top one's): those at
    # or above the decision threshold, in full-resolution pixels of the file.
    found = DetectionSettings(threshold=case.threshold.value)
    # An image's key named as every command names it (scan, audit, predict --all's table).
    images = [{"image_key": d.pop("image"), **d} for d in case.image_dicts()]
    for img, result in zip(images, case.images, strict=True):
        img["files"] = files[result.key]
        img["detections"] = [
            {
                "score": round(d.score, 6),
                "row": round(d.row / result.pmap.factor, 1),
                "col": round(d.col / result.pmap.factor, 1),
                "size_mm": round(d.size_mm, 3),
                "called": case.threshold.calls(d.score),
            }
            for d in result.detections(found)
        ]
    report: dict[str, Any] = {
        "model_id": loaded.card.id,
        "model": card_summary(loaded.card),
        "images": images,
        "detection_settings": found.as_dict(),
        "decision_threshold": case.threshold.as_dict(),
        "explanation_scale": {"vmin": 0.0, "vmax": case.cam_scale()},
        "settings": {
            "sliding": analysis.sliding.as_dict(),
            "region_rule": REGION_RULE_VERSION,
            "tolerance_mm": args.tolerance,
        },
        "out": str(out_dir.resolve()),
        "files": [name for names in files.values() for name in names],
        "skipped_images": {s.key: f"{s.kind}: {s.message}" for s in case.skipped},
    }
    summary = case.summary()
    if args.data and summary is not None:
        report["case"] = {"case_id": args.case, **summary.as_dict()}
    (out_dir / "scores.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(report), file=document_out())
        return 0
    _print_report(report, loaded.card)
    return 0


def _print_report(report: dict[str, Any], card: ModelCard) -> None:
    model = report["model"]
    print(f"model {model['id']}: {model['architecture']} / {model['task']}")
    if model["synthetic_data"]:
        print("  WARNING: trained on SYNTHETIC demo data: not a clinical model")
    if not model["pretrained"]:
        print(f"  note: not pre-trained (weights: {model['weights']}): trained from scratch")
    threshold = report["decision_threshold"]
    label = threshold_label(threshold["value"])  # as the pages show it: 0.9215, not 0.922
    print(f"decision threshold {label}: {threshold['source']}")
    below = f"below {label}, not called"  # a region listed under a lowered --threshold
    for img in report["images"]:
        n_below = sum(not reg["called"] for reg in img["regions"])
        print(
            f"{img['image_key']}: {img['positive_class']} map score {img['score']:.3f} "
            f"({img['rule']}; {counted(img['patches'], 'patch')}, {img['seconds']:.2f} s) -> "
            f"{img['predicted']}, {counted(len(img['detections']), 'detection')} at or above "
            f"{label}, {counted(len(img['regions']), 'region')}"
            + (f" ({n_below} {below})" if n_below else "")
        )
        for reg in img["regions"]:
            r0, r1, c0, c1 = reg["box"]
            row, col = reg["center"]
            print(
                f"  #{reg['rank']} {reg['score']:.3f} at row {row:.0f} col {col:.0f} "
                f"(rows {r0}-{r1} cols {c0}-{c1}); {'called' if reg['called'] else below}"
            )
        expl = img.get("explanation")
        if expl and expl.get("zero_map") and img["annotated"]:
            # No energy and no peak: figures of 0.000 and None would read as a finding.
            print(f"  {expl['method']}: no agreement with the marks: the map is zero (note below)")
        elif expl and expl.get("agreement") and expl["agreement"]["energy_inside"] is not None:
            a = expl["agreement"]
            print(
                f"  {expl['method']} energy inside marks (±{a['tolerance_mm']} mm) "
                f"{a['energy_inside']:.3f} (marks cover {a['area_fraction']:.3f} of the breast), "
                f"peak {a.get('hit_rule', 'on a mark')}: {a['pointing_hit']}"
            )
        for note in img.get("notes", []):
            print(f"  note: {note}")
    if "case" in report:
        case = report["case"]
        rounds = ", ".join(f"{k} {v:.3f}" for k, v in case["by_timepoint"].items())
        print(f"case {case['case_id']}: {case['score']:.3f} ({case['rule']}; {rounds})")
    for key, reason in report["skipped_images"].items():
        print(f"LEFT OUT {key}: {reason}")
    print(
        f"wrote {counted(len(report['files']), 'file')} and scores.json to {shown_path(report['out'])}"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """The ``predict`` command (errors propagate to :func:`mcalc.cli.main`); ``--all``: a
    whole collection (:mod:`mcalc.cli.batch`). Without ``--model``: the default model."""
    if args.top_k is not None:
        raise ValueError(
            f"--top-k {args.top_k}: the option is gone; an image's map score is now the "
            "highest value of its dense probability map in the breast (its top detection's "
            "score), with nothing to set: leave --top-k out"
        )
    args.model = model_or_default(args)
    if args.all:
        return cmd_batch(args)
    args.cam = args.cam or "gradcam"
    return _cmd_predict(args)


def register_commands(subparsers: Any) -> None:
    """Add ``predict`` to an argparse sub-parser set."""
    p = subparsers.add_parser(
        "predict",
        help="probability map, top regions and Grad-CAM of a registered model on mammograms",
    )
    p.add_argument(
        "--model",
        help="registry id or model folder (default: the registry's default model, "
        "set with `python -m mcalc models default ID`)",
    )
    p.add_argument("--image", help="one image file (DICOM or raster)")
    p.add_argument("--data", help="dataset folder (real layout) or manifest; with --case")
    p.add_argument("--case", help="case id (e.g. suspicious-3)")
    p.add_argument("--view", choices=VIEWS, type=str.upper, help="only this view (default: both)")
    p.add_argument(
        "--timepoint", choices=TIMEPOINTS, help="only this exam, prior or recent (default: both)"
    )
    p.add_argument(
        "--cam",
        choices=[*CAM_METHODS, "none"],
        default=None,
        help="explanation method (default gradcam, with --all none; none: no explanation)",
    )
    p.add_argument("--layer", help="layer explained (default: the last convolution)")
    p.add_argument("--target", help="class explained (default: calcification / suspicious)")
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default="auto",
        help="patches explained: breast (all), regions (the top regions, whatever their "
        "score), auto (default: breast; for scorecam the regions listed, those at or above "
        "--threshold, none on an image without one)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    p.add_argument(
        "--models", metavar="DIR", help="model registry folder (default: models/, or MCALC_MODELS)"
    )
    p.add_argument("--stride", type=positive_int, help="patch stride in px (default: half)")
    p.add_argument(
        "--batch", type=positive_int, default=64, help="patches per forward pass (default 64)"
    )
    # Removed (5 December 2026): kept hidden so that a script passing it is told why.
    p.add_argument("--top-k", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--threshold",
        type=fraction,
        default=None,
        help="smallest score of a listed region (default: the model's decision threshold, "
        "`models threshold ID`; 0.5 where its card names none)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_MM,
        help=f"mm around the marks for agreement (default {DEFAULT_TOLERANCE_MM})",
    )
    # Defaults given where they are used: --all refuses these when given (it draws nothing).
    p.add_argument("--opacity", type=fraction, help=f"overlay opacity (default {OPACITY})")
    p.add_argument("--cmap", choices=list(COLORMAPS), help=f"colour map (default {CMAP})")
    p.add_argument("--no-cache", action="store_true", help="do not use the results cache")
    add_batch_arguments(p)
    p.set_defaults(func=cmd_predict, precheck=_precheck_predict)
