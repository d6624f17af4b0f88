//! What OptiDB says about a statement the daemon knows, in the few words an editor line, a code
//! lens or a CI annotation has room for. One place, so the language server and `optidb check`
//! say the same thing.

use optidb_core::format::{ms as duration_ms, thousands};
use optidb_core::model::{LookupEntry, LookupRec};
use optidb_core::sql::lints::LintSeverity;

/// A recommendation at least this confident makes a live finding a warning.
pub const HIGH_CONFIDENCE: f64 = 0.7;

/// The one-line live finding of a query, and how loud it is: a warning when a recommendation is
/// confident, information otherwise; nothing for a query with neither advice nor a Seq Scan.
pub fn live_finding(e: &LookupEntry) -> Option<(LintSeverity, String)> {
    let top = e.recommendations.first();
    if top.is_none() && !e.had_seq_scan {
        return None;
    }
    let mut parts = vec![format!(
        "{} × {} calls",
        duration_ms(e.mean_ms),
        thousands(e.calls)
    )];
    if e.had_seq_scan {
        if e.seq_scan_tables.is_empty() {
            parts.push("Seq Scan".into());
        } else {
            let t: Vec<&str> = e
                .seq_scan_tables
                .iter()
                .map(|t| t.rsplit('.').next().unwrap_or(t))
                .collect();
            parts.push(format!("Seq Scan on {}", t.join(", ")));
        }
    }
    let severity = match top {
        Some(r) => {
            parts.push(rec_summary(e, r));
            if r.confidence >= HIGH_CONFIDENCE {
                LintSeverity::Warning
            } else {
                LintSeverity::Info
            }
        }
        None => LintSeverity::Info,
    };
    Some((severity, parts.join("; ")))
}

/// The rule a live finding is reported under: the top recommendation's kind, else
/// `slow_query`.
pub fn rule(e: &LookupEntry) -> &str {
    e.recommendations
        .first()
        .map_or(SLOW_QUERY_RULE, |r| r.rec_type.as_str())
}

/// The rule of a live finding on a query with no recommendation (a Seq Scan).
pub const SLOW_QUERY_RULE: &str = "slow_query";

/// `add index on tickets(buyer_id), −93% simulated`.
pub fn rec_summary(e: &LookupEntry, r: &LookupRec) -> String {
    let what = match index_target(&r.ddl) {
        Some(t) if r.rec_type != "redundant_index" => format!("add index on {t}"),
        _ => first_sentence(&r.rationale)
            .or_else(|| Some(r.rec_type.replace('_', " ")))
            .unwrap_or_default(),
    };
    let gain = match &e.last_simulation {
        Some(s) if s.rec_id == r.rec_id && s.improvement_pct > 0.0 => {
            Some(format!("−{:.0}% simulated", s.improvement_pct))
        }
        _ => r
            .verification
            .as_ref()
            .filter(|v| v.improvement_pct > 0.0)
            .map(|v| format!("−{:.0}% est. cost", v.improvement_pct)),
    };
    match gain {
        Some(g) => format!("{what}, {g}"),
        None => what,
    }
}

fn first_sentence(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let end = s.find(". ").map(|i| i + 1).unwrap_or(s.len());
    let mut out = s[..end].trim_end_matches('.').to_string();
    if out.chars().count() > 100 {
        out = out.chars().take(99).collect::<String>() + "…";
    }
    Some(out)
}

/// What an index DDL creates, short: `CREATE INDEX … ON public.tickets USING btree (buyer_id)`
/// → `tickets(buyer_id)`. `None` when the DDL is not a CREATE INDEX.
pub fn index_target(ddl: &str) -> Option<String> {
    let upper = ddl.to_ascii_uppercase();
    if !upper.trim_start().starts_with("CREATE") || !upper.contains("INDEX") {
        return None;
    }
    let on = upper.find(" ON ")? + 4;
    let rest = &ddl[on..];
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    let table_part = rest[..open].trim();
    let table = table_part
        .split_whitespace()
        .find(|w| {
            !w.eq_ignore_ascii_case("ONLY")
                && !w.eq_ignore_ascii_case("USING")
                && !matches!(
                    w.to_ascii_lowercase().as_str(),
                    "btree" | "gin" | "gist" | "brin" | "hash" | "spgist"
                )
        })?
        .rsplit('.')
        .next()?
        .to_string();
    Some(format!("{table}({})", rest[open + 1..close].trim()))
}

/// The code lens above a statement the daemon knows:
/// `12.4 ms × 1,240 calls · 15.4 s total · −93% with index`.
pub fn lens_title(e: &LookupEntry) -> String {
    let mut parts = vec![
        format!("{} × {} calls", duration_ms(e.mean_ms), thousands(e.calls)),
        format!("{} total", duration_ms(e.total_ms)),
    ];
    if let Some(g) = gain(e) {
        parts.push(g);
    }
    let tags: Vec<&str> = e.tags.iter().map(String::as_str).collect();
    if !tags.is_empty() {
        parts.push(tags.join(", "));
    }
    parts.join(" · ")
}

/// `−93% with index` (simulated) or `−80% est. with index` (planner cost), for the top
/// recommendation.
fn gain(e: &LookupEntry) -> Option<String> {
    let r = e.recommendations.first()?;
    let what = if index_target(&r.ddl).is_some() && r.rec_type != "redundant_index" {
        "with index"
    } else {
        "with fix"
    };
    match &e.last_simulation {
        Some(s) if s.rec_id == r.rec_id && s.improvement_pct > 0.0 => {
            Some(format!("−{:.0}% {what}", s.improvement_pct))
        }
        _ => r
            .verification
            .as_ref()
            .filter(|v| v.improvement_pct > 0.0)
            .map(|v| format!("−{:.0}% est. {what}", v.improvement_pct)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::tickets_entry;

    #[test]
    fn the_issue_example_message() {
        let (sev, msg) = live_finding(&tickets_entry()).unwrap();
        assert_eq!(sev, LintSeverity::Warning);
        assert_eq!(
            msg,
            "24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated"
        );
    }

    #[test]
    fn weak_advice_is_information_and_nothing_to_say_is_nothing() {
        let mut e = tickets_entry();
        e.recommendations[0].confidence = 0.4;
        assert_eq!(live_finding(&e).unwrap().0, LintSeverity::Info);
        e.recommendations.clear();
        e.had_seq_scan = false;
        assert_eq!(live_finding(&e), None);
    }

    #[test]
    fn lens_titles() {
        let mut e = tickets_entry();
        assert_eq!(
            lens_title(&e),
            "24.6 ms × 1,240 calls · 30.5 s total · −93% with index"
        );
        e.last_simulation = None;
        e.recommendations.clear();
        e.tags = vec!["contention".into()];
        assert_eq!(
            lens_title(&e),
            "24.6 ms × 1,240 calls · 30.5 s total · contention"
        );
    }

    #[test]
    fn index_targets() {
        assert_eq!(
            index_target("CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)")
                .as_deref(),
            Some("tickets(buyer_id)")
        );
        assert_eq!(
            index_target("CREATE INDEX idx ON orders (customer_id, created_at DESC)").as_deref(),
            Some("orders(customer_id, created_at DESC)")
        );
        assert_eq!(index_target("ANALYZE orders"), None);
    }
}
