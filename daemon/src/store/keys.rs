//! The key scheme (described in the module doc of [`super`]): text keys with `\0` separators,
//! times as 16 hex digits that sort like the numbers they encode.

use super::TargetId;
use optidb_core::model::{Millis, PlanKind};

/// The format marker (global, not under a target).
pub(super) const FORMAT: &[u8] = b"!format";
/// Prefix of the target registry (global): `!target\0<target>`.
pub(super) const TARGETS: &[u8] = b"!target\0";

/// A time (or scan id) as 16 lowercase hex digits of the number with its sign bit flipped, so
/// that byte order is numeric order, negative numbers included.
pub(super) fn ts(v: Millis) -> String {
    format!("{:016x}", (v as u64) ^ (1u64 << 63))
}

/// The inverse of [`ts`]; `None` when the bytes are not 16 hex digits.
pub(super) fn parse_ts(b: &[u8]) -> Option<Millis> {
    if b.len() != 16 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let u = u64::from_str_radix(s, 16).ok()?;
    Some((u ^ (1u64 << 63)) as i64)
}

/// The key part for a plan's kind: generic sorts before analyzed at the same time, so the
/// newest plan of a scan that made both is the analyzed one.
pub(super) fn plan_kind(k: PlanKind) -> &'static str {
    match k {
        PlanKind::Generic => "1",
        PlanKind::Analyzed => "2",
        PlanKind::Custom => "3",
    }
}

/// A key for display in errors and logs: `\0` separators shown as `\0`.
pub(super) fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "\\0")
}

/// The global registry key of a target.
pub(super) fn target(t: &TargetId) -> Vec<u8> {
    cat(&[TARGETS, t.as_str().as_bytes()])
}

/// The target id a registry key names.
pub(super) fn target_of_registry_key(key: &[u8]) -> Option<TargetId> {
    let rest = key.strip_prefix(TARGETS)?;
    TargetId::parse(std::str::from_utf8(rest).ok()?)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// Keys under one target: every one starts with `<target>\0`.
pub(super) struct Keys<'a>(pub(super) &'a TargetId);

