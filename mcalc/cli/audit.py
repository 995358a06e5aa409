"""``python -m mcalc audit table|calls|agreement``: readers' audit verdicts, headless.

The Audit page's figures and downloads from a shell: a model's audit table
(:func:`mcalc.store.audit.audit_table`, its CSV :func:`mcalc.store.exchange.audit_csv`),
one row per region call (:func:`mcalc.store.region_calls.calls_table`,
:func:`mcalc.store.exchange.region_calls_csv`) and the agreement between readers
(:mod:`mcalc.store.verdict_agreement`), on current verdicts or first reads.

An administrator's view: the command reads the store folder itself (``--store``, else
``MCALC_STORE``), so it shows every reader's verdicts; independent reads, which hide the
others' verdicts from a signed-in reader on the pages, do not apply. Without ``--model`` it
lists the models that have verdicts rather than pick one. Verdict files that cannot be read
are left out and named on stderr, as the page names them.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcalc.access.reads import independence_note
from mcalc.cli.common import check_out_file, document_out
from mcalc.config import get_settings
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_bytes
from mcalc.plural import counted
from mcalc.store.audit import AuditStore, AuditSummary, AuditVerdict, audit_table
from mcalc.store.exchange import ExportError, audit_csv, region_calls_csv
from mcalc.store.region_calls import PAIR_IOU, calls_table, calls_text, tally
from mcalc.store.verdict_agreement import (
    QUESTIONS,
    agreement_figures,
    agreement_rows,
    first_reads,
    revisions,
    verdict_agreement,
    verdict_histories,
)

__all__ = ["register_commands"]

#: Said in the help: what this command shows that a reader's page may not.
ADMIN_VIEW = (
    "an administrator's view: it reads the store folder directly and shows every reader's "
    "verdicts (independent reads, which hide the others' verdicts on the pages, do not apply)"
)
#: Said beside the figures printed.
EVERY_READER = "every reader's verdicts: an administrator's view"
#: Where ``audit agreement`` read the independent-reads setting, said in its note.
SETTING_HERE = "where this command runs (give it the app server's setting, which readers had)"
#: Models named in a message before "and N more".
MODELS_LISTED = 8


def _root(args: argparse.Namespace) -> Path:
    return Path(args.store) if args.store else get_settings().store_dir


def _line(text: object) -> str:
    """``text`` on one line with nothing a terminal would act on (a reader's comment)."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is not a CSV before anything is read."""
    out = getattr(args, "out", None)
    if out and Path(out).suffix.lower() != ".csv":
        raise McalcError(f"--out must end in .csv (a CSV is written), got {Path(out).name!r}")
    if out:
        check_out_file(out, "--out")


def _say_skipped(skipped: Sequence[str]) -> None:
    if skipped:
        print(
            f"warning: {counted(len(skipped), 'verdict file')} cannot be read and {'is' if len(skipped) == 1 else 'are'} left out (each "
            "left as it is; its reader can recover it on Audit's Record a verdict):",
            file=sys.stderr,
        )
        for why in skipped:
            print(f"  skipped {why}", file=sys.stderr)


def _named_models(models: Sequence[str]) -> str:
    shown = ", ".join(models[:MODELS_LISTED])
    more = len(models) - MODELS_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _read(args: argparse.Namespace) -> tuple[AuditStore, list[AuditVerdict], list[str]]:
    """The store, the verdicts (of ``--model``, else of every model) and the files skipped
    (named on stderr).

    Raises:
        McalcError: the store folder does not exist, holds no verdict, or none of ``--model``.
    """
    root = _root(args)
    if not root.is_dir():
        raise McalcError(
            f"the store folder {root} does not exist: pass --store DIR, the folder the app "
            "keeps readers' marks and verdicts in (its MCALC_STORE; default data/annotations)"
        )
    store = AuditStore(root)
    skipped: list[str] = []
    verdicts = store.verdicts(args.model or None, skipped=skipped)
    _say_skipped(skipped)
    if verdicts:
        return store, verdicts, skipped
    # (a second read's damaged files: said above, so collected and dropped)
    every = verdicts if not args.model else store.verdicts(skipped=[])
    if not every:
        damaged = f" ({len(skipped)} damaged, named above)" if skipped else ""
        raise McalcError(
            f"no verdicts in {root}{damaged}: readers record them on the Audit page or "
            "Predict's verdict form; pass --store DIR if the app keeps them elsewhere (its "
            "MCALC_STORE)"
        )
    models = sorted({v.model_id for v in every})
    raise McalcError(
        f"no verdicts of model {args.model!r} in {root} (models with verdicts: "
        f"{_named_models(models)}): pass one of them as --model, or leave --model out to "
        "list them"
    )


def _list_models(args: argparse.Namespace, verdicts: Sequence[AuditVerdict]) -> int:
    """No ``--model``: the models that have verdicts, and how to pick one. Refused (2)
    where a file was to be written."""
    models: dict[str, list[AuditVerdict]] = {}
    for v in verdicts:
        models.setdefault(v.model_id, []).append(v)
    rows = [
        {
            "model_id": m,
            "verdicts": len(vs),
            "images": len({v.image_key for v in vs}),
            "readers": len({v.reader for v in vs}),
        }
        for m, vs in sorted(models.items())
    ]
    if args.json:
        print(
            json.dumps({"store": str(_root(args)), "model_id": None, "models": rows}),
            file=document_out(),
        )
    else:
        print(
            f"no --model given: the {counted(len(rows), 'model')} with verdicts in {_root(args)} "
            f"(pass --model ID for one's audit; {EVERY_READER}):"
        )
        for r in rows:
            print(
                f"  {r['model_id']}\t{counted(r['verdicts'], 'verdict')} on "
                f"{counted(r['images'], 'image')} by {counted(r['readers'], 'reader')}"
            )
    if getattr(args, "out", None):
        print(
            f"error: nothing written to {args.out}: pass --model ID (one of the models listed)",
            file=sys.stderr,
        )
        return 2
    return 0


def _json_row(v: AuditVerdict) -> dict[str, Any]:
    """A verdict's row of the table, its model card nested (the CSV's cell holds its JSON
    text)."""
    row = v.row()
    row["model_card"] = json.loads(row["model_card"]) if row["model_card"] else None
    return row


def _write(path: str, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def _rate(value: float | None, part: int, whole: int, of: str) -> str:
    return "n/a" if value is None else f"{value:.0%} ({part} of {whole} {of})"


def _print_table(s: AuditSummary, verdicts: Sequence[AuditVerdict]) -> None:
    """The figures of :func:`audit_table`, each rate with what it counts, then the
    verdicts to look at again (as the page's table of them), one line each."""
    agree = sum(v.score_verdict == "agree" for v in verdicts)
    judged = [v.explanation_plausible for v in verdicts if v.explanation_plausible is not None]
    regions = tally(v.regions for v in verdicts)
    decided = regions.calcification + regions.not_calcification
    figures = {
        "images reviewed": s.n_images,
        "verdicts": s.n_verdicts,
        "readers": s.n_readers,
        "agree with score": _rate(s.agreement_rate, agree, s.n_verdicts, "verdicts"),
        "plausible explanations": _rate(s.plausible_rate, sum(judged), len(judged), "judged"),
        "regions judged": s.regions_judged,
        "regions confirmed": _rate(
            s.regions_confirmed_rate, regions.calcification, decided, "called either way"
        ),
    }
    print(f"audit of {s.model_id} ({EVERY_READER})")
    for label, value in figures.items():
        print(f"  {label:<24}{value}")
    looks = [v for v in verdicts if v.disagrees]
    print(f"to look at again ({len(looks)}):")
    plausible = {True: "plausible", False: "implausible", None: "not judged"}
    for v in looks:
        comment = f"; comment: {_line(v.comment)}" if v.comment else ""
        print(
            f"  {v.image_key}  {v.reader}: score {v.score_verdict}, explanation "
            f"{plausible[v.explanation_plausible]}, "
            f"{calls_text(v.regions) or 'no region called'}{comment}"
        )


def _cmd_table(args: argparse.Namespace) -> int:
    store, verdicts, skipped = _read(args)
    if not args.model:
        return _list_models(args, verdicts)
    s = audit_table(store.root, args.model, verdicts=verdicts)
    if args.out:
        _write(args.out, audit_csv(s.table))
    if args.json:
        print(
            json.dumps(
                {
                    "model_id": s.model_id,
                    "store": str(store.root),
                    "n_images": s.n_images,
                    "n_verdicts": s.n_verdicts,
                    "n_readers": s.n_readers,
                    "agreement_rate": s.agreement_rate,
                    "plausible_rate": s.plausible_rate,
                    "regions_judged": s.regions_judged,
                    "regions_confirmed_rate": s.regions_confirmed_rate,
                    "to_look_at_again": len(s.disagreements),
                    "rows": [_json_row(v) for v in verdicts],
                    "skipped": list(skipped),
                    "out": args.out,
                }
            ),
            file=document_out(),
        )
        return 0
    _print_table(s, verdicts)
    if args.out:
        print(f"wrote {counted(s.n_verdicts, 'verdict')} to {args.out}")
    return 0


def _cmd_calls(args: argparse.Namespace) -> int:
    store, verdicts, skipped = _read(args)
    if not args.model:
        return _list_models(args, verdicts)
    table = calls_table(verdicts)
    try:
        text = region_calls_csv(table)
    except ExportError:
        raise McalcError(
            f"no region calls in the {counted(len(verdicts), 'verdict')} of {args.model}: readers call "
            "regions on Predict's or Audit's verdict form; nothing written"
        ) from None
    _write(args.out, text)
    t = tally(v.regions for v in verdicts)
    if args.json:
        print(
            json.dumps(
                {
                    "model_id": args.model,
                    "store": str(store.root),
                    "out": args.out,
                    "calls": t.judged,
                    "calcification": t.calcification,
                    "not_calcification": t.not_calcification,
                    "unsure": t.unsure,
                    "regions_confirmed_rate": t.confirmed_rate,
                    "rows": table.to_dict(orient="records"),
                    "skipped": list(skipped),
                }
            ),
            file=document_out(),
        )
    else:
        print(
            f"wrote {counted(t.judged, 'region call')} of {args.model} to {args.out}: "
            f"{t.calcification} calcification, {t.not_calcification} not calcification, "
            f"{t.unsure} unsure ({EVERY_READER})"
        )
    return 0


def _revised(histories: dict[tuple[str, str], list[AuditVerdict]]) -> dict[str, int]:
    table = revisions(histories)
    if table.empty:
        return {"verdicts": 0, "revised": 0, "revised_after_others_shown": 0}
    revised = table[table["versions"] > 1]
    return {
        "verdicts": len(table),
        "revised": len(revised),
        "revised_after_others_shown": int(revised["revised after others were shown"].sum()),
    }


def _cmd_agreement(args: argparse.Namespace) -> int:
    store, verdicts, skipped = _read(args)
    if not args.model:
        return _list_models(args, verdicts)
    readers = sorted({v.reader for v in verdicts})
    if len(readers) < 2:
        raise McalcError(
            f"agreement needs two readers or more: the verdicts of {args.model} are "
            f"{', '.join(readers)}'s alone"
        )
    which = "current verdicts"
    revised: dict[str, int] | None = None
    if args.first_reads:
        histories = verdict_histories(store, args.model, skipped=[])  # said above
        verdicts = first_reads(histories)
        which = "first reads"
        revised = _revised(histories)
    ag = verdict_agreement(verdicts, args.question)
    rows = agreement_rows(ag)
    mode = get_settings().independent_reads
    reads = {
        "mode": mode,
        "independent": mode != "off",
        "note": independence_note(mode, where=SETTING_HERE, page="the Audit page"),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "model_id": args.model,
                    "store": str(store.root),
                    "question": args.question,
                    "verdicts": which,
                    "readers": list(ag.readers),
                    "units": ag.units,
                    "rows": rows.to_dict(orient="records"),
                    "figures": agreement_figures(ag),
                    "unpaired": ag.unpaired,
                    "caveats": list(ag.caveats),
                    "revisions": revised,
                    "independent_reads": reads,
                    "skipped": list(skipped),
                }
            ),
            file=document_out(),
        )
        return 0
    print(
        f"agreement on {QUESTIONS[args.question]} of {args.model}, {which} of "
        f"{counted(len(ag.readers), 'reader')} ({EVERY_READER})"
    )
    print(rows.to_string(index=False))
    if ag.overall.n_images == 0:
        print(f"note: no {ag.units} were answered by two readers or more: nothing to agree on.")
    for caveat in ag.caveats:
        print(f"note: {caveat}")
    print(f"note: {reads['note']}")
    if revised is not None:
        print(
            f"revised: {revised['revised']} of {counted(revised['verdicts'], 'verdict')}, "
            f"{revised['revised_after_others_shown']} after another reader's first verdict on "
            "the image"
        )
    return 0


