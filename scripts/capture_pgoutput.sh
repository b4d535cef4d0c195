#!/usr/bin/env bash
# Captures real pgoutput (protocol version 1) messages from a throwaway PostgreSQL
# cluster and writes them as hex to tests/fixtures/pgoutput/captured.json.
#
# Each scenario runs some SQL, then drains the slot with
# pg_logical_slot_get_binary_changes (the consuming twin of ..._peek_...), so every
# scenario holds exactly its own messages, starting with the Relation messages of a
# fresh decoding session.
#
# Usage: bash scripts/capture_pgoutput.sh   (as root: runs the server as user "pgcap")
# Needs the PostgreSQL binaries (initdb, pg_ctl, psql) on PATH. Port 55499, socket
# and data under /tmp/pgcap; the cluster is stopped and removed at exit.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_FILE="$REPO_ROOT/tests/fixtures/pgoutput/captured.json"
PG_USER="pgcap"
PG_PORT="55499"
BASE_DIR="/tmp/pgcap"
DATA_DIR="$BASE_DIR/data"
SLOT="capture_slot"
PUBLICATION="capture_pub"

as_pg_user() {
  if [[ "$(id -u)" == "0" ]]; then su "$PG_USER" -c "$*"; else bash -c "$*"; fi
}

if [[ "$(id -u)" == "0" ]] && ! id "$PG_USER" >/dev/null 2>&1; then
  useradd -m "$PG_USER"
fi
DB_USER="$([[ "$(id -u)" == "0" ]] && echo "$PG_USER" || id -un)"

stop_cluster() {
  as_pg_user "pg_ctl -D $DATA_DIR -m fast stop" >/dev/null 2>&1 || true
  rm -rf "$BASE_DIR"
}
trap stop_cluster EXIT

rm -rf "$BASE_DIR"
mkdir -p "$BASE_DIR"
[[ "$(id -u)" == "0" ]] && chown "$PG_USER" "$BASE_DIR"
as_pg_user "initdb --auth=trust --encoding=UTF8 --locale=C.UTF-8 -D $DATA_DIR" >/dev/null
as_pg_user "pg_ctl -D $DATA_DIR -l $BASE_DIR/server.log -w start \
  -o \"-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$BASE_DIR \
  -c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4\"" >/dev/null

# psql against the capture cluster; extra arguments are passed through.
run_sql() {
  PGTZ="${CAPTURE_TZ:-UTC}" psql -X -q -v ON_ERROR_STOP=1 -h "$BASE_DIR" -p "$PG_PORT" \
    -U "$DB_USER" -d postgres "$@"
}

run_sql >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);

CREATE TABLE all_types (
  id serial PRIMARY KEY,
  c_int2 int2, c_int4 int4, c_int8 int8, c_oid oid,
  c_float4 float4, c_float8 float8, c_numeric numeric,
  c_bool bool, c_text text, c_varchar varchar(20), c_bpchar char(5), c_name name,
  c_char "char", c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea,
  c_date date, c_time time, c_timetz timetz, c_timestamp timestamp,
  c_timestamptz timestamptz, c_interval interval,
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8, c_money money,
  c_xml xml, c_bit bit(4), c_varbit varbit, c_tsvector tsvector,
  c_mood mood, c_positive positive_int, c_pair pair, c_int4range int4range, c_point point,
  c_int4_array int4[], c_int4_matrix int4[][], c_text_array text[], c_bool_array bool[],
  c_numeric_array numeric[], c_timestamptz_array timestamptz[], c_jsonb_array jsonb[],
  c_bytea_array bytea[], c_box_array box[], c_mood_array mood[], c_float8_array float8[],
  c_date_array date[]
);
CREATE TABLE tz_values (id integer PRIMARY KEY, ts timestamptz, tt timetz);
CREATE TABLE rid_default (id integer PRIMARY KEY, name text);
CREATE TABLE rid_full (id integer, name text, note text);
ALTER TABLE rid_full REPLICA IDENTITY FULL;
CREATE TABLE rid_index (id integer PRIMARY KEY, code text NOT NULL UNIQUE, name text);
ALTER TABLE rid_index REPLICA IDENTITY USING INDEX rid_index_code_key;
CREATE TABLE toasted (id integer PRIMARY KEY, big text, counter integer);
CREATE TABLE toasted_full (id integer PRIMARY KEY, big text, counter integer);
ALTER TABLE toasted_full REPLICA IDENTITY FULL;
CREATE TABLE evolving (id integer PRIMARY KEY, a integer);
CREATE TABLE parent (id integer PRIMARY KEY);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id));
CREATE TABLE counted (id serial PRIMARY KEY, note text);
CREATE TABLE binary_values (id integer PRIMARY KEY, label text, flag bool, amount int8);
CREATE TABLE with_origin (id integer PRIMARY KEY);
CREATE TABLE flush_marker (id integer);

