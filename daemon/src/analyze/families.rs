//! Query families (ML-light): groups the queries of a scan by what they do, so a workload of a
//! hundred statements reads as a dozen kinds of work, and a query with little history of its
//! own can be compared with its family (`analyze::anomalies`).
//!
//! 1. **Features.** Each query's normalized text becomes a bag of tokens
//!    ([`optidb_core::sql::features`]: verb, tables, join count, columns, predicate operators,
//!    `column:operator` pairs, functions, clauses). Text that does not parse gets lexer words, so
//!    every query has a vector.
//! 2. **TF-IDF** (linfa-preprocessing's `TfIdfVectorizer`, smooth idf) over a vocabulary we fix
//!    and columns we put in sorted order (the vectorizer numbers columns in `HashMap` order, which
//!    would make runs differ); column tokens seen in a single query are dropped from 4 queries
//!    on (they cannot make a group, only push their query away from its kin; shape tokens — verb,
//!    tables, joins, operators, functions, clauses — always count), at most [`MAX_VOCAB`]
//!    tokens (the most frequent). Verb and table tokens count twice (what a statement does to
//!    which table matters more than a shared `WHERE id = $1`). Rows are L2-normalized, so
//!    k-means on them groups by cosine similarity.
//! 3. **k-means** (linfa-clustering, k-means++ init, a fixed [`SEED`], one thread-independent
//!    result: the same workload gives the same families). k is chosen by the best **silhouette**
//!    (ties go to the smaller k): over 8..=12 when the workload has at least [`BIG`] queries,
//!    over 2..=min(12, n - 1) below that, never more than the number of distinct vectors. To stay
//!    fast on big workloads the candidates are fitted on an evenly spaced sample of at most
//!    [`SAMPLE`] queries and scored on at most [`SILHOUETTE_SAMPLE`] of them; the chosen k is
//!    then fitted on all queries. Up to 200 queries each candidate gets 4 k-means++ starts (the
//!    lowest inertia wins), which measured steadier and better-separated families on the demo
//!    workload than one start.
//! 4. **Labels** from the dominant tokens of each family: `<table>_<verb>_<column|pk>` for
//!    writes (`coupons_update_pk`: the predicate is the table's primary key), `<table>_join_<table>`
//!    for joins, `<table>_<operator>_<column>` for single-table reads (`users_like_email`),
//!    `<table>_scan` / `<table>_agg` without a predicate. Duplicates get `_2`, `_3` in a fixed
//!    order (largest family first, then smallest member id). A label is the family's id.
//!
//! Metric features (mean time, calls) are left out on purpose: a family is a kind of work, and
//! a slow and a fast query of the same kind belong together (that is what lets a family
//! baseline tell that one of them is slow).

use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use linfa_preprocessing::tf_idf_vectorization::TfIdfVectorizer;
use linfa_preprocessing::Tokenizer;
use ndarray::{Array1, Array2, Axis};
use optidb_core::family::{Family, FamilySet};
use optidb_core::model::{Millis, QueryId};
use optidb_core::sql::features::{features, SqlFeatures};
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// From this many queries on, k is chosen among 8..=12.
pub const BIG: usize = 60;
/// The most clusters.
pub const MAX_K: usize = 12;
/// The most tokens in the vocabulary.
pub const MAX_VOCAB: usize = 512;
/// The most queries candidates for k are fitted on.
pub const SAMPLE: usize = 1000;
/// The most queries a candidate's silhouette is computed on (it is quadratic).
pub const SILHOUETTE_SAMPLE: usize = 250;
/// The k-means seed: the same workload always gives the same families.
pub const SEED: u64 = 0x0971_db5e_ed00_0014;
/// Longest label.
const MAX_LABEL: usize = 48;

/// One query to group.
#[derive(Debug, Clone)]
pub struct FamilyQuery<'a> {
    pub id: &'a str,
    pub norm_sql: &'a str,
}

