//! Hover on a statement: "Why is this slow?" in Markdown — metrics, plan facts, recommendations
//! with their DDL, tags, the last simulation, and the static findings.

use super::{duration_ms, thousands, DocView};
use crate::daemon::Known;
use optidb_source::analysis::StatementInfo;
use std::fmt::Write;

/// What the server knows about the daemon when it renders a hover.
pub enum LiveState<'a> {
    /// No daemon configured.
    Off,
    /// The daemon could not be reached.
    Unavailable(&'a str),
    /// The daemon answers (or has not been asked yet).
    Available,
}

/// Markdown for the statement at `offset`, or `None` when the cursor is not on a statement or
/// there is nothing to say.
pub fn hover_markdown<'a>(
    doc: &DocView<'a>,
    offset: usize,
    live: LiveState<'_>,
) -> Option<(String, &'a StatementInfo)> {
    let st = doc.analysis.statement_at(offset)?;
    let f = &st.facts;
    let mut md = String::new();
    if let Some(e) = &f.syntax_error {
        let _ = writeln!(md, "**Syntax error:** {}", e.message);
        return Some((md, st));
    }
    let fp = f.fingerprint.as_deref()?;
    match (doc.live)(fp) {
        Some(Known::Entry(e)) => {
            md.push_str("### Why is this slow?\n\n");
            let _ = writeln!(
                md,
                "**{}** mean × **{}** calls = **{}** total\n",
                duration_ms(e.mean_ms),
                thousands(e.calls),
                duration_ms(e.total_ms)
            );
            // Findings in time first: a query that waits on locks is not slow because of
            // its plan.
            for t in &e.query_tags {
                let _ = writeln!(md, "**`{}`** — {}\n", t.tag, t.evidence.trim());
                if let Some(advice) = t.detail.get("advice").and_then(|a| a.as_array()) {
                    for a in advice.iter().filter_map(|a| a.as_str()) {
                        let _ = writeln!(md, "- {a}");
                    }
                    if !advice.is_empty() {
                        md.push('\n');
                    }
                }
            }
            if let Some(w) = e.waits.as_ref().filter(|w| w.samples > 0) {
                let _ = write!(md, "**Waits** ({} samples): {}", w.samples, w.summary());
                if let Some(h) = w.lock_headline() {
                    let _ = write!(md, " — {h}");
                }
                md.push_str("\n\n");
            }
            if e.had_seq_scan {
                let tables = if e.seq_scan_tables.is_empty() {
                    String::new()
                } else {
                    format!(
                        " on {}",
                        e.seq_scan_tables
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(md, "**Plan:** Seq Scan{tables}\n");
            }
            if e.query_tags.is_empty() && !e.tags.is_empty() {
                let _ = writeln!(md, "**Tags:** {}\n", e.tags.join(", "));
            }
            if e.recommendations.is_empty() {
                md.push_str("No recommendation for this query.\n\n");
            } else {
                md.push_str("#### Recommendations\n\n");
                for (i, r) in e.recommendations.iter().enumerate() {
                    let _ = writeln!(
                        md,
                        "{}. **{}** (confidence {:.0}%): {}\n",
                        i + 1,
                        r.rec_type.replace('_', " "),
                        r.confidence * 100.0,
                        r.rationale.trim()
                    );
                    if !r.ddl.is_empty() {
                        let _ = writeln!(md, "```sql\n{}\n```\n", r.ddl.trim());
                    }
                    if let Some(v) = &r.verification {
                        let _ = writeln!(
                            md,
                            "hypopg check: cost {:.0} → {:.0} (−{:.0}%){}\n",
                            v.before_cost,
                            v.after_cost,
                            v.improvement_pct,
                            if v.index_used { "" } else { ", index not used" }
                        );
                    }
                    if !r.risk.is_empty() {
                        let _ = writeln!(md, "Risk: {}\n", r.risk.trim());
                    }
                }
            }
            if let Some(s) = &e.last_simulation {
                let _ = writeln!(
                    md,
                    "#### Last simulation ({})\n\n{} → {}{} (−{:.0}%){}\n",
                    s.mode,
                    duration_ms(s.before_ms),
                    duration_ms(s.after_ms),
                    if s.after_is_estimate { " est." } else { "" },
                    s.improvement_pct,
                    if s.plan_changes.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", s.plan_changes.join("; "))
                    }
                );
            }
        }
        Some(Known::Unknown) => {
            md.push_str("OptiDB has not seen this query on the database yet.\n\n");
        }
        None => match live {
            LiveState::Off => md.push_str("Live data is off (set `optidb.daemonUrl`).\n\n"),
            LiveState::Unavailable(why) => {
                let _ = writeln!(md, "Live data is unavailable: {why}\n");
            }
            LiveState::Available => md.push_str("No live data for this query yet.\n\n"),
        },
    }
    if !f.lints.is_empty() {
        md.push_str("#### From the text\n\n");
        for l in &f.lints {
            let _ = writeln!(md, "- **{}**: {} — {}", l.rule, l.message, l.help);
        }
        md.push('\n');
    }
    let _ = write!(md, "query id `{fp}`");
    Some((md, st))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::LineIndex;
    use optidb_source::analysis::Analyzer;
    use optidb_source::fixtures::tickets_entry;
    use std::sync::Arc;

    /// Renders the hover at the `$0` cursor of `fixture`, the daemon knowing every parsed
    /// statement as the tickets example.
    fn check(fixture: &str, known: bool) -> Option<String> {
        let offset = fixture.find("$0").expect("cursor");
        let text = fixture.replacen("$0", "", 1);
        let index = LineIndex::new(Arc::from(text.as_str()));
        let analysis = Analyzer::default().analyze(optidb_source::Lang::Sql, &text);
        let entry = Arc::new(tickets_entry());
        let live = move |_: &str| known.then(|| Known::Entry(entry.clone()));
        let doc = DocView {
            index: &index,
            analysis: &analysis,
            live: &live,
        };
        hover_markdown(&doc, offset, LiveState::Unavailable("connection refused")).map(|h| h.0)
    }

    #[test]
    fn hover_explains_metrics_plan_recommendation_and_simulation() {
        let md = check("SELECT * FROM tickets WHERE buyer_$0id = 42;", true).unwrap();
        assert!(
            md.contains("**24.6 ms** mean × **1,240** calls = **30.5 s** total"),
            "{md}"
        );
        assert!(md.contains("Seq Scan on `public.tickets`"), "{md}");
        assert!(
            md.contains("```sql\nCREATE INDEX CONCURRENTLY ON public.tickets"),
            "{md}"
        );
        assert!(md.contains("24.6 ms → 1.70 ms (−93%)"), "{md}");
    }

    #[test]
    fn hover_without_live_data_says_why_and_shows_static_findings() {
        let md = check("SELECT 1;\nSELECT * FROM t WHERE a LIKE '%x'$0", false).unwrap();
        assert!(
            md.contains("Live data is unavailable: connection refused"),
            "{md}"
        );
        assert!(md.contains("**leading_wildcard_like**"), "{md}");
    }

    #[test]
    fn hover_shows_the_contention_tag_and_the_wait_profile() {
        use optidb_core::model::{Blocker, QueryTag, WaitProfile};
        let offset = 10;
        let text = "UPDATE coupons SET n = n + 1 WHERE code = 'A';";
        let index = LineIndex::new(Arc::from(text));
        let analysis = Analyzer::default().analyze(optidb_source::Lang::Sql, text);
        let mut e = tickets_entry();
        e.tags = vec!["contention".into()];
        e.query_tags = vec![QueryTag {
            tag: "contention".into(),
            evidence: "Waits on a row lock (transactionid) in 78% of 40 samples, blocked by \
                       shop-batch-job."
                .into(),
            since: Some(1),
            detail: serde_json::json!({"advice": ["Use SELECT … FOR UPDATE SKIP LOCKED."]}),
        }];
        e.waits = Some(WaitProfile {
            samples: 40,
            lock: 31,
            cpu: 9,
            lock_events: [("transactionid".to_string(), 31)].into(),
            blockers: vec![Blocker {
                application_name: "shop-batch-job".into(),
                query: "SELECT code FROM coupons WHERE valid_until >= $1 FOR UPDATE".into(),
                xact_age_ms_mean: 25.2,
                ..Default::default()
            }],
            ..Default::default()
        });
        let entry = Arc::new(e);
        let live = move |_: &str| Some(Known::Entry(entry.clone()));
        let doc = DocView {
            index: &index,
            analysis: &analysis,
            live: &live,
        };
        let md = hover_markdown(&doc, offset, LiveState::Available)
            .unwrap()
            .0;
        assert!(
            md.contains("**`contention`** — Waits on a row lock"),
            "{md}"
        );
        assert!(
            md.contains("- Use SELECT … FOR UPDATE SKIP LOCKED."),
            "{md}"
        );
        assert!(
            md.contains(
                "waits on a row lock 78% of the time, blocked by `shop-batch-job` \
                 (`SELECT code FROM coupons WHERE valid_until >= $1 FOR UPDATE`, transactions \
                 open ~25 ms)"
            ),
            "{md}"
        );
        assert!(
            md.contains("**Waits** (40 samples): 78% Lock (transactionid), 22% CPU"),
            "{md}"
        );
        // The tag comes before the plan.
        assert!(
            md.find("contention").unwrap() < md.find("Seq Scan").unwrap(),
            "{md}"
        );
    }

    #[test]
    fn no_hover_between_statements() {
        assert_eq!(check("SELECT 1; $0 SELECT 2", true), None);
    }
}
