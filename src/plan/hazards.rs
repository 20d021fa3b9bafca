//! Hazards: what a step may do to data, locks and running traffic.
//!
//! Each hazard has a stable kebab-case code that users allow by name, and a
//! message that names the object and, when the current side is a live
//! database, its estimated rows and size.

use serde::Serialize;

use crate::catalog::{Catalog, Column, ConstraintKind, QualName};
use crate::diff::Change;

/// A stable hazard code.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum HazardCode {
    /// Data is removed and cannot be recovered from the database.
    DataLoss,
    /// The table is rewritten: time and disk grow with its size.
    TableRewrite,
    /// Takes an ACCESS EXCLUSIVE lock for as long as the step runs.
    AccessExclusiveLock,
    /// Reads every row of the table while holding a lock.
    FullTableScan,
    /// Builds an index without CONCURRENTLY, blocking writes meanwhile.
    IndexBuild,
    /// Drops an index that queries may rely on.
    IndexDropped,
}

impl HazardCode {
    /// The code as users write it, e.g. `data-loss`.
    pub fn as_str(self) -> &'static str {
        match self {
            HazardCode::DataLoss => "data-loss",
            HazardCode::TableRewrite => "table-rewrite",
            HazardCode::AccessExclusiveLock => "access-exclusive-lock",
            HazardCode::FullTableScan => "full-table-scan",
            HazardCode::IndexBuild => "index-build",
            HazardCode::IndexDropped => "index-dropped",
        }
    }
}

/// One hazard of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hazard {
    /// Its code.
    pub code: HazardCode,
    /// What it means here.
    pub message: String,
}

/// Estimated rows and size of a table as ` (about 12 034 rows, 1.2 MB)`, when
/// the current side is a live database that has the table.
fn facts(current: &Catalog, table: &QualName) -> String {
    if !current.live {
        return String::new();
    }
    let Some(t) = current.tables.get(table) else {
        return String::new();
    };
    let rows = if t.rows < 0.0 {
        "rows not yet counted by ANALYZE".to_string()
    } else {
        format!("about {} rows", group_digits(t.rows.round() as u64))
    };
    format!(" ({rows}, {})", human_size(t.bytes))
}

fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// The hazards of one change, judged against the current catalog.
pub fn hazards(change: &Change, current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
    use Change::*;
    use HazardCode::*;
    let h = |code, message: String| Hazard { code, message };
    match change {
        DropSchema(s) => vec![h(DataLoss, format!("drops schema {}", s.name))],
        DropTable(t) => vec![h(
            DataLoss,
            format!("drops table {}{}", t.name.plain(), facts(current, &t.name)),
        )],
        DropColumn { table, column } => vec![h(
            DataLoss,
            format!(
                "drops column {}.{}{}",
                table.plain(),
                column.name,
                facts(current, table)
            ),
        )],
        DropSequence {
            sequence,
            implicit: false,
        } => vec![h(
            DataLoss,
            format!(
                "drops sequence {} and its current value",
                sequence.name.plain()
            ),
        )],
        DropFunction(f) => vec![h(DataLoss, format!("drops function {}", f.id.plain()))],
        DropExtension(e) => vec![h(
            DataLoss,
            format!("drops extension {} and every object it owns", e.name),
        )],
        RenameEnum { ty, removed, .. } if !removed.is_empty() => vec![h(
            DataLoss,
            format!(
                "removes value(s) {} from enum {}: rows holding them fail to convert",
                removed.join(", "),
                ty.name.plain()
            ),
        )],
        AlterColumnType {
            table, from, to, ..
        } => column_type(current, desired, table, from, to),
        AddColumn {
            table,
            column,
            table_rows,
        } if *table_rows => {
            if default_is_volatile(column, desired) {
                vec![h(
                    TableRewrite,
                    format!(
                        "adds column {}.{} with a volatile default: every row is rewritten{}",
                        table.plain(),
                        column.name,
                        facts(current, table)
                    ),
                )]
            } else {
                Vec::new()
            }
        }
        SetNotNull {
            table,
            column,
            not_null: true,
        } => vec![h(
            FullTableScan,
            format!(
                "SET NOT NULL on {}.{column} scans the table under an ACCESS EXCLUSIVE lock{}",
                table.plain(),
                facts(current, table)
            ),
        )],
        AlterIdentity {
            table,
            column,
            from: None,
            ..
        } => vec![h(
            AccessExclusiveLock,
            format!(
                "adding an identity to {}.{column} locks the table",
                table.plain()
            ),
        )],
        AddConstraint {
            table,
            constraint,
            new_table: false,
        } => {
            let f = facts(current, table);
            let name = &constraint.name;
            match constraint.kind {
                ConstraintKind::ForeignKey | ConstraintKind::Check if constraint.validated => {
                    vec![h(
                        FullTableScan,
                        format!("validating {name} reads every row of {}{f}", table.plain()),
                    )]
                }
                ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion => {
                    vec![h(
                        IndexBuild,
                        format!(
                            "{name} builds its index on {} while blocking writes{f}",
                            table.plain()
                        ),
                    )]
                }
                _ => Vec::new(),
            }
        }
        ValidateConstraint { table, name } => vec![h(
            FullTableScan,
            format!(
                "validating {name} reads every row of {} (writes go on){}",
                table.plain(),
                facts(current, table)
            ),
        )],
        SetLogged { table, unlogged } => vec![
            h(
                AccessExclusiveLock,
                format!(
                    "SET {} locks {} while it runs",
                    if *unlogged { "UNLOGGED" } else { "LOGGED" },
                    table.plain()
                ),
            ),
            h(
                TableRewrite,
                format!(
                    "changing the persistence of {} rewrites it{}",
                    table.plain(),
                    facts(current, table)
                ),
            ),
        ],
        CreateIndex {
            table,
            index,
            new_table: false,
        } => vec![h(
            IndexBuild,
            format!(
                "builds index {} without CONCURRENTLY, blocking writes to {}{}",
                index.name.plain(),
                table.plain(),
                facts(current, table)
            ),
        )],
        DropIndex {
            index,
            implicit: false,
            ..
        } => vec![h(
            IndexDropped,
            format!(
                "drops index {}: queries that use it get slower",
                index.name.plain()
            ),
        )],
        _ => Vec::new(),
    }
}

