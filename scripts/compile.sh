#!/usr/bin/env bash
# Builds the single pg2kafka binary into dist/pg2kafka with `deno compile`.
#
#   scripts/compile.sh [OUTPUT]      (deno task compile)
#
# Everything the binary needs is inside it: the modules of main.ts and, since
# deno.json sets nodeModulesDir "none", every npm package of deno.lock (the
# global npm cache is embedded as the binary's node_modules). pg2kafka loads no
# module dynamically and reads no file of its own at run time, so no --include
# is needed.
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

# Deno 2.9 overflows its stack while embedding the test data of bintrees (a
# dependency of prom-client: a 2 MB file of numbers), denoland/deno#36746.
# The binary never reads those files, so leave them out.
"$DENO" cache main.ts
npm_cache="$("$DENO" info --json | sed -n 's/^ *"npmCache": "\(.*\)",\{0,1\}$/\1/p')"
excludes=()
for dir in "$npm_cache"/registry.npmjs.org/bintrees/*/test; do
  [[ -d "$dir" ]] && excludes+=(--exclude "$dir")
done

# A skipped or failed build must not leave an older binary to be smoke-tested.
rm -f "$OUTPUT"
mkdir -p "$(dirname "$OUTPUT")"
log="$(mktemp)"
if "$DENO" compile --v8-flags=--max-semi-space-size=8 --allow-all "${excludes[@]}" --output "$OUTPUT" main.ts >"$log" 2>&1; then
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
