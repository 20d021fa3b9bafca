//! The rules, each what it looks for in the desired catalog's tables.

use super::{Rule, Settings, Severity, Violation};
use crate::kinds::{Catalog, ConstraintKind, ObjectId, Table};

/// Every rule, in the order they are listed.
pub static RULES: &[&dyn Rule] = &[
    &FkWithoutIndex,
    &TableWithoutPrimaryKey,
    &IntKey,
    &TimestampWithoutTz,
    &VarcharLength,
    &MoneyType,
    &TableWithoutComment,
    &Naming,
];

/// The tables rules look at: not partitions (their parent is) nor foreign
/// tables.
fn tables(catalog: &Catalog) -> impl Iterator<Item = &Table> {
    catalog
        .tables
        .values()
        .map(|t| &**t)
        .filter(|t| t.partition_of.is_none() && t.foreign.is_none())
}

fn table_id(t: &Table) -> ObjectId {
    ObjectId::Table {
        name: t.name.clone(),
    }
}

fn column(t: &Table, name: &str, message: String) -> Violation {
    Violation {
        id: ObjectId::column(&t.name, name),
        owner: table_id(t).label(),
        message,
    }
}

/// The key columns of a plain (not partial) btree or hash index, from its
/// definition (`CREATE INDEX i ON s.t USING btree (a, lower(b))`): a
/// column's name, None for an expression.
fn index_keys(definition: &str) -> Option<Vec<Option<String>>> {
    let (_, after) = definition.split_once(" USING ")?;
    let (method, rest) = after.split_once(' ')?;
    if !matches!(method, "btree" | "hash") || rest.contains(" WHERE ") {
        return None;
    }
    let rest = rest.strip_prefix('(')?;
    let (mut depth, mut quoted, mut end) = (0, false, None);
    let mut starts = vec![0];
    for (i, c) in rest.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth == 0 => {
                end = Some(i);
                break;
            }
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => starts.push(i + 1),
            _ => {}
        }
    }
    let list = &rest[..end?];
    let mut keys = Vec::new();
    for (k, start) in starts.iter().enumerate() {
        let stop = starts.get(k + 1).map_or(list.len(), |s| s - 1);
        let key = list[*start..stop].trim();
        keys.push(if key.starts_with('(') {
            None
        } else if let Some(quoted) = key.strip_prefix('"') {
            quoted
                .split_once('"')
                .map(|(name, _)| name.replace("\"\"", "\""))
        } else {
            // `lower(b)`: a function call is an expression too.
            key.split_whitespace()
                .next()
                .filter(|token| !token.contains('('))
                .map(str::to_string)
        });
    }
    Some(keys)
}

/// A foreign key whose columns do not lead any index of its table.
struct FkWithoutIndex;

impl Rule for FkWithoutIndex {
    fn id(&self) -> &'static str {
        "fk-without-index"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "a foreign key's columns lead an index of their table (deletes and key updates of the referenced rows, and joins, read it)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        let mut out = Vec::new();
        for t in tables(catalog) {
            let mut leading: Vec<Vec<Option<String>>> = t
                .indexes
                .values()
                .filter_map(|i| index_keys(&i.definition))
                .collect();
            leading.extend(
                t.constraints
                    .values()
                    .filter(|c| {
                        matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
                    })
                    .map(|c| c.columns.iter().cloned().map(Some).collect()),
            );
            for fk in t.constraints.values() {
                if fk.kind != ConstraintKind::ForeignKey || fk.columns.is_empty() {
                    continue;
                }
                let served = leading.iter().any(|keys| {
                    keys.len() >= fk.columns.len()
                        && fk.columns.iter().all(|c| {
                            keys[..fk.columns.len()]
                                .iter()
                                .any(|k| k.as_deref() == Some(c))
                        })
                });
                if !served {
                    out.push(Violation {
                        id: ObjectId::constraint(&t.name, &fk.name),
                        owner: table_id(t).label(),
                        message: format!(
                            "foreign key {} ({}) of {} has no index that starts with its columns: \
                             each delete or key update of a referenced row scans {}; add `CREATE INDEX ON {} ({})`",
                            fk.name,
                            fk.columns.join(", "),
                            t.name.plain(),
                            t.name.plain(),
                            t.name.plain(),
                            fk.columns.join(", ")
                        ),
                    });
                }
            }
        }
        out
    }
}

