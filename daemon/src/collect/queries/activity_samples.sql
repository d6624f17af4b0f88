-- One sampler tick (one statement): the backends running a statement in the current database,
-- each with its statement (real values, for EXPLAIN ANALYZE samples), its pg_stat_statements
-- query id (PostgreSQL 14+, NULL when query ids are off or for utility statements), what it
-- waits on, and — only for heavyweight-lock waiters, since pg_blocking_pids() takes the lock
-- manager's locks — who blocks it (application, statement, state, transaction age) and which
-- locks it asked for and did not get (pg_locks).
WITH a AS MATERIALIZED (
    SELECT pid, datname, query_id, query, state, wait_event_type, wait_event, backend_type,
           application_name, xact_start
      FROM pg_stat_activity
)
SELECT /* optidb */ w.query_id, w.query, w.state, w.wait_event_type, w.wait_event,
       w.backend_type, w.application_name,
       CASE WHEN w.wait_event_type = 'Lock' THEN (
           SELECT json_agg(json_build_object(
                      'application_name', b.application_name,
                      'query', b.query,
                      'state', b.state,
                      'xact_age_ms', extract(epoch FROM clock_timestamp() - b.xact_start) * 1000))::text
             FROM unnest(pg_blocking_pids(w.pid)) AS bp(pid)
             JOIN a b ON b.pid = bp.pid)
       END AS blockers,
       CASE WHEN w.wait_event_type = 'Lock' THEN (
           SELECT json_agg(json_build_object(
                      'locktype', l.locktype,
                      'mode', l.mode,
                      'relation', l.relation::regclass::text))::text
             FROM pg_locks l
            WHERE l.pid = w.pid AND NOT l.granted)
       END AS locks
  FROM a w
 WHERE w.datname = current_database()
   AND w.state = 'active'
   AND w.pid <> pg_backend_pid()
   AND w.backend_type IN ('client backend', 'parallel worker')
   AND w.query NOT LIKE '%/* optidb */%'
