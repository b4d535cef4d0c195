#!/usr/bin/env bash
# `deno task dev`: runs pg2kafka from source against the local stack with no
# other step. Brings the stack up when it is down (and says so), creates the
# tables config.example.toml publishes, takes the stack's settings (the
# PostgreSQL password the config reads from PG2KAFKA_PG_PASSWORD) from
# `scripts/stack.sh env`, and runs until SIGINT/SIGTERM.
#
#   scripts/dev.sh [--config FILE] [other `pg2kafka run` options]
#
# The default config is config.example.toml, which expects the stack on its
# default ports; a stack moved with PG2KAFKA_PG_PORT or PG2KAFKA_KAFKA_PORT
# needs a config of its own (--config).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DEFAULT_CONFIG="config.example.toml"
DEFAULT_PG_PORT=54329
DEFAULT_KAFKA_PORT=19092

say() { echo "dev: $*" >&2; }

config_given=false
for arg in "$@"; do
  [[ "$arg" == "--config" || "$arg" == --config=* ]] && config_given=true
done

DENO="$(bash scripts/ensure_deno.sh)"
status="$(bash scripts/stack.sh status)"
if ! grep -q "postgresql: running" <<<"$status" || ! grep -q "kafka: running" <<<"$status"; then
  say "the local stack is not running; starting it (scripts/stack.sh up; scripts/stack.sh down stops it)"
fi
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"
bash scripts/stack.sh psql -q -v ON_ERROR_STOP=1 <"$REPO_ROOT/scripts/demo_schema.sql"

config_args=()
if [[ "$config_given" == false ]]; then
  if [[ "$PG2KAFKA_PG_PORT" != "$DEFAULT_PG_PORT" || "$PG2KAFKA_KAFKA_BROKERS" != *":$DEFAULT_KAFKA_PORT" ]]; then
    say "the stack listens on PostgreSQL port $PG2KAFKA_PG_PORT and Kafka $PG2KAFKA_KAFKA_BROKERS," \
      "but $DEFAULT_CONFIG expects $DEFAULT_PG_PORT and $DEFAULT_KAFKA_PORT: pass --config FILE"
    exit 2
  fi
  config_args=(--config "$DEFAULT_CONFIG")
fi
say "running pg2kafka from source against the local stack (Ctrl-C stops it cleanly)"
exec "$DENO" run --v8-flags=--max-semi-space-size=8 --allow-all main.ts run "${config_args[@]}" "$@"
