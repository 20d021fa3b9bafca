//! Fleets: one schema in many databases (a database per tenant, spread
//! over servers). `targets` says which databases, `rollout` in what order
//! and how many at once (a canary, waves, a failure limit), `progress`
//! shows it while it runs. What runs on each target is the command's own
//! work, through the one executor (`crate::workflow::fleet`).

pub mod progress;
pub mod rollout;
pub mod targets;
pub mod wave;

pub use rollout::{run, waves, Canary, Ran, Rollout, RolloutFlags, Stop, Verdict, Wave, Worked};
pub use targets::{noun, read_list, FleetConfig, Selection, Target};
