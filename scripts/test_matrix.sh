#!/usr/bin/env bash
# The version matrix, beside scripts/test.sh (the whole suite on the default
# pair: the pinned Kafka 4.x and the machine's PostgreSQL). Here the
# compatibility subset of the integration tests (end to end, delivery, WAL
# reader, snapshot) runs on the oldest supported Kafka and on PostgreSQL 16,
# 17 and 18; the failover test runs on PostgreSQL 17; the demo runs twice on a
# stack that starts empty. Each job prints the versions it ran.
#
#   scripts/test_matrix.sh [job…]     jobs: kafka-3.9 pg-16 pg-17 pg-18 demo (default: all)
#
# The jobs run one after another on their own stacks under .stack-matrix/, on
# ports of their own: PostgreSQL on PG2KAFKA_MATRIX_PG_PORT and the two after
# it (a standby, the demo), Kafka on PG2KAFKA_MATRIX_KAFKA_PORT and the five
# after it (three brokers and their controllers). Every job takes down what it
# started.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DENO="$(bash scripts/ensure_deno.sh)"

OLDEST_KAFKA="3.9.1"
SUBSET=(
  tests/integration/end_to_end_test.ts
  tests/integration/delivery_test.ts
  tests/integration/wal_reader_test.ts
  tests/integration/snapshot_test.ts
)
MATRIX_DIR="${PG2KAFKA_MATRIX_DIR:-$REPO_ROOT/.stack-matrix}"
PG_PORT="${PG2KAFKA_MATRIX_PG_PORT:-54339}"
KAFKA_PORT="${PG2KAFKA_MATRIX_KAFKA_PORT:-19192}"
ALL_JOBS=(kafka-3.9 pg-16 pg-17 pg-18 demo)

# Each stack folder's offset from the base ports.
declare -A PG_PORT_OFFSET=([kafka-3.9]=0 [postgresql]=0 [demo]=2)
declare -A KAFKA_PORT_OFFSET=([kafka-3.9]=0 [postgresql]=2 [demo]=4)

# A job's stack: its folder, its ports, its versions ("" = the default).
use_stack() { # folder name, PostgreSQL version, Kafka version
  local pg_port=$((PG_PORT + PG_PORT_OFFSET[$1])) kafka_port=$((KAFKA_PORT + KAFKA_PORT_OFFSET[$1]))
  export PG2KAFKA_STACK_DIR="$MATRIX_DIR/$1"
  export PG2KAFKA_PG_VERSION="$2" PG2KAFKA_KAFKA_VERSION="$3"
  export PG2KAFKA_PG_PORT="$pg_port" PG2KAFKA_PG_STANDBY_PORT="$((pg_port + 1))"
  export PG2KAFKA_KAFKA_PORT="$kafka_port" PG2KAFKA_KAFKA_CONTROLLER_PORT="$((kafka_port + 1))"
  [[ -n "$3" ]] || unset PG2KAFKA_KAFKA_VERSION
}

report_versions() { # job
  echo "== matrix $1: $(bash scripts/stack.sh versions | paste -sd ';' | sed 's/;/; /g')"
}

run_subset() { # job, deno test args…
  local job="$1"; shift
  bash scripts/stack.sh up
  eval "$(bash scripts/stack.sh env)"
  report_versions "$job"
  "$DENO" test --allow-all "$@"
}

# Kafka 3.9 on the machine's PostgreSQL.
job_kafka_3_9() {
  use_stack kafka-3.9 "" "$OLDEST_KAFKA"
  trap 'bash scripts/stack.sh down' EXIT
  run_subset kafka-3.9 "${SUBSET[@]}"
}

# PostgreSQL 16, 17, 18 share one stack folder and its Kafka broker (the
# default version, stopped at the end); each cluster has a folder of its own
# and stops after its job.
job_pg() { # major version, extra test files…
  local major="$1"; shift
  use_stack postgresql "$major" ""
  trap 'bash scripts/stack.sh standby-down; bash scripts/stack.sh pg-stop' EXIT
  run_subset "pg-$major" "${SUBSET[@]}" "$@"
}

job_pg_17_failover() {
  export PG2KAFKA_TEST_FAILOVER=1
  job_pg 17 tests/integration/failover_test.ts
}

# The demo test brings up the stack and takes it down itself; it starts from nothing.
job_demo() {
  use_stack demo "" ""
  bash scripts/stack.sh clean
  PG2KAFKA_TEST_DEMO=1 "$DENO" test --allow-all tests/integration/demo_test.ts
}

run_job() { # job
  local started=$SECONDS status=0 command
  case "$1" in
    kafka-3.9) command=(job_kafka_3_9) ;;
    pg-16) command=(job_pg 16) ;;
    pg-17) command=(job_pg_17_failover) ;;
    pg-18) command=(job_pg 18) ;;
    demo) command=(job_demo) ;;
    *) echo "test_matrix: unknown job '$1' (jobs: ${ALL_JOBS[*]})" >&2; return 2 ;;
  esac
  echo "== matrix job $1"
  # A subshell of its own (its exports and trap end with it), stopping at its first failure:
  # errexit would be off inside a subshell tested with || or &&.
  set +e
  (set -e; "${command[@]}")
  status=$?
  set -e
  echo "== matrix job $1: $([[ $status == 0 ]] && echo passed || echo "FAILED ($status)") in $((SECONDS - started))s"
  return "$status"
}

take_down() {
  for folder in kafka-3.9 postgresql demo; do
    [[ -d "$MATRIX_DIR/$folder" ]] || continue
    (use_stack "$folder" "" "" && bash scripts/stack.sh down >/dev/null 2>&1) || true
  done
}
trap take_down EXIT

jobs=("$@")
[[ ${#jobs[@]} -gt 0 ]] || jobs=("${ALL_JOBS[@]}")
failed=()
for job in "${jobs[@]}"; do
  run_job "$job" || failed+=("$job")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "matrix: failed: ${failed[*]}"
  exit 1
fi
echo "matrix: ${#jobs[@]} job(s) passed"
