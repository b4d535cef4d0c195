#!/usr/bin/env bash
# Runs the whole test suite: format, lint and type checks, the unit tests, and
# the integration tests against the local stack (started here when needed).
#
#   scripts/test.sh [extra deno test args…]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DENO="$(bash scripts/ensure_deno.sh)"

echo "== checks: deno fmt --check, deno lint, deno check"
"$DENO" fmt --check
"$DENO" lint
"$DENO" check main.ts src/ tests/ scripts/

echo "== deno compile"
compile_status=0
bash scripts/compile.sh || compile_status=$?
case "$compile_status" in
  0) ./dist/pg2kafka --version ;;
  3) echo "compile: the binary step was skipped (see above), and with it the binary smoke test (tests/integration/binary_test.ts); every other step runs" ;;
  *) exit "$compile_status" ;;
esac

# Stop afterwards only what this run starts: a stack already up (the demo's,
# a developer's) stays up. The status is read whole first: `status | grep -q`
# under pipefail fails at random when grep stops reading early.
stack_status="$(bash scripts/stack.sh status)"
pg_was_running=false kafka_was_running=false
grep -q "^postgresql: running" <<<"$stack_status" && pg_was_running=true
grep -q "^kafka: running" <<<"$stack_status" && kafka_was_running=true
started=$SECONDS
bash scripts/stack.sh up
echo "== local stack ready in $((SECONDS - started))s"
eval "$(bash scripts/stack.sh env)"
bash scripts/stack.sh versions

stop_stack() {
  [[ "$kafka_was_running" == true ]] || bash scripts/stack.sh kafka-stop
  [[ "$pg_was_running" == true ]] || bash scripts/stack.sh pg-stop
}
trap stop_stack EXIT

echo "== deno test"
log="$(mktemp)"
status=0
"$DENO" test --allow-all "$@" tests/ 2>&1 | tee "$log" || status=$?
# One plain summary line, whatever deno's own formatting.
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1 || true)"
passed="$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")"
failed="$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")"
rm -f "$log"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
