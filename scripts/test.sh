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

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

ruff check .
ruff format --check .
# The reading viewer's committed bundle must be what its source and lock file build.
scripts/check_viewer_build.sh
set +e
# Type errors fail the run, after the tests have run too (both reports in one CI log).
python -m mypy  # what it checks: [tool.mypy] in pyproject.toml
mypy_status=$?
python -m pytest --durations=15 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no test: that is a failure" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$mypy_status" -ne 0 ]; then
  echo "mypy found type errors (above): that is a failure" >&2
fi
exit "$mypy_status"
