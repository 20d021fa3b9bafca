//! Free-standing sequences, and the sequence options that identity columns
//! share with them.

use tokio_postgres::Row;
use crate::kinds::relation::{SequenceOptions};
use crate::kinds::rank::{self, Rank};

use super::comment;
use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A free-standing sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sequence {
    /// Qualified name.
    pub name: QualName,
    /// Its options.
    pub options: SequenceOptions,
    /// OWNED BY table and column.
    pub owned_by: Option<(QualName, String)>,
    /// COMMENT ON SEQUENCE.
    pub comment: Option<String>,
}

/// A change to a sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SequenceChange {
    /// CREATE SEQUENCE.
    Create(Sequence),
    /// DROP SEQUENCE; `implicit` when a dropped table or column takes it along.
    Drop { sequence: Sequence, implicit: bool },
    /// ALTER SEQUENCE options.
    Alter {
        name: QualName,
        from: SequenceOptions,
        to: SequenceOptions,
    },
    /// ALTER SEQUENCE ... OWNED BY.
    SetOwner {
        name: QualName,
        owner: Option<(QualName, String)>,
    },
}

impl SequenceChange {
    fn name(&self) -> &QualName {
        match self {
            SequenceChange::Create(s) | SequenceChange::Drop { sequence: s, .. } => &s.name,
            SequenceChange::Alter { name, .. } | SequenceChange::SetOwner { name, .. } => name,
        }
    }
}

