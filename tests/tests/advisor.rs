//! The advisor end to end: the real `optidb daemon` binary (fast sampler, started before the
//! workload) scans a sandbox PostgreSQL after a workload ran, and the store it leaves behind must
//! hold the expected recommendation at the top for each planted problem and none for the
//! negative controls — on the demo seed (seed/expected.toml) and on a second, differently named
//! schema written here (a lending library), so nothing is tuned to the seed. The seed runs the
//! demo's way (a sandbox: samples EXPLAIN ANALYZEd), the library the production way (the
//! least-privileged role: samples never executed). Prints precision, recall and the share of top
//! index recommendations whose hypopg-estimated improvement is above 30%.

use anyhow::{Context, Result};
use optidb::analyze::advisor::for_query;
use optidb::http::views::Bottleneck;
use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb::seed::{self, FindingType, SeedOptions};
use optidb::store::Store;
use optidb_core::model::{RecType, Recommendation};
use optidb_e2e::{bin_path, post_empty, Daemon};

/// The sandbox tests load hundreds of thousands of rows: one at a time on the CI's two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the advisor must find for one statement.
#[derive(Debug, Clone)]
struct Want {
    name: String,
    query_id: String,
    /// `None`: a negative control (no recommendation at all).
    rec_type: Option<RecType>,
    /// Anomaly patterns: no index recommendation, anything else allowed.
    no_index_only: bool,
    /// Findings in time the statement must carry (`contention` …), and the blocker a
    /// contention finding must name.
    tags: Vec<String>,
    blocker: Option<String>,
    table: String,
    columns: Vec<String>,
    using: Option<String>,
}

#[derive(Default)]
struct Score {
    tp: usize,
    fp: usize,
    positives: usize,
    index_top: usize,
    index_top_over_30: usize,
    index_top_verified: usize,
    failures: Vec<String>,
}

fn check(label: &str, recs: &[Recommendation], wants: &[Want]) -> Score {
    let mut s = Score::default();
    for w in wants {
        let mine = for_query(recs, &w.query_id);
        let show = |r: &Recommendation| {
            format!(
                "{} {} ({}) using {:?} conf {:.2} score {:.1}",
                r.rec_type.as_str(),
                r.target.table,
                r.target.columns.join(", "),
                r.target.using,
                r.confidence,
                r.score
            )
        };
        eprintln!(
            "[{label}] {:<28} -> {}",
            w.name,
            mine.first()
                .map(|r| show(r))
                .unwrap_or_else(|| "(none)".into())
        );
        if let Some(r) = mine.first() {
            eprintln!(
                "    ddl: {}\n    why: {}\n    risk: {}",
                r.ddl, r.rationale, r.risk
            );
        }
        if w.no_index_only {
            let bad: Vec<_> = mine
                .iter()
                .filter(|r| matches!(r.rec_type, RecType::MissingIndex | RecType::CompositeIndex))
                .collect();
            if !bad.is_empty() {
                s.fp += bad.len();
                s.failures.push(format!(
                    "{}: must get no index, got {}",
                    w.name,
                    show(bad[0])
                ));
            }
            continue;
        }
        let Some(t) = w.rec_type else {
            if !mine.is_empty() {
                s.fp += mine.len();
                s.failures
                    .push(format!("{} (control): got {}", w.name, show(mine[0])));
            }
            continue;
        };
        s.positives += 1;
        let Some(top) = mine.first() else {
            s.failures.push(format!("{}: no recommendation", w.name));
            continue;
        };
        let using_ok = match (&w.using, &top.target.using) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(a), None) => a == "btree",
        };
        if top.rec_type == t
            && top.target.table == w.table
            && top.target.columns == w.columns
            && using_ok
        {
            s.tp += 1;
            if matches!(t, RecType::MissingIndex | RecType::CompositeIndex) {
                s.index_top += 1;
                if let Some(v) = &top.verification {
                    s.index_top_verified += 1;
                    if v.improvement_pct > 30.0 {
                        s.index_top_over_30 += 1;
                    }
                }
            }
        } else {
            s.fp += 1;
            s.failures.push(format!(
                "{}: want {} {} ({}) using {:?}, top is {}",
                w.name,
                t.as_str(),
                w.table,
                w.columns.join(", "),
                w.using,
                show(top)
            ));
        }
    }
    // Everything else the advisor said: recommendations that are nobody's top for a pattern.
    let tops: Vec<&str> = wants
        .iter()
        .filter_map(|w| {
            for_query(recs, &w.query_id)
                .first()
                .map(|r| r.rec_id.as_str())
        })
        .collect();
    let extra: Vec<&Recommendation> = recs
        .iter()
        .filter(|r| !tops.contains(&r.rec_id.as_str()))
        .collect();
    eprintln!(
        "[{label}] {} recommendations stored, {} not the top one of any pattern",
        recs.len(),
        extra.len()
    );
    for r in extra {
        eprintln!(
            "[{label}]   extra: {} {} ({}) for {:?}",
            r.rec_type.as_str(),
            r.target.table,
            r.target.columns.join(", "),
            r.query_ids
        );
    }
    let precision = s.tp as f64 / (s.tp + s.fp).max(1) as f64;
    let recall = s.tp as f64 / s.positives.max(1) as f64;
    eprintln!(
        "[{label}] precision {:.2} ({} / {}), recall {:.2} ({} / {}); top index recs verified \
         {} of {}, improvement > 30%: {} of {}",
        precision,
        s.tp,
        s.tp + s.fp,
        recall,
        s.tp,
        s.positives,
        s.index_top_verified,
        s.index_top,
        s.index_top_over_30,
        s.index_top_verified
    );
    s
}

