#!/usr/bin/env bash
# Prints the path of a usable Deno 2 binary, installing the pinned version from
# the npm registry into .tools/ when none is on PATH. Sourced or executed.
set -euo pipefail

DENO_VERSION="2.9.6"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools/deno"
LOCAL_DENO="$TOOLS_DIR/node_modules/deno/deno"

is_deno2() { "$1" --version 2>/dev/null | head -1 | grep -q '^deno 2\.'; }

if [[ -x "$LOCAL_DENO" ]] && is_deno2 "$LOCAL_DENO"; then
  echo "$LOCAL_DENO"; exit 0
fi
if command -v deno >/dev/null 2>&1 && is_deno2 "$(command -v deno)"; then
  command -v deno; exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "pg2kafka: Deno 2 is not on PATH and npm is missing to install it (apt-get install npm)" >&2
  exit 1
fi
echo "pg2kafka: installing Deno $DENO_VERSION from the npm registry into .tools/deno" >&2
mkdir -p "$TOOLS_DIR"
npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >&2
if ! is_deno2 "$LOCAL_DENO"; then
  echo "pg2kafka: the Deno install in $TOOLS_DIR did not produce a working binary" >&2
  exit 1
fi
echo "$LOCAL_DENO"
