//! Owners (ALTER ... OWNER TO) of schemas, tables, views, materialized
//! views, sequences, foreign tables, functions, procedures, aggregates,
//! types, domains, collations, operators, text search objects, statistics objects,
//! event triggers, foreign data wrappers and servers.
//!
//! An object owned by the role that reads the catalog has no owner of its
//! own here (None): on a scratch load that is what the schema leaves unset,
//! on a database the role that applies plans. So by default only owners the
//! schema sets are compared; `owners: manage` also gives objects the schema
//! sets no owner for back to the applying role, and `owners: ignore` leaves
//! owners alone. The `public` schema's owner is planned when the schema
//! sets one other than its default (`pg_database_owner`).
//!
//! Like privileges, owners are compared once every other change is known:
//! an object the plan creates, or drops and creates again, starts owned by
//! the applying role. Every step is an `authz-change`.

use std::collections::BTreeSet;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{Class, Reader};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// The owner of one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owned {
    /// The ALTER keyword of its kind: `TABLE`, `MATERIALIZED VIEW`, ...
    pub keyword: String,
    /// Its owner, quoted; None when it is the role reading the catalog.
    pub owner: Option<String>,
}

/// ALTER ... OWNER TO.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OwnerChange {
    /// The object.
    pub object: ObjectId,
    /// Its ALTER keyword.
    pub keyword: String,
    /// Its owner as it is (None: the applying role).
    pub from: Option<String>,
    /// Its owner as it should be (None: the applying role).
    pub to: Option<String>,
}

/// The object's name as ALTER ... OWNER TO writes it.
fn target(object: &ObjectId) -> Option<String> {
    Some(match object {
        ObjectId::Table { name }
        | ObjectId::View { name }
        | ObjectId::Sequence { name }
        | ObjectId::Type { name }
        | ObjectId::Collation { name }
        | ObjectId::TsConfig { name }
        | ObjectId::TsDictionary { name }
        | ObjectId::Statistics { name } => name.to_string(),
        ObjectId::Routine { id } => id.sql(),
        // Operator names are never quoted.
        ObjectId::Operator { name, left, right } => format!(
            "{}.{} ({left}, {right})",
            ident(&name.schema),
            name.name
        ),
        ObjectId::Schema { name }
        | ObjectId::EventTrigger { name }
        | ObjectId::ForeignDataWrapper { name }
        | ObjectId::Server { name } => ident(name),
        // Owned by their table, domain or object, or by nobody; a
        // publication's owner is reported (`introspect::unmanaged`).
        ObjectId::Extension { .. }
        | ObjectId::SequenceOwner { .. }
        | ObjectId::ParentLink { .. }
        | ObjectId::Column { .. }
        | ObjectId::Default { .. }
        | ObjectId::Constraint { .. }
        | ObjectId::Index { .. }
        | ObjectId::Trigger { .. }
        | ObjectId::DomainConstraint { .. }
        | ObjectId::Rule { .. }
        | ObjectId::Policy { .. }
        | ObjectId::RowSecurity { .. }
        | ObjectId::Owner { .. }
        | ObjectId::DefaultPrivileges { .. }
        | ObjectId::Privilege { .. }
        | ObjectId::Publication { .. }
        | ObjectId::UserMapping { .. }
        | ObjectId::Cast { .. }
        | ObjectId::Unmanaged { .. } => return None,
    })
}

impl Action for OwnerChange {
    fn id(&self) -> ObjectId {
        ObjectId::Owner {
            object: Box::new(self.object.clone()),
        }
    }

