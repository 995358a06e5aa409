"""``python -m mcalc audit table|calls|agreement``: the Audit page's figures, CSVs and
agreement between readers, headless (tiny stores made with record_verdict)."""

from __future__ import annotations

import csv
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mcalc.cli import build_parser, main
from mcalc.store.audit import audit_table, record_verdict
from mcalc.store.exchange import audit_csv
from mcalc.store.region_calls import CALL_COLUMNS, RegionCall

REPO = Path(__file__).resolve().parents[1]


def _calls(*calls: str) -> list[RegionCall]:
    """Region i+1 at (10 (i+1), 20) with the given calls."""
    return [
        RegionCall(i + 1, (10.0 * (i + 1), 20.0), 0.9 - 0.1 * i, c) for i, c in enumerate(calls)
    ]


def _store(root: Path) -> Path:
    """m1: 2 images, ann and bob (4 current verdicts, 4 region calls, ann revised c-2);
    m2: one verdict of bob's."""
    kw = {"model_id": "m1", "model_card": {"architecture": "custom"}}
    record_verdict(
        root,
        **kw,
        image_key="c-1/CC_recent",
        reader="ann",
        agree=True,
        plausible=True,
        score=0.9,
        regions=_calls("calcification", "not calcification"),
    )
    record_verdict(
        root,
        **kw,
        image_key="c-1/CC_recent",
        reader="bob",
        agree=False,
        plausible=False,
        comment='=HYPERLINK("x")\x1b[31m red',
        regions=_calls("calcification", "calcification"),
    )
    record_verdict(root, **kw, image_key="c-2/CC_recent", reader="ann", agree=True)
    record_verdict(root, **kw, image_key="c-2/CC_recent", reader="ann", agree=False)
    record_verdict(root, **kw, image_key="c-2/CC_recent", reader="bob", agree=True)
    record_verdict(root, model_id="m2", image_key="c-2/CC_recent", reader="bob", agree=True)
    return root  # fmt: skip


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["audit", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_table_prints_the_models_figures_and_what_to_look_at_again(tmp_path, capsys):
    store = _store(tmp_path / "s")
    rc, out, err = _run(capsys, "table", "--model", "m1", "--store", str(store))
    assert (rc, err) == (0, "")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "images reviewed 2" in lines and "verdicts 4" in lines and "readers 2" in lines
    assert "agree with score 50% (2 of 4 verdicts)" in lines
    assert "plausible explanations 50% (1 of 2 judged)" in lines
    assert "regions judged 4" in lines
    assert "regions confirmed 75% (3 of 4 called either way)" in lines
    assert "to look at again (3):" in lines
    assert "every reader's verdicts: an administrator's view" in out
    # A reader's comment reaches the terminal without its control characters.
    assert "\x1b" not in out and 'comment: =HYPERLINK("x") [31m red' in out


def test_table_json_holds_the_figures_and_rows_and_out_writes_the_pages_csv(tmp_path, capsys):
    store = _store(tmp_path / "s")
    target = tmp_path / "audit.csv"
    rc, out, err = _run(
        capsys, "table", "--model", "m1", "--store", str(store), "--out", str(target), "--json"
    )
    assert (rc, err) == (0, "")
    got = json.loads(out)  # one JSON object, nothing else on stdout
    s = audit_table(store, "m1")
    assert (got["n_images"], got["n_verdicts"], got["n_readers"]) == (2, 4, 2)
    assert (got["agreement_rate"], got["plausible_rate"]) == (0.5, 0.5)
    assert (got["regions_judged"], got["regions_confirmed_rate"]) == (4, 0.75)
    assert [(r["image_key"], r["reader"], r["version"]) for r in got["rows"]] == [
        ("c-1/CC_recent", "ann", 1),
        ("c-1/CC_recent", "bob", 1),
        ("c-2/CC_recent", "ann", 2),
        ("c-2/CC_recent", "bob", 1),
    ]
    assert got["rows"][0]["score"] == 0.9 and got["rows"][2]["score"] is None
    # The model card nested as JSON (it was the record's line, in Python's notation).
    assert got["rows"][0]["model_card"] == {"architecture": "custom"}
    # The CSV is the page's download byte for byte: a comment starting '=' escaped.
    text = target.read_text(encoding="utf-8")
    assert text == audit_csv(s.table)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and rows[1]["comment"].startswith("'=HYPERLINK")


def test_calls_write_one_row_per_region_call(tmp_path, capsys):
    store = _store(tmp_path / "s")
    target = tmp_path / "calls.csv"
    rc, out, err = _run(
        capsys, "calls", "--model", "m1", "--store", str(store), "--out", str(target)
    )
    assert (rc, err) == (0, "")
    assert "wrote 4 region calls of m1" in out and "3 calcification, 1 not calcification" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == CALL_COLUMNS
    assert [(r["reader"], r["region"], r["row"], r["call"]) for r in rows] == [
        ("ann", "1", "10.0", "calcification"),
        ("ann", "2", "20.0", "not calcification"),
        ("bob", "1", "10.0", "calcification"),
        ("bob", "2", "20.0", "calcification"),
    ]
    rc, out, _ = _run(
        capsys, "calls", "--model", "m1", "--store", str(store), "--out", str(target), "--json"
    )
    got = json.loads(out)
    assert (rc, got["calls"], got["not_calcification"], len(got["rows"])) == (0, 4, 1, 4)


def test_calls_without_region_calls_are_refused_and_nothing_written(tmp_path, capsys):
    store = _store(tmp_path / "s")
    target = tmp_path / "calls.csv"
    rc, out, err = _run(
        capsys, "calls", "--model", "m2", "--store", str(store), "--out", str(target)
    )
    assert (rc, out) == (2, "") and not target.exists()
    assert err.startswith("error: no region calls in the 1 verdict of m2") and err.count("\n") == 1


def test_without_model_the_models_with_verdicts_are_listed(tmp_path, capsys):
    store = _store(tmp_path / "s")
    rc, out, err = _run(capsys, "table", "--store", str(store))
    assert (rc, err) == (0, "")
    assert "no --model given: the 2 models with verdicts" in out
    assert "m1\t4 verdicts on 2 images by 2 readers" in out
    assert "m2\t1 verdict on 1 image by 1 reader" in out
    rc, out, _ = _run(capsys, "agreement", "--store", str(store), "--json")
    assert rc == 0 and [m["model_id"] for m in json.loads(out)["models"]] == ["m1", "m2"]
    # Where a file was to be written, nothing is, and the status says so.
    target = tmp_path / "a.csv"
    rc, out, err = _run(capsys, "table", "--store", str(store), "--out", str(target))
    assert rc == 2 and "m1\t" in out and not target.exists()
    assert (
        err == f"error: nothing written to {target}: pass --model ID (one of the models listed)\n"
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist: pass --store DIR"),
        ("empty", "no verdicts in {store}: readers record them on the Audit page"),
        ("unknown", "no verdicts of model 'zz' in {store} (models with verdicts: m1, m2)"),
    ],
)
def test_a_missing_or_empty_store_and_an_unknown_model_are_refused(
    tmp_path, capsys, case, expected
):
    store = tmp_path / "s"
    if case == "empty":
        store.mkdir()
    if case == "unknown":
        _store(store)
    for argv in (
        ["table", "--model", "zz"],
        ["calls", "--model", "zz", "--out", str(tmp_path / "c.csv")],
        ["agreement", "--model", "zz"],
    ):
        rc, out, err = _run(capsys, *argv, "--store", str(store))
        assert (rc, out) == (2, "")
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert expected.format(store=store) in err
    assert not (tmp_path / "c.csv").exists()


