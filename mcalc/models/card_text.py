"""A model card in words, for people: the rows the Audit page and the case report show.

:func:`card_facts` turns a :class:`~mcalc.models.card.ModelCard` into labelled rows
(architecture, task, starting weights, freeze strategy, input, training data and its
fingerprint, training, test and validation metrics, when and by whom, warnings), leaving out
what the card does not say. An audit verdict keeps a summary of its model's card: since 7
December 2026 a JSON object (:func:`summary_json`: the card's
:meth:`~mcalc.models.card.ModelCard.summary_fields`), before that a one-line ``key=value;
...`` summary whose nested values were in Python's notation
(:meth:`~mcalc.models.card.ModelCard.summary_line`). :func:`card_from_summary` reads
either back into a (partial) card, so that a verdict on a model no longer registered is shown
the same way; :func:`summary_fields` reads either as a JSON object's fields (the audit
table's ``model_card`` column).

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

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

from mcalc.models.card import ModelCard
from mcalc.plural import counted
from mcalc.spreadsheet import json_cell

__all__ = ["card_facts", "card_from_summary", "metrics_text", "summary_fields", "summary_json"]

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


def metrics_text(
    metrics: Mapping[str, Any], operating: float | None = None, *, missing: bool = False
) -> str:
    """A card's metrics section in words: AUC, accuracy, sensitivity and specificity, the
    patches counted and the threshold they were measured at ("" when it holds none).

    Args:
        metrics: the card's ``metrics["test"]`` (or ``["val"]``).
        operating: the model's operating threshold (its card's decision threshold): where
            the metrics were measured at another one, they are not what the model's
            decisions reach, and the text says so.
        missing: name a figure the section lacks as ``n/a`` (Predict's model line, where a
            sensitivity left out hid a model that ranks well and misses every calcification).

    Example:
        >>> metrics_text({"n": 9, "sensitivity": 0.8, "specificity": 0.9, "threshold": 0.5}, 0.92)
        'sensitivity 0.800 · specificity 0.900 (9 patches, at threshold 0.5, not the operating threshold 0.92)'
    """
    parts = [f"{name} {_num(metrics[k])}" for k, name in _METRICS if _num(metrics.get(k))]
    if not parts:
        return ""
    if missing:
        parts = [f"{name} {_num(metrics.get(k)) or 'n/a'}" for k, name in _METRICS]
    n = metrics.get("n")
    about = [counted(n, "patch")] if n not in (None, "") else []
    # Accuracy, sensitivity and specificity hold at one threshold: say which (AUC at none).
    t = _num(metrics.get("threshold"))
    if t is not None and len(parts) > 1:
        about.append(f"at threshold {float(t):g}")
        if operating is not None and abs(float(t) - operating) > 5e-7:
            about.append(f"not the operating threshold {operating:.4g}")
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
        parts.append(counted(d.cases, "case"))
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
        parts.append(ran + counted(h.epochs, "epoch", "epochs"))  # not "epoches"
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
    operating = card.decision_threshold.value if card.decision_threshold is not None else None
    add("Test metrics", metrics_text(card.metrics.get("test") or {}, operating))
    add("Validation metrics", metrics_text(card.metrics.get("val") or {}, operating))
    add("Created", _created(card))
    for warning in card.warnings:
        add("Warning", warning)
    return rows


#: ``key=value`` items of a summary line (a value runs to the next ``; key=``).
_ITEM = re.compile(r"(?:^|; )([a-z_]+)=(.*?)(?=; [a-z_]+=|$)")


def _cut_numbers(text: str) -> dict[str, float]:
    """The numbers of a metrics section the line cut short, ``{'n': 60, 'auc': 0.8...``
    (the values after ``'key': ``; nested mappings such as ``support`` skipped)."""
    top = re.sub(r"\{[^{}]*\}", "", text[1:])
    return {k: float(v) for k, v in re.findall(r"'(\w+)': (-?[\d.]+(?:e-?\d+)?)", top)}


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, ``None`` when it is not one (an older summary line)."""
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


#: A ``key:`` inside a summary line's mapping value (class names hold ``-``).
_KEY = re.compile(r"([A-Za-z_][\w-]*):")
#: The comma that ends a plain value: the next ``key:`` follows it at once.
_NEXT_KEY = re.compile(r",(?=[A-Za-z_][\w-]*:)")


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _closing(text: str, start: int) -> int:
    """The index after the bracket that closes the one at ``start`` (quotes respected),
    or ``len(text)`` when the line was cut before it."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _mapping(text: str) -> dict[str, Any] | None:
    """A summary line's mapping value (``k:v,k:v``, a ``v`` in Python's notation or plain
    text) as a dict; ``None`` when ``text`` is not such a value. A nested value the line
    cut short stays as its text."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(text):
        key = _KEY.match(text, i)
        if key is None:
            return None
        j = key.end()
        if text[j : j + 1] in ("{", "["):
            end = _closing(text, j)
            try:
                value: Any = ast.literal_eval(text[j:end])
                json_cell(value)  # a set or bytes has no JSON form: kept as text
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = text[j:end]
        else:
            comma = _NEXT_KEY.search(text, j)
            end = comma.start() if comma else len(text)
            value = _scalar(text[j:end])
        out[key[1]] = value
        if end < len(text) and text[end] != ",":
            return None
        i = end + 1
    return out


