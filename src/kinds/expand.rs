//! The steps of an expand / contract pattern (`generate --zero-downtime`,
//! see `zero_downtime`): a column added beside the one it replaces, the
//! trigger that keeps both in step, the backfill, and the swap. They are
//! not found by comparing catalogs: `zero_downtime` writes them, in the
//! order they run, for a column whose change would break the application
//! still running.

use super::{Action, Effects, Kind, ObjectId, Shown};
use crate::hazard::Hazard;
use crate::kinds::rank::{self, Rank};
use crate::sql::QualName;

/// One statement of a pattern.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExpandChange {
    /// The table.
    pub table: QualName,
    /// The column the pattern changes, as the schema names it; empty for
    /// a pattern on the whole table.
    pub column: String,
    /// What the statement does, in snake_case (`add_shadow_column`).
    pub verb: String,
    /// What it does, for the summary line: `+ column full_name`.
    pub detail: String,
    /// The statement.
    pub sql: String,
    /// False for the backfill and the validation: each runs on its own.
    pub transactional: bool,
    /// Its hazards.
    pub hazards: Vec<Hazard>,
}

impl Action for ExpandChange {
    fn id(&self) -> ObjectId {
        // A pattern on a whole table (a rename) names no column.
        match self.column.is_empty() {
            true => ObjectId::Table {
                name: self.table.clone(),
            },
            false => ObjectId::column(&self.table, &self.column),
        }
    }

    fn verb(&self) -> &'static str {
        // Steps are named by the few verbs a pattern has.
        match self.verb.as_str() {
            "add_column" => "add_column",
            "drop_column" => "drop_column",
            "sync_trigger" => "sync_trigger",
            "drop_sync_trigger" => "drop_sync_trigger",
            "backfill" => "backfill",
            "add_constraint" => "add_constraint",
            "validate_constraint" => "validate_constraint",
            "swap_column" => "swap_column",
            "create_view" => "create_view",
            "drop_view" => "drop_view",
            "create_index" => "create_index",
            "rename_index" => "rename_index",
            "drop_constraint" => "drop_constraint",
            "rename_constraint" => "rename_constraint",
            _ => "alter_column",
        }
    }

    // Written in the order they run; nothing is ordered by them.
    fn effects(&self) -> Effects {
        Effects::default()
    }

    fn sql(&self) -> Option<String> {
        Some(self.sql.clone())
    }

    fn hazards(&self, _: &super::Catalog, _: &super::Catalog) -> Vec<Hazard> {
        self.hazards.clone()
    }

    fn rank(&self) -> Rank {
        rank::ADD_COLUMN
    }

    fn transactional(&self) -> bool {
        self.transactional
    }

    fn shown(&self) -> Shown {
        Shown::Part {
            table: self.table.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// Written by `zero_downtime`, never read from a catalog.
impl Kind for ExpandChange {}
