//! Data-driven tests on real PostgreSQL 15 output. The fixtures (../fixtures/*.json) were made on
//! a throwaway cluster with this schema and data:
//!
//! ```sql
//! SELECT setseed(0.42);
//! CREATE TABLE customers (id serial PRIMARY KEY, email varchar(200) NOT NULL, name text NOT NULL,
//!                         created_at timestamptz NOT NULL);
//! INSERT INTO customers (email, name, created_at)
//! SELECT 'user' || g || CASE WHEN g % 10 = 0 THEN '@example.com' ELSE '@mail.test' END,
//!        'Customer ' || g, timestamptz '2023-01-01 00:00:00+00' + (g || ' minutes')::interval
//!   FROM generate_series(1, 20000) g;
//! CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL,
//!                      status varchar(20) NOT NULL, total numeric(10,2) NOT NULL,
//!                      created_at timestamptz NOT NULL, deleted_at timestamptz);
//! INSERT INTO orders (customer_id, status, total, created_at, deleted_at)
//! SELECT (1 + (g::bigint * 7919) % 20000)::int,
//!        (ARRAY['pending','paid','shipped','cancelled'])[1 + g % 4], (g % 1000) + 0.99,
//!        timestamptz '2024-01-01 00:00:00+00' + (g || ' seconds')::interval * 30,
//!        CASE WHEN g % 50 = 0 THEN timestamptz '2024-12-01 00:00:00+00' END
//!   FROM generate_series(1, 600000) g;
//! CREATE INDEX orders_created_at_idx ON orders (created_at);
//! -- stale statistics: analyzed at 100 rows, then grown without ANALYZE (autovacuum off)
//! CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text)
//!   WITH (autovacuum_enabled = off);
//! INSERT INTO events (kind, payload) SELECT 'view', 'p' || g FROM generate_series(1, 100) g;
//! ANALYZE customers; ANALYZE orders; ANALYZE events;
//! INSERT INTO events (kind, payload) SELECT 'click', 'p' || g FROM generate_series(1, 200000) g;
//! VACUUM (ANALYZE) customers; VACUUM (ANALYZE) orders;
//! ```
//!
//! Each `<name>.json` is `EXPLAIN (FORMAT JSON)` and `<name>_analyze.json` is
//! `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of the query quoted in the test, with
//! `max_parallel_workers_per_gather = 2`.

use super::*;
use optidb_core::model::SchemaTable;

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../fixtures/", $name, ".json")))
            .expect(concat!($name, ".json is JSON"))
    };
}

/// The sizes the collector's tables query returned on the fixture database
/// (reltuples, pg_total_relation_size).
fn sizes() -> TableSizes {
    let table = |name: &str, rows_est: f64, bytes: i64| SchemaTable {
        table_name: name.to_string(),
        rows_est,
        bytes,
        live_tuples: 0,
        dead_tuples: 0,
        writes: 0,
        seq_scans: 0,
        idx_scans: 0,
        last_analyze: None,
        mods_since_analyze: 0,
        autovacuum_enabled: true,
        size_estimated: false,
    };
    TableSizes::from_tables(&[
        table("public.customers", 20000.0, 2048000),
        table("public.orders", 600000.0, 67010560),
        table("public.events", 100.0, 14991360),
    ])
}

fn facts(plan: &Value) -> PlanFacts {
    plan_facts(plan, &sizes()).expect("a real plan gives facts")
}

