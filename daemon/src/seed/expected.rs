//! seed/expected.toml parsed and checked against the workload: the findings the advisor must
//! produce for the seeded patterns (the contract of the advisor's end-to-end tests).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::workload::Workload;

/// What kind of advice a pattern must get (`type` in expected.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingType {
    MissingIndex,
    CompositeIndex,
    Rewrite,
    RedundantIndex,
    Stats,
    Anomaly,
    /// A negative control: no recommendation of any type.
    #[serde(rename = "none")]
    NoRecommendation,
}

impl FindingType {
    /// The name used in expected.toml and in the API (`missing_index`, …, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::MissingIndex => "missing_index",
            FindingType::CompositeIndex => "composite_index",
            FindingType::Rewrite => "rewrite",
            FindingType::RedundantIndex => "redundant_index",
            FindingType::Stats => "stats",
            FindingType::Anomaly => "anomaly",
            FindingType::NoRecommendation => "none",
        }
    }

    /// Whether the finding recommends creating an index.
    pub fn is_index(self) -> bool {
        matches!(
            self,
            FindingType::MissingIndex | FindingType::CompositeIndex
        )
    }
}

/// One expected finding (see the header of seed/expected.toml for the field meanings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    pub pattern: String,
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// Schema-qualified, e.g. `public.orders`.
    pub table: String,
    /// Key columns in order; expressions as text, e.g. `lower(email)`.
    pub columns: Vec<String>,
    /// Index access method (and operator class): `btree` or `gin (gin_trgm_ops)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// For `redundant_index`: the index to drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// For `redundant_index`: the index that covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
    /// An example fix, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Findings in time the statement must carry after the workload's phases (`contention` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// For a `contention` tag: the application_name the finding must name as the blocker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<String>,
    pub note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    #[serde(default)]
    finding: Vec<ExpectedFinding>,
}

/// Parses expected.toml and checks it against `workload`: exactly one finding per pattern,
/// schema-qualified names, and the fields each type needs.
pub fn parse(text: &str, workload: &Workload) -> Result<Vec<ExpectedFinding>> {
    let file: ExpectedFile = toml::from_str(text).context("expected.toml is not valid")?;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &file.finding {
        let ctx = || format!("expected.toml: finding for pattern `{}`", f.pattern);
        if workload.get(&f.pattern).is_none() {
            bail!("{}: there is no such pattern in workload.toml", ctx());
        }
        *seen.entry(&f.pattern).or_default() += 1;
        if !is_qualified(&f.table) {
            bail!(
                "{}: table `{}` must be schema-qualified, like public.orders",
                ctx(),
                f.table
            );
        }
        if f.note.trim().is_empty() {
            bail!("{}: note is empty: say why", ctx());
        }
        let needs_columns = !matches!(f.kind, FindingType::Anomaly | FindingType::NoRecommendation);
        if needs_columns && f.columns.is_empty() {
            bail!("{}: type {} needs columns", ctx(), f.kind.as_str());
        }
        if !needs_columns && !f.columns.is_empty() {
            bail!("{}: type {} takes no columns", ctx(), f.kind.as_str());
        }
        if f.columns.iter().any(|c| c.trim().is_empty()) {
            bail!("{}: an empty column name", ctx());
        }
        if f.using.is_some() && !f.kind.is_index() {
            bail!(
                "{}: `using` is only for missing_index and composite_index",
                ctx()
            );
        }
        if f.kind == FindingType::CompositeIndex && f.columns.len() < 2 {
            bail!("{}: a composite_index has at least two columns", ctx());
        }
        if f.blocker.is_some() && !f.tags.iter().any(|t| t == "contention") {
            bail!("{}: `blocker` needs tags = [\"contention\"]", ctx());
        }
        if !f.tags.is_empty() && f.kind != FindingType::Anomaly {
            bail!("{}: tags are for type = \"anomaly\" findings", ctx());
        }
        let redundant = f.kind == FindingType::RedundantIndex;
        match (&f.index, &f.covered_by) {
            (Some(i), Some(c)) if redundant => {
                if !is_qualified(i) || !is_qualified(c) {
                    bail!("{}: index and covered_by must be schema-qualified", ctx());
                }
            }
            (None, None) if !redundant => {}
            _ if redundant => bail!("{}: redundant_index needs `index` and `covered_by`", ctx()),
            _ => bail!(
                "{}: `index` and `covered_by` are only for redundant_index",
                ctx()
            ),
        }
    }
    for p in &workload.patterns {
        match seen.get(p.name.as_str()) {
            None => bail!(
                "expected.toml: pattern `{}` has no finding (write type = \"none\" for a control)",
                p.name
            ),
            Some(n) if *n > 1 => bail!(
                "expected.toml: pattern `{}` has {n} findings; keep one",
                p.name
            ),
            _ => {}
        }
    }
    Ok(file.finding)
}

