//! Columns of tables: add, drop, type (with USING when no cast does it),
//! default, NOT NULL, identity, generated expressions, collation.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

mod compare;
pub(crate) mod identity;
mod inherit;
mod not_null;
mod options;
mod read;
mod retype;
mod rewrites;

pub use not_null::{CheckStage, NotNullAction};
pub use crate::kinds::relation::{Column, ColumnOptions, Identity, NotNull};
pub(crate) use not_null::NotNullNames;
use not_null::{check_ids, check_name};
use compare::{added, column_comment, diff_table, set_default};
use inherit::{inherited, parent_column, Inherit};
use retype::type_hazards;

use crate::kinds::reader::{collation_sql, in_user_schema, subobject_comment_sql, Class, Owner, Reader};
use crate::kinds::sequence::{into_new_range, options_sql, split_options};
use crate::kinds::{composite, domain, enum_type, range, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::{ident, literal, sorted_options};

/// A column as CREATE TABLE and ADD COLUMN write it.
pub fn definition(column: &Column) -> String {
    let mut sql = format!("{} {}", ident(&column.name), column.data_type);
    if let Some(collation) = &column.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(expr) = &column.generated {
        let kind = if column.virtual_generated {
            "VIRTUAL"
        } else {
            "STORED"
        };
        sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) {kind}"));
    }
    if let Some(id) = &column.identity {
        sql.push(' ');
        sql.push_str(&identity::sql(id));
    }
    if let Some(default) = &column.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    sql.push_str(&not_null::in_definition(column));
    sql
}

/// A change to a column.
// Plans hold thousands of changes, each moved once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ColumnChange {
    /// ALTER TABLE ... ADD COLUMN; `table_rows` when the table may hold rows.
    Add {
        table: QualName,
        column: Column,
        table_rows: bool,
    },
    /// ALTER TABLE ... DROP COLUMN; `only` when children that inherit the
    /// column keep it as their own (ALTER TABLE ONLY leaves it to them).
    Drop {
        table: QualName,
        column: Column,
        only: bool,
    },
    /// ALTER TABLE ... ALTER COLUMN ... TYPE.
    AlterType {
        table: QualName,
        from: Column,
        to: Column,
        using: Option<String>,
    },
    /// ALTER COLUMN ... SET DEFAULT / DROP DEFAULT; `parent` when the
    /// column is inherited and a change of the parent's default (which
    /// recurses) must come first.
    SetDefault {
        table: QualName,
        column: String,
        from: Option<String>,
        to: Option<String>,
        parent: Option<QualName>,
    },
    /// ALTER COLUMN ... SET NOT NULL / DROP NOT NULL, or ADD CONSTRAINT ...
    /// NOT NULL when `constraint` is not the plain form; `replace` drops
    /// the current one first.
    SetNotNull {
        table: QualName,
        column: String,
        not_null: bool,
        constraint: NotNull,
        replace: bool,
        /// Online: a validated helper CHECK proves the column has no NULL,
        /// so SET NOT NULL reads no row.
        checked: bool,
    },
    /// Online SET NOT NULL on an existing table: a helper
    /// `CHECK (column IS NOT NULL)` added NOT VALID, validated on its own
    /// (writes go on), and dropped once SET NOT NULL has used it.
    NotNullCheck {
        table: QualName,
        column: String,
        stage: CheckStage,
    },
    /// A NOT NULL constraint renamed, validated or made [NO] INHERIT.
    AlterNotNull {
        table: QualName,
        column: String,
        action: NotNullAction,
    },
    /// ALTER COLUMN ... SET STORAGE / COMPRESSION / STATISTICS.
    SetOptions {
        table: QualName,
        column: String,
        from: ColumnOptions,
        to: ColumnOptions,
        type_storage: char,
    },
    /// ALTER COLUMN ... SET EXPRESSION AS (PostgreSQL 17 and later): a
    /// generated column's new expression; `column` as desired.
    SetExpression { table: QualName, column: Column },
    /// Identity added, dropped or altered.
    AlterIdentity {
        table: QualName,
        column: String,
        from: Option<Box<Identity>>,
        to: Option<Box<Identity>>,
    },
}

