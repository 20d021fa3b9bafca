//! Privileges (GRANT / REVOKE) on schemas, tables, views, materialized
//! views, foreign tables, columns, sequences, functions, procedures,
//! aggregates and types, with GRANT OPTION, to PUBLIC and to named roles.
//!
//! Each managed object's effective privileges are read through
//! `aclexplode(coalesce(acl, acldefault(...)))`, so the implicit defaults
//! (PUBLIC's EXECUTE on functions and USAGE on types) count as grants, and a
//! schema that says nothing about privileges gives no phantom REVOKE. The
//! owner's own privileges are left out: they are implicit, and the owner
//! differs between a scratch load and the database.
//!
//! Privileges are compared after every other kind, because an object that
//! the plan creates, or drops and creates again, starts from PostgreSQL's
//! defaults rather than from what the database holds (`diff_after`). Every
//! step is an `authz-change`.

use std::collections::{BTreeMap, BTreeSet};
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{Class, Reader, USER_SCHEMA};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// One privilege held by one grantee.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// `PUBLIC` or a quoted role name.
    pub grantee: String,
    /// `SELECT`, `EXECUTE`, `USAGE`, ...
    pub privilege: String,
    /// WITH GRANT OPTION.
    pub grantable: bool,
}

/// The grants of one object, other than its owner's.
pub type Grants = BTreeSet<Grant>;

/// The GRANT / REVOKE steps for one grantee on one object.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivilegeChange {
    /// The object (a column for column privileges).
    pub object: ObjectId,
    /// The grantee.
    pub grantee: String,
    /// Its privileges as they are: (privilege, grantable).
    pub from: BTreeSet<(String, bool)>,
    /// Its privileges as they should be.
    pub to: BTreeSet<(String, bool)>,
}

/// How GRANT and REVOKE name `object`: a prefix (ALTER DEFAULT
/// PRIVILEGES ...), the column list after each privilege, and what follows
/// ON; None for objects that take no privileges.
fn target(object: &ObjectId) -> Option<(String, String, String)> {
    let plain = |on: String| (String::new(), String::new(), on);
    Some(match object {
        ObjectId::Table { name } | ObjectId::View { name } => plain(format!("TABLE {name}")),
        ObjectId::Sequence { name } => plain(format!("SEQUENCE {name}")),
        ObjectId::Routine { id } => plain(format!("ROUTINE {}", id.sql())),
        ObjectId::Type { name } => plain(format!("TYPE {name}")),
        ObjectId::Schema { name } => plain(format!("SCHEMA {}", ident(name))),
        ObjectId::Column { table, column } => (
            String::new(),
            format!(" ({})", ident(column)),
            format!("TABLE {table}"),
        ),
        ObjectId::DefaultPrivileges {
            role,
            schema,
            objects,
        } => {
            let mut prefix = "ALTER DEFAULT PRIVILEGES ".to_string();
            if let Some(role) = role {
                prefix.push_str(&format!("FOR ROLE {role} "));
            }
            if let Some(schema) = schema {
                prefix.push_str(&format!("IN SCHEMA {} ", ident(schema)));
            }
            (prefix, String::new(), objects.clone())
        }
        // No privileges of their own, or (foreign data wrappers, servers,
        // identity sequences' through their table) reported as unmanaged.
        ObjectId::Extension { .. }
        | ObjectId::SequenceOwner { .. }
        | ObjectId::ParentLink { .. }
        | ObjectId::Default { .. }
        | ObjectId::Constraint { .. }
        | ObjectId::Index { .. }
        | ObjectId::Trigger { .. }
        | ObjectId::DomainConstraint { .. }
        | ObjectId::Rule { .. }
        | ObjectId::Policy { .. }
        | ObjectId::RowSecurity { .. }
        | ObjectId::Owner { .. }
        | ObjectId::Privilege { .. }
        | ObjectId::Collation { .. }
        | ObjectId::Statistics { .. }
        | ObjectId::EventTrigger { .. }
        | ObjectId::Publication { .. }
        | ObjectId::ForeignDataWrapper { .. }
        | ObjectId::Server { .. }
        | ObjectId::UserMapping { .. }
        | ObjectId::Cast { .. }
        | ObjectId::Operator { .. }
        | ObjectId::TsDictionary { .. }
        | ObjectId::TsConfig { .. }
        | ObjectId::Unmanaged { .. } => return None,
    })
}

