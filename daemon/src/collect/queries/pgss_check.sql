-- Is pg_stat_statements installed in this database, and at which version?
SELECT /* optidb */ extversion FROM pg_extension WHERE extname = 'pg_stat_statements'
