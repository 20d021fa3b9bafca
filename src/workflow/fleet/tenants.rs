//! Schema per tenant over one database or a fleet: each database becomes
//! its shared part and one target per tenant schema, each run with a
//! project of its own (the part's statements, the tenant's history table
//! in its schema, the scope of its objects).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Project;
use crate::fleet::Target;
use crate::kinds::Catalog;
use crate::load::Side;
use crate::sql::QualName;
use crate::tenants::{Part, TenantRun};

/// With `tenants:` configured, each database of `targets` as its shared
/// part and its tenant schemas (found there now), in that order; without,
/// `targets` as they are. A database whose tenants cannot be listed stops
/// the command.
pub async fn expand(project: &Project, targets: Vec<Target>) -> Result<Vec<Target>> {
    let Some(tenants) = &project.tenants else {
        return Ok(targets);
    };
    let single = targets.len() == 1;
    let mut out = Vec::new();
    for target in targets {
        let client = crate::conninfo::connect_url(&target.url)
            .await
            .with_context(|| format!("listing the tenant schemas of {}", target.name))?;
        let schemas = tenants
            .list(&client)
            .await
            .with_context(|| format!("listing the tenant schemas of {}", target.name))?;
        let schemas = Arc::new(schemas);
        let mut shared = target.clone();
        shared.name = match single {
            true => "shared".into(),
            false => format!("{} (shared)", target.name),
        };
        shared.part = Some(Part::Shared);
        shared.tenant_schemas = schemas.clone();
        out.push(shared);
        for schema in schemas.iter().cloned() {
            let mut tenant = target.clone();
            tenant.tenant_schemas = schemas.clone();
            tenant.name = match single {
                true => schema.clone(),
                false => format!("{}/{schema}", target.name),
            };
            tenant.part = Some(Part::Tenant(schema));
            out.push(tenant);
        }
    }
    Ok(out)
}

/// The project one target runs with: with tenants, its part's statements
/// and scope, and for a tenant its own history table in its schema and
/// the schema it should hold (`desired`, for check, plan and apply).
pub fn project_for<'a>(project: &'a Project, target: &Target) -> Cow<'a, Project> {
    let (Some(tenants), Some(part)) = (&project.tenants, &target.part) else {
        return Cow::Borrowed(project);
    };
    let mut p = project.clone();
    match part {
        Part::Tenant(schema) => {
            p.history_table = QualName {
                schema: schema.clone(),
                name: project.history_table.name.clone(),
            };
            p.filter.include_schemas = vec![schema.clone()];
            p.filter.history_table = Some(p.history_table.clone());
        }
        Part::Shared => {
            p.filter.exclude_schemas.push(tenants.placeholder.clone());
            p.filter
                .exclude_schemas
                .extend(target.tenant_schemas.iter().cloned());
        }
    }
    p.tenant = Some(TenantRun {
        placeholder: tenants.placeholder.clone(),
        part: part.clone(),
        desired: target.desired.clone(),
        tenant_schemas: target.tenant_schemas.clone(),
    });
    Cow::Owned(p)
}

/// The schema each tenant of `names` should hold on PostgreSQL `major`:
/// `schema/` loaded once into a scratch database, its placeholder schema
/// renamed to each tenant in turn (PostgreSQL carries every reference to
/// it along) and read back, scoped to that schema.
pub async fn desired(
    project: &Project,
    major: u32,
    names: &[String],
) -> Result<BTreeMap<String, Arc<Catalog>>> {
    let tenants = project.tenants.as_ref().context("no tenants: configured")?;
    let side = Side::Source(project.schema_source()?);
    let built = crate::load::build(&side, &project.scratch(), major).await?;
    let read = async {
        let mut was = tenants.placeholder.clone();
        let mut out = BTreeMap::new();
        for name in names {
            built
                .client
                .batch_execute(&format!(
                    "ALTER SCHEMA {} RENAME TO {}",
                    crate::sql::ident(&was),
                    crate::sql::ident(name)
                ))
                .await
                .with_context(|| {
                    format!(
                        "making tenant {name}'s schema from schema/'s {}",
                        tenants.placeholder
                    )
                })?;
            was = name.clone();
            let mut catalog = crate::introspect::introspect(&built.client, false).await?;
            let mut filter = project.filter.clone();
            filter.include_schemas = vec![name.clone()];
            filter.apply(&mut catalog);
            out.insert(name.clone(), Arc::new(catalog));
        }
        anyhow::Ok(out)
    }
    .await;
    built.finish().await;
    read
}

/// Sets what each tenant schema of `targets` should hold
/// ([`Target::desired`]): `schema/`'s placeholder made that tenant's, on a
/// server of its database's major.
pub async fn fill_desired(project: &Project, targets: &mut [Target], jobs: usize) -> Result<()> {
    use futures_util::{stream, StreamExt, TryStreamExt};
    let tenant = |t: &Target| match &t.part {
        Some(Part::Tenant(schema)) => Some(schema.clone()),
        _ => None,
    };
    let mut urls: Vec<String> = targets
        .iter()
        .filter(|t| tenant(t).is_some())
        .map(|t| t.url.clone())
        .collect();
    urls.sort_unstable();
    urls.dedup();
    let majors: BTreeMap<String, u32> = stream::iter(urls)
        .map(|url| async move {
            let major = crate::conninfo::server_major(&url).await?;
            anyhow::Ok((url, major))
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    let mut by_major: BTreeMap<u32, BTreeMap<String, Arc<Catalog>>> = BTreeMap::new();
    for major in majors.values() {
        if by_major.contains_key(major) {
            continue;
        }
        let mut names: Vec<String> = targets
            .iter()
            .filter(|t| majors.get(&t.url) == Some(major))
            .filter_map(tenant)
            .collect();
        names.sort();
        names.dedup();
        by_major.insert(*major, desired(project, *major, &names).await?);
    }
    for t in targets.iter_mut() {
        let (Some(schema), Some(major)) = (tenant(t), majors.get(&t.url)) else {
            continue;
        };
        t.desired = by_major.get(major).and_then(|m| m.get(&schema)).cloned();
    }
    Ok(())
}