def summary_fields(text: str) -> dict[str, Any]:
    """A verdict's recorded card summary as a JSON object's fields: a JSON summary (records
    since 7 December 2026) as it is; an older ``key=value; ...`` line item by item (classes a
    list, mappings such as ``patch`` and ``metrics`` dicts, their nested values read from
    Python's notation; a part the line cut short kept as text); other text under ``text``;
    nothing recorded: ``{}``.

    Example:
        >>> summary_fields("task=calcification; metrics=test:{'auc': 0.9, 'n': 12}")
        {'task': 'calcification', 'metrics': {'test': {'auc': 0.9, 'n': 12}}}
    """
    text = text.strip()
    data = _json_object(text)
    if data is not None:
        return data
    items = dict(_ITEM.findall(text))
    if not items:
        return {"text": text} if text else {}
    out: dict[str, Any] = {}
    for key, value in items.items():
        if key == "classes":
            out[key] = [c for c in value.split(",") if c]
        elif key in ("architecture", "task", "created"):
            out[key] = value
        else:
            mapping = _mapping(value)
            out[key] = _scalar(value) if mapping is None else mapping
    return out


def summary_json(card: ModelCard | str) -> str:
    """The card summary an audit verdict records, as compact JSON text: of a card, its
    :meth:`~mcalc.models.card.ModelCard.summary_fields`; of a recorded summary (either
    form), :func:`summary_fields`'s object; ``""`` for nothing recorded.

    Example:
        >>> summary_json("architecture=custom; classes=a,b")
        '{"architecture":"custom","classes":["a","b"]}'
    """
    fields = card.summary_fields() if isinstance(card, ModelCard) else summary_fields(card)
    return json_cell(fields) if fields else ""


def card_from_summary(text: str) -> ModelCard:
    """A partial card read back from the summary an audit verdict records (JSON, or an
    older one-line summary, :meth:`~mcalc.models.card.ModelCard.summary_line`, read by
    :func:`summary_fields`); what the summary does not hold (or lost when it was cut short:
    of a metrics section, the numbers before the cut) stays at its default."""
    data = summary_fields(text)
    data.pop("text", None)
    if not isinstance(data.get("patch"), dict):
        data.pop("patch", None)
    metrics = data.pop("metrics", None)
    if isinstance(metrics, dict):
        sections = {
            name: m if isinstance(m, dict) else _cut_numbers(m) if isinstance(m, str) else {}
            for name, m in metrics.items()
        }
        data["metrics"] = {
            name: {k: (int(v) if k == "n" and isinstance(v, float) else v) for k, v in m.items()}
            for name, m in sections.items()
            if m
        }
    return ModelCard.from_json(data)