impl Action for SequenceChange {
    fn id(&self) -> ObjectId {
        ObjectId::Sequence {
            name: self.name().clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            SequenceChange::Create(_) => "create_sequence",
            SequenceChange::Drop { .. } => "drop_sequence",
            SequenceChange::Alter { .. } => "alter_sequence",
            SequenceChange::SetOwner { .. } => "set_sequence_owner",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            SequenceChange::Create(_) | SequenceChange::Alter { .. } => {
                super::made(vec![self.id()])
            }
            // Not its OWNED BY link: an owned sequence goes after (or with)
            // the column that owns it, never before.
            SequenceChange::Drop { .. } => super::gone(vec![self.id()]),
            // Releasing comes before whatever drops the old owner column.
            SequenceChange::SetOwner { name, owner: None } => {
                super::gone(vec![ObjectId::SequenceOwner { name: name.clone() }])
            }
            // After its table's and its own owner change, if the plan
            // changes them: a sequence linked to a table has its owner.
            SequenceChange::SetOwner { name, owner } => Effects {
                needs: owner
                    .iter()
                    .flat_map(|(table, _)| [ObjectId::Table { name: table.clone() }, self.id()])
                    .map(|object| ObjectId::Owner {
                        object: Box::new(object),
                    })
                    .collect(),
                ..super::made(vec![ObjectId::SequenceOwner { name: name.clone() }])
            },
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            SequenceChange::Create(s) => {
                // Only what differs from PostgreSQL's defaults, AS included.
                let mut defaults = default_options(&s.options.data_type, s.options.increment);
                defaults.data_type = "bigint".into();
                format!(
                    "CREATE SEQUENCE {}{};",
                    s.name,
                    options_sql(Some(&defaults), &s.options)
                )
            }
            SequenceChange::Drop { implicit: true, .. } => return None,
            SequenceChange::Drop { sequence, .. } => format!("DROP SEQUENCE {};", sequence.name),
            SequenceChange::Alter { name, from, to } => {
                let regclass = format!("{}::regclass", crate::sql::literal(&name.to_string()));
                format!(
                    "{}ALTER SEQUENCE {name}{};",
                    into_new_range(&regclass, from, to),
                    options_sql(Some(from), to)
                )
            }
            SequenceChange::SetOwner { name, owner } => match owner {
                Some((table, column)) => {
                    format!("ALTER SEQUENCE {name} OWNED BY {table}.{};", ident(column))
                }
                None => format!("ALTER SEQUENCE {name} OWNED BY NONE;"),
            },
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            SequenceChange::Drop {
                sequence,
                implicit: false,
            } => vec![Hazard::new(
                HazardCode::DataLoss,
                format!(
                    "drops sequence {} and its current value",
                    sequence.name.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            SequenceChange::Drop { .. } => rank::DROP_SEQUENCE,
            SequenceChange::Create(_) | SequenceChange::Alter { .. } => rank::CREATE_SEQUENCE,
            SequenceChange::SetOwner { owner: None, .. } => rank::RELEASE,
            SequenceChange::SetOwner { .. } => rank::ENABLE_TRIGGER,
        }
    }
}

impl Kind for SequenceChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_class", "relacl", "relowner", "relnamespace", 's', "o.relkind = 'S'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_class", "'SEQUENCE'", "relowner", "relnamespace", "o.relkind = 'S'"))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
               s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
               {comment}, \
               own.deptype::text, own.refobjid, own.refobjsubid::int2, \
               tn.nspname::text, tc.relname::text, a.attname::text \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
             LEFT JOIN pg_catalog.pg_depend own ON own.classid = 'pg_class'::pg_catalog.regclass \
               AND own.objid = c.oid AND own.refclassid = 'pg_class'::pg_catalog.regclass \
               AND own.deptype IN ('a', 'i') \
             LEFT JOIN pg_catalog.pg_class tc ON tc.oid = own.refobjid \
             LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = own.refobjid AND a.attnum = own.refobjsubid \
             WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_class", "c.oid"), comment = comment_sql("pg_class", "c.oid")
        ))
    }

    /// Free-standing sequences go into the catalog; identity sequences go
    /// to the reader, for their columns.
    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let options = SequenceOptions {
                data_type: row.get(3),
                start: row.get(4),
                increment: row.get(5),
                min: row.get(6),
                max: row.get(7),
                cache: row.get(8),
                cycle: row.get(9),
            };
            let deptype: Option<String> = row.get(11);
            if deptype.as_deref() == Some("i") {
                reader
                    .identities
                    .insert((row.get(12), row.get(13)), options);
                continue;
            }
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            reader.insert(
                Class::Relation,
                row.get(0),
                ObjectId::Sequence { name: name.clone() },
            );
            let owned_by = match (
                row.get::<_, Option<String>>(14),
                row.get::<_, Option<String>>(15),
                row.get::<_, Option<String>>(16),
            ) {
                (Some(schema), Some(table), Some(column)) => {
                    Some((QualName::new(schema, table), column))
                }
                _ => None,
            };
            cat.sequences.insert(
                name.clone(),
                Sequence {
                    name,
                    options,
                    owned_by,
                    comment: row.get(10),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, seq) in &desired.sequences {
            let id = ObjectId::Sequence { name: name.clone() };
            let target = format!("SEQUENCE {name}");
            let old = current.sequences.get(name);
            match old {
                None => out.push(SequenceChange::Create(seq.clone()).into()),
                Some(old) if old.options != seq.options => out.push(
                    SequenceChange::Alter {
                        name: name.clone(),
                        from: old.options.clone(),
                        to: seq.options.clone(),
                    }
                    .into(),
                ),
                Some(_) => {}
            }
            let owner_now = old.and_then(|o| o.owned_by.as_ref());
            // An owner column the plan drops would take the sequence along:
            // the sequence is released first.
            let lost = owner_now.is_some_and(|(table, column)| {
                crate::kinds::relation::kept(current, desired, table).is_none()
                    || desired.tables.get(table).and_then(|t| t.column(column)).is_none()
            });
            if lost && seq.owned_by.is_some() {
                out.push(
                    SequenceChange::SetOwner {
                        name: name.clone(),
                        owner: None,
                    }
                    .into(),
                );
            }
            // Released, it is owned again once the new owner column exists.
            if lost || owner_now != seq.owned_by.as_ref() {
                out.push(
                    SequenceChange::SetOwner {
                        name: name.clone(),
                        owner: seq.owned_by.clone(),
                    }
                    .into(),
                );
            }
            comment::changed(
                out,
                id,
                target,
                old.and_then(|o| o.comment.as_ref()),
                seq.comment.as_ref(),
            );
        }
        for (name, seq) in &current.sequences {
            if !desired.sequences.contains_key(name) {
                out.push(
                    SequenceChange::Drop {
                        sequence: seq.clone(),
                        implicit: owner_dropped(seq, desired),
                    }
                    .into(),
                );
            }
        }
    }
}

