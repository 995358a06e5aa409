"""The ``evaluate`` and ``crossval`` sub-commands of ``python -m mcalc`` (and ``compare``,
whose parts are :mod:`mcalc.cli.compare`).

``--json`` prints JSON only on stdout; progress bars and messages go to stderr. Errors
that mcalc raises on purpose print one line on stderr and exit non-zero (2; 130 when
interrupted). ``evaluate`` without ``--model`` evaluates the registry's default model
(:func:`mcalc.cli.common.model_or_default`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.cli.common import (
    add_input_option,
    add_models_option,
    auc_text,
    check_out_file,
    document_out,
    fmt,
    interrupted_training,
    model_or_default,
    models_dir,
    positive_int,
    recorded_if_stopped,
    threshold_text,
)
from mcalc.cli.compare import add_compare_command
from mcalc.errors import FieldError, McalcError, ModelError
from mcalc.paths import shown_path
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

if TYPE_CHECKING:
    from mcalc.explain.detection_eval import DetectionEvaluation
    from mcalc.models.evaluate import EvaluationResult

__all__ = ["register_commands", "cmd_evaluate", "cmd_crossval"]


#: What ``--report`` writes: a PDF (``.pdf``) or one self-contained HTML file.
REPORT_SUFFIXES = (".html", ".htm", ".pdf")


def in_sample_warning(result: EvaluationResult) -> str | None:
    """What to say when the cases scored on another dataset carry the ids of the model's
    training or validation cases (``result.in_sample``); ``None`` when none does.

    Example:
        >>> from mcalc.models.evaluate import EvaluationResult
        >>> r = EvaluationResult("m", "d", "all-patients", ["a", "b"], {}, None, in_sample=["a"])
        >>> in_sample_warning(r)[:59]
        '1 of these 2 cases carry the ids of its training/validation'
    """
    seen = result.in_sample
    if not seen:
        return None
    listed = ", ".join(seen[:5]) + (f" and {len(seen) - 5} more" if len(seen) > 5 else "")
    return (
        f"{len(seen)} of these {counted(len(result.cases), 'case')} carry the ids of its training/"
        f"validation cases ({listed}): if this is the same data changed (a file fixed, a "
        "case added: another fingerprint), those patients were seen in training and the "
        "numbers are optimistic; evaluate on the unchanged training data for its held-out "
        "test patients"
    )


def _check_bootstrap(args: argparse.Namespace) -> None:
    if args.bootstrap < 0:
        raise McalcError(
            f"--bootstrap must be 0 (none) or a number of resamples, got {args.bootstrap}"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mcalc.models.evaluate import evaluate_model

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise McalcError(f"--threshold must lie in [0, 1], got {args.threshold}")
    _check_bootstrap(args)
    if args.report and Path(args.report).suffix.lower() not in REPORT_SUFFIXES:
        raise McalcError(
            f"--report must end in .html or .pdf (the report's format), got "
            f"{Path(args.report).name!r}"
        )
    if args.report:
        check_out_file(args.report, "--report")
    if args.no_detection:
        _refuse_detection_options(args)
    args.model = model_or_default(args)  # the report, detection and BI-RADS use it too
    if args.birads_change:  # before any image is read: a temporal model cannot give it
        from mcalc.explain.birads_run import check_change_count

        check_change_count(args.model, models_dir(args))
    given = args.threshold is not None  # else the case level's rule decides (BI-RADS)
    threshold_source = _threshold(args)
    result = evaluate_model(
        args.model,
        args.data,
        models_dir(args),
        batch=args.batch,
        progress=TerminalProgress("patches", enabled=not args.json),
        threshold=args.threshold,
    )
    analysis = None
    if args.bootstrap and result.scores is not None:
        from mcalc.models.analysis import level_summary
        from mcalc.models.scores import LEVELS

        analysis = {
            level: level_summary(result.scores, level, args.threshold, n_boot=args.bootstrap)
            for level in LEVELS
        }
    detection = None if args.no_detection else _detection(args, result.cases)
    birads = None if detection is None else _birads(args, detection, given=given)
    if args.report:
        _write_report(args, result, detection, birads)
    if args.json:
        out = result.as_dict()
        out["threshold"] = {"value": args.threshold, "source": threshold_source}
        if analysis is not None:
            out["analysis"] = analysis
        if detection is not None:
            out["detection"] = detection.as_dict()
        if birads is not None:
            out["birads"] = birads
        print(json.dumps(out), file=document_out())
        return 0
    m = result.metrics
    print(
        f"{result.model_id} on {result.data} ({result.scope}, {counted(len(result.cases), 'case')}, {counted(m['n'], 'patch')})"
    )
    print(f"  at threshold {args.threshold:g} ({threshold_source})")
    warning = in_sample_warning(result)
    if warning:
        print(f"  WARNING: {warning}")
    print(
        f"  AUC {auc_text(m)}, accuracy {fmt(m.get('accuracy'))}, "
        f"sensitivity {fmt(m.get('sensitivity'))}, specificity {fmt(m.get('specificity'))}"
    )
    # The classes' order, in which the matrix's rows and columns run (the model's outputs).
    classes = ", ".join(result.scores.classes) if result.scores is not None else ""
    print(
        f"  confusion matrix (rows truth, columns predicted{': ' + classes if classes else ''}): "
        f"{m['confusion_matrix']}"
    )
    for key, reason in result.skipped_images.items():
        print(f"  LEFT OUT {key}: {reason}")
    for name, pc in (m.get("per_class") or {}).items():
        print(
            f"  {name}: AUC {fmt(pc.get('auc'))} sens {fmt(pc.get('sensitivity'))} spec {fmt(pc.get('specificity'))}"
        )
    suspicious = m.get("binary_suspicious")
    if suspicious:
        print(f"  suspicious vs rest: AUC {fmt(suspicious.get('auc'))}")
    for level, a in (analysis or {}).items():
        ci_text = f" (95% CI {a['auc_ci_text']})" if a["auc_ci_text"] else ""
        at = a["at_threshold"]
        youden = a["youden"]
        print(
            f"  {level} level ({a['n']}, {a['positives']} {a['positive']}, {counted(a['patients'], 'patient')}): "
            f"AUC {fmt(a['auc'])}{ci_text}, at {args.threshold:g}: sensitivity "
            f"{fmt(at['sensitivity'])} specificity {fmt(at['specificity'])}"
            + (f"; Youden threshold {threshold_text(youden['threshold'])}" if youden else "")
        )
        for note in a["notes"]:
            print(f"    note: {note}")
    if detection is not None:
        _print_detection(detection)
    if birads is not None:
        from mcalc.cli.evaluate_text import print_birads, print_published
        from mcalc.dataset import open_dataset
        from mcalc.present.report import ours_for_reproduction

        print_birads(birads)
        index = open_dataset(args.data)  # our data, beside the published results
        ours, what, _ = ours_for_reproduction(birads, None)
        print_published(ours, what, synthetic=index.synthetic, source=index.source)
    return 0


def _threshold(args: argparse.Namespace) -> str:
    """Set ``args.threshold`` to Evaluate's default when none was given
    (:data:`~mcalc.explain.metrics_threshold.METRICS_THRESHOLD`, the page's slider's start:
    the patch metrics are patch probabilities, the card's decision threshold a map-score
    threshold); where the one used comes from, naming the card's."""
    if args.threshold is not None:
        return "given with --threshold"
    from mcalc.explain.metrics_threshold import METRICS_THRESHOLD, metrics_threshold_source
    from mcalc.explain.scoring import decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    card = decision_threshold(load_card(resolve_model(args.model, models_dir(args))))
    args.threshold = METRICS_THRESHOLD
    return metrics_threshold_source(card)


