//! Row level security policies (CREATE POLICY). Roles, USING and WITH CHECK
//! change in place (ALTER POLICY); a new command or permissiveness, or a
//! clause that goes away (ALTER POLICY cannot remove one), drops and creates
//! the policy. A policy is rebuilt around a change to what it reads (a
//! retyped column, a recreated function), through its dependencies.
//!
//! Every step is an `authz-change`: it changes who may see or change which
//! rows.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A policy on a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// The table it is on.
    pub table: QualName,
    /// Name.
    pub name: String,
    /// PERMISSIVE (true) or RESTRICTIVE.
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// TO: `PUBLIC` or quoted role names, sorted.
    pub roles: Vec<String>,
    /// USING, as PostgreSQL prints it.
    pub using: Option<String>,
    /// WITH CHECK, as PostgreSQL prints it.
    pub check: Option<String>,
    /// COMMENT ON POLICY.
    pub comment: Option<String>,
}

impl Policy {
    fn id(&self) -> ObjectId {
        ObjectId::Policy {
            table: self.table.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether `to` can be reached from this policy with ALTER POLICY.
    fn alterable_to(&self, to: &Policy) -> bool {
        self.permissive == to.permissive
            && self.command == to.command
            && (self.using.is_none() || to.using.is_some())
            && (self.check.is_none() || to.check.is_some())
    }

    fn create_sql(&self) -> String {
        let mut sql = format!("CREATE POLICY {} ON {}", ident(&self.name), self.table);
        if !self.permissive {
            sql.push_str(" AS RESTRICTIVE");
        }
        if self.command != "ALL" {
            sql.push_str(&format!(" FOR {}", self.command));
        }
        if self.roles != ["PUBLIC"] {
            sql.push_str(&format!(" TO {}", self.roles.join(", ")));
        }
        clauses(&mut sql, self.using.as_ref(), self.check.as_ref());
        sql + ";"
    }

    /// What the policy governs, for hazard messages: `SELECT on app.t by
    /// PUBLIC`.
    fn scope(&self) -> String {
        let command = match self.command.as_str() {
            "ALL" => "any command",
            other => other,
        };
        format!(
            "{command} on {} by {}",
            self.table.plain(),
            self.roles.join(", ")
        )
    }
}

fn clauses(sql: &mut String, using: Option<&String>, check: Option<&String>) {
    if let Some(using) = using {
        sql.push_str(&format!(" USING ({using})"));
    }
    if let Some(check) = check {
        sql.push_str(&format!(" WITH CHECK ({check})"));
    }
}

/// A change to a policy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PolicyChange {
    /// CREATE POLICY.
    Create(Policy),
    /// DROP POLICY.
    Drop(Policy),
    /// ALTER POLICY: roles, USING, WITH CHECK.
    Alter {
        /// As it is.
        from: Policy,
        /// As it should be.
        to: Policy,
    },
}

impl PolicyChange {
    fn policy(&self) -> &Policy {
        match self {
            PolicyChange::Create(p) | PolicyChange::Drop(p) | PolicyChange::Alter { to: p, .. } => {
                p
            }
        }
    }
}

impl Action for PolicyChange {
    fn id(&self) -> ObjectId {
        self.policy().id()
    }

    fn verb(&self) -> &'static str {
        match self {
            PolicyChange::Create(_) => "create_policy",
            PolicyChange::Drop(_) => "drop_policy",
            PolicyChange::Alter { .. } => "alter_policy",
        }
    }

    fn effects(&self) -> Effects {
        let table = ObjectId::Table {
            name: self.policy().table.clone(),
        };
        match self {
            PolicyChange::Create(_) => Effects {
                provides: vec![self.id()],
                needs: vec![table],
                ..Effects::default()
            },
            PolicyChange::Drop(_) => super::gone(vec![self.id()]),
            // The new expressions may use what the plan creates. It removes
            // nothing: when something the policy uses is dropped, the policy
            // is dropped and created instead (`recreate`).
            PolicyChange::Alter { .. } => Effects {
                provides: vec![self.id()],
                needs: vec![table],
                ..Effects::default()
            },
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            PolicyChange::Create(p) => p.create_sql(),
            PolicyChange::Drop(p) => format!("DROP POLICY {} ON {};", ident(&p.name), p.table),
            PolicyChange::Alter { from, to } => {
                let mut sql = format!("ALTER POLICY {} ON {}", ident(&to.name), to.table);
                if from.roles != to.roles {
                    sql.push_str(&format!(" TO {}", to.roles.join(", ")));
                }
                let using = to.using.as_ref().filter(|_| from.using != to.using);
                let check = to.check.as_ref().filter(|_| from.check != to.check);
                clauses(&mut sql, using, check);
                sql + ";"
            }
        })
    }

    fn hazards(&self, current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        let p = self.policy();
        let message = match self {
            PolicyChange::Create(_) => format!(
                "creates policy {}: changes which rows {} may reach",
                p.name,
                p.scope()
            ),
            PolicyChange::Alter { .. } => format!(
                "alters policy {}: changes which rows {} may reach",
                p.name,
                p.scope()
            ),
            PolicyChange::Drop(_) => drop_message(p, current, desired),
        };
        vec![Hazard::new(HazardCode::AuthzChange, message)]
    }

    fn rank(&self) -> Rank {
        match self {
            PolicyChange::Drop(_) => rank::DROP_DEPENDANT,
            _ => rank::CREATE_POLICY,
        }
    }

    fn stateless(&self) -> bool {
        true
    }

    fn shown(&self) -> Shown {
        let p = self.policy();
        let sign = match self {
            PolicyChange::Create(_) => '+',
            PolicyChange::Drop(_) => '-',
            PolicyChange::Alter { .. } => '~',
        };
        Shown::Part {
            table: p.table.clone(),
            detail: format!("{sign} policy {}", p.name),
        }
    }
}

