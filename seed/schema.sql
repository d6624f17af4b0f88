-- OptiDB demo seed: the schema of a small web shop.
--
-- Deliberate choices (see seed/README.md and seed/expected.toml):
--   * every table has a primary key;
--   * NO index on orders.customer_id, orders(status, created_at), order_items.order_id,
--     order_items.product_id, lower(users.email), customers.email (trigram), events.*:
--     the workload needs them and the advisor must find them;
--   * products_category_idx is a redundant prefix of products_category_price_idx and backs
--     no constraint: the workload only ever uses the composite;
--   * events has autovacuum disabled so its statistics stay stale after data.sql grows it;
--   * foreign keys are added at the end of data.sql, after the bulk load (as pg_dump does):
--     validating each one once is several times faster than checking 900,000 rows one by one.
--
-- Every table carries the comment 'optidb-seed': `optidb seed` only drops and re-creates
-- tables that carry it, and refuses to touch a database whose tables of the same names
-- were not created by the seed.
-- Loading is done by `optidb seed` / `optidb demo` (the files are embedded in the binary);
-- `psql -f schema.sql -f data.sql` into an empty database works too.

CREATE TABLE public.countries (
    code        char(2) PRIMARY KEY,
    name        text NOT NULL
);

CREATE TABLE public.customers (
    id          bigint PRIMARY KEY,
    email       text NOT NULL,
    full_name   text NOT NULL,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE public.users (
    id              bigint PRIMARY KEY,
    customer_id     bigint,
    email           text NOT NULL,
    display_name    text NOT NULL,
    password_hash   text NOT NULL,
    last_login_at   timestamptz
);

CREATE TABLE public.products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text NOT NULL,
    price       numeric(10, 2) NOT NULL,
    created_at  timestamptz NOT NULL
);

-- The redundant pair: the single-column index is a prefix of the composite one.
CREATE INDEX products_category_idx ON public.products (category);
CREATE INDEX products_category_price_idx ON public.products (category, price);

CREATE TABLE public.orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    total       numeric(12, 2) NOT NULL
);

CREATE TABLE public.order_items (
    id          bigint PRIMARY KEY,
    order_id    bigint NOT NULL,
    product_id  integer NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(10, 2) NOT NULL
);

CREATE TABLE public.coupons (
    code            text PRIMARY KEY,
    percent_off     integer NOT NULL,
    valid_until     date NOT NULL,
    times_redeemed  bigint NOT NULL DEFAULT 0
);

-- Click-stream events: autovacuum (and so auto-analyze) is off, so the statistics taken
-- while the table was small stay in place after it grows.
CREATE TABLE public.events (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    kind        text NOT NULL,
    created_at  timestamptz NOT NULL,
    payload     text NOT NULL
) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);

COMMENT ON TABLE public.countries IS 'optidb-seed';
COMMENT ON TABLE public.customers IS 'optidb-seed';
COMMENT ON TABLE public.users IS 'optidb-seed';
COMMENT ON TABLE public.products IS 'optidb-seed';
COMMENT ON TABLE public.orders IS 'optidb-seed';
COMMENT ON TABLE public.order_items IS 'optidb-seed';
COMMENT ON TABLE public.coupons IS 'optidb-seed';
COMMENT ON TABLE public.events IS 'optidb-seed';
