//! Extended statistics objects (CREATE STATISTICS). A changed definition is
//! drop and create; the statistics target changes in place.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, printed, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};

/// A statistics object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Statistics {
    /// Qualified name.
    pub name: QualName,
    /// `pg_get_statisticsobjdef`, a complete CREATE STATISTICS statement.
    pub definition: String,
    /// The statistics target when set (ALTER STATISTICS ... SET STATISTICS).
    pub target: Option<i16>,
    /// COMMENT ON STATISTICS.
    pub comment: Option<String>,
}

/// A change to a statistics object.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StatisticsChange {
    /// CREATE STATISTICS.
    Create(Statistics),
    /// DROP STATISTICS.
    Drop(Statistics),
    /// ALTER STATISTICS ... SET STATISTICS.
    SetTarget(Statistics),
}

impl StatisticsChange {
    fn statistics(&self) -> &Statistics {
        match self {
            StatisticsChange::Create(s)
            | StatisticsChange::Drop(s)
            | StatisticsChange::SetTarget(s) => s,
        }
    }
}

impl Action for StatisticsChange {
    fn id(&self) -> ObjectId {
        ObjectId::Statistics {
            name: self.statistics().name.clone(),
        }
    }

    fn label(&self) -> String {
        format!("statistics {}", self.statistics().name.plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            StatisticsChange::Create(_) => "create_statistics",
            StatisticsChange::Drop(_) => "drop_statistics",
            StatisticsChange::SetTarget(_) => "alter_statistics",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            StatisticsChange::Create(_) => super::made(vec![self.id()]),
            StatisticsChange::Drop(_) => super::gone(vec![self.id()]),
            StatisticsChange::SetTarget(_) => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            StatisticsChange::Create(s) => format!("{};", s.definition),
            StatisticsChange::Drop(s) => format!("DROP STATISTICS {};", s.name),
            StatisticsChange::SetTarget(s) => format!(
                "ALTER STATISTICS {} SET STATISTICS {};",
                s.name,
                s.target.unwrap_or(-1)
            ),
        })
    }

    fn rank(&self) -> Rank {
        match self {
            StatisticsChange::Drop(_) => rank::DROP_INDEX,
            StatisticsChange::Create(_) => rank::CREATE_INDEX,
            StatisticsChange::SetTarget(_) => rank::ADD_FOREIGN_KEY,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for StatisticsChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_statistic_ext", "'STATISTICS'", "stxowner", "stxnamespace", ""))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT s.oid, n.nspname::text, s.stxname::text, pg_catalog.pg_get_statisticsobjdef(s.oid), \
               CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget::int2 END, \
               {comment} \
             FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace \
             WHERE {USER_SCHEMA} AND {}",
            not_extension_member("pg_statistic_ext", "s.oid"), comment = comment_sql("pg_statistic_ext", "s.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            reader.insert(
                Class::Statistic,
                row.get(0),
                ObjectId::Statistics { name: name.clone() },
            );
            cat.statistics.insert(
                name.clone(),
                Statistics {
                    name,
                    definition: printed(row, 3, &|| "a statistics object".to_string())?,
                    target: row.get(4),
                    comment: row.get(5),
                },
            );
        }
        Ok(())
    }

    /// A statistics object on a table that the plan drops and creates again
    /// is recreated with it (`recreate`, through its dependency).
    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, stats) in &desired.statistics {
            let old = current.statistics.get(name);
            let same = old.filter(|o| o.definition == stats.definition);
            match same {
                None => {
                    if let Some(o) = old {
                        out.push(StatisticsChange::Drop(o.clone()).into());
                    }
                    create(stats, out);
                }
                Some(o) if o.target != stats.target => {
                    out.push(StatisticsChange::SetTarget(stats.clone()).into())
                }
                Some(_) => {}
            }
            stats_comment(out, same, stats);
        }
        for (name, stats) in &current.statistics {
            if !desired.statistics.contains_key(name) {
                out.push(StatisticsChange::Drop(stats.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Statistics { name } = id else {
            return;
        };
        if let (Some(old), Some(new)) = (current.statistics.get(name), desired.statistics.get(name))
        {
            out.push(StatisticsChange::Drop(old.clone()).into());
            create(new, out);
            stats_comment(out, None, new);
        }
    }
}

fn create(stats: &Statistics, out: &mut Vec<Change>) {
    out.push(StatisticsChange::Create(stats.clone()).into());
    if stats.target.is_some() {
        out.push(StatisticsChange::SetTarget(stats.clone()).into());
    }
}

fn stats_comment(out: &mut Vec<Change>, old: Option<&Statistics>, new: &Statistics) {
    comment::changed(
        out,
        ObjectId::Statistics {
            name: new.name.clone(),
        },
        format!("STATISTICS {}", new.name),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
