//! The language server: the `LanguageServer` implementation (thin: it gathers parameters and
//! calls the session), the service for stdio and tests, and the guard that keeps a panicking
//! handler from taking the server down. State and its work live in `session`, commands in
//! `commands`, the stdio transport (checked framing in front of tower-lsp) in `stdio`.

mod commands;
pub mod session;
mod stdio;

pub use commands::simulation_message;
use session::{Doc, Inner};
pub use session::{SERVER_COMMANDS, WORKSPACE_STATEMENTS};
pub use stdio::{run_stdio, serve, End};

use crate::config::Settings;
use crate::convert::LineIndex;
use crate::daemon::DaemonClient;
use futures::FutureExt;
use optidb_source::analysis::{Analyzer, Edit, EditPoints};
use optidb_source::Lang;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower_lsp::jsonrpc::Result as RpcResult;
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer, LspService};

/// The `LanguageServer` implementation (cheap to clone).
#[derive(Clone)]
pub struct Backend(Arc<Inner>);

impl Backend {
    pub fn new(client: Client) -> Self {
        Backend(Arc::new(Inner {
            client,
            roots: Mutex::new(Vec::new()),
            supports_lens_refresh: AtomicBool::new(false),
            last_scan: Mutex::new(None),
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

    /// A newly opened document, when it is SQL or a host language OptiDB reads SQL from.
    fn open(&self, d: TextDocumentItem) -> bool {
        let path = d.uri.to_file_path().ok();
        let Some(lang) = Lang::detect(Some(&d.language_id), path.as_deref()) else {
            return false;
        };
        let mut docs = self.0.docs.lock().unwrap_or_else(|p| p.into_inner());
        docs.insert(
            d.uri,
            Doc {
                version: d.version,
                lang,
                index: Arc::new(LineIndex::new(Arc::from(d.text))),
                analysis: None,
                since: None,
            },
        );
        true
    }

    /// Applies `didChange` content changes in order (ranges are incremental edits; a change
    /// without a range is the whole text). Late, older versions are ignored.
    fn change(
        &self,
        uri: &Url,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> bool {
        let mut docs = self.0.docs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = docs.get_mut(uri) else {
            return false;
        };
        if d.version > version {
            return false; // an older change arrived late
        }
        let mut index = d.index.clone();
        // The analysis to start from next time, and the byte edits made since.
        let mut since = match (d.analysis.take(), d.since.take()) {
            (Some(a), _) => Some((a, Vec::new())),
            (None, s) => s,
        };
        for c in changes {
            let next = Arc::new(index.apply(c.range, &c.text));
            match (&c.range, since.as_mut()) {
                (Some(r), Some((_, edits))) => {
                    let start = index.offset(r.start);
                    let old_end = index.offset(r.end).max(start);
                    edits.push(Edit {
                        start,
                        old_end,
                        new_len: c.text.len(),
                        points: Some(EditPoints {
                            start: index.point(start),
                            old_end: index.point(old_end),
                            new_end: next.point(start + c.text.len()),
                        }),
                    });
                }
                // A whole-text change: nothing to start from.
                _ => since = None,
            }
            index = next;
        }
        *d = Doc {
            version,
            lang: d.lang,
            index,
            analysis: None,
            since,
        };
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
        let lens_refresh = p
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        self.0
            .supports_lens_refresh
            .store(lens_refresh, Ordering::SeqCst);
        let mut roots: Vec<std::path::PathBuf> = p
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| f.uri.to_file_path().ok())
            .collect();
        #[allow(deprecated)] // root_uri: the pre-3.6 way, still sent by some clients
        if roots.is_empty() {
            roots.extend(p.root_uri.as_ref().and_then(|u| u.to_file_path().ok()));
        }
        *self.0.roots.lock().unwrap_or_else(|e| e.into_inner()) = roots;
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::INCREMENTAL,
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                inlay_hint_provider: Some(OneOf::Left(true)),
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
        let watcher = self.0.clone();
        tokio::spawn(async move {
            let client = watcher.client.clone();
            guard(Some(&client), "scan watcher", watcher.watch_scans()).await;
        });
    }

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, p: DidOpenTextDocumentParams) {
        let uri = p.text_document.uri.clone();
        if self.open(p.text_document) {
            self.spawn_refresh(uri);
        }
    }

    async fn did_change(&self, p: DidChangeTextDocumentParams) {
        let uri = p.text_document.uri;
        if self.change(&uri, p.text_document.version, p.content_changes) {
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

    async fn code_lens(&self, p: CodeLensParams) -> RpcResult<Option<Vec<CodeLens>>> {
        Ok(guard(
            Some(&self.0.client),
            "codeLens",
            self.0.code_lens(&p.text_document.uri),
        )
        .await
        .flatten())
    }

    async fn inlay_hint(&self, p: InlayHintParams) -> RpcResult<Option<Vec<InlayHint>>> {
        Ok(
            guard(Some(&self.0.client), "inlayHint", self.0.inlay_hints(p))
                .await
                .flatten(),
        )
    }

    async fn symbol(&self, p: WorkspaceSymbolParams) -> RpcResult<Option<Vec<SymbolInformation>>> {
        Ok(guard(
            Some(&self.0.client),
            "workspace/symbol",
            self.0.workspace_symbols(&p.query),
        )
        .await)
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