/// A table without a primary key.
struct TableWithoutPrimaryKey;

impl Rule for TableWithoutPrimaryKey {
    fn id(&self) -> &'static str {
        "table-without-primary-key"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "every table has a primary key (logical replication, tools and ORMs need one)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        tables(catalog)
            .filter(|t| {
                !t.constraints
                    .values()
                    .chain(t.parent_constraints.values())
                    .any(|c| c.kind == ConstraintKind::PrimaryKey)
            })
            .map(|t| Violation {
                id: table_id(t),
                owner: table_id(t).label(),
                message: format!(
                    "table {} has no primary key: logical replication cannot replicate its updates \
                     and deletes, and rows cannot be told apart",
                    t.name.plain()
                ),
            })
            .collect()
    }
}

/// An integer identity or serial primary key.
struct IntKey;

impl Rule for IntKey {
    fn id(&self) -> &'static str {
        "int-key"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "generated primary keys are bigint (integer runs out at 2 147 483 647; changing the type later rewrites the table)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        let mut out = Vec::new();
        for t in tables(catalog) {
            let keys = t
                .constraints
                .values()
                .filter(|c| c.kind == ConstraintKind::PrimaryKey)
                .flat_map(|c| c.columns.iter());
            for key in keys {
                let Some(c) = t.columns.iter().find(|c| &c.name == key) else {
                    continue;
                };
                let generated = c.identity.is_some()
                    || c.default
                        .as_deref()
                        .is_some_and(|d| d.starts_with("nextval("));
                if generated && matches!(c.data_type.as_str(), "integer" | "smallint") {
                    out.push(column(
                        t,
                        &c.name,
                        format!(
                            "{}.{} is a generated {} key: it runs out at {}, and making it bigint \
                             later rewrites the table under an ACCESS EXCLUSIVE lock; use bigint",
                            t.name.plain(),
                            c.name,
                            c.data_type,
                            if c.data_type == "integer" {
                                "2 147 483 647"
                            } else {
                                "32 767"
                            }
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// A column rules look at by its type.
fn typed(
    catalog: &Catalog,
    matches: impl Fn(&str) -> bool,
    message: impl Fn(&Table, &crate::kinds::Column) -> String,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for t in tables(catalog) {
        for c in t
            .columns
            .iter()
            .filter(|c| !c.inherited && matches(&c.data_type))
        {
            out.push(column(t, &c.name, message(t, c)));
        }
    }
    out
}

/// `timestamp without time zone`.
struct TimestampWithoutTz;

impl Rule for TimestampWithoutTz {
    fn id(&self) -> &'static str {
        "timestamp-without-tz"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "points in time are timestamptz (timestamp without time zone depends on the writer's time zone)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        typed(
            catalog,
            |t| t.starts_with("timestamp") && t.ends_with("without time zone"),
            |t, c| {
                format!(
                    "{}.{} is {}: it keeps no time zone, so the same instant written from two \
                     time zones differs; use timestamptz",
                    t.name.plain(),
                    c.name,
                    c.data_type
                )
            },
        )
    }
}

/// `varchar(n)`.
struct VarcharLength;

impl Rule for VarcharLength {
    fn id(&self) -> &'static str {
        "varchar-length"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "lengths are CHECK constraints on text, not varchar(n) (a shorter limit scans the table under an ACCESS EXCLUSIVE lock; a CHECK changes online)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        typed(
            catalog,
            |t| t.starts_with("character varying("),
            |t, c| {
                let n = c
                    .data_type
                    .trim_start_matches("character varying(")
                    .trim_end_matches(')');
                format!(
                    "{}.{} is {}: lowering that limit later scans the table under an ACCESS \
                     EXCLUSIVE lock; use text with CHECK (length({}) <= {n}), which can be \
                     changed NOT VALID and validated online",
                    t.name.plain(),
                    c.name,
                    c.data_type,
                    crate::sql::ident(&c.name)
                )
            },
        )
    }
}

/// `money`.
struct MoneyType;

impl Rule for MoneyType {
    fn id(&self) -> &'static str {
        "money-type"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "amounts are numeric, not money (money's format and precision follow lc_monetary)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        typed(
            catalog,
            |t| t == "money",
            |t, c| {
                format!(
                    "{}.{} is money: its input, output and precision follow the server's \
                     lc_monetary setting; use numeric (and a currency column)",
                    t.name.plain(),
                    c.name
                )
            },
        )
    }
}

/// A table without a comment.
struct TableWithoutComment;

impl Rule for TableWithoutComment {
    fn id(&self) -> &'static str {
        "table-without-comment"
    }
    fn default(&self) -> Severity {
        Severity::Off
    }
    fn about(&self) -> &'static str {
        "every table says what it holds (COMMENT ON TABLE)"
    }
    fn check(&self, catalog: &Catalog, _: &Settings) -> Vec<Violation> {
        tables(catalog)
            .filter(|t| t.comment.as_deref().unwrap_or("").trim().is_empty())
            .map(|t| Violation {
                id: table_id(t),
                owner: table_id(t).label(),
                message: format!(
                    "table {} has no comment: say what it holds with COMMENT ON TABLE",
                    t.name.plain()
                ),
            })
            .collect()
    }
}

