//! The wall clock, in the one unit OptiDB stores: milliseconds since the Unix epoch.

use optidb_core::model::Millis;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
