//! The real `optidb-lsp` binary over stdio with Content-Length framing: initialize, open a
//! file, get diagnostics, shut down and exit cleanly. Nothing goes to stdout but protocol.
//! Malformed messages are answered with a JSON-RPC error and the next message is served;
//! `exit` stops the process at once (code 0 after `shutdown`, 1 without).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// The binary with its stdin, its messages (read on a thread) and its stderr (collected).
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<Value>,
    stderr: mpsc::Receiver<String>,
}

impl Lsp {
    fn start() -> Lsp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_optidb-lsp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("optidb-lsp runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(m) = read_message(&mut r) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        let mut lsp = Lsp {
            child,
            stdin,
            rx,
            stderr: erx,
        };
        lsp.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                        "params": {"processId": null, "rootUri": null, "capabilities": {},
                                   "initializationOptions": {"daemonUrl": ""}}}));
        lsp.next(&|m| m["id"] == 1);
        lsp.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
        lsp
    }

    fn send(&mut self, v: Value) {
        send(&mut self.stdin, v);
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Messages up to and including the first that matches.
    fn until(&self, pred: &dyn Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self
                .rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no matching message in time; got {seen:?}"));
            let done = pred(&m);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }

    fn next(&self, pred: &dyn Fn(&Value) -> bool) -> Value {
        self.until(pred).pop().unwrap()
    }

    /// Waits for the process to end on its own (stdin stays open).
    fn exits_within(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("still running {limit:?} after exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(self) -> String {
        drop(self.stdin);
        self.stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default()
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    [
        format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes(),
        body.to_vec(),
    ]
    .concat()
}

/// Each malformed message is followed by a good request: the bad one gets its JSON-RPC error
/// (`"id": null`), the good one its answer, and stderr says what was wrong.
#[test]
fn malformed_messages_are_answered_and_the_server_keeps_serving() {
    let mut lsp = Lsp::start();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        (
            "invalid JSON",
            framed(b"{\"jsonrpc\": \"2.0\", \"id\":"),
            -32700,
        ),
        (
            "invalid UTF-8",
            framed(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xff\xfe\"}"),
            -32700,
        ),
        ("5,000-deep JSON", framed(deep.as_bytes()), -32700),
        ("not a message", framed(b"[]"), -32600),
        (
            "non-numeric Content-Length",
            b"Content-Length: twelve\r\n\r\n{\"a\": 1}".to_vec(),
            -32700,
        ),
        (
            "no Content-Length",
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{\"a\": 1}".to_vec(),
            -32700,
        ),
        (
            "huge Content-Length",
            b"Content-Length: 99999999999999\r\n\r\n{}".to_vec(),
            -32700,
        ),
        ("garbage", b"\x00\x01\xff garbage\r\n\r\n".to_vec(), -32700),
    ];
    for (i, (name, bad, code)) in cases.into_iter().enumerate() {
        let id = 100 + i;
        lsp.send_raw(&bad);
        lsp.send(json!({"jsonrpc": "2.0", "id": id, "method": "optidb/status"}));
        let seen = lsp.until(&|m| m["id"] == id);
        let errors: Vec<&Value> = seen.iter().filter(|m| m["error"].is_object()).collect();
        assert_eq!(errors.len(), 1, "{name}: {seen:?}");
        assert_eq!(errors[0]["error"]["code"], code, "{name}");
        assert!(errors[0]["id"].is_null(), "{name}: {:?}", errors[0]);
        assert!(
            seen.last().unwrap()["result"].is_object(),
            "{name}: {seen:?}"
        );
    }

    // A lone surrogate (Node clients emit one for half an emoji) is replaced, not refused.
    let open = br#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":
        {"uri":"file:///s.sql","languageId":"sql","version":1,"text":"SELEC 1; -- \ud83d"}}}"#;
    lsp.send_raw(&framed(open));
    let diags = lsp.next(&|m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == "file:///s.sql"
    });
    assert_eq!(diags["params"]["diagnostics"][0]["code"], "syntax_error");

    lsp.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    lsp.next(&|m| m["id"] == 2);
    lsp.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    let status = lsp.exits_within(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0));
    let stderr = lsp.stderr();
    for why in [
        "invalid JSON",
        "not UTF-8",
        "recursion limit",
        "missing Content-Length",
        "over the 64 MiB limit",
        "lone UTF-16 surrogate",
    ] {
        assert!(stderr.contains(why), "stderr lacks {why:?}:\n{stderr}");
    }
}

/// `exit` ends the process without waiting for stdin to close: 0 after `shutdown`, else 1.
#[test]
fn exit_stops_at_once_with_the_lsp_exit_code() {
    let mut lsp = Lsp::start();
    lsp.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    lsp.next(&|m| m["id"] == 2);
    lsp.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(lsp.exits_within(Duration::from_secs(3)).code(), Some(0));

    let mut lsp = Lsp::start();
    lsp.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(lsp.exits_within(Duration::from_secs(3)).code(), Some(1));
}
