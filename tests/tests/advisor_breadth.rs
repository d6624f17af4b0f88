//! The advisor's breadth end to end (issue #13): the plan shapes of docs/rules/order_by_limit.md,
//! index_scan_filter.md and partitioned.md, ORM-shaped predicates and quoted mixed-case names on a
//! schema written only for this test, plus a compatibility corpus ported from a peer index
//! advisor's test suite (Dexter). The real `optidb daemon` scans a sandbox after the workload
//! (the demo's way: samples EXPLAIN ANALYZEd); each corpus is scored on its own — precision,
//! recall, failures — and every DDL the advisor emits is built for real in a rolled-back
//! transaction (0 refusals required).

use anyhow::{Context, Result};
use optidb::analyze::advisor::for_query;
use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb::seed;
use optidb::store::Store;
use optidb_core::model::{RecType, Recommendation};
use optidb_e2e::{post_empty, Daemon};

/// What the advisor must say for one statement (`rec_type` `None`: a negative control).
struct Want {
    name: String,
    query_id: String,
    rec_type: Option<RecType>,
    table: String,
    columns: Vec<String>,
    /// Also right when the top recommendation is a wider index that leads with `columns` (the
    /// workload-wide merge serves this statement with it).
    prefix_ok: bool,
}

/// Prints each statement's top recommendation; returns (true positives, false positives,
/// positives, failures).
fn check(
    label: &str,
    recs: &[Recommendation],
    wants: &[Want],
) -> (usize, usize, usize, Vec<String>) {
    let (mut tp, mut fp, mut pos, mut failures) = (0, 0, 0, Vec::new());
    let index = |t: RecType| matches!(t, RecType::MissingIndex | RecType::CompositeIndex);
    for w in wants {
        let mine = for_query(recs, &w.query_id);
        let show = |r: &Recommendation| {
            format!(
                "{} {} ({})",
                r.rec_type.as_str(),
                r.target.table,
                r.target.columns.join(", ")
            )
        };
        eprintln!(
            "[{label}] {:<40} -> {}",
            w.name,
            mine.first()
                .map(|r| show(r))
                .unwrap_or_else(|| "(none)".into())
        );
        if let Some(r) = mine.first() {
            eprintln!("    ddl: {}\n    why: {}", r.ddl, r.rationale);
        }
        let Some(t) = w.rec_type else {
            if let Some(r) = mine.first() {
                fp += 1;
                failures.push(format!("{} (control): got {}", w.name, show(r)));
            }
            continue;
        };
        pos += 1;
        let Some(top) = mine.first() else {
            failures.push(format!("{}: no recommendation", w.name));
            continue;
        };
        let exact = top.rec_type == t && top.target.columns == w.columns;
        let wider = w.prefix_ok
            && index(t)
            && index(top.rec_type)
            && top.target.columns.starts_with(&w.columns);
        if top.target.table == w.table && (exact || wider) {
            tp += 1;
        } else {
            fp += 1;
            failures.push(format!(
                "{}: want {} {} ({}), top is {}",
                w.name,
                t.as_str(),
                w.table,
                w.columns.join(", "),
                show(top)
            ));
        }
    }
    eprintln!(
        "[{label}] precision {:.2} ({tp} / {}), recall {:.2} ({tp} / {pos}), false positives {fp}",
        tp as f64 / (tp + fp).max(1) as f64,
        tp + fp,
        tp as f64 / pos.max(1) as f64
    );
    (tp, fp, pos, failures)
}

/// Issue #13's plan shapes on a schema written for this test: sorts over whole tables, mixed
/// directions, output aliases, an equality filter + sort under a LIMIT … OFFSET page, ORM-style
/// `= ANY(array)` and `IN (…)`, quoted mixed-case names, an index scan that throws rows away, a
/// partitioned table; and negative controls.
const BREADTH: &str = r#"
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE "Deals" (id bigint PRIMARY KEY, "accountId" int NOT NULL, "Stage" text NOT NULL,
    amount numeric NOT NULL, "createdAt" timestamptz NOT NULL);
