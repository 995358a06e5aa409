"""README's command-line synopsis names every flag that each command's ``--help`` names."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from mcalc.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = "python -m mcalc "


def _synopsis_lines() -> list[str]:
    """The lines of README's "Command line" block, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Command line\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub-)command of the CLI with its parser: ``("models", "default")``, ..."""
    found: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = []

    def walk(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        found.append((path, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk((*path, name), child)

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                walk((name,), child)
    return found


def _lines_for(path: tuple[str, ...], lines: list[str]) -> list[str]:
    """README's synopsis lines of a command: its name first, then each sub-command's name
    as a word or one of a word's alternatives (``models [list]``, ``users [--file F] add``,
    ``users add|list|remove``)."""
    out = []
    for line in lines:
        if not line.startswith(PREFIX):
            continue
        words = line[len(PREFIX) :].split()
        if len(words) < len(path) or words[0] != path[0]:
            continue
        names = {alt for word in words[1:] for alt in word.strip("[]()").split("|")}
        if all(name in names for name in path[1:]):
            out.append(line)
    return out


def _expanded(line: str, lines: list[str]) -> str:
    """A line that takes another command's flags (``<train flags>``) with that one's lines."""
    for other in re.findall(r"<([\w-]+) flags>", line):
        line += " " + " ".join(_lines_for((other,), lines))
    return line


COMMANDS = _commands()


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_readme_synopsis_names_every_flag_of_the_command(path, parser):
    lines = _synopsis_lines()
    mine = _lines_for(path, lines)
    assert mine, f"README's Command line block has no line for `{PREFIX}{' '.join(path)}`"
    text = " ".join(_expanded(line, lines) for line in mine)
    flags = [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and action.help != argparse.SUPPRESS
    ]
    missing = [f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", text)]
    assert not missing, (
        f"README's synopsis of `{PREFIX}{' '.join(path)}` leaves out {missing}, which its "
        "--help names: add them to the Command line block"
    )


def test_the_synopsis_reader_finds_nested_commands():
    lines = [
        "python -m mcalc models [list] [--json]",
        "python -m mcalc models default [ID] [--by NAME]",
        "python -m mcalc users [--file FILE] add|list NAME",
    ]
    assert _lines_for(("models", "list"), lines) == lines[:1]
    assert _lines_for(("models", "default"), lines) == lines[1:2]
    assert _lines_for(("users", "list"), lines) == lines[2:]
    assert _lines_for(("models",), lines) == lines[:2]


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_help_ends_with_an_example_of_itself(path, parser):
    """No command's `--help` showed an example (h/cli's audit, 6 December 2026); each now
    ends with one that runs that very command and its flags, and with the exit statuses."""
    text = parser.format_help()
    assert "example:\n  python -m mcalc " + " ".join(path) in text.replace("  [", " ["), text
    example = text.split("example:\n  ", 1)[1].splitlines()[0]
    words = example.split()
    # The flags of the command's whole tree (`users --file F list --json`).
    flags = {
        o for p, q in COMMANDS if p[0] == path[0] for a in q._actions for o in a.option_strings
    }
    assert all(w in flags for w in words if w.startswith("--")), example
    assert 'README\'s "Exit status"' in text


def test_every_models_flag_reads_the_same():
    """`report --models MODELS` said "model registry (default: MCALC_MODELS or models/)"
    where every other command says `--models DIR` "model registry folder (...)"."""
    seen = {
        (a.metavar, a.help)
        for _, parser in COMMANDS
        for a in parser._actions
        if "--models" in a.option_strings and a.help != argparse.SUPPRESS
    }
    assert seen == {("DIR", "model registry folder (default: models/, or MCALC_MODELS)")}, seen


def test_every_output_folder_reads_dir():
    """`demo`, `predict` and `temporal` showed `--out OUT` where README's synopses say
    `--out DIR` (h/cli); an `--out` that names a file keeps its own word."""
    folders = {
        " ".join(path): a.metavar
        for path, parser in COMMANDS
        for a in parser._actions
        if "--out" in a.option_strings and "folder" in (a.help or "")
    }
    assert set(folders) >= {"demo", "predict", "temporal"}, folders
    assert set(folders.values()) == {"DIR"}, folders


#: The statuses README's "Exit status" table gives a command of its own, beyond 0, 2, 130.
OWN_STATUS = {
    ("scan",): "1 nothing usable was found",
    ("manifest",): "1 nothing could be converted",
    ("predict",): "3 with --all: the run finished but some images failed",
}


@pytest.mark.parametrize("path", list(OWN_STATUS), ids=[" ".join(p) for p in OWN_STATUS])
def test_a_commands_help_names_its_own_exit_status(path):
    """`scan --help` and `manifest --help` ended "exit status: 0 done, 2 refused (bad
    input), 130 interrupted", as every command's, where README's table gives each its
    status 1 (nothing usable, nothing converted: what a pipeline branches on), and
    `predict`'s its status 3; each now names its own, and README says so."""
    parser = dict(COMMANDS)[path]
    epilog = parser.format_help().split("exit status: ", 1)[1]
    assert OWN_STATUS[path] in " ".join(epilog.split()), epilog
    assert "0 done" in epilog and "2 refused" in epilog and "130 interrupted" in epilog