fn filter(table: &str, column: &str, operator: &str, source: &str) -> FilterFact {
    FilterFact {
        table: Some(table.to_string()),
        column: column.to_string(),
        operator: operator.to_string(),
        source: source.to_string(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const ORDERS: (f64, i64) = (600000.0, 67010560);
const CUSTOMERS: (f64, i64) = (20000.0, 2048000);

fn seq_scan(
    table: &str,
    est: f64,
    act: Option<f64>,
    removed: Option<f64>,
    size: (f64, i64),
) -> SeqScanFact {
    SeqScanFact {
        table: table.to_string(),
        est_rows: est,
        act_rows: act,
        rows_removed_by_filter: removed,
        table_rows_est: Some(size.0),
        table_bytes: Some(size.1),
    }
}

/// `SELECT * FROM orders WHERE customer_id = 42`: a big table, no index on the filter column,
/// a parallel seq scan (3 loops: 2 workers + leader).
#[test]
fn seq_scan_without_index_generic() {
    let f = facts(&fixture!("seq_scan_no_index"));
    assert!(f.had_seq_scan);
    assert_eq!(
        f.seq_scans,
        vec![seq_scan("public.orders", 12.0, None, None, ORDERS)]
    );
    assert_eq!(f.node_types, strings(&["Gather", "Parallel Seq Scan"]));
    assert!(f.join_types.is_empty());
    assert_eq!(f.est_rows, 30.0);
    assert_eq!(f.act_rows, None);
    assert_eq!(f.total_cost, 9007.0);
    assert_eq!(
        f.filters,
        vec![filter("public.orders", "customer_id", "=", "Filter")]
    );
    assert!(!f.buffers_present);
    assert_eq!(f.max_row_skew, None);
    assert_eq!(f.max_row_skew_node, None);
    assert_eq!(f.rows_removed_by_filter, None);
    assert_eq!(f.execution_ms, None);
    assert!(f.indexes_used.is_empty());
    assert!(f.sort_keys.is_empty());
}

#[test]
fn seq_scan_without_index_analyzed() {
    let f = facts(&fixture!("seq_scan_no_index_analyze"));
    // Actual Rows 10 × 3 loops; Rows Removed by Filter 199990 per loop × 3.
    assert_eq!(
        f.seq_scans,
        vec![seq_scan(
            "public.orders",
            12.0,
            Some(30.0),
            Some(599970.0),
            ORDERS
        )]
    );
    assert_eq!(f.act_rows, Some(30.0));
    assert_eq!(f.rows_removed_by_filter, Some(599970.0));
    assert!(f.buffers_present);
    assert_eq!(f.execution_ms, Some(38.969));
    // Per loop: 12 estimated, 10 actual.
    assert_eq!(f.max_row_skew, Some(1.2));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Parallel Seq Scan on public.orders")
    );
    assert_eq!(
        f.filters,
        vec![filter("public.orders", "customer_id", "=", "Filter")]
    );
}

/// `SELECT * FROM orders WHERE id = 12345`
#[test]
fn primary_key_lookup() {
    for plan in [fixture!("index_scan"), fixture!("index_scan_analyze")] {
        let f = facts(&plan);
        assert!(!f.had_seq_scan);
        assert!(f.seq_scans.is_empty());
        assert_eq!(f.node_types, strings(&["Index Scan"]));
        assert_eq!(f.indexes_used, strings(&["orders_pkey"]));
        assert_eq!(
            f.filters,
            vec![filter("public.orders", "id", "=", "Index Cond")]
        );
        assert_eq!(f.est_rows, 1.0);
        assert_eq!(f.total_cost, 8.44);
    }
    let f = facts(&fixture!("index_scan_analyze"));
    assert_eq!(f.act_rows, Some(1.0));
    assert_eq!(f.max_row_skew, Some(1.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Index Scan using orders_pkey on public.orders")
    );
    // Analyzed, and no filter removed anything.
    assert_eq!(f.rows_removed_by_filter, Some(0.0));
    assert_eq!(f.execution_ms, Some(0.15));
}

/// `SELECT * FROM orders WHERE id IN (1, 2, 3)`: `(id = ANY ('{1,2,3}'::bigint[]))`.
#[test]
fn in_list_is_in() {
    let f = facts(&fixture!("in_list"));
    assert_eq!(
        f.filters,
        vec![filter("public.orders", "id", "IN", "Index Cond")]
    );
    assert_eq!(f.indexes_used, strings(&["orders_pkey"]));
}

/// `SELECT count(*) FROM orders WHERE created_at >= '2024-01-02' AND created_at < '2024-01-09'
/// AND deleted_at IS NULL` with `enable_indexscan = off`: the Bitmap Index Scan's unqualified
/// columns belong to its Bitmap Heap Scan's table.
#[test]
fn bitmap_scan_range() {
    let f = facts(&fixture!("bitmap_range_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Aggregate", "Bitmap Heap Scan", "Bitmap Index Scan"])
    );
    assert_eq!(f.indexes_used, strings(&["orders_created_at_idx"]));
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "deleted_at", "IS NULL", "Filter"),
            filter("public.orders", "created_at", ">=", "Recheck Cond"),
            filter("public.orders", "created_at", "<", "Recheck Cond"),
            filter("public.orders", "created_at", ">=", "Index Cond"),
            filter("public.orders", "created_at", "<", "Index Cond"),
        ]
    );
    assert_eq!(f.rows_removed_by_filter, Some(403.0));
    assert_eq!(f.est_rows, 1.0);
    assert_eq!(f.act_rows, Some(1.0));
    assert_eq!(f.total_cost, 5638.36);
    assert_eq!(f.max_row_skew, Some(20160.0 / 19603.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Bitmap Index Scan on orders_created_at_idx")
    );
    assert_eq!(f.execution_ms, Some(7.781));
}