def test_out_must_be_a_csv(tmp_path, capsys):
    rc, out, err = _run(capsys, "table", "--model", "m1", "--out", str(tmp_path / "a.txt"))
    assert (rc, out) == (2, "")
    assert err == "error: --out must end in .csv (a CSV is written), got 'a.txt'\n"


def test_damaged_verdict_files_are_left_out_and_named_once(tmp_path, capsys, caplog):
    caplog.set_level(logging.WARNING)  # what `python -m mcalc` prints on stderr besides
    store = _store(tmp_path / "s")
    broken = next((store / "audits").glob("m1-*/c-2_*/bob-*.json"))
    broken.write_text(broken.read_text(encoding="utf-8")[:50], encoding="utf-8")
    rc, out, err = _run(capsys, "table", "--model", "m1", "--store", str(store), "--json")
    assert rc == 0
    got = json.loads(out)
    assert got["n_verdicts"] == 3 and len(got["skipped"]) == 1
    assert err.startswith("warning: 1 verdict file cannot be read")
    assert err.count(str(broken)) == 1, err
    assert not [r for r in caplog.records if str(broken) in r.getMessage()]  # nor logged too
    rc, out, err = _run(
        capsys, "agreement", "--model", "m1", "--store", str(store), "--first-reads"
    )
    assert rc == 0 and err.count(str(broken)) == 1, err
    assert not [r for r in caplog.records if str(broken) in r.getMessage()]


