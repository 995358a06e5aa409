"""Batch runs for the app (mcalc/jobs/batch.py): the listing of a model's run folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mcalc.config import Settings
from mcalc.jobs import batch
from mcalc.jobs.batch import batch_root, model_run_folders, run_name
from mcalc.lru import LRU


@pytest.fixture
def listed(monkeypatch) -> list[Path]:
    """The folders the code lists (each call of ``Path.iterdir``), in order."""
    calls: list[Path] = []
    real = Path.iterdir

    def iterdir(self: Path):
        calls.append(self)
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(batch, "_listings", LRU(64), raising=False)  # none from other tests
    return calls


def _age(folder: Path, seconds: float) -> None:
    """Set ``folder``'s modification time ``seconds`` back from now."""
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_model_run_folders_lists_again_only_when_the_root_changes(tmp_path, listed):
    settings = Settings(runs_dir=tmp_path)
    root = batch_root(settings)
    a, b = (root / run_name("m", tmp_path / d) for d in ("one", "two"))
    for folder in (a, b, root / run_name("other", tmp_path / "one")):
        folder.mkdir(parents=True)
    (root / ".lock").touch()
    _age(root, 60)

    assert model_run_folders("m", settings) == sorted([a, b])
    assert listed == [root]
    assert model_run_folders("m", settings) == sorted([a, b])  # one stat, no listing
    assert model_run_folders("other", settings) == [root / run_name("other", tmp_path / "one")]
    assert listed == [root, root]  # another model: its own listing

    # A new run appears at once, a removed one goes at once (the root's time changed).
    c = root / run_name("m", tmp_path / "three")
    c.mkdir()
    assert model_run_folders("m", settings) == sorted([a, b, c])
    b.rmdir()
    assert model_run_folders("m", settings) == sorted([a, c])
    assert listed == [root] * 4


def test_a_root_changed_within_a_clock_tick_is_listed_again(tmp_path, listed):
    """A folder made in the same tick of a coarse file-system clock leaves the root's time
    as it was: a root changed that recently is never answered from the listing kept."""
    settings = Settings(runs_dir=tmp_path)
    root = batch_root(settings)
    a = root / run_name("m", tmp_path / "one")
    a.mkdir(parents=True)
    tick = root.stat().st_mtime_ns
    assert model_run_folders("m", settings) == [a]
    b = root / run_name("m", tmp_path / "two")
    b.mkdir()
    os.utime(root, ns=(tick, tick))  # the same tick as before
    assert model_run_folders("m", settings) == sorted([a, b])
    assert listed == [root, root]


def test_model_run_folders_without_a_batch_root_is_empty(tmp_path):
    assert model_run_folders("m", Settings(runs_dir=tmp_path / "missing")) == []