/// `SELECT c.email, o.total FROM orders o JOIN customers c ON o.customer_id = c.id
/// WHERE c.email LIKE '%@example.com' AND o.status = 'paid'`
#[test]
fn hash_join_with_leading_wildcard_like() {
    let f = facts(&fixture!("hash_join_like_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Hash Join", "Seq Scan", "Hash", "Seq Scan"])
    );
    assert_eq!(f.join_types, strings(&["Hash Join (Inner)"]));
    assert_eq!(
        f.seq_scans,
        vec![
            seq_scan(
                "public.orders",
                147120.0,
                Some(150000.0),
                Some(450000.0),
                ORDERS
            ),
            seq_scan(
                "public.customers",
                10303.0,
                Some(2000.0),
                Some(18000.0),
                CUSTOMERS
            ),
        ]
    );
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "customer_id", "=", "Hash Cond"),
            filter("public.customers", "id", "=", "Hash Cond"),
            filter("public.orders", "status", "=", "Filter"),
            filter("public.customers", "email", "LIKE", "Filter"),
        ]
    );
    assert_eq!(f.est_rows, 75789.0);
    assert_eq!(f.act_rows, Some(30000.0));
    assert_eq!(f.total_cost, 13332.06);
    assert_eq!(f.rows_removed_by_filter, Some(468000.0));
    // The Hash (10303 estimated, 2000 hashed) comes before its Seq Scan with the same ratio.
    assert_eq!(f.max_row_skew, Some(10303.0 / 2000.0));
    assert_eq!(f.max_row_skew_node.as_deref(), Some("Hash"));
    assert!(f.buffers_present);
    assert_eq!(f.execution_ms, Some(127.084));
}

/// The same query with VERBOSE: `Schema` is printed and columns are qualified (`o.status`); the
/// facts are the same (timings aside).
#[test]
fn verbose_plan_gives_the_same_facts() {
    let plain = facts(&fixture!("hash_join_like_analyze"));
    let verbose = facts(&fixture!("hash_join_like_verbose_analyze"));
    assert_eq!(verbose.execution_ms, Some(100.628));
    assert_eq!(
        PlanFacts {
            execution_ms: None,
            ..verbose
        },
        PlanFacts {
            execution_ms: None,
            ..plain
        }
    );

    // Without a schema snapshot, only VERBOSE says the schema.
    let none = TableSizes::default();
    let verbose = plan_facts(&fixture!("hash_join_like_verbose_analyze"), &none).unwrap();
    let plain = plan_facts(&fixture!("hash_join_like_analyze"), &none).unwrap();
    assert_eq!(verbose.seq_scans[0].table, "public.orders");
    assert_eq!(verbose.seq_scans[0].table_bytes, None);
    assert_eq!(plain.seq_scans[0].table, "orders");
    assert_eq!(
        plain.filters[3],
        filter("customers", "email", "LIKE", "Filter")
    );
}