def test_agreement_on_the_regions_pairs_the_calls_of_one_region(tmp_path, capsys):
    """ann calls c c n n, bob c n n n on four regions of two images: Cohen's kappa
    (0.75 - 0.5) / (1 - 0.5) = 0.5; ann's "unsure" on a fifth region is no answer."""
    root = tmp_path / "s"
    ann = {
        "c-1/CC_recent": ("calcification", "calcification", "unsure"),
        "c-2/CC_recent": ("not calcification", "not calcification"),
    }
    bob = {"c-1/CC_recent": ("calcification", "not calcification", "calcification"),
           "c-2/CC_recent": ("not calcification", "not calcification")}  # fmt: skip
    for reader, calls in (("ann", ann), ("bob", bob)):
        for image, answers in calls.items():
            record_verdict(root, model_id="m1", image_key=image, reader=reader, agree=True,
                           regions=_calls(*answers))  # fmt: skip
    argv = ("agreement", "--model", "m1", "--store", str(root), "--question", "regions")
    rc, out, err = _run(capsys, *argv, "--json")
    assert (rc, err) == (0, "")
    got = json.loads(out)
    assert (got["question"], got["units"], got["readers"]) == ("regions", "regions", ["ann", "bob"])
    assert [(r["readers"], r["value"], r["regions"], r["raw agreement"]) for r in got["rows"]] == [
        ("ann & bob", "0.50", 4, "75%")
    ]
    assert got["caveats"][0].startswith("Few regions in common (as few as 4")
    # The figures as numbers (the rows' are text for the eye: "0.50", "75%").
    (fig,) = got["figures"]
    assert fig["readers"] == ["ann", "bob"] and fig["statistic"] == "Cohen's kappa"
    assert (fig["value"], fig["n"], fig["raw_agreement"]) == (0.5, 4, 0.75)
    assert isinstance(fig["ci_low"], float | None) and isinstance(fig["ci_high"], float | None)
    # bob's call on the region ann was unsure of pairs with no answer: counted, not dropped.
    assert got["unpaired"] == 1 and got["caveats"][-1].startswith("1 region call is in no")
    rc, out, _ = _run(capsys, *argv)
    assert "note: 1 region call is in no figure: no other reader called" in out
    assert rc == 0 and out.startswith("agreement on each region (calcification / not) of m1")
    assert "ann & bob Cohen's kappa 0.50" in " ".join(out.split())


