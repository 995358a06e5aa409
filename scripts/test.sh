#!/usr/bin/env bash
# The test command of README.md: install what the tests need, lint, type-check, run the
# whole suite (arguments go to pytest, e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser of its own).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# poppler-utils: pdftotext reads the case reports back (tests/test_report.py).
if ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
  fi
fi

# Xvfb and xdotool: the bench's real-input (XTest) helper is tested on an X server of its
# own (tests/test_bench_xinput.py); xdotool reads the pointer back.
if ! command -v Xvfb >/dev/null 2>&1 || ! command -v xdotool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool >/dev/null
  fi
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

ruff check .
ruff format --check .
set +e
# The reading viewer's committed bundle must be what its source and lock file build; type
# errors fail the run too. Both run beside pytest (the viewer's npm ci and build took 10-15 s
# of wall time before the tests began; pytest leaves a core idle much of the time) and
# fail the run after the tests have run (every report in one CI log): their reports are
# printed once pytest is done. mypy checks what [tool.mypy] in pyproject.toml names.
viewer_log="$(mktemp)"
scripts/check_viewer_build.sh >"$viewer_log" 2>&1 &
viewer_pid=$!
mypy_log="$(mktemp)"
python -m mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
# Both cores: two pytest-xdist workers, each taking whole modules; the browser tests all run
# on one of them (one app server, one Chromium), handed out first, then the modules with slow
# tests, then the rest (tests/conftest.py; --no-loadscope-reorder keeps that order).
# Arguments given to this script come last, so `bash scripts/test.sh -n 0` runs in one
# process.
# --max-worker-restart 0: a worker that crashes (a native abort or segfault in a test) ends
# the run at once with that test named as failed. pytest-xdist 3.8's replacement worker
# under --dist loadgroup waits for work that never comes (pytest-xdist issues #1323, #1327,
# #1378): the CI of 7 December hung until its 90-minute limit after one crash.
# The outer timeout is the last guard against any other hang: the suite takes about 7 min.
# --foreground keeps pytest in the terminal's process group, so that Ctrl+C still reaches it
# (timeout otherwise moves it to a group of its own: Ctrl+C stopped only this script).
timeout --foreground --kill-after=30 1800 \
  python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder --max-worker-restart 0 \
  --durations=40 "$@"
status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "pytest ran past 30 minutes and was stopped: a hang (the suite takes about 7 min)" >&2
fi
wait "$viewer_pid"
viewer_status=$?
echo "--- viewer build ---"
cat "$viewer_log"
rm -f "$viewer_log"
wait "$mypy_pid"
mypy_status=$?
echo "--- mypy ---"
cat "$mypy_log"
rm -f "$mypy_log"
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no test: that is a failure" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$viewer_status" -ne 0 ]; then
  echo "the viewer's build check failed (above): that is a failure" >&2
  exit "$viewer_status"
fi
if [ "$mypy_status" -ne 0 ]; then
  echo "mypy found type errors (above): that is a failure" >&2
fi
exit "$mypy_status"
