-- User tables: size, estimated and live rows, dead rows, writes, scans, last analyze, rows
-- modified since analyze, and whether autovacuum may analyze them.
SELECT /* optidb */
       n.nspname || '.' || c.relname                                   AS table_name,
       c.reltuples::float8                                             AS rows_est,
       pg_total_relation_size(c.oid)::int8                             AS bytes,
       coalesce(s.n_live_tup, 0)::int8                                 AS live_tuples,
       coalesce(s.n_dead_tup, 0)::int8                                 AS dead_tuples,
       coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::int8      AS writes,
       coalesce(s.seq_scan, 0)::int8                                   AS seq_scans,
       coalesce(s.idx_scan, 0)::int8                                   AS idx_scans,
       (extract(epoch FROM greatest(s.last_analyze, s.last_autoanalyze)) * 1000)::int8 AS last_analyze,
       coalesce(s.n_mod_since_analyze, 0)::int8                        AS mods_since_analyze,
       coalesce(NOT ('autovacuum_enabled=false' = ANY (coalesce(c.reloptions, '{}'))), true) AS autovacuum_enabled
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp%'
 ORDER BY 1
