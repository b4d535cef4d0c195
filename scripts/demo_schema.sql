-- The tables config.example.toml publishes, for the demo and `deno task dev`.
-- Idempotent: every run may apply it again (quietly).
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS customers (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE IF NOT EXISTS orders (
  id bigserial PRIMARY KEY,
  customer_id int REFERENCES customers (id),
  status text NOT NULL,
  amount numeric(12, 2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE customers OWNER TO pg2kafka;
ALTER TABLE orders OWNER TO pg2kafka;