def test_agreement_of_first_reads_is_told_from_the_current_one(tmp_path, capsys):
    """bob first disagreed on c-2 and revised to agree: the current verdicts agree
    throughout (raw agreement 100%), the first reads on 2 images of 3 (67%)."""
    root = tmp_path / "s"
    for i in (1, 2, 3):
        record_verdict(root, model_id="m1", image_key=f"c-{i}/CC_recent", reader="ann", agree=True)
        record_verdict(
            root, model_id="m1", image_key=f"c-{i}/CC_recent", reader="bob", agree=i != 2
        )
    record_verdict(root, model_id="m1", image_key="c-2/CC_recent", reader="bob", agree=True)
    base = ("agreement", "--model", "m1", "--store", str(root), "--json")
    rc, out, _ = _run(capsys, *base)
    got = json.loads(out)
    assert (rc, got["verdicts"], got["rows"][0]["raw agreement"]) == (0, "current verdicts", "100%")
    assert got["revisions"] is None
    rc, out, _ = _run(capsys, *base, "--first-reads")
    got = json.loads(out)
    assert (rc, got["verdicts"], got["rows"][0]["raw agreement"]) == (0, "first reads", "67%")
    assert got["revisions"] == {"verdicts": 6, "revised": 1, "revised_after_others_shown": 1}
    rc, out, _ = _run(capsys, *base[:-1], "--first-reads")
    assert "revised: 1 of 6 verdicts, 1 after another reader's first verdict" in out


def test_agreement_needs_two_readers(tmp_path, capsys):
    store = _store(tmp_path / "s")
    rc, out, err = _run(capsys, "agreement", "--model", "m2", "--store", str(store))
    assert (rc, out) == (2, "")
    assert err == "error: agreement needs two readers or more: the verdicts of m2 are bob's alone\n"


def test_help_says_it_is_an_administrators_view():
    audit = build_parser()._subparsers._group_actions[0].choices["audit"]
    verbs = audit._subparsers._group_actions[0].choices
    for parser in (audit, *verbs.values()):
        assert "administrator's view" in " ".join(parser.format_help().split())


def test_audit_does_not_import_tensorflow(tmp_path):
    """As `python -m mcalc audit ...`: table, calls and agreement in one process, which
    then says whether TensorFlow was imported (a cold start of it is ~6 s)."""
    store = _store(tmp_path / "s")
    script = (
        "import sys\nfrom mcalc.cli import main\n"
        f"s = {str(store)!r}\n"
        "rc = [main(['audit', 'table', '--model', 'm1', '--store', s]),\n"
        f"      main(['audit', 'calls', '--model', 'm1', '--store', s, '--out', {str(tmp_path / 'c.csv')!r}]),\n"
        "      main(['audit', 'agreement', '--model', 'm1', '--store', s, '--question', 'regions'])]\n"
        "print('rc', rc, 'tensorflow imported:', 'tensorflow' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("rc [0, 0, 0] tensorflow imported: False"), proc.stdout


@pytest.mark.parametrize(
    ("mode", "independent", "said"),
    [
        ("off", False, "Reads not independent: independent reads are off"),
        ("on", True, "Reads independent: MCALC_INDEPENDENT_READS is on"),
        ("strict", True, "Reads independent: MCALC_INDEPENDENT_READS is strict"),
    ],
)
def test_agreement_says_whether_the_reads_were_independent(
    tmp_path, capsys, monkeypatch, mode, independent, said
):
    """As the Audit page says under its figures (a kappa reads as agreement between
    independent reads), text and --json, in the library's words."""
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", mode)
    store = _store(tmp_path / "s")
    base = ("agreement", "--model", "m1", "--store", str(store))
    rc, out, _ = _run(capsys, *base, "--json")
    got = json.loads(out)["independent_reads"]
    assert rc == 0 and (got["mode"], got["independent"]) == (mode, independent)
    assert got["note"].startswith(said) and "MCALC_INDEPENDENT_READS" in got["note"]
    rc, out, _ = _run(capsys, *base)
    assert rc == 0 and f"note: {got['note']}" in out
