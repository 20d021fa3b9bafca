//! The one table of tie-break ranks: where a step goes among the steps that
//! the plan's graph leaves unordered (`plan::order`). Every kind's
//! [`super::Kind::rank`] returns one of these, so the whole order reads
//! here, top to bottom: drops first, dependants before what they depend
//! on; then creates and alters, what others build on first; renames last.
//! Names that share a value tie, and the graph or the object ids decide.

/// A step's tie-break key: (0, n) drops, (1, n) creates and alters,
/// (2, depth) renames.
pub type Rank = (u8, u8);

/// A step that undoes a rename for the plan (`-- stratum:renamed-from`).
pub const UNDO_RENAME: Rank = (0, 0);
/// Triggers, rules, policies, event triggers and publications dropped.
pub const DROP_DEPENDANT: Rank = (0, 0);
/// Views and materialized views dropped.
pub const DROP_VIEW: Rank = (0, 1);
/// Foreign keys dropped (before the keys they reference).
pub const DROP_FOREIGN_KEY: Rank = (0, 2);
/// Indexes and statistics objects dropped.
pub const DROP_INDEX: Rank = (0, 3);
/// Constraints, domain checks and composite attributes dropped.
pub const DROP_CONSTRAINT: Rank = (0, 4);
/// Defaults and identities dropped, sequences released from their column.
pub const RELEASE: Rank = (0, 5);
/// Columns dropped.
pub const DROP_COLUMN: Rank = (0, 6);
/// Partitions detached, inheritance ended.
pub const DETACH: Rank = (0, 6);
/// Tables dropped.
pub const DROP_TABLE: Rank = (0, 7);
/// Sequences dropped.
pub const DROP_SEQUENCE: Rank = (0, 8);
/// Functions, procedures, aggregates, operators and casts dropped.
pub const DROP_ROUTINE: Rank = (0, 9);
/// Types renamed aside while the plan builds their replacement.
pub const RENAME_TYPE_ASIDE: Rank = (0, 10);
/// User mappings dropped.
pub const DROP_USER_MAPPING: Rank = (0, 10);
/// Types dropped (not replaced).
pub const DROP_TYPE: Rank = (0, 11);
/// Foreign servers dropped.
pub const DROP_SERVER: Rank = (0, 11);
/// Collations, extensions, foreign data wrappers and text search
/// configurations and dictionaries dropped.
pub const DROP_BASE: Rank = (0, 12);
/// Schemas dropped.
pub const DROP_SCHEMA: Rank = (0, 13);

/// Schemas created.
pub const CREATE_SCHEMA: Rank = (1, 0);
/// Extensions and collations created or altered.
pub const CREATE_BASE: Rank = (1, 1);
/// Types created or altered (enums, composites, ranges, domains).
pub const CREATE_TYPE: Rank = (1, 2);
/// Functions, procedures, aggregates and text search objects.
pub const CREATE_ROUTINE: Rank = (1, 3);
/// Sequences created or altered.
pub const CREATE_SEQUENCE: Rank = (1, 4);
/// Operators and casts created.
pub const CREATE_OPERATOR: Rank = (1, 4);
/// Foreign data wrappers and servers created or altered.
pub const CREATE_FOREIGN_SERVER: Rank = (1, 4);
/// Tables created.
pub const CREATE_TABLE: Rank = (1, 5);
/// User mappings created or altered.
pub const CREATE_USER_MAPPING: Rank = (1, 5);
/// Columns added; a table's persistence and storage parameters.
pub const ADD_COLUMN: Rank = (1, 6);
/// Column types changed.
pub const ALTER_COLUMN_TYPE: Rank = (1, 7);
/// Column defaults and generation expressions set.
pub const SET_DEFAULT: Rank = (1, 8);
/// NOT NULL set or altered; constraints and indexes renamed to a parent's
/// names before ATTACH adopts them.
pub const SET_NOT_NULL: Rank = (1, 9);
/// Partitions attached, inheritance begun; column storage options and
/// identities.
pub const ATTACH: Rank = (1, 10);
/// Constraints other than foreign keys, and domain checks, added.
pub const ADD_CONSTRAINT: Rank = (1, 11);
/// Constraints and domain checks validated or enforced.
pub const VALIDATE: Rank = (1, 12);
/// Indexes and statistics objects created, renamed or attached.
pub const CREATE_INDEX: Rank = (1, 13);
/// Foreign keys and keys on existing indexes added; replica identity,
/// CLUSTER ON and statistics targets.
pub const ADD_FOREIGN_KEY: Rank = (1, 14);
/// Views and materialized views created or replaced.
pub const CREATE_VIEW: Rank = (1, 15);
/// Triggers, rules and event triggers created; view column defaults.
pub const CREATE_TRIGGER: Rank = (1, 16);
/// Triggers enabled or disabled; sequences owned by their column again.
pub const ENABLE_TRIGGER: Rank = (1, 17);
/// Types dropped once their replacement holds the columns.
pub const DROP_REPLACED_TYPE: Rank = (1, 18);
/// Publications created or altered.
pub const PUBLISH: Rank = (1, 18);
/// Policies and row level security; comments.
pub const CREATE_POLICY: Rank = (1, 19);
/// Privileges granted or revoked.
pub const GRANT: Rank = (1, 20);
/// Owners changed.
pub const SET_OWNER: Rank = (1, 21);
/// Column privileges, after their table's: revoking a privilege on a
/// table revokes it on every column too.
pub const GRANT_ON_COLUMN: Rank = (1, 22);

/// A rename the schema asks for, after everything else, the objects
/// deepest in others first (`depth`).
pub const fn rename(depth: u8) -> Rank {
    (2, depth)
}
