//! The table lock a step takes, as PostgreSQL names the mode: what a
//! reviewer needs to know of a step on a busy table ("reads wait" or "writes
//! wait"). Read from the statement's shape, as PostgreSQL's
//! `AlterTableGetLockLevel` decides it; a test holds this table against
//! `pg_locks` on a real server.

use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType};
use pg_query::{NodeEnum, NodeRef};

pub use crate::hazard::LockMode;

/// The strongest lock the statements of `sql` take on the table they work
/// on; None for statements that take no table lock worth naming (a new
/// table, a grant, a function).
pub fn strongest(sql: &str) -> Option<LockMode> {
    let parsed = pg_query::parse(sql, 0).ok()?;
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|s| s.stmt.as_ref()?.node.as_ref())
        .filter_map(statement)
        .max()
}

fn statement(node: &NodeEnum) -> Option<LockMode> {
    use LockMode::*;
    Some(match node.to_ref() {
        NodeRef::AlterTableStmt(s) => s
            .cmds
            .iter()
            .filter_map(|c| match c.node.as_ref() {
                Some(NodeEnum::AlterTableCmd(c)) => Some(subcommand(c)),
                _ => None,
            })
            .max()?,
        NodeRef::IndexStmt(s) if s.concurrent => ShareUpdateExclusive,
        NodeRef::IndexStmt(_) => Share,
        NodeRef::DropStmt(s) if s.concurrent => ShareUpdateExclusive,
        NodeRef::DropStmt(_) => AccessExclusive,
        NodeRef::RenameStmt(s) if s.rename_type == ObjectType::ObjectIndex as i32 => {
            ShareUpdateExclusive
        }
        NodeRef::RenameStmt(_) => AccessExclusive,
        NodeRef::CreateTrigStmt(_) => ShareRowExclusive,
        NodeRef::CreatePolicyStmt(_) | NodeRef::AlterPolicyStmt(_) | NodeRef::RuleStmt(_) => {
            AccessExclusive
        }
        NodeRef::CommentStmt(_) => ShareUpdateExclusive,
        _ => return None,
    })
}

fn subcommand(cmd: &pg_query::protobuf::AlterTableCmd) -> LockMode {
    use AlterTableType as At;
    use LockMode::*;
    match At::try_from(cmd.subtype).unwrap_or(At::Undefined) {
        At::AtSetStatistics
        | At::AtSetOptions
        | At::AtResetOptions
        | At::AtClusterOn
        | At::AtDropCluster
        | At::AtSetRelOptions
        | At::AtResetRelOptions
        | At::AtValidateConstraint => ShareUpdateExclusive,
        At::AtEnableTrig
        | At::AtEnableAlwaysTrig
        | At::AtEnableReplicaTrig
        | At::AtDisableTrig
        | At::AtEnableTrigAll
        | At::AtDisableTrigAll
        | At::AtEnableTrigUser
        | At::AtDisableTrigUser
        | At::AtEnableRule
        | At::AtEnableAlwaysRule
        | At::AtEnableReplicaRule
        | At::AtDisableRule => ShareRowExclusive,
        At::AtAddConstraint => match cmd.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrForeign as i32 => {
                ShareRowExclusive
            }
            _ => AccessExclusive,
        },
        // The partition is locked ACCESS EXCLUSIVE (its parent less).
        _ => AccessExclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_of_several_statements_takes_its_strongest_lock() {
        assert_eq!(
            strongest("ALTER TABLE t VALIDATE CONSTRAINT c; COMMENT ON TABLE t IS 'x'"),
            Some(LockMode::ShareUpdateExclusive)
        );
        assert_eq!(
            strongest(
                "ALTER TABLE t ALTER COLUMN a SET STATISTICS 5, ALTER COLUMN b SET DEFAULT 1"
            ),
            Some(LockMode::AccessExclusive)
        );
        assert_eq!(strongest("GRANT SELECT ON t TO PUBLIC"), None);
        assert_eq!(strongest("not sql"), None);
    }
}
