//! The only place OptiDB talks to a target PostgreSQL. Everything about safety lives here and is
//! documented in docs/security.md:
//!
//! - `session`: how a session is opened (settings pinned in the startup packet, superuser
//!   refused), what was learnt at connect time, and whether its state is still known.
//! - `pipeline`: how statements travel (one statement per Parse, bound parameters, pipelined).
//! - `unit`: how work about a foreign statement is wrapped (BEGIN READ ONLY … ROLLBACK, clean-up
//!   and a state check after, a deadline with cancellation).
//! - `trust`: which functions planning may reach, checked by a guard inside each unit.
//! - `explain`: how plans are asked for (generic, custom, EXPLAIN ANALYZE on opt-in).
//! - `helper`: the least-privilege plan role and its SECURITY DEFINER helper.
//! - `doctor`: what a target's role can and cannot do, and the GRANTs that are missing.

pub mod doctor;
pub mod error;
pub mod explain;
pub mod helper;
pub mod pipeline;
pub mod session;
pub mod trust;
pub mod unit;

pub use error::PgError;
pub use session::{connect, Session, TargetConfig, TrustConfig, MARKER};
