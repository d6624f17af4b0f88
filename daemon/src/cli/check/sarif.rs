//! `optidb check --format sarif`: the report as one SARIF 2.1.0 run that GitHub code scanning
//! (`github/codeql-action/upload-sarif`) accepts — rules with descriptions, results with a level,
//! a message, a region in UTF-16 columns on a URI relative to `%SRCROOT%` (the repository root),
//! partialFingerprints that survive moved lines, and a live finding's query id, recommendation
//! and DDL in its properties. Validated against the official schema by tests/tests/check.rs.

use super::files::{file_uri, uri_path};
use super::findings::{Finding, Report, Severity, SLOW_QUERY_RULE, SYNTAX_RULE};
use optidb_source::analysis::INJECTION_RULE;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// The base id result URIs are relative to.
pub const SRCROOT: &str = "%SRCROOT%";

/// Where the tool's documentation is: the package's repository, when Cargo.toml names one.
fn information_uri() -> Option<&'static str> {
    Some(env!("CARGO_PKG_REPOSITORY")).filter(|u| !u.is_empty())
}

/// A rule of the run: id, a one-line description, and tags for code scanning's filters.
struct RuleDoc {
    id: String,
    short: String,
    tags: &'static [&'static str],
}

/// Every static rule (whether it fired or not), then the live rules that fired.
fn rules(report: &Report) -> Vec<RuleDoc> {
    let mut out = vec![RuleDoc {
        id: SYNTAX_RULE.into(),
        short: "SQL that PostgreSQL cannot parse".into(),
        tags: &["sql", "correctness"],
    }];
    for r in optidb_core::sql::lints::RULES {
        out.push(RuleDoc {
            id: r.name.into(),
            short: r.summary.into(),
            tags: &["sql", "performance"],
        });
    }
    out.push(RuleDoc {
        id: INJECTION_RULE.into(),
        short: "SQL built by splicing values or text into the statement instead of passing query \
                parameters"
            .into(),
        tags: &["sql", "security", "external/cwe/cwe-89"],
    });
    let live: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.query_id.is_some())
        .map(|f| f.rule.as_str())
        .collect();
    for id in live {
        let short = match id {
            "missing_index" => "A slow query the database runs that an index would serve",
            "composite_index" => "A slow query that a multi-column index would serve",
            "redundant_index" => "A query whose table carries an index nothing needs",
            "stats" => "A slow query planned on stale or missing statistics",
            "rewrite" => "A slow query that runs faster written another way",
            SLOW_QUERY_RULE => "A query the database reads with a Seq Scan, with no advice yet",
            _ => "A query the OptiDB daemon has advice for",
        };
        out.push(RuleDoc {
            id: id.into(),
            short: short.into(),
            tags: &["sql", "performance", "live"],
        });
    }
    out
}

/// SARIF's level of a severity: information and hints are notes.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "note",
    }
}

/// A result's location: relative to `%SRCROOT%` when the file is inside the root, else an
/// absolute `file://` URI.
fn artifact(path: &str) -> Value {
    if path.starts_with('/') || std::path::Path::new(path).is_absolute() {
        json!({ "uri": file_uri(std::path::Path::new(path)) })
    } else {
        json!({ "uri": uri_path(path), "uriBaseId": SRCROOT })
    }
}

/// `optidbFindingHash/v1`: a hash of the rule, file and anchor (query id or source text), with
/// the finding's ordinal among identical ones.
fn fingerprint(f: &Finding, seen: &mut HashMap<String, usize>) -> String {
    let mut h = blake3::Hasher::new();
    for part in [f.rule.as_str(), f.path.as_str(), f.anchor.as_str()] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    let hash = h.finalize().to_hex()[..32].to_string();
    let n = seen.entry(hash.clone()).or_insert(0);
    *n += 1;
    format!("{hash}:{n}")
}

