#!/usr/bin/env bash
# Rebuilds the reading viewer (components/viewer) from its source and lock file with this
# machine's Node and npm (Debian's packages; installed if absent) and fails when the
# committed build (components/viewer/dist) differs: nobody ships a stale bundle.
# The build is deterministic (components/viewer/build.mjs): the same lock, the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=components/viewer

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The source alone: package files, build script, src/ (no node_modules, no dist).
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/build.mjs" "$SRC/tsconfig.json" "$work/"
cp -r "$SRC/src" "$work/src"
(
  cd "$work"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  npx --no-install tsc --noEmit
  npm run --silent build
)
if ! diff -r -q "$work/dist" "$SRC/dist"; then
  echo "components/viewer/dist differs from a fresh build of components/viewer/src:" >&2
  echo "run 'npm ci && npm run build' in components/viewer and commit dist/" >&2
  exit 1
fi
echo "viewer build: components/viewer/dist matches its source (node $(node --version))"
