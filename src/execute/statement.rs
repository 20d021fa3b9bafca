//! What a statement of a migration file does, read from its parse tree:
//! the hazards of a statement nobody planned (a hand-written file, a down
//! file), and the roles a statement names.
//!
//! Until migration files are rehearsed, a file's statements count as
//! `data-loss` when PostgreSQL would run them as DROP TABLE, DROP COLUMN,
//! TRUNCATE, DELETE without WHERE, or DROP SCHEMA ... CASCADE.

use std::collections::BTreeSet;

use pg_query::protobuf::{AlterTableType, DropBehavior, ObjectType};
use pg_query::NodeEnum;

use crate::hazard::{Hazard, HazardCode};

/// The hazards of one statement (`node`, its parse tree; None when it does
/// not parse, which the server will say).
pub fn hazards(node: Option<&NodeEnum>) -> Vec<Hazard> {
    let Some(node) = node else {
        return Vec::new();
    };
    let loss = |what: String| vec![Hazard::new(HazardCode::DataLoss, what)];
    match node {
        NodeEnum::DropStmt(s) => {
            let names = || {
                s.objects
                    .iter()
                    .map(|o| dotted(o.node.as_ref()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let cascade = s.behavior == DropBehavior::DropCascade as i32;
            match ObjectType::try_from(s.remove_type) {
                Ok(ObjectType::ObjectTable) => loss(format!("drops table {}", names())),
                Ok(ObjectType::ObjectSchema) if cascade => loss(format!(
                    "drops schema {} and everything in it (CASCADE)",
                    names()
                )),
                _ => Vec::new(),
            }
        }
        // A foreign table's or a composite type's columns hold no rows here.
        NodeEnum::AlterTableStmt(s) if s.objtype == ObjectType::ObjectTable as i32 => {
            let table = s.relation.as_ref().map(range_var).unwrap_or_default();
            s.cmds
                .iter()
                .filter_map(|c| match c.node.as_ref() {
                    Some(NodeEnum::AlterTableCmd(cmd))
                        if cmd.subtype == AlterTableType::AtDropColumn as i32 =>
                    {
                        Some(Hazard::new(
                            HazardCode::DataLoss,
                            format!("drops column {table}.{}", cmd.name),
                        ))
                    }
                    _ => None,
                })
                .collect()
        }
        NodeEnum::TruncateStmt(s) => {
            let tables: Vec<String> = s
                .relations
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RangeVar(r)) => Some(range_var(r)),
                    _ => None,
                })
                .collect();
            loss(format!("truncates {}", tables.join(", ")))
        }
        NodeEnum::DeleteStmt(s) if s.where_clause.is_none() => loss(format!(
            "deletes every row of {}",
            s.relation.as_ref().map(range_var).unwrap_or_default()
        )),
        _ => Vec::new(),
    }
}

/// Why a step runs alone, outside a transaction (`sql`, its statement),
/// as a file's header says it.
pub fn why_alone(sql: &str) -> String {
    match crate::parse::outside_transaction(sql) {
        Some(kind @ "ALTER TYPE ... ADD VALUE") => {
            format!("{kind}: a new enum value cannot be used in the transaction that adds it")
        }
        Some(kind) => format!("{kind} cannot run in a transaction"),
        None if crate::parse::first_statement(sql).is_some_and(|n| validates(&n)) => {
            "VALIDATE CONSTRAINT, apart from the statement that added the constraint: it reads \
             the whole table under a SHARE UPDATE EXCLUSIVE lock only, so reads and writes go on"
                .to_string()
        }
        None => "on its own".to_string(),
    }
}

/// True when `node` is an ALTER TABLE that validates a constraint.
pub fn validates(node: &NodeEnum) -> bool {
    match node {
        NodeEnum::AlterTableStmt(s) => s.cmds.iter().any(|c| {
            matches!(c.node.as_ref(), Some(NodeEnum::AlterTableCmd(cmd))
                if cmd.subtype == AlterTableType::AtValidateConstraint as i32)
        }),
        _ => false,
    }
}

/// [`hazards`] of `sql`, parsed only when its first word is one a
/// destructive statement starts with.
pub fn hazards_of_sql(sql: &str) -> Vec<Hazard> {
    let code = sql.trim_start().to_ascii_uppercase();
    let may = ["DROP", "ALTER", "TRUNCATE", "DELETE", "WITH"]
        .iter()
        .any(|w| code.starts_with(w));
    if may {
        hazards(crate::parse::first_statement(sql).as_ref())
    } else {
        Vec::new()
    }
}