impl ColumnChange {
    fn table(&self) -> &QualName {
        match self {
            ColumnChange::Add { table, .. }
            | ColumnChange::Drop { table, .. }
            | ColumnChange::AlterType { table, .. }
            | ColumnChange::SetDefault { table, .. }
            | ColumnChange::SetNotNull { table, .. }
            | ColumnChange::AlterNotNull { table, .. }
            | ColumnChange::SetOptions { table, .. }
            | ColumnChange::SetExpression { table, .. }
            | ColumnChange::NotNullCheck { table, .. }
            | ColumnChange::AlterIdentity { table, .. } => table,
        }
    }

    fn column(&self) -> &str {
        match self {
            ColumnChange::Add { column, .. }
            | ColumnChange::Drop { column, .. }
            | ColumnChange::SetExpression { column, .. } => &column.name,
            ColumnChange::AlterType { to, .. } => &to.name,
            ColumnChange::SetDefault { column, .. }
            | ColumnChange::SetNotNull { column, .. }
            | ColumnChange::AlterNotNull { column, .. }
            | ColumnChange::SetOptions { column, .. }
            | ColumnChange::NotNullCheck { column, .. }
            | ColumnChange::AlterIdentity { column, .. } => column,
        }
    }
}

impl Action for ColumnChange {
    fn id(&self) -> ObjectId {
        ObjectId::column(self.table(), self.column())
    }

