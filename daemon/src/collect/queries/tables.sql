-- User tables: size, estimated and live rows, dead rows, writes, scans, last analyze, rows
-- modified since analyze, and whether autovacuum may analyze them.
--
-- Measuring a size (pg_total_relation_size) takes a lock on the table, its TOAST table and its
-- indexes, and would queue behind an AccessExclusiveLock someone holds or waits for (ALTER TABLE,
-- VACUUM FULL, REINDEX, TRUNCATE, LOCK TABLE). Such tables are not measured: `locked` says so and
-- `catalog_bytes` (relpages, as of the last VACUUM/ANALYZE) stands in. $1 = false measures no
-- table at all (the retry after a lock appeared between the pg_locks read and the measurement).
-- A table dropped during the scan measures NULL.
WITH locked AS (
  SELECT DISTINCT l.relation
    FROM pg_locks l
   WHERE l.locktype = 'relation'
     AND l.mode = 'AccessExclusiveLock'
     AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
)
SELECT /* optidb */
       n.nspname || '.' || c.relname                                   AS table_name,
       c.reltuples::float8                                             AS rows_est,
       CASE WHEN $1 AND NOT x.locked THEN pg_total_relation_size(c.oid)::int8 END AS measured_bytes,
       ((c.relpages::int8 + coalesce(t.relpages, 0)::int8
         + coalesce((SELECT sum(ci.relpages) FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
                      WHERE i.indrelid = c.oid), 0)::int8)
        * current_setting('block_size')::int8)::int8                   AS catalog_bytes,
       x.locked                                                        AS locked,
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
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 CROSS JOIN LATERAL (
       SELECT EXISTS (SELECT 1 FROM locked
                       WHERE locked.relation = c.oid
                          OR locked.relation = c.reltoastrelid
                          OR locked.relation IN (SELECT i.indexrelid FROM pg_index i
                                                  WHERE i.indrelid = c.oid)) AS locked) x
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp%'
 ORDER BY 1
