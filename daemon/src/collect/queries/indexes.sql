-- Indexes of user tables: key columns and expressions in order, INCLUDE columns, method,
-- uniqueness, the constraint they back, partial predicate, size and scans. As in tables.sql, an
-- index someone holds or waits for an AccessExclusiveLock on (or whose table is so locked) is
-- not opened (`locked`): pg_relation_size and pg_get_indexdef would queue behind that lock.
-- Then `catalog_bytes` stands in for the size, key and INCLUDE columns come from pg_attribute
-- (an expression reads `(expression)`) and the definition is NULL. $1 = false opens none.
WITH locked AS (
  SELECT DISTINCT l.relation
    FROM pg_locks l
   WHERE l.locktype = 'relation'
     AND l.mode = 'AccessExclusiveLock'
     AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
)
SELECT /* optidb */
       n.nspname || '.' || ci.relname                                   AS index_name,
       n.nspname || '.' || ct.relname                                   AS table_name,
       CASE WHEN x.open THEN
              ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                      FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
            ELSE
              ARRAY(SELECT coalesce(a.attname::text, '(expression)')
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)
       END                                                              AS columns,
       CASE WHEN x.open THEN
              ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                      FROM generate_series(i.indnkeyatts + 1, i.indnatts) k ORDER BY k)
            ELSE
              ARRAY(SELECT coalesce(a.attname::text, '(expression)')
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE k.ord > i.indnkeyatts ORDER BY k.ord)
       END                                                              AS include_columns,
       i.indisunique                                                    AS is_unique,
       i.indisprimary                                                   AS is_primary,
       con.conname::text                                                AS constraint_name,
       pg_get_expr(i.indpred, i.indrelid, true)                         AS predicate,
       am.amname::text                                                  AS access_method,
       coalesce(s.idx_scan, 0)::int8                                    AS scans,
       CASE WHEN x.open THEN pg_relation_size(i.indexrelid)::int8 END   AS measured_bytes,
       (ci.relpages::int8 * current_setting('block_size')::int8)::int8  AS catalog_bytes,
       x.locked                                                         AS locked,
       i.indisvalid                                                     AS is_valid,
       CASE WHEN x.open THEN pg_get_indexdef(i.indexrelid) END          AS definition
  FROM pg_index i
  JOIN pg_class ci ON ci.oid = i.indexrelid
  JOIN pg_class ct ON ct.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ct.relnamespace
  JOIN pg_am am ON am.oid = ci.relam
  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
 CROSS JOIN LATERAL (
       SELECT l.locked, $1 AND NOT l.locked AS open
         FROM (SELECT EXISTS (SELECT 1 FROM locked
                               WHERE locked.relation IN (i.indexrelid, i.indrelid)) AS locked) l) x
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
 ORDER BY 2, 1