/// Names that do not match stratum.yaml's `lint.naming` patterns.
struct Naming;

impl Rule for Naming {
    fn id(&self) -> &'static str {
        "naming"
    }
    fn default(&self) -> Severity {
        Severity::Warn
    }
    fn about(&self) -> &'static str {
        "names of tables, columns, indexes and constraints match lint.naming's patterns (none: nothing to check)"
    }
    fn check(&self, catalog: &Catalog, settings: &Settings) -> Vec<Violation> {
        let mut out = Vec::new();
        let pattern = |kind: &str| {
            settings
                .naming
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, re)| re)
        };
        let says = |kind: &str, name: &str, re: &regex::Regex| {
            format!(
                "{kind} name `{name}` does not match lint.naming.{kind} `{}`",
                re.as_str()
            )
        };
        for t in tables(catalog) {
            let owner = table_id(t).label();
            if let Some(re) = pattern("table").filter(|re| !re.is_match(&t.name.name)) {
                out.push(Violation {
                    id: table_id(t),
                    owner: owner.clone(),
                    message: says("table", &t.name.name, re),
                });
            }
            if let Some(re) = pattern("column") {
                for c in t
                    .columns
                    .iter()
                    .filter(|c| !c.inherited && !re.is_match(&c.name))
                {
                    out.push(column(t, &c.name, says("column", &c.name, re)));
                }
            }
            if let Some(re) = pattern("index") {
                for i in t.indexes.values().filter(|i| !re.is_match(&i.name.name)) {
                    out.push(Violation {
                        id: ObjectId::Index {
                            name: i.name.clone(),
                        },
                        owner: owner.clone(),
                        message: says("index", &i.name.name, re),
                    });
                }
            }
            if let Some(re) = pattern("constraint") {
                for c in t.constraints.values().filter(|c| !re.is_match(&c.name)) {
                    out.push(Violation {
                        id: ObjectId::constraint(&t.name, &c.name),
                        owner: owner.clone(),
                        message: says("constraint", &c.name, re),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_are_read_from_definitions() {
        let keys = |d: &str| index_keys(d);
        assert_eq!(
            keys("CREATE INDEX i ON s.t USING btree (a, lower(b), \"Odd, name\" DESC)"),
            Some(vec![Some("a".into()), None, Some("Odd, name".into())])
        );
        assert_eq!(
            keys("CREATE UNIQUE INDEX i ON s.t USING btree (a) INCLUDE (b)"),
            Some(vec![Some("a".into())])
        );
        assert_eq!(
            keys("CREATE INDEX i ON s.t USING btree (a) WHERE (b > 0)"),
            None
        );
        assert_eq!(keys("CREATE INDEX i ON s.t USING gin (a)"), None);
    }
}
