//! Parts of statements as SQL text and names: expressions and types
//! written back by PostgreSQL's deparser, the columns an expression
//! reads, the length a string type limits its values to.

use std::collections::BTreeSet;

use pg_query::protobuf;
use pg_query::NodeEnum;

/// `node` as SQL text, as PostgreSQL's deparser writes it inside a SELECT.
pub(super) fn expr_sql(node: &protobuf::Node) -> Option<String> {
    let mut tree = pg_query::parse("SELECT 1", 0).ok()?.protobuf;
    let select = tree.stmts.first_mut()?.stmt.as_mut()?.node.as_mut()?;
    let NodeEnum::SelectStmt(select) = select else {
        return None;
    };
    let Some(NodeEnum::ResTarget(target)) = select.target_list.first_mut()?.node.as_mut() else {
        return None;
    };
    target.val = Some(Box::new(node.clone()));
    let text = pg_query::deparse(&tree, Default::default()).ok()?;
    text.strip_prefix("SELECT ").map(str::to_string)
}

/// A type as SQL text (`varchar(3)`, `integer`).
pub(super) fn type_text(type_name: &protobuf::TypeName) -> String {
    let cast = protobuf::Node {
        node: Some(NodeEnum::TypeCast(Box::new(protobuf::TypeCast {
            arg: Some(Box::new(protobuf::Node {
                node: Some(NodeEnum::AConst(protobuf::AConst {
                    isnull: true,
                    location: -1,
                    val: None,
                })),
            })),
            type_name: Some(type_name.clone()),
            location: -1,
        }))),
    };
    expr_sql(&cast)
        .map(|t| t.trim_start_matches("NULL::").to_string())
        .unwrap_or_default()
}

/// The length a character or bit string type limits its values to, where
/// an explicit cast would cut a value that ALTER COLUMN ... TYPE refuses:
/// (`char`, `bit` or `varbit`, the limit).
pub(super) fn length_limit(type_name: &protobuf::TypeName) -> Option<(&'static str, i64)> {
    if !type_name.array_bounds.is_empty() {
        return None;
    }
    let name = last_name(&type_name.names)?;
    let modifier = type_name
        .typmods
        .first()
        .and_then(|m| match m.node.as_ref() {
            Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                Some(protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
                _ => None,
            },
            _ => None,
        });
    match (name.as_str(), modifier) {
        ("varchar", Some(n)) => Some(("char", n)),
        ("bpchar", n) => Some(("char", n.unwrap_or(1))),
        ("bit", n) => Some(("bit", n.unwrap_or(1))),
        ("varbit", Some(n)) => Some(("varbit", n)),
        _ => None,
    }
}

/// The columns an expression names (the last part of each reference).
pub(super) fn columns_of(node: &protobuf::Node) -> Vec<String> {
    let mut out = BTreeSet::new();
    let Ok(tree) = serde_json::to_value(node) else {
        return Vec::new();
    };
    let mut todo = vec![&tree];
    while let Some(value) = todo.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(fields) = map
                    .get("ColumnRef")
                    .and_then(|r| r.get("fields"))
                    .and_then(|f| f.as_array())
                {
                    if let Some(name) = fields
                        .last()
                        .and_then(|n| n.pointer("/node/String/sval").or(n.pointer("/String/sval")))
                        .and_then(|s| s.as_str())
                    {
                        out.insert(name.to_string());
                    }
                }
                todo.extend(map.values());
            }
            serde_json::Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    out.into_iter().collect()
}

/// A reference to `column` as an expression node.
pub(super) fn column_ref(column: &str) -> protobuf::Node {
    protobuf::Node {
        node: Some(NodeEnum::ColumnRef(protobuf::ColumnRef {
            fields: vec![protobuf::Node {
                node: Some(NodeEnum::String(protobuf::String {
                    sval: column.to_string(),
                })),
            }],
            location: -1,
        })),
    }
}

/// A String node's text.
pub(super) fn string(node: &protobuf::Node) -> Option<String> {
    match node.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

/// The last part of a dotted name.
pub(super) fn last_name(names: &[protobuf::Node]) -> Option<String> {
    names.last().and_then(string)
}
