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
# Each job has a stack of its own under .stack-matrix/<job>, on ports of its
# own: PostgreSQL on PG2KAFKA_MATRIX_PG_PORT + 0…5 (pg-17's standby on the
# port after its own), Kafka on PG2KAFKA_MATRIX_KAFKA_PORT + 0…9 (a broker and
# its controller per job). PG2KAFKA_MATRIX_PARALLEL jobs (default 2) run at a
# time, each printing its output when it ends; every job takes down its stack.
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
PARALLEL="${PG2KAFKA_MATRIX_PARALLEL:-2}"
ALL_JOBS=(kafka-3.9 pg-16 pg-17 pg-18 demo)

# Each job's offset from the base ports.
declare -A PG_PORT_OFFSET=([kafka-3.9]=0 [pg-16]=1 [pg-17]=2 [pg-18]=4 [demo]=5)
declare -A KAFKA_PORT_OFFSET=([kafka-3.9]=0 [pg-16]=2 [pg-17]=4 [pg-18]=6 [demo]=8)

# A job's stack: its folder, its ports, its versions ("" = the default).
use_stack() { # job, PostgreSQL version, Kafka version
  local pg_port=$((PG_PORT + PG_PORT_OFFSET[$1])) kafka_port=$((KAFKA_PORT + KAFKA_PORT_OFFSET[$1]))
  export PG2KAFKA_STACK_DIR="$MATRIX_DIR/$1"
  export PG2KAFKA_PG_VERSION="$2" PG2KAFKA_KAFKA_VERSION="$3"
  export PG2KAFKA_PG_PORT="$pg_port" PG2KAFKA_PG_STANDBY_PORT="$((pg_port + 1))"
  export PG2KAFKA_KAFKA_PORT="$kafka_port" PG2KAFKA_KAFKA_CONTROLLER_PORT="$((kafka_port + 1))"
  [[ -n "$3" ]] || unset PG2KAFKA_KAFKA_VERSION
}

run_subset() { # job, deno test args…
  local job="$1"; shift
  trap 'bash scripts/stack.sh standby-down >/dev/null 2>&1 || true; bash scripts/stack.sh down' EXIT
  bash scripts/stack.sh up
  eval "$(bash scripts/stack.sh env)"
  echo "== matrix $job: $(bash scripts/stack.sh versions | paste -sd ';' | sed 's/;/; /g')"
  "$DENO" test --allow-all "$@"
}

job_command() { # job → runs it
  case "$1" in
    kafka-3.9) use_stack "$1" "" "$OLDEST_KAFKA"; run_subset "$1" "${SUBSET[@]}" ;;
    pg-16) use_stack "$1" 16 ""; run_subset "$1" "${SUBSET[@]}" ;;
    pg-17)
      use_stack "$1" 17 ""
      export PG2KAFKA_TEST_FAILOVER=1
      run_subset "$1" "${SUBSET[@]}" tests/integration/failover_test.ts
      ;;
    pg-18) use_stack "$1" 18 ""; run_subset "$1" "${SUBSET[@]}" ;;
    # The demo test brings up the stack and takes it down itself; it starts from nothing.
    demo)
      use_stack "$1" "" ""
      bash scripts/stack.sh clean
      PG2KAFKA_TEST_DEMO=1 "$DENO" test --allow-all tests/integration/demo_test.ts
      ;;
  esac
}

# Runs a job in a subshell of its own (its exports and trap end with it),
# stopping at its first failure, its output into its log; records its status.
run_job() { # job
  local job="$1" started=$SECONDS status=0
  mkdir -p "$MATRIX_DIR"
  set +e
  (set -e; job_command "$job") >"$MATRIX_DIR/$job.log" 2>&1
  status=$?
  set -e
  echo "$status $((SECONDS - started))" >"$MATRIX_DIR/$job.status"
}

report_job() { # job
  local status seconds
  read -r status seconds <"$MATRIX_DIR/$1.status"
  echo "== matrix job $1"
  cat "$MATRIX_DIR/$1.log"
  echo "== matrix job $1: $([[ $status == 0 ]] && echo passed || echo "FAILED ($status)") in ${seconds}s"
  [[ $status == 0 ]]
}

jobs=("$@")
[[ ${#jobs[@]} -gt 0 ]] || jobs=("${ALL_JOBS[@]}")
for job in "${jobs[@]}"; do
  [[ -n "${PG_PORT_OFFSET[$job]:-}" ]] || { echo "test_matrix: unknown job '$job' (jobs: ${ALL_JOBS[*]})" >&2; exit 2; }
  rm -f "$MATRIX_DIR/$job.status"
done

started=$SECONDS
running=()
failed=()
for job in "${jobs[@]}"; do
  while ((${#running[@]} >= PARALLEL)); do
    wait -n || true
    still=()
    for other in "${running[@]}"; do
      if [[ -f "$MATRIX_DIR/$other.status" ]]; then report_job "$other" || failed+=("$other"); else still+=("$other"); fi
    done
    running=("${still[@]}")
  done
  echo "== matrix: starting $job"
  run_job "$job" &
  running+=("$job")
done
wait
for job in "${running[@]}"; do report_job "$job" || failed+=("$job"); done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "matrix: failed: ${failed[*]} ($((SECONDS - started))s)"
  exit 1
fi
echo "matrix: ${#jobs[@]} job(s) passed in $((SECONDS - started))s"
