//! Content-Length framing checked before tower-lsp sees a byte: tower-lsp 0.20 ends its input
//! stream at the first message it cannot decode (tokio-util's `FramedRead` stops after a decoder
//! error), so one malformed message used to stop the server with exit code 0.
//!
//! [`Framer`] splits a byte stream into bodies: headers are parsed leniently (any order, any
//! case, unknown headers ignored), a body larger than [`MAX_MESSAGE`] is never buffered, and after
//! a bad header the stream is re-synchronized on the next `Content-Length` header. [`Reader`]
//! adds the checks tower-lsp would fail on (UTF-8, JSON with serde_json's nesting limit of 128,
//! the JSON-RPC shape) and turns a bad message into a JSON-RPC error response (-32700 Parse
//! error or -32600 Invalid Request, `"id": null` unless the id could be read). A lone UTF-16
//! surrogate escape (`"\ud800"`, which Node-based clients emit for half an emoji) is replaced
//! by `\ufffd` (U+FFFD, one UTF-16 unit too, so positions stay right) and the message is served.

use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// The largest message body accepted (64 MiB); a larger one is answered with -32700 and its
/// bytes are skipped without being stored.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// The largest header block (8 KiB); more without the blank line that ends headers is garbage.
pub const MAX_HEADER: usize = 8 * 1024;
const CONTENT_LENGTH: &[u8] = b"content-length";

