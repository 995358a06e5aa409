"""The words users read: a screening exam is a prior or recent *exam*, never a "round"
(the app's vocabulary since 7 December 2026; data-model names such as ``timepoint`` stay).

Every string constant of ``mcalc/`` and ``pages/`` but docstrings and comments is read:
what a page, a PDF, a command's message or its ``--help`` can show."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ROUND = re.compile(r"\brounds?\b", re.IGNORECASE)
#: English that is not a screening round, and a regular expression's group (named so in
#: mcalc/dataset/naming.py, read there as ``found["round"]``: a key, left out below).
NOT_AN_EXAM = re.compile(
    r"round[ -]trip|wrong way round|larger, round|round outline|round, smooth|some round"
    r"|\?P<round>",
    re.IGNORECASE,
)


def _said(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
        if isinstance(node, ast.Subscript):  # a key, not a message
            docs.add(id(node.slice))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and ROUND.search(node.value)
        and not NOT_AN_EXAM.search(node.value)
    ]


def test_no_message_calls_an_exam_a_round():
    found = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for folder in ("mcalc", "pages")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, text in _said(path)
    ]
    assert not found, "\n".join(found)
