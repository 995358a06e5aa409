"""The ``train``, ``models`` and ``evaluate`` sub-commands of ``python -m mcalc``.

``--json`` prints JSON only on stdout; progress bars and messages go to stderr. Errors
that mcalc raises on purpose print one line on stderr and exit non-zero (2; 130 when
interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.config import get_settings
from mcalc.errors import McalcError

if TYPE_CHECKING:
    from mcalc.explain.detection_eval import DetectionEvaluation
    from mcalc.models.evaluate import EvaluationResult
    from mcalc.models.train_events import StopRequest, TrainEvent, TrainEventFn

__all__ = [
    "register_commands",
    "cmd_train",
    "cmd_models",
    "cmd_evaluate",
    "cmd_compare",
    "ProgressBar",
    "add_train_flags",
]


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, label: str, *, enabled: bool = True, force: bool = False, width: int = 28):
        self.label = label
        self.enabled = enabled and (force or sys.stderr.isatty())
        self.width = width
        self.t0 = time.perf_counter()

    def update(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(max(done / total, 0.0), 1.0)
        bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        sys.stderr.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:6.1f}s {message[:48]:<48}"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        self.update(done, total, message)


def _train_progress(enabled: bool) -> TrainEventFn:
    sampling = ProgressBar("patches", enabled=enabled)
    bars: dict[tuple[str, int], ProgressBar] = {}

    def on_event(event: TrainEvent) -> None:
        kind = event.get("event")
        if kind == "sampling":
            sampling(event["done"], event["total"], str(event.get("message", "")))
        elif kind == "stage" and enabled:
            sys.stderr.write(
                f"stage {event['stage']}: freeze {event['strategy']}, "
                f"{event['trainable_params']:,}/{event['total_params']:,} parameters trainable, "
                f"lr {event['lr']:g}\n"
            )
            for warning in event.get("warnings", []):
                sys.stderr.write(f"warning: {warning}\n")
        elif kind == "batch":
            key = (str(event["stage"]), int(event["epoch"]))
            bar = bars.setdefault(
                key, ProgressBar(f"{key[0]} epoch {key[1]}/{event['epochs']}", enabled=enabled)
            )
            loss = event.get("loss")
            bar(int(event["batch"]), int(event["steps"]), f"loss {loss:.4f}" if loss else "")
        elif kind == "epoch" and enabled:
            shown = {k: v for k, v in event.items() if k.startswith(("loss", "val_", "acc"))}
            text = " ".join(f"{k} {v:.4f}" for k, v in shown.items() if isinstance(v, float))
            sys.stderr.write(f"  epoch {event['epoch']}: {text}\n")

    return on_event


def _models_dir(args: argparse.Namespace) -> Path:
    return Path(args.models) if getattr(args, "models", None) else get_settings().models_dir


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except McalcError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: nothing was registered", file=sys.stderr)
            return 130

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _sigterm_as_interrupt() -> StopRequest:
    """Let SIGTERM (a cancelled job) unwind like Ctrl-C, so no half-registered folder stays.

    During a fit the handler only sets the returned request (the trainer stops after the
    batch and unwinds itself): an exception raised inside TensorFlow's step function
    surfaces as a ``SystemError``, not as the interruption.
    """
    import signal

    from mcalc.models.train_events import StopRequest

    stop = StopRequest()

    def handler(signum: int, frame: object) -> None:
        if stop.fitting:
            stop.set()
            return
        raise KeyboardInterrupt(f"signal {signum}")

    # ValueError: not the main thread (tests calling main() from a thread)
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, handler)
    return stop


def _cmd_train(args: argparse.Namespace) -> int:
    from mcalc.models.train_config import TrainConfig

    stop = _sigterm_as_interrupt()
    config = TrainConfig.from_args(args)
    config.validate()  # fail on bad names before TensorFlow starts

    from mcalc.models.training import train

    result = train(config, progress=_train_progress(not args.json), stop=stop)
    card = result.card
    if not result.chief:
        print(
            json.dumps({"model_id": result.model_id, "chief": False})
            if args.json
            else f"worker done: the chief registered {result.model_id}"
        )
        return 0
    if args.json:
        print(json.dumps(card.to_json()))
        return 0
    test = card.test_metrics
    print(f"registered {result.model_id} at {result.path}")
    print(
        f"  {card.architecture} / {card.task_name} / freeze {card.freeze.strategy}: "
        f"{card.trainable_params or 0:,} of {card.total_params or 0:,} parameters trained"
    )
    print(f"  weights: {card.weights.detail} (pretrained: {card.pretrained})")
    for warning in card.warnings:
        print(f"  WARNING: {warning}")
    for key, reason in card.skipped_images.items():
        print(f"  LEFT OUT {key}: {reason}")
    if card.data.synthetic:
        print("  trained on SYNTHETIC demo data: not a clinical model")
    print(
        f"  test ({len(card.split.test)} cases, {test.get('n')} patches): AUC {_fmt(test.get('auc'))}, "
        f"accuracy {_fmt(test.get('accuracy'))}, sensitivity {_fmt(test.get('sensitivity'))}, "
        f"specificity {_fmt(test.get('specificity'))}; {card.training_seconds or 0:.0f} s"
    )
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from mcalc.models.registry import list_models

    listing = list_models(_models_dir(args))
    for problem in listing.problems:
        print(f"warning: skipped {problem['path']}: {problem['message']}", file=sys.stderr)
    if args.json:
        print(json.dumps([card.to_json() for card in listing.models]))
        return 0
    if not listing.models:
        print(f"no models in {_models_dir(args)}: train one with `python -m mcalc train`")
        return 0
    for card in listing.models:
        test = card.test_metrics
        flags = []
        if not card.pretrained:
            flags.append("not pre-trained")
        if card.data.synthetic:
            flags.append("synthetic data")
        print(
            f"{card.id}: {card.architecture} {card.task_name} freeze "
            f"{card.freeze.strategy}, patch {card.patch.size} px, "
            f"test AUC {_fmt(test.get('auc'))} acc {_fmt(test.get('accuracy'))}"
            + (f" [{', '.join(flags)}]" if flags else "")
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from mcalc.models.evaluate import evaluate_model

    if not 0.0 <= args.threshold <= 1.0:
        raise McalcError(f"--threshold must lie in [0, 1], got {args.threshold}")
    if args.bootstrap < 0:
        raise McalcError(
            f"--bootstrap must be 0 (none) or a number of resamples, got {args.bootstrap}"
        )
    result = evaluate_model(
        args.model,
        args.data,
        _models_dir(args),
        batch=args.batch,
        progress=ProgressBar("patches", enabled=not args.json),
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
    birads = None if detection is None else _birads(args, detection, result.scope)
    if args.report:
        _write_report(args, result, detection, birads)
    if args.json:
        out = result.as_dict()
        if analysis is not None:
            out["analysis"] = analysis
        if detection is not None:
            out["detection"] = detection.as_dict()
        if birads is not None:
            out["birads"] = birads
        print(json.dumps(out))
        return 0
    m = result.metrics
    print(
        f"{result.model_id} on {result.data} ({result.scope}, {len(result.cases)} cases, {m['n']} patches)"
    )
    print(
        f"  AUC {_fmt(m.get('auc'))}, accuracy {_fmt(m.get('accuracy'))}, "
        f"sensitivity {_fmt(m.get('sensitivity'))}, specificity {_fmt(m.get('specificity'))}"
    )
    print(f"  confusion matrix (rows truth, columns predicted): {m['confusion_matrix']}")
    for key, reason in result.skipped_images.items():
        print(f"  LEFT OUT {key}: {reason}")
    for name, pc in (m.get("per_class") or {}).items():
        print(
            f"  {name}: AUC {_fmt(pc.get('auc'))} sens {_fmt(pc.get('sensitivity'))} spec {_fmt(pc.get('specificity'))}"
        )
    suspicious = m.get("binary_suspicious")
    if suspicious:
        print(f"  suspicious vs rest: AUC {_fmt(suspicious.get('auc'))}")
    for level, a in (analysis or {}).items():
        ci_text = f" (95% CI {a['auc_ci_text']})" if a["auc_ci_text"] else ""
        at = a["at_threshold"]
        youden = a["youden"]
        print(
            f"  {level} level ({a['n']}, {a['positives']} {a['positive']}, {a['patients']} patients): "
            f"AUC {_fmt(a['auc'])}{ci_text}, at {args.threshold:g}: sensitivity "
            f"{_fmt(at['sensitivity'])} specificity {_fmt(at['specificity'])}"
            + (f"; Youden threshold {youden['threshold']:.4f}" if youden else "")
        )
        for note in a["notes"]:
            print(f"    note: {note}")
    if detection is not None:
        _print_detection(detection)
    if birads is not None:
        _print_birads(birads)
    return 0


def _write_report(
    args: argparse.Namespace,
    result: EvaluationResult,
    detection: DetectionEvaluation | None,
    birads: dict[str, Any] | None,
) -> None:
    """Write the self-contained HTML report (``--report FILE``) atomically."""
    from mcalc.fileio import atomic_write_text
    from mcalc.models.registry import load_card, resolve_model
    from mcalc.present.report import evaluation_report

    card = load_card(resolve_model(args.model, _models_dir(args)))
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "report")}
    text = evaluation_report(
        result,
        card,
        detection=None if detection is None else detection.as_dict(),
        birads=birads,
        settings=settings,
        threshold=args.threshold,
        n_boot=args.bootstrap or 1000,
    )
    atomic_write_text(Path(args.report), text)
    print(f"wrote the report to {args.report}", file=sys.stderr)


def _birads(args: argparse.Namespace, detection: DetectionEvaluation, scope: str) -> dict[str, Any]:
    """Case-level BI-RADS classification of the evaluated cases (``birads`` in JSON)."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import case_features
    from mcalc.models.birads_eval import evaluate_birads
    from mcalc.models.registry import load_card, resolve_model

    index = open_dataset(args.data)
    evaluated = {im.case_id for im in detection.images}
    cases = case_features(detection, [c for c in index.cases if c.case_id in evaluated])
    train = []
    if args.birads_rule == "logistic":
        card = load_card(resolve_model(args.model, _models_dir(args)))
        if scope != "test-split" or not card.split.train:
            raise McalcError(
                "--birads-rule logistic is fitted on the model's training patients, so it "
                "needs the dataset the model was trained on; use max or mean on other data"
            )
        wanted = set(card.split.train)
        train_cases = [c for c in index.cases if c.case_id in wanted]
        train_ev = _detection(args, [c.case_id for c in train_cases], n_boot=0)
        train = case_features(train_ev, train_cases)
    try:
        return evaluate_birads(
            cases,
            rule=args.birads_rule,
            train=train,
            threshold=args.threshold,
            n_boot=args.bootstrap or 1000,
        )
    except ValueError as exc:
        raise McalcError(f"BI-RADS classification: {exc}") from exc


