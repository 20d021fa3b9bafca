//! User-defined aggregates (CREATE AGGREGATE), normal and ordered-set. A
//! changed aggregate is replaced (CREATE OR REPLACE AGGREGATE); a new kind
//! or argument list is drop and create, which also rebuilds what uses it.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, printed, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, RoutineId};
use crate::hazard::{Hazard, HazardCode};

/// An aggregate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Aggregate {
    /// Name and identity arguments.
    pub id: RoutineId,
    /// Arguments as CREATE AGGREGATE takes them (`ORDER BY` for
    /// ordered-set aggregates).
    pub arguments: String,
    /// `n` normal, `o` ordered-set, `h` hypothetical-set.
    pub kind: char,
    /// The options in parentheses, in a fixed order: `SFUNC = ...`, ...
    pub options: Vec<String>,
    /// COMMENT ON AGGREGATE.
    pub comment: Option<String>,
}

impl Aggregate {
    fn definition(&self, replace: bool) -> String {
        format!(
            "CREATE {}AGGREGATE {}({}) (\n    {}\n);",
            if replace { "OR REPLACE " } else { "" },
            self.id.name,
            self.arguments,
            self.options.join(",\n    ")
        )
    }
}

/// A change to an aggregate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AggregateChange {
    /// CREATE AGGREGATE.
    Create(Aggregate),
    /// CREATE OR REPLACE AGGREGATE.
    Replace(Aggregate),
    /// DROP AGGREGATE.
    Drop(Aggregate),
}

impl AggregateChange {
    fn aggregate(&self) -> &Aggregate {
        match self {
            AggregateChange::Create(a) | AggregateChange::Replace(a) | AggregateChange::Drop(a) => {
                a
            }
        }
    }
}

impl Action for AggregateChange {
    fn id(&self) -> ObjectId {
        ObjectId::Routine {
            id: self.aggregate().id.clone(),
        }
    }