def _common_options(
    p: argparse.ArgumentParser, *, out: str | None, out_required: bool = False
) -> None:
    p.add_argument(
        "--model",
        metavar="ID",
        help="the model's registry id (left out: list the models that have verdicts)",
    )
    p.add_argument(
        "--store",
        metavar="DIR",
        help="the store folder of readers' marks and verdicts (default: data/annotations, or "
        "MCALC_STORE)",
    )
    if out is not None:
        p.add_argument("--out", metavar="FILE.csv", required=out_required, help=out)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _about(what: str) -> str:
    """A sub-command's description, wrapped (its help keeps the description's lines as
    given: the example under it needs them kept)."""
    return textwrap.fill(f"{what}; {ADMIN_VIEW}.", width=80)


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``audit`` with its sub-commands to the main parser."""
    audit = sub.add_parser(
        "audit",
        help="readers' audit verdicts: a model's table, region calls, agreement",
        description=_about("Readers' audit verdicts of a model, as on the Audit page"),
    )
    verbs = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    table = verbs.add_parser(
        "table",
        help="a model's figures and verdicts (--out: the audit table's CSV)",
        description=_about("A model's audit figures and the verdicts to look at again"),
    )
    _common_options(table, out="also write the audit table as CSV (as the page downloads it)")
    table.set_defaults(func=_cmd_table, precheck=_check_out)

    calls = verbs.add_parser(
        "calls",
        help="one CSV row per region call of a model's verdicts",
        description=_about("The readers' region calls of a model, one CSV row each"),
    )
    _common_options(calls, out="the CSV to write (FILE.csv)", out_required=True)
    calls.set_defaults(func=_cmd_calls, precheck=_check_out)

    agreement = verbs.add_parser(
        "agreement",
        help="Cohen's kappa per reader pair and Krippendorff's alpha",
        description=_about(
            "Agreement between a model's readers: Cohen's kappa per pair, Krippendorff's "
            "alpha over all, 95% bootstrap intervals"
        ),
    )
    agreement.add_argument(
        "--question",
        choices=list(QUESTIONS),
        default="score",
        help="what is agreed on: score (agree / disagree, default), explanation (plausible "
        "/ not) or regions (each region called calcification / not; two readers' calls "
        f"pair where their regions' boxes overlap by IoU >= {PAIR_IOU:g}, one-to-one)",
    )
    agreement.add_argument(
        "--first-reads",
        action="store_true",
        help="on each reader's first verdict on each image, not the current one (and count "
        "the revisions)",
    )
    _common_options(agreement, out=None)
    agreement.set_defaults(func=_cmd_agreement)