fn default_is_volatile(column: &Column, desired: &Catalog) -> bool {
    let Some(default) = &column.default else {
        return false;
    };
    let Ok(parsed) = pg_query::parse(&format!("SELECT {default}"), 0) else {
        return true;
    };
    parsed.functions().iter().any(|name| {
        let short = name.rsplit('.').next().unwrap_or(name);
        desired.volatile_functions.contains(short)
    })
}

/// The typmod of a formatted type, e.g. `[100]` for `character varying(100)`.
fn typmod(data_type: &str) -> Option<Vec<i64>> {
    let open = data_type.find('(')?;
    let close = data_type[open..].find(')')? + open;
    data_type[open + 1..close]
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect()
}

fn column_type(
    current: &Catalog,
    desired: &Catalog,
    table: &QualName,
    from: &Column,
    to: &Column,
) -> Vec<Hazard> {
    let f = facts(current, table);
    let what = format!(
        "{}.{} from {} to {}",
        table.plain(),
        to.name,
        from.data_type,
        to.data_type
    );
    let cast = desired
        .casts
        .get(&(from.base_type.clone(), to.base_type.clone()));
    let same_base = from.base_type == to.base_type;
    let (old_mod, new_mod) = (typmod(&from.data_type), typmod(&to.data_type));
    let widened = match (&old_mod, &new_mod) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => {
            a.len() == b.len() && a[0] <= b[0] && a.get(1).unwrap_or(&0) == b.get(1).unwrap_or(&0)
        }
    };
    let rewrite_free = from.collation == to.collation
        && widened
        && (same_base || cast.is_some_and(|c| c.method == 'b'));
    let lossless = widened && (same_base || cast.is_some_and(|c| c.context == 'i'));
    let mut hazards = vec![Hazard {
        code: HazardCode::AccessExclusiveLock,
        message: format!("changing the type of {what} locks the table{f}"),
    }];
    if !rewrite_free {
        hazards.push(Hazard {
            code: HazardCode::TableRewrite,
            message: format!("changing the type of {what} rewrites the table and its indexes{f}"),
        });
    }
    if !lossless {
        hazards.push(Hazard {
            code: HazardCode::DataLoss,
            message: format!("narrows {what}: values that do not fit fail or are cut"),
        });
    }
    hazards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_counts_and_sizes() {
        assert_eq!(group_digits(12034), "12 034");
        assert_eq!(group_digits(999), "999");
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(8192), "8.0 kB");
    }

    #[test]
    fn reads_typmods() {
        assert_eq!(typmod("character varying(100)"), Some(vec![100]));
        assert_eq!(typmod("numeric(10,2)"), Some(vec![10, 2]));
        assert_eq!(typmod("text"), None);
    }
}
