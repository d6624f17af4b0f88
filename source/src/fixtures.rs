//! Worked examples shared by the tests of this crate and of its users (feature `fixtures`).

use optidb_core::model::{LookupEntry, LookupRec, LookupSimulation};

/// The example: tickets filtered by buyer, simulated −93%.
pub fn tickets_entry() -> LookupEntry {
    LookupEntry {
        query_id: "0123456789abcdef".into(),
        mean_ms: 24.6,
        calls: 1240,
        total_ms: 30_504.0,
        had_seq_scan: true,
        seq_scan_tables: vec!["public.tickets".into()],
        recommendations: vec![LookupRec {
            rec_id: "r1".into(),
            rec_type: "missing_index".into(),
            ddl: "CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)".into(),
            rationale: "Seq Scan filters tickets.buyer_id = $1.".into(),
            confidence: 0.9,
            risk: "low".into(),
            verification: None,
        }],
        last_simulation: Some(LookupSimulation {
            rec_id: "r1".into(),
            mode: "hypopg".into(),
            before_ms: 24.6,
            after_ms: 1.7,
            improvement_pct: 93.1,
            ..Default::default()
        }),
        tags: vec![],
        ..Default::default()
    }
}
