"""bench/load.py's pure pieces: latency percentiles and ratios, the store check after a run,
a reader's think times and the app server's run log (unit-tested in
tests/test_bench_load.py without a browser)."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AIM_RATIO = 3.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks
    (numpy's default); NaN for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.5, 3.85)
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo), 6)


def summarize(samples: Iterable[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """``{kind: {"n", "p50", "p95"}}`` (seconds) of ``(kind, seconds)`` samples, plus
    ``"all"`` over every sample."""
    by: dict[str, list[float]] = {}
    for kind, seconds in samples:
        by.setdefault(kind, []).append(seconds)
        by.setdefault("all", []).append(seconds)
    return {
        k: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in by.items()
    }


def later_rounds(
    samples: Sequence[tuple[str, float]], rounds: Sequence[int], first: int = 1
) -> list[tuple[str, float]]:
    """The ``(kind, seconds)`` samples taken in a session's round ``first`` or later
    (``rounds[i]``: the 0-based round of ``samples[i]``): the steady state, without round
    0, where every loaded session's first page load (~4 CPU-s of Chromium each, h/idlecpu)
    and first visits fall at once.

    >>> later_rounds([("toggle", 1.0), ("toggle", 2.0), ("save", 3.0)], [0, 1, 2])
    [('toggle', 2.0), ('save', 3.0)]
    """
    if len(samples) != len(rounds):
        raise ValueError(f"one round per sample: {len(samples)} samples, {len(rounds)} rounds")
    return [x for x, r in zip(samples, rounds, strict=True) if r >= first]


def compare(
    base: dict[str, dict[str, float]], loaded: dict[str, dict[str, float]], aim: float = AIM_RATIO
) -> dict[str, dict[str, Any]]:
    """Per kind measured in both: p50/p95 of N sessions over the single session's, and
    whether the p95 ratio is within ``aim``."""
    out: dict[str, dict[str, Any]] = {}
    for kind in loaded:
        if kind not in base:
            continue
        b, n = base[kind], loaded[kind]
        r50 = n["p50"] / b["p50"] if b["p50"] > 0 else math.inf
        r95 = n["p95"] / b["p95"] if b["p95"] > 0 else math.inf
        out[kind] = {"p50": round(r50, 2), "p95": round(r95, 2), "met": bool(r95 <= aim)}
    return out


def ratio_interval(
    base: Sequence[float],
    loaded: Sequence[float],
    q: float = 95,
    level: float = 0.9,
    n: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """A bootstrap interval (percentile method, ``level``) of the ratio of the ``q``-th
    percentiles, ``loaded`` over ``base``: both sample sets drawn again with replacement
    ``n`` times (seeded). With few samples (a p95 of two is their maximum, a low estimate)
    the interval is wide: read a ratio only with it. ``(nan, nan)`` when either is empty.

    >>> lo, hi = ratio_interval([1.0] * 20, [3.0] * 20)
    >>> (lo, hi)
    (3.0, 3.0)
    """
    if not base or not loaded:
        return math.nan, math.nan
    rng = random.Random(seed)
    ratios = []
    for _ in range(n):
        b = percentile(rng.choices(base, k=len(base)), q)
        m = percentile(rng.choices(loaded, k=len(loaded)), q)
        ratios.append(m / b if b > 0 else math.inf)
    tail = (1 - level) / 2 * 100
    return round(percentile(ratios, tail), 2), round(percentile(ratios, 100 - tail), 2)


def intervals(
    base: Iterable[tuple[str, float]], loaded: Iterable[tuple[str, float]], **kw: Any
) -> dict[str, tuple[float, float]]:
    """:func:`ratio_interval` of the p95 ratio per kind measured in both, and ``"all"``."""

    def by_kind(samples: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for kind, seconds in samples:
            out.setdefault(kind, []).append(seconds)
            out.setdefault("all", []).append(seconds)
        return out

    b, m = by_kind(base), by_kind(loaded)
    return {k: ratio_interval(b[k], m[k], **kw) for k in m if k in b}


def cpu_medians(spent: Iterable[tuple[str, float, float]]) -> dict[str, dict[str, float]]:
    """``{kind: {"n", "browser", "server"}}``: median CPU seconds of ``(kind, browser,
    server)`` per interaction."""
    by: dict[str, list[tuple[float, float]]] = {}
    for kind, b, srv in spent:
        by.setdefault(kind, []).append((b, srv))
    return {
        k: {
            "n": len(v),
            "browser": round(percentile([b for b, _ in v], 50), 3),
            "server": round(percentile([x for _, x in v], 50), 3),
        }
        for k, v in by.items()
    }


@dataclass(frozen=True)
class Save:
    """A save a session saw succeed: ``Saved as version {version}`` with ``n_marks`` marks."""

    image_key: str
    reader: str
    version: int
    n_marks: int


def check_store(store_dir: Path, saves: Sequence[Save]) -> list[str]:
    """Problems with the store after the run, one sentence each (empty: nothing lost).

    For each image and reader that saved: the record's history is exactly the versions the
    session saw saved, in order, each with the marks it had, every point by that reader;
    and no conflict copy (each reader writes only their own record, so a conflict would be
    a mis-resolved write). Records of readers that never saved are problems too.
    """
    from mcalc.store import MarkStore
    from mcalc.store.record import StoreReadError

    store = MarkStore(store_dir)
    problems: list[str] = []
    groups: dict[tuple[str, str], list[Save]] = {}
    for s in saves:
        groups.setdefault((s.image_key, s.reader), []).append(s)
    for (key, reader), seen in sorted(groups.items()):
        seen = sorted(seen, key=lambda s: s.version)
        where = f"{key} by {reader}"
        history = store.history(key, reader)
        numbers = [v.number for v in history]
        if numbers != [s.version for s in seen]:
            problems.append(
                f"{where}: saved versions {[s.version for s in seen]}, the store has {numbers}"
            )
        for s in seen:
            if s.version not in numbers:
                continue  # lost: said above
            try:
                marks = store.version(key, reader, s.version)
            except StoreReadError as exc:
                problems.append(f"{where}: version {s.version} unreadable ({exc})")
                continue
            if len(marks.points) != s.n_marks:
                problems.append(
                    f"{where}: version {s.version} saved with {s.n_marks} mark(s), "
                    f"the store has {len(marks.points)}"
                )
            if any(p.reader != reader for p in marks.points):
                problems.append(f"{where}: version {s.version} holds another reader's marks")
        conflicts = store.conflicts(key, reader)
        if conflicts:
            problems.append(f"{where}: {len(conflicts)} conflict cop(ies) left")
    for record in store.records.records():
        image, reader = record.parts[0], record.parts[-1]
        if record.version and (image, reader) not in groups:
            problems.append(f"{image} by {reader}: in the store, but no session saved it")
    return problems


def think_times(reader: str, mean_s: float, seed: int = 0) -> Iterator[float]:
    """A reader's pauses between interactions, seconds: uniform between 0.5x and 1.5x
    ``mean_s`` (Locust's ``between``), seeded by ``seed`` and the reader's name, so a rerun
    of the bench waits the same; ``mean_s`` 0 gives 0 for ever (a closed loop).

    >>> ts = [t for _, t in zip(range(3), think_times("Ann", 3.0))]
    >>> ts == [t for _, t in zip(range(3), think_times("Ann", 3.0))], min(ts) >= 1.5
    (True, True)
    >>> next(think_times("Ann", 0.0))
    0.0
    """
    if mean_s < 0:
        raise ValueError(f"a think time is at least 0 s, got {mean_s}")
    rng = random.Random(f"{seed}:{reader}")
    while True:
        yield rng.uniform(0.5 * mean_s, 1.5 * mean_s) if mean_s else 0.0


@dataclass(frozen=True)
class ServerRun:
    """One script run in the app server's run log (``MCALC_RUN_LOG``)."""

    tag: str
    start: float  # Unix seconds
    wall: float
    cpu: float


def read_run_log(path: Path) -> list[ServerRun]:
    """The runs of the server's run log (:func:`pages.server_tuning.log_script_runs`),
    in file order; a line cut short (the server writing it) or malformed is skipped."""
    runs: list[ServerRun] = []
    if not path.exists():
        return runs
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            runs.append(
                ServerRun(str(d["tag"]), float(d["start"]), float(d["wall"]), float(d["cpu"]))
            )
        except (ValueError, KeyError, TypeError):
            continue
    return runs


def server_times(
    runs: Sequence[ServerRun], tag: str, windows: Sequence[tuple[str, float, float]]
) -> list[tuple[str, float, float]]:
    """``(kind, wall, cpu)`` per interaction window ``(kind, start, seconds)`` (Unix
    seconds): the summed wall-clock and CPU seconds of the server's runs of session ``tag``
    that started inside it (0 when the interaction ran nothing on the server)."""
    mine = [r for r in runs if r.tag == tag]
    out = []
    for kind, start, seconds in windows:
        inside = [r for r in mine if start <= r.start <= start + seconds]
        out.append(
            (kind, round(sum(r.wall for r in inside), 4), round(sum(r.cpu for r in inside), 4))
        )
    return out


def wait_parts(
    windows: Sequence[tuple[str, float, float]],
    sends: Sequence[float | None],
    server: Sequence[tuple[str, float, float]],
) -> dict[str, list[tuple[str, float]]]:
    """Where each interaction's wait went, as ``(kind, seconds)`` samples per part:
    ``to_send``, from the action to the page's first message to the server (the input
    reaching the page, the page's own handling); ``server``, the wall time of the
    session's script runs inside it (:func:`server_times`); ``rest``, what is left (the
    message's way, the answer drawn, the page settling). ``windows``, ``sends`` (seconds
    from the action, ``None``: nothing sent, as a mark) and ``server`` are aligned, one
    entry per interaction; interactions that sent nothing are left out.

    >>> wait_parts([("save", 10.0, 1.0)], [0.25], [("save", 0.125, 0.1)])["rest"]
    [('save', 0.625)]
    """
    if not len(windows) == len(sends) == len(server):
        raise ValueError(
            f"one send time and one server time per interaction: {len(windows)} "
            f"interactions, {len(sends)} send times, {len(server)} server times"
        )
    parts: dict[str, list[tuple[str, float]]] = {"to_send": [], "server": [], "rest": []}
    for (kind, _, seconds), sent, (_, wall, _) in zip(windows, sends, server, strict=True):
        if sent is None:
            continue
        parts["to_send"].append((kind, round(sent, 4)))
        parts["server"].append((kind, wall))
        parts["rest"].append((kind, round(max(0.0, seconds - sent - wall), 4)))
    return parts


def cookie_tag(reader: str) -> str:
    """The reader's name as a cookie value (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", reader)