/// `SELECT c.id, (SELECT max(o.created_at) FROM orders o WHERE o.customer_id = c.id)
/// FROM customers c WHERE c.id < 20`: the planner turns max() into a Limit over a backward index
/// scan in a sub-plan run once per customer. `c.id` in the orders scan's filter is an outer
/// reference, not a filter on customers.
#[test]
fn correlated_subquery() {
    let f = facts(&fixture!("correlated_subquery_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Index Only Scan", "Result", "Limit", "Index Scan"])
    );
    assert!(!f.had_seq_scan);
    assert_eq!(
        f.indexes_used,
        strings(&["customers_pkey", "orders_created_at_idx"])
    );
    assert_eq!(
        f.filters,
        vec![
            filter("public.customers", "id", "<", "Index Cond"),
            filter("public.orders", "customer_id", "=", "Filter"),
            filter("public.orders", "created_at", "IS NOT NULL", "Index Cond"),
        ]
    );
    assert_eq!(f.est_rows, 19.0);
    assert_eq!(f.act_rows, Some(19.0));
    // 9310 rows removed per loop, 19 loops.
    assert_eq!(f.rows_removed_by_filter, Some(176890.0));
    // The index scan under the Limit stops at its first row (30 estimated, 1 read): not a skew.
    assert_eq!(f.max_row_skew, Some(1.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Index Only Scan using customers_pkey on public.customers")
    );
    assert_eq!(f.total_cost, 14879.75);
}

/// `SELECT c.id, c.email FROM customers c WHERE c.id NOT IN (SELECT customer_id FROM orders
/// WHERE status = 'cancelled' AND total > 990)`: `(NOT (hashed SubPlan 1))` tests no column.
#[test]
fn not_in_hashed_subplan() {
    let f = facts(&fixture!("not_in_subquery_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Seq Scan", "Gather", "Parallel Seq Scan"])
    );
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "total", ">", "Filter"),
            filter("public.orders", "status", "=", "Filter"),
        ]
    );
    assert_eq!(
        f.seq_scans,
        vec![
            seq_scan(
                "public.customers",
                10000.0,
                Some(19940.0),
                Some(60.0),
                CUSTOMERS
            ),
            seq_scan("public.orders", 688.0, Some(1800.0), Some(598200.0), ORDERS),
        ]
    );
    assert_eq!(f.rows_removed_by_filter, Some(598260.0));
    assert_eq!(f.max_row_skew, Some(19940.0 / 10000.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Seq Scan on public.customers")
    );
}

/// `SELECT c.id FROM customers c WHERE c.id < 100 OR EXISTS (SELECT 1 FROM orders o
/// WHERE o.customer_id = c.id AND o.total > 999)`: `((id < 100) OR (hashed SubPlan 2))`.
#[test]
fn or_with_subplan_keeps_the_column_part() {
    let f = facts(&fixture!("or_subplan_analyze"));
    assert_eq!(
        f.filters,
        vec![
            filter("public.customers", "id", "<", "Filter"),
            filter("public.orders", "total", ">", "Filter"),
        ]
    );
    assert_eq!(f.node_types, strings(&["Seq Scan", "Seq Scan"]));
    assert_eq!(f.max_row_skew, Some(10050.0 / 118.0));
    assert_eq!(f.total_cost, 277580438.0);
}