/// Groups `queries` into families. `primary_keys` maps a table's bare name to its primary-key
/// columns (for `_pk` labels). Pure and deterministic: the same input gives the same output.
pub fn families(
    scan_id: Millis,
    queries: &[FamilyQuery<'_>],
    primary_keys: &BTreeMap<String, Vec<String>>,
) -> FamilySet {
    // Sorted by id, duplicates dropped: the input order never changes the result.
    let mut qs: Vec<&FamilyQuery<'_>> = queries.iter().collect();
    qs.sort_by(|a, b| a.id.cmp(b.id));
    qs.dedup_by(|a, b| a.id == b.id);
    let feats: Vec<SqlFeatures> = qs.iter().map(|q| features(q.norm_sql)).collect();
    let ids: Vec<&str> = qs.iter().map(|q| q.id).collect();
    let mut set = FamilySet {
        scan_id,
        queries: qs.len(),
        ..Default::default()
    };
    if qs.is_empty() {
        set.criterion = "no queries".into();
        return set;
    }
    let x = match vectorize(&feats) {
        Some((x, _)) => x,
        None => {
            set.criterion = "the TF-IDF vectorizer failed: families by verb and table".into();
            let assign = fallback_assignment(&feats);
            set.k = assign.iter().collect::<BTreeSet<_>>().len();
            set.families = label_families(&ids, &feats, &assign, None, primary_keys);
            return set;
        }
    };
    set.vectorized = x
        .rows()
        .into_iter()
        .filter(|r| r.iter().any(|v| *v != 0.0))
        .count();
    let (assign, k, criterion, silhouette) = cluster(&x);
    set.k = k;
    set.criterion = criterion;
    set.silhouette = silhouette;
    set.families = label_families(&ids, &feats, &assign, Some(&x), primary_keys);
    set
}

/// The families of one scan's queries; primary keys (for `_pk` labels) come from the scan's
/// schema.
pub fn for_scan(
    scan_id: Millis,
    queries: &[optidb_core::model::Query],
    schema: &optidb_core::model::SchemaSnapshot,
) -> FamilySet {
    let mut pks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in schema.indexes.iter().filter(|i| i.primary) {
        pks.insert(
            super::advisor::bare(&i.table_name).to_string(),
            i.columns.clone(),
        );
    }
    let qs: Vec<FamilyQuery<'_>> = queries
        .iter()
        .map(|q| FamilyQuery {
            id: &q.id,
            norm_sql: &q.norm_sql,
        })
        .collect();
    families(scan_id, &qs, &pks)
}

/// The TF-IDF matrix (rows L2-normalized) and its vocabulary.
fn vectorize(feats: &[SqlFeatures]) -> Option<(Array2<f64>, Vec<String>)> {
    let n = feats.len();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for f in feats {
        let uniq: BTreeSet<&str> = f.tokens.iter().map(String::as_str).collect();
        for t in uniq {
            *df.entry(t).or_default() += 1;
        }
    }
    // Column details seen in a single query (`col:x`, `pred:x:eq`, lexer words) cannot make a
    // group, only push their query away from its kin; the shape tokens always count.
    let detail =
        |t: &str| t.starts_with("col:") || t.starts_with("pred:") || t.starts_with("word:");
    let mut vocab: Vec<(&str, usize)> = df
        .into_iter()
        .filter(|(t, c)| *c >= 2 || n < 4 || !detail(t))
        .collect();
    if vocab.len() > MAX_VOCAB {
        vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        vocab.truncate(MAX_VOCAB);
    }
    let mut vocab: Vec<String> = vocab.into_iter().map(|(t, _)| t.to_string()).collect();
    vocab.sort();
    if vocab.is_empty() {
        vocab.push("verb:other".into());
    }
    // What a statement does to which table weighs double: two statements on different tables
    // that share a `WHERE id = $1` are not one kind of work.
    let docs: Array1<String> = feats
        .iter()
        .map(|f| {
            let mut doc = f.tokens.join(" ");
            for t in f
                .tokens
                .iter()
                .filter(|t| t.starts_with("verb:") || t.starts_with("table:"))
            {
                doc.push(' ');
                doc.push_str(t);
            }
            doc
        })
        .collect();
    let fitted = TfIdfVectorizer::default()
        .tokenizer(Tokenizer::Regex(r"\S+".into()))
        .convert_to_lowercase(false)
        .fit_vocabulary(&vocab)
        .ok()?;
    let x = fitted.transform(&docs).ok()?.to_dense();
    // The vectorizer numbers its columns in HashMap order, which differs from run to run; put
    // them in sorted order so the same workload gives the same matrix, bit for bit.
    let col_of: HashMap<&str, usize> = fitted
        .vocabulary()
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let order: Vec<usize> = vocab
        .iter()
        .filter_map(|t| col_of.get(t.as_str()).copied())
        .collect();
    if order.len() != x.ncols() {
        return None;
    }
    let mut x = x.select(Axis(1), &order);
    for mut row in x.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row.mapv_inplace(|v| v / norm);
        }
    }
    Some((x, vocab))
}

