//! The language server end to end with an independent client: headless Neovim (Debian's
//! `neovim`) runs the real `optidb-lsp` binary against a real `optidb daemon` that scanned a real
//! sandbox, and sees a live warning and a "why is this slow" hover on the slow statement.

use optidb_e2e::bin_path;
use std::process::Command;

#[test]
fn neovim_sees_a_live_warning_and_a_hover_on_a_slow_query() {
    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb: _sb,
    } = optidb_e2e::scanned_tickets(20, &[]);

    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("app.sql");
    // Line 1 (0-based) is the slow query, written the way an application would.
    std::fs::write(&sql, "-- the application's queries\nSELECT * FROM tickets WHERE buyer_id = :buyer;\n\nSELECT * FROM tickets WHERE id = $1;\n").unwrap();
    let out = dir.path().join("out.json");
    let status = Command::new("nvim")
        .args(["--headless", "-n", "-u", "NONE", "-i", "NONE", "-c"])
        .arg(format!(
            "luafile {}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/nvim/e2e.lua")
        ))
        .env("OPTIDB_LSP", bin_path("optidb-lsp"))
        .env("OPTIDB_DAEMON", &d.base)
        .env("SQL_FILE", &sql)
        .env("OUT_FILE", &out)
        .env("HOVER_LINE", "1")
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("nvim (Debian package neovim; scripts/setup.sh installs it)");
    assert!(status.success());
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("nvim wrote its findings"))
            .unwrap();
    assert!(seen["error"].is_null(), "{seen}");
    let diags = seen["diagnostics"].as_array().unwrap();
    let live = diags
        .iter()
        .find(|x| x["lnum"] == 1 && x["severity"] == 2)
        .unwrap_or_else(|| panic!("no warning on the slow statement: {seen}"));
    let msg = live["message"].as_str().unwrap();
    assert!(msg.contains("calls") && msg.contains("tickets"), "{msg}");
    assert_eq!(live["col"], 0);
    assert!(
        diags.iter().all(|x| x["lnum"] != 3 || x["severity"] != 2),
        "the primary-key lookup gets no warning: {seen}"
    );
    let hover = seen["hover"]
        .as_str()
        .unwrap_or_else(|| panic!("no hover: {seen}"));
    assert!(hover.contains("ms") && hover.contains("tickets"), "{hover}");
    let recs = optidb_e2e::get(&d.url("/bottlenecks")).unwrap().body;
    assert!(
        hover.to_lowercase().contains("create index"),
        "the hover shows the fix: {hover}\ndaemon: {recs}"
    );
}