/// Why bytes could not be framed as a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No blank line within [`MAX_HEADER`] bytes.
    HeaderTooLong,
    /// A header line without a colon (shown lossily, shortened).
    MalformedHeader(String),
    MissingContentLength,
    /// Not a decimal number, or two different values.
    InvalidContentLength(String),
    /// The declared length is over the cap (the body is skipped).
    TooLarge {
        len: u64,
        limit: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::HeaderTooLong => write!(f, "no end of headers within {MAX_HEADER} bytes"),
            FrameError::MalformedHeader(l) => write!(f, "malformed header line {l:?}"),
            FrameError::MissingContentLength => write!(f, "missing Content-Length header"),
            FrameError::InvalidContentLength(v) => write!(f, "invalid Content-Length {v:?}"),
            FrameError::TooLarge { len, limit } => {
                const MIB: usize = 1024 * 1024;
                write!(f, "message of {len} bytes is over the ")?;
                if limit % MIB == 0 {
                    write!(f, "{} MiB", limit / MIB)?;
                } else {
                    write!(f, "{limit} bytes")?;
                }
                write!(f, " limit (skipped)")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a header block.
    Header,
    /// Headers read; waiting for this many body bytes.
    Body(usize),
    /// After an error: discarding bytes up to the next `Content-Length`.
    Resync,
}

/// Splits bytes into message bodies. Memory stays under `max_body` + [`MAX_HEADER`] + the last
/// chunk pushed, whatever the input.
pub struct Framer {
    buf: Vec<u8>,
    state: State,
    max_body: usize,
}

impl Framer {
    pub fn new(max_body: usize) -> Self {
        Framer {
            buf: Vec::new(),
            state: State::Header,
            max_body,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held (for tests of the memory bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// After a body that failed its checks: a wrong Content-Length may have swallowed the next
    /// message's headers, so the body (but its first byte) is searched again for them.
    pub fn resync_after(&mut self, body: &[u8]) {
        self.buf
            .splice(0..0, body.iter().skip(1).copied())
            .for_each(drop);
        self.state = State::Resync;
    }

    /// The next body or framing error, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            match self.state {
                State::Resync => match find_ignore_case(&self.buf, CONTENT_LENGTH) {
                    Some(i) => {
                        self.buf.drain(..i);
                        self.state = State::Header;
                    }
                    None => {
                        // Keep a tail that may be the start of a split `Content-Length`.
                        let keep = self.buf.len().min(CONTENT_LENGTH.len() - 1);
                        self.buf.drain(..self.buf.len() - keep);
                        return None;
                    }
                },
                State::Body(n) => {
                    if self.buf.len() < n {
                        return None;
                    }
                    let body: Vec<u8> = self.buf.drain(..n).collect();
                    self.state = State::Header;
                    return Some(Ok(body));
                }
                State::Header => {
                    // Blank lines between messages are tolerated.
                    let blank = self
                        .buf
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n'))
                        .count();
                    self.buf.drain(..blank);
                    let window = &self.buf[..self.buf.len().min(MAX_HEADER + 4)];
                    let Some(end) = find(window, b"\r\n\r\n") else {
                        if self.buf.len() > MAX_HEADER {
                            self.resync(1);
                            return Some(Err(FrameError::HeaderTooLong));
                        }
                        return None;
                    };
                    match parse_headers(&self.buf[..end]) {
                        Ok(len) => {
                            self.buf.drain(..end + 4);
                            let fits = usize::try_from(len).ok().filter(|&n| n <= self.max_body);
                            let Some(n) = fits else {
                                self.state = State::Resync;
                                let limit = self.max_body;
                                return Some(Err(FrameError::TooLarge { len, limit }));
                            };
                            self.state = State::Body(n);
                        }
                        Err(e) => {
                            // A block that starts as a real header is skipped whole (its other
                            // lines are not the next message); otherwise a message may start
                            // inside it, after garbage.
                            let starts_as_header = self.buf.len() >= CONTENT_LENGTH.len()
                                && self.buf[..CONTENT_LENGTH.len()]
                                    .eq_ignore_ascii_case(CONTENT_LENGTH);
                            self.resync(if starts_as_header { end + 4 } else { 1 });
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
    }

    /// Drops `skip` bytes (at least the first, so the same header is not found again) and
    /// looks for the next `Content-Length`.
    fn resync(&mut self, skip: usize) {
        self.buf.drain(..skip.min(self.buf.len()));
        self.state = State::Resync;
    }
}

/// The Content-Length of a header block (lines separated by `\r\n`, without the blank line).
fn parse_headers(block: &[u8]) -> Result<u64, FrameError> {
    let mut len = None;
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(FrameError::MalformedHeader(shown(line)));
        };
        if !trim(&line[..colon]).eq_ignore_ascii_case(CONTENT_LENGTH) {
            continue; // Content-Type (always utf-8 in practice) and unknown headers
        }
        let value = trim(&line[colon + 1..]);
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| FrameError::InvalidContentLength(shown(value)))?;
        if len.is_some_and(|l| l != n) {
            return Err(FrameError::InvalidContentLength(
                "two different values".into(),
            ));
        }
        len = Some(n);
    }
    len.ok_or(FrameError::MissingContentLength)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t'));
    let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &b[s..=e],
        _ => &[],
    }
}

/// A header's bytes for a log line: lossy UTF-8, at most 60 characters.
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(60).collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Replaces every `\uXXXX` escape of a lone UTF-16 surrogate (a high one not followed by a
/// low one, or a low one alone) with `\ufffd`, in place (same length). Returns how many.
pub fn replace_lone_surrogates(b: &mut [u8]) -> usize {
    fn hex4(b: &[u8], at: usize) -> Option<u16> {
        let digits = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    }
    fn escape_at(b: &[u8], at: usize) -> Option<u16> {
        if b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'u') {
            hex4(b, at + 2)
        } else {
            None
        }
    }
    let mut replaced = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(u) = escape_at(b, i) else {
            i += 2; // `\\`, `\"`, `\n`, … (or invalid JSON, which the parser reports)
            continue;
        };
        let high = (0xD800..0xDC00).contains(&u);
        let paired = high && escape_at(b, i + 6).is_some_and(|l| (0xDC00..0xE000).contains(&l));
        if paired {
            i += 12;
        } else if high || (0xDC00..0xE000).contains(&u) {
            b[i..i + 6].copy_from_slice(b"\\ufffd");
            replaced += 1;
            i += 6;
        } else {
            i += 6;
        }
    }
    replaced
}

/// What tower-lsp decodes a message as (its own `Message` is private): a message that
/// deserializes as this is one tower-lsp accepts.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rpc {
    Response(#[allow(dead_code)] tower_lsp::jsonrpc::Response),
    Request(tower_lsp::jsonrpc::Request),
}

/// A message that passed every check, ready for tower-lsp.
#[derive(Debug)]
pub struct Checked {
    /// The body (lone surrogates replaced).
    pub body: String,
    /// The method of a request or notification.
    pub method: Option<String>,
    /// A request (has an id), not a notification or a response.
    pub is_request: bool,
}

/// A message that failed a check: why (for the log) and the JSON-RPC error to answer.
#[derive(Debug)]
pub struct Rejected {
    pub why: String,
    /// The framed error response, `None` when not answered (garbage right after another
    /// error, which would otherwise answer once per piece of one bad message).
    pub reply: Option<Vec<u8>>,
}

/// What the [`Reader`] read.
#[derive(Debug)]
pub enum Incoming {
    Message(Checked),
    Rejected(Rejected),
}

/// Why a body was refused: the JSON-RPC error code, the id to answer with, the detail.
#[derive(Debug)]
pub struct Refusal {
    pub code: i64,
    pub id: Value,
    pub why: String,
}

impl Refusal {
    fn parse_error(why: String) -> Self {
        Refusal {
            code: PARSE_ERROR,
            id: Value::Null,
            why,
        }
    }
}

/// Checks a body (lone surrogates replaced first): UTF-8, JSON, JSON-RPC shape. A refused body
/// is handed back.
pub fn check(mut body: Vec<u8>) -> Result<Checked, (Refusal, Vec<u8>)> {
    let replaced = replace_lone_surrogates(&mut body);
    if replaced > 0 {
        tracing::warn!("replaced {replaced} lone UTF-16 surrogate escape(s) with \\ufffd");
    }
    let kind = match std::str::from_utf8(&body) {
        Ok(text) => shape(text),
        Err(e) => Err(Refusal::parse_error(format!("body is not UTF-8: {e}"))),
    };
    match kind {
        Ok((method, is_request)) => match String::from_utf8(body) {
            Ok(body) => Ok(Checked {
                body,
                method,
                is_request,
            }),
            Err(e) => Err((Refusal::parse_error(e.to_string()), e.into_bytes())),
        },
        Err(refusal) => Err((refusal, body)),
    }
}

/// The method of a JSON-RPC message and whether it is a request, as tower-lsp will read it.
fn shape(text: &str) -> Result<(Option<String>, bool), Refusal> {
    match serde_json::from_str::<Rpc>(text) {
        Ok(Rpc::Request(r)) => Ok((Some(r.method().to_string()), r.id().is_some())),
        Ok(Rpc::Response(_)) => Ok((None, false)),
        Err(e) if e.is_data() => match serde_json::from_str::<Value>(text) {
            // serde reports a wrong shape before trailing garbage: only JSON is a bad request.
            Err(e) => Err(Refusal::parse_error(format!("invalid JSON: {e}"))),
            Ok(v) => Err(Refusal {
                code: INVALID_REQUEST,
                // The id, if it can be read (a number or a string), else null.
                id: v
                    .get("id")
                    .filter(|id| id.is_i64() || id.is_u64() || id.is_string())
                    .cloned()
                    .unwrap_or(Value::Null),
                why: format!("not a JSON-RPC message: {e}"),
            }),
        },
        Err(e) => Err(Refusal::parse_error(format!("invalid JSON: {e}"))),
    }
}

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// `Content-Length` framing of a body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// A framed JSON-RPC error response.
pub fn error_response(code: i64, id: Value, detail: &str) -> Vec<u8> {
    let message = if code == PARSE_ERROR {
        "Parse error"
    } else {
        "Invalid Request"
    };
    let v = json!({"jsonrpc": "2.0", "id": id,
                   "error": {"code": code, "message": message, "data": detail}});
    frame(v.to_string().as_bytes())
}

/// Reads client messages: framing, checks, error responses, re-synchronization.
pub struct Reader {
    framer: Framer,
    /// An error was just reported: framing errors until the next good header are the rest of
    /// the same bad message and are logged without a reply.
    quiet: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new(MAX_MESSAGE)
    }
}

