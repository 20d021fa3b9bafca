//! Commands over a fleet (many databases, one `schema/`): `check`,
//! `status`, and `migrate`, `down` and `apply` rolled out in waves. Which
//! databases and in what order is `crate::fleet`; each database gets the
//! single-database command.

mod check;
mod rollout;
mod status;

pub use check::{check_fleet, FleetRow};
pub use rollout::{run_fleet, run_job, FleetJob};
pub use status::status_fleet;
