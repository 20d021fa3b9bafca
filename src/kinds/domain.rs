//! Domains: a base type (another domain or an array included) with a
//! default, NOT NULL, a collation and named CHECK constraints. Default, NOT
//! NULL and constraints change in place (ALTER DOMAIN); a new base type or
//! collation rebuilds the domain like an enum: the old one is renamed aside,
//! the new one created, the columns moved over through text, the old one
//! dropped.

use std::collections::{BTreeMap, BTreeSet};
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{changed_meanwhile, collation_sql, not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, composite, enum_type, range};
use super::{Catalog, Change, Conversion, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Domain {
    /// Qualified name.
    pub name: QualName,
    /// Base type with typmod, as `format_type` prints it.
    pub base: String,
    /// Collation when it differs from the base type's, quoted and qualified.
    pub collation: Option<String>,
    /// DEFAULT expression.
    pub default: Option<String>,
    /// NOT NULL.
    pub not_null: bool,
    /// CHECK constraints by name.
    pub checks: BTreeMap<String, DomainCheck>,
    /// COMMENT ON DOMAIN.
    pub comment: Option<String>,
}

/// A CHECK constraint of a domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DomainCheck {
    /// Name.
    pub name: String,
    /// `pg_get_constraintdef` without a trailing `NOT VALID`.
    pub definition: String,
    /// False for a constraint added NOT VALID and not validated since.
    pub validated: bool,
    /// COMMENT ON CONSTRAINT ... ON DOMAIN.
    pub comment: Option<String>,
}

/// A change to a domain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DomainChange {
    /// CREATE DOMAIN with its valid constraints.
    Create(Domain),
    /// DROP DOMAIN; `renamed_to` when it was renamed aside first.
    Drop {
        domain: Domain,
        renamed_to: Option<String>,
    },
    /// ALTER DOMAIN ... RENAME TO, to make room for a rebuilt domain.
    Rename { domain: Domain, to: String },
    /// ALTER DOMAIN ... SET DEFAULT / DROP DEFAULT.
    SetDefault {
        name: QualName,
        default: Option<String>,
    },
    /// ALTER DOMAIN ... SET NOT NULL / DROP NOT NULL.
    SetNotNull { name: QualName, not_null: bool },
    /// ALTER DOMAIN ... ADD CONSTRAINT (NOT VALID when it is so wanted).
    AddCheck { name: QualName, check: DomainCheck },
    /// ALTER DOMAIN ... DROP CONSTRAINT.
    DropCheck { name: QualName, check: DomainCheck },
    /// ALTER DOMAIN ... VALIDATE CONSTRAINT.
    ValidateCheck { name: QualName, check: String },
}

impl DomainChange {
    fn name(&self) -> &QualName {
        match self {
            DomainChange::Create(d)
            | DomainChange::Drop { domain: d, .. }
            | DomainChange::Rename { domain: d, .. } => &d.name,
            DomainChange::SetDefault { name, .. }
            | DomainChange::SetNotNull { name, .. }
            | DomainChange::AddCheck { name, .. }
            | DomainChange::DropCheck { name, .. }
            | DomainChange::ValidateCheck { name, .. } => name,
        }
    }

    fn check_id(&self, check: &str) -> ObjectId {
        ObjectId::DomainConstraint {
            domain: self.name().clone(),
            name: check.to_string(),
        }
    }
}

/// The ids a domain's CREATE (valid checks only) or DROP makes or removes.
fn parts(domain: &Domain, created: bool) -> Vec<ObjectId> {
    let mut ids = vec![ObjectId::Type {
        name: domain.name.clone(),
    }];
    ids.extend(
        domain
            .checks
            .values()
            .filter(|c| !created || c.validated)
            .map(|c| ObjectId::DomainConstraint {
                domain: domain.name.clone(),
                name: c.name.clone(),
            }),
    );
    ids
}

impl Action for DomainChange {
    fn id(&self) -> ObjectId {
        ObjectId::Type {
            name: self.name().clone(),
        }
    }