/// `schema.name` as written.
fn range_var(r: &pg_query::protobuf::RangeVar) -> String {
    if r.schemaname.is_empty() {
        r.relname.clone()
    } else {
        format!("{}.{}", r.schemaname, r.relname)
    }
}

/// A dotted name from a list of strings (a DROP's object).
fn dotted(node: Option<&NodeEnum>) -> String {
    let parts = match node {
        Some(NodeEnum::List(l)) => &l.items,
        Some(NodeEnum::String(s)) => return s.sval.clone(),
        _ => return String::new(),
    };
    parts
        .iter()
        .filter_map(|p| match p.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The roles `sql` names by name (GRANT ... TO, OWNER TO, policies' TO,
/// default privileges' FOR ROLE and TO), not PUBLIC or CURRENT_USER.
pub fn roles(sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Only statements that can name a role are parsed: a plan from an
    // empty database has tens of thousands of others.
    let upper = sql.to_ascii_uppercase();
    let names_roles = [
        "GRANT",
        "OWNER",
        "POLICY",
        "PRIVILEGES",
        "AUTHORIZATION",
        "MAPPING",
    ]
    .iter()
    .any(|w| upper.contains(w));
    if !names_roles {
        return out;
    }
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return out;
    };
    // Every RoleSpec in the tree, whatever statement holds it: the tree
    // as JSON, where a RoleSpec is an object with `roletype` and
    // `rolename`.
    let Ok(tree) = serde_json::to_value(&parsed.protobuf) else {
        return out;
    };
    let named = pg_query::protobuf::RoleSpecType::RolespecCstring as i64;
    let mut todo = vec![&tree];
    while let Some(value) = todo.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let (Some(kind), Some(serde_json::Value::String(name))) =
                    (map.get("roletype"), map.get("rolename"))
                {
                    if kind.as_i64() == Some(named) && !name.is_empty() {
                        out.insert(name.clone());
                    }
                }
                todo.extend(map.values());
            }
            serde_json::Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> Vec<String> {
        let parsed = hazards(crate::parse::first_statement(sql).as_ref());
        assert_eq!(hazards_of_sql(sql), parsed, "{sql}");
        parsed
            .into_iter()
            .map(|h| format!("{}: {}", h.code.as_str(), h.message))
            .collect()
    }

    #[test]
    fn destructive_statements_are_data_loss() {
        assert_eq!(
            of("DROP TABLE app.users, t"),
            ["data-loss: drops table app.users, t"]
        );
        assert_eq!(
            of("ALTER TABLE app.users DROP COLUMN phone, ADD COLUMN x int"),
            ["data-loss: drops column app.users.phone"]
        );
        assert_eq!(of("TRUNCATE t1, s.t2"), ["data-loss: truncates t1, s.t2"]);
        assert_eq!(of("DELETE FROM t"), ["data-loss: deletes every row of t"]);
        assert_eq!(of("  delete from t"), ["data-loss: deletes every row of t"]);
        assert_eq!(
            of("DROP SCHEMA app CASCADE"),
            ["data-loss: drops schema app and everything in it (CASCADE)"]
        );
    }

    #[test]
    fn other_statements_are_not() {
        for sql in [
            "DELETE FROM t WHERE id = 1",
            "DROP SCHEMA app",
            "DROP INDEX CONCURRENTLY i",
            "DROP VIEW v",
            "ALTER TABLE t ADD COLUMN x int",
            "CREATE TABLE t (x int)",
            "not sql at all",
            "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
        ] {
            assert_eq!(of(sql), Vec::<String>::new(), "{sql}");
        }
    }

    #[test]
    fn roles_named_by_grants_owners_policies_and_default_privileges() {
        let sql = "GRANT SELECT ON t TO reporting, PUBLIC;\n\
                   ALTER TABLE t OWNER TO \"App Owner\";\n\
                   CREATE POLICY p ON t TO analyst USING (true);\n\
                   ALTER DEFAULT PRIVILEGES FOR ROLE deployer GRANT SELECT ON TABLES TO reader;\n\
                   GRANT SELECT ON t TO CURRENT_USER;";
        assert_eq!(
            roles(sql).into_iter().collect::<Vec<_>>(),
            ["App Owner", "analyst", "deployer", "reader", "reporting"]
        );
    }
}
