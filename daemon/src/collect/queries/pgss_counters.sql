-- Cumulative counters of every top-level pg_stat_statements entry of the current database,
-- without the query texts (those are fetched only for entries not seen before). Entries of other
-- users come back with a NULL queryid when OptiDB's user lacks pg_read_all_stats: counted as
-- hidden. Every column read here has the same name from pg_stat_statements 1.9 (PostgreSQL 14,
-- which added `toplevel`) to 1.12 (PostgreSQL 18); 17's renames (blk_read_time →
-- shared_blk_read_time, …) touch columns OptiDB does not read.
SELECT /* optidb */
       s.userid::int8            AS userid,
       s.queryid                 AS queryid,
       s.calls                   AS calls,
       s.total_exec_time         AS total_ms,
       s.rows                    AS rows,
       s.shared_blks_hit         AS shared_blks_hit,
       s.shared_blks_read        AS shared_blks_read
  FROM @extschema@.pg_stat_statements(false) s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.toplevel
