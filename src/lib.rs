//! stratum: declarative schema diff and migrations for PostgreSQL.
//!
//! Data flows one way: `cli` (with `config`) -> `workflow` -> `load` (via
//! `parse`, `migrations`, `scratch`, `introspect`, `filter`) -> `diff` ->
//! `plan` -> `render` / `ddl`, or applied through `history`. Everything
//! about one object kind lives in its module under `kinds`. See
//! ARCHITECTURE.md.

pub mod catalog_cache;
pub mod cli;
pub mod config;
pub mod conninfo;
pub mod coverage;
pub mod ddl;
pub mod diff;
pub mod execute;
pub mod expected;
pub mod filter;
pub mod fleet;
pub mod hazard;
pub mod history;
pub mod interrupt;
pub mod introspect;
pub mod kinds;
pub mod load;
pub mod migrations;
pub mod parse;
pub mod plan;
pub mod policy;
pub mod precheck;
pub mod proof;
pub mod rehearse;
pub mod renames;
pub mod render;
pub mod scratch;
pub mod sql;
pub mod tenants;
pub mod ui;
pub mod workflow;
pub mod zero_downtime;
