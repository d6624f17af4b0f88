//! Query families as stored and served: groups of queries that do the same kind of work
//! (clustered by the daemon's `analyze::families` from [`crate::sql::features`] tokens), each
//! with a short stable label, so a list of a hundred statements reads as a dozen kinds of work.

use crate::model::{Millis, QueryId};
use serde::{Deserialize, Serialize};

/// One family of a scan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Family {
    /// The family's id: its label (unique within a scan; the same workload gets the same one).
    pub id: String,
    /// Short and human: `<table>_<verb|operator|join>_<column|pk|table>` such as
    /// `users_like_email`, `coupons_update_pk`, `orders_join_order_items`.
    pub label: String,
    /// Member query ids, sorted.
    pub members: Vec<QueryId>,
    /// The tokens that weigh most in the family (summed TF-IDF), most first: why it is one.
    pub tokens: Vec<String>,
}

/// The families of one scan and how they were found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FamilySet {
    pub scan_id: Millis,
    /// Queries of the scan.
    pub queries: usize,
    /// Queries whose feature vector is not empty (the rest still get a family).
    pub vectorized: usize,
    /// The number of clusters chosen.
    pub k: usize,
    /// How k was chosen, in words ("best silhouette 0.61 over k = 2..=9").
    pub criterion: String,
    /// The silhouette of the chosen clustering, when there were at least two clusters.
    pub silhouette: Option<f64>,
    /// Largest first.
    pub families: Vec<Family>,
}

impl FamilySet {
    /// The family a query belongs to.
    pub fn of(&self, query_id: &str) -> Option<&Family> {
        self.families
            .iter()
            .find(|f| f.members.iter().any(|m| m == query_id))
    }
}

/// A family as a query row shows it: `family {id, label, size}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FamilyRef {
    pub id: String,
    pub label: String,
    pub size: usize,
}

impl From<&Family> for FamilyRef {
    fn from(f: &Family) -> Self {
        FamilyRef {
            id: f.id.clone(),
            label: f.label.clone(),
            size: f.members.len(),
        }
    }
}