/// `SELECT * FROM customers WHERE lower(email) = 'user42@mail.test'`: no expression index.
#[test]
fn expression_filter() {
    let f = facts(&fixture!("expression_filter_analyze"));
    assert_eq!(
        f.filters,
        vec![filter("public.customers", "lower(email)", "=", "Filter")]
    );
    assert_eq!(
        f.seq_scans,
        vec![seq_scan(
            "public.customers",
            100.0,
            Some(1.0),
            Some(19999.0),
            CUSTOMERS
        )]
    );
    assert_eq!(f.max_row_skew, Some(100.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Seq Scan on public.customers")
    );
    assert_eq!(f.total_cost, 488.0);
}

/// `SELECT * FROM events WHERE kind = 'click'` on a table analyzed at 100 rows that now has
/// 200,100: the planner expects 1 row and gets 200,000.
#[test]
fn stale_statistics_show_as_skew() {
    let plain = facts(&fixture!("stale_stats"));
    assert_eq!(plain.est_rows, 1.0);
    assert_eq!(plain.max_row_skew, None);

    let f = facts(&fixture!("stale_stats_analyze"));
    assert_eq!(f.max_row_skew, Some(200000.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Seq Scan on public.events")
    );
    assert_eq!(
        f.seq_scans,
        vec![seq_scan(
            "public.events",
            1.0,
            Some(200000.0),
            Some(100.0),
            (100.0, 14991360)
        )]
    );
    assert_eq!(
        f.filters,
        vec![filter("public.events", "kind", "=", "Filter")]
    );
    assert_eq!(f.execution_ms, Some(45.732));
}

/// `SELECT o.id, o.total FROM orders o WHERE o.status = 'paid' ORDER BY o.total DESC, o.id
/// LIMIT 10`: the Gather Merge and the Sort return 10 rows of the 122,600 / 61,300 estimated
/// because the Limit stops reading; that is not a misestimate. The scan below the Sort runs to
/// the end (61,300 estimated per loop, 50,000 read).
#[test]
fn sort_and_limit() {
    let f = facts(&fixture!("sort_limit_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Limit", "Gather Merge", "Sort", "Parallel Seq Scan"])
    );
    assert_eq!(f.sort_keys, strings(&["total DESC", "id"]));
    assert_eq!(f.est_rows, 10.0);
    assert_eq!(f.act_rows, Some(10.0));
    assert_eq!(f.total_cost, 10329.86);
    assert_eq!(f.max_row_skew, Some(61300.0 / 50000.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Parallel Seq Scan on public.orders")
    );
    assert_eq!(
        f.seq_scans,
        vec![seq_scan(
            "public.orders",
            61300.0,
            Some(150000.0),
            Some(450000.0),
            ORDERS
        )]
    );
    assert_eq!(
        f.filters,
        vec![filter("public.orders", "status", "=", "Filter")]
    );
}

/// `SELECT c.name, o.id FROM customers c JOIN orders o ON o.customer_id = c.id
/// WHERE c.id BETWEEN 100 AND 200` with hash and nested-loop joins disabled.
#[test]
fn merge_join() {
    let f = facts(&fixture!("merge_join_analyze"));
    assert_eq!(
        f.node_types,
        strings(&[
            "Gather",
            "Merge Join",
            "Sort",
            "Parallel Seq Scan",
            "Index Scan"
        ])
    );
    assert_eq!(f.join_types, strings(&["Merge Join (Inner)"]));
    assert_eq!(f.sort_keys, strings(&["customer_id"]));
    assert_eq!(f.indexes_used, strings(&["customers_pkey"]));
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "customer_id", "=", "Merge Cond"),
            filter("public.customers", "id", "=", "Merge Cond"),
            filter("public.customers", "id", ">=", "Index Cond"),
            filter("public.customers", "id", "<=", "Index Cond"),
        ]
    );
    // The Sort feeding the merge stops early (2,001 of 250,000): only the scan counts.
    assert_eq!(f.max_row_skew, Some(250000.0 / 200000.0));
    assert_eq!(
        f.max_row_skew_node.as_deref(),
        Some("Parallel Seq Scan on public.orders")
    );
    assert_eq!(
        f.seq_scans,
        vec![seq_scan(
            "public.orders",
            250000.0,
            Some(600000.0),
            Some(0.0),
            ORDERS
        )]
    );
}

