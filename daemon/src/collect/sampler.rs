//! Real-value samples: pg_stat_statements only knows `$n` text, so a light poller reads
//! pg_stat_activity for statements running right now and keeps, per fingerprint, the latest one
//! that carries real values. EXPLAIN ANALYZE needs such a sample.

use crate::pg::session::{self, TargetConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const ACTIVITY_SQL: &str = include_str!("queries/activity_samples.sql");

/// Most fingerprints remembered; beyond it the map is cleared and refilled (bounded memory).
const MAX_SAMPLES: usize = 10_000;

/// fingerprint → latest real-value sample.
#[derive(Debug, Default)]
pub struct Samples {
    map: Mutex<HashMap<String, String>>,
}

impl Samples {
    pub fn get(&self, fingerprint: &str) -> Option<String> {
        self.map.lock().ok()?.get(fingerprint).cloned()
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps `text` if it is a statement with real values OptiDB could analyze.
    pub fn offer(&self, text: &str) {
        if !crate::pg::explain::analyzable_sample(text) {
            return;
        }
        let Ok(fp) = optidb_core::sql::fingerprint_only(text) else {
            return;
        };
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= MAX_SAMPLES && !m.contains_key(&fp) {
                m.clear();
            }
            m.insert(fp, text.to_string());
        }
    }
}

/// Polls pg_stat_activity every `every` until the task is dropped. Connection problems are
/// logged once per outage and retried with the poll interval (at least one second).
pub async fn run(target: TargetConfig, samples: std::sync::Arc<Samples>, every: Duration) {
    let mut session: Option<session::Session> = None;
    let mut reported = false;
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if session.as_ref().is_none_or(|s| !s.is_usable()) {
            match session::connect(&target).await {
                Ok(s) => {
                    session = Some(s);
                    reported = false;
                }
                Err(e) => {
                    if !reported {
                        tracing::info!("sampler: {e} ({})", e.hint());
                        reported = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let Some(s) = session.as_ref() else { continue };
        let patience = target.statement_timeout + Duration::from_secs(1);
        let answer =
            match tokio::time::timeout(patience, session::query(s, ACTIVITY_SQL, &[])).await {
                Ok(a) => a,
                Err(_) => {
                    // A server that stopped answering cannot trip its own statement_timeout.
                    s.cancel().await;
                    session = None;
                    continue;
                }
            };
        match answer {
            Ok(rows) => {
                for r in rows {
                    if let Ok(Some(text)) = r.try_get::<_, Option<String>>(0) {
                        samples.offer(&text);
                    }
                }
            }
            Err(e) => {
                tracing::debug!("sampler: {e}");
                if e.is_connection_problem() {
                    session = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_real_value_selects() {
        let s = Samples::default();
        s.offer("SELECT * FROM orders WHERE customer_id = 7");
        s.offer("SELECT * FROM orders WHERE customer_id = $1");
        s.offer("UPDATE orders SET status = 'x' WHERE id = 1");
        assert_eq!(s.len(), 1);
        let fp = optidb_core::sql::fingerprint_only("SELECT * FROM orders WHERE customer_id = 1")
            .unwrap();
        assert_eq!(
            s.get(&fp).as_deref(),
            Some("SELECT * FROM orders WHERE customer_id = 7")
        );
        assert!(ACTIVITY_SQL.contains(crate::pg::MARKER));
    }
}
