//! The simulator's own connections to the target (never the collector's): one per simulation
//! slot, opened on first use with the same safe settings as every OptiDB session, reopened
//! after a failure. A slot's connection is used by one simulation at a time.
//!
//! Cancellation: when a simulation's future is dropped mid-way (the HTTP client went away),
//! its connection is cancelled (pg_cancel_backend through the cancel key) and closed at once, so
//! a half-done simulation leaves nothing behind — no hypothetical index and no open transaction
//! holding a lock (real mode). On the next use [`super::whatif`] also starts with
//! `hypopg_reset()`.

use super::{SimConfig, SimError, SimRequest, Simulator};
use crate::collect::session::{connect, Session, TargetConfig};
use optidb_core::model::Simulation;
use tokio::sync::Mutex;

/// The simulator plus its connections, for one target.
pub struct SimService {
    pub simulator: Simulator,
    target: TargetConfig,
    sessions: Vec<Mutex<Option<Session>>>,
    /// Whether the target is marked as a sandbox (`--sandbox`): real mode needs it.
    pub is_sandbox: bool,
}

impl SimService {
    /// Sessions are opened with `cfg.step_timeout` as their statement_timeout: every step of
    /// a simulation runs under it.
    pub fn new(mut target: TargetConfig, cfg: SimConfig, is_sandbox: bool) -> Self {
        let n = cfg.max_concurrent.max(1);
        target.statement_timeout = cfg.step_timeout;
        SimService {
            simulator: Simulator::new(cfg),
            target,
            sessions: (0..n).map(|_| Mutex::new(None)).collect(),
            is_sandbox,
        }
    }

    /// Checks, rate-limits, waits for a slot, and simulates on that slot's connection.
    pub async fn simulate(&self, req: &SimRequest<'_>) -> Result<Simulation, SimError> {
        let sim = &self.simulator;
        let ddl = sim.precheck(req)?;
        sim.take_token(req.target)?;
        let _permit = sim.slot().await?;
        let mut in_use = self.checkout().await?;
        let session = in_use.slot.as_ref().expect("checked out connected");
        let result = sim
            .run(&session.client, session.server_version_num, req, ddl)
            .await;
        in_use.finish(matches!(result, Err(SimError::Db(_))));
        result
    }

    /// Simulates `ddls` together on every query of a workload (one rate-limit token, one slot).
    pub async fn simulate_workload(
        &self,
        target: &str,
        queries: &[super::WorkloadQuery<'_>],
        ddls: &[String],
    ) -> Result<super::WorkloadSaving, SimError> {
        let sim = &self.simulator;
        sim.take_token(target)?;
        let _permit = sim.slot().await?;
        let mut in_use = self.checkout().await?;
        let session = in_use.slot.as_ref().expect("checked out connected");
        let result =
            super::simulate_workload(&session.client, session.server_version_num, queries, ddls)
                .await;
        in_use.finish(matches!(result, Err(SimError::Db(_))));
        result
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
        if guard.as_ref().is_some_and(|s| s.client.is_closed()) {
            *guard = None;
        }
        if guard.is_none() {
            let s = connect(&self.target)
                .await
                .map_err(|e| SimError::Db(e.to_string()))?;
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
    /// The simulation ended (not cancelled); a database failure or a closed connection means
    /// reconnecting next time.
    fn finish(&mut self, db_failed: bool) {
        if db_failed || self.slot.as_ref().is_some_and(|s| s.client.is_closed()) {
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
            let token = session.client.cancel_token();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = token.cancel_query(tokio_postgres::NoTls).await;
                });
            }
            drop(session); // closes the connection: the server discards its state
        }
    }
}
