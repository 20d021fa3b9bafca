//! Which statements of a script can fail on the rows a table holds, read
//! from their parse trees, and which earlier statements make a pre-check
//! meaningless because they change those rows first.
//!
//! The rule is conservative: a pre-check that cannot be sure of the rows
//! its statement will meet is not run (a refusal must never be false). A
//! table created, dropped or renamed earlier in the run, a column added,
//! retyped, dropped or renamed earlier, and everything after a statement
//! that writes rows or runs code (INSERT, UPDATE, DELETE, MERGE, COPY FROM,
//! DO, CALL, a SELECT of a function stratum does not know) is left
//! unchecked, and says so.
use pg_query::protobuf::{self, AlterTableType, ConstrType, ObjectType};
use pg_query::NodeEnum;

use super::expr::{column_ref, columns_of, expr_sql, last_name, length_limit, string, type_text};
use super::written::{record, Written};
use super::{Check, Key, Table};

/// A check and the statement (by index) it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The statement's index in the run.
    pub statement: usize,
    /// What to check.
    pub check: Check,
    /// Why it is not run, when earlier statements change its rows.
    pub skip: Option<String>,
}

/// The pre-checks of `statements` (each the SQL of one step), in order;
/// `labels` names a statement for the reasons a check is not run.
pub fn plan(statements: &[&str], labels: &dyn Fn(usize) -> String) -> Vec<Planned> {
    let mut written = Written::default();
    let mut out: Vec<Planned> = Vec::new();
    for (i, sql) in statements.iter().enumerate() {
        if !may_matter(sql) {
            continue;
        }
        let Ok(parsed) = pg_query::parse(sql, 0) else {
            continue;
        };
        for raw in &parsed.protobuf.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
                continue;
            };
            for (check, skip) in statement(node, &mut written, i, labels) {
                let new = check
                    .reads()
                    .iter()
                    .any(|(t, _)| written.created.contains(&t.name));
                if new {
                    continue;
                }
                // The helper CHECK of an online SET NOT NULL and the SET
                // NOT NULL after it are one check.
                let seen = out.iter().any(|p| p.check == check && p.skip == skip);
                if !seen {
                    out.push(Planned {
                        statement: i,
                        check,
                        skip,
                    });
                }
            }
            record(node, &mut written, i);
        }
    }
    out
}

/// False for statements that neither need a pre-check nor change rows,
/// known by their first words and not parsed: comments, grants, settings,
/// and the CREATE, ALTER and DROP of everything but tables, domains and
/// unique indexes (most of a plan from an empty database).
fn may_matter(sql: &str) -> bool {
    let code = &sql[crate::parse::code_start(sql)..];
    let words: Vec<String> = code
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    let second = words.get(1).map(String::as_str).unwrap_or_default();
    match words.first().map(String::as_str).unwrap_or_default() {
        "COMMENT" | "GRANT" | "REVOKE" | "SET" | "RESET" | "BEGIN" | "COMMIT" | "" => false,
        "CREATE" => matches!(
            second,
            "TABLE" | "UNIQUE" | "UNLOGGED" | "TEMP" | "TEMPORARY" | "GLOBAL" | "LOCAL"
        ),
        "ALTER" => matches!(second, "TABLE" | "DOMAIN"),
        "DROP" => second == "TABLE",
        _ => true,
    }
}

/// The checks `node` needs before it runs, each with why it is not run
/// when what ran before it changes its rows.
fn statement(
    node: &NodeEnum,
    written: &mut Written,
    at: usize,
    labels: &dyn Fn(usize) -> String,
) -> Vec<(Check, Option<String>)> {
    if let NodeEnum::AlterTableStmt(s) = node {
        if s.objtype == ObjectType::ObjectTable as i32 {
            return alter_table(s, written, at, labels);
        }
    }
    if let NodeEnum::AlterDomainStmt(s) = node {
        return alter_domain(s, written)
            .into_iter()
            .map(|c| {
                let skip = written.spoils(&c, labels);
                (c, skip)
            })
            .collect();
    }
    let checks = checks(node);
    checks
        .into_iter()
        .map(|c| {
            let skip = written.spoils(&c, labels);
            (c, skip)
        })
        .collect()
}

