#!/usr/bin/env bash
# The local stack for development, the demo and the integration tests: a
# throwaway PostgreSQL cluster with wal_level=logical and a single-node Apache
# Kafka broker in KRaft mode, both on loopback, data and logs under .stack/.
#
#   scripts/stack.sh up | down | status | env
#   scripts/stack.sh pg-start | pg-stop | pg-restart | kafka-start | kafka-stop
#   scripts/stack.sh psql [args…]
#
# Idempotent: `up` on a running stack only checks it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${PG2KAFKA_STACK_DIR:-$REPO_ROOT/.stack}"
CACHE_DIR="${PG2KAFKA_CACHE_DIR:-$REPO_ROOT/.cache}"

# Whether every existing folder on the way to $1 lets other users through.
others_can_reach() {
  local dir="$1" mode
  while [[ "$dir" != "/" ]]; do
    if [[ -e "$dir" ]]; then
      mode="$(stat -c %a "$dir")"
      (((8#$mode & 1) == 1)) || return 1
    fi
    dir="$(dirname "$dir")"
  done
}

# PostgreSQL runs as an unprivileged user, who must reach the cluster's files.
# A clone inside a private home (such as /root) is out of its reach, so the
# cluster then lives in a folder of its own under /tmp, named after the stack.
PG_DIR="$STACK_DIR/pg"
if [[ "$(id -u)" == "0" ]] && ! others_can_reach "$STACK_DIR"; then
  PG_DIR="/tmp/pg2kafka-pg-$(printf '%s' "$STACK_DIR" | md5sum | cut -c1-12)"
fi
PG_PORT="${PG2KAFKA_PG_PORT:-54329}"
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
PG_DATABASE="app"
PG_APP_USER="pg2kafka"
PG_APP_PASSWORD="${PG2KAFKA_PG_PASSWORD:-pg2kafka-local}"
PG_OS_USER_FALLBACK="pg2kafka"
PG_TLS_DIR="$PG_DIR/tls"
PG_CA_FILE="$PG_TLS_DIR/ca.crt"
PG_TLS_DAYS=3650
PG_TLS_MARKER="# pg2kafka local stack: TLS"
PG_SIZING_MARKER="# pg2kafka local stack: sizing"
# Slots and walsenders for the many-sources benchmark (100 sources) and the tests beside it.
PG_MAX_WAL_SENDERS=130
PG_MAX_CONNECTIONS=300

KAFKA_VERSION_POM="$REPO_ROOT/scripts/kafka/pom.xml"
KAFKA_PORT="${PG2KAFKA_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${PG2KAFKA_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_LIBS="$CACHE_DIR/kafka/libs"
KAFKA_DIR="$STACK_DIR/kafka"
KAFKA_LOG="$KAFKA_DIR/broker.log"
KAFKA_PID="$KAFKA_DIR/broker.pid"
KAFKA_HEAP="${PG2KAFKA_KAFKA_HEAP:-512m}"
KAFKA_READY_TIMEOUT_S=90
KAFKA_PROBE_TIMEOUT_S=3

say() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

require() { # command, Debian package that provides it
  command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: install the Debian package '$2' (apt-get install $2)"
}

# --- PostgreSQL -------------------------------------------------------------

pg_bin_dir() {
  local initdb_path
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }
  done
  initdb_path="$(command -v initdb || true)"
  [[ -n "$initdb_path" ]] && { dirname "$(readlink -f "$initdb_path")"; return; }
  die "PostgreSQL server binaries are missing: install the Debian package 'postgresql' (apt-get install postgresql)"
}

# initdb refuses to run as root, so the cluster belongs to an unprivileged user.
pg_os_user() {
  if [[ "$(id -u)" != "0" ]]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id "$PG_OS_USER_FALLBACK" >/dev/null 2>&1 || useradd --system --no-create-home "$PG_OS_USER_FALLBACK"
  echo "$PG_OS_USER_FALLBACK"
}

as_pg_user() { # command…
  local user; user="$(pg_os_user)"
  if [[ "$(id -un)" == "$user" ]]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

pg_ctl_() { as_pg_user "$(pg_bin_dir)/pg_ctl" -D "$PG_DATA" "$@"; }

pg_running() { [[ -f "$PG_DATA/postmaster.pid" ]] && pg_ctl_ status >/dev/null 2>&1; }

pg_init() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return
  say "initialising a PostgreSQL cluster in $PG_DATA"
  mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
  chown -R "$(pg_os_user)" "$PG_DIR"
  chmod 700 "$PG_DATA"
  as_pg_user "$(pg_bin_dir)/initdb" -D "$PG_DATA" --auth-local=trust --auth-host=scram-sha-256 \
    --username=postgres --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
    die "initdb failed, see $PG_DIR/initdb.log"
  cat >>"$PG_DATA/postgresql.conf" <<CONF
# pg2kafka local stack
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
wal_level = logical
wal_sender_timeout = 60s
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
log_min_messages = warning
CONF
  # Replication connections need their own pg_hba line; TCP stays password-protected.
  echo "host replication all 127.0.0.1/32 scram-sha-256" >>"$PG_DATA/pg_hba.conf"
}

# A self-signed CA and a server certificate for 127.0.0.1 and localhost, so
# tests can connect with sslmode require and verify-full. Clusters made before
# TLS was added get it here too: `up` on a running one reloads its config.
pg_tls() {
  if [[ ! -f "$PG_TLS_DIR/server.crt" ]]; then
    require openssl openssl
    say "generating a self-signed CA and server certificate in $PG_TLS_DIR"
    mkdir -p "$PG_TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days "$PG_TLS_DAYS" -subj "/CN=pg2kafka local stack CA" \
      -keyout "$PG_TLS_DIR/ca.key" -out "$PG_CA_FILE" >/dev/null 2>&1 || die "openssl could not create the CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$PG_TLS_DIR/server.key" -out "$PG_TLS_DIR/server.csr" >/dev/null 2>&1 ||
      die "openssl could not create the server key"
    printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\n' >"$PG_TLS_DIR/server.ext"
    openssl x509 -req -in "$PG_TLS_DIR/server.csr" -CA "$PG_CA_FILE" -CAkey "$PG_TLS_DIR/ca.key" \
      -CAcreateserial -days "$PG_TLS_DAYS" -extfile "$PG_TLS_DIR/server.ext" \
      -out "$PG_TLS_DIR/server.crt" >/dev/null 2>&1 || die "openssl could not sign the server certificate"
    # PostgreSQL refuses a key others can read; the CA certificate stays readable for clients.
    chown -R "$(pg_os_user)" "$PG_TLS_DIR"
    chmod 600 "$PG_TLS_DIR/server.key" "$PG_TLS_DIR/ca.key"
    chmod 644 "$PG_CA_FILE" "$PG_TLS_DIR/server.crt"
  fi
  grep -qxF "$PG_TLS_MARKER" "$PG_DATA/postgresql.conf" && return
  # The `host` lines of pg_hba.conf match TLS and plain TCP alike: both keep working.
  cat >>"$PG_DATA/postgresql.conf" <<CONF
$PG_TLS_MARKER
ssl = on
ssl_cert_file = '$PG_TLS_DIR/server.crt'
ssl_key_file = '$PG_TLS_DIR/server.key'
CONF
  if pg_running; then say "enabling TLS on the running PostgreSQL"; pg_ctl_ reload >/dev/null; fi
}

# Room for the many-sources benchmark: 100 sources, one slot and walsender
# each, beside the tests' own. Clusters made with the old sizes get these
# lines too; they take effect at the next start (`scripts/stack.sh pg-restart`).
pg_sizing() {
  grep -qxF "$PG_SIZING_MARKER" "$PG_DATA/postgresql.conf" && return
  cat >>"$PG_DATA/postgresql.conf" <<CONF
$PG_SIZING_MARKER
max_wal_senders = $PG_MAX_WAL_SENDERS
max_replication_slots = $PG_MAX_WAL_SENDERS
max_connections = $PG_MAX_CONNECTIONS
CONF
  if pg_running; then say "raised slot and connection limits: run pg-restart to apply them"; fi
}

pg_start() {
  pg_init
  pg_tls
  pg_sizing
  if pg_running; then return; fi
  say "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  pg_ctl_ -l "$PG_LOG" -w -t 60 start >/dev/null || die "PostgreSQL did not start, see $PG_LOG"
  pg_bootstrap_roles
}

pg_bootstrap_roles() {
  psql_admin -d postgres -v ON_ERROR_STOP=1 -q <<SQL >/dev/null
SELECT format('CREATE ROLE %I LOGIN REPLICATION CREATEDB PASSWORD %L', '$PG_APP_USER', '$PG_APP_PASSWORD')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_APP_USER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DATABASE', '$PG_APP_USER')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
GRANT pg_read_all_stats TO $PG_APP_USER;
SQL
}

pg_stop() {
  if pg_running; then say "stopping PostgreSQL"; pg_ctl_ -m fast -w stop >/dev/null; fi
}

psql_admin() { as_pg_user "$(pg_bin_dir)/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"; }

# --- Kafka ------------------------------------------------------------------

kafka_fetch() {
  [[ -f "$KAFKA_LIBS/.complete" ]] && return
  require java default-jre-headless
  require mvn maven
  say "fetching the Kafka broker jars with Maven into $KAFKA_LIBS (first run only)"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$KAFKA_VERSION_POM" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >"$CACHE_DIR/kafka/mvn.log" 2>&1 ||
    die "mvn could not fetch the Kafka jars, see $CACHE_DIR/kafka/mvn.log"
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() { # main class, args…
  exec_java_args=(-Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -Dkafka.logs.dir="$KAFKA_DIR"
    -cp "$KAFKA_LIBS/*")
  java "${exec_java_args[@]}" "$@"
}

kafka_configure() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat >"$KAFKA_DIR/log4j.properties" <<'PROPS'
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
PROPS
}

kafka_running() { [[ -f "$KAFKA_PID" ]] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; }

kafka_start() {
  kafka_fetch
  if kafka_running; then return; fi
  kafka_configure
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    say "formatting Kafka storage in $KAFKA_DIR/data"
    kafka_java kafka.tools.StorageTool format --standalone -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
      kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
        -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
      die "formatting Kafka storage failed, see $KAFKA_DIR/format.log"
  fi
  say "starting Kafka on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
  kafka_java --version >/dev/null # fills exec_java_args
  nohup java "${exec_java_args[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_LOG" 2>&1 &
  echo $! >"$KAFKA_PID"
  kafka_wait_ready
}

kafka_wait_ready() {
  local deno started=$SECONDS
  deno="$(bash "$REPO_ROOT/scripts/ensure_deno.sh")"
  until "$deno" run --allow-net --allow-env --allow-read "$REPO_ROOT/scripts/wait_kafka.ts" \
    "127.0.0.1:$KAFKA_PORT" "$KAFKA_PROBE_TIMEOUT_S"; do
    kafka_running || die "Kafka exited during start-up, see $KAFKA_LOG and $KAFKA_DIR/server.log"
    ((SECONDS - started < KAFKA_READY_TIMEOUT_S)) ||
      die "Kafka did not answer a metadata request within ${KAFKA_READY_TIMEOUT_S}s, see $KAFKA_LOG"
  done
}

kafka_stop() {
  kafka_running || { rm -f "$KAFKA_PID"; return 0; }
  local pid; pid="$(cat "$KAFKA_PID")"
  say "stopping Kafka (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$KAFKA_PID"
}

# --- Commands ---------------------------------------------------------------

print_env() {
  cat <<ENV
export PG2KAFKA_PG_HOST=127.0.0.1
export PG2KAFKA_PG_PORT=$PG_PORT
export PG2KAFKA_PG_DATABASE=$PG_DATABASE
export PG2KAFKA_PG_USER=$PG_APP_USER
export PG2KAFKA_PG_PASSWORD=$PG_APP_PASSWORD
export PG2KAFKA_PG_SOCKET_DIR=$PG_SOCKET_DIR
export PG2KAFKA_PG_CA_FILE=$PG_CA_FILE
export PG2KAFKA_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
ENV
}

case "${1:-}" in
  up)
    mkdir -p "$STACK_DIR" "$CACHE_DIR/kafka"
    started=$SECONDS
    pg_start
    kafka_start
    say "ready in $((SECONDS - started))s: PostgreSQL 127.0.0.1:$PG_PORT (db $PG_DATABASE, user $PG_APP_USER), Kafka 127.0.0.1:$KAFKA_PORT"
    ;;
  down) kafka_stop; pg_stop ;;
  status)
    pg_running && echo "postgresql: running on 127.0.0.1:$PG_PORT" || echo "postgresql: stopped"
    kafka_running && echo "kafka: running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$KAFKA_PID"))" || echo "kafka: stopped"
    ;;
  env) print_env ;;
  pg-start) pg_start ;;
  pg-stop) pg_stop ;;
  pg-restart) pg_init; pg_tls; pg_ctl_ -l "$PG_LOG" -m fast -w restart >/dev/null ;;
  kafka-start) mkdir -p "$CACHE_DIR/kafka"; kafka_start ;;
  kafka-stop) kafka_stop ;;
  psql) shift; psql_admin -d "$PG_DATABASE" "$@" ;;
  *) echo "usage: $0 up|down|status|env|pg-start|pg-stop|pg-restart|kafka-start|kafka-stop|psql" >&2; exit 2 ;;
esac