INSERT INTO "Deals" SELECT g, g % 20000, (ARRAY['open','won','lost'])[g % 3 + 1],
    (g::bigint * 7919) % 100000, timestamptz '2023-01-01' + g * interval '1 minute'
    FROM generate_series(1, 200000) g;
CREATE TABLE feed (id bigint PRIMARY KEY, user_id int NOT NULL, blog_id int NOT NULL,
    score int NOT NULL, posted_at timestamptz NOT NULL);
INSERT INTO feed SELECT g, g % 10, g % 2000, (g * 31) % 1000,
    timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 200000) g;
CREATE INDEX feed_user_id_idx ON feed (user_id);
CREATE TABLE readings (id bigint NOT NULL, sensor int NOT NULL, at timestamptz NOT NULL,
    value float8 NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE readings_2024_01 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE readings_2024_02 PARTITION OF readings FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE readings_2024_03 PARTITION OF readings FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE TABLE docs (id int PRIMARY KEY, meta jsonb NOT NULL);
INSERT INTO docs SELECT g, jsonb_build_object('kind', 'k' || (g % 500), 'n', g)
    FROM generate_series(1, 100000) g;
CREATE TABLE rates (id int PRIMARY KEY, code text NOT NULL, rate numeric NOT NULL);
INSERT INTO rates SELECT g, 'C' || g, g / 100.0 FROM generate_series(1, 8000) g;
CREATE TABLE tiers (id int PRIMARY KEY, code text NOT NULL, label text NOT NULL);
INSERT INTO tiers SELECT g, 'T' || g, 'tier ' || g FROM generate_series(1, 3000) g;
INSERT INTO readings SELECT g, g % 800, timestamptz '2024-01-01' + g * interval '30 seconds', g % 97
    FROM generate_series(1, 240000) g;
"#;

const PREPARED: &str = "PREPARE feed_between(timestamptz, timestamptz) AS \
    SELECT id, score FROM feed WHERE posted_at >= $1 AND posted_at < $2";

/// Index-suggestion cases ported from Dexter's test suite (ankane/dexter, MIT:
/// test/statement_test.rb with test/support/schema.sql), rewritten as our own data: the same
/// statements and expected indexes. Not ported: UPDATE/DELETE (they would change the data the
/// other cases read), the foreign table (needs postgres_fdw), the parse error and `$1` text (the
/// workload runs real statements). `ORDER BY user_id DESC, blog_id` expects Dexter's
/// `(user_id DESC, blog_id)`, a case Dexter itself skips; OptiDB answers the equivalent
/// `(user_id, blog_id DESC)` (read backwards), which is what is checked.
const PEERS: &str = r#"
CREATE TABLE posts (id int, blog_id int, user_id int, indexed int);
INSERT INTO posts (id, blog_id, user_id, indexed)
    SELECT n, n % 1000, n % 10, n FROM generate_series(1, 100000) n;
CREATE INDEX ON posts (indexed);
CREATE VIEW posts_view AS SELECT id AS view_id FROM posts;
CREATE MATERIALIZED VIEW posts_materialized AS SELECT * FROM posts;
CREATE SCHEMA "Bar";
CREATE TABLE "Bar"."Foo"("Id" int);
INSERT INTO "Bar"."Foo" SELECT * FROM generate_series(1, 100000);
"#;

/// Cases ported from supabase/index_advisor's test suite (PostgreSQL License:
/// test/sql/integration.sql, issue_1.sql, multi_index.sql with test/expected/*.out), rewritten as
/// our own data. The peer runs them on empty tables; here the tables hold rows, since advice on an
/// empty, never-analyzed table is a guess OptiDB does not make. multi_index expects three
/// single-column indexes for one statement: each is looked for among all the statement's
/// recommendations (OptiDB proposes at most one index per table and statement).
const SUPABASE: &str = r#"
CREATE SCHEMA ia;
CREATE TABLE ia.book_meta (id int, name text, meta json);
INSERT INTO ia.book_meta SELECT g, 'b' || g, json_build_object('k', g) FROM generate_series(1, 50000) g;
CREATE TABLE ia.author (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE ia.publisher (id serial PRIMARY KEY, name text NOT NULL, corporate_address text);
CREATE TABLE ia.book (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES ia.author (id),
    publisher_id int NOT NULL REFERENCES ia.publisher (id), title text);
CREATE TABLE ia.review (id serial PRIMARY KEY, book_id int REFERENCES ia.book (id), body text NOT NULL);
INSERT INTO ia.author (name) SELECT 'a' || g FROM generate_series(1, 5000) g;
INSERT INTO ia.publisher (name) SELECT 'p' || g FROM generate_series(1, 500) g;
INSERT INTO ia.book (author_id, publisher_id, title)
    SELECT g % 5000 + 1, g % 500 + 1, 't' || g FROM generate_series(1, 100000) g;
INSERT INTO ia.review (book_id, body) SELECT g % 100000 + 1, 'r' || g FROM generate_series(1, 200000) g;
"#;

/// (name, calls, sql, every index the peer expects: (table, columns)).
type AllOf = (
    &'static str,
    usize,
    fn(usize) -> String,
    &'static [(&'static str, &'static [&'static str])],
);

