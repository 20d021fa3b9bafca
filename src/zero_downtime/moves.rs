//! What moves with a renamed or retyped column: the indexes and
//! constraints over it, the sequences it owns, the views that read it and
//! other tables' foreign keys to it, as it is and as the schema wants them.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use super::Pattern;
use crate::kinds::relation::{Constraint, ConstraintKind, Index};
use crate::kinds::{Catalog, ObjectId};
use crate::sql::QualName;

/// An index or a constraint over a column a pattern moves.
#[derive(Debug, Clone)]
pub enum Carried {
    /// An index that implements no constraint.
    Index(Index),
    /// A PRIMARY KEY, UNIQUE, CHECK, or a foreign key of the column.
    Constraint(Constraint),
}

impl Carried {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Carried::Index(i) => &i.name.name,
            Carried::Constraint(c) => &c.name,
        }
    }

    pub(super) fn id(&self, table: &QualName) -> ObjectId {
        match self {
            Carried::Index(i) => ObjectId::Index {
                name: i.name.clone(),
            },
            Carried::Constraint(c) => ObjectId::constraint(table, &c.name),
        }
    }
}

/// What moves with a renamed or retyped column.
#[derive(Debug, Clone, Default)]
pub struct Carries {
    /// The indexes and constraints over the column as it is: they go with
    /// it at contract, and the contract's down file makes them again.
    pub old: Vec<Carried>,
    /// The ones the schema wants over the column: built on the new column
    /// in expand, named at contract.
    pub new: Vec<Carried>,
    /// The sequences the column owns (a serial's).
    pub sequences: Vec<QualName>,
    /// The views that read the column (see [`Views`]).
    pub views: Vec<QualName>,
    /// The foreign keys of other tables (or of other columns of this one)
    /// to the column as it is, by table: pointed at the new column in the
    /// contract, and back in its down file.
    pub incoming_old: Vec<(QualName, Constraint)>,
    /// The same foreign keys as the schema wants them.
    pub incoming_new: Vec<(QualName, Constraint)>,
}

/// The indexes, constraints and sequences over a renamed or retyped
/// column, as it is and as the schema wants it; an error names what
/// depends on it and cannot move with it yet.
pub(super) fn carried(current: &Catalog, reached: &Catalog, p: &Pattern) -> Result<Carries> {
    let (Pattern::Rename { from, to, .. } | Pattern::Retype { from, to, .. }) = p else {
        return Ok(Carries::default());
    };
    let table = p.table();
    let mut carries = Carries::default();
    let mut refused = BTreeSet::new();
    let over = |cat: &Catalog, column: &str, refused: &mut BTreeSet<String>| {
        let mut out = Vec::new();
        let mut sequences = Vec::new();
        let mut views = Vec::new();
        let mut incoming = Vec::new();
        let Some(t) = cat.tables.get(table) else {
            return (out, sequences, views, incoming);
        };
        let id = ObjectId::column(table, column);
        // Its own default moves with it.
        let default = ObjectId::Default {
            table: table.clone(),
            column: column.to_string(),
        };
        for (dependent, referenced) in cat.depends.iter() {
            if *referenced != id || *dependent == id || *dependent == default {
                continue;
            }
            match dependent {
                ObjectId::Index { name } if t.indexes.get(&name.name).is_some() => {
                    out.extend(t.indexes.get(&name.name).cloned().map(Carried::Index));
                }
                ObjectId::Constraint { table: on, name } => {
                    let c = cat.tables.get(on).and_then(|o| o.constraints.get(name));
                    match c {
                        // Its own: with the others below.
                        Some(c) if on == table && c.columns.iter().any(|c| c == column) => {}
                        // A foreign key of another table (or column) to it.
                        Some(c) if c.kind == ConstraintKind::ForeignKey => {
                            incoming.push((on.clone(), c.clone()));
                        }
                        _ => {
                            refused.insert(dependent.label());
                        }
                    }
                }
                ObjectId::SequenceOwner { name } => sequences.push(name.clone()),
                // Made again over the new column at contract, when the
                // schema keeps it as a plain view.
                ObjectId::View { name }
                    if reached.views.get(name).is_some_and(|v| !v.materialized)
                        && current.views.get(name).is_some_and(|v| !v.materialized) =>
                {
                    views.push(name.clone());
                }
                _ => {
                    refused.insert(dependent.label());
                }
            }
        }
        for c in t.constraints.values() {
            if !c.columns.iter().any(|c| c == column) {
                continue;
            }
            let key = matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique);
            if c.kind == ConstraintKind::Exclusion
                || key && crate::kinds::constraint::unique_index(table, c).is_none()
            {
                refused.insert(format!("constraint {} ({})", c.name, c.definition));
            } else {
                out.push(Carried::Constraint(c.clone()));
            }
        }
        (out, sequences, views, incoming)
    };
    (
        carries.old,
        carries.sequences,
        carries.views,
        carries.incoming_old,
    ) = over(current, &from.name, &mut refused);
    (carries.new, _, _, carries.incoming_new) = over(reached, &to.name, &mut refused);
    let partitioned = current
        .tables
        .get(table)
        .is_some_and(|t| t.partition_by.is_some());
    if partitioned && !(carries.old.is_empty() && carries.new.is_empty()) {
        bail!(
            "--zero-downtime: {} is not supported yet: its table is partitioned, and PostgreSQL \
             builds no index CONCURRENTLY on a partitioned table",
            p.describe()
        );
    }
    if refused.is_empty() {
        return Ok(carries);
    }
    bail!(
        "--zero-downtime: {} is not supported yet: {} depend on it (its pattern would have to \
         move them); generate it without --zero-downtime",
        p.describe(),
        refused.into_iter().collect::<Vec<_>>().join(", ")
    )
}
