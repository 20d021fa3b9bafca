//! User-defined casts (CREATE CAST). A changed cast is dropped and created.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Class, Reader, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};

/// A cast created by the user (not one PostgreSQL or an extension brings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserCast {
    /// Source type, as `format_type` prints it.
    pub source: String,
    /// Target type.
    pub target: String,
    /// `WITH FUNCTION f(args)`, `WITHOUT FUNCTION` or `WITH INOUT`.
    pub method: String,
    /// `i` implicit, `a` assignment, `e` explicit only.
    pub context: char,
    /// COMMENT ON CAST.
    pub comment: Option<String>,
}

impl UserCast {
    fn id(&self) -> ObjectId {
        ObjectId::Cast {
            source: self.source.clone(),
            target: self.target.clone(),
        }
    }

    fn target_sql(&self) -> String {
        format!("CAST ({} AS {})", self.source, self.target)
    }
}

/// A change to a cast.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CastChange {
    /// CREATE CAST.
    Create(UserCast),
    /// DROP CAST.
    Drop(UserCast),
}

impl CastChange {
    fn cast(&self) -> &UserCast {
        match self {
            CastChange::Create(c) | CastChange::Drop(c) => c,
        }
    }
}

impl Action for CastChange {
    fn id(&self) -> ObjectId {
        self.cast().id()
    }

    fn verb(&self) -> &'static str {
        match self {
            CastChange::Create(_) => "create_cast",
            CastChange::Drop(_) => "drop_cast",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            CastChange::Create(_) => super::made(vec![self.id()]),
            CastChange::Drop(_) => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let c = self.cast();
        Some(match self {
            CastChange::Create(_) => {
                let context = match c.context {
                    'i' => " AS IMPLICIT",
                    'a' => " AS ASSIGNMENT",
                    _ => "",
                };
                format!("CREATE {} {}{context};", c.target_sql(), c.method)
            }
            CastChange::Drop(_) => format!("DROP {};", c.target_sql()),
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            CastChange::Drop(c) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!(
                    "drops the cast from {} to {}: queries relying on it fail",
                    c.source, c.target
                ),
            )],
            CastChange::Create(_) => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            CastChange::Drop(_) => rank::DROP_ROUTINE,
            CastChange::Create(_) => rank::CREATE_OPERATOR,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for CastChange {
    // Casts made after initdb (oid 16384 and up) that no extension owns and
    // that are not part of another object (a range's cast to its multirange).
    fn query(_version: i32) -> Option<String> {
        Some(
            format!("SELECT c.oid, pg_catalog.format_type(c.castsource, NULL), pg_catalog.format_type(c.casttarget, NULL), \
               CASE c.castmethod WHEN 'f' THEN 'WITH FUNCTION ' || c.castfunc::pg_catalog.regprocedure::text \
                 WHEN 'i' THEN 'WITH INOUT' ELSE 'WITHOUT FUNCTION' END, \
               c.castcontext::text, {comment} \
             FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x \
               WHERE x.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass AND x.objid = c.oid AND x.deptype IN ('e', 'i'))", comment = comment_sql("pg_cast", "c.oid")),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let context: String = row.get(4);
            let cast = UserCast {
                source: row.get(1),
                target: row.get(2),
                method: row.get(3),
                context: context.chars().next().unwrap_or('e'),
                comment: row.get(5),
            };
            reader.insert(Class::Cast, row.get(0), cast.id());
            cat.user_casts
                .insert((cast.source.clone(), cast.target.clone()), cast);
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (key, cast) in &desired.user_casts {
            let old = current.user_casts.get(key);
            let same = old.filter(|o| o.method == cast.method && o.context == cast.context);
            if same.is_none() {
                if let Some(o) = old {
                    out.push(CastChange::Drop(o.clone()).into());
                }
                out.push(CastChange::Create(cast.clone()).into());
            }
            comment::changed(
                out,
                cast.id(),
                cast.target_sql(),
                same.and_then(|o| o.comment.as_ref()),
                cast.comment.as_ref(),
            );
        }
        for (key, cast) in &current.user_casts {
            if !desired.user_casts.contains_key(key) {
                out.push(CastChange::Drop(cast.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Cast { source, target } = id else {
            return;
        };
        let key = (source.clone(), target.clone());
        if let (Some(old), Some(new)) = (current.user_casts.get(&key), desired.user_casts.get(&key)) {
            out.push(CastChange::Drop(old.clone()).into());
            out.push(CastChange::Create(new.clone()).into());
        }
    }
}
