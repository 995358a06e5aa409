"""The demo set the app makes on its first start: once, whatever the sessions and processes.

:func:`start_demo` starts :func:`~mcalc.synthetic.write.generate_demo` in a background
thread of the process, not in the script run of the session that asked: a browser tab
closed midway no longer ends it (a page only polls its progress), and every session that
comes meanwhile gets the same :class:`~mcalc.progress.BackgroundWork` to show, not a second
generation. Across processes (two app servers on one folder) a lock file beside the set
(``.<name>.lock``, :func:`mcalc.fileio.file_lock`) lets one generate while the others wait
for it and then find the set made. The set itself is written into a hidden
``.<name>.partial-*`` folder renamed into place when complete
(:func:`~mcalc.synthetic.write.generate_demo`): a generation interrupted in any way (the
process killed, a full disk) leaves no folder that is taken for the dataset.

Example:
    >>> import tempfile
    >>> out = tempfile.mkdtemp() + "/demo"
    >>> job = start_demo(out, cases=3, seed=0, shape=(256, 208))
    >>> job is not None and job.wait(120) and job.state
    'done'
    >>> start_demo(out, cases=3, seed=0) is None  # made: nothing to start
    True
"""

from __future__ import annotations

import logging
import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

from mcalc.fileio import LockTimeout, file_lock
from mcalc.progress import BackgroundWork, ProgressFn
from mcalc.synthetic.write import DemoSummary, generate_demo, is_synthetic

__all__ = ["start_demo", "demo_job"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
#: The process' generation of each demo folder (absolute path), running or ended.
_JOBS: dict[Path, BackgroundWork[DemoSummary | None]] = {}
#: How often a generation waiting for another process's reports that it waits (seconds).
_WAIT_REPORT_S = 0.5


def _generate(out: Path, options: dict[str, Any], progress: ProgressFn) -> DemoSummary | None:
    """Generate ``out`` under the lock beside it (``None``: another process made it)."""
    while True:
        try:
            with file_lock(out, timeout_s=_WAIT_REPORT_S):
                if is_synthetic(out):  # made by another process while this one waited
                    return None
                return generate_demo(out, progress=progress, **options)
        except LockTimeout:
            progress(0, 0, "another process is generating it: waiting")


def start_demo(out: str | Path, **options: Any) -> BackgroundWork[DemoSummary | None] | None:
    """The process' generation of the demo set ``out`` (``options`` as
    :func:`~mcalc.synthetic.write.generate_demo` takes them): started now, or the one
    going on (or done) since an earlier call; ``None`` when ``out`` holds a demo set
    already. A generation that failed is started again by the next call."""
    out = Path(os.path.abspath(os.path.expanduser(out)))
    with _LOCK:
        job = _JOBS.get(out)
        if job is not None and job.running:
            return job
        if is_synthetic(out):
            return None
        if job is not None and job.state == "done":  # made, then removed: make it again
            log.info("demo set %s is gone: generating it again", out)
        job = BackgroundWork(
            partial(_generate, out, dict(options)), key=out, label="demo generation"
        )
        _JOBS[out] = job.start()
        return job


def demo_job(out: str | Path) -> BackgroundWork[DemoSummary | None] | None:
    """The process' last generation of ``out`` (running or ended), if any."""
    return _JOBS.get(Path(os.path.abspath(os.path.expanduser(out))))
