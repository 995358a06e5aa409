"""bench/all.py: the JSON object's schema and the table, on fake figures (nothing timed)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figure_ratios_follow_their_aims() -> None:
    fig = _module("figures").figure
    cost = fig("explain", 0.3, 0.2, "<= 1.5x")
    assert cost["ratio"] == 1.5 and cost["met"]
    rate = fig("pipeline", 0.2, 0.19, ">= 0.9x")  # throughput: floor / value
    assert rate["ratio"] == 0.95 and rate["met"]
    assert not fig("map", 1.2, None, "< 1 s")["met"] and fig("switch", 0.04, None, "< 50 ms")["met"]
    with pytest.raises(ValueError, match="aim"):
        fig("x", 1.0, 1.0, "fast")


def test_paired_keeps_the_pair_of_median_ratio_and_runs_short_calls_for_its_time(
    monkeypatch,
) -> None:
    figures = _module("figures")
    # Scripted times (a, b) per pair: ratios 1.0, 2.0, 0.5, 3.0; the lower middle is 1.0.
    script = iter([1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0, 1.0])
    monkeypatch.setattr(figures, "best_of", lambda fn, repeats: (fn(), next(script))[1])
    calls: list[str] = []
    a, b, ratios = figures.paired(lambda: calls.append("a"), lambda: calls.append("b"), 4)
    assert (a, b) == (1.0, 1.0) and ratios == [1.0, 2.0, 0.5, 3.0]
    assert calls == ["a", "b"] * 4
    monkeypatch.undo()
    calls.clear()  # calls of microseconds: more pairs until the time is spent
    _, _, ratios = figures.paired(
        lambda: calls.append("a"), lambda: calls.append("b"), 3, min_seconds=0.05
    )
    assert calls[:2] == ["a", "b"] and calls.count("a") == calls.count("b") == len(ratios) > 3
    calls.clear()  # the cap holds whatever the time left
    _, _, ratios = figures.paired(
        lambda: calls.append("a"), lambda: calls.append("b"), 2, min_seconds=60, max_repeats=5
    )
    assert len(ratios) == 5 == calls.count("a") == calls.count("b")


def test_rounds_call_every_function_in_turn_and_keep_round_k_at_index_k(monkeypatch) -> None:
    """The map row's rounds (map, floor, base alone): each round's times line up."""
    figures = _module("figures")
    script = iter([3.0, 2.0, 1.0, 6.0, 5.0, 4.0])
    monkeypatch.setattr(figures, "best_of", lambda fn, repeats: (fn(), next(script))[1])
    calls: list[str] = []
    fns = tuple((lambda n=n: calls.append(n)) for n in "xyz")
    assert figures.rounds(fns, 2) == [[3.0, 6.0], [2.0, 5.0], [1.0, 4.0]]
    assert calls == list("xyzxyz")
    monkeypatch.undo()
    got = figures.rounds(fns, 1, min_seconds=60, max_repeats=4)
    assert [len(t) for t in got] == [4, 4, 4]


def test_paired_settles_off_the_clock_after_every_call() -> None:
    """A cold path's writes left to a thread are waited for after its call, on neither
    side's clock, so the floor that follows does not pay for them."""
    figures = _module("figures")
    calls: list[str] = []

    def slow_settle() -> None:
        calls.append("settle")
        time.sleep(0.05)

    a, b, ratios = figures.paired(
        lambda: calls.append("a"), lambda: calls.append("b"), 2, settle=slow_settle
    )
    assert calls == ["a", "settle", "b", "settle"] * 2 and len(ratios) == 2
    assert a < 0.04 and b < 0.04  # the settle's 50 ms on neither clock
    assert figures.median_index([3.0, 1.0, 2.0, 4.0]) == 2  # the lower middle: 2.0
    with pytest.raises(ValueError, match="at least one value"):
        figures.median_index([])


def test_training_figure_is_the_repetition_of_median_paired_ratio() -> None:
    # (wall, cpu) per step; each repetition's floor and pipeline measured back to back.
    floor = [(1.0, 0.5), (2.0, 0.5), (1.0, 0.5), (3.0, 0.5)]
    feed = [(1.0, 0.5), (1.6, 0.5), (1.25, 0.5), (6.0, 0.5)]  # ratios 1.0, 1.25, 0.8, 0.5
    pair = _module("train").median_pair(floor, feed)
    # The lower middle repetition (ratio 0.8), its own two walls; not median/median (0.41).
    assert (pair["floor"], pair["value"]) == (1.0, 1.25)
    assert pair["ratios"] == [1.0, 1.25, 0.8, 0.5]


def test_json_is_one_object_of_figures_and_absent_or_failing_benches_are_listed(
    monkeypatch, capsys
) -> None:
    bench = _module("all")
    fig = _module("figures").figure

    def loader(module: str):
        if module == "browser":
            raise ImportError("No module named 'browser'")
        if module == "train":
            return lambda quick: 1 / 0
        return lambda quick: [fig(f"{module} figure", 0.5 if quick else 0.6, 0.4, "<= 1.5x")]

    monkeypatch.setattr(bench, "_load", loader)
    assert bench.main(["--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"figures", "skipped", "machine"}
    assert [f["name"] for f in out["figures"]] == ["viewer figure", "predict figure"]
    for f in out["figures"]:
        assert set(f) >= {"name", "value", "floor", "ratio", "aim", "met"}
        assert isinstance(f["value"], float) and isinstance(f["met"], bool)
        assert f["value"] == 0.5 and f["ratio"] == 1.25 and f["met"]
    reasons = {s["bench"]: s["reason"] for s in out["skipped"]}
    assert reasons["browser"].startswith("not available") and "ZeroDivision" in reasons["train"]
    assert bench.main(["--only", "viewer"]) == 0
    text = capsys.readouterr().out
    assert "| viewer figure | 600 ms | 400 ms | 1.50 | <= 1.5x | yes |" in text  # not quick


def test_browse_benches_have_a_case_for_every_next_click() -> None:
    # The 6th Next on the 6-case set was a disabled button: Playwright waited forever.
    from bench.browser import demo_cases

    assert demo_cases(3, 6) == 6 and demo_cases(6, 6) == 7 and demo_cases(6, 12) == 12
    with pytest.raises(ValueError, match="at least 1"):
        demo_cases(0, 6)