def _refuse_detection_options(args: argparse.Namespace) -> None:
    """``--no-detection`` with a detection or BI-RADS option: refused, not ignored (the
    option would have no effect while the user expects one)."""
    from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM
    from mcalc.models.froc import DEFAULT_CLUSTER_TOLERANCE_MM, DEFAULT_TOLERANCE_MM

    defaults = {
        "tolerance_mm": DEFAULT_TOLERANCE_MM,
        "cluster_tolerance_mm": DEFAULT_CLUSTER_TOLERANCE_MM,
        "min_distance_mm": DEFAULT_MIN_DISTANCE_MM,
        "detection_threshold": 0.0,
        "birads_rule": "max",
        "birads_change": False,
    }
    given = ["--" + k.replace("_", "-") for k, v in defaults.items() if getattr(args, k) != v]
    if given:
        raise McalcError(
            f"{', '.join(given)} set the detection or BI-RADS evaluation, which --no-detection "
            "skips: leave out --no-detection, or leave out those options"
        )


def _write_report(
    args: argparse.Namespace,
    result: EvaluationResult,
    detection: DetectionEvaluation | None,
    birads: dict[str, Any] | None,
) -> None:
    """Write the report (``--report FILE``: PDF when FILE ends in ``.pdf``, else
    self-contained HTML) atomically."""
    from mcalc.dataset import open_dataset
    from mcalc.fileio import atomic_write_bytes
    from mcalc.models.registry import load_card, resolve_model
    from mcalc.present.report import ReportInput, evaluation_report
    from mcalc.present.report_pdf import evaluation_report_pdf

    card = load_card(resolve_model(args.model, models_dir(args)))
    index = open_dataset(args.data)
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "report")}
    report = ReportInput(
        result,
        card,
        detection=None if detection is None else detection.as_dict(),
        birads=birads,
        settings=settings,
        threshold=args.threshold,
        n_boot=args.bootstrap or 1000,
        synthetic_data=index.synthetic,
        data_source=index.source,
    )
    out = Path(args.report)
    if out.suffix.lower() == ".pdf":
        data = evaluation_report_pdf(report)
    else:
        data = evaluation_report(report).encode("utf-8")
    atomic_write_bytes(out, data)
    print(f"wrote the report to {shown_path(args.report)}", file=sys.stderr)


