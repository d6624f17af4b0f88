//! The `optidb` command line as a user runs it: `optidb fingerprint` on stdin and files, and
//! `optidb demo` stopping cleanly on Ctrl-C with nothing left behind.

use optidb_e2e::bin_path;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fingerprint(args: &[&str], stdin: &str) -> (i32, Vec<serde_json::Value>, String) {
    let mut child = Command::new(bin_path("optidb"))
        .arg("fingerprint")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fingerprint_prints_one_object_per_statement() {
    let src = "SELECT * FROM t WHERE a = 1;\n-- note\nselect *  from T where A = :x;\nSELEC broken;\nSELECT 'é' FROM t WHERE id IN (1,2,3)";
    let (code, lines, _) = fingerprint(&[], src);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["fingerprint"], lines[1]["fingerprint"],
        "literal, case and placeholder variants agree"
    );
    assert_eq!(lines[0]["norm_sql"], "SELECT * FROM t WHERE a = $1");
    for l in &lines {
        let (s, e) = (
            l["start"].as_u64().unwrap() as usize,
            l["end"].as_u64().unwrap() as usize,
        );
        assert!(s < e && e <= src.len());
        assert!(src.is_char_boundary(s) && src.is_char_boundary(e));
    }
    assert_eq!(
        &src[lines[1]["start"].as_u64().unwrap() as usize
            ..lines[1]["end"].as_u64().unwrap() as usize],
        "select *  from T where A = :x"
    );
    assert!(
        lines[2]["error"].as_str().unwrap().contains("syntax error"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[2]["error_position"],
        src.find("SELEC broken").unwrap()
    );
    assert!(lines[3]["fingerprint"].is_string());
}

#[test]
fn fingerprint_reads_files_and_says_which_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("q.sql");
    std::fs::write(&f, "SELECT 1; SELECT 2").unwrap();
    let bin = dir.path().join("bin.sql");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    let missing = dir.path().join("missing.sql");
    let (code, lines, err) = fingerprint(
        &[
            f.to_str().unwrap(),
            bin.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 2, "unreadable input is exit 2");
    assert_eq!(lines.len(), 2, "the readable file is still answered");
    assert_eq!(lines[0]["file"], f.to_str().unwrap());
    assert!(
        err.contains("not UTF-8") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn demo_stops_cleanly_on_ctrl_c_and_leaves_nothing_behind() {
    let before = sandbox_dirs();
    let mut child = Command::new(bin_path("optidb"))
        .args(["demo", "--calls-scale", "0.02"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t0 = Instant::now();
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(l) => {
                let ready = l.contains("press Ctrl-C");
                seen.push(l);
                if ready {
                    break;
                }
            }
            Err(_) if t0.elapsed() < Duration::from_secs(240) => {}
            Err(_) => panic!("demo never got ready:\n{}", seen.join("\n")),
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "demo too slow:\n{}",
            seen.join("\n")
        );
    }
    assert!(
        seen.iter().any(|l| l.contains("scan after phase 2")),
        "{}",
        seen.join("\n")
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let t1 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "demo did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let out = out.join().unwrap();
    assert!(
        out.contains("OptiDB's API serves it at http://127.0.0.1:"),
        "{out}"
    );
    let leftovers: Vec<_> = sandbox_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert!(
        leftovers.is_empty(),
        "sandbox directories left behind: {leftovers:?}"
    );
}

fn sandbox_dirs() -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("optidb-sandbox-"))
                })
                .collect()
        })
        .unwrap_or_default()
}
