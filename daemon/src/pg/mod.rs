//! The only place OptiDB talks to a target PostgreSQL. Everything about safety lives here and is
//! documented in docs/security.md:
//!
//! - `conninfo`: how a target address is read (libpq's URL and `key=value` forms, its TLS and
//!   password-file parameters and PG* variables) and how every connection is opened.
//! - `tls`: TLS with libpq's sslmode semantics (rustls; what each mode verifies).
//! - `passfile`: libpq's password file (`~/.pgpass`).
//! - `session`: how a session is opened (settings pinned in the startup packet, superuser
//!   refused), what was learnt at connect time, and whether its state is still known.
//! - `pipeline`: how statements travel (one statement per Parse, bound parameters, pipelined).
//! - `unit`: how work about a foreign statement is wrapped (BEGIN READ ONLY … ROLLBACK, clean-up
//!   and a state check after, a deadline with cancellation).
//! - `trust`: which functions planning may reach, checked by a guard inside each unit.
//! - `explain`: how plans are asked for (generic, custom, EXPLAIN ANALYZE on opt-in).
//! - `helper`: the least-privilege plan role and its SECURITY DEFINER helper.
//! - `doctor`: what a target's role can and cannot do, and the GRANTs that are missing.

pub mod conninfo;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod helper;
pub mod passfile;
pub mod pipeline;
pub mod session;
pub mod tls;
pub mod trust;
pub mod unit;

pub use error::PgError;
pub use session::{connect, Session, TargetConfig, TrustConfig, MARKER};
