#!/usr/bin/env bash
# Regenerates tests/fixtures/debezium/fixture.json from the real Debezium
# PostgreSQL connector (see docs/debezium.md, "The fixture").
#
#   bash scripts/stack.sh up && eval "$(bash scripts/stack.sh env)"
#   bash scripts/debezium/record_fixture.sh
#
# Fetches Debezium and Kafka Connect (versions in scripts/debezium/pom.xml) with
# mvn into $PG2KAFKA_CACHE_DIR/debezium/libs, then runs record_fixture.ts, which
# starts Connect standalone (REST on $PG2KAFKA_CONNECT_REST_PORT, default 29205)
# against the local stack's PostgreSQL and Kafka.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${PG2KAFKA_CACHE_DIR:-$REPO_ROOT/.cache}"
POM="$REPO_ROOT/scripts/debezium/pom.xml"
LIBS="$CACHE_DIR/debezium/libs"

die() { echo "record_fixture: error: $*" >&2; exit 1; }
command -v mvn >/dev/null || die "'mvn' is missing: apt-get install maven"
command -v java >/dev/null || die "'java' is missing: apt-get install openjdk-17-jre-headless"
command -v psql >/dev/null || die "'psql' is missing: apt-get install postgresql-client"

pom_property() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$POM"; }
DEBEZIUM_VERSION="$(pom_property debezium.version)"
KAFKA_CONNECT_VERSION="$(pom_property kafka.version)"

if [[ ! -f "$LIBS/debezium-connector-postgres-$DEBEZIUM_VERSION.jar" ||
  ! -f "$LIBS/connect-runtime-$KAFKA_CONNECT_VERSION.jar" ]]; then
  echo "record_fixture: fetching Debezium $DEBEZIUM_VERSION and Kafka Connect $KAFKA_CONNECT_VERSION" >&2
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS" \
    -DincludeScope=runtime >"$CACHE_DIR/debezium/mvn.log" 2>&1 ||
    die "mvn could not fetch the jars, see $CACHE_DIR/debezium/mvn.log"
fi

DENO="$(bash "$REPO_ROOT/scripts/ensure_deno.sh")"
DEBEZIUM_LIBS="$LIBS" DEBEZIUM_VERSION="$DEBEZIUM_VERSION" \
  KAFKA_CONNECT_VERSION="$KAFKA_CONNECT_VERSION" \
  "$DENO" run --allow-all "$REPO_ROOT/scripts/debezium/record_fixture.ts"
"$DENO" fmt "$REPO_ROOT/tests/fixtures/debezium/fixture.json" >/dev/null 2>&1 || true
