-- What changes when the schema or its statistics change, in one cheap row: the newest
-- transaction that wrote a row of pg_class (CREATE/ALTER/DROP of tables and indexes, TRUNCATE,
-- rewrites), pg_attribute (columns), pg_index, pg_constraint (keys), the relation count, and
-- how often tables were analyzed (new planner statistics). The collector re-reads the schema
-- when this row differs from the last one it read it with (or its TTL ran out).
SELECT /* optidb */
       (SELECT count(*) FROM pg_class)::int8                                  AS classes,
       (SELECT max(xmin::text::int8) FROM pg_class)::int8                     AS class_xmin,
       (SELECT max(xmin::text::int8) FROM pg_attribute)::int8                 AS attribute_xmin,
       (SELECT max(xmin::text::int8) FROM pg_index)::int8                     AS index_xmin,
       (SELECT coalesce(max(xmin::text::int8), 0) FROM pg_constraint)::int8   AS constraint_xmin,
       (SELECT coalesce(sum(analyze_count + autoanalyze_count), 0)
          FROM pg_stat_user_tables)::int8                                      AS analyzes
