-- The changes the Debezium fixture records. Run by scripts/debezium/record_fixture.ts
-- after Debezium's connectors stream and the capture slot exists; each statement
-- outside BEGIN/COMMIT is a transaction of its own.
INSERT INTO dbz_types (
  id, c_int2, c_int4, c_int8, c_oid, c_float4, c_float8, c_numeric, c_numeric_ps, c_money,
  c_bool, c_text, c_varchar, c_bpchar, c_name, c_char, c_uuid, c_json, c_jsonb, c_xml, c_bytea,
  c_date, c_time, c_time3, c_timetz, c_timestamp, c_timestamp3, c_timestamptz, c_interval,
  c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit1, c_bit, c_varbit, c_tsvector, c_int4range,
  c_point, c_mood, c_positive, c_int4_array, c_int4_matrix, c_text_array, c_jsonb_array,
  c_timestamptz_array, c_numeric_array, c_float8_array, c_date_array, c_bool_array,
  c_toast, c_toast_bytea
) VALUES (
  1, 1, 2, 3, 4, 1.5, 2.25, 3.14159, 1234.5, 1234.56,
  true, 'text', 'varchar', 'ab', 'a_name', 'x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": [1, 2, {"b": null}]}', '{"z": 1, "a": "x"}', '<a>x</a>', '\x00ff10',
  '2024-02-29', '12:34:56.123456', '12:34:56.789', '12:00:00+05:30', '2024-02-29 23:59:59.5',
  '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.000001+02', '1 year 2 mons 3 days 04:05:06.5',
  '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'1',
  B'1010000001', B'110', 'a fat cat', '[1,10)', '(1.5,2.5)', 'happy', 7, '{1,2,3}',
  '{{1,2},{3,4}}', '{a,b}', ARRAY['{"k": "v"}'::jsonb, '[1, 2]'::jsonb],
  '{"2024-01-01 00:00:00+00",NULL}', '{1.5,-2}', '{1.25,-0.5}', '{2024-01-01,2000-02-29}',
  '{t,f}', repeat('toast!', 400), decode(repeat('00ff', 1200), 'hex')
);
INSERT INTO dbz_types (id) VALUES (2);
INSERT INTO dbz_types (
  id, c_int2, c_int4, c_int8, c_oid, c_float4, c_float8, c_numeric, c_numeric_ps, c_money,
  c_bool, c_text, c_varchar, c_bpchar, c_name, c_char, c_uuid, c_json, c_jsonb, c_xml, c_bytea,
  c_date, c_time, c_time3, c_timetz, c_timestamp, c_timestamp3, c_timestamptz, c_interval,
  c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit1, c_bit, c_varbit, c_tsvector, c_int4range,
  c_point, c_mood, c_positive, c_int4_array, c_int4_matrix, c_text_array, c_jsonb_array,
  c_timestamptz_array, c_numeric_array, c_float8_array, c_date_array, c_bool_array
) VALUES (
  3, -32768, 2147483647, 9223372036854775807, 4294967295, 'NaN', '-Infinity', 'NaN',
  -999999999.999, -0.01, false, '', 'héllo ✓ 🐘 "q" \ b', ' ', 'ünïcode_名前', '\',
  '00000000-0000-0000-0000-000000000000', 'null', '"s"', '', '\x', 'infinity', '24:00:00',
  '00:00:00', '23:59:59.999999-11:30', '-infinity', 'infinity', 'infinity',
  '-1 year 2 mons -3 days 04:05:06.789', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff',
  '00:00:00:00:00:00:00:00', B'0', B'0000000001', B'', '', 'empty', '(-0.5,10000000000)',
  'ünïcode', 2147483647, '{}', '{{1,NULL},{NULL,4}}',
  '{"a,b","c\"d","NULL",NULL," sp ","{x}",""}', '{}', '{"-infinity","2024-06-01 12:00:00.5+03"}',
  '{NaN,-1.5}', '{NaN,Infinity,-Infinity}', '{infinity,-infinity,0044-03-15 BC}', '{NULL}'
);
INSERT INTO dbz_types (
  id, c_int8, c_float4, c_float8, c_numeric, c_numeric_ps, c_money, c_json, c_jsonb, c_bytea,
  c_date, c_time, c_time3, c_timetz, c_timestamp, c_timestamp3, c_timestamptz, c_interval,
  c_bit, c_varbit, c_point, c_jsonb_array, c_int4_matrix, c_numeric_array
) VALUES (
  4, -9223372036854775808, 'Infinity', 'NaN',
  123456789012345678901234567890.123456789012345678901234567890, 0.001, 92233720368547758.07,
  '[]', 'null', '\x7f', '0044-03-15 BC', '23:59:59.999999', '23:59:59.999', '00:00:00+00',
  '0001-01-01 00:00:00 BC', '2024-02-29 23:59:59.999', '-infinity', '-00:00:00.000001',
  B'1111111111', B'10101010101', '(0,0)', ARRAY['null'::jsonb, '"x"'::jsonb], '{{{1}}}',
  '{123456789012345678901234567890.5}'
);
INSERT INTO dbz_types (
  id, c_float4, c_float8, c_numeric, c_money, c_date, c_timetz, c_timestamp, c_timestamptz,
  c_interval, c_jsonb, c_text
) VALUES (
  5, 3.4e38, 1e-300, '-Infinity', 0, '1970-01-01', '12:00:00-00:30',
  '1970-01-01 00:00:00.000001', '1900-06-15 03:04:05.06+01:30', '1 mon',
  '{"big": 12345678901234567890, "f": 1.50}', E'line\nbreak\ttab'
);
INSERT INTO dbz_types (id, c_numeric, c_date, c_timestamptz, c_interval, c_timestamp)
VALUES (6, -0.000000000000000000001, '-infinity', '0044-03-15 12:00:00+00 BC', '1 year',
  '1969-12-31 23:59:59.999999');
-- Scales and fractions: trailing zeros, 60 significant digits, zero values.
INSERT INTO dbz_types (id, c_numeric, c_numeric_array, c_interval, c_timetz, c_time, c_bit)
VALUES (7, 1.50, '{1.50,100,0.0}', '0', '12:00:00.5+00', '00:00:00.5', B'0000000000');
INSERT INTO dbz_types (id, c_numeric, c_interval, c_money) VALUES (8, 100, '00:00:00.5', 1000);
INSERT INTO dbz_types (id, c_numeric)
VALUES (9, 1234567890123456789012345678901234567890.12345678901234567891);
-- An update that leaves the TOASTed columns out of the new row.
UPDATE dbz_types SET c_int4 = 20 WHERE id = 1;
-- Two changes in one transaction.
BEGIN;
INSERT INTO dbz_keys VALUES (9223372036854775807, 12.5, '2024-02-29 12:00:00', 'first');
UPDATE dbz_types SET c_text = 'changed' WHERE id = 3;
COMMIT;
DELETE FROM dbz_types WHERE id = 2;
DELETE FROM dbz_keys;
DELETE FROM dbz_types WHERE id = 1;
TRUNCATE dbz_types;
