#!/usr/bin/env bash
# Builds the single pg2kafka binary into dist/pg2kafka with `deno compile`.
#
# deno compile needs the Deno runtime for the target (denort). It downloads it
# unless DENORT_BIN names a local copy. Where neither works (a machine without
# internet access), this script says so on one line and exits 3, so CI can
# skip the step without hiding any other failure.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DENO="$(bash scripts/ensure_deno.sh)"
OUTPUT="${1:-dist/pg2kafka}"
EXIT_RUNTIME_UNAVAILABLE=3

mkdir -p "$(dirname "$OUTPUT")"
log="$(mktemp)"
if "$DENO" compile --allow-all --output "$OUTPUT" main.ts >"$log" 2>&1; then
  rm -f "$log"
  echo "compile: built $OUTPUT ($(du -h "$OUTPUT" | cut -f1))"
  exit 0
fi
if [[ -z "${DENORT_BIN:-}" ]] && grep -qE "error sending request|dns error" "$log"; then
  cause="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 -oE 'error sending request for url \([^)]*\)')"
  echo "compile: skipped: deno compile needs the Deno runtime (denort), which cannot be downloaded here ($cause); set DENORT_BIN to a local denort to build"
  rm -f "$log"
  exit "$EXIT_RUNTIME_UNAVAILABLE"
fi
cat "$log" >&2
rm -f "$log"
exit 1
