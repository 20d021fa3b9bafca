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

use tokio_postgres::Row;

use super::reader::{Class, Reader, USER_SCHEMA};
use super::{Catalog, Change, Effects, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// One privilege held by one grantee.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq)]
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

/// `ON ...` of GRANT and REVOKE for `object`, with the column list for a
/// column; None for objects that take no privileges.
fn target(object: &ObjectId) -> Option<(String, String)> {
    Some(match object {
        ObjectId::Table { name } | ObjectId::View { name } => {
            (String::new(), format!("TABLE {name}"))
        }
        ObjectId::Sequence { name } => (String::new(), format!("SEQUENCE {name}")),
        ObjectId::Routine { id } => (String::new(), format!("ROUTINE {}", id.sql())),
        ObjectId::Type { name } => (String::new(), format!("TYPE {name}")),
        ObjectId::Schema { name } => (String::new(), format!("SCHEMA {}", ident(name))),
        ObjectId::Column { table, column } => (format!(" ({})", ident(column)), format!("TABLE {table}")),
        _ => return None,
    })
}

/// What PostgreSQL grants on a new object of this kind, owner aside.
fn defaults(object: &ObjectId) -> Grants {
    let public = |privilege: &str| Grant {
        grantee: "PUBLIC".into(),
        privilege: privilege.into(),
        grantable: false,
    };
    match object {
        ObjectId::Routine { .. } => [public("EXECUTE")].into(),
        ObjectId::Type { .. } => [public("USAGE")].into(),
        _ => Grants::new(),
    }
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
        let Some((columns, on)) = target(&self.object) else {
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
        let mut out = Vec::new();
        if !d.revoked.is_empty() {
            out.push(format!("REVOKE {} ON {on} FROM {g};", names(&d.revoked)));
        }
        if !d.option_revoked.is_empty() {
            let list = names(&d.option_revoked);
            out.push(format!("REVOKE GRANT OPTION FOR {list} ON {on} FROM {g};"));
        }
        if !d.granted.is_empty() {
            out.push(format!("GRANT {} ON {on} TO {g};", names(&d.granted)));
        }
        if !d.granted_with_option.is_empty() {
            let list = names(&d.granted_with_option);
            out.push(format!("GRANT {list} ON {on} TO {g} WITH GRANT OPTION;"));
        }
        out
    }
}

impl Kind for PrivilegeChange {
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
        if let ObjectId::Column { table, .. } = &self.object {
            needs.push(ObjectId::Table { name: table.clone() });
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

    fn hazards(&self, _current: &Catalog, _desired: &Catalog) -> Vec<Hazard> {
        let (what, g) = (self.object.label(), &self.grantee);
        let d = self.delta();
        let list = |l: &[&String]| l.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !d.granted.is_empty() {
            parts.push(format!("grants {} on {what} to {g}", list(&d.granted)));
        }
        if !d.granted_with_option.is_empty() {
            let l = list(&d.granted_with_option);
            parts.push(format!("grants {l} on {what} to {g} with the right to grant it on"));
        }
        if !d.revoked.is_empty() {
            parts.push(format!("revokes {} on {what} from {g}", list(&d.revoked)));
        }
        if !d.option_revoked.is_empty() {
            let l = list(&d.option_revoked);
            parts.push(format!("takes from {g} the right to grant {l} on {what}"));
        }
        vec![Hazard::new(HazardCode::AuthzChange, parts.join("; "))]
    }

    fn rank(&self) -> (u8, u8) {
        (1, 20)
    }

    fn stateless(&self) -> bool {
        true
    }

    fn query(_version: i32) -> Option<String> {
        // One row per grant other than the owner's, and one with a NULL
        // grantee for an object with none, so every object is known.
        let explode = |acl: &str, owner: &str| {
            format!(
                "LEFT JOIN LATERAL (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' \
                   ELSE pg_catalog.quote_ident(r.rolname) END AS grantee, x.privilege_type, x.is_grantable \
                   FROM pg_catalog.aclexplode({acl}) x \
                   LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.grantee \
                   WHERE x.grantee <> {owner}) a ON true"
            )
        };
        Some(format!(
            "SELECT 'pg_class', c.oid, 0::int2, a.grantee, a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace {} \
               WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMA} \
             UNION ALL \
             SELECT 'pg_class', c.oid, at.attnum, a.grantee, a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_attribute at JOIN pg_catalog.pg_class c ON c.oid = at.attrelid \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace {} \
               WHERE at.attacl IS NOT NULL AND at.attnum > 0 AND NOT at.attisdropped AND {USER_SCHEMA} \
             UNION ALL \
             SELECT 'pg_proc', p.oid, 0::int2, a.grantee, a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace {} \
               WHERE {USER_SCHEMA} \
             UNION ALL \
             SELECT 'pg_type', t.oid, 0::int2, a.grantee, a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace {} \
               WHERE t.typtype IN ('c', 'd', 'e', 'r') AND {USER_SCHEMA} \
                 AND (t.typrelid = 0 OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c') \
             UNION ALL \
             SELECT 'pg_namespace', n.oid, 0::int2, a.grantee, a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_namespace n {} \
               WHERE {USER_SCHEMA}",
            explode(
                "coalesce(c.relacl, pg_catalog.acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner))",
                "c.relowner"
            ),
            explode("at.attacl", "c.relowner"),
            explode("coalesce(p.proacl, pg_catalog.acldefault('f'::\"char\", p.proowner))", "p.proowner"),
            explode("coalesce(t.typacl, pg_catalog.acldefault('T'::\"char\", t.typowner))", "t.typowner"),
            explode("coalesce(n.nspacl, pg_catalog.acldefault('n'::\"char\", n.nspowner))", "n.nspowner"),
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let Some(class) = Class::from_catalog_name(row.get(0)) else {
                continue;
            };
            let sub: i16 = row.get(2);
            // Only objects stratum manages: the reader knows each of them.
            let Some(object) = reader.resolve(class, row.get(1), sub.into()) else {
                continue;
            };
            if sub > 0 && !matches!(object, ObjectId::Column { .. }) {
                continue;
            }
            let grants = cat.privileges.entry(object.clone()).or_default();
            if let Some(grantee) = row.get::<_, Option<String>>(3) {
                grants.insert(Grant {
                    grantee,
                    privilege: row.get(4),
                    grantable: row.get(5),
                });
            }
        }
        Ok(())
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
    for (object, to) in &desired.privileges {
        let from = match fresh(object) {
            true => defaults(object),
            false => current.privileges.get(object).cloned().unwrap_or_default(),
        };
        compare(object, &from, to, &mut out);
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
        let effects = change.kind().effects();
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
