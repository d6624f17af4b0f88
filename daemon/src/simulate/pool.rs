//! The simulator's own connections to the target (never the collector's): one per simulation
//! slot, opened on first use with the same safe settings as every OptiDB session, reopened
//! after a failure. A slot's connection is used by one simulation at a time.
//!
//! Cancellation: when a simulation's future is dropped mid-way (the HTTP client went away) or
//! runs past [`SimConfig::deadline`], its connection is cancelled (a cancel request through the
//! cancel key) and closed at once, so a half-done simulation leaves nothing behind — no
//! hypothetical index and no open transaction holding a lock (real mode). A connection whose
//! unit could not clean up is replaced too (crate::pg::Session::is_usable).

use super::{SimConfig, SimError, SimRequest, Simulator, ValidatedDdl};
use crate::pg::{connect, Session, TargetConfig};
use optidb_core::model::Simulation;
use tokio::sync::Mutex;

/// The simulator plus its connections, for one target.
pub struct SimService {
    pub simulator: Simulator,
    target: TargetConfig,
    sessions: Vec<Mutex<Option<Session>>>,
    /// Whether the target is marked as a sandbox (`--sandbox`): real mode needs it.
    pub is_sandbox: bool,
    /// Whether EXPLAIN ANALYZE of real-value samples is allowed on the target.
    pub analyze_samples: bool,
}

impl SimService {
    /// Sessions are opened with `cfg.step_timeout` as their statement_timeout: every step of
    /// a simulation runs under it.
    pub fn new(
        mut target: TargetConfig,
        cfg: SimConfig,
        is_sandbox: bool,
        analyze_samples: bool,
    ) -> Self {
        let n = cfg.max_concurrent.max(1);
        target.statement_timeout = cfg.step_timeout;
        SimService {
            simulator: Simulator::new(cfg),
            target,
            sessions: (0..n).map(|_| Mutex::new(None)).collect(),
            is_sandbox,
            analyze_samples,
        }
    }

    /// Checks, rate-limits, waits for a slot, and simulates on that slot's connection.
    pub async fn simulate(&self, req: &SimRequest<'_>) -> Result<Simulation, SimError> {
        let sim = &self.simulator;
        let ddl = sim.precheck(req)?;
        sim.take_token(req.target, req.client)?;
        let _permit = sim.slot().await?;
        let in_use = self.checkout().await?;
        let result =
            tokio::time::timeout(sim.config().deadline, sim.run(in_use.session(), req, ddl)).await;
        self.settle(in_use, result)
    }

    /// Simulates `ddls` together on every query of a workload (one rate-limit token, one slot).
    pub async fn simulate_workload(
        &self,
        target: &str,
        client: &str,
        queries: &[super::WorkloadQuery<'_>],
        ddls: &[ValidatedDdl],
    ) -> Result<super::WorkloadSaving, SimError> {
        let sim = &self.simulator;
        sim.take_token(target, client)?;
        let _permit = sim.slot().await?;
        let in_use = self.checkout().await?;
        let result = tokio::time::timeout(
            sim.config().deadline,
            super::simulate_workload(in_use.session(), queries, ddls),
        )
        .await;
        self.settle(in_use, result)
    }

    /// The end of a simulation: a result keeps the connection (unless the database failed);
    /// a simulation past its deadline drops `in_use` unfinished, which cancels the backend and
    /// closes the connection.
    fn settle<T>(
        &self,
        mut in_use: InUse<'_>,
        result: Result<Result<T, SimError>, tokio::time::error::Elapsed>,
    ) -> Result<T, SimError> {
        match result {
            Ok(result) => {
                in_use.finish(matches!(result, Err(SimError::Db(_))));
                result
            }
            Err(_) => Err(SimError::Timeout(format!(
                "the simulation took longer than {} s and was cancelled",
                self.simulator.config().deadline.as_secs()
            ))),
        }
    }

    /// A free slot's connection, (re)connected. Call only while holding a slot permit: there
    /// are as many connections as permits, so one is free.
    async fn checkout(&self) -> Result<InUse<'_>, SimError> {
        let mut guard = None;
        for s in &self.sessions {
            if let Ok(g) = s.try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(g) => g,
            None => self.sessions[0].lock().await,
        };
        if guard.as_ref().is_some_and(|s| !s.is_usable()) {
            *guard = None;
        }
        if guard.is_none() {
            let s = connect(&self.target).await.map_err(|e| match e {
                e @ crate::pg::PgError::Refused(_) => SimError::Refused(e.to_string()),
                e => SimError::Db(e.to_string()),
            })?;
            *guard = Some(s);
        }
        Ok(InUse {
            slot: guard,
            done: false,
        })
    }
}

/// A slot's connection during a simulation. Dropped before `done` (the simulation future was
/// dropped), it cancels the running statement and closes the connection.
struct InUse<'a> {
    slot: tokio::sync::MutexGuard<'a, Option<Session>>,
    done: bool,
}

impl InUse<'_> {
    /// The connected session (checked out connected).
    fn session(&self) -> &Session {
        self.slot.as_ref().expect("checked out connected")
    }

    /// The simulation ended (not cancelled); a database failure or a session that cannot be
    /// used again means reconnecting next time.
    fn finish(&mut self, db_failed: bool) {
        if db_failed || self.slot.as_ref().is_some_and(|s| !s.is_usable()) {
            *self.slot = None;
        }
        self.done = true;
    }
}

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(session) = self.slot.take() {
            let handle = session.cancel_handle();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(handle.cancel());
            }
            drop(session); // closes the connection: the server discards its state
        }
    }
}