    fn label(&self) -> String {
        format!("domain {}", self.name().plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            DomainChange::Create(_) => "create_domain",
            DomainChange::Drop { .. } => "drop_domain",
            DomainChange::Rename { .. } => "rename_domain",
            DomainChange::SetDefault { .. } => "set_domain_default",
            DomainChange::SetNotNull { .. } => "set_domain_not_null",
            DomainChange::AddCheck { .. } => "add_domain_constraint",
            DomainChange::DropCheck { .. } => "drop_domain_constraint",
            DomainChange::ValidateCheck { .. } => "validate_domain_constraint",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            DomainChange::Create(d) => super::made(parts(d, true)),
            // The name was freed by the rename; only dependents matter.
            DomainChange::Drop {
                domain,
                renamed_to: Some(_),
            } => Effects {
                removes: parts(domain, false),
                ..Effects::default()
            },
            DomainChange::Drop { domain, .. } => super::gone(parts(domain, false)),
            DomainChange::Rename { domain, .. } => Effects {
                frees: parts(domain, false),
                ..Effects::default()
            },
            DomainChange::SetDefault { .. } | DomainChange::SetNotNull { .. } => {
                super::needs(vec![self.id()])
            }
            DomainChange::AddCheck { check, .. } => Effects {
                provides: vec![self.check_id(&check.name)],
                needs: vec![self.id()],
                ..Effects::default()
            },
            DomainChange::DropCheck { check, .. } => super::gone(vec![self.check_id(&check.name)]),
            DomainChange::ValidateCheck { check, .. } => {
                super::needs(vec![self.check_id(check)])
            }
        }
    }

    fn sql(&self) -> Option<String> {
        let name = self.name();
        Some(match self {
            DomainChange::Create(d) => create_domain(d),
            DomainChange::Drop {
                renamed_to: Some(aside),
                ..
            } => format!(
                "DROP DOMAIN {};",
                QualName::new(name.schema.clone(), aside.clone())
            ),
            DomainChange::Drop { .. } => format!("DROP DOMAIN {name};"),
            DomainChange::Rename { to, .. } => {
                format!("ALTER DOMAIN {name} RENAME TO {};", ident(to))
            }
            DomainChange::SetDefault { default, .. } => match default {
                Some(expr) => format!("ALTER DOMAIN {name} SET DEFAULT {expr};"),
                None => format!("ALTER DOMAIN {name} DROP DEFAULT;"),
            },
            DomainChange::SetNotNull { not_null, .. } => format!(
                "ALTER DOMAIN {name} {} NOT NULL;",
                if *not_null { "SET" } else { "DROP" }
            ),
            DomainChange::AddCheck { check, .. } => format!(
                "ALTER DOMAIN {name} ADD CONSTRAINT {} {}{};",
                ident(&check.name),
                check.definition,
                if check.validated { "" } else { " NOT VALID" }
            ),
            DomainChange::DropCheck { check, .. } => format!(
                "ALTER DOMAIN {name} DROP CONSTRAINT {};",
                ident(&check.name)
            ),
            DomainChange::ValidateCheck { check, .. } => {
                format!("ALTER DOMAIN {name} VALIDATE CONSTRAINT {};", ident(check))
            }
        })
    }

    fn hazards(&self, current: &Catalog, _: &Catalog) -> Vec<Hazard> {
        let name = self.name();
        let users = || current.columns_using(name);
        match self {
            DomainChange::SetNotNull { not_null: true, .. } if users() > 0 => {
                vec![scan(name, users(), "NOT NULL")]
            }
            DomainChange::AddCheck { check, .. } if check.validated && users() > 0 => {
                vec![scan(name, users(), &check.name)]
            }
            DomainChange::ValidateCheck { check, .. } if users() > 0 => {
                vec![scan(name, users(), check)]
            }
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            DomainChange::DropCheck { .. } => rank::DROP_CONSTRAINT,
            DomainChange::Rename { .. } => rank::RENAME_TYPE_ASIDE,
            DomainChange::Drop {
                renamed_to: None, ..
            } => rank::DROP_TYPE,
            DomainChange::Create(_)
            | DomainChange::SetDefault { .. }
            | DomainChange::SetNotNull { .. } => rank::CREATE_TYPE,
            DomainChange::AddCheck { .. } => rank::ADD_CONSTRAINT,
            DomainChange::ValidateCheck { .. } => rank::VALIDATE,
            DomainChange::Drop { .. } => rank::DROP_REPLACED_TYPE,
        }
    }
}

