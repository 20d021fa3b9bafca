//! User-defined operators (CREATE OPERATOR). A changed operator is dropped
//! and created; what uses it is rebuilt around it.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::{Hazard, HazardCode};

/// An operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Operator {
    /// Qualified name, e.g. `public.===`.
    pub name: QualName,
    /// LEFTARG, `NONE` for a prefix operator.
    pub left: String,
    /// RIGHTARG.
    pub right: String,
    /// The options in parentheses: `FUNCTION = ...`, `COMMUTATOR = ...`, ...
    pub options: Vec<String>,
    /// COMMENT ON OPERATOR.
    pub comment: Option<String>,
}

impl Operator {
    fn id(&self) -> ObjectId {
        ObjectId::Operator {
            name: self.name.clone(),
            left: self.left.clone(),
            right: self.right.clone(),
        }
    }

    /// `schema.op (left, right)`, as DROP and COMMENT name it. Operator
    /// names are never quoted.
    fn signature(&self) -> String {
        format!(
            "{}.{} ({}, {})",
            crate::sql::ident(&self.name.schema),
            self.name.name,
            self.left,
            self.right
        )
    }
}

/// A change to an operator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OperatorChange {
    /// CREATE OPERATOR.
    Create(Operator),
    /// DROP OPERATOR.
    Drop(Operator),
}

impl OperatorChange {
    fn operator(&self) -> &Operator {
        match self {
            OperatorChange::Create(o) | OperatorChange::Drop(o) => o,
        }
    }
}

impl Action for OperatorChange {
    fn id(&self) -> ObjectId {
        self.operator().id()
    }

    fn verb(&self) -> &'static str {
        match self {
            OperatorChange::Create(_) => "create_operator",
            OperatorChange::Drop(_) => "drop_operator",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            OperatorChange::Create(_) => super::made(vec![self.id()]),
            OperatorChange::Drop(_) => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let o = self.operator();
        Some(match self {
            OperatorChange::Create(_) => {
                let mut options = Vec::new();
                if o.left != "NONE" {
                    options.push(format!("LEFTARG = {}", o.left));
                }
                options.push(format!("RIGHTARG = {}", o.right));
                options.extend(o.options.iter().cloned());
                format!(
                    "CREATE OPERATOR {}.{} ({});",
                    crate::sql::ident(&o.name.schema),
                    o.name.name,
                    options.join(", ")
                )
            }
            OperatorChange::Drop(_) => format!("DROP OPERATOR {};", o.signature()),
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            OperatorChange::Drop(o) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!(
                    "drops operator {}: queries using it fail",
                    o.signature()
                ),
            )],
            OperatorChange::Create(_) => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            OperatorChange::Drop(_) => rank::DROP_ROUTINE,
            OperatorChange::Create(_) => rank::CREATE_OPERATOR,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for OperatorChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_operator", "'OPERATOR'", "oprowner", "oprnamespace", ""))
    }

    fn query(_version: i32) -> Option<String> {
        let function = |column: &str, key: &str| {
            format!("CASE WHEN o.{column} <> 0 THEN '{key} = ' || o.{column}::pg_catalog.regproc::text END")
        };
        let operator = |column: &str, key: &str| {
            format!(
                "CASE WHEN o.{column} <> 0 THEN (SELECT '{key} = OPERATOR(' || pg_catalog.quote_ident(cn.nspname) \
                 || '.' || c.oprname || ')' FROM pg_catalog.pg_operator c \
                 JOIN pg_catalog.pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.{column}) END"
            )
        };
        let options = [
            function("oprcode", "FUNCTION"),
            operator("oprcom", "COMMUTATOR"),
            operator("oprnegate", "NEGATOR"),
            function("oprrest", "RESTRICT"),
            function("oprjoin", "JOIN"),
            "CASE WHEN o.oprcanhash THEN 'HASHES' END".to_string(),
            "CASE WHEN o.oprcanmerge THEN 'MERGES' END".to_string(),
        ];
        Some(format!(
            "SELECT o.oid, n.nspname::text, o.oprname::text, \
               CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE pg_catalog.format_type(o.oprleft, NULL) END, \
               pg_catalog.format_type(o.oprright, NULL), ARRAY[{}]::text[], \
               {comment} \
             FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
             WHERE o.oprcode <> 0 AND {USER_SCHEMA} AND {}",
            options.join(", "),
            not_extension_member("pg_operator", "o.oid"), comment = comment_sql("pg_operator", "o.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let options: Vec<Option<String>> = row.get(5);
            let operator = Operator {
                name: QualName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                left: row.get(3),
                right: row.get(4),
                options: options.into_iter().flatten().collect(),
                comment: row.get(6),
            };
            reader.insert(Class::Operator, row.get(0), operator.id());
            let key = (
                operator.name.clone(),
                operator.left.clone(),
                operator.right.clone(),
            );
            cat.operators.insert(key, operator);
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (key, operator) in &desired.operators {
            let old = current.operators.get(key);
            let same = old.filter(|o| o.options == operator.options);
            if same.is_none() {
                if let Some(o) = old {
                    out.push(OperatorChange::Drop(o.clone()).into());
                }
                out.push(OperatorChange::Create(operator.clone()).into());
            }
            operator_comment(out, same, operator);
        }
        for (key, operator) in &current.operators {
            if !desired.operators.contains_key(key) {
                out.push(OperatorChange::Drop(operator.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Operator { name, left, right } = id else {
            return;
        };
        let key = (name.clone(), left.clone(), right.clone());
        if let (Some(old), Some(new)) = (current.operators.get(&key), desired.operators.get(&key)) {
            out.push(OperatorChange::Drop(old.clone()).into());
            out.push(OperatorChange::Create(new.clone()).into());
            operator_comment(out, None, new);
        }
    }
}

fn operator_comment(out: &mut Vec<Change>, old: Option<&Operator>, new: &Operator) {
    comment::changed(
        out,
        new.id(),
        format!("OPERATOR {}", new.signature()),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