fn supabase_cases() -> Vec<AllOf> {
    vec![
        (
            "integration_issue_1",
            20,
            |i| format!("SELECT * FROM ia.book_meta WHERE id = {}", i + 1),
            &[("ia.book_meta", &["id"])],
        ),
        (
            "multi_index",
            20,
            |i| {
                format!(
            "SELECT book.id, book.title, publisher.name AS publisher_name, author.name AS author_name, \
             review.body review_body FROM ia.book JOIN ia.publisher ON book.publisher_id = publisher.id \
             JOIN ia.author ON book.author_id = author.id JOIN ia.review ON book.id = review.book_id \
             WHERE author.id = {} AND publisher.id = {}", i * 10 + 1, (i * 10) % 500 + 1)
            },
            &[
                ("ia.book", &["author_id"]),
                ("ia.book", &["publisher_id"]),
                ("ia.review", &["book_id"]),
            ],
        ),
    ]
}

/// How many of each case's expected indexes are among the statement's recommendations. An index
/// holding the expected column among its keys counts: in multi_index both book columns are
/// equality filters of the statement (author_id = $1, publisher_id = $2 through the joins), and
/// OptiDB's one composite (author_id, publisher_id) serves both where the peer proposes two.
fn check_all_of(recs: &[Recommendation], cases: &[AllOf]) -> Result<(usize, usize)> {
    let (mut found, mut expected) = (0, 0);
    for (name, _, sql, wants) in cases {
        let qid = optidb_core::sql::fingerprint_only(&sql(1))?;
        let mine = for_query(recs, &qid);
        for (table, cols) in *wants {
            expected += 1;
            let hit = mine.iter().any(|r| {
                matches!(r.rec_type, RecType::MissingIndex | RecType::CompositeIndex)
                    && r.target.table == *table
                    && cols
                        .iter()
                        .all(|c| r.target.columns.iter().any(|rc| rc == c))
            });
            found += usize::from(hit);
            eprintln!(
                "[supabase] {name}: {table} ({}) {}",
                cols.join(", "),
                if hit { "found" } else { "not proposed" }
            );
        }
        for r in &mine {
            eprintln!(
                "[supabase] {name}:   got {} {} ({})",
                r.rec_type.as_str(),
                r.target.table,
                r.target.columns.join(", ")
            );
        }
    }
    eprintln!("[supabase] {found} of {expected} expected indexes proposed");
    Ok((found, expected))
}

