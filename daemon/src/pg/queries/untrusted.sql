-- The functions planning (or, with $14, executing) a statement can run that OptiDB does not
-- trust, one row each with where it is reached. See pg/trust.rs for the rule and the parameters:
--  $1 app search path        $2/$3 relations (schema, name)   $4/$5 functions (schema, name)
--  $6 operator names         $7/$8 types (schema, name)       $9 attribute names (t.f = f(t))
--  $10 operator class names  $11 the statement writes          $12 trusted "schema.name"/"schema.*"
--  $13 trusted owner roles   $14 strict (EXPLAIN ANALYZE: side-effect-free built-ins only)
-- Runs with search_path = pg_catalog: every name below is a catalog object. Written for few plan
-- nodes (it runs before every plan, and executor start-up is most of its cost) and for index
-- lookups by name and by dependency.
WITH /* optidb */ RECURSIVE
path(nsp) AS (
    SELECT n.oid
      FROM unnest($1::text[] || '{pg_catalog}'::text[]) AS s(name)
      JOIN pg_namespace n ON n.nspname = CASE WHEN s.name = '$user' THEN current_user::text ELSE s.name END
),
-- The relations planning opens: those named (on the path, or in the schema given), the ones
-- views and rules read, and partitions and inheritance children — recursively.
rels(oid) AS (
    SELECT c.oid
      FROM unnest($2::text[], $3::text[]) AS r(nsp, name)
     CROSS JOIN LATERAL (SELECT k.oid, k.relnamespace FROM pg_class k
                          WHERE k.relname = r.name OFFSET 0) c
     WHERE CASE WHEN r.nsp = '' THEN c.relnamespace IN (SELECT nsp FROM path)
                ELSE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = r.nsp) END
    UNION
    SELECT x.child
      FROM rels
     CROSS JOIN LATERAL (
           SELECT d.refobjid AS child
             FROM pg_rewrite rw
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                             AND d.refclassid = 'pg_class'::regclass
            WHERE rw.ev_class = rels.oid
           UNION ALL
           SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = rels.oid) x
),
-- Domains whose constraints or defaults can be evaluated: named ones, and (for writes) those
-- of the columns written.
doms(oid) AS (
    SELECT t.oid
      FROM unnest($7::text[], $8::text[]) AS x(nsp, name)
     CROSS JOIN LATERAL (SELECT y.oid, y.typnamespace, y.typtype FROM pg_type y
                          WHERE y.typname = x.name OFFSET 0) t
     WHERE t.typtype = 'd'
       AND CASE WHEN x.nsp = '' THEN t.typnamespace IN (SELECT nsp FROM path)
                ELSE t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = x.nsp) END
    UNION
    SELECT t.oid
      FROM rels r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0
      JOIN pg_type t ON t.oid = a.atttypid AND t.typtype = 'd'
     WHERE $11
),
-- Everything whose expressions the planner reads for those: what belongs to the relations
-- (automatic and internal dependencies: their rules and view actions, indexes, CHECK
-- constraints, policies, statistics objects; column defaults for writes — never triggers, and
-- never other views that merely read them), and the domains with their constraints.
objs(classid, objid) AS (
    SELECT d.classid, d.objid
      FROM rels r
     CROSS JOIN LATERAL (SELECT y.classid, y.objid FROM pg_depend y
                          WHERE y.refclassid = 'pg_class'::regclass AND y.refobjid = r.oid
                            AND y.deptype IN ('a', 'i') OFFSET 0) d
     WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_class'::regclass, 'pg_constraint'::regclass,
                         'pg_policy'::regclass, 'pg_statistic_ext'::regclass)
        OR (d.classid = 'pg_attrdef'::regclass AND $11)
    UNION ALL
    SELECT d.classid, d.objid
      FROM doms t
     CROSS JOIN LATERAL (SELECT y.classid, y.objid FROM pg_depend y
                          WHERE y.refclassid = 'pg_type'::regclass AND y.refobjid = t.oid
                            AND y.deptype IN ('a', 'i') OFFSET 0) d
    UNION ALL
    SELECT 'pg_type'::regclass, oid FROM doms
),
-- Functions and operators: what those objects use, and what the statement names (functions
-- on the path; t.f for f(t); operators in every schema, since operator classes reach them
-- without the path; casts of the types named; the operator classes named).
reached(classid, objid, fn, op) AS (
    SELECT o.classid, o.objid,
           CASE WHEN d.refclassid = 'pg_proc'::regclass THEN d.refobjid END,
           CASE WHEN d.refclassid = 'pg_operator'::regclass THEN d.refobjid END
      FROM objs o
     CROSS JOIN LATERAL (SELECT y.refclassid, y.refobjid FROM pg_depend y
                          WHERE y.classid = o.classid AND y.objid = o.objid
                            AND y.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
                          OFFSET 0) d
    UNION ALL
    SELECT 0, 0, p.oid, NULL
      FROM unnest($4::text[], $5::text[]) AS x(nsp, name)
     CROSS JOIN LATERAL (SELECT y.oid, y.pronamespace FROM pg_proc y
                          WHERE y.proname = x.name OFFSET 0) p
     WHERE ($14 OR p.pronamespace <> 'pg_catalog'::regnamespace)
       AND CASE WHEN x.nsp = '' THEN p.pronamespace IN (SELECT nsp FROM path)
                ELSE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = x.nsp) END
    UNION ALL
    SELECT 0, 0, p.oid, NULL
      FROM unnest($9::text[]) AS x(name)
     CROSS JOIN LATERAL (SELECT y.oid, y.pronamespace FROM pg_proc y
                          WHERE y.proname = x.name AND y.pronargs = 1
                            AND y.pronamespace <> 'pg_catalog'::regnamespace OFFSET 0) p
     WHERE p.pronamespace IN (SELECT nsp FROM path)
    UNION ALL
    SELECT 'pg_operator'::regclass, o.oid, NULL, o.oid
      FROM (SELECT y.oid, y.oprname FROM pg_operator y
             WHERE y.oprnamespace <> 'pg_catalog'::regnamespace OFFSET 0) o
     WHERE o.oprname = ANY ($6::text[])
    UNION ALL
    SELECT 'pg_cast'::regclass, c.oid, c.castfunc, NULL
      FROM unnest($7::text[], $8::text[]) AS x(nsp, name)
      JOIN pg_type t ON t.typname = x.name
      JOIN pg_cast c ON (c.castsource = t.oid OR c.casttarget = t.oid) AND c.castfunc <> 0
     WHERE cardinality($8::text[]) > 0
    UNION ALL
    SELECT 'pg_opclass'::regclass, oc.oid, ap.amproc, ao.amopopr
      FROM pg_opclass oc
      LEFT JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily
      LEFT JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily
     WHERE oc.opcname = ANY ($10::text[]) AND oc.opcnamespace <> 'pg_catalog'::regnamespace
),
-- Operators run their functions (and estimators); aggregates their support functions.
fns(classid, objid, fn) AS (
    SELECT classid, objid, fn FROM reached WHERE fn IS NOT NULL
    UNION ALL
    SELECT r.classid, r.objid, f.fn
      FROM reached r
      JOIN pg_operator op ON op.oid = r.op AND op.oprnamespace <> 'pg_catalog'::regnamespace
     CROSS JOIN LATERAL unnest(ARRAY[op.oprcode::oid, op.oprrest::oid, op.oprjoin::oid]) AS f(fn)
    UNION ALL
    SELECT r.classid, r.objid, s.fn
      FROM reached r
      JOIN pg_aggregate a ON a.aggfnoid = r.fn
     CROSS JOIN LATERAL unnest(ARRAY[a.aggtransfn::oid, a.aggfinalfn::oid, a.aggcombinefn::oid,
                                     a.aggserialfn::oid, a.aggdeserialfn::oid, a.aggmtransfn::oid,
                                     a.aggminvtransfn::oid, a.aggmfinalfn::oid]) AS s(fn)
     WHERE r.fn IS NOT NULL
)
SELECT p.oid::regprocedure::text || ' (' || l.lanname::text || ', owner ' || quote_ident(r.rolname::text) || ')'
       || CASE WHEN f.classid = 0 THEN '' ELSE ' in ' || pg_describe_object(f.classid, f.objid, 0) END AS what
  FROM (SELECT DISTINCT ON (fn) fn, classid, objid FROM fns WHERE fn <> 0 ORDER BY fn, classid) f
  JOIN pg_proc p ON p.oid = f.fn
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
  JOIN pg_roles r ON r.oid = p.proowner
 WHERE NOT (r.rolsuper
            OR l.lanname IN ('internal', 'c')
            OR (NOT $14 AND (r.rolname = ANY ($13::text[])
                             OR n.nspname::text || '.' || p.proname::text = ANY ($12::text[])
                             OR n.nspname::text || '.*' = ANY ($12::text[]))))
    OR ($14 AND (n.nspname <> 'pg_catalog'
                 OR (p.provolatile = 'v' AND p.proname NOT IN
                        ('random', 'random_normal', 'clock_timestamp', 'timeofday', 'gen_random_uuid',
                         'uuidv4', 'uuidv7', 'statement_timestamp'))
                 OR p.proname ~ '^(pg_advisory|pg_try_advisory|dblink|pg_sleep|set_config|lo_|pg_notify|nextval|setval|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_read_|pg_ls_|pg_stat_reset|pg_stat_statements_reset|txid_current|pg_current_xact_id|pg_switch_wal|pg_create_|pg_drop_|pg_replication_|pg_logical_|pg_file_|pg_promote|pg_import_system_collations|pg_log_backend_memory_contexts|hypopg)'))
 ORDER BY 1
