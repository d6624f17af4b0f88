//! seed/workload.toml parsed and checked: the demo application's statement patterns, each
//! with its phases, call count and literal-generator template (see [`super::template`]).

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::template::Template;

/// The phases a workload can have: 1 (baseline) and 2 (the same application under contention).
pub const PHASES: [u8; 2] = [1, 2];

/// The whole workload, in file order.
#[derive(Debug, Clone)]
pub struct Workload {
    pub patterns: Vec<Pattern>,
}

/// One statement shape the application sends.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: String,
    /// Phases it runs in, ascending.
    pub phases: Vec<u8>,
    /// Calls in each of its phases at calls_scale 1.0.
    pub calls: u32,
    pub about: String,
    /// The template as written in workload.toml.
    pub sql: String,
    pub template: Template,
    pub blocker: Option<Blocker>,
}

/// Row-lock contention injected around a pattern's calls in one phase (see workload.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub phase: u8,
    pub sql: String,
    pub hold_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default)]
    pattern: Vec<PatternFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternFile {
    name: String,
    phase: PhaseSpec,
    calls: u32,
    sql: String,
    #[serde(default)]
    about: String,
    blocker: Option<BlockerFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PhaseSpec {
    One(u8),
    Many(Vec<u8>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockerFile {
    phase: u8,
    sql: String,
    hold_ms: u64,
}

impl Workload {
    /// Parses and validates a workload file; errors name the pattern and say what to fix.
    pub fn parse(text: &str) -> Result<Workload> {
        let file: WorkloadFile = toml::from_str(text).context("workload.toml is not valid")?;
        if file.pattern.is_empty() {
            bail!("workload.toml has no [[pattern]] entries");
        }
        let mut names = BTreeSet::new();
        let mut patterns = Vec::with_capacity(file.pattern.len());
        for p in file.pattern {
            let name = p.name;
            let ctx = || format!("workload.toml: pattern `{name}`");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!(
                    "workload.toml: pattern name `{name}` must be lower_snake_case (a-z, 0-9, _)"
                );
            }
            if !names.insert(name.clone()) {
                bail!("workload.toml: pattern name `{name}` is used twice");
            }
            let mut phases = match p.phase {
                PhaseSpec::One(n) => vec![n],
                PhaseSpec::Many(v) => v,
            };
            phases.sort_unstable();
            phases.dedup();
            if phases.is_empty() || phases.iter().any(|n| !PHASES.contains(n)) {
                bail!("{}: phase must be 1, 2 or [1, 2]", ctx());
            }
            if p.calls == 0 {
                bail!("{}: calls must be at least 1", ctx());
            }
            let template = Template::parse(&p.sql).with_context(|| format!("{}: sql", ctx()))?;
            let blocker = match p.blocker {
                None => None,
                Some(b) => {
                    if !phases.contains(&b.phase) {
                        bail!(
                            "{}: blocker.phase {} is not one of the pattern's phases {phases:?}",
                            ctx(),
                            b.phase
                        );
                    }
                    if !(1..=60_000).contains(&b.hold_ms) {
                        bail!("{}: blocker.hold_ms must be between 1 and 60000", ctx());
                    }
                    // The blocker's statement is sent as is: same restrictions, no generators.
                    let t = Template::parse(&b.sql)
                        .with_context(|| format!("{}: blocker.sql", ctx()))?;
                    if t.generators().next().is_some() {
                        bail!("{}: blocker.sql takes no literal generators", ctx());
                    }
                    Some(Blocker {
                        phase: b.phase,
                        sql: b.sql,
                        hold_ms: b.hold_ms,
                    })
                }
            };
            patterns.push(Pattern {
                name,
                phases,
                calls: p.calls,
                about: p.about,
                sql: p.sql,
                template,
                blocker,
            });
        }
        Ok(Workload { patterns })
    }

    /// The pattern called `name`.
    pub fn get(&self, name: &str) -> Option<&Pattern> {
        self.patterns.iter().find(|p| p.name == name)
    }

    /// The patterns that run in `phase`, in file order.
    pub fn in_phase(&self, phase: u8) -> impl Iterator<Item = &Pattern> {
        self.patterns
            .iter()
            .filter(move |p| p.phases.contains(&phase))
    }
}

impl Pattern {
    /// Calls per phase at `scale`: `calls * scale` rounded, at least 1.
    pub fn calls_at(&self, scale: f64) -> u64 {
        ((f64::from(self.calls) * scale).round() as u64).max(1)
    }

    /// The SQL text of call `index` (the same in every phase and on every run).
    pub fn render(&self, index: u64) -> String {
        self.template.render_call(&self.name, index)
    }

    /// OptiDB's query id for this pattern (the fingerprint of any rendering; literal values do
    /// not change it), for matching pg_stat_statements rows and advisor output.
    pub fn fingerprint(&self) -> Result<String> {
        optidb_core::sql::fingerprint_only(&self.render(0)).map_err(|e| {
            anyhow::anyhow!("pattern `{}`: cannot fingerprint its SQL: {e}", self.name)
        })
    }

    /// Whether a blocker runs around this pattern's calls in `phase`.
    pub fn blocker_in(&self, phase: u8) -> Option<&Blocker> {
        self.blocker.as_ref().filter(|b| b.phase == phase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(extra: &str) -> String {
        format!("[[pattern]]\nname = \"a\"\nphase = 1\ncalls = 3\nsql = \"SELECT {{int:1:9}}\"\n{extra}")
    }

    #[test]
    fn parses_phase_forms_and_blocker() {
        let w = Workload::parse(
            r#"
[[pattern]]
name = "a"
phase = 2
calls = 3
sql = "SELECT {int:1:9}"

[[pattern]]
name = "b"
phase = [2, 1, 2]
calls = 10
sql = "UPDATE t SET n = n + 1 WHERE k = {choice:x,y}"
about = "b"
[pattern.blocker]
phase = 2
sql = "SELECT k FROM t FOR UPDATE"
hold_ms = 5
"#,
        )
        .unwrap();
        assert_eq!(w.patterns[0].phases, vec![2]);
        let b = w.get("b").unwrap();
        assert_eq!(b.phases, vec![1, 2]);
        assert!(b.blocker_in(1).is_none());
        assert_eq!(b.blocker_in(2).unwrap().hold_ms, 5);
        assert_eq!(w.in_phase(1).count(), 1);
        assert_eq!(w.in_phase(2).count(), 2);
        assert_eq!(b.calls_at(1.0), 10);
        assert_eq!(b.calls_at(0.25), 3);
        assert_eq!(b.calls_at(0.001), 1);
        assert_eq!(b.render(4), b.render(4));
    }

    #[test]
    fn refuses_bad_files_with_the_pattern_named() {
        let cases = [
            (String::new(), "no [[pattern]]"),
            ("[[pattern]]\nname = \"a\"".to_string(), "not valid"),
            (one("bogus = 1"), "not valid"),
            (
                one("").replace("name = \"a\"", "name = \"A b\""),
                "lower_snake_case",
            ),
            (format!("{}{}", one(""), one("")), "used twice"),
            (one("").replace("phase = 1", "phase = 3"), "phase must be"),
            (one("").replace("phase = 1", "phase = []"), "phase must be"),
            (one("").replace("calls = 3", "calls = 0"), "at least 1"),
            (
                one("").replace("SELECT {int:1:9}", "SELECT {int:9}"),
                "pattern `a`: sql",
            ),
            (
                one("[pattern.blocker]\nphase = 2\nsql = \"SELECT 1\"\nhold_ms = 5"),
                "not one of the pattern's phases",
            ),
            (
                one("[pattern.blocker]\nphase = 1\nsql = \"SELECT 1\"\nhold_ms = 0"),
                "hold_ms",
            ),
            (
                one("[pattern.blocker]\nphase = 1\nsql = \"SELECT {int:1:2}\"\nhold_ms = 3"),
                "no literal generators",
            ),
        ];
        for (text, want) in cases {
            let e = Workload::parse(&text).expect_err(&text);
            let msg = format!("{e:#}");
            assert!(msg.contains(want), "{text}\n=> {msg}");
        }
    }
}