/// The checks of an ALTER TABLE's subcommands, in order: a later one sees
/// what an earlier one changed (`TYPE int, ADD CHECK (c > 0)` checks
/// nothing on c).
fn alter_table(
    s: &protobuf::AlterTableStmt,
    written: &mut Written,
    at: usize,
    labels: &dyn Fn(usize) -> String,
) -> Vec<(Check, Option<String>)> {
    let Some(table) = s.relation.as_ref().map(Table::of) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for cmd in &s.cmds {
        let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
            continue;
        };
        for check in subcommand(&table, cmd, written) {
            let skip = written.spoils(&check, labels);
            out.push((check, skip));
        }
        if let Some(column) = changed_column(cmd) {
            written
                .columns
                .insert((table.name.clone(), column.to_string()), at);
        }
    }
    out
}

/// The checks of an ALTER DOMAIN: its columns' values against a CHECK
/// added (or validated) and against SET NOT NULL.
fn alter_domain(s: &protobuf::AlterDomainStmt, written: &mut Written) -> Vec<Check> {
    let Some(domain) = Table::of_list(Some(&NodeEnum::List(protobuf::List {
        items: s.type_name.clone(),
    }))) else {
        return Vec::new();
    };
    let key = |name: &str| (format!("domain {}", domain.name), name.to_string());
    match s.subtype.as_str() {
        // SET NOT NULL.
        "O" => vec![Check::Domain {
            domain: domain.clone(),
            name: String::new(),
            expr: None,
        }],
        // ADD CONSTRAINT.
        "C" => {
            let Some(NodeEnum::Constraint(c)) = s.def.as_deref().and_then(|d| d.node.as_ref())
            else {
                return Vec::new();
            };
            if c.contype != ConstrType::ConstrCheck as i32 {
                return Vec::new();
            }
            let Some(expr) = c.raw_expr.as_deref().and_then(expr_sql) else {
                return Vec::new();
            };
            let check = Check::Domain {
                domain: domain.clone(),
                name: c.conname.clone(),
                expr: Some(expr),
            };
            if c.skip_validation {
                written.added.insert(key(&c.conname), check);
                return Vec::new();
            }
            vec![check]
        }
        // VALIDATE CONSTRAINT: one added in the run; one of the database
        // reads its definition when it runs.
        "V" => match written.added.get(&key(&s.name)) {
            Some(check) => vec![check.clone()],
            None => vec![Check::Domain {
                domain: domain.clone(),
                name: s.name.clone(),
                expr: Some(String::new()),
            }],
        },
        _ => Vec::new(),
    }
}

