//! stratum: declarative schema diff and migrations for PostgreSQL.
//!
//! Data flows one way: `cli` -> `load` (via `parse`, `scratch`,
//! `introspect`) -> `diff` -> `plan` -> `render`. See ARCHITECTURE.md.

pub mod catalog;
pub mod cli;
pub mod conninfo;
pub mod diff;
pub mod introspect;
pub mod load;
pub mod parse;
pub mod plan;
pub mod render;
pub mod scratch;
pub mod sql;
