"""The command line run as a user runs it, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

#: As ``python -m mcalc`` (mcalc/__main__.py), then one line saying whether the command's
#: own process imported TensorFlow.
_SCRIPT = (
    "import sys\nfrom mcalc.cli import main\nrc = main(sys.argv[1:])\n"
    "print('tensorflow imported:', 'tensorflow' in sys.modules)\nsys.exit(rc)"
)


def run_as_a_user(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m mcalc ARGS`` from the checkout, without the test session's TensorFlow
    settings (its ``TF_CPP_MIN_LOG_LEVEL`` reads as the user's own, with which a command
    does not import TensorFlow up front); stdout ends with ``tensorflow imported: BOOL``."""
    from mcalc.config import QUIET_TF_ENV

    drop = ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", QUIET_TF_ENV)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
