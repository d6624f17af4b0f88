//! What the language server holds between requests: open documents with their analysis, the
//! settings, the daemon client; and what it does with them (refresh, publish diagnostics,
//! hover, code actions). Handlers in `server/mod.rs` only gather parameters and call in here.

use crate::config::Settings;
use crate::convert::LineIndex;
use crate::daemon::{DaemonClient, Endpoint, Known};
use crate::handlers::symbols::{self, RankedStatement};
use crate::handlers::{self, code_action, code_lens, hover::LiveState, DocView};
use optidb_source::analysis::{Analyzer, Edit, FileAnalysis};
use optidb_source::workspace::Content;
use optidb_source::Lang;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower_lsp::lsp_types::*;
use tower_lsp::Client;

/// Commands the server runs itself (the editor runs `optidb.copyDdl`).
pub const SERVER_COMMANDS: &[&str] = &[
    code_action::SIMULATE,
    code_lens::OPEN_QUERY,
    WORKSPACE_STATEMENTS,
    "optidb.refresh",
];

/// Server-side command: the workspace's statements the daemon knows, most expensive first
/// (argument 0, optional: `{"query": "…", "limit": n}`).
pub const WORKSPACE_STATEMENTS: &str = "optidb.workspaceStatements";
/// Statements listed by `workspace/symbol` at most.
const SYMBOL_LIMIT: usize = 200;
/// Files of the workspace folders read for `workspace/symbol` at most.
const WORKSPACE_FILES: usize = 20_000;
/// Fingerprints per `/lookup` request when a whole workspace is looked up.
const LOOKUP_BATCH: usize = 500;

/// One open document.
pub(super) struct Doc {
    pub(super) version: i32,
    /// SQL, or the host language its SQL strings are read from.
    pub(super) lang: Lang,
    pub(super) index: Arc<LineIndex>,
    /// Filled by the first refresh of this version.
    pub(super) analysis: Option<Arc<FileAnalysis>>,
    /// The last analysis and the edits made since (re-analyzed incrementally when one edit).
    pub(super) since: Option<(Arc<FileAnalysis>, Vec<Edit>)>,
}

pub struct Inner {
    pub(super) client: Client,
    /// Workspace folders (for `workspace/symbol`).
    pub(super) roots: Mutex<Vec<std::path::PathBuf>>,
    /// The client re-asks for code lenses on `workspace/codeLens/refresh`.
    pub(super) supports_lens_refresh: AtomicBool,
    /// The daemon's last scan id seen by the scan watcher.
    pub(super) last_scan: Mutex<Option<i64>>,
    pub(super) settings: Mutex<Settings>,
    pub(super) docs: Mutex<HashMap<Url, Doc>>,
    pub(super) analyzer: Arc<Analyzer>,
    pub(super) daemon: DaemonClient,
    /// Set once "live data unavailable" was said; cleared when the daemon answers again.
    pub(super) told_unavailable: AtomicBool,
    /// Serializes "is this still the latest version? publish" per server.
    pub(super) publish_lock: tokio::sync::Mutex<()>,
    pub(super) supports_configuration: AtomicBool,
}

impl Inner {
    pub(super) fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn apply_settings(&self, v: &Value) {
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        s.merge(v);
        self.daemon
            .configure(s.daemon_url.as_ref().map(|u| Endpoint {
                base: u.clone(),
                token: s.token.clone(),
                timeout: s.lookup_timeout,
                ca: s.daemon_ca.clone(),
            }));
    }

