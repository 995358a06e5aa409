"""bench/browser.py without a browser: the click rows paired with the idle round trip."""

from __future__ import annotations

import pytest

from bench import browser as b


def test_paired_row_keeps_value_and_floor_of_the_round_of_median_ratio() -> None:
    # Ratios per round 1.0, 3.0, 1.2, 0.5: the lower middle of four is 1.0 (round 1).
    values = [0.2, 0.3, 0.12, 0.05]
    floors = [0.2, 0.1, 0.1, 0.1]
    row = b.paired_row("browser: x", values, floors, 1.3, idle=0.4)
    assert (row["value"], row["floor"], row["ratio"], row["met"]) == (0.2, 0.2, 1.0, True)
    assert row["pairs"] == 4
    assert row["rounds"] == [[0.2, 0.2], [0.3, 0.1], [0.12, 0.1], [0.05, 0.1]]
    assert row["ratio_p10_p90"] == [0.65, 2.46]
    # The unpaired figure beside it: the values' median (0.16) against the session's idle.
    assert row["ratio_unpaired"] == 0.4
    assert set(row) >= {"name", "value", "floor", "ratio", "aim", "met"}
    # Odd count: the middle round, not median(values) / median(floors) (0.2 / 0.1 = 2.0).
    row = b.paired_row("browser: x", [0.2, 0.3, 0.12], [0.2, 0.1, 0.1], 1.3, idle=0.4)
    assert (row["value"], row["floor"], row["ratio"]) == (0.12, 0.1, 1.2)


def test_paired_row_without_rounds_is_a_row_not_measured() -> None:
    row = b.paired_row("browser: x", [], [], 1.3, idle=0.15)
    assert row["value"] is None and row["ratio"] is None and not row["met"]
    assert row["floor"] == 0.15 and row["pairs"] == 0
    with pytest.raises(ValueError, match="one floor per value expected, got 2 values and 1"):
        b.paired_row("browser: x", [0.1, 0.2], [0.1], 1.3, idle=0.15)


def test_paired_rounds_time_each_step_after_its_rounds_idle_block(monkeypatch) -> None:
    monkeypatch.setattr(b, "_failed", lambda name, exc, page: calls.append(f"failed {name}"))
    calls: list[str] = []
    blocks = iter([[0.3, 0.1, 0.2], [0.5, 0.4, 0.6], [0.9, 0.7, 0.8]])

    def idle() -> list[float]:
        calls.append("idle")
        return next(blocks)

    def switch(k: int) -> float:
        calls.append(f"switch {k}")
        return 1.0 + k

    def toggle(k: int) -> float | None:
        calls.append(f"toggle {k}")
        if k == 1:
            raise RuntimeError("stalled")
        return 0.5

    def region(k: int) -> float | None:
        calls.append(f"region {k}")
        return None if k == 0 else 0.25  # round 0: a click that missed its box

    out: dict[str, list[float]] = {}
    steps = [("switch", switch), ("toggle", toggle), ("region", region)]
    b.paired_rounds(out, 3, idle, steps)
    assert calls == [
        "idle", "switch 0", "toggle 0", "region 0",
        "idle", "switch 1", "toggle 1", "failed toggle", "region 1",
        "idle", "switch 2", "region 2",  # the failed step is left out of later rounds
    ]  # fmt: skip
    assert out["switch"] == [1.0, 2.0, 3.0]
    assert out["switch_floor"] == [0.2, 0.5, 0.8]  # each round's median idle
    assert out["toggle"] == [0.5] and out["toggle_floor"] == [0.2]
    assert out["region"] == [0.25, 0.25] and out["region_floor"] == [0.5, 0.8]
    assert out["idle_rounds"] == [0.3, 0.1, 0.2, 0.5, 0.4, 0.6, 0.9, 0.7, 0.8]


def test_paired_rounds_one_at_a_time_add_up_and_count_on() -> None:
    """The reader's name: a new session before each round, so one round per call."""
    out: dict[str, list[float]] = {}
    seen: list[int] = []
    blocks = iter([[0.1, 0.3], [0.2, 0.2], [0.4, 0.6]])
    for k in range(3):
        b.paired_rounds(
            out, 1, lambda: next(blocks), [("name", lambda j: seen.append(j) or 0.1 * (j + 1))],
            first=k,
        )  # fmt: skip
    assert seen == [0, 1, 2]
    assert out["name"] == pytest.approx([0.1, 0.2, 0.3])
    assert out["name_floor"] == pytest.approx([0.2, 0.2, 0.5])
    assert b.NAME_ROUNDS >= 3


def test_click_rows_are_paired_with_their_rounds_not_with_the_sessions_idle() -> None:
    """Browse's case switch, 1.50x, 0.88x and 1.32x in three runs of the same code, had its
    floor from the session's start and end, minutes away; now its own rounds'."""
    m = {
        "case_switch": [0.30, 0.20, 0.25],
        "case_switch_floor": [0.30, 0.10, 0.20],  # ratios 1.0, 2.0, 1.25
        "toggle": [0.2],
        "toggle_floor": [0.25],
    }
    rows = {r["name"]: r for r in b.click_rows(m, idle=0.15)}
    assert list(rows) == list(b.CLICKS.values())
    switch = rows["browser: case switch on Browse"]
    assert (switch["value"], switch["floor"], switch["ratio"]) == (0.25, 0.2, 1.25)
    assert switch["met"] and switch["ratio_unpaired"] == 1.67  # 0.25 / 0.15: not met
    toggle = rows["browser: display toggle (Browse, invert)"]
    assert (toggle["ratio"], toggle["pairs"]) == (0.8, 1)
    assert rows["browser: add a mark on Annotate"]["value"] is None  # not measured
    # The viewer's own click-to-drawn times (page clock) go beside the mark row: the browser
    # test no longer bounds them (timings go in the benches).
    m.update(mark=[0.3], mark_floor=[0.25], mark_page_ms=[4.123, 12.0])
    mark = b.click_rows(m, idle=0.15)[0]
    assert mark["click_to_drawn_ms_page_clock"] == [4.1, 12.0] and mark["pairs"] == 1


@pytest.mark.parametrize("run", [0, 1], ids=["quick", "full"])
def test_the_bench_demo_set_has_its_cold_cases_and_a_next_case(tmp_path, run) -> None:
    from mcalc.dataset import open_dataset
    from mcalc.synthetic import generate_demo

    generate_demo(tmp_path / "demo", cases=b.DEMO_CASES[run], seed=0, shape=(160, 128))
    ids = [c.case_id for c in open_dataset(tmp_path / "demo").cases]
    cold, nxt = b.next_choice(ids, b.cold_choices(ids, b.COLD_CASES[run]))
    assert len(cold) == b.COLD_CASES[run]  # the row's median is of this many
    assert nxt is not None and nxt not in cold  # the next-case row is measured too
    assert ids[0] not in cold and ids[1] not in cold  # analysed ahead from the start
