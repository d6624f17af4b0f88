//! Plan-change labels: what changed between a "before" and an "after" plan, in the words a DBA
//! uses ("Seq Scan → Index Scan on public.orders", "Nested Loop → Hash Join", "Sort removed",
//! "uses index …"), so a simulation says *why* it is faster, not only by how much.

use crate::analyze::plan_facts::{walk_nodes, PlanNode, TableSizes};
use serde_json::Value;
use std::collections::BTreeMap;

const JOINS: [&str; 3] = ["Nested Loop", "Hash Join", "Merge Join"];
const SORTS: [&str; 2] = ["Sort", "Incremental Sort"];
const INDEX_SCANS: [&str; 3] = ["Index Scan", "Index Only Scan", "Bitmap Index Scan"];

/// The label for "nothing the labels track changed".
pub const UNCHANGED: &str = "plan shape unchanged";

/// Labels for the changes from `before` to `after`, in a stable order: scan changes per
/// relation, join changes, sort changes, indexes the new plan uses. [`UNCHANGED`] when none.
pub fn plan_changes(before: &Value, after: &Value, tables: &TableSizes) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<PlanNode<'_>> = walk_nodes(before).collect();
    let a: Vec<PlanNode<'_>> = walk_nodes(after).collect();

    // Scans per relation (keyed by alias, so self-joins stay apart).
    let scans = |nodes: &[PlanNode<'_>]| {
        let mut m: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for n in nodes {
            if let Some(rel) = n.qualified_relation(tables) {
                let key = n.alias().unwrap_or(&rel).to_string();
                m.entry(key)
                    .or_insert_with(|| (rel.clone(), Vec::new()))
                    .1
                    .push(n.display_type());
            }
        }
        m
    };
    let (sb, sa) = (scans(&b), scans(&a));
    for (key, (rel, before_types)) in &sb {
        let Some((_, after_types)) = sa.get(key) else {
            continue;
        };
        if before_types == after_types {
            continue;
        }
        let show = |t: &[String]| t.join(" + ");
        out.push(format!(
            "{} → {} on {rel}",
            show(before_types),
            show(after_types)
        ));
    }

    // Joins, in tree order.
    let joins = |nodes: &[PlanNode<'_>]| -> Vec<String> {
        nodes
            .iter()
            .filter(|n| JOINS.contains(&n.node_type()))
            .map(|n| n.node_type().to_string())
            .collect()
    };
    let (jb, ja) = (joins(&b), joins(&a));
    if jb != ja {
        for (x, y) in jb.iter().zip(&ja) {
            if x != y {
                out.push(format!("{x} → {y}"));
            }
        }
        for x in jb.iter().skip(ja.len()) {
            out.push(format!("{x} removed"));
        }
        for y in ja.iter().skip(jb.len()) {
            out.push(format!("{y} added"));
        }
    }

    // Sorts.
    let sorts = |nodes: &[PlanNode<'_>]| {
        nodes
            .iter()
            .filter(|n| SORTS.contains(&n.node_type()))
            .count()
    };
    let (nb, na) = (sorts(&b), sorts(&a));
    if na < nb {
        out.push("Sort removed".into());
    } else if na > nb {
        out.push("Sort added".into());
    }

    // Indexes the new plan uses that the old did not.
    let indexes = |nodes: &[PlanNode<'_>]| -> Vec<String> {
        let mut v: Vec<String> = nodes
            .iter()
            .filter(|n| INDEX_SCANS.contains(&n.node_type()))
            .filter_map(|n| n.index_name().map(str::to_string))
            .collect();
        v.dedup();
        v
    };
    let ib = indexes(&b);
    let mut seen = Vec::new();
    for ix in indexes(&a) {
        if !ib.contains(&ix) && !seen.contains(&ix) {
            out.push(format!("uses index {}", display_index(&ix)));
            seen.push(ix);
        }
    }

    if out.is_empty() {
        out.push(UNCHANGED.into());
    }
    out
}

/// hypopg names its indexes `<13556>btree_orders_customer_id`: show them as
/// `btree_orders_customer_id (hypothetical)`, other names as they are.
pub fn display_index(name: &str) -> String {
    match name.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((oid, rest)) if !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{rest} (hypothetical)")
        }
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/src/simulate/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn tables() -> TableSizes {
        let mut t = TableSizes::default();
        for n in ["public.big", "public.small"] {
            t.0.insert(n.into(), (0.0, 0));
        }
        t
    }

    #[test]
    fn seq_scan_to_index_scan_with_sort_removed() {
        let l = plan_changes(
            &fixture("sort_before.json"),
            &fixture("sort_after.json"),
            &tables(),
        );
        assert!(
            l.iter()
                .any(|s| s.contains("Seq Scan → Index Scan") && s.ends_with("on public.big")),
            "{l:?}"
        );
        assert!(l.contains(&"Sort removed".to_string()), "{l:?}");
        assert!(
            l.iter()
                .any(|s| s.starts_with("uses index ") && s.ends_with("(hypothetical)")),
            "{l:?}"
        );
    }

    #[test]
    fn seq_scan_to_bitmap_heap_scan() {
        let l = plan_changes(
            &fixture("bitmap_before.json"),
            &fixture("bitmap_after.json"),
            &tables(),
        );
        assert!(
            l.iter()
                .any(|s| s.contains("Seq Scan → Bitmap Heap Scan on public.big")),
            "{l:?}"
        );
    }

    #[test]
    fn index_only_scan() {
        // Shape of PostgreSQL's JSON (a hypothetical index's name is `<oid>btree_…`).
        let before = serde_json::json!([{"Plan": {"Node Type": "Aggregate", "Plans": [
            {"Node Type": "Seq Scan", "Parallel Aware": true, "Relation Name": "big", "Alias": "big"}]}}]);
        let after = serde_json::json!([{"Plan": {"Node Type": "Aggregate", "Plans": [
            {"Node Type": "Index Only Scan", "Relation Name": "big", "Alias": "big",
             "Index Name": "<13556>btree_big_cust"}]}}]);
        assert_eq!(
            plan_changes(&before, &after, &tables()),
            vec![
                "Parallel Seq Scan → Index Only Scan on public.big".to_string(),
                "uses index btree_big_cust (hypothetical)".to_string()
            ]
        );
    }

    #[test]
    fn join_change() {
        let l = plan_changes(
            &fixture("join_before.json"),
            &fixture("join_after.json"),
            &tables(),
        );
        assert!(l.contains(&"Hash Join → Merge Join".to_string()), "{l:?}");
        assert!(
            l.contains(&"Seq Scan → Index Scan on public.small".to_string()),
            "{l:?}"
        );
    }

    #[test]
    fn same_plan_is_unchanged() {
        let p = fixture("sort_before.json");
        assert_eq!(plan_changes(&p, &p, &tables()), vec![UNCHANGED.to_string()]);
    }

    #[test]
    fn synthetic_nested_loop_to_hash_join() {
        let node = |t: &str, kids: Vec<Value>| serde_json::json!({"Node Type": t, "Plans": kids});
        let scan =
            |t: &str, r: &str| serde_json::json!({"Node Type": t, "Relation Name": r, "Alias": r});
        let before = serde_json::json!([{"Plan": node("Nested Loop", vec![scan("Seq Scan", "big"), scan("Seq Scan", "small")])}]);
        let after = serde_json::json!([{"Plan": node("Hash Join", vec![scan("Seq Scan", "big"), node("Hash", vec![scan("Seq Scan", "small")])])}]);
        assert_eq!(
            plan_changes(&before, &after, &tables()),
            vec!["Nested Loop → Hash Join".to_string()]
        );
    }
}