CREATE PUBLICATION capture_pub FOR TABLE all_types, tz_values, rid_default, rid_full, rid_index,
  toasted, toasted_full, evolving, parent, child, counted, binary_values, with_origin;
SELECT pg_create_logical_replication_slot('capture_slot', 'pgoutput');
SQL

FIRST_SCENARIO=1
mkdir -p "$(dirname "$OUT_FILE")"
{
  printf '{\n  "server_version": "%s",\n  "scenarios": {\n' \
    "$(run_sql -At -c 'SHOW server_version')"
} >"$OUT_FILE.tmp"

# capture NAME [EXTRA_OPTIONS]: runs the SQL on stdin, then appends the slot's messages.
capture() {
  local name="$1" extra_options="${2:-}"
  run_sql >/dev/null
  # A committed write flushes the WAL: a non-transactional logical message is not flushed
  # by itself and would otherwise land in the next scenario. flush_marker is not published.
  run_sql -c 'INSERT INTO flush_marker VALUES (1)' >/dev/null
  local changes
  changes="$(run_sql -At -c "
    SELECT coalesce(json_agg(json_build_object(
             'lsn', c.lsn::text, 'xid', c.xid::text, 'hex', encode(c.data, 'hex')
           ) ORDER BY c.n), '[]')
    FROM pg_logical_slot_get_binary_changes('$SLOT', NULL, NULL,
      'proto_version', '1', 'publication_names', '$PUBLICATION', 'messages', 'true'
      $extra_options) WITH ORDINALITY AS c(lsn, xid, data, n)")"
  if [[ "$FIRST_SCENARIO" == 1 ]]; then FIRST_SCENARIO=0; else printf ',\n' >>"$OUT_FILE.tmp"; fi
  printf '    "%s": %s' "$name" "$changes" >>"$OUT_FILE.tmp"
}

capture all_types <<'SQL'
INSERT INTO all_types (
  c_int2, c_int4, c_int8, c_oid, c_float4, c_float8, c_numeric, c_bool, c_text, c_varchar,
  c_bpchar, c_name, c_char, c_uuid, c_json, c_jsonb, c_bytea, c_date, c_time, c_timetz,
  c_timestamp, c_timestamptz, c_interval, c_inet, c_cidr, c_macaddr, c_macaddr8, c_money,
  c_xml, c_bit, c_varbit, c_tsvector, c_mood, c_positive, c_pair, c_int4range, c_point,
  c_int4_array, c_int4_matrix, c_text_array, c_bool_array, c_numeric_array,
  c_timestamptz_array, c_jsonb_array, c_bytea_array, c_box_array, c_mood_array,
  c_float8_array, c_date_array
) VALUES (
  -32768, 2147483647, 9223372036854775807, 4294967295, 1.5, 3.141592653589793,
  '123456789012345678901234567890.123456789', true, 'héllo, wörld 🐘', 'varchar',
  'ab', 'a_name', 'x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"b": 1, "a": [1, 2.5, "x"], "n": null}', '{"b": 1, "a": [1, 2.5, "x"], "n": null}',
  '\x00ff10', '2024-02-29', '13:45:10.5', '13:45:10.123456+05:30',
  '2024-02-29 13:45:10.123', '2024-02-29 13:45:10.123456+02', '1 year 2 mons 3 days 04:05:06.789',
  '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 1234.56,
  '<a>x</a>', B'1010', B'110', 'a fat cat', 'happy', 42, ROW(1, 'one'), '[1,10)', '(1.5,2)',
  '{1,2,NULL}', '{{1,2},{3,4}}', '{"a,b","c\"d",NULL,"NULL","",x y}', '{t,f}',
  '{1.5,NaN,123456789012345678901234567890}',
  '{"2024-01-01 00:00:00+00","2024-06-01 12:30:00+02"}',
  ARRAY['{"k": "v"}'::jsonb, '[1, 2]'::jsonb], ARRAY['\x0102'::bytea, '\x'::bytea],
  '{(1,1),(0,0);(3,3),(2,2)}', '{sad,happy}', '{1.25,-Infinity,NaN}', '[0:1]={2024-01-01,infinity}'
);
INSERT INTO all_types DEFAULT VALUES;
INSERT INTO all_types (c_float4, c_float8, c_numeric, c_date, c_timestamp, c_timestamptz,
  c_interval, c_time, c_text, c_text_array, c_int4_array, c_bytea, c_jsonb, c_int8, c_bool)
