//! Functions and procedures in any language. A new body or attribute is
//! CREATE OR REPLACE; a new result type, argument names or defaults is drop
//! and create.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::comment;
use super::reader::{not_extension_member, Class, printed, Reader, USER_SCHEMA, comment_sql};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId, QualName, RoutineId};
use crate::hazard::{Hazard, HazardCode};

/// A function or procedure in any language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Function {
    /// Name and identity arguments.
    pub id: RoutineId,
    /// Procedure rather than function.
    pub is_procedure: bool,
    /// Full argument list with names and defaults.
    pub arguments: String,
    /// Result type (`pg_get_function_result`), empty for procedures.
    pub result: String,
    /// `pg_get_functiondef`, a complete CREATE OR REPLACE statement.
    pub definition: String,
    /// COMMENT ON FUNCTION.
    pub comment: Option<String>,
}

impl Function {
    /// `FUNCTION` or `PROCEDURE`.
    fn keyword(&self) -> &'static str {
        if self.is_procedure {
            "PROCEDURE"
        } else {
            "FUNCTION"
        }
    }

    /// What COMMENT ON names it by.
    fn target(&self) -> String {
        format!("{} {}", self.keyword(), self.id.sql())
    }
}

/// A change to a function or procedure.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FunctionChange {
    /// CREATE FUNCTION / PROCEDURE.
    Create(Function),
    /// CREATE OR REPLACE with a new body or attributes.
    Replace { from: Function, to: Function },
    /// DROP FUNCTION / PROCEDURE.
    Drop(Function),
}

impl FunctionChange {
    fn function(&self) -> &Function {
        match self {
            FunctionChange::Create(f)
            | FunctionChange::Replace { to: f, .. }
            | FunctionChange::Drop(f) => f,
        }
    }

    /// True when the step writes a routine's body, which may name objects
    /// created later (scripts then turn `check_function_bodies` off).
    pub fn writes_body(&self) -> bool {
        !matches!(self, FunctionChange::Drop(_))
    }
}

impl Action for FunctionChange {
    fn id(&self) -> ObjectId {
        ObjectId::Routine {
            id: self.function().id.clone(),
        }
    }

    fn label(&self) -> String {
        let f = self.function();
        format!("{} {}", f.keyword().to_lowercase(), f.id.plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            FunctionChange::Create(_) => "create_function",
            FunctionChange::Replace { .. } => "replace_function",
            FunctionChange::Drop(_) => "drop_function",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            FunctionChange::Drop(_) => super::gone(vec![self.id()]),
            _ => super::made(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            FunctionChange::Create(f) | FunctionChange::Replace { to: f, .. } => {
                format!("{};", f.definition.trim_end())
            }
            FunctionChange::Drop(f) => format!("DROP {} {};", f.keyword(), f.id.sql()),
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            FunctionChange::Drop(f) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops function {}", f.id.plain()),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            FunctionChange::Drop(_) => rank::DROP_ROUTINE,
            _ => rank::CREATE_ROUTINE,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for FunctionChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_proc", "proacl", "proowner", "pronamespace", 'f', "o.prokind <> 'a'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema(
            "pg_proc",
            "CASE o.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END",
            "proowner",
            "pronamespace",
            "o.prokind <> 'a'",
        ))
    }

    // Routines that are internal parts of another object (the constructors
    // of a range type) come and go with it.
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT p.oid, n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
               p.prokind = 'p', pg_catalog.pg_get_function_arguments(p.oid), \
               coalesce(pg_catalog.pg_get_function_result(p.oid), ''), pg_catalog.pg_get_functiondef(p.oid), \
               {comment} \
             FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA} AND {} \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'i')",
            not_extension_member("pg_proc", "p.oid"), comment = comment_sql("pg_proc", "p.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            let what = || format!("function {}", name.plain());
            let id = RoutineId {
                args: printed(row, 3, &what)?,
                name: name.clone(),
            };
            reader.insert(
                Class::Routine,
                row.get(0),
                ObjectId::Routine { id: id.clone() },
            );
            cat.functions.insert(
                id.clone(),
                Function {
                    id,
                    is_procedure: row.get(4),
                    arguments: printed(row, 5, &what)?,
                    result: row.get(6),
                    definition: printed(row, 7, &what)?,
                    comment: row.get(8),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (id, func) in &desired.functions {
            let oid = ObjectId::Routine { id: id.clone() };
            let mut before = None;
            match current.functions.get(id) {
                None => out.push(FunctionChange::Create(func.clone()).into()),
                Some(old) if old.definition == func.definition => before = Some(old),
                Some(old)
                    if old.is_procedure == func.is_procedure
                        && old.result == func.result
                        && old.arguments == func.arguments =>
                {
                    out.push(
                        FunctionChange::Replace {
                            from: old.clone(),
                            to: func.clone(),
                        }
                        .into(),
                    );
                    before = Some(old);
                }
                Some(old) => {
                    // CREATE OR REPLACE cannot change the result type,
                    // argument names or defaults: drop and create.
                    out.push(FunctionChange::Drop(old.clone()).into());
                    out.push(FunctionChange::Create(func.clone()).into());
                }
            }
            comment::changed(
                out,
                oid,
                func.target(),
                before.and_then(|o| o.comment.as_ref()),
                func.comment.as_ref(),
            );
        }
        for (id, func) in &current.functions {
            if !desired.functions.contains_key(id) {
                out.push(FunctionChange::Drop(func.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Routine { id: rid } = id else {
            return;
        };
        if let (Some(old), Some(new)) = (current.functions.get(rid), desired.functions.get(rid)) {
            out.push(FunctionChange::Drop(old.clone()).into());
            out.push(FunctionChange::Create(new.clone()).into());
            comment::changed(out, id.clone(), new.target(), None, new.comment.as_ref());
        }
    }
}
