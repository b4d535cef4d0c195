#!/usr/bin/env bash
# The end-to-end demo: brings up the local stack, runs pg2kafka with
# config.example.toml, makes a few changes in PostgreSQL and prints the
# messages as they arrive in Kafka.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DENO="$(bash scripts/ensure_deno.sh)"
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"
LOG="$REPO_ROOT/.stack/demo-connector.log"

echo "== creating the demo tables public.customers and public.orders"
bash scripts/stack.sh psql -q -v ON_ERROR_STOP=1 <"$REPO_ROOT/scripts/demo_schema.sql"

echo "== starting pg2kafka (log: $LOG)"
"$DENO" run --v8-flags=--max-semi-space-size=8 --allow-all main.ts run --config config.example.toml >"$LOG" 2>&1 &
connector=$!
trap 'kill "$connector" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "streaming slot" "$LOG" && break
  kill -0 "$connector" 2>/dev/null || { cat "$LOG"; echo "pg2kafka exited early" >&2; exit 1; }
  sleep 0.3
done

run_id="$(date +%s)"
echo "== changing rows in PostgreSQL"
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

echo "== messages in Kafka (topics pg2kafka.public.customers and pg2kafka.public.orders)"
"$DENO" run --allow-all scripts/demo_consume.ts "$PG2KAFKA_KAFKA_BROKERS" 6 \
  pg2kafka.public.customers pg2kafka.public.orders

echo "== stopping pg2kafka (SIGTERM: drain, confirm, exit)"
kill -TERM "$connector"
wait "$connector" && echo "pg2kafka exited cleanly" || echo "pg2kafka exited with $?"
bash scripts/stack.sh psql -c \
  "SELECT slot_name, confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = 'pg2kafka_demo'"
echo "The stack keeps running: scripts/stack.sh down stops it."
