//! Where a column or a constraint is written inside one statement of the
//! schema, from pg_query's parse tree: the byte offsets annotations point
//! at.

use pg_query::protobuf::{AlterTableType, ConstrType, Node};
use pg_query::NodeEnum;

/// The column definitions and constraints of the table `table` that a
/// statement writes (a CREATE TABLE, an ALTER TABLE, or either inside a
/// CREATE SCHEMA), with the column each constraint is written on (for the
/// names PostgreSQL makes for unnamed ones).
fn parts(sql: &str, table: &str) -> Vec<Part> {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for raw in &parsed.protobuf.stmts {
        if let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
            statement_parts(node, table, &mut out);
        }
    }
    out
}

fn statement_parts(node: &NodeEnum, table: &str, out: &mut Vec<Part>) {
    let named =
        |r: &Option<pg_query::protobuf::RangeVar>| r.as_ref().is_some_and(|r| r.relname == table);
    match node {
        NodeEnum::CreateStmt(s) if named(&s.relation) => {
            s.table_elts.iter().for_each(|e| part(e, out));
        }
        NodeEnum::AlterTableStmt(s) if named(&s.relation) => {
            for cmd in &s.cmds {
                let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                    continue;
                };
                let adds = [AlterTableType::AtAddColumn, AlterTableType::AtAddConstraint]
                    .map(|t| t as i32)
                    .contains(&cmd.subtype);
                if let Some(def) = cmd.def.as_deref().filter(|_| adds) {
                    part(def, out);
                }
            }
        }
        NodeEnum::CreateSchemaStmt(s) => {
            for element in s.schema_elts.iter().filter_map(|e| e.node.as_ref()) {
                statement_parts(element, table, out);
            }
        }
        _ => {}
    }
}

/// A column definition or a constraint of a statement.
enum Part {
    Column {
        name: String,
        at: usize,
    },
    Constraint {
        /// Its name as written; empty when PostgreSQL chooses one.
        name: String,
        kind: ConstrType,
        /// The columns it is on: its keys, or the column it is written on,
        /// or those its CHECK expression reads.
        columns: Vec<String>,
        at: usize,
    },
}

fn part(node: &Node, out: &mut Vec<Part>) {
    match node.node.as_ref() {
        Some(NodeEnum::ColumnDef(c)) => {
            out.push(Part::Column {
                name: c.colname.clone(),
                at: offset(c.location),
            });
            for constraint in &c.constraints {
                if let Some(NodeEnum::Constraint(k)) = constraint.node.as_ref() {
                    out.push(constraint_part(k, Some(&c.colname)));
                }
            }
        }
        Some(NodeEnum::Constraint(k)) => out.push(constraint_part(k, None)),
        _ => {}
    }
}

