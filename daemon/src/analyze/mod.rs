//! Analysis: what OptiDB reads off the plans and the schema the collector gathered, so the
//! rules can quote evidence. Everything here is pure (no I/O): it takes collected data in and
//! returns facts.

pub mod advisor;
pub mod anomalies;
pub mod contention;
pub mod families;
pub mod plan_facts;
pub mod time;
