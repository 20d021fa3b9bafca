//! Canonical DDL of a whole catalog: the plan that builds it from nothing,
//! grouped by the object each statement belongs to. `dump` writes it as
//! files; `check` compares it object by object.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::diff::{self, Change};
use crate::kinds::{Catalog, ObjectId};
use crate::plan::{self, Step};

/// The steps that create everything in `catalog`, in an order that loads.
pub fn build_steps(catalog: &Catalog) -> Result<Vec<Step>> {
    let empty = empty_like(catalog);
    let changes = diff::diff(&empty, catalog);
    Ok(plan::plan(&empty, catalog, changes)?.steps)
}

/// Which of `steps` (the [`build_steps`] of `catalog`) must come before
/// which: pairs (before, after) of their indexes.
pub fn build_order(catalog: &Catalog, steps: &[Step]) -> Vec<(usize, usize)> {
    let empty = empty_like(catalog);
    let changes: Vec<Change> = steps.iter().map(|s| s.change.clone()).collect();
    plan::must_precede(&empty, catalog, &changes)
}

/// The SQL of every statement that creates `catalog`, in plan order, each
/// with the change it comes from. Lighter than [`build_steps`]: no step
/// labels or hazards, and each change is dropped once it is passed, which
/// matters when a whole catalog of 10 000 tables goes through it.
fn build_sql(catalog: &Catalog) -> Result<impl Iterator<Item = (Change, String)>> {
    let empty = empty_like(catalog);
    let changes = diff::diff(&empty, catalog);
    let ordered = plan::ordered(&empty, catalog, changes)?;
    Ok(ordered.into_iter().filter_map(|change| {
        let sql = change.action().sql()?;
        Some((change, sql))
    }))
}

/// A new database: empty but for what template0 holds, the `public`
/// schema as PostgreSQL makes it (its comment and the grants to PUBLIC),
/// so that what a database changed there is written.
fn empty_like(catalog: &Catalog) -> Catalog {
    let mut empty = Catalog {
        server_version: catalog.server_version,
        ..Catalog::default()
    };
    if let Some(public) = catalog.schemas.get("public") {
        let schema = crate::kinds::Schema {
            comment: Some("standard public schema".into()),
            ..public.clone()
        };
        empty.schemas.insert("public".into(), schema);
        let grant = |privilege: &str| crate::kinds::Grant {
            grantee: "PUBLIC".into(),
            privilege: privilege.into(),
            grantable: false,
        };
        // PostgreSQL 15 took CREATE from PUBLIC.
        let mut grants: crate::kinds::Grants = [grant("USAGE")].into();
        if catalog.server_version < 150000 {
            grants.insert(grant("CREATE"));
        }
        let id = ObjectId::Schema {
            name: "public".into(),
        };
        empty.privileges.insert(id, grants);
    }
    if let Some(plpgsql) = catalog.extensions.get("plpgsql") {
        empty.extensions.insert("plpgsql".into(), plpgsql.clone());
    }
    empty
}

/// A digest of everything stratum manages in `catalog`: sha256 of the
/// statements that build it from nothing. Row counts, sizes and oids do not
/// enter it, so it changes only when the schema does. A saved plan carries
/// the fingerprint of the database it was made for and of the state it
/// leads to.
pub fn fingerprint(catalog: &Catalog) -> Result<String> {
    let mut text = String::new();
    for (_, sql) in build_sql(catalog)? {
        text.push_str(&sql);
        text.push('\n');
    }
    Ok(format!("sha256:{}", crate::migrations::checksum(&text)))
}

/// The object a change belongs to, as a label: constraints, indexes,
/// triggers and comments go with their table or view.
pub fn owner(change: &Change, catalog: &Catalog) -> String {
    let action = change.action();
    match action.owner() {
        ObjectId::Table { name } | ObjectId::View { name } => match catalog.views.get(&name) {
            Some(v) if v.materialized => format!("materialized view {}", name.plain()),
            Some(_) => format!("view {}", name.plain()),
            None => format!("table {}", name.plain()),
        },
        id if id == action.id() => action.label(),
        id => id.label(),
    }
}

/// The text of one step as it appears in DDL files.
pub fn step_text(step: &Step) -> Option<String> {
    step.sql.as_ref().map(|sql| format!("{sql}\n"))
}

/// Canonical DDL of every object, by owner label.
pub fn by_object(catalog: &Catalog) -> Result<BTreeMap<String, String>> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (change, sql) in build_sql(catalog)? {
        let entry = out.entry(owner(&change, catalog)).or_default();
        if !entry.is_empty() {
            entry.push('\n');
        }
        entry.push_str(&sql);
        entry.push('\n');
    }
    Ok(out)
}
