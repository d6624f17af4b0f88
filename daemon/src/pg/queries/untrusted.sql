-- The functions planning (or, with $14, executing) a statement can run that OptiDB does not
-- trust, one row each with where it is reached. See pg/trust.rs for the rule and the parameters:
--  $1 app search path        $2/$3 relations (schema, name)   $4/$5 functions (schema, name)
--  $6 operator names         $7/$8 types (schema, name)       $9 attribute names (t.f = f(t))
--  $10 operator class names  $11 the statement writes          $12 trusted "schema.name"/"schema.*"
--  $13 trusted owner roles   $14 strict (EXPLAIN ANALYZE: side-effect-free built-ins only)
-- Runs with search_path = pg_catalog: every name below is a catalog object.
WITH /* optidb */ RECURSIVE
path(nsp) AS (
    SELECT n.oid
      FROM unnest($1::text[]) AS s(name)
      JOIN pg_namespace n ON n.nspname = CASE WHEN s.name = '$user' THEN current_user::text ELSE s.name END
    UNION
    SELECT 'pg_catalog'::regnamespace::oid
),
named_rels(oid) AS (
    SELECT c.oid
      FROM unnest($2::text[], $3::text[]) AS r(nsp, name)
      JOIN pg_class c ON c.relname = r.name
     WHERE (r.nsp = '' AND c.relnamespace IN (SELECT nsp FROM path))
        OR (r.nsp <> '' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = r.nsp))
),
-- What planning opens: the relations named, the relations views and rules read, and the
-- partitions and inheritance children of all of them.
rels(oid) AS (
    SELECT oid FROM named_rels
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
named_types(oid) AS (
    SELECT t.oid
      FROM unnest($7::text[], $8::text[]) AS x(nsp, name)
      JOIN pg_type t ON t.typname = x.name
     WHERE (x.nsp = '' AND t.typnamespace IN (SELECT nsp FROM path))
        OR (x.nsp <> '' AND t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = x.nsp))
),
domains(oid) AS (
    SELECT t.oid FROM named_types nt JOIN pg_type t ON t.oid = nt.oid WHERE t.typtype = 'd'
    UNION
    SELECT t.oid
      FROM rels r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0
      JOIN pg_type t ON t.oid = a.atttypid
     WHERE $11 AND t.typtype = 'd'
),
-- Objects whose expressions the planner reads for those relations and types.
objs(classid, objid, what) AS (
    SELECT x.classid, x.objid, x.what
      FROM rels r
     CROSS JOIN LATERAL (
           SELECT 'pg_rewrite'::regclass::oid AS classid, rw.oid AS objid,
                  CASE WHEN rw.ev_type = '1' THEN 'view ' ELSE 'rule ' || quote_ident(rw.rulename::text) || ' on ' END
                  || r.oid::regclass::text AS what
             FROM pg_rewrite rw
            WHERE rw.ev_class = r.oid AND (rw.ev_type = '1' OR $11)
           UNION ALL
           SELECT 'pg_class'::regclass::oid, i.indexrelid, 'index ' || i.indexrelid::regclass::text
             FROM pg_index i
            WHERE i.indrelid = r.oid AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
           UNION ALL
           SELECT 'pg_constraint'::regclass::oid, co.oid,
                  'constraint ' || quote_ident(co.conname::text) || ' on ' || r.oid::regclass::text
             FROM pg_constraint co
            WHERE co.conrelid = r.oid AND co.contype = 'c'
           UNION ALL
           SELECT 'pg_policy'::regclass::oid, p.oid,
                  'policy ' || quote_ident(p.polname::text) || ' on ' || r.oid::regclass::text
             FROM pg_policy p
            WHERE p.polrelid = r.oid
           UNION ALL
           SELECT 'pg_statistic_ext'::regclass::oid, s.oid, 'statistics ' || quote_ident(s.stxname::text)
             FROM pg_statistic_ext s
            WHERE s.stxrelid = r.oid
           UNION ALL
           SELECT 'pg_attrdef'::regclass::oid, ad.oid,
                  'default of ' || r.oid::regclass::text || '.' || quote_ident(a.attname::text)
             FROM pg_attrdef ad
             JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
            WHERE $11 AND ad.adrelid = r.oid) x
    UNION ALL
    SELECT 'pg_type'::regclass::oid, d.oid, 'domain ' || d.oid::regtype::text FROM domains d
    UNION ALL
    SELECT 'pg_constraint'::regclass::oid, co.oid,
           'constraint ' || quote_ident(co.conname::text) || ' of domain ' || d.oid::regtype::text
      FROM domains d
     CROSS JOIN LATERAL (SELECT c.oid, c.conname FROM pg_constraint c
                          WHERE c.contypid = d.oid OFFSET 0) co
),
reached(fn, via) AS (
    -- functions the objects' expressions call
    SELECT d.refobjid, o.what
      FROM objs o
     CROSS JOIN LATERAL (SELECT x.refobjid FROM pg_depend x
                          WHERE x.classid = o.classid AND x.objid = o.objid
                            AND x.refclassid = 'pg_proc'::regclass OFFSET 0) d
    UNION ALL
    -- operators the objects' expressions use
    SELECT f.fn, o.what || ', operator ' || op.oid::regoperator::text
      FROM objs o
     CROSS JOIN LATERAL (SELECT x.refobjid FROM pg_depend x
                          WHERE x.classid = o.classid AND x.objid = o.objid
                            AND x.refclassid = 'pg_operator'::regclass OFFSET 0) d
     CROSS JOIN LATERAL (SELECT y.oid, y.oprcode, y.oprrest, y.oprjoin FROM pg_operator y
                          WHERE y.oid = d.refobjid
                            AND y.oprnamespace <> 'pg_catalog'::regnamespace OFFSET 0) op
     CROSS JOIN LATERAL unnest(ARRAY[op.oprcode::oid, op.oprrest::oid, op.oprjoin::oid]) AS f(fn)
    UNION ALL
    -- functions the statement calls by name
    SELECT p.oid, 'called by the statement'
      FROM unnest($4::text[], $5::text[]) AS x(nsp, name)
      JOIN pg_proc p ON p.proname = x.name
     WHERE ((x.nsp = '' AND p.pronamespace IN (SELECT nsp FROM path))
            OR (x.nsp <> '' AND p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = x.nsp)))
       AND ($14 OR p.pronamespace <> 'pg_catalog'::regnamespace)
    UNION ALL
    -- t.f written for f(t)
    SELECT p.oid, 'called by the statement as an attribute (t.' || quote_ident(p.proname::text) || ')'
      FROM unnest($9::text[]) AS x(name)
     CROSS JOIN LATERAL (SELECT o.oid, o.proname, o.pronamespace FROM pg_proc o
                          WHERE o.proname = x.name AND o.pronargs = 1
                            AND o.pronamespace <> 'pg_catalog'::regnamespace OFFSET 0) p
     WHERE p.pronamespace IN (SELECT nsp FROM path)
    UNION ALL
    -- operators named or implied, in any schema (operator classes find them without the path)
    -- (built-in operators are skipped first: one pass over pg_operator is cheaper than an index
    -- probe per name that returns every built-in of that name)
    SELECT f.fn, 'operator ' || op.oid::regoperator::text
      FROM (SELECT o.oid, o.oprname, o.oprcode, o.oprrest, o.oprjoin FROM pg_operator o
             WHERE o.oprnamespace <> 'pg_catalog'::regnamespace OFFSET 0) op
     CROSS JOIN LATERAL unnest(ARRAY[op.oprcode::oid, op.oprrest::oid, op.oprjoin::oid]) AS f(fn)
     WHERE op.oprname = ANY ($6::text[])
    UNION ALL
    -- casts from or to the types named
    SELECT c.castfunc, 'cast from ' || c.castsource::regtype::text || ' to ' || c.casttarget::regtype::text
      FROM named_types nt
     CROSS JOIN LATERAL (SELECT y.castfunc, y.castsource, y.casttarget FROM pg_cast y
                          WHERE (y.castsource = nt.oid OR y.casttarget = nt.oid) AND y.castfunc <> 0
                          OFFSET 0) c
    UNION ALL
    -- operator classes named: their support functions and operators
    SELECT ap.amproc, 'operator class ' || quote_ident(oc.opcname::text)
      FROM unnest($10::text[]) AS x(name)
     CROSS JOIN LATERAL (SELECT y.opcname, y.opcfamily FROM pg_opclass y
                          WHERE y.opcname = x.name AND y.opcnamespace <> 'pg_catalog'::regnamespace
                          OFFSET 0) oc
      JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily
    UNION ALL
    SELECT f.fn, 'operator class ' || quote_ident(oc.opcname::text) || ', operator ' || op.oid::regoperator::text
      FROM unnest($10::text[]) AS x(name)
     CROSS JOIN LATERAL (SELECT y.opcname, y.opcfamily FROM pg_opclass y
                          WHERE y.opcname = x.name AND y.opcnamespace <> 'pg_catalog'::regnamespace
                          OFFSET 0) oc
      JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily
      JOIN pg_operator op ON op.oid = ao.amopopr
     CROSS JOIN LATERAL unnest(ARRAY[op.oprcode::oid, op.oprrest::oid, op.oprjoin::oid]) AS f(fn)
),
-- aggregates run their support functions (built-in aggregates only built-in ones)
funcs(fn, via) AS (
    SELECT fn, via FROM reached WHERE fn <> 0
    UNION
    SELECT s.fn, r.via || ', aggregate ' || a.aggfnoid::regprocedure::text
      FROM reached r
     CROSS JOIN LATERAL (SELECT g.* FROM pg_aggregate g WHERE g.aggfnoid = r.fn OFFSET 0) a
     CROSS JOIN LATERAL unnest(ARRAY[a.aggtransfn::oid, a.aggfinalfn::oid, a.aggcombinefn::oid,
                                     a.aggserialfn::oid, a.aggdeserialfn::oid, a.aggmtransfn::oid,
                                     a.aggminvtransfn::oid, a.aggmfinalfn::oid]) AS s(fn)
     WHERE s.fn <> 0
)
SELECT p.oid::regprocedure::text || ' (' || l.lanname::text || ', owner ' || quote_ident(r.rolname::text) || ')'
       || CASE WHEN f.via = 'called by the statement' THEN '' ELSE ' in ' || f.via END AS what
  FROM (SELECT fn, min(via) AS via FROM funcs GROUP BY fn) f
 CROSS JOIN LATERAL (SELECT o.oid, o.proname, o.pronamespace, o.prolang, o.proowner, o.provolatile
                       FROM pg_proc o WHERE o.oid = f.fn OFFSET 0) p
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
