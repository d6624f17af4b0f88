-- When pg_stat_statements was last reset, and how many entries it has evicted.
SELECT /* optidb */ (extract(epoch FROM stats_reset) * 1000)::int8 AS reset_ms, dealloc FROM @extschema@.pg_stat_statements_info