/// `SELECT c.id, o.id FROM customers c JOIN orders o
/// ON o.created_at > c.created_at + interval '400 days' WHERE c.id < 3 AND o.id < 100`
#[test]
fn nested_loop_with_join_filter() {
    let f = facts(&fixture!("nested_loop_join_filter_analyze"));
    assert_eq!(
        f.node_types,
        strings(&["Nested Loop", "Index Scan", "Materialize", "Index Scan"])
    );
    assert_eq!(f.join_types, strings(&["Nested Loop (Inner)"]));
    assert_eq!(f.indexes_used, strings(&["orders_pkey", "customers_pkey"]));
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "created_at", ">", "Join Filter"),
            filter("public.orders", "id", "<", "Index Cond"),
            filter("public.customers", "id", "<", "Index Cond"),
        ]
    );
    // 62 estimated, none returned.
    assert_eq!(f.act_rows, Some(0.0));
    assert_eq!(f.max_row_skew, Some(62.0));
    assert_eq!(f.max_row_skew_node.as_deref(), Some("Nested Loop"));
}

/// `SELECT c.id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o
/// WHERE o.customer_id = c.id)`
#[test]
fn anti_join() {
    let f = facts(&fixture!("anti_join_analyze"));
    assert_eq!(f.join_types, strings(&["Hash Join (Anti)"]));
    assert_eq!(
        f.filters,
        vec![
            filter("public.customers", "id", "=", "Hash Cond"),
            filter("public.orders", "customer_id", "=", "Hash Cond"),
        ]
    );
    assert_eq!(
        f.seq_scans,
        vec![
            seq_scan(
                "public.customers",
                20000.0,
                Some(20000.0),
                Some(0.0),
                CUSTOMERS
            ),
            seq_scan("public.orders", 600000.0, Some(600000.0), Some(0.0), ORDERS),
        ]
    );
    assert_eq!(f.max_row_skew, Some(96.0));
    assert_eq!(f.max_row_skew_node.as_deref(), Some("Hash Join"));
}

/// The generic plan of `SELECT id, total FROM orders WHERE customer_id = $1 AND status = $2
/// ORDER BY created_at DESC LIMIT 20` (PREPARE + `plan_cache_mode = force_generic_plan`).
#[test]
fn generic_plan_with_parameters() {
    let f = facts(&fixture!("generic_params"));
    assert_eq!(
        f.filters,
        vec![
            filter("public.orders", "customer_id", "=", "Filter"),
            filter("public.orders", "status", "=", "Filter"),
        ]
    );
    assert_eq!(f.sort_keys, strings(&["created_at DESC"]));
    assert_eq!(
        f.node_types,
        strings(&["Limit", "Gather Merge", "Sort", "Parallel Seq Scan"])
    );
    assert_eq!(f.est_rows, 6.0);
    assert_eq!(f.total_cost, 9629.75);
    assert_eq!(f.act_rows, None);
    assert_eq!(f.rows_removed_by_filter, None);
}

