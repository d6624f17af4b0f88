//! Reading the target, nothing else: pg_stat_statements counters and texts ([`statements`]), the
//! catalogs ([`schema`], one SQL file per source in `queries/`), and real-value samples of
//! running statements ([`sampler`]). Everything here goes through `crate::pg`; the scan that
//! puts the readings together is `crate::scan`.

pub mod sampler;
pub mod schema;
pub mod statements;
