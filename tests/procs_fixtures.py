"""A stand-in for the processes jobs and batch runs start (``mcalc.jobs.procs.launch``)."""

from __future__ import annotations

import sys

import pytest


def launch_sleepers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``procs.launch`` start a process that sleeps two minutes instead of the command
    it is given (same keyword arguments: its own session, log files); the list it returns
    receives each started process's pid, for a test to check it was stopped."""
    from mcalc.jobs import procs

    started: list[int] = []
    launch = procs.launch

    def sleeper(cmd, **kwargs):
        pid, ticks = launch([sys.executable, "-c", "import time; time.sleep(120)"], **kwargs)
        started.append(pid)
        return pid, ticks

    monkeypatch.setattr(procs, "launch", sleeper)
    return started
