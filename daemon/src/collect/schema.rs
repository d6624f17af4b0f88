//! Reads the catalogs the rules need: tables, indexes, foreign keys and column statistics,
//! one SQL file per source (queries/*.sql), into a [`SchemaSnapshot`].

use crate::pg::helper::{self, HelperState};
use crate::pg::session::{self, Session};
use crate::pg::PgError;
use optidb_core::model::{
    ColumnStats, ForeignKey, Millis, SchemaIndex, SchemaSnapshot, SchemaTable,
};
use tokio_postgres::types::Type;

const TABLES_SQL: &str = include_str!("queries/tables.sql");
const INDEXES_SQL: &str = include_str!("queries/indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("queries/foreign_keys.sql");
const COLUMN_STATS_SQL: &str = include_str!("queries/column_stats.sql");
const SIGNATURE_SQL: &str = include_str!("queries/schema_signature.sql");

/// A cheap summary of the catalog: equal signatures mean no DDL and no new statistics in
/// between (queries/schema_signature.sql), so a cached snapshot is still right.
pub async fn signature(s: &Session) -> Result<Vec<i64>, PgError> {
    let rows = session::query(s, SIGNATURE_SQL, &[]).await?;
    Ok(rows
        .first()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<i64>>(i).unwrap_or(0))
                .collect()
        })
        .unwrap_or_default())
}

/// A schema snapshot and what the scan should tell about how it was read.
pub struct SchemaRead {
    pub snapshot: SchemaSnapshot,
    /// Relations whose sizes come from the catalog (locked by another session, or dropped).
    pub warnings: Vec<String>,
}

/// Reads the schema snapshot. Column statistics come through the plan helper when it is
/// installed (pg_stats shows only tables the reading role may SELECT from). A table locked by
/// another session never fails the read: its size comes from the catalog and a warning names it.
///
/// With `reuse`, only the tables (sizes, row counts, activity) are read again; indexes,
/// foreign keys and column statistics are taken from `reuse` — for a caller that knows from
/// [`signature`] that no DDL and no ANALYZE happened since `reuse` was read.
pub async fn read(
    s: &Session,
    now: Millis,
    reuse: Option<&SchemaSnapshot>,
) -> Result<SchemaRead, PgError> {
    let mut warnings = Vec::new();
    let tables: Vec<SchemaTable> = measured_rows(s, TABLES_SQL, &mut warnings)
        .await?
        .iter()
        .map(|r| {
            let (bytes, size_estimated) = size(r);
            SchemaTable {
                table_name: r.get("table_name"),
                rows_est: r.get::<_, Option<f64>>("rows_est").unwrap_or(0.0).max(0.0),
                bytes,
                live_tuples: int(r, "live_tuples"),
                dead_tuples: int(r, "dead_tuples"),
                writes: int(r, "writes"),
                seq_scans: int(r, "seq_scans"),
                idx_scans: int(r, "idx_scans"),
                last_analyze: r.get("last_analyze"),
                mods_since_analyze: int(r, "mods_since_analyze"),
                autovacuum_enabled: r
                    .get::<_, Option<bool>>("autovacuum_enabled")
                    .unwrap_or(true),
                size_estimated,
            }
        })
        .collect();
    let locked: Vec<&str> = tables
        .iter()
        .filter(|t| t.size_estimated)
        .map(|t| t.table_name.as_str())
        .collect();
    if !locked.is_empty() {
        warnings.push(format!(
            "sizes of {} come from the catalog (relpages), not a measurement: another session \
             held an exclusive lock on them (or they were dropped) while the scan read them",
            locked.join(", ")
        ));
    }
    if let Some(cached) = reuse {
        return Ok(SchemaRead {
            snapshot: SchemaSnapshot {
                captured_at: now,
                tables,
                indexes: cached.indexes.clone(),
                foreign_keys: cached.foreign_keys.clone(),
                column_stats: cached.column_stats.clone(),
            },
            warnings,
        });
    }
    let indexes = measured_rows(s, INDEXES_SQL, &mut warnings)
        .await?
        .iter()
        .map(|r| {
            let (bytes, size_estimated) = size(r);
            SchemaIndex {
                index_name: r.get("index_name"),
                table_name: r.get("table_name"),
                columns: r
                    .get::<_, Option<Vec<String>>>("columns")
                    .unwrap_or_default(),
                unique: r.get("is_unique"),
                primary: r.get("is_primary"),
                constraint: r.get("constraint_name"),
                partial_predicate: r.get("predicate"),
                access_method: r.get("access_method"),
                scan_count: int(r, "scans"),
                bytes,
                covers_columns: r
                    .get::<_, Option<Vec<String>>>("include_columns")
                    .unwrap_or_default(),
                valid: r.get("is_valid"),
                definition: r.get::<_, Option<String>>("definition").unwrap_or_default(),
                size_estimated,
            }
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
    Ok(SchemaRead {
        snapshot: SchemaSnapshot {
            captured_at: now,
            tables,
            indexes,
            foreign_keys,
            column_stats,
        },
        warnings,
    })
}

/// Runs a catalog query that measures sizes (`$1` = measure): when a lock appears between its
/// pg_locks read and a measurement (lock_timeout ran out), runs it again measuring nothing.
async fn measured_rows(
    s: &Session,
    sql: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    match session::query(s, sql, &[(&true, Type::BOOL)]).await {
        Err(PgError::Locked(why)) => {
            tracing::warn!("a relation was locked while its size was measured ({why}): sizes come from the catalog");
            warnings.push(format!(
                "a relation was locked while the scan measured sizes ({why}): this scan's \
                 sizes come from the catalog (relpages)"
            ));
            session::query(s, sql, &[(&false, Type::BOOL)]).await
        }
        other => other,
    }
}

/// `(bytes, estimated)`: the measured size when there is one, else the catalog's.
fn size(r: &tokio_postgres::Row) -> (i64, bool) {
    match r.get::<_, Option<i64>>("measured_bytes") {
        Some(b) => (b, false),
        None => (int(r, "catalog_bytes"), true),
    }
}

/// An int8 column read NULL-safely (NULL reads as 0).
fn int(r: &tokio_postgres::Row, col: &str) -> i64 {
    r.get::<_, Option<i64>>(col).unwrap_or(0)
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
            super::SIGNATURE_SQL,
        ] {
            assert!(sql.contains(crate::pg::MARKER));
        }
    }
}
