//! Commands over a fleet (many databases, one `schema/`): `check`,
//! `status`, and `migrate`, `down` and `apply` rolled out in waves. Which
//! databases and in what order is `crate::fleet`; each database gets the
//! single-database command.

mod check;
mod plan;
mod rollout;
mod status;
mod tenants;

pub use check::{check_fleet, FleetRow};
pub use plan::plan_fleet;
pub use rollout::{run_fleet, run_job, FleetJob};
pub use status::status_fleet;
pub use tenants::{expand, project_for};

use crate::config::Project;
use crate::fleet::Target;

/// Loads `schema/` once, for the first target's PostgreSQL major, before
/// many targets plan at once: they then read it from the catalog cache
/// instead of each loading it. A failure here is each target's to report.
async fn warm(project: &Project, targets: &[Target]) {
    let Some(first) = targets.first() else { return };
    let (Ok(major), Ok(schema)) = (
        crate::conninfo::server_major(&first.url).await,
        project.schema_source(),
    ) else {
        return;
    };
    let _ = crate::load::load_for_major(&schema, &project.scratch(), major).await;
}