def _print_birads(b: dict[str, Any]) -> None:
    print(f"  BI-RADS, case level ({b['rule']}: {b['rule_text']}):")
    for name, m in (("all cases", b["all"]), ("biopsy-confirmed", b["biopsy_confirmed"])):
        if "auc" in m:
            ci = m.get("auc_ci")
            at, yj = m["at_threshold"], m["youden"]
            print(
                f"    {name} ({m['n']}, {m['suspicious']} suspicious): suspicious vs not AUC "
                f"{_fmt(m['auc'])}"
                + (f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
                + f"; at {at['threshold']:g}: accuracy {_fmt(at['accuracy'])} sensitivity "
                f"{_fmt(at['sensitivity'])} specificity {_fmt(at['specificity'])}; Youden "
                f"{yj['threshold']:.4f}: sensitivity {_fmt(yj['sensitivity'])} specificity "
                f"{_fmt(yj['specificity'])}"
            )
        if "per_class_auc" in m:
            per = ", ".join(f"{k} {_fmt(v)}" for k, v in m["per_class_auc"].items())
            print(f"      3 groups: accuracy {_fmt(m['accuracy_3class'])}; one-vs-rest AUC {per}")
        for note in m.get("notes", []):
            print(f"    {name}: {note}")


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
    except ValueError as exc:
        raise McalcError(f"--min-distance-mm / --detection-threshold: {exc}") from exc
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
            _models_dir(args),
            settings,
            case_ids=case_ids,
            progress=ProgressBar("whole images", enabled=not args.json),
        )
    except ValueError as exc:
        raise McalcError(f"detection evaluation: {exc}") from exc


