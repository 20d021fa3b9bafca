//! stratum: declarative schema diff and migrations for PostgreSQL.
//!
//! Data flows one way: `cli` (with `config`) -> `workflow` -> `load` (via
//! `parse`, `migrations`, `scratch`, `introspect`, `filter`) -> `diff` ->
//! `plan` -> `render` / `ddl`, or applied through `history`. See
//! ARCHITECTURE.md.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod conninfo;
pub mod ddl;
pub mod diff;
pub mod filter;
pub mod history;
pub mod introspect;
pub mod load;
pub mod migrations;
pub mod parse;
pub mod plan;
pub mod render;
pub mod scratch;
pub mod sql;
pub mod ui;
pub mod workflow;