/// True when the sequence's owner column disappears with a dropped table or
/// column, which drops the sequence too.
fn owner_dropped(seq: &Sequence, desired: &Catalog) -> bool {
    seq.owned_by.as_ref().is_some_and(|(table, column)| {
        desired
            .tables
            .get(table)
            .is_none_or(|t| t.column(column).is_none())
    })
}

/// The options PostgreSQL picks for a sequence of this type and direction.
pub(crate) fn default_options(data_type: &str, increment: i64) -> SequenceOptions {
    let max = match data_type {
        "smallint" => i16::MAX as i64,
        "integer" => i32::MAX as i64,
        _ => i64::MAX,
    };
    let (min, max, start) = if increment < 0 {
        (-max - 1, -1, -1)
    } else {
        (1, max, 1)
    };
    SequenceOptions {
        data_type: data_type.to_string(),
        start,
        increment: 1,
        min,
        max,
        cache: 1,
        cycle: false,
    }
}

/// A statement (with its newline) that moves the sequence `regclass` into
/// the range of `to` when its next value would fall outside it: ALTER
/// SEQUENCE refuses a MINVALUE above the current value of an ascending
/// sequence (a MAXVALUE below it, descending). All the values it gave are
/// then outside the new range, so starting at the new bound repeats none.
/// Empty when the bound in the direction of travel does not tighten.
pub(crate) fn into_new_range(regclass: &str, from: &SequenceOptions, to: &SequenceOptions) -> String {
    let (bound, beyond) = match to.increment > 0 {
        true if to.min > from.min => (to.min, "<"),
        false if to.max < from.max => (to.max, ">"),
        _ => return String::new(),
    };
    format!(
        "SELECT pg_catalog.setval(s.seqrelid, {bound}, false) FROM pg_catalog.pg_sequence s \
         CROSS JOIN LATERAL pg_catalog.pg_sequence_last_value(s.seqrelid) l(v) \
         WHERE s.seqrelid = {regclass} AND coalesce(l.v, s.seqstart) {beyond} {bound};\n"
    )
}

/// Sequence options that differ from `from` (all of them when `from` is
/// None), each with a leading space.
pub(crate) fn options_sql(from: Option<&SequenceOptions>, to: &SequenceOptions) -> String {
    let mut sql = String::new();
    let differs = |f: fn(&SequenceOptions) -> String| from.is_none_or(|o| f(o) != f(to));
    if differs(|o| o.data_type.clone()) {
        sql.push_str(&format!(" AS {}", to.data_type));
    }
    if differs(|o| o.increment.to_string()) {
        sql.push_str(&format!(" INCREMENT BY {}", to.increment));
    }
    if differs(|o| o.min.to_string()) {
        sql.push_str(&format!(" MINVALUE {}", to.min));
    }
    if differs(|o| o.max.to_string()) {
        sql.push_str(&format!(" MAXVALUE {}", to.max));
    }
    if differs(|o| o.start.to_string()) {
        sql.push_str(&format!(" START WITH {}", to.start));
    }
    if differs(|o| o.cache.to_string()) {
        sql.push_str(&format!(" CACHE {}", to.cache));
    }
    if differs(|o| o.cycle.to_string()) {
        sql.push_str(if to.cycle { " CYCLE" } else { " NO CYCLE" });
    }
    sql
}

/// Splits ` AS integer INCREMENT BY 2 CYCLE` into its options.
pub(crate) fn split_options(options: &str) -> Vec<String> {
    const STARTS: [&str; 8] = [
        "AS",
        "INCREMENT",
        "MINVALUE",
        "MAXVALUE",
        "START",
        "CACHE",
        "CYCLE",
        "NO",
    ];
    let mut parts: Vec<String> = Vec::new();
    for word in options.split_whitespace() {
        let starts_option =
            STARTS.contains(&word) && !(word == "CYCLE" && parts.last().is_some_and(|p| p == "NO"));
        match parts.last_mut() {
            Some(last) if !starts_option => {
                last.push(' ');
                last.push_str(word);
            }
            _ => parts.push(word.to_string()),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sequence_options() {
        assert_eq!(
            split_options(" INCREMENT BY 2 NO CYCLE START WITH 5"),
            vec!["INCREMENT BY 2", "NO CYCLE", "START WITH 5"]
        );
    }
}