    /// The current text and analysis of a document (analyzing it if needed).
    pub(super) async fn snapshot(
        &self,
        uri: &Url,
    ) -> Option<(i32, Arc<LineIndex>, Arc<FileAnalysis>)> {
        let (version, lang, index, analysis, since) = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            let d = docs.get(uri)?;
            (
                d.version,
                d.lang,
                d.index.clone(),
                d.analysis.clone(),
                d.since.clone(),
            )
        };
        let analysis = match analysis {
            Some(a) => a,
            None => {
                let a = self.analyze(lang, index.clone(), since).await?;
                let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(d) = docs.get_mut(uri).filter(|d| d.version == version) {
                    d.analysis = Some(a.clone());
                    d.since = None;
                }
                a
            }
        };
        Some((version, index, analysis))
    }

    /// Static analysis on the blocking pool (a panic there is a JoinError, logged): from the
    /// previous analysis when exactly one edit was made since, else of the whole text.
    pub(super) async fn analyze(
        &self,
        lang: Lang,
        index: Arc<LineIndex>,
        since: Option<(Arc<FileAnalysis>, Vec<Edit>)>,
    ) -> Option<Arc<FileAnalysis>> {
        let analyzer = self.analyzer.clone();
        let work = move || match since {
            Some((prev, edits)) if edits.len() == 1 => {
                analyzer.reanalyze(&prev, edits[0], index.text())
            }
            _ => analyzer.analyze(lang, index.text()),
        };
        match tokio::task::spawn_blocking(work).await {
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

    pub(super) fn view<'a>(
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
    pub(super) async fn refresh(&self, uri: Url) {
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

    pub(super) async fn publish(
        &self,
        uri: &Url,
        version: i32,
        index: &LineIndex,
        analysis: &FileAnalysis,
    ) {
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
    pub(super) async fn say_unavailable(&self, why: &str) {
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

    pub(super) async fn refresh_all(&self) {
        let uris: Vec<Url> = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            docs.keys().cloned().collect()
        };
        for u in uris {
            self.refresh(u).await;
        }
    }

    pub(super) async fn fetch_configuration(&self) {
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

    pub(super) async fn hover(&self, p: HoverParams) -> Option<Hover> {
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

    pub(super) async fn code_action(&self, p: CodeActionParams) -> Option<CodeActionResponse> {
        let (_, index, analysis) = self.snapshot(&p.text_document.uri).await?;
        let start = index.offset(p.range.start);
        let end = index.offset(p.range.end);
        let live = |fp: &str| self.daemon.cached(fp);
        let view = self.view(&index, &analysis, &live);
        let actions = code_action::code_actions(&view, &p.text_document.uri, start, end);
        Some(actions)
    }

    pub(super) async fn inlay_hints(&self, p: InlayHintParams) -> Option<Vec<InlayHint>> {
        let (_, index, analysis) = self.snapshot(&p.text_document.uri).await?;
        if let Err(e) = self.daemon.refresh(&analysis.fingerprints()).await {
            self.say_unavailable(&e.0).await;
        }
        let (start, end) = (index.offset(p.range.start), index.offset(p.range.end));
        let live = |fp: &str| self.daemon.cached(fp);
        let view = self.view(&index, &analysis, &live);
        Some(handlers::inlay_hints::inlay_hints(&view, start, end))
    }

    pub(super) async fn code_lens(&self, uri: &Url) -> Option<Vec<CodeLens>> {
        let (_, index, analysis) = self.snapshot(uri).await?;
        if let Err(e) = self.daemon.refresh(&analysis.fingerprints()).await {
            self.say_unavailable(&e.0).await;
        }
        let live = |fp: &str| self.daemon.cached(fp);
        let view = self.view(&index, &analysis, &live);
        Some(code_lens::code_lenses(&view))
    }

    /// The workspace's statements the daemon knows, most expensive first: open documents as
    /// they are in the editor, the other files of the workspace folders as they are on disk.
    pub(super) async fn workspace_statements(
        &self,
        query: &str,
        limit: usize,
    ) -> Vec<RankedStatement> {
        let roots = self.roots.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let open: HashMap<Url, (Lang, Arc<LineIndex>)> = {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            docs.iter()
                .map(|(u, d)| (u.clone(), (d.lang, d.index.clone())))
                .collect()
        };
        let analyzer = self.analyzer.clone();
        let files = tokio::task::spawn_blocking(move || {
            let walk = optidb_source::workspace::walk(&roots, WORKSPACE_FILES);
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for (uri, (lang, index)) in open {
                seen.insert(uri.clone());
                let a = analyzer.analyze(lang, index.text());
                out.push((uri, index, a));
            }
            for f in walk.files {
                let Ok(uri) = Url::from_file_path(&f.path) else {
                    continue;
                };
                if seen.contains(&uri) {
                    continue;
                }
                let Ok(Content::Text(text)) = optidb_source::workspace::read(&f.path) else {
                    continue;
                };
                let index = Arc::new(LineIndex::new(Arc::from(text)));
                let a = analyzer.analyze(f.lang, index.text());
                if !a.statements.is_empty() {
                    out.push((uri, index, a));
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        let mut fps: Vec<String> = files
            .iter()
            .flat_map(|(_, _, a)| a.fingerprints())
            .collect();
        fps.sort();
        fps.dedup();
        for chunk in fps.chunks(LOOKUP_BATCH) {
            if let Err(e) = self.daemon.refresh(chunk).await {
                self.say_unavailable(&e.0).await;
                break;
            }
        }
        let mut all = Vec::new();
        for (uri, index, a) in &files {
            for st in &a.statements {
                let Some(fp) = st.facts.fingerprint.as_deref() else {
                    continue;
                };
                if let Some(Known::Entry(e)) = self.daemon.cached(fp) {
                    all.push(RankedStatement::new(
                        uri.clone(),
                        index.range(st.start, st.end),
                        &index.text()[st.start..st.end],
                        &e,
                    ));
                }
            }
        }
        symbols::rank(all, query, limit)
    }

    pub(super) async fn workspace_symbols(&self, query: &str) -> Vec<SymbolInformation> {
        self.workspace_statements(query, SYMBOL_LIMIT)
            .await
            .into_iter()
            .map(|s| {
                #[allow(deprecated)] // `deprecated` is a required field of the LSP 3.16 type
                SymbolInformation {
                    name: s.name(),
                    kind: SymbolKind::EVENT,
                    tags: None,
                    deprecated: None,
                    location: s.location(),
                    container_name: Some(s.title.clone()),
                }
            })
            .collect()
    }

    /// Watches the daemon's last scan: when a new scan completes, what the editor shows is
    /// looked up again and clients that support it re-ask for code lenses.
    pub(super) async fn watch_scans(self: Arc<Self>) {
        loop {
            let every = self.settings().scan_poll;
            let Some(every) = every else {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            };
            tokio::time::sleep(every).await;
            if self.daemon.endpoint().is_none() {
                continue;
            }
            let Ok(h) = self.daemon.health().await else {
                continue;
            };
            let id = h.pointer("/last_scan/scan_id").and_then(Value::as_i64);
            let changed = {
                let mut last = self.last_scan.lock().unwrap_or_else(|p| p.into_inner());
                let changed = id.is_some() && *last != id;
                let first = last.is_none();
                *last = id;
                changed && !first
            };
            if changed {
                self.daemon.invalidate_all();
                self.refresh_all().await;
                if self.supports_lens_refresh.load(Ordering::SeqCst) {
                    let _ = self.client.code_lens_refresh().await;
                }
            }
        }
    }
}
