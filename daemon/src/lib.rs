//! optidb: the daemon and CLI library (collector, analysis, simulator, store, HTTP, sandbox).
//!
//! `main.rs` is thin: it parses arguments and calls into the modules here, so the
//! end-to-end tests can use the same code (for example [`sandbox::Sandbox`]).

pub mod analyze;
pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod daemon;
pub mod demo;
pub mod http;
pub mod logging;
pub mod pg;
pub mod sandbox;
pub mod scan;
pub mod seed;
pub mod simulate;
pub mod store;
