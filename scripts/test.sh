#!/usr/bin/env bash
# Runs the whole test suite: format, lint and type checks, the unit tests, and
# the integration tests against the local stack (started here when needed).
#
#   scripts/test.sh [extra deno test args…]
#
# Two tests need programs from Debian: the status page test a headless
# Chromium (package chromium), the alert rule tests promtool (package
# prometheus). When one is missing and this runs as root with apt-get, it
# installs it (apt-get update, then apt-get install); otherwise it says what to
# install, and those tests are skipped (or fail under CI=true).
# PG2KAFKA_INSTALL_TEST_TOOLS=no never installs anything.
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

# Installs the Debian packages of the programs some tests need, when missing.
ensure_test_tools() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  ((${#missing[@]} == 0)) && return 0
  if [[ "${PG2KAFKA_INSTALL_TEST_TOOLS:-yes}" == "no" || "$(id -u)" != "0" ]] ||
    ! command -v apt-get >/dev/null 2>&1; then
    echo "== test tools: missing Debian package(s) ${missing[*]} (apt-get install ${missing[*]});" \
      "the tests that need them are skipped, or fail under CI=true"
    return 0
  fi
  echo "== test tools: installing the Debian package(s) ${missing[*]} with apt-get" \
    "(chromium: the status page test; prometheus: promtool for the alert rules)"
  apt-get update -qq
  # Recommends stay out: prometheus recommends exporters that would run as services.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests need promtool only: stop the server the package may have started.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
    systemctl is-active --quiet prometheus 2>/dev/null; then
    echo "== test tools: stopping and disabling the Prometheus server the package started"
    systemctl disable --now prometheus
  fi
}
ensure_test_tools

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