/// Evenly spaced indices: at most `max` of `0..n`.
fn spaced(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

fn kmeans(x: &Array2<f64>, k: usize, runs: usize) -> Option<Array1<usize>> {
    let ds = DatasetBase::from(x.clone());
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(SEED))
        .n_runs(runs)
        .max_n_iterations(100)
        .tolerance(1e-6)
        .fit(&ds)
        .ok()?;
    Some(model.predict(x))
}

/// The mean silhouette of an evenly spaced sample of at most [`SILHOUETTE_SAMPLE`] rows:
/// for each row, `(b - a) / max(a, b)` with `a` its mean distance to its own cluster and `b`
/// to the nearest other cluster (0 for a row alone in its cluster). Written here on plain
/// slices rather than with linfa's `SilhouetteScore`, which measured ~10× slower (40 ms for
/// 500 rows in release, 0.7 s for 300 in a debug build).
pub fn silhouette(x: &Array2<f64>, labels: &Array1<usize>) -> Option<f64> {
    let idx = spaced(x.nrows(), SILHOUETTE_SAMPLE);
    let rows: Vec<Vec<f64>> = idx.iter().map(|i| x.row(*i).to_vec()).collect();
    let ls: Vec<usize> = idx.iter().map(|i| labels[*i]).collect();
    let k = ls.iter().copied().max()? + 1;
    if ls.iter().collect::<BTreeSet<_>>().len() < 2 {
        return None;
    }
    let dist = |a: &[f64], b: &[f64]| -> f64 {
        let mut s = 0.0;
        for (p, q) in a.iter().zip(b) {
            let d = p - q;
            s += d * d;
        }
        s.sqrt()
    };
    let mut total = 0.0;
    let mut sums = vec![0.0; k];
    let mut counts = vec![0usize; k];
    for (i, r) in rows.iter().enumerate() {
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for (j, o) in rows.iter().enumerate() {
            if i != j {
                sums[ls[j]] += dist(r, o);
                counts[ls[j]] += 1;
            }
        }
        let own = ls[i];
        if counts[own] == 0 {
            continue;
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..k)
            .filter(|c| *c != own && counts[*c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    let s = total / rows.len() as f64;
    s.is_finite().then_some(s)
}

/// The candidate k range for `n` queries with `distinct` distinct vectors.
pub fn k_range(n: usize, distinct: usize) -> (usize, usize) {
    let kmax = MAX_K.min(distinct).min(n.saturating_sub(1).max(1));
    let kmin = if n >= BIG { 8 } else { 2 };
    (kmin.min(kmax), kmax)
}

/// Cluster assignment (dense ids from 0), k, the criterion in words and the silhouette.
fn cluster(x: &Array2<f64>) -> (Vec<usize>, usize, String, Option<f64>) {
    let n = x.nrows();
    // Identical rows are one point for the bound on k.
    let distinct = x
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect::<Vec<u64>>())
        .collect::<BTreeSet<_>>()
        .len();
    let (kmin, kmax) = k_range(n, distinct);
    if kmax <= 1 {
        return (
            vec![0; n],
            1,
            format!("one family: {n} queries, {distinct} distinct shapes"),
            None,
        );
    }
    let sample = spaced(n, SAMPLE);
    let xs = x.select(Axis(0), &sample);
    // Small workloads are cheap: several k-means++ starts per candidate k steady the choice.
    let candidate_runs = if xs.nrows() <= 200 { 4 } else { 1 };
    let mut best: Option<(f64, usize, Array1<usize>)> = None;
    for k in kmin..=kmax {
        let Some(labels) = kmeans(&xs, k, candidate_runs) else {
            continue;
        };
        let Some(s) = silhouette(&xs, &labels) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _, _)| s > *b + 1e-9) {
            best = Some((s, k, labels));
        }
    }
    let Some((score, k, sample_labels)) = best else {
        return (
            vec![0; n],
            1,
            format!("one family: no k in {kmin}..={kmax} separated the {n} queries"),
            None,
        );
    };
    let runs = if n <= SAMPLE { 3 } else { 1 };
    let labels = if sample.len() == n && runs == 1 {
        sample_labels
    } else {
        kmeans(x, k, runs).unwrap_or(sample_labels)
    };
    let score = if sample.len() == n && runs == 1 {
        Some(score)
    } else {
        silhouette(x, &labels).or(Some(score))
    };
    // Dense ids in order of first appearance (empty clusters vanish).
    let mut dense: HashMap<usize, usize> = HashMap::new();
    let assign: Vec<usize> = labels
        .iter()
        .map(|l| {
            let next = dense.len();
            *dense.entry(*l).or_insert(next)
        })
        .collect();
    let criterion = format!(
        "best silhouette {:.2} over k = {kmin}..={kmax} (k-means++, seed fixed{})",
        score.unwrap_or(0.0),
        if sample.len() < n {
            format!(", k chosen on {} of {n} queries", sample.len())
        } else {
            String::new()
        }
    );
    (assign, dense.len(), criterion, score)
}

