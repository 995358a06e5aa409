"""The text that ``python -m mcalc evaluate`` prints for case-level results: the BI-RADS
classification of each set of cases and the published results beside ours."""

from __future__ import annotations

from typing import Any

from mcalc.cli.common import fmt, threshold_text
from mcalc.plural import counted

__all__ = ["print_birads", "print_published", "print_published_cv"]


def print_birads(b: dict[str, Any]) -> None:
    """The ``birads`` result (:func:`mcalc.models.birads_eval.evaluate_birads`), one set of
    cases after another."""
    from mcalc.models.analysis import interval_text
    from mcalc.models.birads_eval import SUBSETS
    from mcalc.present.report import birads_threshold_words

    print(f"  BI-RADS, case level ({b['rule']}: {b['rule_text']}):")
    if words := birads_threshold_words(b, "given with --threshold"):
        print(f"    {words}")
    for name, m in ((label, b[key]) for key, label in SUBSETS if key in b):
        if "auc" in m:
            ci = m.get("auc_ci")
            at, yj = m["at_threshold"], m["youden"]
            print(
                f"    {name} ({m['n']}, {m['suspicious']} suspicious): suspicious vs not AUC "
                f"{fmt(m['auc'])}"
                + (f" (95% CI {interval_text(ci[0], ci[1], m['patients'])})" if ci else "")
                + f"; at {at['threshold']:g}: accuracy {fmt(at['accuracy'])} sensitivity "
                f"{fmt(at['sensitivity'])} specificity {fmt(at['specificity'])}; Youden "
                f"{threshold_text(yj['threshold'])}: sensitivity {fmt(yj['sensitivity'])} specificity "
                f"{fmt(yj['specificity'])}"
            )
        else:  # the set's name before its three groups' line (it read as the set above's)
            print(f"    {name} ({m.get('n', 0)}, {m.get('suspicious', 0)} suspicious):")
        if "per_class_auc" in m:
            per = ", ".join(f"{k} {fmt(v)}" for k, v in m["per_class_auc"].items())
            print(f"      3 groups: accuracy {fmt(m['accuracy_3class'])}; one-vs-rest AUC {per}")
        for note in m.get("notes", []):
            print(f"    {name}: {note}")


def print_published(
    ours: dict[str, Any],
    what: str,
    *,
    synthetic: bool | None,
    source: str,
    table: str = "the report (--report FILE.html|FILE.pdf)",
) -> None:
    """The published results (``shared/DATASET.md``) and ours beside them, in short; the
    full table, each row with what differs, is elsewhere (``table`` says where).

    Args:
        ours: our ``auc``, ``accuracy`` and the ``n`` cases and ``patients`` they come from.
        what: what ours classify, and how they were validated.
        synthetic, source: our data (:func:`mcalc.models.published.our_data`).
        table: where the full table is.
    """
    from mcalc.models.published import REFERENCE_RESULTS, our_data

    data, caveat = our_data(synthetic, source)
    print("  Published results on this dataset's real mammograms, beside ours:")
    for r in REFERENCE_RESULTS:
        auc = "" if r.auc is None else f", AUC {r.auc:.3f}"
        print(f"    {r.label}: accuracy {r.accuracy:.3f}{auc}; {r.protocol}")
    n, patients = ours.get("n"), ours.get("patients")
    on = (
        ""
        if n is None
        else f" on {counted(n, 'case')}"
        + ("" if patients is None else f" ({counted(patients, 'patient')})")
    )
    print(
        f"    ours: AUC {fmt(ours.get('auc'))}, accuracy {fmt(ours.get('accuracy'))}{on}, "
        f"{what}; our data: {data}" + (f" ({caveat})" if caveat else "")
    )
    print(
        "    anchors, not a like-for-like comparison: each row with what differs (task, "
        f"protocol, data, use of the prior) is in {table}"
    )


def print_published_cv(out: dict[str, Any], data: str) -> None:
    """The published results beside the pooled case-level AUC on the papers' task
    (``--folds 0``: Loizidou 2020's leave-one-patient-out protocol), for a ``birads``
    model's run; a run of another task gets the line that says why not
    (:func:`mcalc.models.published.other_task_note`)."""
    from mcalc.dataset import open_dataset
    from mcalc.errors import McalcError
    from mcalc.models.published import other_task_note

    papers = out.get("papers_task")
    if papers is None:
        print(f"  {other_task_note(str((out.get('config') or {}).get('task', 'calcification')))}")
        return
    ci = f" (95% CI {papers['auc_ci_text']})" if papers.get("auc_ci_text") else ""
    print(
        f"  case, {papers['text']} (the papers' task): pooled out-of-fold AUC "
        f"{fmt(papers['auc'])}{ci} on {counted(papers['n'], 'case')} ({papers['positives']} suspicious)"
    )
    if papers.get("accuracy") is not None:  # runs pooled before 7 December 2026 have none
        print(
            f"  accuracy {fmt(papers['accuracy'])} ({papers['correct']} of "
            f"{counted(papers['n'], 'case')} right) at {papers['accuracy_at']}"
        )
    for note in papers.get("notes", []):
        print(f"    note: {note}")
    try:
        index = open_dataset(data)
        synthetic, source = index.synthetic, index.source
    except McalcError:
        synthetic, source = None, ""
    protocol = "leave-one-patient-out" if out["leave_one_patient_out"] else f"{out['k']}-fold"
    accuracy = papers.get("accuracy")
    at = f"; accuracy at {papers['accuracy_at']}" if accuracy is not None else ""
    print_published(
        {
            "auc": papers["auc"],
            "accuracy": accuracy,
            "n": papers["n"],
            "patients": papers["patients"],
        },
        f"benign vs suspicious, per case (normal cases left out; max over images); {protocol}, "
        f"pooled out of fold{at}",
        synthetic=synthetic,
        source=source,
        table="Evaluate's Cross-validation tab",
    )