def _birads(
    args: argparse.Namespace, detection: DetectionEvaluation, *, given: bool
) -> dict[str, Any]:
    """Case-level BI-RADS classification of the evaluated cases (``birads`` in JSON): at
    ``--threshold`` when ``given``, else at the rule's own (the model's operating threshold
    for the map-score rules, 0.5 for the logistic regression's probability), as Evaluate's
    BI-RADS tab (:func:`mcalc.explain.birads_run.case_threshold`)."""
    from mcalc.explain.birads_run import birads_for_model

    return birads_for_model(
        args.model,
        args.data,
        models_dir(args),
        detection,
        rule=args.birads_rule,
        threshold=args.threshold if given else None,
        n_boot=args.bootstrap or 1000,
        temporal=args.birads_change,
        progress=TerminalProgress("training images", enabled=not args.json),
    )


def _detection(
    args: argparse.Namespace, case_ids: list[str], *, n_boot: int | None = None
) -> DetectionEvaluation:
    """Detections and FROC of the evaluated cases (maps through the results cache)."""
    from mcalc.explain.detection_eval import DetectionEvalSettings, detection_for_model
    from mcalc.models.detection import DetectionSettings

    for name in ("tolerance_mm", "cluster_tolerance_mm"):
        if not getattr(args, name) > 0:
            flag = "--" + name.replace("_", "-")
            raise McalcError(f"{flag} must be a positive number of mm, got {getattr(args, name)}")
    try:
        detection = DetectionSettings(
            min_distance_mm=args.min_distance_mm, threshold=args.detection_threshold
        )
    except FieldError as exc:  # the library's field names, this command's flags
        flags = {"min_distance_mm": "--min-distance-mm", "threshold": "--detection-threshold"}
        raise McalcError(exc.named(flags.get(exc.field, exc.field))) from exc
    settings = DetectionEvalSettings(
        detection=detection,
        tolerance_mm=args.tolerance_mm,
        cluster_tolerance_mm=args.cluster_tolerance_mm,
        n_boot=args.bootstrap if n_boot is None else n_boot,
    )
    try:
        return detection_for_model(
            args.model,
            args.data,
            models_dir(args),
            settings,
            case_ids=case_ids,
            progress=TerminalProgress("whole images", enabled=not args.json),
        )
    except ValueError as exc:
        hint = "; or pass --no-detection for the patch evaluation alone"
        raise McalcError(f"detection evaluation: {exc}{hint}") from exc


def _print_detection(ev: DetectionEvaluation) -> None:
    s = ev.summary()

    def rates(values: dict[str, float | None]) -> str:
        return ", ".join(f"{fmt(v)} at {k}" for k, v in values.items())

    print(
        f"  detection ({counted(s['n_images'], 'image')}, {counted(s['n_findings'], 'finding')}, "
        f"{counted(s['n_clusters'], 'cluster')}, {counted(s['n_detections'], 'detection')}):"
    )
    print(f"    sensitivity {rates(s['sensitivity_at'])} FP/image; mean {fmt(s['cpm'])}")
    print(
        f"    cluster sensitivity {rates(s['cluster_sensitivity_at'])} FP clusters/image; "
        f"mean {fmt(s['cluster_cpm'])}"
    )
    print(f"    (mean = {s['cpm_convention']})")
    for message in ev.skipped:
        print(f"    skipped: {message}")