/// Families by verb and first table: what is left when vectorizing fails.
fn fallback_assignment(feats: &[SqlFeatures]) -> Vec<usize> {
    let mut ids: BTreeMap<(String, String), usize> = BTreeMap::new();
    feats
        .iter()
        .map(|f| {
            let key = (
                f.verb.clone(),
                f.tables.first().cloned().unwrap_or_default(),
            );
            let next = ids.len();
            *ids.entry(key).or_insert(next)
        })
        .collect()
}

/// The most common value (ties: the smallest), with its count.
fn dominant<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> Option<(T, usize)> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    let mut best: Option<(T, usize)> = None;
    for (v, c) in counts {
        if best.as_ref().is_none_or(|(_, b)| c > *b) {
            best = Some((v, c));
        }
    }
    best
}

/// A label part: lowercase ASCII letters, digits and `_`.
fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// The label of a group of queries, from its dominant tokens (before de-duplication).
pub fn label(members: &[&SqlFeatures], primary_keys: &BTreeMap<String, Vec<String>>) -> String {
    let verb = dominant(members.iter().map(|f| f.verb.clone()))
        .map(|(v, _)| v)
        .unwrap_or_else(|| "other".into());
    // The table most members name first (FROM order), then the most named one.
    let table = dominant(members.iter().filter_map(|f| f.tables.first().cloned()))
        .or_else(|| dominant(members.iter().flat_map(|f| f.tables.iter().cloned())))
        .map(|(t, _)| t);
    let pred = dominant(members.iter().flat_map(|f| f.predicates.iter().cloned()));
    let Some(table) = table else {
        // No table: `select_<function>` or the verb alone.
        let func = dominant(members.iter().flat_map(|f| {
            f.tokens
                .iter()
                .filter_map(|t| t.strip_prefix("fn:").map(str::to_string))
                .collect::<Vec<_>>()
        }));
        return match func {
            Some((f, _)) => format!("{}_{}", slug(&verb), slug(&f)),
            None => slug(&verb),
        };
    };
    let t = slug(&table);
    let half = members.len().div_ceil(2);
    let label = match verb.as_str() {
        "select" | "other" => {
            let joined = members.iter().filter(|f| f.joins > 0).count() >= half;
            let second = dominant(
                members
                    .iter()
                    .flat_map(|f| f.tables.iter().filter(|x| **x != table).cloned()),
            );
            let grouped = members
                .iter()
                .filter(|f| f.tokens.iter().any(|x| x == "clause:group_by"))
                .count()
                >= half;
            match (joined, second, pred) {
                (true, Some((other, _)), _) => format!("{t}_join_{}", slug(&other)),
                (_, _, Some(((col, op), _))) => format!("{t}_{}_{}", slug(&op), slug(&col)),
                _ if grouped => format!("{t}_agg"),
                _ => format!("{t}_scan"),
            }
        }
        _ => {
            // A write: by its key when it has one.
            let pk = primary_keys.get(&table).filter(|k| !k.is_empty());
            let pred_cols: Vec<BTreeSet<String>> = members
                .iter()
                .map(|f| f.predicates.iter().map(|(c, _)| c.clone()).collect())
                .collect();
            let by_pk = pk.is_some_and(|pk| {
                let want: BTreeSet<String> = pk.iter().cloned().collect();
                pred_cols.iter().filter(|c| **c == want).count() >= half
            });
            match pred {
                _ if by_pk => format!("{t}_{}_pk", slug(&verb)),
                Some(((col, _), _)) => format!("{t}_{}_{}", slug(&verb), slug(&col)),
                None => format!("{t}_{}", slug(&verb)),
            }
        }
    };
    truncate_label(label)
}

