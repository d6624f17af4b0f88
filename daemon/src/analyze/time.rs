//! Findings in time ([`QueryTag`]s: contention, spikes, regressions, plan changes, new
//! queries): what every producer of tags reads — this scan's figures and the stored history —
//! and the one list of producers the scan runs. A producer is a pure function
//! `fn(&TimeInput) -> Vec<(QueryId, QueryTag)>`; adding one is one line in [`PRODUCERS`].

use optidb_core::model::{Metric, Millis, Plan, Query, QueryId, QueryTag, WaitProfile};
use std::collections::HashMap;

/// How many earlier snapshots per query the scan reads from the store for the producers.
pub const HISTORY: usize = 30;

/// What a producer of tags gets.
#[derive(Debug, Clone, Copy)]
pub struct TimeInput<'a> {
    /// The scan's id (its start time): the `captured_at` of everything below from this scan.
    pub now: Millis,
    pub queries: &'a [Query],
    /// This scan's metrics (one per query).
    pub metrics: &'a [Metric],
    /// This scan's plans (generic, and custom/analyzed for some).
    pub plans: &'a [Plan],
    /// This scan's wait profiles (the sampler's ticks since the previous scan); a query the
    /// sampler did not see has none.
    pub waits: &'a [WaitProfile],
    /// Earlier metrics of each query, oldest first (at most [`HISTORY`], this scan excluded).
    pub past_metrics: &'a HashMap<QueryId, Vec<Metric>>,
    /// Earlier plans of each query, oldest first (at most [`HISTORY`], this scan excluded).
    pub past_plans: &'a HashMap<QueryId, Vec<Plan>>,
    /// This scan's query families (the ones stored with it).
    pub families: &'a optidb_core::family::FamilySet,
}

/// A producer of tags.
pub type Producer = fn(&TimeInput<'_>) -> Vec<(QueryId, QueryTag)>;

/// Every producer, in the order their tags are shown.
pub const PRODUCERS: &[Producer] = &[super::contention::tags, super::anomalies::tags];

/// The tags of one scan: every producer's, in [`PRODUCERS`] order.
pub fn tags(input: &TimeInput<'_>) -> Vec<(QueryId, QueryTag)> {
    PRODUCERS.iter().flat_map(|p| p(input)).collect()
}
