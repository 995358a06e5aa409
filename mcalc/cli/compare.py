"""The ``compare`` sub-command of ``python -m mcalc``: the difference in AUC of two models on
the same images or cases (a paired patient bootstrap and DeLong's test), on every case or on
the published work's task (``--cases benign-vs-suspicious``: benign vs suspicious, the normal
cases left out), the published pairs (without vs with the prior) then beside ours; at the
level of cases or images, also both models' accuracies at one threshold on the compared
scores (``--threshold``, by default Evaluate's 0.5 on patch probabilities: never a card's
decision threshold, a map-score threshold in other units, nor one chosen on the compared
items) and McNemar's exact test of their difference.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from mcalc.cli.common import add_models_option, document_out, fmt, models_dir
from mcalc.errors import McalcError
from mcalc.models.tasks import PAPERS_TASK, has_papers_task
from mcalc.plural import counted
from mcalc.progress import TerminalProgress

if TYPE_CHECKING:
    from mcalc.explain.scoring import DecisionThreshold
    from mcalc.models.evaluate import EvaluationResult

__all__ = ["add_compare_command", "cmd_compare", "print_comparison", "print_published_pair"]


def cmd_compare(args: argparse.Namespace) -> int:
    from mcalc.models.analysis import paired_comparison
    from mcalc.models.evaluate import evaluate_model

    if len(args.model) != 2:
        raise McalcError(f"compare takes exactly two --model options, got {len(args.model)}")
    if args.bootstrap < 1:
        raise McalcError(f"--bootstrap must be a number of resamples >= 1, got {args.bootstrap}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise McalcError(f"--threshold must lie in [0, 1], got {args.threshold}")
    same = (
        "compare takes two different models, got {} twice: a model against itself has no "
        "difference to test (`python -m mcalc models` lists the ids)"
    )
    if args.model[0] == args.model[1]:
        raise McalcError(same.format(args.model[0]))
    results = [
        evaluate_model(
            m,
            args.data,
            models_dir(args),
            progress=TerminalProgress(f"{m}", enabled=not args.json),
            cache=True,
        )
        for m in args.model
    ]
    if results[0].model_id == results[1].model_id:  # one model, named two ways (id, path)
        raise McalcError(same.format(results[0].model_id))
    if any(r.scores is None for r in results):
        raise McalcError("an evaluation without patch scores; evaluate the models again")
    cases = args.cases.replace("-", "_")  # benign-vs-suspicious: PAPERS_TASK
    cards = {r.model_id: _card_threshold(args, r) for r in results}
    try:
        out = paired_comparison(
            results[0].scores,  # type: ignore[arg-type]
            results[1].scores,  # type: ignore[arg-type]
            args.level,
            n_boot=args.bootstrap,
            cases=cases,
            threshold=_threshold(args, cards, args.level),
        )
    except ValueError as exc:
        raise McalcError(f"compare: {exc}") from exc
    out = {"model_a": results[0].model_id, "model_b": results[1].model_id, **out}
    if "accuracy" in out:
        out["accuracy"]["card_thresholds"] = {
            k: {"value": t.value, "source": t.source} for k, t in cards.items()
        }
    published = _published_pair(args, out, results) if cases == PAPERS_TASK else None
    if published is not None:
        out["published"] = published
    if args.json:
        print(json.dumps(out), file=document_out())
        return 0
    print_comparison(out, args.level)
    if published is not None:
        print_published_pair(published)
    elif all(r.scores is not None and has_papers_task(r.scores.classes) for r in results):
        print(
            "  The published results (benign vs suspicious, without and with the prior) are "
            "set beside the papers' task: --level case --cases benign-vs-suspicious"
        )
    return 0


def _card_threshold(args: argparse.Namespace, result: EvaluationResult) -> DecisionThreshold:
    """The model's decision threshold (:func:`mcalc.explain.scoring.decision_threshold`): a
    map-score threshold, named beside the accuracies, which are not read at it."""
    from mcalc.explain.scoring import decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    return decision_threshold(load_card(resolve_model(result.model_id, models_dir(args))))


def _threshold(
    args: argparse.Namespace, cards: dict[str, DecisionThreshold], level: str
) -> tuple[float, str]:
    """The threshold both models' accuracies are read at, on their scores' own units
    (``--threshold``, else :data:`~mcalc.explain.metrics_threshold.METRICS_THRESHOLD`), and
    why (:func:`~mcalc.explain.metrics_threshold.paired_threshold_source`)."""
    from mcalc.explain.metrics_threshold import METRICS_THRESHOLD, paired_threshold_source

    given = None if args.threshold is None else "given with --threshold"
    value = METRICS_THRESHOLD if args.threshold is None else args.threshold
    return value, paired_threshold_source(cards, level, given)


def _published_pair(
    args: argparse.Namespace, out: dict[str, Any], results: list[EvaluationResult]
) -> list[dict[str, object]]:
    """The published pairs beside ``out`` (:func:`mcalc.models.published.pair_rows`): our
    data read from ``--data``, each model's input from its card."""
    from mcalc.dataset import open_dataset
    from mcalc.models.published import pair_rows
    from mcalc.models.registry import load_card, resolve_model

    try:
        index = open_dataset(args.data)
        synthetic, source = index.synthetic, index.source
    except McalcError:
        synthetic, source = None, ""
    temporal = tuple(
        load_card(resolve_model(r.model_id, models_dir(args))).patch.temporal for r in results
    )
    scopes = {r.scope for r in results}
    protocol = "held-out test patients" if scopes == {"test-split"} else "all patients"
    return pair_rows(
        out,
        (temporal[0], temporal[1]),
        synthetic=synthetic,
        source=source,
        protocol=protocol,
    )