#[test]
fn plan_hash_follows_the_shape_only() {
    let pairs = [
        (
            fixture!("seq_scan_no_index"),
            fixture!("seq_scan_no_index_analyze"),
        ),
        (fixture!("index_scan"), fixture!("index_scan_analyze")),
        (fixture!("bitmap_range"), fixture!("bitmap_range_analyze")),
        (
            fixture!("hash_join_like"),
            fixture!("hash_join_like_analyze"),
        ),
        (
            fixture!("hash_join_like"),
            fixture!("hash_join_like_verbose_analyze"),
        ),
        (
            fixture!("correlated_subquery"),
            fixture!("correlated_subquery_analyze"),
        ),
        (
            fixture!("not_in_subquery"),
            fixture!("not_in_subquery_analyze"),
        ),
        (
            fixture!("expression_filter"),
            fixture!("expression_filter_analyze"),
        ),
        (fixture!("stale_stats"), fixture!("stale_stats_analyze")),
        (fixture!("sort_limit"), fixture!("sort_limit_analyze")),
        (fixture!("merge_join"), fixture!("merge_join_analyze")),
        (
            fixture!("nested_loop_join_filter"),
            fixture!("nested_loop_join_filter_analyze"),
        ),
        (fixture!("anti_join"), fixture!("anti_join_analyze")),
        (fixture!("or_subplan"), fixture!("or_subplan_analyze")),
        // Same shape, other conditions and literals: same hash.
        (fixture!("index_scan"), fixture!("in_list")),
        (fixture!("sort_limit"), fixture!("generic_params")),
    ];
    for (a, b) in &pairs {
        assert_eq!(plan_hash(a), plan_hash(b));
    }
    let distinct: HashSet<String> = [
        fixture!("seq_scan_no_index"),
        fixture!("index_scan"),
        fixture!("bitmap_range"),
        fixture!("hash_join_like"),
        fixture!("correlated_subquery"),
        fixture!("not_in_subquery"),
        fixture!("expression_filter"),
        fixture!("stale_stats"),
        fixture!("sort_limit"),
        fixture!("merge_join"),
        fixture!("nested_loop_join_filter"),
        fixture!("anti_join"),
        fixture!("or_subplan"),
    ]
    .iter()
    .map(plan_hash)
    .collect();
    assert_eq!(distinct.len(), 13);

    let h = plan_hash(&fixture!("stale_stats"));
    assert_eq!(h.len(), 64);
    assert!(h.chars().all(|c| c.is_ascii_hexdigit()));

    // A shape change (a Seq Scan turning into an Index Scan on another index) changes the hash.
    let mut changed = fixture!("stale_stats");
    changed[0]["Plan"]["Node Type"] = Value::from("Index Scan");
    changed[0]["Plan"]["Index Name"] = Value::from("events_kind_idx");
    assert_ne!(plan_hash(&changed), h);
    // Costs and rows do not.
    let mut costs = fixture!("stale_stats");
    costs[0]["Plan"]["Total Cost"] = Value::from(1.5);
    costs[0]["Plan"]["Plan Rows"] = Value::from(1000);
    assert_eq!(plan_hash(&costs), h);
}

#[test]
fn accepts_the_array_its_first_element_or_a_bare_node() {
    let doc = fixture!("stale_stats_analyze");
    let whole = facts(&doc);
    assert_eq!(facts(&doc[0]), whole);
    let bare = facts(&doc[0]["Plan"]);
    assert_eq!(bare.execution_ms, None);
    assert_eq!(
        PlanFacts {
            execution_ms: None,
            ..whole
        },
        bare
    );
    assert_eq!(plan_hash(&doc), plan_hash(&doc[0]));
    assert_eq!(plan_hash(&doc), plan_hash(&doc[0]["Plan"]));
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let t = sizes();
    for bad in [
        serde_json::json!(null),
        serde_json::json!(42),
        serde_json::json!("EXPLAIN"),
        serde_json::json!([]),
        serde_json::json!([1]),
        serde_json::json!({}),
        serde_json::json!([{"Plan": 1}]),
        serde_json::json!({"Plan": {"Plans": []}}),
        serde_json::json!({"Node Type": 7}),
    ] {
        assert!(
            matches!(plan_facts(&bad, &t), Err(PlanFactsError::NotExplainJson(_))),
            "{bad}"
        );
        assert_eq!(walk_nodes(&bad).count(), 0);
        assert_eq!(plan_hash(&bad), plan_hash(&serde_json::json!(null)));
    }
    let err = plan_facts(&serde_json::json!([]), &t).unwrap_err();
    assert!(err.to_string().contains("EXPLAIN (FORMAT JSON)"));
}

