-- Statements running right now in the current database: real-value samples for EXPLAIN ANALYZE.
SELECT /* optidb */ query
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND state = 'active'
   AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
   AND query NOT LIKE '%/* optidb */%'
