//! Renames that `-- stratum:renamed-from <old name>` in `schema/` asks for
//! (see `renames`): ALTER ... RENAME instead of a drop and a create, so rows
//! and everything that refers to the object are kept.
//!
//! A plan with renames is made against the desired schema with the renames
//! undone, and the renames run last: every other step sees the old names,
//! as the database has them until then, and PostgreSQL carries each rename
//! into the views, indexes and constraints that refer to the object.

use super::{Catalog, Effects, Action, Kind, ObjectId, Shown};
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::rank::{self, Rank};

/// One rename.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenameChange {
    /// The object under its new name.
    pub id: ObjectId,
    /// It, for people: `column app.users.full_name`.
    pub what: String,
    /// Its old name, as written in the annotation.
    pub from: String,
    /// The ALTER ... RENAME statement.
    pub sql: String,
    /// Schemas first, then what they hold, then the parts of tables and
    /// types, so that each statement names its parent as it is by then.
    pub depth: u8,
    /// Renames undone (a down migration): one step of several statements,
    /// run first.
    pub undo: bool,
}

impl Action for RenameChange {
    fn id(&self) -> ObjectId {
        self.id.clone()
    }

    fn label(&self) -> String {
        if self.undo {
            return "the renames of -- stratum:renamed-from, undone".to_string();
        }
        format!("{} (was {})", self.what, self.from)
    }

    fn verb(&self) -> &'static str {
        "rename"
    }

    // Renames run after every other step (phase 2), which works on the old
    // names; nothing else is ordered by them.
    fn effects(&self) -> Effects {
        Effects::default()
    }

    fn sql(&self) -> Option<String> {
        Some(self.sql.clone())
    }

    /// A table or a column of a kept table renamed in one step breaks the
    /// application version still running, which uses the old name.
    fn hazards(&self, current: &Catalog, _: &Catalog) -> Vec<Hazard> {
        if self.undo {
            return Vec::new();
        }
        let hint = match &self.id {
            ObjectId::Column { table, .. } if current.tables.contains_key(table) => {
                "`generate --zero-downtime` writes the rename as expand / contract"
            }
            ObjectId::Table { .. } => {
                "`generate --zero-downtime` renames it with a view under the old name until \
                 contract"
            }
            _ => return Vec::new(),
        };
        vec![Hazard::new(
            HazardCode::AppCompat,
            format!(
                "the application version still running breaks: it uses {} under its old name \
                 {}; {hint}",
                self.what, self.from
            ),
        )]
    }

    fn rank(&self) -> Rank {
        if self.undo {
            rank::UNDO_RENAME
        } else {
            rank::rename(self.depth)
        }
    }

    fn shown(&self) -> Shown {
        Shown::Object
    }
}

/// Read with the objects they are on, and compared by them.
impl Kind for RenameChange {}