#[test]
fn odd_values_inside_a_plan_are_skipped() {
    let plan = serde_json::json!([{
        "Plan": {
            "Node Type": "Hash Join",
            "Join Type": 3,
            "Plan Rows": "many",
            "Total Cost": null,
            "Hash Cond": "((( broken",
            "Sort Key": "not a list",
            "Plans": [
                "not a node",
                {"Node Type": "Seq Scan", "Relation Name": "orders", "Filter": 5,
                 "Actual Rows": 0, "Actual Loops": 0, "Plan Rows": 10,
                 "Rows Removed by Filter": "x", "Plans": {"Node Type": "Sort"}},
                {"Node Type": "Seq Scan", "Join Filter": "(a = ANY (hashed SubPlan 1).col1)",
                 "Sort Key": [1, "x DESC", null]}
            ]
        },
        "Execution Time": "soon"
    }]);
    let f = facts(&plan);
    assert_eq!(
        f.node_types,
        strings(&["Hash Join", "Seq Scan", "Seq Scan"])
    );
    assert!(f.join_types.is_empty());
    assert_eq!(f.est_rows, 0.0);
    assert_eq!(f.total_cost, 0.0);
    assert_eq!(f.execution_ms, None);
    assert_eq!(f.sort_keys, strings(&["x DESC"]));
    // The first scan never ran (0 loops): no skew from it.
    assert_eq!(f.max_row_skew, None);
    assert_eq!(
        f.seq_scans[0],
        seq_scan("public.orders", 10.0, Some(0.0), Some(0.0), ORDERS)
    );
    // A seq scan without a relation name still counts, under an empty table name.
    assert_eq!(f.seq_scans[1].table, "");
    assert!(f.filters.is_empty());
}

#[test]
fn very_deep_plans_do_not_overflow_the_stack() {
    // Built by hand: `json!` would serialize (recursively) every interpolated value.
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    };
    let mut node = object(vec![
        ("Node Type", Value::from("Seq Scan")),
        ("Relation Name", Value::from("events")),
    ]);
    for _ in 0..5000 {
        node = object(vec![
            ("Node Type", Value::from("Materialize")),
            ("Plans", Value::Array(vec![node])),
        ]);
    }
    let plan = Value::Array(vec![object(vec![("Plan", node)])]);
    assert_eq!(walk_nodes(&plan).count(), 5001);
    let f = facts(&plan);
    assert_eq!(f.seq_scans.len(), 1);
    assert_eq!(plan_hash(&plan).len(), 64);
    // serde_json drops nested values recursively: unwind by hand.
    let mut plan = plan;
    let mut next = plan[0]["Plan"].take();
    while let Some(child) = next
        .get_mut("Plans")
        .and_then(|p| p.get_mut(0))
        .map(Value::take)
    {
        next = child;
    }
}

#[test]
fn walk_nodes_in_tree_order() {
    let plan = fixture!("hash_join_like");
    let nodes: Vec<(usize, usize, Option<usize>, String)> = walk_nodes(&plan)
        .map(|n| (n.index, n.depth, n.parent, n.label(&sizes())))
        .collect();
    assert_eq!(
        nodes,
        vec![
            (0, 0, None, "Hash Join".to_string()),
            (1, 1, Some(0), "Seq Scan on public.orders".to_string()),
            (2, 1, Some(0), "Hash".to_string()),
            (3, 2, Some(2), "Seq Scan on public.customers".to_string()),
        ]
    );
    let scan = walk_nodes(&plan).nth(1).unwrap();
    assert_eq!(scan.alias(), Some("o"));
    assert_eq!(scan.str("Filter"), Some("((status)::text = 'paid'::text)"));
    assert_eq!(scan.est_rows(), Some(147120.0));
    assert!(!scan.has_actuals());
}

#[test]
fn table_names_are_qualified_from_the_snapshot() {
    let mut t = TableSizes::default();
    assert_eq!(t.qualify(None, "orders"), "orders");
    assert_eq!(t.qualify(Some("sales"), "orders"), "sales.orders");
    t.0.insert("sales.orders".to_string(), (1.0, 1));
    assert_eq!(t.qualify(None, "orders"), "sales.orders");
    t.0.insert("archive.orders".to_string(), (1.0, 1));
    // Two candidates and no `public` one: ambiguous, keep the bare name.
    assert_eq!(t.qualify(None, "orders"), "orders");
    t.0.insert("public.orders".to_string(), (1.0, 1));
    assert_eq!(t.qualify(None, "orders"), "public.orders");
    assert_eq!(t.qualify(Some("archive"), "orders"), "archive.orders");
    assert_eq!(t.qualify(None, "order"), "order");
    assert_eq!(t.get("archive.orders"), Some((1.0, 1)));
}