impl Keys<'_> {
    fn k(&self, parts: &[&str]) -> Vec<u8> {
        let mut s = String::with_capacity(64);
        s.push_str(self.0.as_str());
        for p in parts {
            s.push('\0');
            s.push_str(p);
        }
        s.into_bytes()
    }

    /// `<t>\0latest` → the scan id of the latest complete scan.
    pub(super) fn latest(&self) -> Vec<u8> {
        self.k(&["latest"])
    }
    /// `<t>\0retention` → the retention the last commit applied.
    pub(super) fn retention(&self) -> Vec<u8> {
        self.k(&["retention"])
    }
    /// `<t>\0counters` → the collector's counter state after the latest complete scan.
    pub(super) fn counters(&self) -> Vec<u8> {
        self.k(&["counters"])
    }
    /// `<t>\0scan\0` + [`ts`] of the scan id → a scan record.
    pub(super) fn scans(&self) -> Vec<u8> {
        self.k(&["scan", ""])
    }
    pub(super) fn scan(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scan", &ts(scan_id)])
    }
    /// `<t>\0scanq\0<scan id>` → the query ids a complete scan stored.
    pub(super) fn scan_queries(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scanq", &ts(scan_id)])
    }
    /// `<t>\0schema\0<scan id>` → the schema snapshot of a complete scan.
    pub(super) fn schema(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["schema", &ts(scan_id)])
    }
    /// `<t>\0q\0` + query id → a query.
    pub(super) fn queries(&self) -> Vec<u8> {
        self.k(&["q", ""])
    }
    pub(super) fn query(&self, id: &str) -> Vec<u8> {
        self.k(&["q", id])
    }
    /// `<t>\0m\0<query id>\0` + [`ts`] of captured_at → a metric.
    pub(super) fn metrics(&self, id: &str) -> Vec<u8> {
        self.k(&["m", id, ""])
    }
    pub(super) fn metric(&self, id: &str, at: Millis) -> Vec<u8> {
        self.k(&["m", id, &ts(at)])
    }
    /// `<t>\0p\0<query id>\0<captured_at>\0<kind>` → a plan.
    pub(super) fn plans(&self, id: &str) -> Vec<u8> {
        self.k(&["p", id, ""])
    }
    pub(super) fn plan(&self, id: &str, at: Millis, kind: PlanKind) -> Vec<u8> {
        self.k(&["p", id, &ts(at), plan_kind(kind)])
    }
    /// `<t>\0pe\0<query id>\0<captured_at>` → a plan error.
    pub(super) fn plan_errors(&self, id: &str) -> Vec<u8> {
        self.k(&["pe", id, ""])
    }
    pub(super) fn plan_error(&self, id: &str, at: Millis) -> Vec<u8> {
        self.k(&["pe", id, &ts(at)])
    }

    /// `<t>\0rec\0<rec_id>` → a recommendation (content-addressed: the same advice in every
    /// scan is the same key, so it keeps its first `created_at`).
    pub(super) fn rec(&self, rec_id: &str) -> Vec<u8> {
        self.k(&["rec", rec_id])
    }
    /// `<t>\0scanrec\0<scan id>` → the rec ids of a complete scan, best score first.
    pub(super) fn scan_recs(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scanrec", &ts(scan_id)])
    }
    /// `<t>\0scandrop\0<scan id>` → the candidates a complete scan's advisor dropped.
    pub(super) fn scan_dropped(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scandrop", &ts(scan_id)])
    }
    /// `<t>\0scanfam\0<scan id>` → the query families of a complete scan.
    pub(super) fn scan_families(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scanfam", &ts(scan_id)])
    }
    /// `<t>\0rec\0`: every recommendation.
    pub(super) fn recs(&self) -> Vec<u8> {
        self.k(&["rec", ""])
    }
    /// `<t>\0scanrec\0`: the rec id lists of every complete scan.
    pub(super) fn all_scan_recs(&self) -> Vec<u8> {
        self.k(&["scanrec", ""])
    }
    /// `<t>\0<kind>\0` for every per-query kind (`m`, `p`, `pe`, `sim`, `w`): where retention
    /// looks for orphans, rows whose query is no longer stored.
    pub(super) fn per_query_roots(&self) -> [Vec<u8>; 5] {
        ["m", "p", "pe", "sim", "w"].map(|kind| self.k(&[kind, ""]))
    }

    /// `<t>\0sim\0<query id>\0` + [`ts`] of ran_at + `\0<simulation id>` → a simulation.
    pub(super) fn simulations(&self, id: &str) -> Vec<u8> {
        self.k(&["sim", id, ""])
    }
    pub(super) fn simulation(&self, id: &str, at: Millis, sim_id: &str) -> Vec<u8> {
        self.k(&["sim", id, &ts(at), sim_id])
    }

    /// `<t>\0w\0<query id>\0` + [`ts`] of captured_at → a wait profile.
    pub(super) fn waits(&self, id: &str) -> Vec<u8> {
        self.k(&["w", id, ""])
    }
    pub(super) fn wait(&self, id: &str, at: Millis) -> Vec<u8> {
        self.k(&["w", id, &ts(at)])
    }
    /// `<t>\0scantag\0<scan id>` → the tags of a complete scan (query id, tag).
    pub(super) fn scan_tags(&self, scan_id: Millis) -> Vec<u8> {
        self.k(&["scantag", &ts(scan_id)])
    }

    /// The per-query history prefixes retention trims (metrics, plans, plan errors, waits).
    pub(super) fn history_prefixes(&self, id: &str) -> [Vec<u8>; 4] {
        [
            self.metrics(id),
            self.plans(id),
            self.plan_errors(id),
            self.waits(id),
        ]
    }
}

/// The time right after a history prefix (`…\0<query id>\0`) in a key: the first 16 bytes.
pub(super) fn time_after(prefix: &[u8], key: &[u8]) -> Option<Millis> {
    let rest = key.strip_prefix(prefix)?;
    parse_ts(rest.get(..16)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_sorts_like_numbers() {
        let vals = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let enc: Vec<String> = vals.iter().map(|v| ts(*v)).collect();
        let mut sorted = enc.clone();
        sorted.sort();
        assert_eq!(enc, sorted);
        for v in vals {
            assert_eq!(parse_ts(ts(v).as_bytes()), Some(v));
        }
        assert_eq!(parse_ts(b"zz"), None);
        assert_eq!(parse_ts(b"zzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn prefixes_do_not_overlap() {
        let t = TargetId::parse("0123456789abcdef").unwrap();
        let k = Keys(&t);
        // A query id that is a prefix of another does not share its history prefix.
        assert!(!k.metric("abc", 1).starts_with(&k.metrics("ab")));
        assert!(k.metric("ab", 1).starts_with(&k.metrics("ab")));
        assert!(!k.plan_error("a", 1).starts_with(&k.plans("a")));
        assert!(!k.scan_queries(1).starts_with(&k.scans()));
        assert_eq!(time_after(&k.metrics("ab"), &k.metric("ab", 42)), Some(42));
        assert_eq!(
            time_after(&k.plans("ab"), &k.plan("ab", -3, PlanKind::Analyzed)),
            Some(-3)
        );
        assert_eq!(show(&k.latest()), "0123456789abcdef\\0latest");
    }
}
