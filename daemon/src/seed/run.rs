//! Runs the seeded workload like the application would: rendered statements with real literals
//! over the simple query protocol, patterns interleaved, phase after phase, with the phase-2
//! row-lock contention of patterns that have a blocker.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio_postgres::Client;

use super::workload::{Blocker, Workload, PHASES};
use super::{connect, db_error, ensure_loaded};

/// How much of the workload to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedOptions {
    /// 1.0 = the call counts in workload.toml; each pattern runs at least once per phase.
    pub calls_scale: f64,
    /// Phases to run, in this order.
    pub phases: Vec<u8>,
}

impl SeedOptions {
    /// Checks the options; returns the phases to run, duplicates removed, in the given order.
    pub fn validate(&self) -> Result<Vec<u8>> {
        if !self.calls_scale.is_finite() || self.calls_scale <= 0.0 || self.calls_scale > 100.0 {
            bail!(
                "calls scale {} is out of range: use a number above 0 and at most 100 (1.0 = the counts in seed/workload.toml)",
                self.calls_scale
            );
        }
        let mut phases = Vec::new();
        for &p in &self.phases {
            if !PHASES.contains(&p) {
                bail!("there is no phase {p}: the workload has phases 1 and 2");
            }
            if !phases.contains(&p) {
                phases.push(p);
            }
        }
        if phases.is_empty() {
            bail!("no phase to run: give 1, 2 or both");
        }
        Ok(phases)
    }
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            calls_scale: 1.0,
            phases: PHASES.to_vec(),
        }
    }
}

/// One pattern in one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternRun {
    pub pattern: String,
    pub phase: u8,
    /// Statements sent (successful or not).
    pub calls: u64,
    pub errors: u64,
    /// Client-side wall time per successful call.
    pub mean_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
    pub first_error: Option<String>,
}

/// What [`run_workload`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSummary {
    /// Per pattern and phase, phases in the order run, patterns in file order.
    pub runs: Vec<PatternRun>,
    pub duration: Duration,
}

impl WorkloadSummary {
    /// The run of `pattern` in `phase`.
    pub fn get(&self, pattern: &str, phase: u8) -> Option<&PatternRun> {
        self.runs
            .iter()
            .find(|r| r.pattern == pattern && r.phase == phase)
    }

    /// Statements sent in all.
    pub fn statements(&self) -> u64 {
        self.runs.iter().map(|r| r.calls).sum()
    }

    /// Failed statements in all.
    pub fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }

    /// An error naming the failing patterns and their first error, if any statement failed.
    pub fn check(&self) -> Result<()> {
        let failed: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.errors > 0)
            .map(|r| {
                format!(
                    "{} (phase {}): {} of {} failed, first: {}",
                    r.pattern,
                    r.phase,
                    r.errors,
                    r.calls,
                    r.first_error.as_deref().unwrap_or("?")
                )
            })
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            bail!("workload statements failed: {}", failed.join("; "))
        }
    }
}

#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    ok_ms: f64,
    max_ms: f64,
    first_error: Option<String>,
}

/// Runs the workload against `url` (which must hold the seed, see [`super::load`]).
pub async fn run_workload(url: &str, opts: &SeedOptions) -> Result<WorkloadSummary> {
    run_workload_with(url, opts, &mut |_| {}).await
}