impl Kind for PolicyChange {
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT pol.oid, n.nspname::text, c.relname::text, pol.polname::text, pol.polpermissive, \
               CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' \
                 WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, \
               ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(a.rolname) END \
                     FROM pg_catalog.unnest(pol.polroles) r(oid) \
                     LEFT JOIN pg_catalog.pg_roles a ON a.oid = r.oid ORDER BY 1), \
               pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), \
               pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid), \
               {comment} \
             FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER_SCHEMA} AND {}",
            not_extension_member("pg_class", "c.oid"), comment = comment_sql("pg_policy", "pol.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let policy = Policy {
                table: QualName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                name: row.get(3),
                permissive: row.get(4),
                command: row.get(5),
                roles: row.get(6),
                using: row.get(7),
                check: row.get(8),
                comment: row.get(9),
            };
            reader.insert(Class::Policy, row.get(0), policy.id());
            cat.policies
                .insert((policy.table.clone(), policy.name.clone()), policy);
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        // A policy on a table that the plan drops goes with it; one on a
        // table dropped and created again is recreated through `recreate`.
        for (key, policy) in &desired.policies {
            let old = current.policies.get(key);
            match old {
                None => out.push(PolicyChange::Create(policy.clone()).into()),
                Some(o) if strip_comment(o) == strip_comment(policy) => {}
                Some(o) if o.alterable_to(policy) => out.push(
                    PolicyChange::Alter {
                        from: o.clone(),
                        to: policy.clone(),
                    }
                    .into(),
                ),
                Some(o) => {
                    out.push(PolicyChange::Drop(o.clone()).into());
                    out.push(PolicyChange::Create(policy.clone()).into());
                }
            }
            let kept = old.filter(|o| o.alterable_to(policy));
            policy_comment(out, kept, policy);
        }
        for (key, policy) in &current.policies {
            if !desired.policies.contains_key(key) && desired.tables.contains_key(&key.0) {
                out.push(PolicyChange::Drop(policy.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Policy { table, name } = id else {
            return;
        };
        let key = (table.clone(), name.clone());
        if let (Some(old), Some(new)) = (current.policies.get(&key), desired.policies.get(&key)) {
            // The rebuild replaces an ALTER POLICY and a comment change of it.
            out.retain(|c| {
                let replaced = match c {
                    Change::Policy(p) => matches!(**p, PolicyChange::Alter { .. }),
                    Change::Comment(_) => true,
                    _ => false,
                };
                !(replaced && c.action().id() == *id)
            });
            out.push(PolicyChange::Drop(old.clone()).into());
            out.push(PolicyChange::Create(new.clone()).into());
            policy_comment(out, None, new);
        }
    }
}

/// The policy without its comment, which has a step of its own.
fn strip_comment(p: &Policy) -> Policy {
    Policy {
        comment: None,
        ..p.clone()
    }
}

/// What dropping `p` does to access, given what stays.
fn drop_message(p: &Policy, current: &Catalog, desired: &Catalog) -> String {
    let rls_stays = desired
        .row_security
        .get(&p.table)
        .is_some_and(|r| r.enabled);
    let was_enforced = current.row_security.get(&p.table).is_some_and(|r| r.enabled);
    let head = format!("drops policy {} ({})", p.name, p.scope());
    if desired.policies.contains_key(&(p.table.clone(), p.name.clone())) {
        return format!("{head} and creates it again in the same transaction");
    }
    if !rls_stays || !was_enforced {
        return format!("{head}; row level security is not enforced on the table after the plan");
    }
    if !p.permissive {
        return format!(
            "{head}: rows it hid become visible to those roles under the remaining permissive policies"
        );
    }
    let others = desired
        .policies
        .values()
        .filter(|o| o.table == p.table && o.permissive)
        .count();
    if others == 0 {
        format!(
            "{head}: no permissive policy remains, so rows of {} become invisible to every role \
             but the owner (and roles with BYPASSRLS)",
            p.table.plain()
        )
    } else {
        format!("{head}: rows only it allowed become invisible to those roles")
    }
}

fn policy_comment(out: &mut Vec<Change>, old: Option<&Policy>, new: &Policy) {
    comment::changed(
        out,
        new.id(),
        format!("POLICY {} ON {}", ident(&new.name), new.table),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
