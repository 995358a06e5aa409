"""A model card in words, for people: the rows the Audit page and the case report show.

:func:`card_facts` turns a :class:`~mcalc.models.card.ModelCard` into labelled rows
(architecture, task, starting weights, freeze strategy, input, training data and its
fingerprint, training, test and validation metrics, when and by whom, warnings), leaving out
what the card does not say. An audit verdict keeps only the one-line summary of its model's
card (:meth:`~mcalc.models.card.ModelCard.summary_line`, ``key=value; ...``):
:func:`card_from_summary` reads such a line back into a (partial) card, so that a verdict on
a model no longer registered is shown the same way.

Example:
    >>> card = card_from_summary("architecture=custom; task=calcification; "
    ...     "classes=no-calcification,calcification; patch=size:64,spacing_mm:0.1; "
    ...     "created=2026-12-02T12:40:46+00:00; metrics=test:{'n': 234, 'auc': 0.96875}")
    >>> for label, value in card_facts(card):
    ...     print(f"{label}: {value}")
    Architecture: custom
    Task: calcification (classes no-calcification, calcification)
    Input: patches of 64 px at 0.1 mm
    Test metrics: AUC 0.969 (234 patches)
    Created: 2026-12-02 12:40 UTC
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcalc.models.card import ModelCard

__all__ = ["card_facts", "card_from_summary"]

_METRICS: tuple[tuple[str, str], ...] = (
    ("auc", "AUC"),
    ("accuracy", "accuracy"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
)


def _num(value: Any) -> str | None:
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return None


def _metrics(metrics: Mapping[str, Any]) -> str:
    parts = [f"{name} {_num(metrics[k])}" for k, name in _METRICS if _num(metrics.get(k))]
    if not parts:
        return ""
    n = metrics.get("n")
    about = [f"{n} patches"] if n not in (None, "") else []
    # Accuracy, sensitivity and specificity hold at one threshold: say which (AUC at none).
    t = _num(metrics.get("threshold"))
    if t is not None and len(parts) > 1:
        about.append(f"at threshold {float(t):g}")
    return " · ".join(parts) + (f" ({', '.join(about)})" if about else "")


def _created(card: ModelCard) -> str:
    when = card.created
    match = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d)", when)
    if match:
        when = f"{match[1]} {match[2]} UTC"
    by = f" by {card.trained_by}" if card.trained_by else ""
    return f"{when}{by}" if when else by.strip()


def _input(card: ModelCard) -> str:
    p = card.patch
    if not p.size:
        return ""
    text = (
        f"patches of {p.size} px at {f'{p.spacing_mm:g} mm' if p.spacing_mm else 'native spacing'}"
    )
    if p.window and p.window != "file":
        text += f", window {p.window}"
    if p.temporal:
        text += "; the recent image and the subtraction of its registered prior"
    return text


def _data(card: ModelCard) -> str:
    d = card.data
    parts = []
    if d.synthetic:
        parts.append("SYNTHETIC demo data")
    if d.cases is not None:
        parts.append(f"{d.cases} cases")
    if d.source:
        parts.append(d.source)
    if d.path:
        parts.append(d.path)
    if d.fingerprint:
        parts.append(f"fingerprint {d.fingerprint[:16]}")
    return ", ".join(parts)


def _training(card: ModelCard) -> str:
    h = card.hyperparameters
    parts = []
    if h.epochs is not None:
        ran = f"{h.epochs_run} of " if h.epochs_run not in (None, h.epochs) else ""
        parts.append(f"{ran}{h.epochs} epochs")
    if h.batch is not None:
        parts.append(f"batch {h.batch}")
    if h.optimizer:
        parts.append(h.optimizer)
    # Seed 0, the default, is a seed like any other (it was left out); a card written
    # without one (a partial card reads 0) has no split seed either.
    if parts and (card.seed or card.split.seed is not None):
        parts.append(f"seed {card.seed}")
    if card.training_seconds is not None:
        parts.append(f"{card.training_seconds:.0f} s")
    return ", ".join(parts)


def card_facts(card: ModelCard) -> list[tuple[str, str]]:
    """The card as ``(label, value)`` rows, in reading order; rows the card says nothing
    about are left out (a partial card, as :func:`card_from_summary` gives, has fewer)."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: str) -> None:
        if value:
            rows.append((label, value))

    arch = card.architecture
    if arch and card.total_params:
        arch += f" ({card.trainable_params or 0:,} of {card.total_params:,} parameters trained)"
    add("Architecture", arch)
    classes = f" (classes {', '.join(card.classes)})" if card.classes else ""
    add("Task", f"{card.task_name}{classes}" if card.task_name else "")
    w = card.weights
    if w.source != "?":
        kind = "pre-trained" if card.pretrained or w.pretrained else "not pre-trained"
        add("Starting weights", f"{w.source} ({kind})" + (f": {w.detail}" if w.detail else ""))
    if card.freeze.strategy != "?":
        add(
            "Freeze strategy",
            card.freeze.strategy + (", two stages" if card.freeze.two_stage else ""),
        )
    add("Input", _input(card))
    add("Training data", _data(card))
    add("Training", _training(card))
    if card.hard_negatives is not None:
        add("Hard negatives", card.hard_negatives.text())
    add("Test metrics", _metrics(card.metrics.get("test") or {}))
    add("Validation metrics", _metrics(card.metrics.get("val") or {}))
    add("Created", _created(card))
    for warning in card.warnings:
        add("Warning", warning)
    return rows


#: ``key=value`` items of a summary line (a value runs to the next ``; key=``).
_ITEM = re.compile(r"(?:^|; )([a-z_]+)=(.*?)(?=; [a-z_]+=|$)")


def _section_numbers(text: str, name: str) -> dict[str, float]:
    """The numbers of the ``name:{...}`` section of a summary's ``metrics`` value (the
    values after ``'key': ``; nested dicts such as ``support`` are skipped)."""
    start = text.find(f"{name}:{{")
    if start < 0:
        return {}
    body = text[start + len(name) + 2 :]
    depth, end = 1, len(body)
    for i, ch in enumerate(body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            end = i
            break
    top = re.sub(r"\{[^{}]*\}", "", body[:end])
    return {k: float(v) for k, v in re.findall(r"'(\w+)': (-?[\d.]+(?:e-?\d+)?)", top)}


def card_from_summary(text: str) -> ModelCard:
    """A partial card read back from a one-line summary
    (:meth:`~mcalc.models.card.ModelCard.summary_line`, as audit verdicts keep it); what
    the line does not hold (or lost when it was cut short) stays at its default."""
    items = dict(_ITEM.findall(text.strip()))
    data: dict[str, Any] = {k: items[k] for k in ("architecture", "task", "created") if k in items}
    if "classes" in items:
        data["classes"] = [c for c in items["classes"].split(",") if c]
    patch: dict[str, Any] = {}
    for part in re.findall(r"(size|spacing_mm):([\d.]+)", items.get("patch", "")):
        patch[part[0]] = float(part[1]) if part[0] == "spacing_mm" else int(part[1])
    if patch:
        data["patch"] = patch
    metrics = {s: _section_numbers(items.get("metrics", ""), s) for s in ("val", "test")}
    data["metrics"] = {
        s: {k: (int(v) if k == "n" else v) for k, v in m.items()} for s, m in metrics.items() if m
    }
    return ModelCard.from_json(data)
