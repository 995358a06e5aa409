"""Progress on stderr (mcalc/progress.py :class:`TerminalProgress`): a bar on a terminal,
plain lines at an interval elsewhere, silence for short work."""

from __future__ import annotations

import io

import pytest

from mcalc.progress import TerminalProgress, format_duration


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_outside_a_terminal_a_line_per_interval_and_one_when_done() -> None:
    clock, out = _Clock(), io.StringIO()
    bar = TerminalProgress("batch", stream=out, interval=30, clock=clock)
    for done, at in ((1, 10.0), (2, 29.9), (3, 130.0), (4, 150.0), (5, 161.0), (10, 200.0)):
        clock.now = 100.0 + at
        bar(done, 10, f"case {done:04d}")
    assert out.getvalue().splitlines() == [
        # The pace since the first report (1 done at 10 s; the start-up before it is not
        # work): 120 s for 2 -> 7 left take 7 min; 151 s for 4 -> 5 left take 3 min 9 s.
        "batch: 3/10 (30%) 2 min 10 s, about 7 min left · case 0003",
        "batch: 5/10 (50%) 2 min 41 s, about 3 min left · case 0005",
        "batch: 10/10 (100%) 3 min 20 s, done",
    ]
    # A first report after the interval: no pace yet (the start-up is not work).
    out = io.StringIO()
    bar = TerminalProgress("batch", stream=out, interval=30, clock=clock)
    clock.now += 40
    bar(1, 10, "case 0001")
    assert out.getvalue() == "batch: 1/10 (10%) 40 s, time left unknown yet · case 0001\n"


@pytest.mark.parametrize(
    ("seconds", "precise", "shown"),
    [
        (0.4, False, "0 s"),
        (-3, False, "0 s"),
        (59.4, False, "59 s"),
        # Rounded once: never "60 s" or "60 min" (two formatters did, before one).
        (59.6, False, "1 min"),
        (89, False, "1 min"),
        (91, False, "2 min"),
        (3569, False, "59 min"),
        (3570, False, "1 h 00 min"),
        (7500, False, "2 h 05 min"),
        (59.6, True, "1 min 00 s"),
        (185, True, "3 min 05 s"),
        (3599.4, True, "59 min 59 s"),
        (3599.6, True, "1 h 00 min"),
        (3659, True, "1 h 00 min"),
    ],
)
def test_one_duration_format(seconds: float, precise: bool, shown: str) -> None:
    assert format_duration(seconds, precise=precise) == shown


def test_short_work_interval_zero_and_disabled_write_nothing() -> None:
    clock = _Clock()
    for kwargs in ({"interval": 30}, {"interval": 0}, {"interval": 30, "enabled": False}):
        out = io.StringIO()
        bar = TerminalProgress("scan", stream=out, clock=clock, **kwargs)
        clock.now += 5 if kwargs == {"interval": 30} else 500
        bar(1, 2)
        bar(2, 2)
        assert out.getvalue() == "", kwargs


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    clock, out = _Clock(), _Terminal()
    bar = TerminalProgress("scan", stream=out, width=4, interval=30, clock=clock)
    bar(1, 2, "a")
    clock.now += 2
    bar(2, 2, "b")
    drawn = out.getvalue()
    assert drawn.startswith("\rscan [##--] 1/2   0.0s eta     ?") and "\rscan [####] 2/2" in drawn
    assert drawn.endswith("\n") and drawn.count("\n") == 1


def test_the_interval_is_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("MCALC_PROGRESS_EVERY", "300")
    assert TerminalProgress("x", stream=io.StringIO()).interval == 300
    monkeypatch.setenv("MCALC_PROGRESS_EVERY", "soon")
    with pytest.raises(ValueError, match="MCALC_PROGRESS_EVERY must be an integer, got 'soon'"):
        TerminalProgress("x", stream=io.StringIO())


# A command's lines on a captured stderr: tests/test_cli.py test_scan_text_lists_problems.


def test_interruptible_puts_pythons_sigint_handler_back_only_where_sigint_is_ignored() -> None:
    """A process started in the background ignores SIGINT (and its Ray workers with it):
    Ray's polite cancel, ``_thread.interrupt_main``, did nothing there. A handler of the
    process's own is left as it is. (No signal is sent: only the handlers are read.)"""
    import signal

    from mcalc.progress import interruptible

    before = signal.getsignal(signal.SIGINT)

    def own(signum: int, frame: object) -> None:
        raise AssertionError("never sent")

    try:
        for inherited in (signal.SIG_IGN, signal.SIG_DFL):
            signal.signal(signal.SIGINT, inherited)
            interruptible()
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, own)
        interruptible()
        assert signal.getsignal(signal.SIGINT) is own
    finally:
        signal.signal(signal.SIGINT, before)