/// The checks of a statement other than ALTER TABLE.
fn checks(node: &NodeEnum) -> Vec<Check> {
    match node {
        NodeEnum::IndexStmt(s) if s.unique => {
            let Some(table) = s.relation.as_ref().map(Table::of) else {
                return Vec::new();
            };
            let keys: Option<Vec<Key>> = s.index_params.iter().map(index_key).collect();
            let predicate = s.where_clause.as_deref().and_then(expr_sql);
            match keys {
                Some(keys) if s.where_clause.is_none() || predicate.is_some() => {
                    vec![Check::Unique {
                        what: format!("UNIQUE INDEX {}", crate::sql::ident(&s.idxname)),
                        table,
                        keys,
                        predicate,
                        nulls_distinct: !s.nulls_not_distinct,
                    }]
                }
                _ => Vec::new(),
            }
        }
        NodeEnum::DropStmt(s) if s.remove_type == ObjectType::ObjectTable as i32 => s
            .objects
            .iter()
            .filter_map(|o| Table::of_list(o.node.as_ref()))
            .map(|table| Check::Loses {
                table,
                column: None,
                how: "DROP TABLE",
            })
            .collect(),
        NodeEnum::TruncateStmt(s) => s
            .relations
            .iter()
            .filter_map(|r| match r.node.as_ref() {
                Some(NodeEnum::RangeVar(r)) => Some(Check::Loses {
                    table: Table::of(r),
                    column: None,
                    how: "TRUNCATE",
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The checks of one ALTER TABLE subcommand.
fn subcommand(table: &Table, cmd: &protobuf::AlterTableCmd, written: &mut Written) -> Vec<Check> {
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
    let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
    match (subtype, def) {
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c))) => {
            let checks = constraint(table, c);
            if c.skip_validation {
                // Checked when it is validated.
                for check in checks {
                    written
                        .added
                        .insert((table.name.clone(), c.conname.clone()), check);
                }
                Vec::new()
            } else {
                checks
            }
        }
        (AlterTableType::AtValidateConstraint, _) => {
            match written.added.get(&(table.name.clone(), cmd.name.clone())) {
                Some(check) => vec![check.clone()],
                None => vec![Check::Validate {
                    table: table.clone(),
                    name: cmd.name.clone(),
                }],
            }
        }
        (AlterTableType::AtSetNotNull, _) => vec![Check::NotNull {
            table: table.clone(),
            column: cmd.name.clone(),
        }],
        (AlterTableType::AtAlterColumnType, Some(NodeEnum::ColumnDef(def))) => {
            let column = column_ref(&cmd.name);
            let value = def.raw_default.as_deref().cloned().unwrap_or(column);
            let Some(type_name) = def.type_name.clone() else {
                return Vec::new();
            };
            let cast = protobuf::Node {
                node: Some(NodeEnum::TypeCast(Box::new(protobuf::TypeCast {
                    arg: Some(Box::new(value.clone())),
                    type_name: Some(type_name.clone()),
                    location: -1,
                }))),
            };
            match (expr_sql(&cast), expr_sql(&value)) {
                (Some(cast), Some(value)) => vec![Check::Retype {
                    table: table.clone(),
                    column: cmd.name.clone(),
                    to: type_text(&type_name),
                    limit: length_limit(&type_name).map(|(kind, n)| (kind, n, value)),
                    cast,
                }],
                _ => Vec::new(),
            }
        }
        (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(def))) => {
            let not_null = def.is_not_null
                || def.constraints.iter().any(|c| {
                    matches!(c.node.as_ref(), Some(NodeEnum::Constraint(c))
                        if c.contype == ConstrType::ConstrNotnull as i32
                            || c.contype == ConstrType::ConstrPrimary as i32)
                });
            let valued = def.raw_default.is_some()
                || !def.identity.is_empty()
                || !def.generated.is_empty()
                || def.constraints.iter().any(|c| {
                    matches!(c.node.as_ref(), Some(NodeEnum::Constraint(c))
                        if [ConstrType::ConstrDefault, ConstrType::ConstrIdentity, ConstrType::ConstrGenerated]
                            .iter().any(|t| c.contype == *t as i32))
                })
                || def.type_name.as_ref().is_some_and(|t| {
                    last_name(&t.names)
                        .is_some_and(|n| ["smallserial", "serial", "bigserial", "serial2", "serial4", "serial8"].contains(&n.as_str()))
                });
            if not_null && !valued {
                vec![Check::Empty {
                    table: table.clone(),
                    column: def.colname.clone(),
                    ty: def.type_name.as_ref().map(type_text).unwrap_or_default(),
                }]
            } else {
                Vec::new()
            }
        }
        (AlterTableType::AtDropColumn, _) => vec![Check::Loses {
            table: table.clone(),
            column: Some(cmd.name.clone()),
            how: "DROP COLUMN",
        }],
        _ => Vec::new(),
    }
}

/// The column a subcommand gives new values or a new name, if any.
fn changed_column(cmd: &protobuf::AlterTableCmd) -> Option<&str> {
    let subtype = AlterTableType::try_from(cmd.subtype).ok()?;
    match subtype {
        AlterTableType::AtAlterColumnType | AlterTableType::AtDropColumn => Some(&cmd.name),
        AlterTableType::AtAddColumn => match cmd.def.as_deref()?.node.as_ref()? {
            NodeEnum::ColumnDef(def) => Some(&def.colname),
            _ => None,
        },
        _ => None,
    }
}

/// The checks a constraint needs over `table`'s rows.
pub(super) fn constraint(table: &Table, c: &protobuf::Constraint) -> Vec<Check> {
    let names =
        |nodes: &[protobuf::Node]| -> Vec<String> { nodes.iter().filter_map(string).collect() };
    match ConstrType::try_from(c.contype) {
        Ok(ConstrType::ConstrPrimary | ConstrType::ConstrUnique) if c.indexname.is_empty() => {
            let columns = names(&c.keys);
            let primary = c.contype == ConstrType::ConstrPrimary as i32;
            let mut out: Vec<Check> = Vec::new();
            if primary {
                out.extend(columns.iter().map(|column| Check::NotNull {
                    table: table.clone(),
                    column: column.clone(),
                }));
            }
            out.push(Check::Unique {
                what: match (primary, c.conname.is_empty()) {
                    (true, true) => "PRIMARY KEY".to_string(),
                    (true, false) => format!("PRIMARY KEY {}", crate::sql::ident(&c.conname)),
                    (false, true) => "UNIQUE".to_string(),
                    (false, false) => format!("UNIQUE {}", crate::sql::ident(&c.conname)),
                },
                table: table.clone(),
                keys: columns.iter().map(|c| Key::column(c)).collect(),
                predicate: None,
                nulls_distinct: !c.nulls_not_distinct,
            });
            out
        }
        Ok(ConstrType::ConstrNotnull) => names(&c.keys)
            .into_iter()
            .map(|column| Check::NotNull {
                table: table.clone(),
                column,
            })
            .collect(),
        Ok(ConstrType::ConstrCheck) if c.is_enforced => {
            let Some(expr) = c.raw_expr.as_deref() else {
                return Vec::new();
            };
            // The helper CHECK of an online SET NOT NULL is that check.
            if let Some(NodeEnum::NullTest(t)) = expr.node.as_ref() {
                let column = t.arg.as_deref().and_then(|a| match a.node.as_ref() {
                    Some(NodeEnum::ColumnRef(r)) if r.fields.len() == 1 => string(&r.fields[0]),
                    _ => None,
                });
                if let (Some(column), true) = (
                    column,
                    t.nulltesttype == protobuf::NullTestType::IsNotNull as i32,
                ) {
                    return vec![Check::NotNull {
                        table: table.clone(),
                        column,
                    }];
                }
            }
            match expr_sql(expr) {
                Some(sql) => vec![Check::Satisfies {
                    // NO INHERIT: the table's own rows only.
                    table: Table {
                        only: table.only || c.is_no_inherit,
                        ..table.clone()
                    },
                    name: c.conname.clone(),
                    columns: columns_of(expr),
                    expr: sql,
                }],
                None => Vec::new(),
            }
        }
        Ok(ConstrType::ConstrForeign) if c.is_enforced => {
            let Some(references) = c.pktable.as_ref().map(Table::of) else {
                return Vec::new();
            };
            vec![Check::References {
                table: table.clone(),
                name: c.conname.clone(),
                columns: names(&c.fk_attrs),
                references,
                referenced: names(&c.pk_attrs),
                full: c.fk_matchtype == "f",
            }]
        }
        _ => Vec::new(),
    }
}

/// An index key: a column or an expression.
fn index_key(node: &protobuf::Node) -> Option<Key> {
    let Some(NodeEnum::IndexElem(e)) = node.node.as_ref() else {
        return None;
    };
    match e.expr.as_deref() {
        None => Some(Key::column(&e.name)),
        Some(expr) => {
            let sql = expr_sql(expr)?;
            Some(Key {
                sql: format!("({sql})"),
                label: sql,
                columns: columns_of(expr),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each planned check as `statement: description` or
    /// `statement: description (not run: why)`.
    fn planned(statements: &[&str]) -> Vec<String> {
        plan(statements, &|i| format!("statement {}", i + 1))
            .into_iter()
            .map(|p| match p.skip {
                None => format!("{}: {}", p.statement + 1, p.check.describe()),
                Some(why) => format!(
                    "{}: {} (not run: {why})",
                    p.statement + 1,
                    p.check.describe()
                ),
            })
            .collect()
    }

    #[test]
    fn statements_that_can_fail_on_rows_are_found() {
        assert_eq!(
            planned(&[
                "ALTER TABLE app.users ADD CONSTRAINT users_email_key UNIQUE (email)",
                "CREATE UNIQUE INDEX CONCURRENTLY i ON app.users (lower(email)) WHERE deleted_at IS NULL",
                "ALTER TABLE app.users ALTER COLUMN name SET NOT NULL",
                "ALTER TABLE app.orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES app.users (id)",
                "ALTER TABLE app.orders ADD CONSTRAINT qty CHECK (qty > 0)",
                "ALTER TABLE app.orders ALTER COLUMN code TYPE varchar(3)",
                "ALTER TABLE app.orders ADD COLUMN x int NOT NULL",
                "ALTER TABLE app.orders ADD COLUMN y int NOT NULL DEFAULT 0, ADD COLUMN z bigserial",
                "ALTER TABLE app.orders DROP COLUMN note",
                "DROP TABLE app.old",
                "ALTER TABLE app.t ADD PRIMARY KEY (a, b)",
            ]),
            [
                "1: UNIQUE users_email_key on app.users (email)",
                "2: UNIQUE INDEX i on app.users (lower(email))",
                "3: NOT NULL on app.users.name",
                "4: FOREIGN KEY fk from app.orders (user_id) to app.users",
                "5: CHECK qty (qty > 0) on app.orders",
                "6: app.orders.code to varchar(3)",
                "7: ADD COLUMN app.orders.x NOT NULL without a default",
                "9: DROP COLUMN app.orders.note",
                "10: DROP TABLE app.old",
                "11: NOT NULL on app.t.a",
                "11: NOT NULL on app.t.b",
                "11: PRIMARY KEY on app.t (a, b)",
            ]
        );
    }

    #[test]
    fn not_valid_constraints_are_checked_when_validated() {
        assert_eq!(
            planned(&[
                "ALTER TABLE t ADD CONSTRAINT c CHECK (n > 0) NOT VALID",
                "ALTER TABLE t ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID",
                "ALTER TABLE t VALIDATE CONSTRAINT c",
                "ALTER TABLE t VALIDATE CONSTRAINT nn",
                "ALTER TABLE t ALTER COLUMN name SET NOT NULL",
                "ALTER TABLE t VALIDATE CONSTRAINT other",
                "ALTER TABLE t ADD CONSTRAINT e CHECK (n < 9) NOT ENFORCED",
                "ALTER DOMAIN app.d ADD CONSTRAINT dc CHECK (VALUE > 0) NOT VALID",
                "ALTER DOMAIN app.d VALIDATE CONSTRAINT dc",
                "ALTER DOMAIN app.d SET NOT NULL",
                "ALTER DOMAIN app.d VALIDATE CONSTRAINT old",
            ]),
            [
                "3: CHECK c (n > 0) on t",
                "4: NOT NULL on t.name",
                "6: VALIDATE CONSTRAINT other on t",
                "9: CHECK dc (value > 0) on domain app.d",
                "10: NOT NULL on domain app.d",
                "11: VALIDATE CONSTRAINT old on domain app.d",
            ]
        );
    }

    #[test]
    fn earlier_statements_that_change_the_rows_leave_checks_unrun() {
        assert_eq!(
            planned(&[
                "ALTER TABLE t ADD COLUMN c int",
                "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
                "ALTER TABLE t ALTER COLUMN d TYPE int, ADD CONSTRAINT k CHECK (d > 0)",
                "ALTER TABLE t ADD CONSTRAINT u UNIQUE (e)",
                "CREATE TABLE n (a int)",
                "ALTER TABLE n ADD CONSTRAINT a_key UNIQUE (a)",
                "SELECT setval('s', 3)",
                "UPDATE t SET e = lower(e)",
                "ALTER TABLE other ALTER COLUMN f SET NOT NULL",
            ]),
            [
                "2: NOT NULL on t.c (not run: statement 1 before it changes t.c)",
                "3: t.d to int",
                "3: CHECK k (d > 0) on t (not run: statement 3 before it changes t.d)",
                "4: UNIQUE u on t (e)",
                "9: NOT NULL on other.f (not run: statement 8 before it writes rows, so the \
                 rows it meets are not known)",
            ]
        );
    }

    #[test]
    fn statements_that_cannot_matter_are_not_parsed() {
        for sql in [
            "CREATE INDEX i ON t (a)",
            "CREATE VIEW v AS SELECT 1",
            "create function f() returns int language sql as 'select 1'",
            "ALTER INDEX i RENAME TO j",
            "DROP VIEW v",
            "-- a comment\nCOMMENT ON TABLE t IS 'x'",
            "GRANT SELECT ON t TO r",
        ] {
            assert!(!may_matter(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (a int)",
            "CREATE UNIQUE INDEX i ON t (a)",
            "create unlogged table t (a int)",
            "-- why\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)",
            "ALTER DOMAIN d SET NOT NULL",
            "DROP TABLE t",
            "UPDATE t SET a = 1",
            "DO $$ BEGIN END $$",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT 1",
        ] {
            assert!(may_matter(sql), "{sql}");
        }
    }

    #[test]
    fn a_validation_after_a_change_to_its_tables_columns_is_not_run() {
        assert_eq!(
            planned(&[
                "ALTER TABLE t ALTER COLUMN c TYPE int USING c::int",
                "ALTER TABLE t VALIDATE CONSTRAINT k",
            ]),
            [
                "1: t.c to int",
                "2: VALIDATE CONSTRAINT k on t (not run: statement 1 before it changes t.c)",
            ]
        );
    }

    #[test]
    fn expressions_and_types_are_written_back_as_sql() {
        let cast = |sql: &str| match plan(&[sql], &|_| String::new()).remove(0).check {
            Check::Retype {
                cast, to, limit, ..
            } => (cast, to, limit.map(|l| (l.0, l.1, l.2))),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            cast("ALTER TABLE t ALTER COLUMN \"Code\" TYPE character(2) USING upper(\"Code\")"),
            (
                "upper(\"Code\")::char(2)".to_string(),
                "char(2)".to_string(),
                Some(("char", 2, "upper(\"Code\")".to_string()))
            )
        );
        assert_eq!(
            cast("ALTER TABLE t ALTER COLUMN n TYPE numeric(5,2)").0,
            "n::numeric(5, 2)"
        );
    }
}
