"""Following a training run from another process: its ``progress.jsonl`` and its logs.

The trainer (:class:`mcalc.models.training.ProgressLogger`) appends one JSON object a line:
``start``, ``patches``, ``stage``, ``batch``, ``epoch``, then ``done``, ``failed`` or
``interrupted``. :func:`read_progress` turns the file into a :class:`Progress` snapshot
(phase, epoch, batch, fraction done, time left, loss and metric history). Files are read
incrementally (only the new bytes on each call), so a page can poll a long run cheaply; a
half-written last line is left for the next call.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "progress.jsonl"
    >>> _ = p.write_text('{"event": "start", "time": 1.0}\\n')
    >>> read_progress(p).phase
    'preparing'
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mcalc.progress import format_duration

__all__ = [
    "Progress",
    "read_progress",
    "tail_text",
    "quiet_tail",
    "is_runtime_noise",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """Where a training run stands.

    Attributes:
        phase: ``waiting`` (no log yet: the process is starting), ``preparing`` (sampling patches, building the
            model), ``training``, ``mining`` (hard negatives, between two stages),
            ``evaluating`` (test metrics and registration), ``threshold`` (the decision
            threshold chosen on the validation patients, ``operating_point``), ``done``,
            ``failed`` or ``interrupted``.
        stage: current stage (``train``, or ``head`` then ``finetune``).
        stage_index, n_stages: 1-based stage number and how many are planned.
        epoch, epochs: epoch within the stage and the stage's epochs.
        batch, steps: batch within the epoch and batches per epoch.
        done_steps, total_steps: batches done and planned over all stages (the plan may
            end sooner by early stopping).
        fraction: done_steps / total_steps in [0, 1] (1 when done).
        elapsed_s: seconds since the run started; eta_s: estimated seconds left.
        batch_loss: ``(global batch number, loss)`` pairs.
        history: one dict per finished epoch (``stage``, ``epoch``, ``global_epoch``,
            ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ...).
        patches: patch counts per set and class, once sampled.
        message: the failure message of a failed run.
        model_id: the registry id, once known.
        mining: ``(images done, images)`` while hard negatives are mined; mined: hard
            negatives found, once mining has ended (``None``: none mined yet).
        choosing: ``(validation images scored, images)`` while the decision threshold is
            chosen.
    """

    phase: str = "waiting"
    stage: str | None = None
    stage_index: int = 0
    n_stages: int = 1
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps: int = 0
    done_steps: int = 0
    total_steps: int = 0
    fraction: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    batch_loss: tuple[tuple[int, float], ...] = ()
    history: tuple[dict[str, Any], ...] = ()
    patches: dict[str, Any] | None = None
    message: str | None = None
    model_id: str | None = None
    mining: tuple[int, int] | None = None
    mined: int | None = None
    choosing: tuple[int, int] | None = None

    def summary(self) -> str:
        """One line for a progress bar: ``epoch 2/5 · batch 7/20 · about 1 min left``."""
        if self.phase == "waiting":
            return "starting: loading TensorFlow"
        if self.phase == "preparing":
            return "preparing: sampling patches and building the model"
        if self.phase == "done":
            # Said while the job's process still runs (it exits a moment after): "running
            # · done" on Evaluate's fold lines, "done" beside Train's running icon.
            return "model registered: the job is ending"
        if self.phase in {"failed", "interrupted"}:
            return self.phase
        if self.phase == "mining" and self.mining is not None:
            return f"mining hard negatives: image {self.mining[0]}/{self.mining[1]}"
        if self.phase == "threshold":
            done, total = self.choosing or (0, 0)
            return f"choosing the decision threshold: validation image {done}/{total}"
        parts = []
        if self.n_stages > 1 and self.stage:
            parts.append(f"stage {self.stage_index}/{self.n_stages} ({self.stage})")
        parts.append(f"epoch {max(self.epoch, 1)}/{self.epochs}")
        if self.steps:
            parts.append(f"batch {self.batch}/{self.steps}")
        if self.phase == "evaluating":
            parts = ["evaluating on the test patients and saving the model"]
        elif self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left")
        return " · ".join(parts)


@dataclass
class _State:
    """Accumulated state of one progress file (mutable; snapshots are :class:`Progress`)."""

    inode: int = -1
    offset: int = 0
    t_start: float | None = None
    t_train: float | None = None
    t_last: float | None = None
    finished_steps: int = 0
    epoch_open: bool = False
    n_stages_seen: int = 0
    # The time left is measured from the stage's first batch on: that batch holds the
    # graph's build (77 s of an EfficientNet-B0 stage whose batches then took 0.2 s, so
    # at epoch 4 of 30 the page said "about 10 min left" for less than a minute). Batches
    # are timed between batch events of one epoch; the gap from an epoch's last batch to
    # its end is its validation, counted per epoch from the stage's second epoch on (the
    # first builds the validation graph: ~10 s, which made the time left jump tenfold
    # after the first epoch when it was taken for batch time).
    t_rate: float | None = None  # the stage's first batch: time, steps done
    done_at_rate: int = 0
    t_prev_batch: float | None = None
    done_prev_batch: int = 0
    batch_s: float = 0.0
    batch_n: int = 0
    last_rate: float | None = None
    t_last_batch: float | None = None
    stage_epochs_ended: int = 0
    val_s: float | None = None
    progress: Progress = field(default_factory=Progress)
    batch_loss: list[tuple[int, float]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


_cache: dict[str, _State] = {}
_cache_lock = threading.Lock()
_MAX_CACHED = 64


def _apply(state: _State, event: dict[str, Any], n_stages: int) -> None:
    p = state.progress
    kind = event.get("event")
    t = event.get("time")
    if isinstance(t, int | float):
        state.t_last = float(t)
    if kind == "start":
        state.t_start = state.t_last
        p = replace(p, phase="preparing", model_id=event.get("model_id"))
    elif kind == "patches":
        p = replace(p, patches={k: v for k, v in event.items() if k not in {"event", "time"}})
    elif kind == "stage":
        state.last_rate = _rate(state) or state.last_rate
        state.t_prev_batch, state.batch_s, state.batch_n = None, 0.0, 0
        state.t_rate = None
        state.stage_epochs_ended = 0
        state.n_stages_seen += 1
        if state.t_train is None:
            state.t_train = state.t_last
        p = replace(
            p,
            phase="training",
            stage=str(event.get("stage")),
            stage_index=state.n_stages_seen,
            epochs=int(event.get("epochs") or 0),
            epoch=0,
            batch=0,
        )
    elif kind == "batch":
        steps = int(event.get("steps") or 0)
        batch = int(event.get("batch") or 0)
        p = replace(
            p,
            phase="training",
            epoch=int(event.get("epoch") or 0),
            epochs=int(event.get("epochs") or p.epochs),
            batch=batch,
            steps=steps,
        )
        state.epoch_open = True
        done = state.finished_steps + batch
        prev, t = state.t_prev_batch, state.t_last
        if prev is not None and t is not None and done > state.done_prev_batch:
            state.batch_s += t - prev
            state.batch_n += done - state.done_prev_batch
        state.t_prev_batch, state.done_prev_batch = state.t_last, done
        if state.t_rate is None:
            state.t_rate, state.done_at_rate = state.t_last, done
        state.t_last_batch = state.t_last
        loss = event.get("loss")
        if isinstance(loss, int | float):
            state.batch_loss.append((state.finished_steps + batch, float(loss)))
    elif kind == "epoch":
        state.finished_steps += p.steps
        state.epoch_open = False
        state.stage_epochs_ended += 1
        if state.stage_epochs_ended >= 2 and state.t_last_batch and state.t_last:
            state.val_s = max(state.t_last - state.t_last_batch, 0.0)
        state.t_prev_batch = None  # the next epoch's first batch follows a validation
        values = {k: v for k, v in event.items() if k not in {"event", "time", "epochs"}}
        values["global_epoch"] = len(state.history) + 1
        state.history.append(values)
        p = replace(p, epoch=int(event.get("epoch") or p.epoch), batch=p.steps)
        last_stage = state.n_stages_seen >= n_stages
        if last_stage and p.epoch >= p.epochs:
            p = replace(p, phase="evaluating")
    elif kind == "mining":
        done, total = int(event.get("done") or 0), int(event.get("total") or 0)
        p = replace(p, phase="mining", mining=(done, total))
    elif kind == "threshold":
        done, total = int(event.get("done") or 0), int(event.get("total") or 0)
        p = replace(p, phase="threshold", choosing=(done, total))
    elif kind == "hard_negatives":
        p = replace(p, mining=None, mined=int(event.get("mined") or 0))
    elif kind == "done":
        p = replace(p, phase="done", model_id=event.get("model_id") or p.model_id)
    elif kind in {"failed", "interrupted"}:
        p = replace(p, phase=kind, message=event.get("message") or kind)
    state.progress = p


def _rate(state: _State) -> float | None:
    """Seconds per batch of this stage, timed between batch events of one epoch (never
    the stage's first batch, which builds the graph, nor a validation); with epochs of one
    batch, over the whole stage since its first batch (validations included: see
    :func:`_batch_rate_only`); ``None`` before a second batch."""
    if state.batch_n:
        return state.batch_s / state.batch_n
    done = state.finished_steps + (state.progress.batch if state.epoch_open else 0)
    if state.t_rate is None or state.t_last is None or done <= state.done_at_rate:
        return None
    return (state.t_last - state.t_rate) / (done - state.done_at_rate)


def _batch_rate_only(state: _State) -> bool:
    """Whether :func:`_rate` leaves the validations out (then they are added apart)."""
    return state.batch_n > 0


def _snapshot(state: _State, n_stages: int, total_epochs: int, now: float) -> Progress:
    p = state.progress
    steps = p.steps
    in_epoch = p.batch if p.phase == "training" and state.epoch_open else 0
    done = state.finished_steps + in_epoch
    total = max(total_epochs * steps, done) if steps else 0
    if p.phase in {"done", "evaluating", "threshold"}:
        fraction = 1.0 if p.phase == "done" else 0.99
    else:
        fraction = min(done / total, 0.99) if total else 0.0
    eta = None
    rate = _rate(state) or state.last_rate
    if p.phase == "training" and rate is not None and state.t_last:
        left = total - done
        eta = rate * left
        if state.val_s is not None and steps and _batch_rate_only(state):
            # A validation per epoch left: the current one too when its batches are done.
            ended = state.epoch_open and p.batch >= steps
            eta += state.val_s * (-(-left // steps) + (1 if ended else 0))
        eta = max(eta - (now - state.t_last), 0.0)
    end = state.t_last if p.phase in {"done", "failed", "interrupted"} else now
    elapsed = (end or now) - state.t_start if state.t_start else 0.0
    return replace(
        p,
        n_stages=n_stages,
        done_steps=done,
        total_steps=total,
        fraction=round(fraction, 4),
        elapsed_s=max(elapsed, 0.0),
        eta_s=eta,
        batch_loss=tuple(state.batch_loss),
        history=tuple(dict(h) for h in state.history),
    )


def read_progress(
    path: str | Path, *, n_stages: int = 1, total_epochs: int | None = None
) -> Progress:
    """The progress of the run whose log is ``path`` (a missing file: ``waiting``).

    Args:
        path: the run's ``progress.jsonl``.
        n_stages: stages planned (2 for a two-stage schedule).
        total_epochs: epochs planned over all stages (default: the current stage's).
    """
    key = str(Path(path).resolve())
    with _cache_lock:
        try:
            st = os.stat(key)
        except OSError:
            _cache.pop(key, None)
            return Progress(n_stages=n_stages)
        state = _cache.get(key)
        if state is None or state.inode != st.st_ino or st.st_size < state.offset:
            state = _State(inode=st.st_ino)  # new or rewritten file: read from the start
            if len(_cache) >= _MAX_CACHED:
                _cache.pop(next(iter(_cache)))
            _cache[key] = state
        if st.st_size > state.offset:
            with open(key, "rb") as f:
                f.seek(state.offset)
                chunk = f.read(st.st_size - state.offset)
            end = chunk.rfind(b"\n") + 1  # keep a half-written last line for later
            for line in chunk[:end].splitlines():
                try:
                    event = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    log.debug("skipping a malformed progress line in %s", key)
                    continue
                if isinstance(event, dict):
                    _apply(state, event, n_stages)
            state.offset += end
        epochs = total_epochs or state.progress.epochs
        return _snapshot(state, n_stages, epochs, time.time())


def tail_text(path: str | Path, lines: int = 30, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of a text file ('' if missing); carriage-return progress
    bars collapse to their last state."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
    return "\n".join(rows[-lines:])


#: TensorFlow's and XLA's native log lines (absl: ``I0000 00:00:17.. 123 file.cc:12] ...``;
#: older builds: ``2025-01-01 12:00:00.123: I tensorflow/...cc:12] ...``) and the few
#: continuation lines they print at start-up.
_NOISE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+: [IWEF] [\w./-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|TF-TRT Warning: )"
)


def is_runtime_noise(line: str) -> bool:
    """Whether ``line`` is TensorFlow's native start-up chatter rather than a training line."""
    return bool(_NOISE.match(line))


def quiet_tail(path: str | Path, lines: int = 30, max_bytes: int = 64_000) -> str:
    """Like :func:`tail_text`, without TensorFlow's native log lines: they are counted in a
    first line (``[12 lines of TensorFlow start-up messages hidden]``), so the training lines
    are what shows. The raw text stays in the file."""
    text = tail_text(path, lines=max_bytes, max_bytes=max_bytes)
    kept = [row for row in text.splitlines() if not is_runtime_noise(row)]
    hidden = len(text.splitlines()) - len(kept)
    out = kept[-lines:] if lines > 0 else []
    if hidden:
        out.insert(0, f"[{hidden} lines of TensorFlow start-up messages hidden]")
    return "\n".join(out)