fn constraint_part(k: &pg_query::protobuf::Constraint, column: Option<&str>) -> Part {
    let kind = ConstrType::try_from(k.contype).unwrap_or(ConstrType::Undefined);
    let names = |list: &[Node]| -> Vec<String> {
        list.iter()
            .filter_map(|n| match n.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                Some(NodeEnum::IndexElem(e)) => Some(e.name.clone()),
                Some(NodeEnum::List(l)) => l.items.first().and_then(|i| match i.node.as_ref() {
                    Some(NodeEnum::IndexElem(e)) => Some(e.name.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .filter(|n| !n.is_empty())
            .collect()
    };
    let columns = match (column, kind) {
        // A CHECK is named for the one column its expression reads, if one.
        (_, ConstrType::ConstrCheck) => k.raw_expr.as_deref().map(reads).unwrap_or_default(),
        (Some(c), _) => vec![c.to_string()],
        (None, ConstrType::ConstrForeign) => names(&k.fk_attrs),
        (None, ConstrType::ConstrExclusion) => names(&k.exclusions),
        (None, _) => names(&k.keys),
    };
    Part::Constraint {
        name: k.conname.clone(),
        kind,
        columns,
        at: offset(k.location),
    }
}

/// The distinct columns an expression reads, in order of appearance.
fn reads(expr: &Node) -> Vec<String> {
    let Ok(tree) = serde_json::to_value(expr) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut todo = vec![&tree];
    while let Some(value) = todo.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(fields) = map.get("ColumnRef").and_then(|c| c.get("fields")) {
                    let last = fields.as_array().and_then(|f| f.last()).and_then(|n| {
                        n.pointer("/node/String/sval")
                            .or(n.pointer("/String/sval"))
                            .and_then(|s| s.as_str())
                    });
                    if let Some(name) = last.filter(|n| !out.iter().any(|o| o == n)) {
                        out.push(name.to_string());
                    }
                }
                todo.extend(map.values());
            }
            serde_json::Value::Array(items) => todo.extend(items.iter().rev()),
            _ => {}
        }
    }
    out
}

/// A pg_query location (-1 when unknown) as an offset.
fn offset(location: i32) -> usize {
    usize::try_from(location).unwrap_or(0)
}

/// The name PostgreSQL gives an unnamed constraint on `table`.
fn chosen_name(table: &str, kind: ConstrType, columns: &[String]) -> Option<String> {
    let label = match kind {
        ConstrType::ConstrPrimary => return Some(format!("{table}_pkey")),
        ConstrType::ConstrUnique => "key",
        ConstrType::ConstrForeign => "fkey",
        ConstrType::ConstrExclusion => "excl",
        ConstrType::ConstrNotnull => "not_null",
        ConstrType::ConstrCheck => {
            return Some(match columns {
                [one] => format!("{table}_{one}_check"),
                _ => format!("{table}_check"),
            })
        }
        _ => return None,
    };
    Some(format!("{table}_{}_{label}", columns.join("_")))
}

/// The offset of column `column` of table `table` in `sql` (a CREATE
/// TABLE, or an ALTER TABLE that adds it).
pub fn column_at(sql: &str, table: &str, column: &str) -> Option<usize> {
    parts(sql, table).into_iter().find_map(|p| match p {
        Part::Column { name, at } if name == column => Some(at),
        _ => None,
    })
}

/// The offset of constraint `name` of table `table` in `sql`: by its
/// written name, or for an unnamed one by the name PostgreSQL chooses for
/// it.
pub fn constraint_at(sql: &str, table: &str, name: &str) -> Option<usize> {
    parts(sql, table).into_iter().find_map(|p| match p {
        Part::Constraint {
            name: written,
            kind,
            columns,
            at,
        } => {
            let matches = if written.is_empty() {
                chosen_name(table, kind, &columns).as_deref() == Some(name)
            } else {
                written == name
            };
            matches.then_some(at)
        }
        Part::Column { .. } => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "CREATE TABLE app.users (\n  id bigint PRIMARY KEY,\n  email text NOT NULL UNIQUE,\n  \
        age int CHECK (age > 0),\n  org bigint REFERENCES app.orgs,\n  CONSTRAINT named CHECK (age < 200),\n  \
        CHECK (age <> 7 AND email <> ''),\n  UNIQUE (org, email)\n)";

    fn line(sql: &str, at: Option<usize>) -> Option<usize> {
        at.map(|at| sql[..at].matches('\n').count() + 1)
    }

    #[test]
    fn columns_and_constraints_are_found_on_their_lines() {
        assert_eq!(line(TABLE, column_at(TABLE, "users", "email")), Some(3));
        assert_eq!(line(TABLE, column_at(TABLE, "users", "org")), Some(5));
        assert_eq!(column_at(TABLE, "users", "nope"), None);
        assert_eq!(column_at(TABLE, "orders", "email"), None);
        let at = |name| line(TABLE, constraint_at(TABLE, "users", name));
        assert_eq!(at("users_pkey"), Some(2));
        assert_eq!(at("users_email_key"), Some(3));
        assert_eq!(at("users_age_check"), Some(4));
        assert_eq!(at("users_org_fkey"), Some(5));
        assert_eq!(at("named"), Some(6));
        assert_eq!(at("users_check"), Some(7));
        assert_eq!(at("users_org_email_key"), Some(8));
        assert_eq!(at("other"), None);
        let alter =
            "ALTER TABLE app.users\n  ADD COLUMN x int,\n  ADD CONSTRAINT x_positive CHECK (x > 0)";
        assert_eq!(line(alter, column_at(alter, "users", "x")), Some(2));
        let schema = "CREATE SCHEMA app\n  CREATE TABLE a (id int)\n  CREATE TABLE users (\n    x int,\n    CHECK (x > 0))";
        assert_eq!(line(schema, column_at(schema, "users", "x")), Some(4));
        assert_eq!(
            line(schema, constraint_at(schema, "users", "users_x_check")),
            Some(5)
        );
        assert_eq!(
            line(alter, constraint_at(alter, "users", "x_positive")),
            Some(3)
        );
    }
}