def _print_detection(ev: DetectionEvaluation) -> None:
    s = ev.summary()

    def rates(values: dict[str, float | None]) -> str:
        return ", ".join(f"{_fmt(v)} at {k}" for k, v in values.items())

    print(
        f"  detection ({s['n_images']} images, {s['n_findings']} findings, "
        f"{s['n_clusters']} clusters, {s['n_detections']} detections):"
    )
    print(f"    sensitivity {rates(s['sensitivity_at'])} FP/image; mean {_fmt(s['cpm'])}")
    print(
        f"    cluster sensitivity {rates(s['cluster_sensitivity_at'])} FP clusters/image; "
        f"mean {_fmt(s['cluster_cpm'])}"
    )
    print(f"    (mean = {s['cpm_convention']})")
    for message in ev.skipped:
        print(f"    skipped: {message}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from mcalc.models.analysis import paired_comparison
    from mcalc.models.evaluate import evaluate_model

    if len(args.model) != 2:
        raise McalcError(f"compare takes exactly two --model options, got {len(args.model)}")
    if args.bootstrap < 1:
        raise McalcError(f"--bootstrap must be a number of resamples >= 1, got {args.bootstrap}")
    results = [
        evaluate_model(
            m,
            args.data,
            _models_dir(args),
            progress=ProgressBar(f"{m}", enabled=not args.json),
            cache=True,
        )
        for m in args.model
    ]
    if any(r.scores is None for r in results):
        raise McalcError("an evaluation without patch scores; evaluate the models again")
    try:
        out = paired_comparison(
            results[0].scores,  # type: ignore[arg-type]
            results[1].scores,  # type: ignore[arg-type]
            args.level,
            n_boot=args.bootstrap,
        )
    except ValueError as exc:
        raise McalcError(f"compare: {exc}") from exc
    out = {"model_a": results[0].model_id, "model_b": results[1].model_id, **out}
    if args.json:
        print(json.dumps(out))
        return 0
    ci = out["ci"]
    print(
        f"{out['model_a']} - {out['model_b']} on {out['n']} {args.level}s "
        f"({out['positives']} positive, {out['patients']} patients): AUC {_fmt(out['auc_a'])} vs "
        f"{_fmt(out['auc_b'])}, difference {_fmt(out['difference'])}"
        + (f" (95% CI {ci[0]:.3f} to {ci[1]:.3f}, p {out['p_value']:.3f})" if ci else " (no CI)")
    )
    print(f"  {out['method']}, {out['n_valid']} of {out['n_boot']} resamples usable")
    return 0


def _cmd_crossval(args: argparse.Namespace) -> int:
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig

    if args.folds < 0 or args.folds == 1:
        raise McalcError(f"--folds must be >= 2, or 0 for leave-one-patient-out; got {args.folds}")
    config = TrainConfig.from_args(args)
    try:
        out = crossval(
            config,
            args.folds,
            n_boot=args.bootstrap,
            detection=args.detection,
            progress=ProgressBar("folds", enabled=not args.json),
            engine=args.engine,
            address=args.address,
        )
    except ValueError as exc:
        raise McalcError(f"crossval: {exc}") from exc
    if args.json:
        print(json.dumps(out))
        return 0
    kind = "leave-one-patient-out" if out["leave_one_patient_out"] else f"{out['k']}-fold"
    print(f"{kind} cross-validation (patients stratified by BI-RADS group, seed {out['seed']}):")
    for f in out["folds"]:
        aucs = ", ".join(f"{lv} {_fmt(v)}" for lv, v in f["auc"].items())
        print(f"  fold {f['fold']}: {f['model_id']} on {len(f['patients'])} patients: AUC {aucs}")
    for level, ms in out["mean_sd"].items():
        p = out["pooled"][level]
        ci = f" (95% CI {p['auc_ci_text']})" if p["auc_ci_text"] else ""
        print(
            f"  {level}: AUC mean {_fmt(ms['mean'])} ± {_fmt(ms['sd'])} over {ms['n']} folds; "
            f"pooled out-of-fold {_fmt(p['auc'])}{ci}"
        )
    if "detection_mean_sd" in out:
        d = out["detection_mean_sd"]
        print(
            f"  detection: mean sensitivity at 0.5-4 FP/image {_fmt(d['cpm']['mean'])} ± "
            f"{_fmt(d['cpm']['sd'])}; clusters {_fmt(d['cluster_cpm']['mean'])}"
        )
    return 0


cmd_train = _guard(_cmd_train)
cmd_crossval = _guard(_cmd_crossval)
cmd_compare = _guard(_cmd_compare)
cmd_models = _guard(_cmd_models)
cmd_evaluate = _guard(_cmd_evaluate)


def _add_models_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", metavar="DIR", help="model registry folder (default: models/, or MCALC_MODELS)"
    )


