"""``python -m mcalc models threshold ID``: show or set a model's decision threshold.

Without ``--data`` or ``--value`` it shows the threshold and its source. With ``--data`` it
chooses one on the map scores of the model's validation patients in that dataset (the one
it was trained on) by ``--rule`` (:mod:`mcalc.models.operating_point`); with ``--value`` and
``--source`` it sets one by hand. Either way the card is rewritten with the new threshold and
its provenance, the old card kept beside it, and the old and new values are printed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mcalc.cli.common import document_out, models_dir, recorded_user
from mcalc.errors import McalcError
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

__all__ = ["add_threshold_command", "cmd_threshold"]


def cmd_threshold(args: argparse.Namespace) -> int:
    from mcalc.explain.scoring import decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    folder = resolve_model(args.id, models_dir(args))
    card = load_card(folder)
    before = decision_threshold(card)
    if args.data is None and args.value is None:
        if args.rule:
            raise McalcError("--rule chooses on the validation patients of --data: give --data")
        if args.source:
            raise McalcError("--source says where a --value comes from: give --value")
        if args.json:
            print(json.dumps({"model_id": card.id, "threshold": _entry(card)}), file=document_out())
        else:
            print(f"{card.id}: decision threshold {before.value:g} ({before.source})")
        return 0
    if args.data is not None and args.value is not None:
        raise McalcError("pass --data (choose on the validation patients) or --value, not both")
    user, account_role = recorded_user(
        args.by, "--by", outcome="the threshold is unchanged", action="set_threshold"
    )
    skipped: dict[str, str] = {}
    if args.value is not None:
        from mcalc.models.operating_point import manual_threshold

        choice = manual_threshold(args.value, args.source or "", by=user)
    else:
        choice, skipped = _chosen(args, folder, user)
    from mcalc.models.operating_point import set_threshold

    change = set_threshold(folder, choice, role=account_role or "admin", user=user)
    after = decision_threshold(load_card(folder))
    if args.json:
        out: dict[str, Any] = {
            "model_id": card.id,
            "old": {**before.as_dict(), **(dict(change.old) if change.old else {})},
            "new": dict(change.new),
            "kept": str(change.kept),
            "skipped": skipped,
        }
        print(json.dumps(out), file=document_out())
        return 0
    print(f"{card.id}: decision threshold {before.value:g} -> {after.value:g}")
    print(f"  was: {before.source}")
    print(f"  now: {after.source}")
    if choice.split:
        print(
            f"  on {counted(choice.images, 'image')} ({choice.positives} positive, "
            f"{counted(choice.patients, 'patient')}): sensitivity {choice.sensitivity:.3f}, specificity "
            f"{choice.specificity:.3f}"
        )
    for key, why in skipped.items():
        print(f"  LEFT OUT {key}: {why}")
    print(f"  the card it replaced is kept as {change.kept}")
    return 0


def _entry(card: Any) -> dict[str, Any]:
    from mcalc.explain.scoring import decision_threshold

    section = card.decision_threshold
    raw = section.to_json() if section is not None else card.extra.get("decision_threshold")
    return {**decision_threshold(card).as_dict(), **(raw if isinstance(raw, dict) else {})}


def _chosen(args: argparse.Namespace, folder: Any, user: str) -> tuple[Any, dict[str, str]]:
    """The threshold chosen on the validation patients of ``--data`` by ``--rule``."""
    from mcalc.config import get_settings, import_tensorflow_quietly
    from mcalc.dataset import open_dataset
    from mcalc.explain.operating import choose_operating_point
    from mcalc.explain.results import ResultsCache
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.inference import load_model
    from mcalc.models.operating_point import parse_rule, validation_cases
    from mcalc.models.registry import load_card

    rule = parse_rule(args.rule or "youden")  # before the model loads: a typo fails fast
    index = open_dataset(args.data)
    # The card's split and dataset checked before TensorFlow starts (6-12 s here).
    validation_cases(load_card(folder), dataset_fingerprint(index))
    import_tensorflow_quietly()  # its start-up lines kept off stderr, as `predict`'s
    loaded = load_model(folder, models_dir(args))
    # Predict's results cache: the maps made here are the ones Predict shows later.
    cache = ResultsCache(get_settings().cache_dir / "predict")
    return choose_operating_point(
        loaded,
        index,
        rule,
        by=user,
        results=cache,
        progress=TerminalProgress("validation images", enabled=not args.json),
    )


def add_threshold_command(inner: Any) -> argparse.ArgumentParser:
    """Add ``threshold`` to the ``models`` sub-commands."""
    parser = inner.add_parser(
        "threshold",
        help="show a model's decision threshold, or set it: chosen on its validation "
        "patients (--data, --rule) or by hand (--value, --source)",
    )
    parser.add_argument("id", help="registry id (or folder) of the model")
    parser.add_argument(
        "--data",
        help="the dataset the model was trained on: the threshold is chosen on the map "
        "scores of its validation patients (never the test patients)",
    )
    parser.add_argument(
        "--rule",
        help="youden (default: maximise sensitivity + specificity - 1) or sensitivity:T "
        "(the highest threshold whose sensitivity reaches T, e.g. sensitivity:0.9)",
    )
    parser.add_argument("--value", type=float, help="a threshold set by hand (needs --source)")
    parser.add_argument("--source", help="where a --value comes from, in words")
    parser.add_argument(
        "--by",
        metavar="NAME",
        help="who sets it, for the card and the record (default: the login name); where "
        "accounts exist, one of them with the researcher or admin role",
    )
    parser.set_defaults(func=cmd_threshold)  # --models and --json: added with the others'
    return parser
