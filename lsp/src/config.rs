//! Settings, read from `initializationOptions` and from `workspace/configuration` section
//! `optidb`: where the daemon is, its token and the CA its certificate comes from (for
//! `https://`), which severities to show, how long a lookup may take, how often to look for a
//! new scan.

use crate::convert::parse_severity;
use serde_json::Value;
use std::time::Duration;
use tower_lsp::lsp_types::DiagnosticSeverity;

/// The daemon address when nothing is configured (`optidb daemon`'s default `--listen`).
pub const DEFAULT_DAEMON_URL: &str = "http://127.0.0.1:7070";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `None` when live data is switched off (`"daemonUrl": ""` or `null`).
    pub daemon_url: Option<String>,
    pub token: Option<String>,
    /// `daemonCa`: a CA certificate file (PEM) trusted for an `https://` daemon besides the
    /// system's roots.
    pub daemon_ca: Option<std::path::PathBuf>,
    /// Least severe diagnostic shown (`"severity": "warning"` hides information and hints).
    pub min_severity: DiagnosticSeverity,
    /// Upper bound of a lookup; typing never waits longer than this for live data.
    pub lookup_timeout: Duration,
    /// How often the daemon's last scan id is checked (`scanPollMs`; 0: never). A new scan
    /// refreshes diagnostics and code lenses.
    pub scan_poll: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            daemon_url: Some(DEFAULT_DAEMON_URL.to_string()),
            token: None,
            daemon_ca: None,
            min_severity: DiagnosticSeverity::HINT,
            lookup_timeout: Duration::from_millis(300),
            scan_poll: Some(Duration::from_secs(10)),
        }
    }
}

impl Settings {
    /// Applies the keys present in `v` (camelCase, as editors send them); unknown keys and
    /// wrong types are ignored. Accepts the section itself or an object holding `optidb`.
    pub fn merge(&mut self, v: &Value) {
        let v = v.get("optidb").unwrap_or(v);
        let Some(o) = v.as_object() else { return };
        if let Some(u) = o.get("daemonUrl") {
            self.daemon_url = match u.as_str().map(str::trim) {
                Some("") | None => None,
                Some(s) => Some(s.trim_end_matches('/').to_string()),
            };
        }
        if let Some(t) = o.get("token") {
            self.token = t.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        }
        if let Some(c) = o.get("daemonCa") {
            self.daemon_ca = c
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(std::path::PathBuf::from);
        }
        if let Some(s) = o
            .get("severity")
            .and_then(Value::as_str)
            .and_then(parse_severity)
        {
            self.min_severity = s;
        }
        if let Some(ms) = o.get("timeoutMs").and_then(Value::as_u64) {
            self.lookup_timeout = Duration::from_millis(ms.clamp(20, 10_000));
        }
        if let Some(ms) = o.get("scanPollMs").and_then(Value::as_u64) {
            self.scan_poll = (ms > 0).then(|| Duration::from_millis(ms.max(200)));
        }
    }

    /// Should a diagnostic of this severity be shown? (LSP severities: 1 = error … 4 = hint.)
    pub fn shows(&self, s: DiagnosticSeverity) -> bool {
        s <= self.min_severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_reads_camel_case_keys_and_section_wrappers() {
        let mut s = Settings::default();
        s.merge(&json!({"daemonUrl": "http://h:1/", "token": "t", "severity": "warning"}));
        assert_eq!(s.daemon_url.as_deref(), Some("http://h:1"));
        assert_eq!(s.daemon_ca, None);
        s.merge(&json!({"daemonCa": "/etc/optidb/ca.pem"}));
        assert_eq!(
            s.daemon_ca.as_deref(),
            Some(std::path::Path::new("/etc/optidb/ca.pem"))
        );
        assert_eq!(s.token.as_deref(), Some("t"));
        assert!(s.shows(DiagnosticSeverity::ERROR));
        assert!(s.shows(DiagnosticSeverity::WARNING));
        assert!(!s.shows(DiagnosticSeverity::INFORMATION));
        s.merge(&json!({"optidb": {"daemonUrl": "", "timeoutMs": 5}}));
        assert_eq!(s.daemon_url, None);
        assert_eq!(s.lookup_timeout, Duration::from_millis(20));
        s.merge(&json!({"scanPollMs": 0}));
        assert_eq!(s.scan_poll, None);
        s.merge(&json!({"scanPollMs": 5}));
        assert_eq!(s.scan_poll, Some(Duration::from_millis(200)));
        s.merge(&json!(null));
        assert_eq!(s.token.as_deref(), Some("t"));
    }
}