def _precheck_crossval(args: argparse.Namespace) -> None:
    """A Ray address where nothing answers, refused before TensorFlow's import (about 6 s
    here; the library refuses it too, before any fold)."""
    from mcalc.cluster import unreachable_ray_address
    from mcalc.models.operating_point import parse_rule

    if args.operating_point:
        parse_rule(args.operating_point)  # a typo fails before the folds, not after them
    _check_bootstrap(args)  # -1 was found after the folds had trained
    if args.engine == "ray" and (problem := unreachable_ray_address(args.address)):
        raise ModelError(problem)


def cmd_crossval(args: argparse.Namespace) -> int:
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig

    if args.folds < 0 or args.folds == 1:
        raise McalcError(f"--folds must be >= 2, or 0 for leave-one-patient-out; got {args.folds}")
    config = TrainConfig.from_args(args)
    try:
        with interrupted_training(), recorded_if_stopped():
            out = crossval(
                config,
                args.folds,
                n_boot=args.bootstrap,
                detection=args.detection,
                progress=TerminalProgress("folds", enabled=not args.json),
                engine=args.engine,
                address=args.address,
            )
    except FieldError:  # a configuration's field: main() names its flag
        raise
    except ValueError as exc:
        raise McalcError(f"crossval: {exc}") from exc
    from mcalc.jobs.crossval import record_result

    try:
        record_result(out)  # the Evaluate page's cross-validation tab lists it
    except McalcError as exc:  # the result is printed all the same
        print(f"warning: the run is not recorded for the app: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(out), file=document_out())
        return 0
    kind = "leave-one-patient-out" if out["leave_one_patient_out"] else f"{out['k']}-fold"
    print(f"{kind} cross-validation (patients stratified by BI-RADS group, seed {out['seed']}):")
    for f in out["folds"]:
        aucs = ", ".join(f"{lv} {fmt(v)}" for lv, v in f["auc"].items())
        print(
            f"  fold {f['fold']}: {f['model_id']} on {counted(len(f['patients']), 'patient')}: AUC {aucs}"
        )
    from mcalc.models.crossval import fold_threshold_lines

    for line in fold_threshold_lines(out.get("operating_points", [])):
        print(f"  {line}")
    for level, ms in out["mean_sd"].items():
        p = out["pooled"][level]
        ci = f" (95% CI {p['auc_ci_text']})" if p["auc_ci_text"] else ""
        spread = (
            f"AUC mean {fmt(ms['mean'])} (sd {fmt(ms['sd'])}) over {counted(ms['n'], 'fold')}"
            if ms["n"]
            else "no fold has an AUC of its own (each fold's test items are of one class)"
        )
        print(f"  {level}: {spread}; pooled out-of-fold {fmt(p['auc'])}{ci}")
    if "detection_mean_sd" in out:
        d = out["detection_mean_sd"]
        print(
            f"  detection: mean sensitivity at 0.5-4 FP/image {fmt(d['cpm']['mean'])} (sd "
            f"{fmt(d['cpm']['sd'])}); clusters {fmt(d['cluster_cpm']['mean'])}"
        )
        pooled = out["detection_pooled"]["summary"]
        print(
            f"  detection pooled over the folds ({counted(pooled['n_images'], 'image')}): mean "
            f"sensitivity {fmt(pooled['cpm'])}, clusters {fmt(pooled['cluster_cpm'])}"
        )
    from mcalc.cli.evaluate_text import print_published_cv

    print_published_cv(out, config.data)
    return 0


def register_commands(subparsers: Any) -> None:
    """Add ``evaluate``, ``crossval`` and ``compare`` to an argparse sub-parser set."""
    from mcalc.models.architectures import ARCHITECTURES
    from mcalc.models.birads_eval import AGGREGATIONS
    from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM
    from mcalc.models.freeze import STRATEGIES
    from mcalc.models.froc import DEFAULT_CLUSTER_TOLERANCE_MM, DEFAULT_TOLERANCE_MM
    from mcalc.models.tasks import TASKS
    from mcalc.models.train_config import defaults_text

    evaluate = subparsers.add_parser(
        "evaluate", help="metrics of a model on a dataset's test patients (or all of another)"
    )
    evaluate.add_argument(
        "--model",
        help="registry id or model folder (default: the registry's default model, "
        "set with `python -m mcalc models default ID`)",
    )
    evaluate.add_argument("--data", required=True, help="dataset folder or manifest")
    add_models_option(evaluate)
    evaluate.add_argument("--batch", type=positive_int, help="batch size of prediction")
    evaluate.add_argument(
        "--threshold",
        type=float,
        help="threshold of the binary metrics on patch probabilities (default 0.5, as the "
        "app's Evaluate page; a card's decision threshold, `models threshold ID`, is a "
        "map-score threshold, in other units)",
    )
    evaluate.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="add patch/image/case AUCs with 95%% CIs from N resamples of patients, Youden "
        "thresholds and metrics at --threshold (JSON: 'analysis'); default 0: none",
    )
    det = evaluate.add_argument_group("detection (whole images; JSON: 'detection')")
    det.add_argument(
        "--no-detection",
        action="store_true",
        help="skip detections and FROC (they slide the model over every image)",
    )
    det.add_argument(
        "--tolerance-mm",
        type=float,
        default=DEFAULT_TOLERANCE_MM,
        help=f"largest detection-to-calcification distance of a hit (default {DEFAULT_TOLERANCE_MM:g})",
    )
    det.add_argument(
        "--cluster-tolerance-mm",
        type=float,
        default=DEFAULT_CLUSTER_TOLERANCE_MM,
        help="largest distance between a detected and an annotated cluster's centroids "
        f"(default {DEFAULT_CLUSTER_TOLERANCE_MM:g})",
    )
    det.add_argument(
        "--min-distance-mm",
        type=float,
        default=DEFAULT_MIN_DISTANCE_MM,
        help=f"smallest distance between two detections (default {DEFAULT_MIN_DISTANCE_MM:g})",
    )
    det.add_argument(
        "--detection-threshold",
        type=float,
        default=0.0,
        help="smallest score of a detection (default 0: the FROC sweeps every score)",
    )
    det.add_argument(
        "--birads-rule",
        choices=AGGREGATIONS,
        default="max",
        help="case-level BI-RADS aggregation of the image outputs (JSON: 'birads'): max, "
        "mean, or logistic (fitted on the training patients); default max",
    )
    det.add_argument(
        "--birads-change",
        action="store_true",
        help="register each case's prior to its recent image and count the detections new "
        "since the prior (JSON: each case's new_findings); a feature of the logistic rule",
    )
    evaluate.add_argument(
        "--report",
        metavar="FILE",
        help="also write a report (card, data, every curve and table, settings): a PDF when "
        "FILE ends in .pdf, one self-contained HTML file when it ends in .html",
    )
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    cv = subparsers.add_parser(
        "crossval",
        help="patient-level k-fold cross-validation: one model per fold, pooled out-of-fold AUC",
    )
    cv.add_argument("--data", required=True, help="dataset folder or manifest")
    cv.add_argument("--arch", help=f"architecture: {', '.join(ARCHITECTURES)} (default custom)")
    cv.add_argument("--task", help=f"task: {', '.join(TASKS)} (default calcification)")
    cv.add_argument("--freeze", help=f"strategy: {', '.join(STRATEGIES)} (default full)")
    cv.add_argument(
        "--folds", type=int, default=5, help="folds (default 5); 0: leave-one-patient-out"
    )
    epochs, batch = defaults_text()
    cv.add_argument("--epochs", type=int, help=f"most epochs per fold ({epochs})")
    cv.add_argument("--batch", type=int, help=f"batch size ({batch})")
    cv.add_argument("--lr", type=float, help="learning rate (default per strategy)")
    cv.add_argument("--seed", type=int, help="seed of the folds and the training (default 0)")
    cv.add_argument("--patch-size", type=int, help="patch side in px")
    cv.add_argument("--spacing", type=float, help="patch pixel spacing in mm")
    cv.add_argument("--patches-per-image", type=int, help="patches of each kind per image")
    cv.add_argument("--max-steps", type=int, help="cap of batches per epoch")
    cv.add_argument(
        "--hard-negatives",
        type=int,
        metavar="N",
        help="hard-negative mining in each fold, from that fold's training patients alone "
        "(as train --hard-negatives; default 0: off)",
    )
    cv.add_argument("--id", help="prefix of the folds' registry ids")
    cv.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="resamples of the pooled AUC CI"
    )
    cv.add_argument(
        "--detection", action="store_true", help="also the FROC summary of every fold's model"
    )
    cv.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="train the folds one after another here (local, default) or as parallel Ray tasks",
    )
    cv.add_argument(
        "--address", help="with --engine ray: the Ray cluster (default: a local instance)"
    )
    add_models_option(cv)
    add_input_option(cv)
    cv.add_argument(
        "--operating-point",
        metavar="RULE",
        help="choose each fold model's decision threshold on that fold's validation patients "
        "before pooling: youden or sensitivity:T (as train's); default none (0.5)",
    )
    cv.add_argument("--json", action="store_true", help="print the result as JSON")
    cv.set_defaults(func=cmd_crossval, precheck=_precheck_crossval)

    add_compare_command(subparsers)
