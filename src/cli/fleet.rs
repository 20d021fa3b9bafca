//! `--db` (once or more), `--db-list` and `--fleet`: one database, or a
//! fleet and how a change rolls out over it.

use anyhow::Result;

use super::args::{RolloutArgs, Targets};
use crate::config::Project;
use crate::fleet::{Rollout, RolloutFlags, Selection, Target};
use crate::workflow::{self, FleetJob, Report};

/// Where a command runs.
pub(super) enum Where {
    /// One database (its URL).
    One(String),
    /// Many.
    Fleet(Vec<Target>),
}

impl Targets {
    /// Where the databases come from; a `--db` without a URL is
    /// `$DATABASE_URL`'s.
    fn selection(&self, project: &Project) -> Result<Selection> {
        let urls = self
            .db
            .iter()
            .map(|url| match url.as_str() {
                "" => project.database_url(None),
                url => Ok(url.to_string()),
            })
            .collect::<Result<_>>()?;
        Ok(Selection {
            urls,
            list: self.db_list.clone(),
            groups: self.fleet.as_ref().map(|groups| {
                groups
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
        })
    }

    /// True when no database is named at all.
    pub(super) fn none_given(&self) -> bool {
        self.db.is_empty() && self.db_list.is_none() && self.fleet.is_none()
    }

    /// One database (`--db`, else `$DATABASE_URL`) or a fleet.
    pub(super) fn resolve(&self, project: &Project) -> Result<Where> {
        let selection = self.selection(project)?;
        if selection.is_fleet() {
            return Ok(Where::Fleet(
                selection.targets(&project.fleet, &project.root)?,
            ));
        }
        let url = match selection.urls.first() {
            Some(url) => url.clone(),
            None => project.database_url(None)?,
        };
        // With tenants, one database is its shared part and its tenants.
        if project.tenants.is_some() {
            return Ok(Where::Fleet(vec![Target::new(&url, None, Vec::new())]));
        }
        Ok(Where::One(url))
    }

    /// Databases at once: the flag, stratum.yaml, 8.
    pub(super) fn jobs(&self, project: &Project) -> usize {
        self.jobs.or(project.fleet.jobs).unwrap_or(8).max(1)
    }
}

impl RolloutArgs {
    /// The rollout: these flags over stratum.yaml's `fleet:`.
    pub(super) fn resolve(&self, targets: &Targets, project: &Project) -> Result<Rollout> {
        Rollout::resolve(
            &RolloutFlags {
                canary: self.canary.clone(),
                waves: self.waves.clone(),
                jobs: targets.jobs,
                per_server: self.per_server,
                max_failures: self.max_failures,
            },
            &project.fleet,
        )
        .map_err(|e| project.located(e))
    }
}

/// `job` on the one database, or rolled out over the fleet.
pub(super) async fn run_job(
    project: &Project,
    targets: &Targets,
    rollout: &RolloutArgs,
    job: FleetJob<'_>,
) -> Result<Report> {
    match targets.resolve(project)? {
        Where::One(url) => workflow::run_job(project, &url, job).await,
        Where::Fleet(fleet) => {
            let rollout = rollout.resolve(targets, project)?;
            workflow::run_fleet(project, &fleet, &rollout, job).await
        }
    }
}

/// `resolve --tenant`: with tenants, the one part of the database at `url`
/// to mark (a tenant schema, or `shared`); None without tenants.
pub(super) fn tenant_part(
    project: &Project,
    url: &str,
    tenant: Option<String>,
) -> Result<Option<Target>> {
    use crate::tenants::Part;
    match (&project.tenants, tenant) {
        (None, None) => Ok(None),
        (None, Some(_)) => anyhow::bail!("--tenant: stratum.yaml has no tenants: section"),
        (Some(_), None) => anyhow::bail!(
            "with tenants (stratum.yaml), each tenant schema has its own history: name the one \
             to mark with --tenant SCHEMA, or --tenant shared for the database's shared part"
        ),
        (Some(_), Some(name)) => {
            let mut target = Target::new(url, Some(name.clone()), Vec::new());
            target.part = Some(match name.as_str() {
                "shared" => Part::Shared,
                _ => Part::Tenant(name),
            });
            Ok(Some(target))
        }
    }
}
