-- Indexes of user tables: key columns and expressions in order, INCLUDE columns, method,
-- uniqueness, the constraint they back, partial predicate, size and scans.
SELECT /* optidb */
       n.nspname || '.' || ci.relname                                   AS index_name,
       n.nspname || '.' || ct.relname                                   AS table_name,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
               FROM generate_series(1, i.indnkeyatts) k ORDER BY k)   AS columns,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
               FROM generate_series(i.indnkeyatts + 1, i.indnatts) k ORDER BY k) AS include_columns,
       i.indisunique                                                    AS is_unique,
       i.indisprimary                                                   AS is_primary,
       con.conname::text                                                AS constraint_name,
       pg_get_expr(i.indpred, i.indrelid, true)                         AS predicate,
       am.amname::text                                                  AS access_method,
       coalesce(s.idx_scan, 0)::int8                                    AS scans,
       pg_relation_size(i.indexrelid)::int8                             AS bytes,
       i.indisvalid                                                     AS is_valid,
       pg_get_indexdef(i.indexrelid)                                    AS definition
  FROM pg_index i
  JOIN pg_class ci ON ci.oid = i.indexrelid
  JOIN pg_class ct ON ct.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ct.relnamespace
  JOIN pg_am am ON am.oid = ci.relam
  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
 ORDER BY 2, 1