async fn assert_ddl_builds(url: &str, recs: &[Recommendation]) -> Result<()> {
    let refused = optidb_e2e::ddl_refusals(url, recs).await?;
    anyhow::ensure!(
        refused.is_empty(),
        "PostgreSQL refused DDL the advisor emitted:\n{}",
        refused.join("\n")
    );
    Ok(())
}

fn assert_score(label: &str, s: &Score) {
    assert!(
        s.failures.is_empty(),
        "[{label}] failures:\n{}",
        s.failures.join("\n")
    );
    // Every verified top index recommendation must be a clear win; at least 80% above 30%.
    assert!(
        s.index_top_over_30 * 5 >= s.index_top_verified * 4,
        "[{label}] only {} of {} verified top index recommendations improve > 30%",
        s.index_top_over_30,
        s.index_top_verified
    );
}

/// How the daemon connects for a test.
#[derive(Debug, Clone, Copy)]
enum Login {
    /// The demo's way: the superuser of a throwaway sandbox (`--sandbox`), so samples are
    /// EXPLAIN ANALYZEd and plans carry actual rows.
    Sandbox,
    /// The production way: the least-privileged `optidb` role of `optidb setup-sql`, plans
    /// through the helper, samples planned but never executed.
    LeastPrivileged,
}

/// Scans with a daemon that was sampling during `workload`, stops it, and reads the store.
async fn scan_around<F, Fut>(sb: &Sandbox, login: Login, workload: F) -> Result<Scanned>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let store = tempfile::tempdir()?;
    let url2 = match login {
        Login::Sandbox => sb.url(),
        Login::LeastPrivileged => sb.optidb_url()?,
    };
    let args: &[&str] = match login {
        Login::Sandbox => &["--sample-interval-ms", "20", "--sandbox"],
        Login::LeastPrivileged => &["--sample-interval-ms", "20"],
    };
    let path = store.path().to_path_buf();
    let d = tokio::task::spawn_blocking(move || Daemon::start(&url2, &path, args)).await?;
    workload().await?;
    let scan_url = d.url("/scan");
    let a = tokio::task::spawn_blocking(move || post_empty(&scan_url)).await?;
    let a = a.map_err(|e| anyhow::anyhow!("POST /scan: {e}"))?;
    anyhow::ensure!(a.status == 200, "scan failed: {}\n{}", a.body, d.stderr());
    eprintln!("scan: {}", a.body);
    // The CLI's view of the same scan: `optidb bottlenecks --tag contention --json`.
    let base = d.url("");
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin_path("optidb"))
            .args([
                "bottlenecks",
                "--tag",
                "contention",
                "--json",
                "--limit",
                "100",
            ])
            .args(["--daemon", &base])
            .output()
    })
    .await??;
    anyhow::ensure!(
        cli.status.success(),
        "optidb bottlenecks --tag contention: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout)?;
    let contention_ids: Vec<String> = cli
        .as_array()
        .context("a JSON array")?
        .iter()
        .filter_map(|r| r["query_id"].as_str().map(str::to_string))
        .collect();
    // And `POST /chat` "why is query X slow?" for each of them.
    let mut chats = Vec::new();
    for id in &contention_ids {
        let url = d.url("/chat");
        let body = serde_json::json!({ "question": format!("why is query {id} slow?") });
        let a = tokio::task::spawn_blocking(move || optidb_e2e::post_json(&url, &body))
            .await?
            .map_err(|e| anyhow::anyhow!("POST /chat: {e}"))?;
        chats.push((id.clone(), a.body));
    }
    // The dashboard: the list filtered on the tag shows each with its chip, and each query
    // page its wait profile.
    let url = d.url("/metrics");
    let metrics = tokio::task::spawn_blocking(move || optidb_e2e::get(&url))
        .await?
        .map_err(|e| anyhow::anyhow!("/metrics: {e}"))?
        .body
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut pages = Vec::new();
    if !contention_ids.is_empty() {
        let mut urls = vec![d.url("/?tag=contention")];
        urls.extend(
            contention_ids
                .iter()
                .map(|id| d.url(&format!("/ui/queries/{id}"))),
        );
        for url in urls {
            let page = tokio::task::spawn_blocking(move || optidb_e2e::get(&url)).await?;
            let page = page.map_err(|e| anyhow::anyhow!("dashboard: {e}"))?;
            pages.push(page.body.as_str().unwrap_or_default().to_string());
        }
    }
    tokio::task::spawn_blocking(move || d.terminate()).await?;
    let s = Store::open(store.path())?;
    let (target, _) = s.targets()?.pop().context("a target")?;
    let recs = s.recommendations(&target)?;
    let rows = optidb::http::views::bottlenecks(&s, &target, 1000)?;
    for r in &rows {
        if let Some(w) = s.latest_waits(&target, &r.query_id)? {
            eprintln!(
                "waits: {} samples: {} ({})",
                r.query_id,
                w.samples,
                w.summary()
            );
        }
    }
    // Every workload here is several kinds of work: at least two query families.
    let families = s
        .families(&target)?
        .context("families stored with the scan")?;
    let labels: Vec<&str> = families.families.iter().map(|f| f.label.as_str()).collect();
    eprintln!("families: {labels:?} ({})", families.criterion);
    anyhow::ensure!(labels.len() >= 2, "at least two families: {labels:?}");
    for d in s.dropped(&target)? {
        eprintln!(
            "dropped: {} {} ({}): {}",
            d.rec_type.as_str(),
            d.target.table,
            d.target.columns.join(", "),
            d.reason
        );
    }
    Ok(Scanned {
        recs,
        rows,
        contention_ids,
        chats,
        pages,
        metrics,
    })
}

