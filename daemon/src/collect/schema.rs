//! Reads the catalogs the rules need: tables, indexes, foreign keys and column statistics,
//! one SQL file per source (queries/*.sql), into a [`SchemaSnapshot`].

use crate::pg::helper::{self, HelperState};
use crate::pg::session::{self, Session};
use crate::pg::PgError;
use optidb_core::model::{
    ColumnStats, ForeignKey, Millis, SchemaIndex, SchemaSnapshot, SchemaTable,
};

const TABLES_SQL: &str = include_str!("queries/tables.sql");
const INDEXES_SQL: &str = include_str!("queries/indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("queries/foreign_keys.sql");
const COLUMN_STATS_SQL: &str = include_str!("queries/column_stats.sql");

/// Reads the whole schema snapshot. Column statistics come through the plan helper when it is
/// installed (pg_stats shows only tables the reading role may SELECT from).
pub async fn read(s: &Session, now: Millis) -> Result<SchemaSnapshot, PgError> {
    let tables = session::query(s, TABLES_SQL, &[])
        .await?
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
    let indexes = session::query(s, INDEXES_SQL, &[])
        .await?
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
    let foreign_keys = session::query(s, FOREIGN_KEYS_SQL, &[])
        .await?
        .iter()
        .map(|r| ForeignKey {
            name: r.get("name"),
            table_name: r.get("table_name"),
            columns: r.get("columns"),
            ref_table: r.get("ref_table"),
            ref_columns: r.get("ref_columns"),
        })
        .collect();
    let stats_sql = match &s.info.helper {
        HelperState::Ok {
            schema,
            column_stats: true,
        } => helper::column_stats_through(schema),
        _ => COLUMN_STATS_SQL.to_string(),
    };
    let column_stats = session::query(s, &stats_sql, &[])
        .await?
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
            assert!(sql.contains(crate::pg::MARKER));
        }
    }
}
