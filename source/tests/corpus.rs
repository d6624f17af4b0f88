//! SQL found in application code, measured the way an outsider would: a generated source tree
//! in every host language mixing ordinary strings that look like SQL to a careless eye (UI text
//! starting with "Select", "Update", "Delete"; strings passed to calls named like database
//! calls) with real statements at the call sites drivers use. Every real statement must be
//! found on its exact text (recall), nothing else may be (precision), and ordinary strings must
//! produce no diagnostic at all. Then the same analyzer over a real code base nobody here wrote:
//! the Python standard library, when the machine has it.

use optidb_source::{workspace, Analyzer, Lang};
use std::fmt::Write as _;

/// Text that is not SQL, however it starts.
const ORDINARY: &[&str] = &[
    "Select a file to upload",
    "Update available: restart to apply",
    "Delete this item?",
    "Create account",
    "with love from the team",
    "Values must be positive",
    "Table of contents",
    "select",
    "update",
    "DELETE",
    "Drop us a line at hello@example.com",
    "Alter ego",
    "Copy to clipboard",
    "Truncate text after 80 characters",
    "Merge requests are welcome",
    "Explain the error to the user",
    "Insert coin",
    "SELECT the rows you want, then press Delete",
    "Create tarfile from sources",
    "update users set the flag",
    "select from the menu below",
    "https://example.com/select?from=where",
    "^(select|update)\\s+\\w+$",
    "{\"select\": \"from\", \"where\": 1}",
    "/var/lib/select/from/table",
    "with",
    "drop",
    "values",
    "table header",
];

/// Real statements (text as the program builds it) and their driver placeholder.
const SQL: &[&str] = &[
    "SELECT * FROM tickets WHERE buyer_id = {p}",
    "SELECT id, total FROM orders WHERE customer_id = {p} ORDER BY created_at DESC LIMIT 20",
    "UPDATE coupons SET redeemed = true WHERE code = {p}",
    "INSERT INTO events (kind, payload) VALUES ({p}, {p})",
    "DELETE FROM sessions WHERE expires_at < now()",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT count(*) FROM recent",
];