def add_train_flags(train: argparse.ArgumentParser) -> None:
    """The flags of ``train`` (also those of ``train-workers``)."""
    from mcalc.models.architectures import ARCHITECTURES
    from mcalc.models.freeze import STRATEGIES
    from mcalc.models.patches import DEFAULT_SPACING_MM
    from mcalc.models.tasks import TASKS

    train.add_argument(
        "--config",
        metavar="FILE",
        help="a training configuration (JSON, as a job's config.json); flags given as well "
        "override its values",
    )
    train.add_argument("--data", help="dataset folder (real layout) or manifest")
    # Names are checked by mcalc (not argparse choices) so errors say what is known. A flag
    # left out keeps the --config file's value, else TrainConfig's default.
    train.add_argument("--arch", help=f"architecture: {', '.join(ARCHITECTURES)} (default custom)")
    train.add_argument("--task", help=f"task: {', '.join(TASKS)} (default calcification)")
    train.add_argument("--freeze", help=f"strategy: {', '.join(STRATEGIES)} (default full)")
    train.add_argument("--epochs", type=int, help="most epochs (default 10)")
    train.add_argument("--batch", type=int, help="batch size (default 32)")
    train.add_argument("--lr", type=float, help="learning rate (default per strategy)")
    train.add_argument("--seed", type=int, help="seed (default 0)")
    train.add_argument(
        "--weights",
        help="weights file (.weights.h5 of the model or a Keras-applications .h5), "
        "'none' for random initialisation (default: auto)",
    )
    _add_models_option(train)
    train.add_argument("--json", action="store_true", help="print the model card as JSON")
    train.add_argument("--patch-size", type=int, help="patch side in px")
    train.add_argument(
        "--spacing", type=float, help=f"patch pixel spacing in mm (default {DEFAULT_SPACING_MM})"
    )
    train.add_argument(
        "--patches-per-image",
        type=int,
        help="patches of each kind per image: sets both --pos-per-image and --neg-per-image",
    )
    train.add_argument(
        "--pos-per-image", type=int, help="patches at findings per image (default 16)"
    )
    train.add_argument("--neg-per-image", type=int, help="tissue patches per image (default 16)")
    train.add_argument(
        "--two-stage", action="store_true", help="train the head first, then --freeze"
    )
    train.add_argument(
        "--head-epochs", type=int, help="epochs of the head stage of --two-stage (default 2)"
    )
    train.add_argument("--boundary", help="first trainable layer of 'partial'")
    train.add_argument("--patience", type=int, help="early-stopping patience (default 3)")
    train.add_argument(
        "--no-augment", action="store_true", help="no flips/rotations/intensity augmentation"
    )
    train.add_argument("--max-steps", type=int, help="cap of batches per epoch")
    train.add_argument(
        "--strategy",
        help="distribution: auto (several workers under a TF_CONFIG cluster, else mirrored "
        "on several GPUs), default, mirrored or multiworker (TF_CONFIG; needs --id)",
    )
    train.add_argument("--id", help="registry id (default: arch-task-time)")


