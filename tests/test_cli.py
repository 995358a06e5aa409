"""The command line: demo, scan, exit codes and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mcalc.cli import main
from tests.cli_fixtures import run_as_a_user
from tests.conftest import REPO


def test_scan_json(tiny_demo, capsys):
    assert main(["scan", str(tiny_demo), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("cases", "images", "calcifications", "clusters", "problems"):
        assert key in out
    assert out["cases"] == 6 and out["images"] == 24
    assert all({"path", "message"} <= set(p) for p in out["problems"])


def test_json_stdout_holds_the_document_only_whatever_a_library_thread_prints(
    tiny_demo, capsys, monkeypatch
):
    """Ray's driver prints its cluster's errors ("(raylet) A worker died ...") to
    ``sys.stdout`` from a thread of its own: with ``--json`` such lines go to stderr and
    stdout stays one JSON document (crossval --json's output was unreadable once)."""
    import threading

    import mcalc.scan

    real = mcalc.scan.scan_dataset

    def scan_while_a_thread_prints(*args, **kwargs):
        thread = threading.Thread(target=print, args=("(raylet) A worker died",))
        thread.start()
        thread.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(mcalc.scan, "scan_dataset", scan_while_a_thread_prints)
    assert main(["scan", str(tiny_demo), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["images"] > 0
    assert "(raylet) A worker died" in err
    assert main(["scan", str(tiny_demo)]) == 0  # without --json, stdout as it was
    assert "(raylet) A worker died" in capsys.readouterr().out


def test_scan_takes_data_as_every_command_does(tiny_demo, tmp_path, capsys):
    """`scan --data DATA` was refused ("unrecognized arguments: --data") where every other
    command takes --data; `scan DATA` stays."""
    assert main(["scan", "--data", str(tiny_demo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 24
    assert main(["scan", str(tmp_path), "--data", str(tiny_demo)]) == 2
    assert f"two datasets given: {tmp_path} and --data {tiny_demo}" in capsys.readouterr().err
    assert main(["scan"]) == 2
    assert "no dataset given: pass --data DATA" in capsys.readouterr().err


def test_scan_text_lists_problems(tiny_demo, capsys, monkeypatch):
    # Its progress too, on a stderr that is not a terminal (a log file), with a clock 31 s
    # further at every look: a plain line per look (mcalc/progress.py), nothing before
    # 7 December 2026.
    from mcalc import progress

    clock = [0.0]
    monkeypatch.setattr(progress, "_now", lambda: clock.__setitem__(0, clock[0] + 31) or clock[0])
    assert main(["scan", str(tiny_demo)]) == 0
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.startswith("scan: ")]
    assert len(lines) >= 2 and lines[-1].endswith(", done") and "left" in lines[0], err
    assert "SYNTHETIC" in out and "CC_recemt.dcm" in out
    # Each problem names its file once: "…/CC_recemt.dcm: Suspicious_cases/…/CC_recemt.dcm:
    # 'CC_recemt.dcm' read as…" repeated it.
    line = next(x for x in out.splitlines() if "CC_recemt.dcm" in x)
    assert line.count("CC_recemt.dcm") == 2, line  # the path and "'CC_recemt.dcm' read as"
    assert line.endswith("read as CC_recent.dcm (misspelling 'recemt')"), line


def test_scan_counts_problems_and_notes_apart(tiny_demo, capsys):
    """The text said "problems: 0" where --json listed 2 (its informational notes)."""
    assert main(["scan", str(tiny_demo), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["problems"]
    notes = sum(p["severity"] == "info" for p in listed)
    assert main(["scan", str(tiny_demo)]) == 0
    assert f"problems: {len(listed) - notes}, notes: {notes}" in capsys.readouterr().out


def test_a_wrong_argument_is_one_line_and_views_take_any_case(capsys):
    """A wrong choice printed the whole usage (a dozen lines) before the error; `--view
    mlo` was refused."""
    from mcalc.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main(["predict", "--view", "XX", "--data", "d"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: argument --view: invalid choice: 'XX' (choose from 'CC', 'MLO') "
        "(see `python -m mcalc predict --help`)"
    ]
    parsed = build_parser().parse_args(["temporal", "d", "--case", "c", "--view", "mlo"])
    assert parsed.view == "MLO"


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["train-workers", "--operating-point", "youden"], "train-workers"),
        (["models", "threshold", "m", "--rule", "youden", "--tpyo"], "models threshold"),
        (["scan", "d", "--verbose", "--deep"], "scan"),
    ],
)
def test_an_unknown_flag_points_at_its_commands_help(argv, command, capsys):
    """`train-workers --operating-point youden` (a train flag that train-workers lacks) said
    "unrecognized arguments: ... (see `python -m mcalc --help`)", whose page lists the
    commands, not the flags; it now points at the command's own help."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unrecognized arguments: "), err
    assert err[0].endswith(f"(see `python -m mcalc {command} --help`)"), err


def test_scan_of_missing_path_is_one_clear_line(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_scan_exit_status_nonzero_only_when_nothing_usable(tmp_path, capsys):
    case = tmp_path / "Dataset" / "Normal_cases" / "1"
    case.mkdir(parents=True)
    for name in ("CC_prior.dcm", "CC_recent.dcm"):
        (case / name).write_bytes(b"garbage")
    assert main(["scan", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["readable_images"] == 0 and out["problems"]


def test_demo_command_writes_real_layout(tmp_path, capsys):
    # In this process (a fresh one cost 2-5 s of Python and imports; `python -m mcalc` is
    # run as a module by test_output_into_a_closed_pipe_stops_without_a_traceback).
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--cases", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 3 and summary["synthetic"] is True
    assert (out / "Description.xlsx").is_file()
    assert len(list((out / "Dataset").rglob("*_GT.*"))) == 12


@pytest.mark.slow
def test_an_error_after_tensorflow_loads_is_one_line_on_stderr(tmp_path):
    """README: "Errors are one line on stderr". A command that loads TensorFlow (predict)
    printed six lines of its libraries' start-up before the error on a machine without a
    GPU ("oneDNN custom operations are on", "Could not find cuda drivers", twice each)."""
    import os

    from mcalc.config import _nvidia_present

    if _nvidia_present():
        pytest.skip("the start-up lines are filtered on machines without an NVIDIA GPU only")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    missing = tmp_path / "scan.dcm"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcalc",
            "predict",
            "--model",
            "demo-custom",
            "--image",
            str(missing),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {missing}: no such file"], proc.stderr


def test_evaluate_warns_of_cases_that_name_the_models_training_cases(monkeypatch, capsys):
    """`evaluate` on a changed copy of the training data (another fingerprint) scored the
    training patients as unseen without a word (the Evaluate page said so, the command line
    not): the metrics were optimistic. The cases whose ids are the model's training or
    validation cases are named."""
    import mcalc.models.evaluate as evaluate
    from mcalc.models.evaluate import EvaluationResult

    seen = [f"case-{n}" for n in range(7)]
    result = EvaluationResult(
        "m",
        "d",
        "all-patients",
        [*seen, "other"],
        {"n": 10, "confusion_matrix": [[5, 0], [0, 5]]},
        None,
        in_sample=seen,
    )
    monkeypatch.setattr(evaluate, "evaluate_model", lambda *a, **k: result)
    # --threshold given: the stand-in model "m" has no card to take it from.
    args = ["evaluate", "--model", "m", "--data", "d", "--no-detection", "--threshold", "0.5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if "WARNING" in x]
    assert line.startswith("  WARNING: 7 of these 8 cases carry the ids of its training/")
    assert "(case-0, case-1, case-2, case-3, case-4 and 2 more)" in line
    assert "optimistic" in line
    result.in_sample = []
    main(args)
    assert "WARNING" not in capsys.readouterr().out


def test_output_into_a_closed_pipe_stops_without_a_traceback(tiny_demo):
    """`python -m mcalc models --json | head -c 10` ended in a BrokenPipeError traceback
    (README: errors are one line on stderr); a reader gone is no error to report."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcalc", "scan", str(tiny_demo), "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes (its imports take a second or more)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


@pytest.mark.slow
def test_predict_all_worker_processes_keep_tensorflows_start_up_off_stderr(tiny_demo, tmp_path):
    """`predict --all --workers 2`: each worker process printed TensorFlow's six start-up
    lines on the command's stderr too (its own import, after the command's). Two images
    (a manifest of the tiny demo's first two), one per worker process: the 24 of the whole
    set cost 4 CPU-s more (28.8 against 24.7 CPU-s) for the same check."""

    from mcalc.config import _nvidia_present
    from mcalc.dataset import open_dataset

    if _nvidia_present():
        pytest.skip("the start-up lines are filtered on machines without an NVIDIA GPU only")
    lines = ["case_id,view,timepoint,image"]
    for rec in list(open_dataset(tiny_demo).images())[:2]:
        lines.append(f"{rec.case_id},{rec.view},{rec.timepoint},{rec.image_path}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Its workers run the model (the import up front cost every run ~6 s); with one
    # worker it imports it itself, quietly (test_batch's test_cli_all_prints_json_and_refuses_a_case).
    proc = run_as_a_user(
        ["predict", "--model", "demo-custom", "--data", str(manifest), "--all", "--workers",
         "3", "--cam", "none", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "local: 2 analysed (0 with an error)" in proc.stdout, proc.stdout
    # Three asked, two images: two processes, as progress.json says (it said 3).
    progress = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert (progress["workers"], progress["workers_asked"]) == (2, 3), progress
    assert proc.stdout.rstrip().endswith("tensorflow imported: False"), proc.stdout
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub"):
        assert noise not in proc.stderr, proc.stderr


def test_demo_refuses_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("precious")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "mine.txt").read_text() == "precious"
    assert "error" in capsys.readouterr().err


def test_evaluate_refuses_detection_options_with_no_detection(tmp_path, capsys):
    # Refused before the model or the data is looked at: neither exists here.
    base = ["evaluate", "--model", "none-such", "--data", str(tmp_path / "nope")]
    assert main([*base, "--no-detection", "--tolerance-mm", "3", "--birads-change"]) == 2
    err = capsys.readouterr().err
    assert "--tolerance-mm, --birads-change set the detection or BI-RADS evaluation" in err
    assert "leave out --no-detection" in err
    # --no-detection alone goes on to the model, which is not there.
    assert main([*base, "--no-detection"]) == 2
    assert "no model 'none-such'" in capsys.readouterr().err


def test_evaluate_refuses_a_report_that_is_neither_html_nor_pdf(tmp_path, capsys):
    """`--report FILE.html|FILE.pdf`: `--report r.docx` wrote HTML into r.docx, after the
    whole evaluation. Refused first, before the model or the data is looked at."""
    base = ["evaluate", "--model", "none-such", "--data", str(tmp_path / "nope")]
    out = tmp_path / "r.docx"
    assert main([*base, "--report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--report must end in .html or .pdf" in err and "got 'r.docx'" in err, err
    assert not out.exists()
    for name in ("r.html", "r.HTM", "r.PDF"):  # accepted: goes on to the missing model
        assert main([*base, "--report", str(tmp_path / name)]) == 2
        assert "no model 'none-such'" in capsys.readouterr().err


def test_report_refuses_an_out_file_that_is_not_a_pdf(tmp_path, capsys):
    """`report ... --out FILE.pdf`: `--out r.html` wrote a PDF into r.html. Refused before
    the data is looked at."""
    base = ["report", "--data", str(tmp_path / "nope"), "--case", "suspicious-1"]
    assert main([*base, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "--out must end in .pdf (the report is a PDF), got 'r.html'" in err, err
    assert not (tmp_path / "r.html").exists()
    assert main([*base, "--out", str(tmp_path / "r.PDF")]) == 2  # accepted: on to the data
    assert "nope does not exist" in capsys.readouterr().err


def test_demo_text_says_which_clusters_it_counts(tmp_path, capsys):
    """The demo's line counted 12 clusters where `scan` of the same set counts 18: the demo
    counts the clusters it planted (5 or more calcifications, one per image at most),
    `scan` every group of 3 or more within 1 cm² of the marks. The line says which."""
    assert main(["demo", "--out", str(tmp_path / "d"), "--cases", "3"]) == 0
    out = capsys.readouterr().out
    assert "planted clusters of 5 or more" in out
    assert "scan counts every 3 or more within 1 cm²" in out


def test_tensorflow_retracing_warnings_stay_off_stderr_below_debug(capsys):
    """`crossval` trains a model per fold in one process, and TensorFlow's logger warned
    four times that tf.function retraced (each warning a 600-character paragraph aimed at
    whoever writes the loop), between the command's own lines. Kept off at the default
    level, shown with --log-level DEBUG; other TensorFlow warnings pass."""
    import logging

    from mcalc.cli import quiet_retracing_warnings

    retrace = (
        "5 out of the last 11 calls to <function f at 0x1> triggered tf.function "
        "retracing. Tracing is expensive ..."
    )
    tf_log = logging.getLogger("tensorflow")
    handler = logging.StreamHandler()
    tf_log.addHandler(handler)
    try:
        with quiet_retracing_warnings(logging.WARNING):
            tf_log.warning(retrace)
            tf_log.warning("another warning")
        with quiet_retracing_warnings(logging.DEBUG):
            tf_log.warning(retrace)
        tf_log.warning(retrace)  # the filter is gone once the command ends
    finally:
        tf_log.removeHandler(handler)
    err = capsys.readouterr().err
    assert err.count("triggered tf.function retracing") == 2
    assert "another warning" in err


def test_an_interrupted_collection_run_says_how_to_go_on(monkeypatch, capsys, tmp_path):
    """Ctrl-C on `predict --all` said only "interrupted" (its rows are kept and a rerun
    resumes); another command's stays as it was."""
    import mcalc.cli.predict as predict_cli

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_cli, "cmd_predict", interrupted)
    args = ["predict", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*args, "--all"]) == 130
    err = capsys.readouterr().err
    assert "run the same command again (same --out) to go on" in err, err
    assert main([*args, "--case", "c"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_a_file_where_the_output_folder_goes_is_one_clear_line(tmp_path, capsys):
    """`demo --out FILE/sub` said "error: [Errno 17] File exists: 'FILE'" (read as "already
    there"); it now says that a file stands where a folder is expected."""
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main(["demo", "--out", str(blocker / "sub"), "--cases", "3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {blocker} is a file where a folder is expected; move it or choose another path"
    ], err
    assert blocker.read_text() == "keep me"


def test_a_system_error_is_one_line_and_a_bug_names_the_debug_flag(monkeypatch, capsys):
    """An OSError other than FileExistsError (`demo --out /proc/demo`: FileNotFoundError
    from the temporary folder) printed a traceback; so did any unexpected exception."""
    import mcalc.synthetic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/demo")

    monkeypatch.setattr(mcalc.synthetic, "generate_demo", refuse)
    assert main(["demo", "--out", "/srv/demo"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: /srv/demo: permission denied; choose a path you may write to, or change its "
        "permissions"
    ]

    def bug(*args, **kwargs):
        raise TypeError("boom")

    monkeypatch.setattr(mcalc.synthetic, "generate_demo", bug)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "unexpected TypeError: boom" in err and "--log-level debug" in err
    with pytest.raises(TypeError, match="boom"):
        main(["--log-level", "debug", "demo"])


def test_sigterm_runs_the_clean_up_and_exits_143(monkeypatch, capsys):
    """`timeout`/`kill` (SIGTERM) ended the process at once: `demo` left its hidden
    `.DIR.partial-*` folder behind. It now unwinds as Ctrl+C does (exit 143, not 130)."""
    import os
    import signal

    import mcalc.synthetic

    cleaned = []

    def killed(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            cleaned.append(True)

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(mcalc.synthetic, "generate_demo", killed)
    assert main(["demo"]) == 143
    assert cleaned == [True]
    assert capsys.readouterr().err == "terminated\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_evaluate_refuses_a_batch_below_one(capsys):
    """`evaluate --batch 0` ran with the model's batch size without a word."""
    with pytest.raises(SystemExit) as done:
        main(["evaluate", "--data", "d", "--batch", "0"])
    assert done.value.code == 2
    assert "argument --batch: expected a whole number >= 1, got 0" in capsys.readouterr().err


def test_an_unknown_log_level_is_refused(capsys):
    """`--log-level verbose` ran at WARNING without a word; any case of a known one works."""
    from mcalc.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main(["--log-level", "verbose", "models"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "argument --log-level: invalid choice: 'VERBOSE'" in err
    assert build_parser().parse_args(["--log-level", "debug", "models"]).log_level == "DEBUG"


def test_sigterm_on_a_collection_run_says_terminated_and_how_to_go_on(
    monkeypatch, capsys, tmp_path
):
    """`predict --all` set its own SIGTERM handler (raising a plain KeyboardInterrupt): a
    `kill` read "interrupted", status 130, and the handler stayed after the command."""
    import os
    import signal

    import mcalc.batch

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow import up front
    monkeypatch.setattr(mcalc.batch, "run_batch", killed)
    before = signal.getsignal(signal.SIGTERM)
    args = ["predict", "--model", "m", "--data", str(tmp_path), "--all", "--out", str(tmp_path)]
    assert main(args) == 143
    assert capsys.readouterr().err.startswith("terminated: the images finished so far are saved")
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("argv", "flag", "name"),
    [
        (["report", "--case", "suspicious-1", "--out"], "--out", "case.pdf"),
        (["evaluate", "--model", "none-such", "--report"], "--report", "report.html"),
        (["audit", "table", "--model", "m", "--store", "{tmp}", "--out"], "--out", "audit.csv"),
    ],
)
def test_an_output_file_that_cannot_be_written_is_refused_before_the_work(
    argv, flag, name, tmp_path, capsys
):
    """`report --out FILE/r.pdf` made the whole report (22 s on the demo), then said
    "cannot write FILE/r.pdf: the system refused (File exists)"; `audit table --out DIR.csv`
    printed the audit, then "(Is a directory)". Both now refused first, in words."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    data = ["--data", str(tmp_path / "nope")] if argv[0] != "audit" else []
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main([*argv, str(blocker / name), *data]) == 2
    out = capsys.readouterr()
    assert (out.out, out.err) == (
        "",
        f"error: {blocker} is a file where a folder is expected; move it or choose another path\n",
    )
    folder = tmp_path / name
    folder.mkdir()
    assert main([*argv, str(folder), *data]) == 2
    assert capsys.readouterr().err == (
        f"error: {flag} {folder} is a folder; give the file's name (as {folder / name})\n"
    )
    assert blocker.read_text() == "keep me" and not any(folder.iterdir())