type Case = (
    &'static str,
    &'static str,
    usize,
    fn(usize) -> String,
    Option<(RecType, &'static str, &'static [&'static str])>,
);

fn breadth_cases() -> Vec<Case> {
    vec![
        (
            "sort",
            "deals_top_amounts",
            20,
            |_| "SELECT id, amount FROM \"Deals\" ORDER BY amount DESC LIMIT 10".into(),
            Some((RecType::MissingIndex, "public.Deals", &["amount"])),
        ),
        (
            "sort",
            "feed_top_by_alias",
            20,
            |_| "SELECT id, score AS s FROM feed ORDER BY s DESC LIMIT 10".into(),
            Some((RecType::MissingIndex, "public.feed", &["score"])),
        ),
        (
            "sort",
            "deals_mixed_directions",
            20,
            |_| "SELECT id FROM \"Deals\" ORDER BY \"createdAt\" DESC, amount LIMIT 10".into(),
            Some((
                RecType::CompositeIndex,
                "public.Deals",
                &["\"createdAt\"", "amount DESC"],
            )),
        ),
        (
            "sort",
            "deals_stage_page",
            20,
            |i| {
                format!("SELECT id FROM \"Deals\" WHERE \"Stage\" = 'open' ORDER BY amount LIMIT 20 OFFSET {}", i * 20 % 400)
            },
            Some((
                RecType::CompositeIndex,
                "public.Deals",
                &["\"Stage\"", "amount"],
            )),
        ),
        (
            "orm",
            "deals_of_accounts_any",
            30,
            |i| {
                format!("SELECT id, amount FROM \"Deals\" WHERE \"accountId\" = ANY('{{{},{},{}}}'::int[])", i, i + 7, i + 13)
            },
            Some((RecType::MissingIndex, "public.Deals", &["\"accountId\""])),
        ),
        (
            "orm",
            "deals_of_accounts_in",
            30,
            |i| {
                format!(
                    "SELECT id FROM \"Deals\" d WHERE d.\"accountId\" IN ({}, {})",
                    i + 100,
                    i + 200
                )
            },
            Some((RecType::MissingIndex, "public.Deals", &["\"accountId\""])),
        ),
        (
            "waste",
            "feed_user_blog",
            30,
            |i| {
                format!(
                    "SELECT id FROM feed WHERE user_id = 3 AND blog_id = {}",
                    (i % 200) * 10 + 3
                )
            },
            Some((
                RecType::CompositeIndex,
                "public.feed",
                &["blog_id", "user_id"],
            )),
        ),
        (
            "partition",
            "readings_of_sensor_week",
            30,
            |i| {
                format!("SELECT at, value FROM readings WHERE sensor = {} AND at >= '2024-02-{:02}' AND at < '2024-02-{:02}'", i % 800, i % 20 + 1, i % 20 + 8)
            },
            Some((
                RecType::CompositeIndex,
                "public.readings",
                &["sensor", "at"],
            )),
        ),
        // Controls.
        (
            "kinds",
            "docs_containing",
            20,
            |i| {
                format!(
                    "SELECT id FROM docs WHERE meta @> '{{\"kind\": \"k{}\"}}'",
                    i % 500
                )
            },
            Some((RecType::MissingIndex, "public.docs", &["meta"])),
        ),
        // Small tables: 8,000 rows looked up thousands of times (an index by evidence, well over
        // 5% of the time), and 3,000 rows looked up a few times (none).
        (
            "small",
            "rate_of_code_hot",
            2500,
            |i| format!("SELECT rate FROM rates WHERE code = 'C{}'", i % 3000 + 1),
            Some((RecType::MissingIndex, "public.rates", &["code"])),
        ),
        (
            "control",
            "tier_of_code_cold",
            10,
            |i| format!("SELECT label FROM tiers WHERE code = 'T{}'", i + 1),
            None,
        ),
        (
            "control",
            "deal_by_id",
            30,
            |i| format!("SELECT * FROM \"Deals\" WHERE id = {}", i * 31 + 1),
            None,
        ),
        (
            "control",
            "deals_per_stage",
            4,
            |_| "SELECT \"Stage\", count(*) FROM \"Deals\" GROUP BY 1".into(),
            None,
        ),
        (
            "control",
            "deals_won_count",
            4,
            |_| "SELECT count(*) FROM \"Deals\" WHERE \"Stage\" = 'won'".into(),
            None,
        ),
        (
            "control",
            "feed_user_in_index_order",
            30,
            |i| {
                format!(
                    "SELECT id FROM feed WHERE user_id = {} ORDER BY user_id LIMIT 5",
                    i % 10
                )
            },
            None,
        ),
        (
            "control",
            "readings_month_average",
            // Enough calls for the sampler to catch a real-value sample: a generic plan of a
            // range over unknown values assumes it is selective.
            16,
            |i| {
                format!("SELECT avg(value) FROM readings WHERE at >= '2024-0{}-01' AND at < '2024-0{}-01'", i % 2 + 1, i % 2 + 2)
            },
            None,
        ),
    ]
}

fn peer_cases() -> Vec<Case> {
    vec![
        (
            "dexter",
            "basic_index",
            20,
            |i| format!("SELECT * FROM posts WHERE id = {}", i + 1),
            Some((RecType::MissingIndex, "public.posts", &["id"])),
        ),
        (
            "dexter",
            "basic_no_index",
            3,
            |_| "SELECT * FROM posts".into(),
            None,
        ),
        (
            "dexter",
            "multicolumn_order",
            20,
            |i| {
                format!(
                    "SELECT * FROM posts WHERE user_id = {} ORDER BY blog_id LIMIT 1000",
                    i % 10
                )
            },
            Some((
                RecType::CompositeIndex,
                "public.posts",
                &["user_id", "blog_id"],
            )),
        ),
        (
            "dexter",
            "view",
            20,
            |i| format!("SELECT * FROM posts_view WHERE view_id = {}", i + 1),
            Some((RecType::MissingIndex, "public.posts", &["id"])),
        ),
        (
            "dexter",
            "materialized_view",
            20,
            |i| format!("SELECT * FROM posts_materialized WHERE id = {}", i + 1),
            Some((RecType::MissingIndex, "public.posts_materialized", &["id"])),
        ),
        (
            "dexter",
            "cte",
            20,
            |i| {
                format!(
                    "WITH cte AS (SELECT * FROM posts WHERE id = {}) SELECT * FROM cte",
                    i + 1
                )
            },
            Some((RecType::MissingIndex, "public.posts", &["id"])),
        ),
        (
            "dexter",
            "cte_fence",
            20,
            |i| {
                format!(
                    "WITH cte AS (SELECT * FROM posts) SELECT * FROM cte WHERE id = {}",
                    i + 1
                )
            },
            Some((RecType::MissingIndex, "public.posts", &["id"])),
        ),
        (
            "dexter",
            "materialized_cte",
            3,
            |i| {
                format!("WITH cte AS MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = {}", i + 1)
            },
            None,
        ),
        (
            "dexter",
            "not_materialized_cte",
            20,
            |i| {
                format!("WITH cte AS NOT MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = {}", i + 1)
            },
            Some((RecType::MissingIndex, "public.posts", &["id"])),
        ),
        (
            "dexter",
            "order",
            20,
            |_| "SELECT * FROM posts ORDER BY user_id DESC LIMIT 10".into(),
            Some((RecType::MissingIndex, "public.posts", &["user_id"])),
        ),
        (
            "dexter",
            "order_multiple",
            20,
            |_| "SELECT * FROM posts ORDER BY user_id, blog_id LIMIT 10".into(),
            Some((
                RecType::CompositeIndex,
                "public.posts",
                &["user_id", "blog_id"],
            )),
        ),
        (
            "dexter",
            "order_multiple_direction",
            20,
            |_| "SELECT * FROM posts ORDER BY user_id DESC, blog_id LIMIT 10".into(),
            Some((
                RecType::CompositeIndex,
                "public.posts",
                &["user_id", "blog_id DESC"],
            )),
        ),
        (
            "dexter",
            "schema",
            20,
            |i| format!("SELECT * FROM \"Bar\".\"Foo\" WHERE \"Id\" = {}", 10000 + i),
            Some((RecType::MissingIndex, "Bar.Foo", &["\"Id\""])),
        ),
        ("dexter", "no_tables", 5, |_| "SELECT 1".into(), None),
        (
            "dexter",
            "indexed",
            20,
            |i| format!("SELECT * FROM posts WHERE indexed = {}", i + 1),
            None,
        ),
    ]
}

fn wants_of(cases: &[Case], prefix_ok: bool) -> Result<Vec<Want>> {
    cases
        .iter()
        .map(|(shape, name, _, sql, want)| {
            Ok(Want {
                name: format!("{shape}/{name}"),
                query_id: optidb_core::sql::fingerprint_only(&sql(1))?,
                rec_type: want.map(|w| w.0),
                table: want.map(|w| w.1.to_string()).unwrap_or_default(),
                columns: want
                    .map(|w| w.2.iter().map(|c| c.to_string()).collect())
                    .unwrap_or_default(),
                prefix_ok,
            })
        })
        .collect()
}

/// The breadth schema and the peers' corpus in one sandbox and one scan, each scored on its
/// own; every DDL built for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breadth_shapes_and_peer_cases() -> Result<()> {
    let sb = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sb.url();
    sb.batch_execute(BREADTH)?;
    sb.batch_execute(PEERS)?;
    sb.batch_execute(SUPABASE)?;
    // Statistics of the load reach pg_stat_user_tables when its session ends: analyze after.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    sb.batch_execute("ANALYZE")?;
    sb.batch_execute("SELECT pg_stat_statements_reset()")?;
    let breadth = breadth_cases();
    let peers = peer_cases();
    let mut breadth_wants = wants_of(&breadth, false)?;
    breadth_wants.push(Want {
        name: "prepared/feed_between".into(),
        query_id: optidb_core::sql::fingerprint_only(PREPARED)?,
        rec_type: Some(RecType::MissingIndex),
        table: "public.feed".into(),
        columns: vec!["posted_at".into()],
        prefix_ok: false,
    });
    // Dexter judges one statement at a time; OptiDB merges the workload, so a statement served
    // by a wider index (posts (user_id) by posts (user_id, blog_id)) is right.
    let peer_wants = wants_of(&peers, true)?;

    let store = tempfile::tempdir()?;
    let (u, path) = (url.clone(), store.path().to_path_buf());
    let d = tokio::task::spawn_blocking(move || {
        Daemon::start(
            &u,
            &path,
            // Plan every statement (the default plans the top 20 by total time).
            &["--sample-interval-ms", "20", "--sandbox", "--plans", "50"],
        )
    })
    .await?;
    let client = seed::connect(&url, "breadth-app").await?;
    // An SQL-level prepared statement: pg_stat_statements records the PREPARE text and counts
    // the EXECUTE calls under it.
    client.batch_execute(PREPARED).await?;
    for i in 0..30 {
        client
            .batch_execute(&format!(
                "EXECUTE feed_between('2024-03-{:02}', '2024-03-{:02} 06:00')",
                i % 28 + 1,
                i % 28 + 1
            ))
            .await?;
    }
    let all: Vec<Case> = breadth.iter().chain(peers.iter()).cloned().collect();
    let supabase = supabase_cases();
    let max = all.iter().map(|c| c.2).max().unwrap_or(0);
    for i in 0..max {
        for (_, _, calls, sql, _) in &all {
            if i < *calls {
                client.simple_query(&sql(i)).await?;
            }
        }
        for (_, calls, sql, _) in &supabase {
            if i < *calls {
                client.simple_query(&sql(i)).await?;
            }
        }
    }
    let scan_url = d.url("/scan");
    let a = tokio::task::spawn_blocking(move || post_empty(&scan_url)).await?;
    let a = a.map_err(|e| anyhow::anyhow!("POST /scan: {e}"))?;
    anyhow::ensure!(a.status == 200, "scan failed: {}\n{}", a.body, d.stderr());
    eprintln!("scan: {}", a.body);
    tokio::task::spawn_blocking(move || d.terminate()).await?;
    let s = Store::open(store.path())?;
    let (target, _) = s.targets()?.pop().context("a target")?;
    let recs = s.recommendations(&target)?;
    for d in s.dropped(&target)? {
        eprintln!(
            "dropped: {} {} ({}): {}",
            d.rec_type.as_str(),
            d.target.table,
            d.target.columns.join(", "),
            d.reason
        );
    }

    let (_, _, _, mut failures) = check("breadth", &recs, &breadth_wants);
    let (_, _, _, f) = check("peers", &recs, &peer_wants);
    failures.extend(f);
    let (found, expected) = check_all_of(&recs, &supabase)?;
    if found < expected {
        failures.push(format!(
            "supabase: {found} of {expected} expected indexes proposed"
        ));
    }
    let refused = optidb_e2e::ddl_refusals(&url, &recs).await?;
    anyhow::ensure!(
        refused.is_empty(),
        "PostgreSQL refused DDL the advisor emitted:\n{}",
        refused.join("\n")
    );
    anyhow::ensure!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    Ok(())
}