fn truncate_label(mut s: String) -> String {
    if s.len() > MAX_LABEL {
        s.truncate(MAX_LABEL);
        while s.ends_with('_') {
            s.pop();
        }
    }
    if s.is_empty() {
        s.push_str("family");
    }
    s
}

/// Families from an assignment: labelled, unique, largest first.
fn label_families(
    ids: &[&str],
    feats: &[SqlFeatures],
    assign: &[usize],
    x: Option<&Array2<f64>>,
    primary_keys: &BTreeMap<String, Vec<String>>,
) -> Vec<Family> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, a) in assign.iter().enumerate() {
        groups.entry(*a).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    // Largest first, then by smallest member id (members are in id order already).
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(ids[a[0]].cmp(ids[b[0]])));
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let members: Vec<&SqlFeatures> = g.iter().map(|i| &feats[*i]).collect();
        let base = label(&members, primary_keys);
        let mut label = base.clone();
        let mut n = 2;
        while used.contains(&label) {
            label = format!("{base}_{n}");
            n += 1;
        }
        used.insert(label.clone());
        out.push(Family {
            id: label.clone(),
            label,
            members: g.iter().map(|i| QueryId::from(ids[*i])).collect(),
            tokens: top_tokens(&g, feats, x),
        });
    }
    out
}

