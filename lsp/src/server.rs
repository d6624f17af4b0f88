//! The language server: document state, the LSP request/notification handlers (thin: they
//! gather state and call `handlers::*`), the daemon round-trips, and the guard that keeps a
//! panicking handler from taking the server down.

use crate::analysis::{Analyzer, FileAnalysis};
use crate::config::Settings;
use crate::convert::LineIndex;
use crate::daemon::{DaemonClient, Endpoint, Known};
use crate::handlers::{self, code_action, hover::LiveState, DocView};
use futures::FutureExt;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower_lsp::jsonrpc::Result as RpcResult;
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer, LspService, Server};

/// Commands the server runs itself (the editor runs `optidb.copyDdl`).
pub const SERVER_COMMANDS: &[&str] = &[code_action::SIMULATE, "optidb.refresh"];

/// One open document.
struct Doc {
    version: i32,
    index: Arc<LineIndex>,
    /// Filled by the first refresh of this version.
    analysis: Option<Arc<FileAnalysis>>,
}

pub struct Inner {
    client: Client,
    settings: Mutex<Settings>,
    docs: Mutex<HashMap<Url, Doc>>,
    analyzer: Arc<Analyzer>,
    daemon: DaemonClient,
    /// Set once "live data unavailable" was said; cleared when the daemon answers again.
    told_unavailable: AtomicBool,
    /// Serializes "is this still the latest version? publish" per server.
    publish_lock: tokio::sync::Mutex<()>,
    supports_configuration: AtomicBool,
}

/// The `LanguageServer` implementation (cheap to clone).
#[derive(Clone)]
pub struct Backend(Arc<Inner>);

impl Backend {
    pub fn new(client: Client) -> Self {
        Backend(Arc::new(Inner {
            client,
            settings: Mutex::new(Settings::default()),
            docs: Mutex::new(HashMap::new()),
            analyzer: Arc::new(Analyzer::default()),
            daemon: DaemonClient::default(),
            told_unavailable: AtomicBool::new(false),
            publish_lock: tokio::sync::Mutex::new(()),
            supports_configuration: AtomicBool::new(false),
        }))
    }
}

/// Builds the service (for stdio or for in-process tests).
pub fn service() -> (LspService<Backend>, tower_lsp::ClientSocket) {
    LspService::build(Backend::new)
        .custom_method("optidb/status", Backend::status)
        .finish()
}

/// Serves LSP on stdin/stdout until the client exits.
pub async fn run_stdio() {
    let (service, socket) = service();
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
        .serve(service)
        .await;
}

/// Runs a handler body; a panic is caught, logged to stderr and to the client, and turned into
/// `None` (the request then answers "nothing" instead of killing the server).
pub async fn guard<T>(
    client: Option<&Client>,
    what: &str,
    fut: impl Future<Output = T>,
) -> Option<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(v) => Some(v),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("{what} panicked: {msg}");
            if let Some(c) = client {
                c.log_message(
                    MessageType::ERROR,
                    format!("optidb-lsp: internal error in {what} (please report): {msg}"),
                )
                .await;
            }
            None
        }
    }
}

impl Inner {
    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn apply_settings(&self, v: &Value) {
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        s.merge(v);
        self.daemon
            .configure(s.daemon_url.as_ref().map(|u| Endpoint {
                base: u.clone(),
                token: s.token.clone(),
                timeout: s.lookup_timeout,
            }));
    }