fn is_qualified(name: &str) -> bool {
    matches!(name.split_once('.'), Some((s, t)) if !s.is_empty() && !t.is_empty() && !t.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKLOAD: &str = r#"
[[pattern]]
name = "a"
phase = 1
calls = 1
sql = "SELECT * FROM t WHERE x = {int:1:2}"
[[pattern]]
name = "b"
phase = 1
calls = 1
sql = "SELECT 1"
"#;

    fn w() -> Workload {
        Workload::parse(WORKLOAD).unwrap()
    }

    const GOOD: &str = r#"
[[finding]]
pattern = "a"
type = "missing_index"
table = "public.t"
columns = ["x"]
using = "btree"
note = "seq scan"
[[finding]]
pattern = "b"
type = "none"
table = "public.t"
columns = []
note = "fast"
"#;

    #[test]
    fn parses_a_good_file() {
        let f = parse(GOOD, &w()).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, FindingType::MissingIndex);
        assert_eq!(f[0].columns, vec!["x"]);
        assert_eq!(f[1].kind, FindingType::NoRecommendation);
        assert_eq!(f[1].kind.as_str(), "none");
    }

    #[test]
    fn type_names_roundtrip_through_serde() {
        for t in [
            FindingType::MissingIndex,
            FindingType::CompositeIndex,
            FindingType::Rewrite,
            FindingType::RedundantIndex,
            FindingType::Stats,
            FindingType::Anomaly,
            FindingType::NoRecommendation,
        ] {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<FindingType>(&json).unwrap(), t);
        }
    }

    #[test]
    fn refuses_bad_files() {
        let cases = [
            (GOOD.replace("\"missing_index\"", "\"index\""), "not valid"),
            (
                GOOD.replace("pattern = \"a\"", "pattern = \"zz\""),
                "no such pattern",
            ),
            (
                GOOD.replace("pattern = \"b\"", "pattern = \"a\""),
                "has 2 findings",
            ),
            (
                GOOD.replace(
                    "table = \"public.t\"\ncolumns = [\"x\"]",
                    "table = \"t\"\ncolumns = [\"x\"]",
                ),
                "schema-qualified",
            ),
            (
                GOOD.replace("columns = [\"x\"]", "columns = []"),
                "needs columns",
            ),
            (
                GOOD.replace("columns = []", "columns = [\"y\"]"),
                "takes no columns",
            ),
            (
                GOOD.replace("note = \"fast\"", "note = \" \""),
                "note is empty",
            ),
            (
                GOOD.replace("\"missing_index\"", "\"composite_index\""),
                "at least two",
            ),
            (
                GOOD.replace("\"missing_index\"", "\"stats\""),
                "`using` is only",
            ),
            (
                GOOD.replace(
                    "using = \"btree\"",
                    "index = \"public.i\"\ncovered_by = \"public.j\"",
                ),
                "only for redundant_index",
            ),
            (
                GOOD.replace("\"missing_index\"", "\"redundant_index\"")
                    .replace("using = \"btree\"\n", ""),
                "needs `index` and `covered_by`",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text, &w()).expect_err(&text);
            let msg = format!("{e:#}");
            assert!(msg.contains(want), "{text}\n=> {msg}");
        }
        let missing = GOOD
            .split("[[finding]]")
            .take(2)
            .collect::<Vec<_>>()
            .join("[[finding]]");
        let e = parse(&missing, &w()).unwrap_err();
        assert!(
            format!("{e:#}").contains("pattern `b` has no finding"),
            "{e:#}"
        );
    }
}