/// [`run_workload`], reporting progress lines on `progress` (phase starts, every ~5 s, ends).
pub async fn run_workload_with(
    url: &str,
    opts: &SeedOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<WorkloadSummary> {
    let phases = opts.validate()?;
    let workload = super::workload()?;
    let started = Instant::now();

    // The application's connection, and the batch job's (only when a blocker will run).
    let app = connect(url, "shop-app").await?;
    ensure_loaded(&app).await?;
    let needs_blocker = workload
        .patterns
        .iter()
        .any(|p| phases.iter().any(|ph| p.blocker_in(*ph).is_some()));
    let blocker = if needs_blocker {
        Some(connect(url, "shop-batch-job").await?)
    } else {
        None
    };

    let mut runs = Vec::new();
    for &phase in &phases {
        let schedule = schedule(&workload, phase, opts.calls_scale);
        let in_phase: Vec<usize> = (0..workload.patterns.len())
            .filter(|&i| workload.patterns[i].phases.contains(&phase))
            .collect();
        progress(&format!(
            "phase {phase}: {} statements from {} patterns",
            schedule.len(),
            in_phase.len()
        ));
        let phase_start = Instant::now();
        let mut last_report = Instant::now();
        let mut acc: Vec<Acc> = (0..workload.patterns.len())
            .map(|_| Acc::default())
            .collect();
        for (k, &(pi, call)) in schedule.iter().enumerate() {
            let pattern = &workload.patterns[pi];
            let sql = pattern.render(call);
            let (result, elapsed) = match (pattern.blocker_in(phase), &blocker) {
                (Some(b), Some(bc)) => run_blocked(&app, bc, &sql, b).await,
                _ => {
                    let t = Instant::now();
                    let r = app
                        .simple_query(&sql)
                        .await
                        .map(|_| ())
                        .map_err(|e| db_error(&e));
                    (r, t.elapsed())
                }
            };
            let a = &mut acc[pi];
            a.calls += 1;
            match result {
                Ok(()) => {
                    let ms = elapsed.as_secs_f64() * 1000.0;
                    a.ok_ms += ms;
                    a.max_ms = a.max_ms.max(ms);
                }
                Err(e) => {
                    a.errors += 1;
                    a.first_error.get_or_insert(e.clone());
                    if app.is_closed() {
                        bail!(
                            "the database connection closed during the workload (pattern {}, phase {phase}): {e}",
                            pattern.name
                        );
                    }
                }
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                progress(&format!(
                    "phase {phase}: {}/{} statements ({:.0}%)",
                    k + 1,
                    schedule.len(),
                    100.0 * (k + 1) as f64 / schedule.len() as f64
                ));
            }
        }
        progress(&format!(
            "phase {phase}: done in {:.1} s",
            phase_start.elapsed().as_secs_f64()
        ));
        for pi in in_phase {
            let a = &acc[pi];
            let ok = a.calls - a.errors;
            runs.push(PatternRun {
                pattern: workload.patterns[pi].name.clone(),
                phase,
                calls: a.calls,
                errors: a.errors,
                mean_ms: if ok > 0 { a.ok_ms / ok as f64 } else { 0.0 },
                max_ms: a.max_ms,
                total_ms: a.ok_ms,
                first_error: a.first_error.clone(),
            });
        }
    }
    Ok(WorkloadSummary {
        runs,
        duration: started.elapsed(),
    })
}

/// The order of one phase's statements: every pattern's calls spread evenly over the phase
/// (call `i` of `n` sits at fraction `(i + 0.5) / n`), so any time slice of the phase sees
/// every pattern, as a real application's traffic would.
fn schedule(workload: &Workload, phase: u8, scale: f64) -> Vec<(usize, u64)> {
    let mut items: Vec<(f64, usize, u64)> = Vec::new();
    for (pi, p) in workload.patterns.iter().enumerate() {
        if !p.phases.contains(&phase) {
            continue;
        }
        let n = p.calls_at(scale);
        for i in 0..n {
            items.push(((i as f64 + 0.5) / n as f64, pi, i));
        }
    }
    items.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    items.into_iter().map(|(_, pi, i)| (pi, i)).collect()
}

/// One call under contention: the batch job opens a transaction and locks the rows, the
/// application's statement is sent (and waits on the row lock inside the executor), the batch
/// job commits after `hold_ms`. Returns the application statement's result and wall time.
async fn run_blocked(
    app: &Client,
    blocker: &Client,
    sql: &str,
    b: &Blocker,
) -> (Result<(), String>, Duration) {
    let t = Instant::now();
    if let Err(e) = blocker.batch_execute("BEGIN").await {
        return (
            Err(format!("blocker BEGIN failed: {}", db_error(&e))),
            t.elapsed(),
        );
    }
    if let Err(e) = blocker.simple_query(&b.sql).await {
        let _ = blocker.batch_execute("ROLLBACK").await;
        return (
            Err(format!("blocker statement failed: {}", db_error(&e))),
            t.elapsed(),
        );
    }
    let app_call = async {
        let t = Instant::now();
        let r = app.simple_query(sql).await;
        (r, t.elapsed())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(b.hold_ms)).await;
        blocker.batch_execute("COMMIT").await
    };
    // join! polls app_call first, so the statement is on its way before the hold starts.
    let ((r, elapsed), commit) = tokio::join!(app_call, release);
    let result = match (r, commit) {
        (Err(e), _) => Err(db_error(&e)),
        (Ok(_), Err(e)) => Err(format!("blocker COMMIT failed: {}", db_error(&e))),
        (Ok(_), Ok(())) => Ok(()),
    };
    (result, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_interleaves_and_counts() {
        let w = crate::seed::workload().unwrap();
        for phase in PHASES {
            let s = schedule(&w, phase, 0.1);
            let expected: u64 = w.in_phase(phase).map(|p| p.calls_at(0.1)).sum();
            assert_eq!(s.len() as u64, expected);
            // The first fifth of the phase already has at least half of the patterns in it.
            let head: std::collections::BTreeSet<usize> =
                s[..s.len() / 5].iter().map(|x| x.0).collect();
            assert!(
                head.len() * 2 >= w.in_phase(phase).count(),
                "phase {phase}: {head:?}"
            );
        }
        assert_eq!(schedule(&w, 1, 1.0), schedule(&w, 1, 1.0));
    }

    #[tokio::test]
    async fn bad_options_are_refused_before_connecting() {
        let url = "postgres://nobody@127.0.0.1:1/none";
        for (opts, want) in [
            (
                SeedOptions {
                    calls_scale: 0.0,
                    phases: vec![1],
                },
                "out of range",
            ),
            (
                SeedOptions {
                    calls_scale: f64::NAN,
                    phases: vec![1],
                },
                "out of range",
            ),
            (
                SeedOptions {
                    calls_scale: 1.0,
                    phases: vec![3],
                },
                "no phase 3",
            ),
            (
                SeedOptions {
                    calls_scale: 1.0,
                    phases: vec![],
                },
                "no phase to run",
            ),
        ] {
            let e = run_workload(url, &opts).await.unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
