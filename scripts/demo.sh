#!/usr/bin/env bash
# The end-to-end demo: brings up the local stack, runs pg2kafka with
# config.example.toml, makes a few changes in PostgreSQL and prints the
# messages of exactly those changes from Kafka. Runs again and again: each run
# changes rows of its own and prints only their messages.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DENO="$(bash scripts/ensure_deno.sh)"
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"
LOG="${PG2KAFKA_STACK_DIR:-$REPO_ROOT/.stack}/demo-connector.log"
# One customer row, two orders inserted, both updated, the cheap one deleted.
EXPECTED_MESSAGES=6

echo "== creating the demo tables public.customers and public.orders"
bash scripts/stack.sh psql -q -v ON_ERROR_STOP=1 <"$REPO_ROOT/scripts/demo_schema.sql"

# config.example.toml as it is, but for where this stack listens (PG2KAFKA_PG_PORT and
# PG2KAFKA_KAFKA_PORT may move it) and an HTTP port of the system's choosing.
CONFIG="${PG2KAFKA_STACK_DIR:-$REPO_ROOT/.stack}/demo.toml"
sed -e "s/^port = 54329$/port = $PG2KAFKA_PG_PORT/" \
  -e "s/^brokers = \[\"127.0.0.1:19092\"\]$/brokers = [\"$PG2KAFKA_KAFKA_BROKERS\"]/" \
  -e 's/^listen = "127.0.0.1:9187"$/listen = "127.0.0.1:0"/' config.example.toml >"$CONFIG"

echo "== starting pg2kafka (log: $LOG)"
"$DENO" run --v8-flags=--max-semi-space-size=8 --allow-all main.ts run --config "$CONFIG" >"$LOG" 2>&1 &
connector=$!
trap 'kill "$connector" 2>/dev/null || true' EXIT
# A first run also compiles, snapshots and creates the slot: give it time on a slow machine.
STREAMING_TIMEOUT_S=120
started=$SECONDS
until grep -q "streaming slot" "$LOG"; do
  kill -0 "$connector" 2>/dev/null || { cat "$LOG"; echo "pg2kafka exited early" >&2; exit 1; }
  ((SECONDS - started < STREAMING_TIMEOUT_S)) ||
    { cat "$LOG"; echo "pg2kafka did not start streaming within ${STREAMING_TIMEOUT_S}s" >&2; exit 1; }
  sleep 0.3
done

run_id="$(date +%s)"
# Every message of this run's changes carries a source position from here on.
since_lsn="$(bash scripts/stack.sh psql -Atc 'SELECT pg_current_wal_lsn()')"
echo "== changing rows in PostgreSQL (customer $((run_id % 1000000)), from WAL position $since_lsn)"
bash scripts/stack.sh psql -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO customers VALUES ($run_id % 1000000, 'Ada Lovelace', 'ada@example.com')
  ON CONFLICT (id) DO UPDATE SET name = excluded.name;
BEGIN;
INSERT INTO orders (customer_id, status, amount) VALUES ($run_id % 1000000, 'new', 42.50);
INSERT INTO orders (customer_id, status, amount) VALUES ($run_id % 1000000, 'new', 9.99);
COMMIT;
UPDATE orders SET status = 'paid' WHERE customer_id = $run_id % 1000000 AND status = 'new';
DELETE FROM orders WHERE customer_id = $run_id % 1000000 AND amount < 10;
SQL

echo "== this run's messages in Kafka (topics pg2kafka.public.customers and pg2kafka.public.orders)"
"$DENO" run --allow-all scripts/demo_consume.ts "$PG2KAFKA_KAFKA_BROKERS" "$since_lsn" \
  "$EXPECTED_MESSAGES" pg2kafka.public.customers pg2kafka.public.orders

echo "== stopping pg2kafka (SIGTERM: drain, confirm, exit)"
kill -TERM "$connector"
wait "$connector" && echo "pg2kafka exited cleanly" || echo "pg2kafka exited with $?"
bash scripts/stack.sh psql -c \
  "SELECT slot_name, confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = 'pg2kafka_demo'"
echo "The stack keeps running: scripts/stack.sh down stops it."