struct Host {
    lang: Lang,
    ext: &'static str,
    /// An ordinary call taking a string (logging, UI).
    plain_call: fn(&str) -> String,
    /// A call named like a database call, given a non-SQL string.
    db_named_call: fn(&str) -> String,
    /// The driver's SQL call.
    sql_call: fn(&str) -> String,
    placeholder: &'static str,
    /// Wraps the body into a compilable file.
    wrap: fn(&str) -> String,
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn hosts() -> Vec<Host> {
    vec![
        Host {
            lang: Lang::Python,
            ext: "py",
            plain_call: |s| format!("    log.info({})\n", q(s)),
            db_named_call: |s| format!("    cache.get({})\n", q(s)),
            sql_call: |s| format!("    cur.execute({}, params)\n", q(s)),
            placeholder: "%s",
            wrap: |b| format!("def f(cur, log, cache, params):\n{b}    return None\n"),
        },
        Host {
            lang: Lang::TypeScript,
            ext: "ts",
            plain_call: |s| format!("  console.log({});\n", q(s)),
            db_named_call: |s| format!("  router.get({}, handler);\n", q(s)),
            sql_call: |s| format!("  await db.query({}, params);\n", q(s)),
            placeholder: "$1",
            wrap: |b| {
                format!("export async function f(db: any, router: any, handler: any, params: any[]) {{\n{b}}}\n")
            },
        },
        Host {
            lang: Lang::JavaScript,
            ext: "js",
            plain_call: |s| format!("  alert(`{s}`);\n"),
            db_named_call: |s| format!("  $(document).one({}, cb);\n", q(s)),
            sql_call: |s| format!("  await pool.query(`{s}`, params);\n"),
            placeholder: "$1",
            wrap: |b| format!("async function f(pool, cb, params) {{\n{b}}}\n"),
        },
        Host {
            lang: Lang::Go,
            ext: "go",
            plain_call: |s| format!("\tfmt.Println({})\n", q(s)),
            db_named_call: |s| format!("\tflag.Get({})\n", q(s)),
            sql_call: |s| format!("\tdb.QueryRow({}, id)\n", q(s)),
            placeholder: "$1",
            wrap: |b| format!("package app\n\nfunc f(db *sql.DB, id int) {{\n{b}}}\n"),
        },
        Host {
            lang: Lang::Rust,
            ext: "rs",
            plain_call: |s| format!("    println!({});\n", q(s)),
            db_named_call: |s| format!("    map.get({});\n", q(s)),
            sql_call: |s| {
                format!(
                    "    sqlx::query({}).bind(id).fetch_all(pool).await?;\n",
                    q(s)
                )
            },
            placeholder: "$1",
            wrap: |b| {
                format!(
                    "pub async fn f(pool: &PgPool, id: i64) -> Result<()> {{\n{b}    Ok(())\n}}\n"
                )
            },
        },
        Host {
            lang: Lang::Java,
            ext: "java",
            plain_call: |s| format!("    System.out.println({});\n", q(s)),
            db_named_call: |s| format!("    map.get({});\n", q(s)),
            sql_call: |s| format!("    jdbcTemplate.queryForList({}, id);\n", q(s)),
            placeholder: "?",
            wrap: |b| format!("class A {{\n  void f(long id) {{\n{b}  }}\n}}\n"),
        },
        Host {
            lang: Lang::Kotlin,
            ext: "kt",
            plain_call: |s| format!("    println({})\n", q(s)),
            db_named_call: |s| format!("    map.get({})\n", q(s)),
            sql_call: |s| format!("    jdbc.update({}, id)\n", q(s)),
            placeholder: "?",
            wrap: |b| format!("fun f(id: Long) {{\n{b}}}\n"),
        },
        Host {
            lang: Lang::Ruby,
            ext: "rb",
            plain_call: |s| format!("  puts({})\n", q(s)),
            db_named_call: |s| format!("  params.select({})\n", q(s)),
            sql_call: |s| format!("  Ticket.find_by_sql([{}, id])\n", q(s)),
            placeholder: "?",
            wrap: |b| format!("def f(id)\n{b}end\n"),
        },
    ]
}

#[test]
fn generated_tree_precision_and_recall_in_every_language() {
    let analyzer = Analyzer::default();
    let (mut expected, mut found, mut false_positives) = (0, 0, 0);
    let mut report = String::new();
    for h in hosts() {
        // ~1,000 ordinary strings and every statement, interleaved, per file.
        let mut body = String::new();
        let mut want = Vec::new();
        for round in 0..18 {
            for (i, o) in ORDINARY.iter().enumerate() {
                let text = format!("{o}{}", if (round + i) % 3 == 0 { "" } else { " " });
                body.push_str(&(h.plain_call)(&text));
                body.push_str(&(h.db_named_call)(&text));
            }
            for s in SQL {
                let sql = s.replace("{p}", h.placeholder);
                body.push_str(&(h.sql_call)(&sql));
                want.push(sql);
            }
        }
        let src = (h.wrap)(&body);
        let a = analyzer.analyze(h.lang, &src);
        let got: Vec<&str> = a.statements.iter().map(|s| &src[s.start..s.end]).collect();
        expected += want.len();
        let mut lang_found = 0;
        for g in &got {
            if want.iter().any(|w| w == g) {
                lang_found += 1;
            } else {
                false_positives += 1;
            }
        }
        found += lang_found;
        writeln!(
            report,
            "{}: {} strings, {} statements expected, {} found, {} others",
            h.ext,
            ORDINARY.len() * 2 * 18 + want.len(),
            want.len(),
            lang_found,
            got.len() - lang_found
        )
        .unwrap();
        assert_eq!(got.len(), want.len(), "{}: {:?}", h.ext, got);
        assert!(a.findings.is_empty(), "{}: {:?}", h.ext, a.findings);
        for st in &a.statements {
            assert!(st.facts.syntax_error.is_none(), "{}: {st:?}", h.ext);
            assert!(st.facts.fingerprint.is_some());
        }
    }
    println!("{report}recall {found}/{expected}, false positives {false_positives}");
    assert_eq!((found, false_positives), (expected, 0));
}

/// The Python standard library (Debian's python3.11, 600+ files, ~11 MB): the only SQL in it is
/// in `sqlite3/`; nothing else may be taken for SQL.
#[test]
fn the_python_standard_library_is_not_taken_for_sql() {
    let Some(root) = [
        "/usr/lib/python3.11",
        "/usr/lib/python3.12",
        "/usr/lib/python3.13",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.join("os.py").exists()) else {
        println!("skipped: no Python standard library under /usr/lib");
        return;
    };
    let walk = workspace::walk(std::slice::from_ref(&root), 100_000);
    let analyzer = Analyzer::default();
    let mut sql_files = std::collections::BTreeSet::new();
    let mut files = 0;
    for f in walk.files.iter().filter(|f| f.lang == Lang::Python) {
        let Ok(workspace::Content::Text(text)) = workspace::read(&f.path) else {
            continue;
        };
        files += 1;
        let a = analyzer.analyze(f.lang, &text);
        if !a.statements.is_empty() || !a.findings.is_empty() {
            sql_files.insert(f.path.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    println!("{files} files; SQL found in {sql_files:?}");
    assert!(files > 300, "{files}");
    assert!(
        sql_files.iter().all(|f| f.starts_with("sqlite3/")),
        "{sql_files:?}"
    );
}