/// The five tokens with the highest summed weight in a group (TF-IDF when there is a matrix,
/// else counts).
fn top_tokens(group: &[usize], feats: &[SqlFeatures], _x: Option<&Array2<f64>>) -> Vec<String> {
    // Counts over members, weighted down for tokens common to the whole workload.
    let n = feats.len() as f64;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for f in feats {
        for t in f.tokens.iter().collect::<BTreeSet<_>>() {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut weight: BTreeMap<&str, f64> = BTreeMap::new();
    for i in group {
        for t in feats[*i].tokens.iter().collect::<BTreeSet<_>>() {
            let d = df.get(t.as_str()).copied().unwrap_or(1) as f64;
            *weight.entry(t.as_str()).or_default() += ((1.0 + n) / (1.0 + d)).ln() + 1.0;
        }
    }
    let mut w: Vec<(&str, f64)> = weight.into_iter().collect();
    w.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    w.into_iter().take(5).map(|(t, _)| t.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(id: &'a str, sql: &'a str) -> FamilyQuery<'a> {
        FamilyQuery { id, norm_sql: sql }
    }

    fn workload() -> Vec<(String, String)> {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push((
                format!("a{i:02}"),
                format!("SELECT id, name FROM users WHERE lower(email) LIKE $1 AND c{i} = $2"),
            ));
            v.push((
                format!("b{i:02}"),
                format!("UPDATE coupons SET used = true, n{i} = $2 WHERE id = $1"),
            ));
            v.push((
                format!("c{i:02}"),
                format!(
                    "SELECT o.id, sum(i.price) FROM orders o JOIN order_items i ON i.order_id = o.id \
                     WHERE o.customer_id = $1 AND o.x{i} > $2 GROUP BY o.id"
                ),
            ));
        }
        v
    }

    fn pks() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("coupons".to_string(), vec!["id".to_string()])])
    }

    #[test]
    fn three_kinds_of_work_are_three_families_with_readable_labels() {
        let w = workload();
        let qs: Vec<FamilyQuery<'_>> = w.iter().map(|(i, s)| q(i, s)).collect();
        let set = families(1, &qs, &pks());
        assert_eq!(set.queries, 18);
        assert_eq!(set.vectorized, 18);
        let labels: Vec<&str> = set.families.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(set.k, 3, "{labels:?} {}", set.criterion);
        for want in [
            "users_like_email",
            "coupons_update_pk",
            "orders_join_order_items",
        ] {
            assert!(labels.contains(&want), "{want} not in {labels:?}");
        }
        let users = set.families.iter().find(|f| f.label == "users_like_email");
        assert!(users.is_some_and(|f| f.members.iter().all(|m| m.starts_with('a'))));
        assert!(set.silhouette.is_some_and(|s| s > 0.3), "{set:?}");
        assert!(set
            .of("b03")
            .is_some_and(|f| f.label == "coupons_update_pk"));
    }

    #[test]
    fn the_same_workload_gives_the_same_families_in_any_order() {
        let w = workload();
        let qs: Vec<FamilyQuery<'_>> = w.iter().map(|(i, s)| q(i, s)).collect();
        let a = families(1, &qs, &pks());
        let mut rev = qs.clone();
        rev.reverse();
        let b = families(1, &rev, &pks());
        assert_eq!(a, b);
    }

    #[test]
    fn big_workloads_use_8_to_12_families_deterministically_with_unique_labels() {
        let tables = ["orders", "users", "coupons", "items", "events", "carts"];
        let cols = ["id", "email", "status", "created_at", "user_id", "sku"];
        let ops = ["=", "<", "LIKE", ">="];
        let mut w = Vec::new();
        for i in 0..120usize {
            let t = tables[i % tables.len()];
            let c = cols[(i / 6) % cols.len()];
            let o = ops[(i / 36) % ops.len()];
            let sql = if i % 5 == 0 {
                format!("UPDATE {t} SET v{i} = $1 WHERE {c} {o} $2")
            } else {
                format!("SELECT a{i} FROM {t} WHERE {c} {o} $1")
            };
            w.push((format!("{i:04}"), sql));
        }
        let qs: Vec<FamilyQuery<'_>> = w.iter().map(|(i, s)| q(i, s)).collect();
        let a = families(1, &qs, &BTreeMap::new());
        assert!((8..=12).contains(&a.k), "{}", a.criterion);
        assert!(a.vectorized as f64 > 0.9 * a.queries as f64);
        let labels: BTreeSet<&str> = a.families.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels.len(), a.families.len(), "labels are unique");
        assert!(labels.iter().all(|l| l.len() <= MAX_LABEL));
        assert_eq!(
            a.families.iter().map(|f| f.members.len()).sum::<usize>(),
            120
        );
        assert_eq!(a, families(1, &qs, &BTreeMap::new()));
    }

    #[test]
    fn small_and_odd_workloads() {
        let set = families(1, &[], &BTreeMap::new());
        assert!(set.families.is_empty());
        let set = families(1, &[q("x", "SELECT 1")], &BTreeMap::new());
        assert_eq!(set.families.len(), 1);
        assert_eq!(set.families[0].members, vec!["x"]);
        // Text that does not parse still lands in a family.
        let set = families(
            1,
            &[
                q("x", "SELEC nonsense"),
                q("y", "SELECT * FROM t WHERE a = $1"),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(
            set.families.iter().map(|f| f.members.len()).sum::<usize>(),
            2
        );
    }

    #[test]
    fn labels_from_dominant_tokens() {
        let f = |s: &str| features(s);
        let pk = pks();
        let one = |s: &str| label(&[&f(s)], &pk);
        assert_eq!(
            one("SELECT * FROM users WHERE email LIKE $1"),
            "users_like_email"
        );
        assert_eq!(
            one("UPDATE coupons SET used = true WHERE id = $1"),
            "coupons_update_pk"
        );
        assert_eq!(
            one("UPDATE coupons SET used = true WHERE code = $1"),
            "coupons_update_code"
        );
        assert_eq!(one("INSERT INTO events (a) VALUES ($1)"), "events_insert");
        assert_eq!(
            one("SELECT * FROM orders o JOIN items i ON i.oid = o.id"),
            "orders_join_items"
        );
        assert_eq!(
            one("SELECT count(*) FROM orders GROUP BY status"),
            "orders_agg"
        );
        assert_eq!(one("SELECT * FROM orders"), "orders_scan");
        assert_eq!(one("SELECT pg_sleep($1)"), "select_pg_sleep");
        assert_eq!(slug("Weird-Table Name"), "weird_table_name");
        assert_eq!(truncate_label("x".repeat(60)).len(), MAX_LABEL);
    }

    #[test]
    fn k_ranges() {
        assert_eq!(k_range(1, 1), (1, 1));
        assert_eq!(k_range(2, 2), (1, 1));
        assert_eq!(k_range(3, 3), (2, 2));
        assert_eq!(k_range(10, 10), (2, 9));
        assert_eq!(k_range(10, 3), (2, 3));
        assert_eq!(k_range(100, 100), (8, 12));
        assert_eq!(k_range(100, 5), (5, 5));
    }
}