def print_comparison(out: dict[str, Any], level: str) -> None:
    """The terminal form of :func:`mcalc.models.analysis.paired_comparison`'s result."""
    from mcalc.explain.scoring import threshold_label

    ci = out["ci"]
    print(
        f"{out['model_a']} - {out['model_b']} on {counted(out['n'], level)} "
        f"({out['positives']} positive, {counted(out['patients'], 'patient')}): AUC {fmt(out['auc_a'])} vs "
        f"{fmt(out['auc_b'])}, difference {fmt(out['difference'])}"
    )
    if "cases_text" in out:
        left = out.get("left_out")
        print(
            f"  cases: {out['cases_text']}"
            + (f"; {left} normal case{'' if left == 1 else 's'} left out" if left else "")
        )
    print(
        "  patient bootstrap: "
        + (f"95% CI {ci[0]:.3f} to {ci[1]:.3f}, p {out['p_value']:.3f}" if ci else "no CI")
        + f" ({out['n_valid']} of {out['n_boot']} resamples usable)"
    )
    for note in out["notes"]:
        print(f"    note: {note}")
    acc = out.get("accuracy")
    if acc:
        print(
            f"  accuracy at {threshold_label(acc['threshold'])} (both models): "
            f"{fmt(acc['accuracy_a'])} vs {fmt(acc['accuracy_b'])} ({acc['correct_a']} and "
            f"{acc['correct_b']} of {acc['n']}), difference {fmt(acc['difference'])}"
        )
        print(f"    threshold: {acc['threshold_source']}")
        print(
            f"  McNemar exact: p {acc['p_value']:.3f} (only {out['model_a']} right on "
            f"{acc['a_only']}, only {out['model_b']} on {acc['b_only']})"
        )
        for note in acc["notes"]:
            print(f"    note: {note}")
    d = out["delong"]
    if "se" in d:
        p = "n/a (identical rankings)" if d["p_value"] is None else f"{d['p_value']:.3f}"
        print(f"  DeLong: 95% CI {d['low']:.3f} to {d['high']:.3f}, z {fmt(d['z'])}, p {p}")
        if d.get("note"):  # its caveat (items of few patients), as the JSON carries it
            print(f"    note: {d['note']}")
    else:
        print(f"  DeLong: {d['note']}")


def print_published_pair(rows: list[dict[str, Any]]) -> None:
    """The published pairs and ours (:func:`mcalc.models.published.pair_rows`), one line
    each, with what differs."""
    from mcalc.models.published import PAIR_NOTE

    print("  Published results on this dataset's real mammograms, without vs with the prior:")
    for r in rows:
        aucs = (
            ""
            if r["AUC without prior"] is None and r["AUC with prior"] is None
            else f"AUC {fmt(r['AUC without prior'])} vs {fmt(r['AUC with prior'])}, "
            f"difference {r['with - without']}; "
        )
        accuracy = r["accuracy without / with"]
        print(
            f"    {r['result']} ({r['without / with']}): {aucs}"
            + ("" if accuracy == "n/a" else f"accuracy {accuracy}; ")
            + f"{r['cases and protocol']}; data: {r['data']}"
        )
        if r["result"] == "ours":
            print(f"      paired test: {r['paired test']}")
        if r["differences"]:
            print(f"      differs: {r['differences']}")
    print(f"    {PAIR_NOTE}")


def add_compare_command(subparsers: Any) -> None:
    """Add ``compare`` to an argparse sub-parser set."""
    compare = subparsers.add_parser(
        "compare",
        help="difference in AUC of two models on the same cases (patient bootstrap and "
        "DeLong), and in accuracy at one threshold on their scores (McNemar)",
    )
    compare.add_argument(
        "--model", action="append", required=True, help="registry id or folder; give it twice"
    )
    compare.add_argument("--data", required=True, help="dataset folder or manifest")
    add_models_option(compare)
    compare.add_argument(
        "--level", choices=("image", "case"), default="case", help="items compared (default case)"
    )
    compare.add_argument(
        "--cases",
        choices=("all", "benign-vs-suspicious"),
        default="all",
        help="cases compared: all (the binary view: suspicious vs the rest for birads "
        "models), or benign-vs-suspicious, the published work's task (normal cases left "
        "out; birads models, case level), with the published results beside ours",
    )
    compare.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="resamples (default 1000)"
    )
    compare.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="threshold in [0, 1] on both models' image or case scores (the maximum of "
        "sampled patch probabilities) for their accuracies and McNemar's test (default 0.5, "
        "Evaluate's; a card's decision threshold is a map score threshold, in other units)",
    )
    compare.add_argument("--json", action="store_true", help="print the result as JSON")
    compare.set_defaults(func=cmd_compare)
