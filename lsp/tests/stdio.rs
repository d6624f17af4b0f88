//! The real `optidb-lsp` binary over stdio with Content-Length framing: initialize, open a
//! file, get diagnostics, shut down and exit cleanly. Nothing goes to stdout but protocol.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn send(w: &mut impl Write, v: Value) {
    let body = v.to_string();
    write!(w, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    w.flush().unwrap();
}

fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse::<usize>().ok();
        }
    }
    let mut buf = vec![0; len?];
    r.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

#[test]
fn binary_speaks_lsp_over_stdio() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_optidb-lsp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("optidb-lsp runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        while let Some(m) = read_message(&mut r) {
            if tx.send(m).is_err() {
                break;
            }
        }
    });
    let next = |pred: &dyn Fn(&Value) -> bool| loop {
        let m = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("message in time");
        if pred(&m) {
            return m;
        }
    };

    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"processId": null, "rootUri": null, "capabilities": {},
                          "initializationOptions": {"daemonUrl": ""}}}),
    );
    let init = next(&|m| m["id"] == 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "optidb-lsp");
    assert_eq!(
        init["result"]["capabilities"]["executeCommandProvider"]["commands"][0],
        "optidb.simulate"
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen",
               "params": {"textDocument": {"uri": "file:///a.sql", "languageId": "sql", "version": 1,
                          "text": "DELETE FROM sessions;\nSELEC 1;"}}}),
    );
    let diags = next(&|m| m["method"] == "textDocument/publishDiagnostics");
    let codes: Vec<&str> = diags["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["update_delete_without_where", "syntax_error"]);

    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}),
    );
    next(&|m| m["id"] == 2);
    send(&mut stdin, json!({"jsonrpc": "2.0", "method": "exit"}));
    drop(stdin);
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status:?}");
}