def register_commands(subparsers: Any) -> None:
    """Add ``train``, ``models`` and ``evaluate`` to an argparse sub-parser set."""
    from mcalc.models.architectures import ARCHITECTURES
    from mcalc.models.birads_eval import AGGREGATIONS
    from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM
    from mcalc.models.freeze import STRATEGIES
    from mcalc.models.froc import DEFAULT_CLUSTER_TOLERANCE_MM, DEFAULT_TOLERANCE_MM
    from mcalc.models.tasks import TASKS

    train = subparsers.add_parser(
        "train", help="train a model on patches, evaluate on held-out patients, register it"
    )
    add_train_flags(train)
    train.set_defaults(func=cmd_train)

    models = subparsers.add_parser("models", help="list the registered models")
    _add_models_option(models)
    models.add_argument("--json", action="store_true", help="print a JSON list of cards")
    models.set_defaults(func=cmd_models)

    evaluate = subparsers.add_parser(
        "evaluate", help="metrics of a model on a dataset's test patients (or all of another)"
    )
    evaluate.add_argument("--model", required=True, help="registry id or model folder")
    evaluate.add_argument("--data", required=True, help="dataset folder or manifest")
    _add_models_option(evaluate)
    evaluate.add_argument("--batch", type=int, default=None, help="batch size of prediction")
    evaluate.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="decision threshold of the binary metrics (default 0.5)",
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
    evaluate.add_argument(
        "--report",
        metavar="FILE",
        help="also write a self-contained HTML report (card, data, every curve and table, settings)",
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
    cv.add_argument("--epochs", type=int, help="most epochs per fold (default 10)")
    cv.add_argument("--batch", type=int, help="batch size (default 32)")
    cv.add_argument("--lr", type=float, help="learning rate (default per strategy)")
    cv.add_argument("--seed", type=int, help="seed of the folds and the training (default 0)")
    cv.add_argument("--patch-size", type=int, help="patch side in px")
    cv.add_argument("--spacing", type=float, help="patch pixel spacing in mm")
    cv.add_argument("--patches-per-image", type=int, help="patches of each kind per image")
    cv.add_argument("--max-steps", type=int, help="cap of batches per epoch")
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
        help="run the folds one after another here (local, default) or as parallel Ray tasks",
    )
    cv.add_argument(
        "--address", help="with --engine ray: the Ray cluster (default: a local instance)"
    )
    _add_models_option(cv)
    cv.add_argument("--json", action="store_true", help="print the result as JSON")
    cv.set_defaults(func=cmd_crossval)

    compare = subparsers.add_parser(
        "compare", help="difference in AUC of two models on the same cases (patient bootstrap)"
    )
    compare.add_argument(
        "--model", action="append", required=True, help="registry id or folder; give it twice"
    )
    compare.add_argument("--data", required=True, help="dataset folder or manifest")
    _add_models_option(compare)
    compare.add_argument(
        "--level", choices=("image", "case"), default="case", help="items compared (default case)"
    )
    compare.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="resamples (default 1000)"
    )
    compare.add_argument("--json", action="store_true", help="print the result as JSON")
    compare.set_defaults(func=cmd_compare)