/// The whole SARIF log.
pub fn render(report: &Report) -> Value {
    let rules = rules(report);
    let index: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut seen = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut r = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(&f.path),
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        }
                    }
                }],
                "partialFingerprints": { "optidbFindingHash/v1": fingerprint(f, &mut seen) },
            });
            if let Some(i) = index.get(f.rule.as_str()) {
                r["ruleIndex"] = json!(i);
            }
            if let Some(q) = &f.query_id {
                r["properties"] = json!({
                    "queryId": q,
                    "recId": f.rec_id,
                    "ddl": f.ddl,
                    "confidence": f.confidence,
                });
            }
            r
        })
        .collect();
    let mut driver = json!({
        "name": "OptiDB",
        "version": report.tool.version,
        "semanticVersion": report.tool.version,
        "rules": rules.iter().map(|r| json!({
            "id": r.id,
            "name": r.id,
            "shortDescription": { "text": r.short },
            "help": { "text": r.short },
            "properties": { "tags": r.tags },
        })).collect::<Vec<_>>(),
    });
    if let Some(u) = information_uri() {
        driver["informationUri"] = json!(u);
    }
    let notifications: Vec<Value> = report
        .skipped
        .iter()
        .map(|s| {
            json!({
                "level": "warning",
                "message": { "text": format!("{} not checked: {}", s.path, s.reason) },
                "locations": [{ "physicalLocation": { "artifactLocation": artifact(&s.path) } }],
            })
        })
        .chain(
            report
                .errors
                .iter()
                .map(|e| json!({ "level": "error", "message": { "text": e } })),
        )
        .collect();
    let root = std::path::Path::new(&report.root);
    let root_uri = file_uri(root);
    let root_uri = if root_uri.ends_with('/') {
        root_uri
    } else {
        format!("{root_uri}/")
    };
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "originalUriBaseIds": { SRCROOT: { "uri": root_uri } },
            "columnKind": "utf16CodeUnits",
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::super::text::tests::sample_report;
    use super::*;

    #[test]
    fn results_rules_and_locations() {
        let mut report = sample_report();
        report.skipped.push(super::super::findings::Skipped {
            path: "dir with space/bin.sql".into(),
            reason: "not UTF-8 text".into(),
        });
        let v = render(&report);
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "OptiDB");
        assert_eq!(run["columnKind"], "utf16CodeUnits");
        assert_eq!(
            run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
            "file:///repo/"
        );
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids[0], "syntax_error");
        assert!(ids.contains(&"leading_wildcard_like") && ids.contains(&"sql_injection_risk"));
        assert_eq!(
            ids.last(),
            Some(&"missing_index"),
            "live rules that fired come last"
        );

        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        let live = &results[0];
        assert_eq!(live["ruleId"], "missing_index");
        assert_eq!(live["level"], "warning");
        assert_eq!(
            rules[live["ruleIndex"].as_u64().unwrap() as usize]["id"],
            "missing_index"
        );
        let loc = &live["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "db/q.sql");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], 2);
        assert_eq!(loc["region"]["endColumn"], 45);
        assert_eq!(
            live["properties"]["ddl"],
            "CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)"
        );
        assert_eq!(live["properties"]["queryId"], "0123456789abcdef");
        assert_eq!(results[1]["level"], "error");
        assert!(results[1].get("properties").is_none());

        let note = &run["invocations"][0]["toolExecutionNotifications"][0];
        assert_eq!(
            note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "dir%20with%20space/bin.sql"
        );
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let report = sample_report();
        let a = render(&report);
        let mut moved = report.clone();
        for f in &mut moved.findings {
            f.line += 10;
            f.end_line += 10;
        }
        let b = render(&moved);
        let fp = |v: &Value, i: usize| v["runs"][0]["results"][i]["partialFingerprints"].clone();
        assert_eq!(fp(&a, 0), fp(&b, 0), "moved lines keep the fingerprint");
        assert_ne!(fp(&a, 0), fp(&a, 1));
        let mut twice = report.clone();
        twice.findings.push(twice.findings[0].clone());
        let c = render(&twice);
        assert_ne!(fp(&c, 0), fp(&c, 2), "identical findings are numbered");
    }

    #[test]
    fn levels() {
        assert_eq!(level(Severity::Info), "note");
        assert_eq!(level(Severity::Hint), "note");
        assert_eq!(level(Severity::Error), "error");
    }
}
