//! optidb-core: what the daemon and the language server agree on, with no I/O.
//!
//! - [`sql`]: split a file into statements with byte ranges, map client placeholders, normalize
//!   and fingerprint with pg_query (the fingerprint is the query id everywhere).
//! - [`model`]: the data contracts the daemon stores and serves (serde types); [`family`]:
//!   query families as stored and served.
//!
//! Architecture invariant: nothing here knows LSP, HTTP, sled or tokio.

pub mod family;
pub mod format;
pub mod model;
pub mod redact;
pub mod sql;
pub mod time;