VALUES ('NaN', '-Infinity', 'NaN', '0044-03-15 BC', '-infinity', 'infinity',
  '-1 years -2 mons +3 days -04:05:06.5', '00:00:00', '', '{}', '{}', '', '"just a string"',
  -9223372036854775808, false);
INSERT INTO all_types (c_date, c_timestamp, c_timestamptz, c_interval, c_float8)
VALUES ('infinity', '0001-01-01 00:00:00 BC', '2000-01-01 00:00:00+00', '0', 'Infinity');
SQL

CAPTURE_TZ="America/St_Johns" capture timezone_offsets <<'SQL'
INSERT INTO tz_values VALUES
  (1, '2024-01-15 12:00:00+00', '12:00:00+00'),
  (2, '2024-07-15 12:00:00.5+00', '23:59:59.999999-11'),
  (3, '1850-01-01 00:00:00+00', '00:00:00+14'),
  (4, '-infinity', NULL);
SQL

capture replica_identity_default <<'SQL'
INSERT INTO rid_default VALUES (1, 'one');
UPDATE rid_default SET name = 'uno' WHERE id = 1;
UPDATE rid_default SET id = 2 WHERE id = 1;
DELETE FROM rid_default WHERE id = 2;
SQL

capture replica_identity_full <<'SQL'
INSERT INTO rid_full VALUES (1, 'one', NULL);
UPDATE rid_full SET note = 'changed' WHERE id = 1;
DELETE FROM rid_full WHERE id = 1;
SQL

capture replica_identity_index <<'SQL'
INSERT INTO rid_index VALUES (1, 'A-1', 'first');
UPDATE rid_index SET name = 'renamed' WHERE id = 1;
UPDATE rid_index SET code = 'A-2' WHERE id = 1;
DELETE FROM rid_index WHERE id = 1;
SQL

# 200 md5 digests: 6400 characters that pglz cannot compress, so they go out of line.
capture toast <<'SQL'
INSERT INTO toasted SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 200) AS i;
INSERT INTO toasted_full SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 200) AS i;
UPDATE toasted SET counter = counter + 1 WHERE id = 1;
UPDATE toasted_full SET counter = counter + 1 WHERE id = 1;
DELETE FROM toasted WHERE id = 1;
SQL

capture ddl_midstream <<'SQL'
INSERT INTO evolving VALUES (1, 10);
ALTER TABLE evolving ADD COLUMN b text DEFAULT 'x';
INSERT INTO evolving VALUES (2, 20, 'y');
ALTER TABLE evolving ALTER COLUMN a TYPE bigint;
INSERT INTO evolving VALUES (3, 30000000000, 'z');
SQL

capture truncate <<'SQL'
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 1);
INSERT INTO counted (note) VALUES ('a');
TRUNCATE child;
TRUNCATE parent CASCADE;
TRUNCATE counted RESTART IDENTITY;
TRUNCATE parent, counted RESTART IDENTITY CASCADE;
SQL

capture logical_messages <<'SQL'
BEGIN;
SELECT pg_logical_emit_message(true, 'app/audit', 'transactional text');
INSERT INTO counted (note) VALUES ('with message');
COMMIT;
SELECT pg_logical_emit_message(false, 'app/ping', '\x00ff7f'::bytea);
SQL

capture origin <<'SQL'
SELECT pg_replication_origin_create('upstream');
SELECT pg_replication_origin_session_setup('upstream');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-01 00:00:00+00');
INSERT INTO with_origin VALUES (1);
COMMIT;
SELECT pg_replication_origin_session_reset();
SQL

capture binary_values ", 'binary', 'true'" <<'SQL'
INSERT INTO binary_values VALUES (1, 'bin', true, 5000000000), (2, NULL, false, -1);
SQL

printf '\n  }\n}\n' >>"$OUT_FILE.tmp"
mv "$OUT_FILE.tmp" "$OUT_FILE"
echo "Wrote $OUT_FILE"