/// What PostgreSQL grants on a new object of this kind, owner aside (and
/// what a role's default privileges hold where it set none).
fn defaults(object: &ObjectId) -> Grants {
    let public = |privilege: &str| Grant {
        grantee: "PUBLIC".into(),
        privilege: privilege.into(),
        grantable: false,
    };
    match object {
        ObjectId::Routine { .. } => [public("EXECUTE")].into(),
        ObjectId::Type { .. } => [public("USAGE")].into(),
        // A role's global defaults replace PostgreSQL's; per-schema ones
        // add to them.
        ObjectId::DefaultPrivileges {
            schema: None,
            objects,
            ..
        } => match objects.as_str() {
            "FUNCTIONS" => [public("EXECUTE")].into(),
            "TYPES" => [public("USAGE")].into(),
            _ => Grants::new(),
        },
        _ => Grants::new(),
    }
}

/// What an object the applying role creates in `current` holds at first:
/// PostgreSQL's defaults, replaced by that role's global default privileges
/// and extended by those of the object's schema.
fn created_with(current: &Catalog, object: &ObjectId) -> Grants {
    let objects = match object {
        ObjectId::Table { .. } | ObjectId::View { .. } => "TABLES",
        ObjectId::Sequence { .. } => "SEQUENCES",
        ObjectId::Routine { .. } => "FUNCTIONS",
        ObjectId::Type { .. } => "TYPES",
        ObjectId::Schema { .. } => "SCHEMAS",
        _ => return defaults(object),
    };
    let entry = |schema: Option<&str>| ObjectId::DefaultPrivileges {
        role: None,
        schema: schema.map(str::to_string),
        objects: objects.to_string(),
    };
    let mut grants = current
        .privileges
        .get(&entry(None))
        .cloned()
        .unwrap_or_else(|| defaults(object));
    if let Some(schema) = object.schema().filter(|_| objects != "SCHEMAS") {
        let extra = current.privileges.get(&entry(Some(schema)));
        grants.extend(extra.cloned().unwrap_or_default());
    }
    grants
}

/// Each privilege of `set` with whether it is grantable.
fn by_privilege(set: &BTreeSet<(String, bool)>) -> BTreeMap<&String, bool> {
    set.iter().map(|(p, option)| (p, *option)).collect()
}

/// What a [`PrivilegeChange`] does, privilege by privilege.
#[derive(Default)]
struct Delta<'a> {
    /// Revoked altogether.
    revoked: Vec<&'a String>,
    /// Kept, without their grant option.
    option_revoked: Vec<&'a String>,
    /// Granted without grant option.
    granted: Vec<&'a String>,
    /// Granted with grant option, or given it.
    granted_with_option: Vec<&'a String>,
}

/// The four kinds of step a [`Delta`] holds, in the order they run.
#[derive(Clone, Copy)]
enum Step {
    Revoke,
    RevokeOption,
    Grant,
    GrantWithOption,
}

impl Delta<'_> {
    /// Each kind of step with its privileges, leaving out the empty ones.
    fn steps(&self) -> Vec<(Step, &[&String])> {
        [
            (Step::Revoke, &self.revoked),
            (Step::RevokeOption, &self.option_revoked),
            (Step::Grant, &self.granted),
            (Step::GrantWithOption, &self.granted_with_option),
        ]
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(step, list)| (step, list.as_slice()))
        .collect()
    }
}