    fn verb(&self) -> &'static str {
        match self {
            ColumnChange::Add { .. } => "add_column",
            ColumnChange::Drop { .. } => "drop_column",
            ColumnChange::AlterType { .. } => "alter_column_type",
            ColumnChange::SetDefault { .. } => "set_default",
            ColumnChange::SetNotNull { .. } => "set_not_null",
            ColumnChange::AlterNotNull { .. } => "alter_not_null",
            ColumnChange::SetOptions { .. } => "set_column_options",
            ColumnChange::AlterIdentity { .. } => "alter_identity",
            ColumnChange::SetExpression { .. } => "set_expression",
            ColumnChange::NotNullCheck { stage, .. } => match stage {
                CheckStage::Add => "add_not_null_check",
                CheckStage::Validate => "validate_not_null_check",
                CheckStage::Drop => "drop_not_null_check",
            },
        }
    }

    fn effects(&self) -> Effects {
        let (table, name) = (self.table(), self.column());
        let column = ObjectId::column(table, name);
        let default = ObjectId::default_of(table, name);
        match self {
            ColumnChange::Add { column: c, .. } => {
                let mut ids = vec![column];
                if c.default.is_some() {
                    ids.push(default);
                }
                super::made(ids)
            }
            ColumnChange::Drop { .. } => super::gone(vec![column, default]),
            ColumnChange::AlterType { .. } => Effects {
                removes: vec![column.clone()],
                provides: vec![column],
                retype: true,
                ..Effects::default()
            },
            ColumnChange::SetDefault {
                from, to, parent, ..
            } => Effects {
                removes: from.iter().map(|_| default.clone()).collect(),
                frees: from.iter().map(|_| default.clone()).collect(),
                provides: to.iter().map(|_| default.clone()).collect(),
                // Only a new default needs the column as desired; dropping
                // the old one comes before any change to the column.
                needs: (to.is_some() || parent.is_some())
                    .then(|| column.clone())
                    .into_iter()
                    .chain(parent.iter().map(|p| ObjectId::default_of(p, name)))
                    .collect(),
                ..Effects::default()
            },
            // The expression is the column's default in the dependency
            // graph: what the old one used is freed, the new one's is needed.
            ColumnChange::SetExpression { .. } => Effects {
                removes: vec![default.clone()],
                frees: vec![default.clone()],
                provides: vec![default],
                needs: vec![column],
                ..Effects::default()
            },
            ColumnChange::SetNotNull { checked: true, .. } => {
                let [_, validated, used] = check_ids(table, name);
                Effects {
                    needs: vec![column, validated],
                    provides: vec![used],
                    ..Effects::default()
                }
            }
            ColumnChange::NotNullCheck { stage, .. } => {
                let [added, validated, used] = check_ids(table, name);
                match stage {
                    CheckStage::Add => Effects {
                        needs: vec![column],
                        provides: vec![added],
                        ..Effects::default()
                    },
                    CheckStage::Validate => Effects {
                        needs: vec![added],
                        provides: vec![validated],
                        ..Effects::default()
                    },
                    CheckStage::Drop => super::needs(vec![used]),
                }
            }
            ColumnChange::SetNotNull { .. }
            | ColumnChange::AlterNotNull { .. }
            | ColumnChange::SetOptions { .. }
            | ColumnChange::AlterIdentity { .. } => super::needs(vec![column]),
        }
    }

    fn sql(&self) -> Option<String> {
        let table = self.table();
        let prefix = format!("ALTER TABLE {table} ALTER COLUMN {}", ident(self.column()));
        Some(match self {
            ColumnChange::Add { column, .. } => {
                format!("ALTER TABLE {table} ADD COLUMN {};", definition(column))
            }
            ColumnChange::Drop { column, only, .. } => format!(
                "ALTER TABLE {}{table} DROP COLUMN {};",
                if *only { "ONLY " } else { "" },
                ident(&column.name)
            ),
            ColumnChange::AlterType { to, using, .. } => {
                let collate = to
                    .collation
                    .as_ref()
                    .map(|c| format!(" COLLATE {c}"))
                    .unwrap_or_default();
                let using = using
                    .as_ref()
                    .map(|u| format!(" USING {u}"))
                    .unwrap_or_default();
                format!("{prefix} TYPE {}{collate}{using};", to.data_type)
            }
            ColumnChange::SetDefault { to, .. } => match to {
                Some(expr) => format!("{prefix} SET DEFAULT {expr};"),
                None => format!("{prefix} DROP DEFAULT;"),
            },
            ColumnChange::SetExpression { column, .. } => format!(
                "{prefix} SET EXPRESSION AS ({});",
                column.generated.as_deref().unwrap_or_default()
            ),
            ColumnChange::SetNotNull {
                not_null: true,
                constraint,
                replace,
                ..
            } => not_null::set_sql(table, self.column(), constraint, *replace),
            ColumnChange::NotNullCheck { column, stage, .. } => {
                let name = ident(&check_name(column));
                match stage {
                    CheckStage::Add => format!(
                        "ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({} IS NOT NULL) NOT VALID;",
                        ident(column)
                    ),
                    CheckStage::Validate => {
                        format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name};")
                    }
                    CheckStage::Drop => format!("ALTER TABLE {table} DROP CONSTRAINT {name};"),
                }
            }
            ColumnChange::SetNotNull { .. } => format!("{prefix} DROP NOT NULL;"),
            ColumnChange::AlterNotNull { action, .. } => not_null::action_sql(table, action),
            ColumnChange::SetOptions {
                from,
                to,
                type_storage,
                ..
            } => format!(
                "ALTER TABLE {table} {};",
                options::actions(self.column(), from, to, *type_storage).join(", ")
            ),
            ColumnChange::AlterIdentity { from, to, .. } => match (from, to) {
                (_, None) => format!("{prefix} DROP IDENTITY;"),
                // The new sequence starts below the rows already there:
                // moved past them, or the next inserts would collide.
                (None, Some(to)) => {
                    let column = self.column();
                    let sequence = format!(
                        "pg_catalog.pg_get_serial_sequence({}, {})",
                        literal(&table.to_string()),
                        literal(column)
                    );
                    format!(
                        "{prefix} ADD {};\n\
                         SELECT pg_catalog.setval({sequence}, max({c})) FROM {table}\n\
                         HAVING max({c}) >= (SELECT seqstart FROM pg_catalog.pg_sequence \
                         WHERE seqrelid = {sequence}::regclass AND seqincrement > 0);",
                        identity::sql(to),
                        c = ident(column)
                    )
                }
                (Some(from), Some(to)) => {
                    let mut parts = Vec::new();
                    if from.always != to.always {
                        parts.push(format!(
                            " SET GENERATED {}",
                            if to.always { "ALWAYS" } else { "BY DEFAULT" }
                        ));
                    }
                    let options = options_sql(Some(&from.options), &to.options);
                    // Each option of ALTER COLUMN is introduced by SET.
                    for option in split_options(&options) {
                        parts.push(format!(" SET {option}"));
                    }
                    let sequence = format!(
                        "pg_catalog.pg_get_serial_sequence({}, {})::regclass",
                        literal(&table.to_string()),
                        literal(self.column())
                    );
                    let moved = into_new_range(&sequence, &from.options, &to.options);
                    format!("{moved}{prefix}{};", parts.join(""))
                }
            },
        })
    }

    // Validated on its own, so that the lock of the ADD before it is not
    // held while every row is read.
    fn transactional(&self) -> bool {
        !matches!(
            self,
            ColumnChange::NotNullCheck {
                stage: CheckStage::Validate,
                ..
            }
        )
    }

    fn undo_on_failure(&self) -> Option<crate::kinds::Cleanup> {
        match self {
            ColumnChange::NotNullCheck {
                table,
                column,
                stage: CheckStage::Validate,
            } => Some(crate::kinds::Cleanup::Sql(format!(
                "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {};",
                ident(&check_name(column))
            ))),
            _ => None,
        }
    }

    fn hazards(&self, current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        let table = self.table();
        let column = self.column();
        if current.tables.get(table).is_some_and(|t| t.foreign.is_some()) {
            // A foreign table's columns are only a description of remote
            // data: changing them reads, rewrites and loses nothing.
            return Vec::new();
        }
        match self {
            // A generated column's values are derived: dropping loses none.
            ColumnChange::Drop { column: c, .. } if c.generated.is_some() => Vec::new(),
            ColumnChange::Drop { .. } => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops column {}.{column}", table.plain()),
            )],
            ColumnChange::AlterType { from, to, .. } => {
                let mut hazards = type_hazards(desired, table, from, to);
                // A new collation alone leaves the type the application sees.
                let breaks = from.data_type != to.data_type
                    && hazards
                        .iter()
                        .any(|h| matches!(h.code, HazardCode::TableRewrite | HazardCode::DataLoss));
                if breaks {
                    hazards.push(Hazard::new(
                        HazardCode::AppCompat,
                        format!(
                            "the application version still running may break: column {}.{} \
                             changes from {} to {} under it; `generate --zero-downtime` writes \
                             the retype as expand / contract",
                            table.plain(),
                            from.name,
                            from.data_type,
                            to.data_type
                        ),
                    ));
                }
                hazards
            }
            ColumnChange::Add {
                column: c,
                table_rows: true,
                ..
            } if rewrites::volatile_default(c, desired) => vec![Hazard::new(
                HazardCode::TableRewrite,
                format!(
                    "adds column {}.{column} with a volatile default: every row is rewritten",
                    table.plain()
                ),
            )],
            // PostgreSQL checks a constrained domain's rules against every
            // row's new value by rewriting the table.
            ColumnChange::Add {
                column: c,
                table_rows: true,
                ..
            } if rewrites::constrained_domain(c, desired) => vec![Hazard::new(
                HazardCode::TableRewrite,
                format!(
                    "adds column {}.{column} of domain {}, which has constraints: every row is rewritten",
                    table.plain(),
                    c.data_type
                ),
            )],
            ColumnChange::Add {
                column: c,
                table_rows: true,
                ..
            } if c.generated.is_some() && !c.virtual_generated => vec![Hazard::new(
                HazardCode::TableRewrite,
                format!(
                    "adds generated column {}.{column}: every row is rewritten",
                    table.plain()
                ),
            )],
            ColumnChange::SetExpression { column: c, .. } if !c.virtual_generated => {
                vec![Hazard::new(
                    HazardCode::TableRewrite,
                    format!(
                        "sets a new expression on generated column {}.{column}: every row is rewritten",
                        table.plain()
                    ),
                )]
            }
            ColumnChange::NotNullCheck {
                stage: CheckStage::Validate,
                ..
            } => vec![Hazard::new(
                HazardCode::FullTableScan,
                format!(
                    "checking that {}.{column} holds no NULL reads every row of the table",
                    table.plain()
                ),
            )],
            ColumnChange::SetNotNull {
                not_null: true,
                constraint,
                checked: false,
                ..
            } if !constraint.not_valid => vec![Hazard::new(
                HazardCode::FullTableScan,
                format!(
                    "SET NOT NULL on {}.{column} scans the table",
                    table.plain()
                ),
            )],
            ColumnChange::AlterNotNull {
                action: NotNullAction::Validate { .. },
                ..
            } => vec![Hazard::new(
                HazardCode::FullTableScan,
                format!(
                    "validating NOT NULL on {}.{column} reads every row of the table",
                    table.plain()
                ),
            )],
            ColumnChange::AlterIdentity { from: None, .. } => vec![Hazard::new(
                HazardCode::AccessExclusiveLock,
                format!(
                    "adding an identity to {}.{column} locks the table",
                    table.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            ColumnChange::SetDefault { to: None, .. }
            | ColumnChange::AlterIdentity { to: None, .. } => rank::RELEASE,
            ColumnChange::Drop { .. } => rank::DROP_COLUMN,
            ColumnChange::Add { .. } => rank::ADD_COLUMN,
            ColumnChange::AlterType { .. } => rank::ALTER_COLUMN_TYPE,
            ColumnChange::SetDefault { .. } | ColumnChange::SetExpression { .. } => rank::SET_DEFAULT,
            ColumnChange::SetNotNull { .. }
            | ColumnChange::AlterNotNull { .. }
            | ColumnChange::NotNullCheck { .. } => rank::SET_NOT_NULL,
            ColumnChange::SetOptions { .. } => rank::ATTACH,
            ColumnChange::AlterIdentity { .. } => rank::ATTACH,
        }
    }

    fn shown(&self) -> Shown {
        let column = self.column();
        let detail = match self {
            ColumnChange::Add { .. } => format!("+ column {column}"),
            ColumnChange::Drop { .. } => format!("- column {column}"),
            ColumnChange::AlterType { from, to, .. } if from.data_type == to.data_type => {
                match from.collation == to.collation {
                    // The type of that name is built anew.
                    true => format!("~ column {column} moved to the rebuilt type {}", to.data_type),
                    false => format!(
                        "~ column {column} collation {} -> {}",
                        from.collation.as_deref().unwrap_or("default"),
                        to.collation.as_deref().unwrap_or("default")
                    ),
                }
            }
            ColumnChange::AlterType { from, to, .. } => format!(
                "~ column {column} type {} -> {}",
                from.data_type, to.data_type
            ),
            ColumnChange::SetDefault { to: Some(expr), .. } => {
                format!("~ column {column} default {expr}")
            }
            ColumnChange::SetDefault { to: None, .. } => format!("~ column {column} drop default"),
            ColumnChange::SetNotNull { not_null, .. } => format!(
                "~ column {column} {} not null",
                if *not_null { "set" } else { "drop" }
            ),
            ColumnChange::AlterNotNull { action, .. } => match action {
                NotNullAction::Rename { to, .. } => format!("~ column {column} not null named {to}"),
                NotNullAction::Validate { .. } => format!("~ column {column} validate not null"),
                NotNullAction::Inherit { inherit, .. } => format!(
                    "~ column {column} not null {}",
                    if *inherit { "inherit" } else { "no inherit" }
                ),
            },
            ColumnChange::SetOptions { .. } => format!("~ column {column} storage settings"),
            ColumnChange::SetExpression { column: c, .. } => format!(
                "~ column {column} generated as {}",
                c.generated.as_deref().unwrap_or_default()
            ),
            ColumnChange::AlterIdentity { .. } => format!("~ column {column} identity"),
            ColumnChange::NotNullCheck { stage, .. } => format!(
                "~ column {column} {} a check that it holds no NULL",
                match stage {
                    CheckStage::Add => "adds",
                    CheckStage::Validate => "validates",
                    CheckStage::Drop => "drops",
                }
            ),
        };
        Shown::Part {
            table: self.table().clone(),
            detail,
        }
    }
}