    fn verb(&self) -> &'static str {
        "alter_owner"
    }

    fn effects(&self) -> Effects {
        Effects {
            provides: vec![self.id()],
            needs: vec![self.object.clone()],
            ..Effects::default()
        }
    }

    fn sql(&self) -> Option<String> {
        let role = self.to.as_deref().unwrap_or("CURRENT_USER");
        let mut target = target(&self.object)?;
        // ALTER AGGREGATE spells an aggregate over no column `(*)`.
        if self.keyword == "AGGREGATE" && target.ends_with("()") {
            target.replace_range(target.len() - 2.., "(*)");
        }
        Some(format!("ALTER {} {target} OWNER TO {role};", self.keyword))
    }

    fn hazards(&self, _current: &Catalog, _desired: &Catalog) -> Vec<Hazard> {
        let role = |r: &Option<String>| r.clone().unwrap_or_else(|| "the applying role".into());
        vec![Hazard::new(
            HazardCode::AuthzChange,
            format!(
                "gives {} from {} to {}: its owner holds every privilege on it and may alter or drop it",
                self.object.label(),
                role(&self.from),
                role(&self.to)
            ),
        )]
    }

    fn rank(&self) -> Rank {
        rank::SET_OWNER
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for OwnerChange {
    fn query(version: i32) -> Option<String> {
        // Each kind says where its owners are (`Kind::owners`).
        Some(format!(
            "SELECT cls, oid, keyword, CASE WHEN owner = (SELECT oid FROM pg_catalog.pg_roles \
               WHERE rolname = current_user) THEN NULL \
               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(owner)) END \
             FROM ({}) owned",
            super::owner_queries(version).join(" UNION ALL ")
        ))
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let Some(class) = Class::from_catalog_name(row.get(0)) else {
                continue;
            };
            // Only objects stratum manages: the reader knows each of them.
            let Some(object) = reader.resolve(class, row.get(1), 0) else {
                continue;
            };
            if target(object).is_none() {
                continue;
            }
            cat.owners.insert(
                object.clone(),
                Owned {
                    keyword: row.get(2),
                    owner: row.get(3),
                },
            );
        }
        Ok(())
    }
}

/// The owner changes from `current` to `desired`, once every other change
/// is known (`changes`): what the plan creates or recreates starts owned by
/// the applying role.
pub(crate) fn diff_after(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    let dropped: BTreeSet<ObjectId> = super::privilege::dropped(changes);
    let mut out = Vec::new();
    // Owners are compared by name: the role the schema names may be the
    // one that applies the plan (which reads as None on the database).
    let applying = Some(current.reader_role.as_str());
    for (object, owned) in &desired.owners {
        let from = match dropped.contains(object) {
            true => None,
            false => current.owners.get(object).and_then(|o| o.owner.clone()),
        };
        // A sequence owned by a column of a table the plan creates (anew
        // or again) takes that table's owner, whatever the schema sets for
        // it: OWNED BY needs the same owner on both.
        let follows = follows_table(current, desired, object);
        let to = match &follows {
            Some(table_owner) if owned.owner.is_none() => table_owner.clone(),
            _ => owned.owner.clone(),
        };
        // An owner the schema does not set is left alone unless managed;
        // the `public` schema's default owner (pg_database_owner, or the
        // bootstrap superuser before PostgreSQL 15) always is.
        let public = matches!(object, ObjectId::Schema { name } if name == "public");
        let unset = match public {
            true => to.as_deref().is_none_or(|o| o == "pg_database_owner"),
            false => to.is_none() && follows.is_none(),
        };
        if (unset && (public || !desired.manage_unset_owners))
            || from.as_deref().or(applying) == to.as_deref().or(applying)
        {
            continue;
        }
        out.push(
            OwnerChange {
                object: object.clone(),
                keyword: owned.keyword.clone(),
                from,
                to,
            }
            .into(),
        );
    }
    changes.extend(out);
}

/// For a free sequence that keeps living while the table owning it is
/// created (anew or again): the owner that table will have, None standing
/// for the role applying the plan (what a created table gets when the
/// schema sets none).
fn follows_table(current: &Catalog, desired: &Catalog, object: &ObjectId) -> Option<Option<String>> {
    let ObjectId::Sequence { name } = object else {
        return None;
    };
    let (table, _) = desired.sequences.get(name)?.owned_by.as_ref()?;
    current.sequences.get(name)?;
    if super::relation::kept(current, desired, table).is_some() {
        return None;
    }
    let id = ObjectId::Table { name: table.clone() };
    Some(desired.owners.get(&id).and_then(|o| o.owner.clone()))
}

