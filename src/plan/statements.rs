//! The SQL statement of each change.

use crate::catalog::{Column, Constraint, Identity, QualName, SequenceOptions, Table};
use crate::diff::{Change, EnumPosition};
use crate::sql::{ident, literal};

/// The statement that carries out `change`, without a trailing newline, or
/// None when another statement does the work (an index dropped with its
/// table).
pub fn statement(change: &Change) -> Option<String> {
    use Change::*;
    Some(match change {
        CreateSchema(s) => format!("CREATE SCHEMA {};", ident(&s.name)),
        DropSchema(s) => format!("DROP SCHEMA {};", ident(&s.name)),
        CreateExtension(e) => format!(
            "CREATE EXTENSION {} WITH SCHEMA {} VERSION {};",
            ident(&e.name),
            ident(&e.schema),
            literal(&e.version)
        ),
        DropExtension(e) => format!("DROP EXTENSION {};", ident(&e.name)),
        UpdateExtension { name, to, .. } => {
            format!("ALTER EXTENSION {} UPDATE TO {};", ident(name), literal(to))
        }
        CreateEnum(t) => {
            let values: Vec<String> = t.values.iter().map(|v| literal(v)).collect();
            format!("CREATE TYPE {} AS ENUM ({});", t.name, values.join(", "))
        }
        DropEnum { ty, renamed_to } => match renamed_to {
            Some(aside) => format!(
                "DROP TYPE {};",
                QualName::new(ty.name.schema.clone(), aside.clone())
            ),
            None => format!("DROP TYPE {};", ty.name),
        },
        AddEnumValue {
            ty,
            value,
            position,
        } => {
            let at = match position {
                EnumPosition::End => String::new(),
                EnumPosition::Before(v) => format!(" BEFORE {}", literal(v)),
                EnumPosition::After(v) => format!(" AFTER {}", literal(v)),
            };
            format!("ALTER TYPE {ty} ADD VALUE {}{at};", literal(value))
        }
        RenameEnum { ty, to, .. } => format!("ALTER TYPE {} RENAME TO {};", ty.name, ident(to)),
        CreateSequence(s) => {
            // Only what differs from PostgreSQL's defaults, AS included.
            let mut defaults = default_options(&s.options.data_type, s.options.increment);
            defaults.data_type = "bigint".into();
            format!(
                "CREATE SEQUENCE {}{};",
                s.name,
                sequence_options(Some(&defaults), &s.options)
            )
        }
        DropSequence { implicit: true, .. } => return None,
        DropSequence { sequence, .. } => format!("DROP SEQUENCE {};", sequence.name),
        AlterSequence { name, from, to } => {
            format!("ALTER SEQUENCE {name}{};", sequence_options(Some(from), to))
        }
        SetSequenceOwner { name, owner } => match owner {
            Some((table, column)) => {
                format!("ALTER SEQUENCE {name} OWNED BY {table}.{};", ident(column))
            }
            None => format!("ALTER SEQUENCE {name} OWNED BY NONE;"),
        },
        CreateTable(t) => create_table(t),
        DropTable(t) => format!("DROP TABLE {};", t.name),
        SetLogged { table, unlogged } => format!(
            "ALTER TABLE {table} SET {};",
            if *unlogged { "UNLOGGED" } else { "LOGGED" }
        ),
        AddColumn { table, column, .. } => {
            format!(
                "ALTER TABLE {table} ADD COLUMN {};",
                column_definition(column)
            )
        }
        DropColumn { table, column } => {
            format!("ALTER TABLE {table} DROP COLUMN {};", ident(&column.name))
        }
        AlterColumnType {
            table, to, using, ..
        } => {
            let collate = to
                .collation
                .as_ref()
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            let using = using
                .as_ref()
                .map(|u| format!(" USING {u}"))
                .unwrap_or_default();
            format!(
                "ALTER TABLE {table} ALTER COLUMN {} TYPE {}{collate}{using};",
                ident(&to.name),
                to.data_type
            )
        }
        SetDefault {
            table, column, to, ..
        } => match to {
            Some(expr) => format!(
                "ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT {expr};",
                ident(column)
            ),
            None => format!(
                "ALTER TABLE {table} ALTER COLUMN {} DROP DEFAULT;",
                ident(column)
            ),
        },
        SetNotNull {
            table,
            column,
            not_null,
        } => format!(
            "ALTER TABLE {table} ALTER COLUMN {} {} NOT NULL;",
            ident(column),
            if *not_null { "SET" } else { "DROP" }
        ),
        AlterIdentity {
            table,
            column,
            from,
            to,
        } => {
            let prefix = format!("ALTER TABLE {table} ALTER COLUMN {}", ident(column));
            match (from, to) {
                (_, None) => format!("{prefix} DROP IDENTITY;"),
                (None, Some(to)) => format!("{prefix} ADD {};", identity(to)),
                (Some(from), Some(to)) => {
                    let mut parts = Vec::new();
                    if from.always != to.always {
                        parts.push(format!(
                            " SET GENERATED {}",
                            if to.always { "ALWAYS" } else { "BY DEFAULT" }
                        ));
                    }
                    let options = sequence_options(Some(&from.options), &to.options);
                    // Each option of ALTER COLUMN is introduced by SET.
                    for option in split_options(&options) {
                        parts.push(format!(" SET {option}"));
                    }
                    format!("{prefix}{};", parts.join(""))
                }
            }
        }
        AddConstraint {
            table, constraint, ..
        } => format!(
            "ALTER TABLE {table} ADD {}{};",
            constraint_definition(constraint),
            if constraint.validated {
                ""
            } else {
                " NOT VALID"
            }
        ),
        DropConstraint { table, constraint } => {
            format!(
                "ALTER TABLE {table} DROP CONSTRAINT {};",
                ident(&constraint.name)
            )
        }
        ValidateConstraint { table, name } => {
            format!("ALTER TABLE {table} VALIDATE CONSTRAINT {};", ident(name))
        }
        CreateIndex { index, .. } => format!("{};", index.definition),
        DropIndex { implicit: true, .. } => return None,
        DropIndex { index, .. } => format!("DROP INDEX {};", index.name),
        CreateView(v) => {
            let query = v.query.trim_end().trim_end_matches(';');
            let options = if v.options.is_empty() {
                String::new()
            } else {
                format!(" WITH ({})", v.options.join(", "))
            };
            if v.materialized {
                format!("CREATE MATERIALIZED VIEW {}{options} AS\n{query};", v.name)
            } else {
                format!("CREATE VIEW {}{options} AS\n{query};", v.name)
            }
        }
        DropView(v) => format!(
            "DROP {}VIEW {};",
            if v.materialized { "MATERIALIZED " } else { "" },
            v.name
        ),
        CreateFunction(f) | ReplaceFunction { to: f, .. } => {
            format!("{};", f.definition.trim_end())
        }
        DropFunction(f) => format!(
            "DROP {} {};",
            if f.is_procedure {
                "PROCEDURE"
            } else {
                "FUNCTION"
            },
            f.id.sql()
        ),
        CreateTrigger { trigger, .. } => format!("{};", trigger.definition),
        DropTrigger { table, trigger } => {
            format!("DROP TRIGGER {} ON {table};", ident(&trigger.name))
        }
        Comment { target, to, .. } => format!(
            "COMMENT ON {} IS {};",
            target.sql,
            to.as_deref().map(literal).unwrap_or_else(|| "NULL".into())
        ),
    })
}

