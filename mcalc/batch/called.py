"""Whether the model calls each region and detection of a batch row.

A row's ``top_regions`` and ``detections`` (JSON lists) say of each one whether the model
calls it at the row's ``threshold`` (``called``, :func:`mcalc.explain.scoring.called`, as
``predict``'s ``scores.json`` says it), and ``n_regions_called`` / ``n_detections_called``
count them beside ``n_regions`` / ``n_detections``: regions listed under a lowered
``--threshold`` are not called. Rows made before 7 December 2026 hold neither; they read
with both, told from each one's score (as stored, to 6 decimals) and the row's threshold.

Example:
    >>> frame = pd.DataFrame({"threshold": [0.5], "detections": ['[{"score": 0.4}]'],
    ...     "top_regions": ['[{"score": 0.7}, {"score": 0.3}]']})
    >>> out = with_called(frame)
    >>> out.loc[0, "top_regions"], int(out.loc[0, "n_regions_called"])
    ('[{"score": 0.7, "called": true}, {"score": 0.3, "called": false}]', 1)
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from mcalc.explain.scoring import called

__all__ = ["CALLED_COUNTS", "called_items", "with_called"]

#: The JSON column of a row's regions or detections -> the column counting the called ones.
CALLED_COUNTS: dict[str, str] = {
    "top_regions": "n_regions_called",
    "detections": "n_detections_called",
}


def called_items(items: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """``items`` (regions or detections, each with its ``score``), each with ``called``:
    its own where it holds one, else whether ``score`` is called at ``threshold``."""
    return [
        x if "called" in x else {**x, "called": called(float(x["score"]), threshold)} for x in items
    ]


def _filled(text: Any, threshold: float) -> tuple[Any, int]:
    """A JSON cell with its items' ``called`` (as it is when it is not such a list, or the
    row has no threshold) and the count of called items."""
    try:
        items = json.loads(text) if isinstance(text, str) and text else []
    except ValueError:
        return text, 0
    ok = isinstance(items, list) and all(isinstance(x, dict) and "score" in x for x in items)
    if not ok or not items:
        return text, 0
    if any("called" not in x for x in items):
        if math.isnan(threshold):
            return text, 0
        items = called_items(items, threshold)
        text = json.dumps(items)
    return text, sum(bool(x["called"]) for x in items)


def with_called(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a results table as read, perhaps of an older run) with its regions' and
    detections' ``called`` and their counts; ``frame`` itself when it holds the counts."""
    missing = {k: v for k, v in CALLED_COUNTS.items() if k in frame and v not in frame}
    if not missing:
        return frame
    frame = frame.copy()
    raw = frame["threshold"] if "threshold" in frame else pd.Series(math.nan, frame.index)
    thresholds = [float(t) for t in pd.to_numeric(raw, errors="coerce")]
    for col, count in missing.items():
        cells = [_filled(text, t) for text, t in zip(frame[col], thresholds, strict=True)]
        frame[col] = [text for text, _ in cells]
        frame[count] = [n for _, n in cells]
    return frame