impl Kind for DomainChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_type", "typacl", "typowner", "typnamespace", 'T', "o.typtype = 'd'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_type", "'DOMAIN'", "typowner", "typnamespace", "o.typtype = 'd'"))
    }

    fn query(_version: i32) -> Option<String> {
        let checks = |what: &str| {
            format!(
                "ARRAY(SELECT {what} FROM pg_catalog.pg_constraint co \
                 WHERE co.contypid = t.oid AND co.contype = 'c' ORDER BY co.conname)"
            )
        };
        Some(format!(
            "SELECT t.oid, t.typarray, n.nspname::text, t.typname::text, \
               pg_catalog.format_type(t.typbasetype, t.typtypmod), \
               {collation}, \
               t.typdefault, t.typnotnull, {comment}, \
               {}, {}, {}, {}, {} \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype \
             WHERE t.typtype = 'd' AND {USER_SCHEMA} AND {}",
            checks("co.oid"),
            checks("co.conname::text"),
            checks("pg_catalog.pg_get_constraintdef(co.oid)"),
            checks("co.convalidated"),
            checks(&comment_sql("pg_constraint", "co.oid")),
            not_extension_member("pg_type", "t.oid"),
            collation = collation_sql("t.typcollation", "b.typcollation"), comment = comment_sql("pg_type", "t.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
            let id = ObjectId::Type { name: name.clone() };
            reader.insert(Class::Type, row.get(0), id.clone());
            reader.insert(Class::Type, row.get(1), id);
            let oids: Vec<u32> = row.get(9);
            let names: Vec<String> = row.get(10);
            let definitions: Vec<Option<String>> = row.get(11);
            let validated: Vec<bool> = row.get(12);
            let comments: Vec<Option<String>> = row.get(13);
            let mut checks = BTreeMap::new();
            for (i, check) in names.into_iter().enumerate() {
                let check_id = ObjectId::DomainConstraint {
                    domain: name.clone(),
                    name: check.clone(),
                };
                reader.insert(Class::Constraint, oids[i], check_id);
                let definition = definitions[i]
                    .as_deref()
                    .ok_or_else(|| changed_meanwhile(&format!("domain {}", name.plain())))?;
                let definition = definition.strip_suffix(" NOT VALID").unwrap_or(definition);
                checks.insert(
                    check.clone(),
                    DomainCheck {
                        name: check,
                        definition: definition.to_string(),
                        validated: validated[i],
                        comment: comments[i].clone(),
                    },
                );
            }
            cat.domains.insert(
                name.clone(),
                Domain {
                    name,
                    base: row.get(4),
                    collation: row.get(5),
                    default: row.get(6),
                    not_null: row.get(7),
                    checks,
                    comment: row.get(8),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let rebuilt = rebuilt(current, desired);
        for (name, domain) in &desired.domains {
            let id = ObjectId::Type { name: name.clone() };
            let target = format!("DOMAIN {name}");
            match current.domains.get(name) {
                None => {
                    out.push(DomainChange::Create(domain.clone()).into());
                    parts_of_new(domain, out);
                    comment::changed(out, id, target, None, domain.comment.as_ref());
                }
                Some(old) if rebuilt.contains_key(name) => {
                    rebuild(old, domain, out);
                    parts_of_new(domain, out);
                    comment::changed(out, id, target, None, domain.comment.as_ref());
                }
                Some(old) => {
                    alter(old, domain, out);
                    let (from, to) = (old.comment.as_ref(), domain.comment.as_ref());
                    comment::changed(out, id, target, from, to);
                }
            }
        }
        for (name, domain) in &current.domains {
            if !desired.domains.contains_key(name) {
                out.push(
                    DomainChange::Drop {
                        domain: domain.clone(),
                        renamed_to: None,
                    }
                    .into(),
                );
            }
        }
    }
}

/// A full-scan hazard of a new domain rule over the columns using it.
fn scan(name: &QualName, columns: usize, what: &str) -> Hazard {
    Hazard::new(
        HazardCode::FullTableScan,
        format!(
            "checking {what} of domain {} reads every row of the {columns} column(s) using it",
            name.plain()
        ),
    )
}

/// A new base type or collation cannot be altered in place.
fn needs_rebuild(old: &Domain, new: &Domain) -> bool {
    old.base != new.base || old.collation != new.collation
}

/// Names of the domains that `diff` rebuilds, whose columns move over to
/// the new domain: a new base type or collation, or a base type (another
/// domain, an enum, ...) that is rebuilt itself.
pub(crate) fn rebuilt(current: &Catalog, desired: &Catalog) -> BTreeMap<QualName, Conversion> {
    let mut types: BTreeSet<String> = enum_type::rebuilt(current, desired)
        .into_keys()
        .chain(composite::rebuilt(current, desired).into_keys())
        .chain(range::rebuilt(current, desired).into_keys())
        .map(|name| name.to_string())
        .collect();
    let mut out = BTreeMap::new();
    loop {
        let before = out.len();
        for (name, new) in &desired.domains {
            let Some(old) = current.domains.get(name) else {
                continue;
            };
            let base = new.base.trim_end_matches("[]");
            if !out.contains_key(name) && (needs_rebuild(old, new) || types.contains(base)) {
                types.insert(name.to_string());
                out.insert(name.clone(), Conversion::Text);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// CREATE DOMAIN with everything but NOT VALID checks (added after it).
fn create_domain(d: &Domain) -> String {
    let mut sql = format!("CREATE DOMAIN {} AS {}", d.name, d.base);
    if let Some(collation) = &d.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(default) = &d.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if d.not_null {
        sql.push_str(" NOT NULL");
    }
    for check in d.checks.values().filter(|c| c.validated) {
        sql.push_str(&format!(
            "\n    CONSTRAINT {} {}",
            ident(&check.name),
            check.definition
        ));
    }
    sql.push(';');
    sql
}

/// NOT VALID checks and constraint comments of a domain created by the plan.
fn parts_of_new(domain: &Domain, out: &mut Vec<Change>) {
    for check in domain.checks.values() {
        if !check.validated {
            out.push(add_check(&domain.name, check));
        }
        check_comment(out, &domain.name, None, check);
    }
}

/// Renames the old domain aside, creates the new one and drops the old one
/// once the columns have moved over.
fn rebuild(old: &Domain, new: &Domain, out: &mut Vec<Change>) {
    let aside = super::aside_name(&old.name.name);
    out.push(
        DomainChange::Rename {
            domain: old.clone(),
            to: aside.clone(),
        }
        .into(),
    );
    out.push(DomainChange::Create(new.clone()).into());
    out.push(
        DomainChange::Drop {
            domain: old.clone(),
            renamed_to: Some(aside),
        }
        .into(),
    );
}

/// In-place changes of a domain on both sides.
fn alter(old: &Domain, new: &Domain, out: &mut Vec<Change>) {
    let name = &new.name;
    if old.default != new.default {
        out.push(
            DomainChange::SetDefault {
                name: name.clone(),
                default: new.default.clone(),
            }
            .into(),
        );
    }
    if old.not_null != new.not_null {
        out.push(
            DomainChange::SetNotNull {
                name: name.clone(),
                not_null: new.not_null,
            }
            .into(),
        );
    }
    for check in new.checks.values() {
        let same = old
            .checks
            .get(&check.name)
            .filter(|o| o.definition == check.definition);
        match same {
            // A check cannot be made NOT VALID again; a validated one
            // satisfies a desired NOT VALID one.
            Some(o) if !o.validated && check.validated => out.push(
                DomainChange::ValidateCheck {
                    name: name.clone(),
                    check: check.name.clone(),
                }
                .into(),
            ),
            Some(_) => {}
            None => {
                if let Some(o) = old.checks.get(&check.name) {
                    out.push(drop_check(name, o));
                }
                out.push(add_check(name, check));
            }
        }
        check_comment(out, name, same, check);
    }
    for (cname, check) in &old.checks {
        if !new.checks.contains_key(cname) {
            out.push(drop_check(name, check));
        }
    }
}

fn add_check(name: &QualName, check: &DomainCheck) -> Change {
    DomainChange::AddCheck {
        name: name.clone(),
        check: check.clone(),
    }
    .into()
}

fn drop_check(name: &QualName, check: &DomainCheck) -> Change {
    DomainChange::DropCheck {
        name: name.clone(),
        check: check.clone(),
    }
    .into()
}

fn check_comment(out: &mut Vec<Change>, domain: &QualName, old: Option<&DomainCheck>, new: &DomainCheck) {
    comment::changed(
        out,
        ObjectId::DomainConstraint {
            domain: domain.clone(),
            name: new.name.clone(),
        },
        format!("CONSTRAINT {} ON DOMAIN {domain}", ident(&new.name)),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
