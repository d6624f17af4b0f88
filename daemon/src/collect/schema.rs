//! Reads the catalogs the rules need: tables, indexes, foreign keys and column statistics,
//! one SQL file per source (queries/*.sql), into a [`SchemaSnapshot`].

use super::error::CollectError;
use optidb_core::model::{
    ColumnStats, ForeignKey, Millis, SchemaIndex, SchemaSnapshot, SchemaTable,
};
use tokio_postgres::Client;

const TABLES_SQL: &str = include_str!("queries/tables.sql");
const INDEXES_SQL: &str = include_str!("queries/indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("queries/foreign_keys.sql");
const COLUMN_STATS_SQL: &str = include_str!("queries/column_stats.sql");

/// Reads the whole schema snapshot.
pub async fn read(client: &Client, now: Millis) -> Result<SchemaSnapshot, CollectError> {
    let pg = CollectError::from_pg;
    let tables = client
        .query(TABLES_SQL, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| SchemaTable {
            table_name: r.get("table_name"),
            rows_est: r.get::<_, f64>("rows_est").max(0.0),
            bytes: r.get("bytes"),
            live_tuples: r.get("live_tuples"),
            dead_tuples: r.get("dead_tuples"),
            writes: r.get("writes"),
            seq_scans: r.get("seq_scans"),
            idx_scans: r.get("idx_scans"),
            last_analyze: r.get("last_analyze"),
            mods_since_analyze: r.get("mods_since_analyze"),
            autovacuum_enabled: r.get("autovacuum_enabled"),
        })
        .collect();
    let indexes = client
        .query(INDEXES_SQL, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| SchemaIndex {
            index_name: r.get("index_name"),
            table_name: r.get("table_name"),
            columns: r.get("columns"),
            unique: r.get("is_unique"),
            primary: r.get("is_primary"),
            constraint: r.get("constraint_name"),
            partial_predicate: r.get("predicate"),
            access_method: r.get("access_method"),
            scan_count: r.get("scans"),
            bytes: r.get("bytes"),
            covers_columns: r.get("include_columns"),
            valid: r.get("is_valid"),
            definition: r.get("definition"),
        })
        .collect();
    let foreign_keys = client
        .query(FOREIGN_KEYS_SQL, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| ForeignKey {
            name: r.get("name"),
            table_name: r.get("table_name"),
            columns: r.get("columns"),
            ref_table: r.get("ref_table"),
            ref_columns: r.get("ref_columns"),
        })
        .collect();
    let column_stats = client
        .query(COLUMN_STATS_SQL, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| ColumnStats {
            table_name: r.get("table_name"),
            column: r.get("column_name"),
            null_frac: r.get("null_frac"),
            n_distinct: r.get("n_distinct"),
            correlation: r.get("correlation"),
            most_common_freqs: r.get("most_common_freqs"),
        })
        .collect();
    Ok(SchemaSnapshot {
        captured_at: now,
        tables,
        indexes,
        foreign_keys,
        column_stats,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_query_we_send_is_marked() {
        for sql in [
            super::TABLES_SQL,
            super::INDEXES_SQL,
            super::FOREIGN_KEYS_SQL,
            super::COLUMN_STATS_SQL,
        ] {
            assert!(sql.contains(super::super::session::MARKER));
        }
    }
}