    /// The current text and analysis of a document (analyzing it if needed).
    async fn snapshot(&self, uri: &Url) -> Option<(i32, Arc<LineIndex>, Arc<FileAnalysis>)> {
        let (version, index, analysis) = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            let d = docs.get(uri)?;
            (d.version, d.index.clone(), d.analysis.clone())
        };
        let analysis = match analysis {
            Some(a) => a,
            None => {
                let a = self.analyze(index.clone()).await?;
                let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(d) = docs.get_mut(uri).filter(|d| d.version == version) {
                    d.analysis = Some(a.clone());
                }
                a
            }
        };
        Some((version, index, analysis))
    }

    /// Static analysis on the blocking pool (a panic there is a JoinError, logged).
    async fn analyze(&self, index: Arc<LineIndex>) -> Option<Arc<FileAnalysis>> {
        let analyzer = self.analyzer.clone();
        match tokio::task::spawn_blocking(move || analyzer.analyze(index.text())).await {
            Ok(a) => Some(Arc::new(a)),
            Err(e) => {
                tracing::error!("analysis failed: {e}");
                self.client
                    .log_message(
                        MessageType::ERROR,
                        format!("optidb-lsp: analysis failed: {e}"),
                    )
                    .await;
                None
            }
        }
    }

    fn view<'a>(
        &'a self,
        index: &'a LineIndex,
        analysis: &'a FileAnalysis,
        live: &'a dyn Fn(&str) -> Option<Known>,
    ) -> DocView<'a> {
        DocView {
            index,
            analysis,
            live,
        }
    }

    /// Publishes diagnostics for the latest version of `uri`: static and cached findings at once,
    /// then again with live findings if the daemon had something new to say in time.
    async fn refresh(&self, uri: Url) {
        let Some((version, index, analysis)) = self.snapshot(&uri).await else {
            return;
        };
        self.publish(&uri, version, &index, &analysis).await;
        match self.daemon.refresh(&analysis.fingerprints()).await {
            Ok(true) => {
                self.told_unavailable.store(false, Ordering::SeqCst);
                self.publish(&uri, version, &index, &analysis).await;
            }
            Ok(false) => {}
            Err(e) => self.say_unavailable(&e.0).await,
        }
    }

    async fn publish(&self, uri: &Url, version: i32, index: &LineIndex, analysis: &FileAnalysis) {
        let settings = self.settings();
        let live = |fp: &str| self.daemon.cached(fp);
        let diags =
            handlers::diagnostics::diagnostics(&self.view(index, analysis, &live), &settings);
        let _g = self.publish_lock.lock().await;
        let current = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            docs.get(uri).map(|d| d.version)
        };
        if current == Some(version) {
            self.client
                .publish_diagnostics(uri.clone(), diags, Some(version))
                .await;
        }
    }

    /// Tells the user once (per outage) that live data is unavailable.
    async fn say_unavailable(&self, why: &str) {
        if !self.told_unavailable.swap(true, Ordering::SeqCst) {
            self.client
                .show_message(
                    MessageType::INFO,
                    format!(
                        "OptiDB: live data is unavailable ({why}). Syntax errors and text checks \
                         still work; start `optidb daemon` or set optidb.daemonUrl."
                    ),
                )
                .await;
        }
        self.client
            .log_message(
                MessageType::LOG,
                format!("optidb: daemon unavailable: {why}"),
            )
            .await;
    }

    async fn refresh_all(&self) {
        let uris: Vec<Url> = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            docs.keys().cloned().collect()
        };
        for u in uris {
            self.refresh(u).await;
        }
    }

    async fn fetch_configuration(&self) {
        if !self.supports_configuration.load(Ordering::SeqCst) {
            return;
        }
        let items = vec![ConfigurationItem {
            scope_uri: None,
            section: Some("optidb".into()),
        }];
        if let Ok(vals) = self.client.configuration(items).await {
            if let Some(v) = vals.first() {
                self.apply_settings(v);
            }
        }
    }

    async fn hover(&self, p: HoverParams) -> Option<Hover> {
        let uri = p.text_document_position_params.text_document.uri;
        let (_, index, analysis) = self.snapshot(&uri).await?;
        let offset = index.offset(p.text_document_position_params.position);
        let st = analysis.statement_at(offset)?;
        if let Some(fp) = &st.facts.fingerprint {
            if self.daemon.cached(fp).is_none() {
                if let Err(e) = self.daemon.refresh(std::slice::from_ref(fp)).await {
                    self.say_unavailable(&e.0).await;
                }
            }
        }
        let why = self.daemon.unavailable();
        let live_state = match (&why, self.daemon.endpoint()) {
            (_, None) => LiveState::Off,
            (Some(w), _) => LiveState::Unavailable(w.as_str()),
            (None, _) => LiveState::Available,
        };
        let live = |fp: &str| self.daemon.cached(fp);
        let view = self.view(&index, &analysis, &live);
        let (md, st) = handlers::hover::hover_markdown(&view, offset, live_state)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: md,
            }),
            range: Some(index.range(st.start, st.end)),
        })
    }

    async fn code_action(&self, p: CodeActionParams) -> Option<CodeActionResponse> {
        let (_, index, analysis) = self.snapshot(&p.text_document.uri).await?;
        let start = index.offset(p.range.start);
        let end = index.offset(p.range.end);
        let live = |fp: &str| self.daemon.cached(fp);
        let view = self.view(&index, &analysis, &live);
        let actions = code_action::code_actions(&view, &p.text_document.uri, start, end);
        Some(actions)
    }

    async fn execute_command(&self, p: ExecuteCommandParams) -> Option<Value> {
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

impl Backend {
    /// `optidb/status`: what the server knows (for editors' status lines and for tests).
    async fn status(&self) -> RpcResult<Value> {
        let ep = self.0.daemon.endpoint();
        Ok(serde_json::json!({
            "daemonUrl": ep.map(|e| e.base),
            "unavailable": self.0.daemon.unavailable(),
        }))
    }

    fn spawn_refresh(&self, uri: Url) {
        let inner = self.0.clone();
        let h = tokio::spawn(async move {
            let client = inner.client.clone();
            guard(Some(&client), "diagnostics", inner.refresh(uri)).await;
        });
        let client = self.0.client.clone();
        tokio::spawn(async move {
            if let Err(e) = h.await {
                client
                    .log_message(MessageType::ERROR, format!("optidb-lsp: task failed: {e}"))
                    .await;
            }
        });
    }

    fn set_text(&self, uri: &Url, version: i32, text: String) -> bool {
        let mut docs = self.0.docs.lock().unwrap_or_else(|p| p.into_inner());
        if docs.get(uri).is_some_and(|d| d.version > version) {
            return false; // an older change arrived late
        }
        docs.insert(
            uri.clone(),
            Doc {
                version,
                index: Arc::new(LineIndex::new(Arc::from(text))),
                analysis: None,
            },
        );
        true
    }
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, p: InitializeParams) -> RpcResult<InitializeResult> {
        if let Some(o) = &p.initialization_options {
            self.0.apply_settings(o);
        } else {
            self.0.apply_settings(&Value::Null);
        }
        let conf = p
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.configuration)
            .unwrap_or(false);
        self.0.supports_configuration.store(conf, Ordering::SeqCst);
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::FULL,
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: SERVER_COMMANDS.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "optidb-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let inner = self.0.clone();
        tokio::spawn(async move {
            let client = inner.client.clone();
            guard(Some(&client), "initialized", async {
                inner.fetch_configuration().await;
                if inner.daemon.endpoint().is_some() {
                    match inner.daemon.health().await {
                        Ok(_) => {
                            inner
                                .client
                                .log_message(MessageType::INFO, "optidb: daemon reachable")
                                .await
                        }
                        Err(e) => inner.say_unavailable(&e.0).await,
                    }
                }
                inner.refresh_all().await;
            })
            .await;
        });
    }

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, p: DidOpenTextDocumentParams) {
        let d = p.text_document;
        if self.set_text(&d.uri, d.version, d.text) {
            self.spawn_refresh(d.uri);
        }
    }

    async fn did_change(&self, p: DidChangeTextDocumentParams) {
        // Full sync: the last change holds the whole text.
        let Some(c) = p.content_changes.into_iter().last() else {
            return;
        };
        let uri = p.text_document.uri;
        if self.set_text(&uri, p.text_document.version, c.text) {
            self.spawn_refresh(uri);
        }
    }

    async fn did_close(&self, p: DidCloseTextDocumentParams) {
        self.0
            .docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p.text_document.uri);
        self.0
            .client
            .publish_diagnostics(p.text_document.uri, vec![], None)
            .await;
    }

    async fn did_change_configuration(&self, p: DidChangeConfigurationParams) {
        let inner = self.0.clone();
        tokio::spawn(async move {
            let client = inner.client.clone();
            guard(Some(&client), "configuration", async {
                if p.settings.get("optidb").is_some() {
                    inner.apply_settings(&p.settings);
                } else {
                    inner.fetch_configuration().await;
                }
                inner.told_unavailable.store(false, Ordering::SeqCst);
                inner.refresh_all().await;
            })
            .await;
        });
    }

    async fn hover(&self, p: HoverParams) -> RpcResult<Option<Hover>> {
        Ok(guard(Some(&self.0.client), "hover", self.0.hover(p))
            .await
            .flatten())
    }

    async fn code_action(&self, p: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        Ok(
            guard(Some(&self.0.client), "codeAction", self.0.code_action(p))
                .await
                .flatten(),
        )
    }

    async fn execute_command(&self, p: ExecuteCommandParams) -> RpcResult<Option<Value>> {
        Ok(guard(
            Some(&self.0.client),
            "executeCommand",
            self.0.execute_command(p),
        )
        .await
        .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_caught() {
        let r: Option<u32> = guard(None, "test", async { panic!("boom") }).await;
        assert_eq!(r, None);
        assert_eq!(guard(None, "test", async { 7 }).await, Some(7));
    }

    #[test]
    fn simulation_message_reads_well() {
        let v = serde_json::json!({"mode": "hypopg", "before_ms": 24.6, "after_ms": 1.7,
            "improvement_pct": 93.1, "plan_changes": ["Seq Scan → Index Scan on public.tickets"]});
        assert_eq!(
            simulation_message(&v),
            "OptiDB simulation (hypopg): 24.6 ms → 1.70 ms (−93%); Seq Scan → Index Scan on public.tickets"
        );
    }
}
