-- The tables of the Debezium fixture: every type the fidelity tests use, the types
-- Debezium encodes in a way of its own, and a key of unusual types.
DROP TABLE IF EXISTS dbz_types, dbz_keys;
DROP TYPE IF EXISTS dbz_mood;
DROP DOMAIN IF EXISTS dbz_positive;
CREATE TYPE dbz_mood AS ENUM ('sad', 'happy', 'ünïcode');
CREATE DOMAIN dbz_positive AS int4 CHECK (VALUE > 0);
CREATE TABLE dbz_types (
  id int PRIMARY KEY,
  c_int2 int2, c_int4 int4, c_int8 int8, c_oid oid,
  c_float4 float4, c_float8 float8, c_numeric numeric, c_numeric_ps numeric(12, 3),
  c_money money,
  c_bool bool, c_text text, c_varchar varchar(20), c_bpchar char(5), c_name name, c_char "char",
  c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml, c_bytea bytea,
  c_date date, c_time time, c_time3 time(3), c_timetz timetz, c_timestamp timestamp,
  c_timestamp3 timestamp(3), c_timestamptz timestamptz, c_interval interval,
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8,
  c_bit1 bit(1), c_bit bit(10), c_varbit varbit,
  c_tsvector tsvector, c_int4range int4range, c_point point,
  c_mood dbz_mood, c_positive dbz_positive,
  c_int4_array int4[], c_int4_matrix int4[][], c_text_array text[], c_jsonb_array jsonb[],
  c_timestamptz_array timestamptz[], c_numeric_array numeric[], c_float8_array float8[],
  c_date_array date[], c_bool_array bool[],
  c_toast text, c_toast_bytea bytea
);
-- Out of line and uncompressed, so the large values are TOASTed.
ALTER TABLE dbz_types ALTER COLUMN c_toast SET STORAGE EXTERNAL;
ALTER TABLE dbz_types ALTER COLUMN c_toast_bytea SET STORAGE EXTERNAL;
CREATE TABLE dbz_keys (
  k_big int8, k_num numeric(10, 2), k_ts timestamp, v text,
  PRIMARY KEY (k_big, k_num, k_ts)
);
