-- Planner statistics per column (selectivity for column order, correlation for range scans).
SELECT /* optidb */
       schemaname || '.' || tablename                     AS table_name,
       attname::text                                      AS column_name,
       null_frac::float8                                  AS null_frac,
       n_distinct::float8                                 AS n_distinct,
       correlation::float8                                AS correlation,
       coalesce(most_common_freqs::float8[], '{}')        AS most_common_freqs
  FROM pg_stats
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
   AND schemaname NOT LIKE 'pg\_toast%'
   AND NOT inherited
 ORDER BY 1, 2