impl Reader {
    pub fn new(max_body: usize) -> Self {
        Reader {
            framer: Framer::new(max_body),
            quiet: false,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.framer.push(data);
    }

    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

/// The next message or rejection; `None` when more bytes are needed (then [`Reader::push`]
/// more: the iterator resumes).
impl Iterator for Reader {
    type Item = Incoming;

    fn next(&mut self) -> Option<Incoming> {
        let reject =
            |why: String, reply: Option<Vec<u8>>| Some(Incoming::Rejected(Rejected { why, reply }));
        match self.framer.next_frame()? {
            Ok(body) => {
                self.quiet = false;
                match check(body) {
                    Ok(m) => Some(Incoming::Message(m)),
                    Err((Refusal { code, id, why }, body)) => {
                        self.quiet = true;
                        self.framer.resync_after(&body);
                        let reply = error_response(code, id, &why);
                        reject(why, Some(reply))
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                let answer = !self.quiet || matches!(e, FrameError::TooLarge { .. });
                self.quiet = true;
                let reply = answer.then(|| error_response(PARSE_ERROR, Value::Null, &why));
                reject(why, reply)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> Vec<u8> {
        frame(body.as_bytes())
    }

    const GOOD: &str = r#"{"jsonrpc":"2.0","id":7,"method":"shutdown"}"#;

    /// Everything the reader yields for `input`, fed in one chunk.
    fn read_all(input: &[u8]) -> Vec<Incoming> {
        let mut r = Reader::new(1024);
        r.push(input);
        r.collect()
    }

    fn reply(i: &Incoming) -> Option<Value> {
        match i {
            Incoming::Rejected(Rejected { reply: Some(r), .. }) => {
                let body = r.split(|&b| b == b'\n').next_back()?;
                serde_json::from_slice(body).ok()
            }
            _ => None,
        }
    }

    fn is_good(i: &Incoming) -> bool {
        matches!(i, Incoming::Message(m) if m.body == GOOD)
    }

    #[test]
    fn a_message_is_framed_whatever_the_chunks() {
        let input = [msg(GOOD), msg(GOOD)].concat();
        for cut in 0..input.len() {
            let mut r = Reader::new(1024);
            r.push(&input[..cut]);
            let mut got: Vec<Incoming> = r.by_ref().collect();
            r.push(&input[cut..]);
            got.extend(r.by_ref());
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert!(got.iter().all(is_good), "cut at {cut}: {got:?}");
        }
    }

    #[test]
    fn headers_in_any_case_and_order_with_blank_lines_between() {
        let input = format!(
            "\r\ncontent-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH:{}\r\n\r\n{GOOD}",
            GOOD.len()
        );
        let got = read_all(input.as_bytes());
        assert!(got.len() == 1 && is_good(&got[0]), "{got:?}");
    }

    /// Each malformed message, followed by a good one: one reply (its code), then the good one.
    #[test]
    fn each_malformed_message_is_answered_and_the_next_one_served() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let cases: Vec<(&str, Vec<u8>, i64)> = vec![
            ("invalid JSON", msg("{\"jsonrpc\":"), PARSE_ERROR),
            (
                "invalid UTF-8",
                msg("{\"a\":\"\u{0}\"}")
                    .into_iter()
                    .map(|b| if b == 0 { 0xff } else { b })
                    .collect(),
                PARSE_ERROR,
            ),
            ("5,000-deep JSON", msg(&deep), PARSE_ERROR),
            ("empty body", msg(""), PARSE_ERROR),
            ("not a request", msg("[1,2]"), INVALID_REQUEST),
            (
                "non-numeric length",
                b"Content-Length: abc\r\n\r\n{}".to_vec(),
                PARSE_ERROR,
            ),
            (
                "negative length",
                b"Content-Length: -5\r\n\r\n{}".to_vec(),
                PARSE_ERROR,
            ),
            (
                "no length",
                b"Content-Type: x\r\n\r\n{\"jsonrpc\":\"2.0\"}".to_vec(),
                PARSE_ERROR,
            ),
            (
                "header without colon",
                b"hello\r\n\r\n".to_vec(),
                PARSE_ERROR,
            ),
            (
                "two lengths",
                b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
                PARSE_ERROR,
            ),
            (
                "too large",
                b"Content-Length: 99999999999999\r\n\r\n{}".to_vec(),
                PARSE_ERROR,
            ),
            (
                "over the cap, body sent",
                [b"Content-Length: 2000\r\n\r\n".to_vec(), vec![b' '; 2000]].concat(),
                PARSE_ERROR,
            ),
            (
                "length too short",
                format!("Content-Length: 5\r\n\r\n{GOOD}").into_bytes(),
                PARSE_ERROR,
            ),
            (
                "length too long",
                [
                    format!("Content-Length: {}\r\n\r\n{{}}", GOOD.len() + 10).into_bytes(),
                    msg(GOOD),
                ]
                .concat(),
                PARSE_ERROR,
            ),
            ("garbage", b"\x00\xff garbage \x1b[2J".to_vec(), PARSE_ERROR),
        ];
        for (name, bad, code) in cases {
            let got = read_all(&[bad, msg(GOOD)].concat());
            let replies: Vec<Value> = got.iter().filter_map(reply).collect();
            assert_eq!(replies.len(), 1, "{name}: {got:?}");
            assert_eq!(replies[0]["error"]["code"], code, "{name}");
            assert!(replies[0]["id"].is_null(), "{name}");
            assert!(got.last().is_some_and(is_good), "{name}: {got:?}");
        }
    }

    #[test]
    fn an_invalid_request_keeps_its_id() {
        let got = read_all(&msg(r#"{"jsonrpc":"2.0","id":3,"method":42}"#));
        let r = reply(&got[0]).expect("a reply");
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        assert_eq!(r["id"], 3);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let cases = [
            (r#""\ud800""#, r#""\ufffd""#),
            (r#""\uDFFF x""#, r#""\ufffd x""#),
            (r#""\ud83d\ude00""#, r#""\ud83d\ude00""#), // a pair stays
            (r#""\ud83d\ud83d\ude00""#, r#""\ufffd\ud83d\ude00""#),
            (r#""\\ud800""#, r#""\\ud800""#), // an escaped backslash, not an escape
            (r#""\ud800"#, r#""\ufffd"#),
            (r#""\ud8"#, r#""\ud8"#),
        ];
        for (input, want) in cases {
            let mut b = input.as_bytes().to_vec();
            replace_lone_surrogates(&mut b);
            assert_eq!(String::from_utf8_lossy(&b), want, "{input}");
        }
        let body = r#"{"jsonrpc":"2.0","method":"x","params":{"t":"a\ud800b"}}"#;
        // What stopped tower-lsp: serde_json refuses them.
        assert!(serde_json::from_str::<Value>(body).is_err());
        let got = read_all(&msg(body));
        match &got[..] {
            [Incoming::Message(m)] => {
                let v: Value = serde_json::from_str(&m.body).expect("json");
                assert_eq!(v["params"]["t"], "a\u{fffd}b");
            }
            other => panic!("{other:?}"),
        }
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random byte soup made of framing-relevant pieces, fed in random chunks, then good
    /// messages: no panic, memory bounded, and the reader is back in sync by the last one.
    /// `OPTIDB_FUZZ_ITERS` for a longer run.
    #[test]
    fn random_soup_never_panics_and_resynchronizes() {
        const PIECES: &[&[u8]] = &[
            b"Content-Length: ",
            b"content-length:",
            b"Content-Type: utf-8",
            b"\r\n",
            b"\r\n\r\n",
            b"\n",
            b":",
            b"12",
            b"3",
            b"999",
            b"99999999999999999999999",
            b"{",
            b"}",
            b"[",
            b"\"",
            b"\\ud800",
            b"\\",
            b"\xff",
            b"\xc3",
            br#"{"jsonrpc":"2.0","id":1,"method":"m"}"#,
        ];
        let max_body = 256;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let rounds: usize = std::env::var("OPTIDB_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3000);
        for round in 0..rounds {
            let mut input = Vec::new();
            for _ in 0..rng.below(40) {
                if rng.below(3) == 0 {
                    input.push(rng.next() as u8);
                } else {
                    input.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                }
            }
            // Enough good messages to cover the longest body the soup can declare.
            for _ in 0..8 {
                input.extend(msg(GOOD));
            }
            let mut r = Reader::new(max_body);
            let mut got = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let n = (1 + rng.below(64)).min(input.len() - at);
                r.push(&input[at..at + n]);
                at += n;
                got.extend(r.by_ref());
                assert!(r.buffered() <= max_body + MAX_HEADER + 64, "round {round}");
            }
            assert!(got.last().is_some_and(is_good), "round {round}: {got:?}");
        }
    }
}