    fn label(&self) -> String {
        format!("aggregate {}", self.aggregate().id.plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            AggregateChange::Create(_) => "create_aggregate",
            AggregateChange::Replace(_) => "replace_aggregate",
            AggregateChange::Drop(_) => "drop_aggregate",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            AggregateChange::Drop(_) => super::gone(vec![self.id()]),
            _ => super::made(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let a = self.aggregate();
        Some(match self {
            AggregateChange::Create(_) => a.definition(false),
            AggregateChange::Replace(_) => a.definition(true),
            AggregateChange::Drop(_) => format!("DROP AGGREGATE {}({});", a.id.name, a.arguments),
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            AggregateChange::Drop(a) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops aggregate {}", a.id.plain()),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            AggregateChange::Drop(_) => rank::DROP_ROUTINE,
            _ => rank::CREATE_ROUTINE,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for AggregateChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_proc", "proacl", "proowner", "pronamespace", 'f', "o.prokind = 'a'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_proc", "'AGGREGATE'", "proowner", "pronamespace", "o.prokind = 'a'"))
    }

    fn query(_version: i32) -> Option<String> {
        // Each option as CREATE AGGREGATE writes it, NULL when unset.
        let function = |column: &str, key: &str| {
            format!("CASE WHEN a.{column} <> 0 THEN '{key} = ' || a.{column}::pg_catalog.regproc::text END")
        };
        let options = [
            function("aggtransfn", "SFUNC"),
            "'STYPE = ' || pg_catalog.format_type(a.aggtranstype, NULL)".to_string(),
            "CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END".to_string(),
            function("aggfinalfn", "FINALFUNC"),
            "CASE WHEN a.aggfinalextra THEN 'FINALFUNC_EXTRA' END".to_string(),
            "CASE WHEN a.aggfinalfn <> 0 AND a.aggfinalmodify <> 'r' THEN 'FINALFUNC_MODIFY = ' || \
             CASE a.aggfinalmodify WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END"
                .to_string(),
            function("aggcombinefn", "COMBINEFUNC"),
            function("aggserialfn", "SERIALFUNC"),
            function("aggdeserialfn", "DESERIALFUNC"),
            "CASE WHEN a.agginitval IS NOT NULL THEN 'INITCOND = ' || pg_catalog.quote_literal(a.agginitval) END"
                .to_string(),
            function("aggmtransfn", "MSFUNC"),
            function("aggminvtransfn", "MINVFUNC"),
            "CASE WHEN a.aggmtranstype <> 0 THEN 'MSTYPE = ' || pg_catalog.format_type(a.aggmtranstype, NULL) END"
                .to_string(),
            function("aggmfinalfn", "MFINALFUNC"),
            "CASE WHEN a.aggmfinalextra THEN 'MFINALFUNC_EXTRA' END".to_string(),
            "CASE WHEN a.aggminitval IS NOT NULL THEN 'MINITCOND = ' || pg_catalog.quote_literal(a.aggminitval) END"
                .to_string(),
            "CASE WHEN a.aggsortop <> 0 THEN 'SORTOP = OPERATOR(' || a.aggsortop::pg_catalog.regoperator::text || ')' END"
                .to_string(),
            "CASE WHEN a.aggkind = 'h' THEN 'HYPOTHETICAL' END".to_string(),
            "CASE p.proparallel WHEN 's' THEN 'PARALLEL = SAFE' WHEN 'r' THEN 'PARALLEL = RESTRICTED' END"
                .to_string(),
        ];
        Some(format!(
            "SELECT p.oid, n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
               pg_catalog.pg_get_function_arguments(p.oid), a.aggkind::text, \
               ARRAY[{}]::text[], {comment} \
             FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE {USER_SCHEMA} AND {}",
            options.join(", "),
            not_extension_member("pg_proc", "p.oid"), comment = comment_sql("pg_proc", "p.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            let what = || format!("aggregate {}", name.plain());
            let id = RoutineId {
                args: printed(row, 3, &what)?,
                name: name.clone(),
            };
            reader.insert(
                Class::Routine,
                row.get(0),
                ObjectId::Routine { id: id.clone() },
            );
            let options: Vec<Option<String>> = row.get(6);
            let kind: String = row.get(5);
            cat.aggregates.insert(
                id.clone(),
                Aggregate {
                    id,
                    arguments: match printed(row, 4, &what)? {
                        // An aggregate over no column counts rows: `(*)`,
                        // which is what AGGREGATE statements take.
                        none if none.is_empty() && kind == "n" => "*".into(),
                        args => args,
                    },
                    kind: kind.chars().next().unwrap_or('n'),
                    options: options.into_iter().flatten().collect(),
                    comment: row.get(7),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (id, aggregate) in &desired.aggregates {
            let old = current.aggregates.get(id);
            let mut before = old;
            match old {
                None => out.push(AggregateChange::Create(aggregate.clone()).into()),
                Some(o) if o.options == aggregate.options && o.arguments == aggregate.arguments => {}
                Some(o) if o.kind == aggregate.kind && o.arguments == aggregate.arguments => {
                    out.push(AggregateChange::Replace(aggregate.clone()).into())
                }
                Some(o) => {
                    out.push(AggregateChange::Drop(o.clone()).into());
                    out.push(AggregateChange::Create(aggregate.clone()).into());
                    before = None;
                }
            }
            aggregate_comment(out, before, aggregate);
        }
        for (id, aggregate) in &current.aggregates {
            if !desired.aggregates.contains_key(id) {
                out.push(AggregateChange::Drop(aggregate.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Routine { id: rid } = id else {
            return;
        };
        if let (Some(old), Some(new)) = (current.aggregates.get(rid), desired.aggregates.get(rid)) {
            out.push(AggregateChange::Drop(old.clone()).into());
            out.push(AggregateChange::Create(new.clone()).into());
            aggregate_comment(out, None, new);
        }
    }
}

fn aggregate_comment(out: &mut Vec<Change>, old: Option<&Aggregate>, new: &Aggregate) {
    comment::changed(
        out,
        ObjectId::Routine { id: new.id.clone() },
        format!("AGGREGATE {}({})", new.id.name, new.arguments),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_create_aggregate() {
        let a = Aggregate {
            id: RoutineId {
                name: QualName::new("public", "total"),
                args: "integer".into(),
            },
            arguments: "integer".into(),
            kind: 'n',
            options: vec!["SFUNC = int4pl".into(), "STYPE = integer".into()],
            comment: None,
        };
        assert_eq!(
            a.definition(true),
            "CREATE OR REPLACE AGGREGATE public.total(integer) (\n    SFUNC = int4pl,\n    STYPE = integer\n);"
        );
    }
}