/// What a scan left: the recommendations, the bottleneck rows, and the query ids
/// `optidb bottlenecks --tag contention --json` listed.
struct Scanned {
    recs: Vec<Recommendation>,
    rows: Vec<Bottleneck>,
    contention_ids: Vec<String>,
    /// `POST /chat` answers to "why is query X slow?" for each of those.
    chats: Vec<(String, serde_json::Value)>,
    /// The dashboard's HTML: the list filtered on `contention`, then each contended query's page.
    pages: Vec<String>,
    /// `GET /metrics` after the scan.
    metrics: String,
}

fn rec_type(k: &FindingType) -> Option<RecType> {
    match k {
        FindingType::MissingIndex => Some(RecType::MissingIndex),
        FindingType::CompositeIndex => Some(RecType::CompositeIndex),
        FindingType::Rewrite => Some(RecType::Rewrite),
        FindingType::RedundantIndex => Some(RecType::RedundantIndex),
        FindingType::Stats => Some(RecType::Stats),
        FindingType::Anomaly | FindingType::NoRecommendation => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_findings_are_at_the_top_and_controls_get_none() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let sb = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sb.url();
    seed::load(&url).await?;
    let workload = seed::workload()?;
    let mut wants = Vec::new();
    for f in seed::expected()? {
        let p = workload.get(&f.pattern).context("pattern")?;
        wants.push(Want {
            name: f.pattern.clone(),
            query_id: p.fingerprint()?,
            rec_type: rec_type(&f.kind),
            no_index_only: matches!(f.kind, FindingType::Anomaly),
            tags: f.tags.clone(),
            blocker: f.blocker.clone(),
            table: f.table.clone(),
            columns: f.columns.clone(),
            using: f.using.clone(),
        });
    }
    let u = url.clone();
    let Scanned {
        recs,
        rows,
        contention_ids,
        chats,
        pages,
        metrics,
    } = scan_around(&sb, Login::Sandbox, || async move {
        // Phase 1, then phase 2 (the same application while a batch job holds coupon rows)
        // at a smaller scale: enough lock waits for the sampler, little extra time.
        for (phase, calls_scale) in [(1, 0.2), (2, 0.25)] {
            let t = std::time::Instant::now();
            seed::run_workload(
                &u,
                &SeedOptions {
                    calls_scale,
                    phases: vec![phase],
                },
            )
            .await?
            .check()?;
            eprintln!("phase {phase}: {:.1} s", t.elapsed().as_secs_f64());
        }
        Ok(())
    })
    .await?;
    let s = check("seed", &recs, &wants);
    assert_ddl_builds(&url, &recs).await?;
    assert_score("seed", &s);
    check_tags(&rows, &contention_ids, &wants);
    for (id, a) in &chats {
        let text = a["answer"].as_str().unwrap_or("");
        eprintln!("[chat] {id}: {text}\n    citations: {}", a["citations"]);
        assert!(text.contains("waits on locks"), "{id}: {a}");
        let sources: Vec<&str> = a["citations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["source"].as_str())
            .collect();
        assert!(sources.contains(&"waits"), "{id}: {a}");
    }
    let tagged = format!(
        "optidb_tagged_queries{{tag=\"contention\"}} {}",
        contention_ids.len()
    );
    assert!(
        metrics.contains(&tagged),
        "{tagged} not in /metrics:\n{metrics}"
    );
    assert!(metrics.contains("optidb_lock_wait_share "), "{metrics}");
    if let Some((list, query_pages)) = pages.split_first() {
        for id in &contention_ids {
            assert!(
                list.contains(&format!("data-query-id=\"{id}\"")),
                "{id} not in the filtered list"
            );
        }
        assert!(
            list.contains("class=\"badge tag tag-contention\""),
            "no contention chip:\n{list}"
        );
        for (id, page) in contention_ids.iter().zip(query_pages) {
            assert!(
                page.contains("class=\"waitbar\""),
                "{id}: no wait profile bar"
            );
            assert!(
                page.contains("blocked by"),
                "{id}: no blocker on the query page"
            );
        }
    }
    Ok(())
}

/// Findings in time: each wanted tag is on its statement's bottleneck row; a `contention`
/// finding names the blocker, its reason (the headline) speaks of the lock wait and its
/// headline advice is no index; no negative control is tagged `contention`.
fn check_tags(rows: &[Bottleneck], cli_contention: &[String], wants: &[Want]) {
    let mut failures = Vec::new();
    for w in wants {
        let row = rows.iter().find(|r| r.query_id == w.query_id);
        let names: Vec<&str> = row
            .map(|r| r.tags.iter().map(|t| t.tag.as_str()).collect())
            .unwrap_or_default();
        if w.rec_type.is_none() && !w.no_index_only && names.contains(&"contention") {
            failures.push(format!("{} (control) is tagged contention", w.name));
        }
        if names.contains(&"contention") != cli_contention.contains(&w.query_id) {
            failures.push(format!(
                "{}: `optidb bottlenecks --tag contention` disagrees with the API",
                w.name
            ));
        }
        if w.tags.is_empty() {
            continue;
        }
        let Some(row) = row else {
            failures.push(format!("{}: not among the bottlenecks", w.name));
            continue;
        };
        eprintln!(
            "[tags] {}: {:?}\n    reason: {}\n    headline ddl: {:?}",
            w.name, names, row.reason, row.ddl
        );
        for want in &w.tags {
            if !names.contains(&want.as_str()) {
                failures.push(format!("{}: not tagged {want} (tags {names:?})", w.name));
            }
        }
        let Some(c) = row.tags.iter().find(|t| t.tag == "contention") else {
            continue;
        };
        eprintln!("    evidence: {}\n    detail: {}", c.evidence, c.detail);
        if let Some(b) = &w.blocker {
            if !c.evidence.contains(b.as_str()) {
                failures.push(format!(
                    "{}: the blocker {b} is not named: {}",
                    w.name, c.evidence
                ));
            }
        }
        if !row.reason.contains("lock") {
            failures.push(format!(
                "{}: the reason does not mention the lock wait: {}",
                w.name, row.reason
            ));
        }
        if row
            .ddl
            .as_deref()
            .is_some_and(optidb_core::model::ddl_creates_index)
        {
            failures.push(format!(
                "{}: an index is the headline: {:?}",
                w.name, row.ddl
            ));
        }
    }
    assert!(failures.is_empty(), "tags:\n{}", failures.join("\n"));
}

/// A lending library: nothing shares a name with the seed.
const LIBRARY: &str = "
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE branches (id int PRIMARY KEY, label text NOT NULL);
INSERT INTO branches SELECT g, 'Branch ' || g FROM generate_series(1, 12) g;
CREATE TABLE members (id int PRIMARY KEY, email text NOT NULL, full_name text NOT NULL,
    city text NOT NULL, joined_on date NOT NULL);
INSERT INTO members SELECT g, 'Reader' || g || '@City-Library.org', 'Reader ' || g,
    'city' || (g % 40), date '2015-01-01' + (g % 3000) FROM generate_series(1, 40000) g;
CREATE TABLE books (id int PRIMARY KEY, isbn text NOT NULL UNIQUE, title text NOT NULL,
    genre text NOT NULL, published_year int NOT NULL);
INSERT INTO books SELECT g, 'ISBN-' || g,
    (ARRAY['The Dragon','A Garden','River of','Stone Age','Night Watch'])[g % 5 + 1] || ' ' || g,
    'genre' || (g % 12), 1950 + (g % 70) FROM generate_series(1, 20000) g;
CREATE INDEX books_genre_idx ON books (genre);
CREATE INDEX books_genre_year_idx ON books (genre, published_year);
CREATE TABLE loans (id bigint PRIMARY KEY, member_id int NOT NULL, book_id int NOT NULL,
    loaned_at timestamptz NOT NULL, state text NOT NULL);
INSERT INTO loans SELECT g, (g::bigint * 7919) % 40000 + 1, (g::bigint * 104729) % 20000 + 1,
    timestamptz '2020-01-01' + (g * interval '7 minutes'),
    CASE WHEN g % 100 = 0 THEN 'lost' WHEN g % 100 < 5 THEN 'late' ELSE 'back' END
    FROM generate_series(1, 300000) g;
CREATE TABLE audit_trail (id bigint PRIMARY KEY, actor text NOT NULL, verb text NOT NULL,
    happened_at timestamptz NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO audit_trail SELECT g, 'staff' || (g % 5), 'view', timestamptz '2023-01-01' + g * interval '1 minute'
    FROM generate_series(1, 1000) g;
";

/// After ANALYZE: audit_trail grows 120× with autovacuum off, so its statistics are stale.
const LIBRARY_GROW: &str = "
INSERT INTO audit_trail SELECT g, 'staff' || (g % 60), (ARRAY['renew','return','fine'])[g % 3 + 1],
    timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1001, 121000) g;
SELECT pg_stat_statements_reset();
";

/// (name, calls, sql for call i, expected finding: (type, table, columns, using) or None).
type Pattern = (
    &'static str,
    usize,
    fn(usize) -> String,
    Option<(
        RecType,
        &'static str,
        &'static [&'static str],
        Option<&'static str>,
    )>,
);

fn library_patterns() -> Vec<Pattern> {
    vec![
        (
            "loans_of_member",
            40,
            |i| {
                format!(
                    "SELECT id, book_id, loaned_at FROM loans WHERE member_id = {}",
                    i * 997 % 40000 + 1
                )
            },
            Some((
                RecType::MissingIndex,
                "public.loans",
                &["member_id"],
                Some("btree"),
            )),
        ),
        (
            "lost_loans_queue",
            30,
            |i| {
                format!("SELECT id, member_id, loaned_at FROM loans WHERE state = 'lost' AND loaned_at < '2022-{:02}-01' ORDER BY loaned_at DESC LIMIT 10", i % 12 + 1)
            },
            Some((
                RecType::CompositeIndex,
                "public.loans",
                &["state", "loaned_at"],
                Some("btree"),
            )),
        ),
        (
            "member_login",
            30,
            |i| {
                format!("SELECT id, full_name FROM members WHERE lower(email) = 'reader{}@city-library.org'", i * 31 % 40000 + 1)
            },
            Some((
                RecType::MissingIndex,
                "public.members",
                &["lower(email)"],
                Some("btree"),
            )),
        ),
        (
            "title_search",
            40,
            |i| {
                format!(
                    "SELECT id, title FROM books WHERE title ILIKE '%dragon {}%'",
                    i * 13 % 9000 + 100
                )
            },
            Some((
                RecType::MissingIndex,
                "public.books",
                &["title"],
                Some("gin (gin_trgm_ops)"),
            )),
        ),
        (
            "genre_shelf",
            40,
            |i| {
                format!("SELECT id, title FROM books WHERE genre = 'genre{}' AND published_year >= {} ORDER BY published_year LIMIT 10", i % 12, 1960 + i % 50)
            },
            Some((RecType::RedundantIndex, "public.books", &["genre"], None)),
        ),
        (
            "book_popularity",
            4,
            |i| {
                format!("SELECT b.id, b.title, (SELECT count(*) FROM loans l WHERE l.book_id = b.id) AS times FROM books b WHERE b.id >= {} ORDER BY b.id LIMIT 4", i * 101 + 1)
            },
            Some((RecType::Rewrite, "public.loans", &["book_id"], None)),
        ),
        (
            "staff_activity",
            10,
            |i| {
                format!("SELECT verb, count(*) FROM audit_trail WHERE actor = 'staff{}' AND happened_at >= '2024-02-{:02}' GROUP BY verb", i % 60, i % 20 + 1)
            },
            Some((
                RecType::Stats,
                "public.audit_trail",
                &["actor", "happened_at"],
                None,
            )),
        ),
        // Controls.
        (
            "member_by_id",
            60,
            |i| {
                format!(
                    "SELECT id, full_name, city FROM members WHERE id = {}",
                    i * 7 + 1
                )
            },
            None,
        ),
        (
            "branch_by_label",
            60,
            |i| {
                format!(
                    "SELECT id FROM branches WHERE label = 'Branch {}'",
                    i % 12 + 1
                )
            },
            None,
        ),
        (
            "book_by_isbn",
            60,
            |i| {
                format!(
                    "SELECT id, title FROM books WHERE isbn = 'ISBN-{}'",
                    i * 3 + 1
                )
            },
            None,
        ),
        (
            "loans_since",
            6,
            |i| {
                format!(
                    "SELECT count(*) FROM loans WHERE loaned_at >= '2019-{:02}-01'",
                    i % 12 + 1
                )
            },
            None,
        ),
    ]
}

/// The library runs the production way (least-privileged role, samples never executed): the
/// findings must not depend on EXPLAIN ANALYZE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_schema_gets_its_findings_too() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let sb = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sb.url();
    sb.batch_execute(LIBRARY)?;
    // Statistics of the load reach pg_stat_user_tables when its session ends: analyze after.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    sb.batch_execute("ANALYZE")?;
    sb.batch_execute(LIBRARY_GROW)?;
    let patterns = library_patterns();
    let mut wants = Vec::new();
    for (name, _, sql, want) in &patterns {
        let query_id = optidb_core::sql::fingerprint_only(&sql(1))?;
        wants.push(match want {
            Some((t, table, cols, using)) => Want {
                name: name.to_string(),
                query_id,
                rec_type: Some(*t),
                no_index_only: false,
                tags: vec![],
                blocker: None,
                table: table.to_string(),
                columns: cols.iter().map(|c| c.to_string()).collect(),
                using: using.map(str::to_string),
            },
            None => Want {
                name: name.to_string(),
                query_id,
                rec_type: None,
                no_index_only: false,
                tags: vec![],
                blocker: None,
                table: String::new(),
                columns: vec![],
                using: None,
            },
        });
    }
    let u = url.clone();
    let Scanned { recs, .. } = scan_around(&sb, Login::LeastPrivileged, || async move {
        let client = seed::connect(&u, "library-app").await?;
        // Interleave the patterns as an application would.
        let max = patterns.iter().map(|p| p.1).max().unwrap_or(0);
        for i in 0..max {
            for (_, calls, sql, _) in &patterns {
                if i < *calls {
                    client.simple_query(&sql(i)).await?;
                }
            }
        }
        Ok(())
    })
    .await?;
    let s = check("library", &recs, &wants);
    assert_ddl_builds(&url, &recs).await?;
    assert_score("library", &s);
    Ok(())
}
