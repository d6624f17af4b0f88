//! `optidb families`: the workload as kinds of work — the latest scan's query families
//! (`GET /families`) as a table, `--json` for the daemon's answer as is.

use serde_json::Value;

/// The table for a `GET /families` answer.
pub fn render(v: &Value) -> String {
    let rows = v["families"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no families stored yet: run `optidb scan`".into();
    }
    let mut out = format!(
        "{} families of {} queries ({} vectorized); {}\n",
        rows.len(),
        v["queries"],
        v["vectorized"],
        v["criterion"].as_str().unwrap_or("")
    );
    out.push_str(&format!(
        "{:<32} {:>7} {:>12} {:>10}  {}\n",
        "family", "queries", "total ms", "calls", "example"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<32} {:>7} {:>12.1} {:>10}  {}\n",
            r["label"].as_str().unwrap_or(""),
            r["size"],
            r["total_ms"].as_f64().unwrap_or(0.0),
            r["calls"],
            optidb_core::format::one_line(r["example"].as_str().unwrap_or(""), 70)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_table_of_families() {
        let v = json!({
            "queries": 3, "vectorized": 3, "criterion": "best silhouette 0.80 over k = 2..=2",
            "families": [
                {"label": "users_like_email", "size": 2, "total_ms": 1234.5, "calls": 40,
                 "example": "SELECT id FROM users\n WHERE email LIKE $1"},
                {"label": "coupons_update_pk", "size": 1, "total_ms": 10.0, "calls": 4,
                 "example": null}
            ]
        });
        let t = render(&v);
        assert!(t.starts_with("2 families of 3 queries (3 vectorized); best silhouette"));
        assert!(t.contains("users_like_email"));
        assert!(t.contains("SELECT id FROM users WHERE email LIKE $1"));
        assert!(t.contains("coupons_update_pk"));
        assert_eq!(
            render(&json!({"families": []})),
            "no families stored yet: run `optidb scan`"
        );
    }
}