impl PrivilegeChange {
    fn delta(&self) -> Delta<'_> {
        let (from, to) = (by_privilege(&self.from), by_privilege(&self.to));
        let mut delta = Delta::default();
        for (p, option) in &from {
            match to.get(p) {
                None => delta.revoked.push(p),
                Some(false) if *option => delta.option_revoked.push(p),
                _ => {}
            }
        }
        for (p, option) in &to {
            match (from.get(p), option) {
                (None, false) => delta.granted.push(p),
                (None | Some(false), true) => delta.granted_with_option.push(p),
                _ => {}
            }
        }
        delta
    }

    fn statements(&self) -> Vec<String> {
        let Some((prefix, columns, on)) = target(&self.object) else {
            return Vec::new();
        };
        let names = |list: &[&String]| {
            list.iter()
                .map(|p| format!("{p}{columns}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let g = &self.grantee;
        let d = self.delta();
        let steps = d.steps();
        steps
            .iter()
            .map(|(step, list)| {
                let list = names(list);
                match step {
                    Step::Revoke => format!("{prefix}REVOKE {list} ON {on} FROM {g};"),
                    Step::RevokeOption => {
                        format!("{prefix}REVOKE GRANT OPTION FOR {list} ON {on} FROM {g};")
                    }
                    Step::Grant => format!("{prefix}GRANT {list} ON {on} TO {g};"),
                    Step::GrantWithOption => {
                        format!("{prefix}GRANT {list} ON {on} TO {g} WITH GRANT OPTION;")
                    }
                }
            })
            .collect()
    }
}

impl PrivilegeChange {
    /// False when the grantee ends up with what it holds now: grants on an
    /// object the plan creates (nobody held anything on it), and grants
    /// given back to an object the plan drops and creates again.
    fn changes_access(&self, current: &Catalog) -> bool {
        let known = |id: &ObjectId| current.privileges.contains_key(id);
        let existed = match &self.object {
            ObjectId::DefaultPrivileges { .. } => return true,
            ObjectId::Column { table, .. } => {
                known(&ObjectId::Table { name: table.clone() })
                    || known(&ObjectId::View { name: table.clone() })
            }
            other => known(other),
        };
        if !existed {
            return false;
        }
        let held: BTreeSet<(String, bool)> = current
            .privileges
            .get(&self.object)
            .into_iter()
            .flatten()
            .filter(|g| g.grantee == self.grantee)
            .map(|g| (g.privilege.clone(), g.grantable))
            .collect();
        held != self.to
    }
}

impl Action for PrivilegeChange {
    fn id(&self) -> ObjectId {
        ObjectId::Privilege {
            object: Box::new(self.object.clone()),
            grantee: self.grantee.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match (self.from.is_empty(), self.to.is_empty()) {
            (true, _) => "grant",
            (_, true) => "revoke",
            _ => "change_privileges",
        }
    }

    fn effects(&self) -> Effects {
        let mut needs = vec![self.object.clone()];
        match &self.object {
            ObjectId::Column { table, .. } => needs.push(ObjectId::Table {
                name: table.clone(),
            }),
            // Default privileges need only their schema.
            ObjectId::DefaultPrivileges { schema, .. } => {
                needs = schema
                    .iter()
                    .map(|s| ObjectId::Schema { name: s.clone() })
                    .collect();
            }
            _ => {}
        }
        Effects {
            provides: vec![self.id()],
            needs,
            ..Effects::default()
        }
    }

    fn sql(&self) -> Option<String> {
        Some(self.statements().join("\n"))
    }

    fn hazards(&self, current: &Catalog, _desired: &Catalog) -> Vec<Hazard> {
        if !self.changes_access(current) {
            return Vec::new();
        }
        let what = match &self.object {
            ObjectId::DefaultPrivileges {
                role,
                schema,
                objects,
            } => format!(
                "{} {} creates from now on{}",
                objects.to_lowercase(),
                role.as_deref().unwrap_or("the applying role"),
                schema
                    .as_ref()
                    .map(|s| format!(" in schema {s}"))
                    .unwrap_or_default()
            ),
            other => other.label(),
        };
        let g = &self.grantee;
        let d = self.delta();
        let list = |l: &[&String]| l.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
        // Grants first, as a reviewer reads them.
        let mut steps = d.steps();
        steps.sort_by_key(|(step, _)| matches!(step, Step::Revoke | Step::RevokeOption));
        let parts: Vec<String> = steps
            .iter()
            .map(|(step, l)| {
                let l = list(l);
                match step {
                    Step::Grant => format!("grants {l} on {what} to {g}"),
                    Step::GrantWithOption => {
                        format!("grants {l} on {what} to {g} with the right to grant it on")
                    }
                    Step::Revoke => format!("revokes {l} on {what} from {g}"),
                    Step::RevokeOption => format!("takes from {g} the right to grant {l} on {what}"),
                }
            })
            .collect();
        vec![Hazard::new(HazardCode::AuthzChange, parts.join("; "))]
    }

    fn rank(&self) -> Rank {
        match self.object {
            // After the table's own: revoking a privilege on a table
            // revokes it on every column too, grants made just before
            // included.
            ObjectId::Column { .. } => rank::GRANT_ON_COLUMN,
            _ => rank::GRANT,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for PrivilegeChange {
    fn query(version: i32) -> Option<String> {
        // Each kind says where its grants are (`Kind::grants`); default
        // privileges are this kind's own.
        let mut parts = super::grant_queries(version);
        parts.push(format!(
            "SELECT 'pg_default_acl' AS cls, d.oid, 0::int2 AS sub, a.grantee, a.privilege_type, a.is_grantable, \
                    CASE WHEN d.defaclrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
                      THEN NULL ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)) END, \
                    (SELECT nspname::text FROM pg_catalog.pg_namespace WHERE oid = d.defaclnamespace), \
                    CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' \
                      WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END \
               FROM pg_catalog.pg_default_acl d {}",
            explode("d.defaclacl", "d.defaclrole"),
        ));
        Some(parts.join(" UNION ALL "))
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            if row.get::<_, &str>(0) == "pg_default_acl" {
                let object = ObjectId::DefaultPrivileges {
                    role: row.get(6),
                    schema: row.get(7),
                    objects: row.get(8),
                };
                insert(cat, object, row);
                continue;
            }
            let Some(class) = Class::from_catalog_name(row.get(0)) else {
                continue;
            };
            let sub: i16 = row.get(2);
            // Only objects stratum manages: the reader knows each of them.
            let Some(object) = reader.resolve(class, row.get(1), sub.into()) else {
                continue;
            };
            if sub > 0 && !matches!(object, ObjectId::Column { .. }) {
                // A column grant on a view: reported, not yet managed.
                let unmanaged = super::Unmanaged {
                    kind: "column grants on a view".into(),
                    name: object.label(),
                    schema: object.schema().map(str::to_string),
                };
                if row.get::<_, Option<String>>(3).is_some() && !cat.unmanaged.contains(&unmanaged) {
                    cat.unmanaged.push(unmanaged);
                }
                continue;
            }
            insert(cat, object.clone(), row);
        }
        Ok(())
    }
}

/// Records the object of `row`, and its grant when the row has one.
fn insert(cat: &mut Catalog, object: ObjectId, row: &Row) {
    let grants = cat.privileges.entry(object).or_default();
    if let Some(grantee) = row.get::<_, Option<String>>(3) {
        grants.insert(Grant {
            grantee,
            privilege: row.get(4),
            grantable: row.get(5),
        });
    }
}

/// The privilege changes from `current` to `desired`, once every other
/// change is known: `changes` tells which objects the plan drops (and
/// creates again), which then start from PostgreSQL's defaults.
pub(crate) fn diff_after(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    let dropped = dropped(changes);
    let fresh = |object: &ObjectId| {
        let table_dropped = object
            .relation()
            .is_some_and(|t| dropped.contains(&ObjectId::Table { name: t.clone() }));
        dropped.contains(object)
            || table_dropped
            || (!current.privileges.contains_key(object) && !matches!(object, ObjectId::Column { .. }))
    };
    let none = Grants::new();
    let mut out = Vec::new();
    // The owner an object has once the plan ran: its own privileges are
    // implicit there, so a grant to it is none (a schema loaded by another
    // role may well grant the target's owner what it already holds).
    let owner_after = |object: &ObjectId| -> String {
        if matches!(object, ObjectId::DefaultPrivileges { .. }) {
            return String::new();
        }
        let owned = match object {
            ObjectId::Column { table, .. } => ObjectId::Table {
                name: table.clone(),
            },
            other => other.clone(),
        };
        let set = desired.owners.get(&owned).and_then(|o| o.owner.clone());
        let kept = || {
            let current = current.owners.get(&owned).and_then(|o| o.owner.clone());
            current.filter(|_| !desired.manage_unset_owners && !dropped.contains(&owned))
        };
        set.or_else(kept)
            .unwrap_or_else(|| current.reader_role.clone())
    };
    let without_owner = |grants: &Grants, owner: &str| -> Grants {
        grants.iter().filter(|g| g.grantee != owner).cloned().collect()
    };
    for (object, to) in &desired.privileges {
        let owner = owner_after(object);
        let to = &without_owner(to, &owner);
        let from = match fresh(object) {
            true if matches!(object, ObjectId::DefaultPrivileges { .. }) => defaults(object),
            true => created_with(current, object),
            false => current.privileges.get(object).cloned().unwrap_or_default(),
        };
        compare(object, &without_owner(&from, &owner), to, &mut out);
    }
    // Default privileges the desired state no longer sets (those of a
    // schema the plan drops go with it).
    for (object, from) in &current.privileges {
        let ObjectId::DefaultPrivileges { schema, .. } = object else {
            continue;
        };
        let schema_kept = schema
            .as_ref()
            .is_none_or(|s| desired.schemas.contains_key(s));
        if schema_kept && !desired.privileges.contains_key(object) {
            compare(object, from, &defaults(object), &mut out);
        }
    }
    // Column grants that the desired state drops altogether.
    for (object, from) in &current.privileges {
        let ObjectId::Column { table, column } = object else {
            continue;
        };
        let kept = desired
            .tables
            .get(table)
            .is_some_and(|t| t.column(column).is_some());
        if kept && !desired.privileges.contains_key(object) && !fresh(object) {
            compare(object, from, &none, &mut out);
        }
    }
    changes.extend(out);
}

/// The objects `changes` drop (and may create again): removed other than
/// by a type change, which keeps privileges and owner.
pub(crate) fn dropped(changes: &[Change]) -> BTreeSet<ObjectId> {
    let mut dropped = BTreeSet::new();
    for change in changes {
        let effects = change.action().effects();
        if !effects.retype {
            dropped.extend(effects.removes);
        }
    }
    dropped
}

/// One change per grantee whose privileges on `object` differ.
fn compare(object: &ObjectId, from: &Grants, to: &Grants, out: &mut Vec<Change>) {
    let by_grantee = |grants: &Grants| {
        let mut map: BTreeMap<String, BTreeSet<(String, bool)>> = BTreeMap::new();
        for g in grants {
            map.entry(g.grantee.clone())
                .or_default()
                .insert((g.privilege.clone(), g.grantable));
        }
        map
    };
    let (from, to) = (by_grantee(from), by_grantee(to));
    let grantees: BTreeSet<&String> = from.keys().chain(to.keys()).collect();
    for grantee in grantees {
        let old = from.get(grantee).cloned().unwrap_or_default();
        let new = to.get(grantee).cloned().unwrap_or_default();
        if old != new {
            out.push(
                PrivilegeChange {
                    object: object.clone(),
                    grantee: grantee.clone(),
                    from: old,
                    to: new,
                }
                .into(),
            );
        }
    }
}

/// One row per grant in `acl` other than the owner's, and one with a NULL
/// grantee for an object with none, so that every object is known: a
/// lateral join for the grant queries ([`Kind::grants`]).
fn explode(acl: &str, owner: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' \
           ELSE pg_catalog.quote_ident(r.rolname) END AS grantee, x.privilege_type, x.is_grantable \
           FROM pg_catalog.aclexplode({acl}) x \
           LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.grantee \
           WHERE x.grantee <> {owner}) a ON true"
    )
}

/// The grants on the rows of `catalog` (aliased `o`) in user schemas, for
/// [`Kind::grants`]: `acl`, `owner` and `namespace` are its columns,
/// `default` the object type `acldefault` takes for an ACL never set
/// (`r` relations, `s` sequences, `f` routines, `T` types), `filter` more
/// of the WHERE clause.
pub(crate) fn in_schema(catalog: &str, acl: &str, owner: &str, namespace: &str, default: char, filter: &str) -> String {
    format!(
        "SELECT '{catalog}' AS cls, o.oid, 0::int2 AS sub, a.grantee, a.privilege_type, a.is_grantable, \
                NULL::text, NULL::text, NULL::text \
         FROM pg_catalog.{catalog} o JOIN pg_catalog.pg_namespace n ON n.oid = o.{namespace} {} \
         WHERE {USER_SCHEMA} AND {filter}",
        explode(
            &format!("coalesce(o.{acl}, pg_catalog.acldefault('{default}'::\"char\", o.{owner}))"),
            &format!("o.{owner}")
        )
    )
}

/// The grants on schemas.
pub(crate) fn on_schemas() -> String {
    format!(
        "SELECT 'pg_namespace' AS cls, n.oid, 0::int2 AS sub, a.grantee, a.privilege_type, a.is_grantable, \
                NULL::text, NULL::text, NULL::text \
         FROM pg_catalog.pg_namespace n {} WHERE {USER_SCHEMA}",
        explode("coalesce(n.nspacl, pg_catalog.acldefault('n'::\"char\", n.nspowner))", "n.nspowner")
    )
}

/// The grants on columns of relations in user schemas (only those that
/// hold some: a column's ACL has no default).
pub(crate) fn on_columns() -> String {
    format!(
        "SELECT 'pg_class' AS cls, o.oid, at.attnum AS sub, a.grantee, a.privilege_type, a.is_grantable, \
                NULL::text, NULL::text, NULL::text \
         FROM pg_catalog.pg_attribute at JOIN pg_catalog.pg_class o ON o.oid = at.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace {} \
         WHERE at.attacl IS NOT NULL AND at.attnum > 0 AND NOT at.attisdropped AND {USER_SCHEMA}",
        explode("at.attacl", "o.relowner")
    )
}
