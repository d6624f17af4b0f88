-- Texts of the pg_stat_statements entries whose queryid OptiDB has not fingerprinted yet.
SELECT /* optidb */ s.queryid, s.query
  FROM @extschema@.pg_stat_statements(true) s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.queryid = ANY($1::int8[])
