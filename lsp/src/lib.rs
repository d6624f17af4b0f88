//! optidb-lsp: the OptiDB language server. Puts what the daemon knows about a query (and what
//! the text alone shows) on the exact statement in the editor. The only crate that knows LSP.
//!
//! - [`server`]: the LSP handlers (thin), the panic guard; its `session` holds document state,
//!   its `commands` run the server's commands.
//! - [`handlers`]: diagnostics, hover and code actions as pure functions.
//! - [`convert`]: byte offsets ↔ LSP positions (UTF-16), the only place that does this.
//! - [`daemon`]: the daemon client (lookup, simulate, health) with timeout and cache.
//! - [`config`]: settings from initializationOptions / workspace configuration.
//! - [`framing`]: Content-Length framing and checks in front of tower-lsp (bad input is
//!   answered with a JSON-RPC error, never stops the server).
//! - [`bench`]: `optidb-lsp --bench`.

pub mod bench;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod framing;
pub mod handlers;
pub mod server;