impl Kind for ColumnChange {
    fn grants(_version: i32) -> Option<String> {
        Some(crate::kinds::privilege::on_columns())
    }

    fn query(version: i32) -> Option<String> {
        read::query(version)
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        read::read(rows, cat, reader)
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        // Columns of types built anew move over to the new type.
        let mut rebuilt = enum_type::rebuilt(current, desired);
        rebuilt.extend(domain::rebuilt(current, desired));
        rebuilt.extend(composite::rebuilt(current, desired));
        rebuilt.extend(range::rebuilt(current, desired));
        for (name, table) in &desired.tables {
            let Some(old) = crate::kinds::relation::kept(current, desired, name) else {
                // CREATE TABLE holds the columns; only comments and what a
                // partition or child does not take from its parent remain.
                for column in &table.columns {
                    if !column.inherited {
                        added(name, column, out);
                    }
                    if column.inherited && !column.local {
                        let from = parent_column(desired, table, column);
                        inherited(table, from, column, Inherit::Created, out);
                    }
                    column_comment(out, name, None, column);
                }
                continue;
            };
            diff_table(current, desired, old, table, &rebuilt, out);
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Default { table, column } = id else {
            return;
        };
        let old = current.tables.get(table).and_then(|t| t.column(column));
        let new = desired.tables.get(table).and_then(|t| t.column(column));
        if let (Some(old), Some(new)) = (old, new) {
            if old.generated.is_some() {
                // A generated expression is part of its column: the column
                // is dropped and added again (its values are derived).
                out.push(
                    ColumnChange::Drop {
                        table: table.clone(),
                        column: old.clone(),
                        only: false,
                    }
                    .into(),
                );
                out.push(
                    ColumnChange::Add {
                        table: table.clone(),
                        column: new.clone(),
                        table_rows: true,
                    }
                    .into(),
                );
                added(table, new, out);
                column_comment(out, table, None, new);
                return;
            }
            // Two steps, so that the old default goes before what it calls
            // is dropped and the new one comes after it is made.
            out.push(set_default(table, column, old.default.clone(), None));
            if new.default.is_some() {
                out.push(set_default(table, column, None, new.default.clone()));
            }
        }
    }
}

fn first_char(text: Option<String>) -> Option<char> {
    text.and_then(|t| t.chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_columns_say_stored_or_virtual() {
        let mut column = Column {
            name: "area".into(),
            data_type: "integer".into(),
            base_type: "integer".into(),
            collation: None,
            default: None,
            not_null: false,
            not_null_constraint: NotNull::default(),
            identity: None,
            generated: Some("(w * h)".into()),
            virtual_generated: false,
            comment: None,
            inherited: false,
            local: true,
            options: ColumnOptions::default(),
            type_storage: 'p',
        };
        assert_eq!(
            definition(&column),
            "area integer GENERATED ALWAYS AS ((w * h)) STORED"
        );
        column.virtual_generated = true;
        assert_eq!(
            definition(&column),
            "area integer GENERATED ALWAYS AS ((w * h)) VIRTUAL"
        );
    }
}
