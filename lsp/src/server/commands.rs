//! The commands the server runs itself (`optidb.simulate`, `optidb.openQuery`,
//! `optidb.workspaceStatements`, `optidb.refresh`; `optidb.copyDdl` is the editor's) and the
//! message a simulation shows.

use crate::handlers::{self, code_action, code_lens};
use crate::server::session::{self, Inner};
use serde_json::Value;
use tower_lsp::lsp_types::*;

impl Inner {
    pub(super) async fn execute_command(&self, p: ExecuteCommandParams) -> Option<Value> {
        match p.command.as_str() {
            code_action::SIMULATE => {
                let arg = p.arguments.first().cloned().unwrap_or(Value::Null);
                let s = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let (qid, rid) = (s("query_id"), s("rec_id"));
                let mode = arg.get("mode").and_then(Value::as_str).unwrap_or("hypopg");
                match self.daemon.simulate(&qid, &rid, mode).await {
                    Ok(v) => {
                        self.client
                            .show_message(MessageType::INFO, simulation_message(&v))
                            .await;
                        self.daemon.invalidate(&qid);
                        self.refresh_all().await;
                        Some(v)
                    }
                    Err(e) => {
                        self.client
                            .show_message(
                                MessageType::WARNING,
                                format!("OptiDB: simulation failed: {e}"),
                            )
                            .await;
                        None
                    }
                }
            }
            code_action::COPY_DDL => {
                // The editor integration normally handles this one; without it, show the DDL.
                let ddl = p
                    .arguments
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.client
                    .show_message(MessageType::INFO, format!("OptiDB DDL: {ddl}"))
                    .await;
                None
            }
            code_lens::OPEN_QUERY => {
                let arg = p.arguments.first().cloned().unwrap_or(Value::Null);
                let qid = arg.get("query_id").and_then(Value::as_str).unwrap_or("");
                let Some(ep) = self.daemon.endpoint() else {
                    self.client
                        .show_message(MessageType::WARNING, "OptiDB: no daemon is configured")
                        .await;
                    return None;
                };
                let url = format!("{}/ui/queries/{qid}", ep.base);
                match Url::parse(&url) {
                    Ok(uri) => {
                        let _ = self
                            .client
                            .show_document(ShowDocumentParams {
                                uri,
                                external: Some(true),
                                take_focus: Some(true),
                                selection: None,
                            })
                            .await;
                    }
                    Err(e) => tracing::warn!("bad dashboard url {url}: {e}"),
                }
                Some(Value::String(url))
            }
            session::WORKSPACE_STATEMENTS => {
                let arg = p.arguments.first().cloned().unwrap_or(Value::Null);
                let query = arg.get("query").and_then(Value::as_str).unwrap_or("");
                let limit = arg.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
                let list = self
                    .workspace_statements(query, limit.clamp(1, 10_000))
                    .await;
                serde_json::to_value(list).ok()
            }
            "optidb.refresh" => {
                self.daemon.invalidate_all();
                self.refresh_all().await;
                None
            }
            other => {
                self.client
                    .log_message(
                        MessageType::WARNING,
                        format!("optidb: unknown command {other}"),
                    )
                    .await;
                None
            }
        }
    }
}

/// `Simulated …: 24.6 ms → 1.70 ms (−93%); Seq Scan → Index Scan on tickets`.
pub fn simulation_message(v: &Value) -> String {
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    let mut msg = String::from("OptiDB simulation");
    if let Some(m) = v.get("mode").and_then(Value::as_str) {
        msg.push_str(&format!(" ({m})"));
    }
    msg.push(':');
    if let (Some(b), Some(a)) = (f("before_ms"), f("after_ms")) {
        msg.push_str(&format!(
            " {} → {}",
            handlers::duration_ms(b),
            handlers::duration_ms(a)
        ));
    }
    if let Some(p) = f("improvement_pct") {
        msg.push_str(&format!(" (−{p:.0}%)"));
    }
    if let Some(ch) = v.get("plan_changes").and_then(Value::as_array) {
        let labels: Vec<&str> = ch.iter().filter_map(Value::as_str).collect();
        if !labels.is_empty() {
            msg.push_str("; ");
            msg.push_str(&labels.join("; "));
        }
    }
    msg
}
