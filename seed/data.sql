-- OptiDB demo seed: deterministic data for seed/schema.sql.
--
-- Every value is a function of the row number: generate_series plus pg_temp.seed_rand(),
-- a thin wrapper over hashint8extended() (PostgreSQL keeps its hash functions stable
-- because hash partitioning depends on them). No random(), no now(): two loads produce the
-- same rows. Timestamps are anchored to fixed dates.
--
-- Lines `-- @step NAME` split the file into steps; `optidb seed` runs one step at a time
-- and reports each step's duration. Row counts here are the contract checked by
-- tests/tests/seed.rs (see seed/README.md).

-- @step setup
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';

-- seed_rand(i, stream, n): a deterministic pseudo-random integer in [0, n) for row i;
-- `stream` picks an independent sequence for each column.
CREATE FUNCTION pg_temp.seed_rand(i bigint, stream bigint, n bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (hashint8extended(i, stream) & 9223372036854775807) % n $$;

-- @step countries
INSERT INTO public.countries (code, name) VALUES
    ('AR', 'Argentina'), ('AT', 'Austria'), ('AU', 'Australia'), ('BE', 'Belgium'),
    ('BR', 'Brazil'), ('CA', 'Canada'), ('CH', 'Switzerland'), ('CZ', 'Czechia'),
    ('DE', 'Germany'), ('DK', 'Denmark'), ('ES', 'Spain'), ('FI', 'Finland'),
    ('FR', 'France'), ('GB', 'United Kingdom'), ('IE', 'Ireland'), ('IN', 'India'),
    ('IT', 'Italy'), ('JP', 'Japan'), ('KR', 'South Korea'), ('MX', 'Mexico'),
    ('NL', 'Netherlands'), ('NO', 'Norway'), ('NZ', 'New Zealand'), ('PL', 'Poland'),
    ('PT', 'Portugal'), ('SE', 'Sweden'), ('SG', 'Singapore'), ('US', 'United States'),
    ('ZA', 'South Africa'), ('UY', 'Uruguay');

-- @step customers
-- 50,000 customers; email = first.last<ID>@domain, all lower case.
INSERT INTO public.customers (id, email, full_name, country, created_at)
SELECT i,
       lower(f) || '.' || lower(l) || i || '@' || d,
       f || ' ' || l,
       c,
       timestamptz '2022-01-01 00:00:00+00' + pg_temp.seed_rand(i, 4, 63072000) * interval '1 second'
FROM (
    SELECT i,
           (ARRAY['Anna','Ben','Carla','David','Eva','Felix','Greta','Hugo','Ida','Jonas',
                  'Klara','Leon','Mia','Noah','Olga','Paul','Quinn','Rosa','Sam','Tara',
                  'Uma','Victor','Wanda','Xaver','Yara','Zoe','Aaron','Bianca','Cem','Dana',
                  'Emil','Fatma','Gustav','Hanna','Ivan','Julia','Karl','Lena','Marek','Nina'])
               [1 + pg_temp.seed_rand(i, 1, 40)] AS f,
           (ARRAY['Smith','Jones','Garcia','Miller','Davis','Lopez','Wilson','Moore','Taylor','Thomas',
                  'Martin','Lee','Walker','Hall','Allen','Young','King','Wright','Scott','Green',
                  'Baker','Adams','Nelson','Hill','Campbell','Mitchell','Roberts','Carter','Phillips','Evans',
                  'Turner','Torres','Parker','Collins','Edwards','Stewart','Morris','Murphy','Cook','Rogers'])
               [1 + pg_temp.seed_rand(i, 2, 40)] AS l,
           (ARRAY['example.com','mail.test','shop.example','post.example','inbox.test'])
               [1 + pg_temp.seed_rand(i, 3, 5)] AS d,
           (ARRAY['AR','AT','AU','BE','BR','CA','CH','CZ','DE','DK','ES','FI','FR','GB','IE',
                  'IN','IT','JP','KR','MX','NL','NO','NZ','PL','PT','SE','SG','US','ZA','UY'])
               [1 + pg_temp.seed_rand(i, 5, 30)] AS c
    FROM generate_series(1, 50000) AS i
) AS g;

-- @step users
-- 60,000 accounts: the first 50,000 belong to customers, the rest are staff and guests.
-- Emails are stored as typed at sign-up (mixed case), so the login query uses lower(email).
INSERT INTO public.users (id, customer_id, email, display_name, password_hash, last_login_at)
SELECT i,
       CASE WHEN i <= 50000 THEN i END,
       'Member' || i || '@Example.com',
       'member' || i,
       md5('pw' || i),
       timestamptz '2024-01-01 00:00:00+00' + pg_temp.seed_rand(i, 6, 31536000) * interval '1 second'
FROM generate_series(1, 60000) AS i;

-- @step products
-- 5,000 products in 25 categories.
INSERT INTO public.products (id, sku, name, category, price, created_at)
SELECT i,
       'SKU-' || i,
       (ARRAY['Classic','Compact','Deluxe','Eco','Smart','Mini','Pro','Ultra','Vintage','Travel'])
           [1 + pg_temp.seed_rand(i, 7, 10)] || ' ' ||
       (ARRAY['Lamp','Chair','Kettle','Backpack','Headphones','Mug','Blanket','Speaker','Watch','Pen'])
           [1 + pg_temp.seed_rand(i, 8, 10)] || ' ' || i,
       (ARRAY['books','electronics','garden','toys','kitchen','sports','beauty','music','office','pets',
              'games','tools','auto','baby','fashion','shoes','jewelry','outdoor','health','food',
              'home','lighting','bath','crafts','travel'])
           [1 + pg_temp.seed_rand(i, 9, 25)],
       1 + pg_temp.seed_rand(i, 10, 49900) / 100.0,
       timestamptz '2021-06-01 00:00:00+00' + pg_temp.seed_rand(i, 11, 63072000) * interval '1 second'
FROM generate_series(1, 5000) AS i;

-- @step orders
-- 300,000 orders over 2023-2024 (created_at grows with id, as in a real shop).
-- Status mix: delivered 70%, shipped 15%, pending 8%, cancelled 5%, refunded 2%.
INSERT INTO public.orders (id, customer_id, status, created_at, total)
SELECT i,
       1 + pg_temp.seed_rand(i, 12, 50000),
       CASE WHEN b < 70 THEN 'delivered'
            WHEN b < 85 THEN 'shipped'
            WHEN b < 93 THEN 'pending'
            WHEN b < 98 THEN 'cancelled'
            ELSE 'refunded' END,
       timestamptz '2023-01-01 00:00:00+00' + (i * 210 + pg_temp.seed_rand(i, 13, 200)) * interval '1 second',
       5 + pg_temp.seed_rand(i, 14, 50000) / 100.0
FROM (SELECT i, pg_temp.seed_rand(i, 15, 100) AS b FROM generate_series(1, 300000) AS i) AS g;

-- @step order_items
-- 600,000 order lines: two per order.
INSERT INTO public.order_items (id, order_id, product_id, quantity, unit_price)
SELECT i,
       (i + 1) / 2,
       1 + pg_temp.seed_rand(i, 16, 5000),
       1 + pg_temp.seed_rand(i, 17, 4),
       1 + pg_temp.seed_rand(i, 18, 49900) / 100.0
FROM generate_series(1, 600000) AS i;

-- @step coupons
INSERT INTO public.coupons (code, percent_off, valid_until)
SELECT code, 5 + 5 * (n % 6), date '2025-12-31'
FROM unnest(ARRAY['WELCOME10','SPRING15','SUMMER20','AUTUMN25','WINTER30','BLACKFRIDAY',
                  'CYBERMONDAY','LOYAL5','FREESHIP','STUDENT10','VIP20','FLASH15',
                  'NEWSLETTER','BIRTHDAY','REFERRAL','BUNDLE10','CLEARANCE','APP5',
                  'RETURNING','HOLIDAY']) WITH ORDINALITY AS t(code, n);

-- @step events_small
-- Stale statistics, part 1: 2,000 January events of three kinds, then ANALYZE while small.
INSERT INTO public.events (id, customer_id, kind, created_at, payload)
SELECT i,
       1 + pg_temp.seed_rand(i, 19, 50000),
       (ARRAY['page_view','product_view','add_to_cart'])[1 + pg_temp.seed_rand(i, 20, 3)],
       timestamptz '2024-01-01 00:00:00+00' + pg_temp.seed_rand(i, 21, 2678400) * interval '1 second',
       '{"path":"/p/' || (1 + pg_temp.seed_rand(i, 22, 5000)) || '"}'
FROM generate_series(1, 2000) AS i;

ANALYZE public.events;

-- @step events_growth
-- Stale statistics, part 2: 300,000 more events from February to June 2024, with kinds that
-- did not exist at ANALYZE time. autovacuum is off on this table, so nothing re-analyzes it:
-- n_mod_since_analyze ends up ~150x reltuples, and the planner estimates ~1 row for the new
-- kinds and dates.
INSERT INTO public.events (id, customer_id, kind, created_at, payload)
SELECT i,
       1 + pg_temp.seed_rand(i, 19, 50000),
       (ARRAY['page_view','product_view','add_to_cart','search','checkout_started',
              'checkout_failed','payment_retry'])[1 + pg_temp.seed_rand(i, 20, 7)],
       timestamptz '2024-02-01 00:00:00+00' + pg_temp.seed_rand(i, 21, 13046400) * interval '1 second',
       '{"path":"/p/' || (1 + pg_temp.seed_rand(i, 22, 5000)) || '"}'
FROM generate_series(2001, 302000) AS i;

-- @step analyze
-- Fresh statistics for every table except events (which must stay stale).
ANALYZE public.countries, public.customers, public.users, public.products,
        public.orders, public.order_items, public.coupons;

-- @step foreign_keys
-- Added after the bulk load: one validating join per constraint instead of a trigger per row.
ALTER TABLE public.customers ADD CONSTRAINT customers_country_fkey
    FOREIGN KEY (country) REFERENCES public.countries (code);
ALTER TABLE public.users ADD CONSTRAINT users_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE public.order_items ADD CONSTRAINT order_items_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES public.orders (id);
ALTER TABLE public.order_items ADD CONSTRAINT order_items_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES public.products (id);