fn create_table(table: &Table) -> String {
    let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
    let mut lines: Vec<String> = table.columns.iter().map(column_definition).collect();
    lines.extend(
        table
            .constraints
            .values()
            .filter(|c| c.inline())
            .map(constraint_definition),
    );
    if lines.is_empty() {
        return format!("CREATE {unlogged}TABLE {} ();", table.name);
    }
    format!(
        "CREATE {unlogged}TABLE {} (\n    {}\n);",
        table.name,
        lines.join(",\n    ")
    )
}

fn constraint_definition(c: &Constraint) -> String {
    format!("CONSTRAINT {} {}", ident(&c.name), c.definition)
}

/// A column as CREATE TABLE and ADD COLUMN write it.
pub fn column_definition(column: &Column) -> String {
    let mut sql = format!("{} {}", ident(&column.name), column.data_type);
    if let Some(collation) = &column.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(expr) = &column.generated {
        sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
    }
    if let Some(id) = &column.identity {
        sql.push(' ');
        sql.push_str(&identity(id));
    }
    if let Some(default) = &column.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

fn identity(id: &Identity) -> String {
    let kind = if id.always { "ALWAYS" } else { "BY DEFAULT" };
    let defaults = default_options(&id.options.data_type, id.options.increment);
    let options = sequence_options(Some(&defaults), &id.options);
    if options.is_empty() {
        format!("GENERATED {kind} AS IDENTITY")
    } else {
        format!("GENERATED {kind} AS IDENTITY ({})", options.trim_start())
    }
}

/// The options PostgreSQL picks for a sequence of this type and direction.
fn default_options(data_type: &str, increment: i64) -> SequenceOptions {
    let max = match data_type {
        "smallint" => i16::MAX as i64,
        "integer" => i32::MAX as i64,
        _ => i64::MAX,
    };
    let (min, max, start) = if increment < 0 {
        (-max - 1, -1, -1)
    } else {
        (1, max, 1)
    };
    SequenceOptions {
        data_type: data_type.to_string(),
        start,
        increment: 1,
        min,
        max,
        cache: 1,
        cycle: false,
    }
}

/// Sequence options that differ from `from` (all of them when `from` is
/// None), each with a leading space.
fn sequence_options(from: Option<&SequenceOptions>, to: &SequenceOptions) -> String {
    let mut sql = String::new();
    let differs = |f: fn(&SequenceOptions) -> String| from.is_none_or(|o| f(o) != f(to));
    if differs(|o| o.data_type.clone()) {
        sql.push_str(&format!(" AS {}", to.data_type));
    }
    if differs(|o| o.increment.to_string()) {
        sql.push_str(&format!(" INCREMENT BY {}", to.increment));
    }
    if differs(|o| o.min.to_string()) {
        sql.push_str(&format!(" MINVALUE {}", to.min));
    }
    if differs(|o| o.max.to_string()) {
        sql.push_str(&format!(" MAXVALUE {}", to.max));
    }
    if differs(|o| o.start.to_string()) {
        sql.push_str(&format!(" START WITH {}", to.start));
    }
    if differs(|o| o.cache.to_string()) {
        sql.push_str(&format!(" CACHE {}", to.cache));
    }
    if differs(|o| o.cycle.to_string()) {
        sql.push_str(if to.cycle { " CYCLE" } else { " NO CYCLE" });
    }
    sql
}

/// Splits ` AS integer INCREMENT BY 2 CYCLE` into its options.
fn split_options(options: &str) -> Vec<String> {
    const STARTS: [&str; 8] = [
        "AS",
        "INCREMENT",
        "MINVALUE",
        "MAXVALUE",
        "START",
        "CACHE",
        "CYCLE",
        "NO",
    ];
    let mut parts: Vec<String> = Vec::new();
    for word in options.split_whitespace() {
        let starts_option =
            STARTS.contains(&word) && !(word == "CYCLE" && parts.last().is_some_and(|p| p == "NO"));
        match parts.last_mut() {
            Some(last) if !starts_option => {
                last.push(' ');
                last.push_str(word);
            }
            _ => parts.push(word.to_string()),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sequence_options() {
        assert_eq!(
            split_options(" INCREMENT BY 2 NO CYCLE START WITH 5"),
            vec!["INCREMENT BY 2", "NO CYCLE", "START WITH 5"]
        );
    }

    #[test]
    fn identity_omits_default_options() {
        let id = Identity {
            always: true,
            options: default_options("bigint", 1),
        };
        assert_eq!(identity(&id), "GENERATED ALWAYS AS IDENTITY");
    }
}
