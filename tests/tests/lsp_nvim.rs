//! The language server end to end with an independent client: headless Neovim (Debian's
//! `neovim`) loads the real plugin (editors/nvim), which runs the real `optidb-lsp` binary
//! against a real `optidb daemon` that scanned a real sandbox. In a SQL file and in Python,
//! TypeScript, Go and Rust files with the slow query in a string literal, Neovim sees the live
//! warning, the "why is this slow" hover, the code actions and the code lens.

use optidb_e2e::bin_path;
use serde_json::{json, Value};
use std::process::Command;

/// (file name, text, 0-based line of the slow statement, a column inside its SQL).
const FILES: &[(&str, &str, u32, u32)] = &[
    (
        "app.sql",
        "-- the application's queries\nSELECT * FROM tickets WHERE buyer_id = :buyer;\n\nSELECT * FROM tickets WHERE id = $1;\n",
        1,
        3,
    ),
    (
        "tickets.py",
        "def by_buyer(cur, buyer):\n    label = \"Select a buyer\"\n    cur.execute(\"SELECT * FROM tickets WHERE buyer_id = %s\", (buyer,))\n    return cur.fetchall()\n",
        2,
        20,
    ),
    (
        "tickets.ts",
        "export async function byBuyer(db: Pool, buyer: number) {\n  return db.query(\n    `SELECT * FROM tickets WHERE buyer_id = $1`,\n    [buyer],\n  );\n}\n",
        2,
        8,
    ),
    (
        "tickets.go",
        "package app\n\nfunc ByBuyer(db *sql.DB, buyer int) (*sql.Rows, error) {\n\treturn db.Query(\"SELECT * FROM tickets WHERE buyer_id = $1\", buyer)\n}\n",
        3,
        20,
    ),
    (
        "tickets.rs",
        "pub async fn by_buyer(pool: &PgPool, buyer: i64) {\n    let rows = sqlx::query!(\"SELECT * FROM tickets WHERE buyer_id = $1\", buyer)\n        .fetch_all(pool)\n        .await;\n}\n",
        1,
        32,
    ),
];

#[test]
fn neovim_sees_live_findings_in_sql_and_in_application_code() {
    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb: _sb,
    } = optidb_e2e::scanned_tickets(20, &[]);

    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (name, text, line, col) in FILES {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        cases.push(json!({"file": path, "line": line, "col": col}));
    }
    let out = dir.path().join("out.json");
    let status = Command::new("nvim")
        .args(["--headless", "-n", "-u", "NONE", "-i", "NONE", "-c"])
        .arg(format!(
            "luafile {}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/nvim/e2e.lua")
        ))
        .current_dir(dir.path())
        .env("OPTIDB_LSP", bin_path("optidb-lsp"))
        .env("OPTIDB_DAEMON", &d.base)
        .env(
            "OPTIDB_PLUGIN",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../editors/nvim"),
        )
        .env("CASES", Value::Array(cases).to_string())
        .env("OUT_FILE", &out)
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("nvim (Debian package neovim; scripts/setup.sh installs it)");
    assert!(status.success());
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("nvim wrote its findings"))
            .unwrap();
    assert!(seen["error"].is_null(), "{seen}");
    let recs = optidb_e2e::get(&d.url("/bottlenecks")).unwrap().body;
    let cases = seen["cases"].as_array().unwrap();
    assert_eq!(cases.len(), FILES.len());
    for (case, (name, text, line, _)) in cases.iter().zip(FILES) {
        let diags = case["diagnostics"].as_array().unwrap();
        let live = diags
            .iter()
            .find(|x| x["lnum"] == *line && x["severity"] == 2)
            .unwrap_or_else(|| panic!("{name}: no warning on the slow statement: {case}"));
        let msg = live["message"].as_str().unwrap();
        assert!(
            msg.contains("calls") && msg.contains("tickets"),
            "{name}: {msg}"
        );
        // The warning starts exactly where the SQL starts in the file.
        let sql_col = text
            .lines()
            .nth(*line as usize)
            .unwrap()
            .find("SELECT")
            .unwrap();
        assert_eq!(live["col"], sql_col, "{name}: {case}");
        assert!(
            diags
                .iter()
                .all(|x| x["lnum"] == *line || x["severity"] != 2),
            "{name}: only the slow statement gets a warning: {case}"
        );
        let hover = case["hover"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no hover: {case}"));
        assert!(
            hover.contains("ms") && hover.to_lowercase().contains("create index"),
            "{name}: the hover shows the fix: {hover}\ndaemon: {recs}"
        );
        let actions: Vec<&str> = case["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            actions
                .iter()
                .any(|a| a.starts_with("Copy DDL: CREATE INDEX"))
                && actions.iter().any(|a| a.starts_with("Simulate")),
            "{name}: {actions:?}"
        );
        let lens = case["lenses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["line"] == *line)
            .unwrap_or_else(|| panic!("{name}: no code lens on the slow statement: {case}"));
        let title = lens["title"].as_str().unwrap();
        assert!(
            title.contains(" calls · ") && title.contains(" total"),
            "{name}: {title}"
        );
    }
    assert_eq!(cases[1]["filetype"], "python");
}
