//! `zero_downtime: {above_rows, above_size}`: only the breaking changes of
//! live tables at least that big are written as expand / contract; a
//! smaller table's change is one step (its lock is short), with its
//! app-compat hazard. The sizes are read from the live database.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::sql::QualName;

/// When `generate` writes a breaking change as a pattern.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum When {
    /// Never (one step, with an app-compat hazard).
    #[default]
    Never,
    /// For every table (`--zero-downtime`, `zero_downtime: true`).
    Always,
    /// For tables of the live database with at least `rows` rows or
    /// `bytes` bytes.
    Above {
        /// Rows (`pg_class.reltuples`).
        rows: Option<u64>,
        /// Bytes, indexes and TOAST included.
        bytes: Option<u64>,
    },
}

/// The sizes of the live database's tables.
#[derive(Debug, Default)]
pub struct Sizes {
    /// Rows (None when never analysed) and bytes, by table.
    tables: BTreeMap<QualName, (Option<u64>, u64)>,
}

impl Sizes {
    /// Reads the sizes of every table of the database at `url`.
    pub async fn read(url: &str) -> Result<Sizes> {
        let client = crate::conninfo::connect_url(url)
            .await
            .context("zero_downtime compares with the live tables' sizes")?;
        let rows = client
            .query(
                "SELECT n.nspname::text, c.relname::text, c.reltuples::float8, \
                        pg_catalog.pg_total_relation_size(c.oid) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%'",
                &[],
            )
            .await
            .context("reading the live tables' sizes for zero_downtime")?;
        let tables = rows
            .iter()
            .map(|r| {
                let rows: f64 = r.get(2);
                // -1 (14 on) or 0 with no pages: never analysed.
                let rows = (rows > 0.0).then_some(rows as u64);
                let bytes: i64 = r.get(3);
                (
                    QualName::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                    (rows, bytes.max(0) as u64),
                )
            })
            .collect();
        Ok(Sizes { tables })
    }

    /// True when `table` is at least as big as either limit, or its rows
    /// were never counted (the safe side). A table the live database does
    /// not have yet is empty there.
    pub fn above(&self, table: &QualName, rows: Option<u64>, bytes: Option<u64>) -> bool {
        let Some(&(has_rows, has_bytes)) = self.tables.get(table) else {
            return false;
        };
        let by_rows = rows.is_some_and(|limit| has_rows.is_none_or(|n| n >= limit));
        let by_bytes = bytes.is_some_and(|limit| has_bytes >= limit);
        by_rows || by_bytes
    }

    /// How big `table` is, for people: `about 1200 rows, 96.0 kB`.
    pub fn describe(&self, table: &QualName) -> String {
        match self.tables.get(table) {
            None => "not in the live database yet".to_string(),
            Some((rows, bytes)) => format!(
                "{}, {}",
                rows.map_or("rows never counted".to_string(), |n| {
                    format!("about {} rows", crate::hazard::group_digits(n))
                }),
                crate::hazard::human_size(*bytes as i64)
            ),
        }
    }
}

impl When {
    /// The limits, as stratum.yaml writes them.
    pub fn limits(&self) -> String {
        let Self::Above { rows, bytes } = self else {
            return String::new();
        };
        let mut out = Vec::new();
        if let Some(r) = rows {
            out.push(format!("above_rows {r}"));
        }
        if let Some(b) = bytes {
            out.push(format!(
                "above_size {}",
                crate::hazard::human_size(*b as i64)
            ));
        }
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_above_either_limit_or_never_counted_qualify() {
        let t = |n: &str| QualName::new("app", n);
        let sizes = Sizes {
            tables: [
                (t("big"), (Some(2_000_000), 1 << 20)),
                (t("wide"), (Some(10), 2 << 30)),
                (t("small"), (Some(10), 8192)),
                (t("unknown"), (None, 8192)),
            ]
            .into_iter()
            .collect(),
        };
        let (rows, bytes) = (Some(1_000_000), Some(1 << 30));
        assert!(sizes.above(&t("big"), rows, bytes));
        assert!(sizes.above(&t("wide"), rows, bytes));
        assert!(!sizes.above(&t("small"), rows, bytes));
        assert!(sizes.above(&t("unknown"), rows, None));
        assert!(!sizes.above(&t("unknown"), None, bytes));
        assert!(!sizes.above(&t("new"), rows, bytes));
    }
}
