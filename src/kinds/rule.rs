//! Rules (CREATE RULE) on tables and views. A changed rule is dropped and
//! created; a rule is rebuilt around a change to what it reads, like a view.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, printed, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::sql::ident;

/// A rule on a table or view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// The table or view it is on.
    pub table: QualName,
    /// Name.
    pub name: String,
    /// `pg_get_ruledef`, a complete CREATE RULE statement.
    pub definition: String,
    /// COMMENT ON RULE.
    pub comment: Option<String>,
}

/// A change to a rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RuleChange {
    /// CREATE RULE.
    Create(Rule),
    /// DROP RULE.
    Drop(Rule),
}

impl RuleChange {
    fn rule(&self) -> &Rule {
        match self {
            RuleChange::Create(r) | RuleChange::Drop(r) => r,
        }
    }
}

fn id(rule: &Rule) -> ObjectId {
    ObjectId::Rule {
        table: rule.table.clone(),
        name: rule.name.clone(),
    }
}

impl Action for RuleChange {
    fn id(&self) -> ObjectId {
        id(self.rule())
    }

    fn verb(&self) -> &'static str {
        match self {
            RuleChange::Create(_) => "create_rule",
            RuleChange::Drop(_) => "drop_rule",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            RuleChange::Create(_) => super::made(vec![self.id()]),
            RuleChange::Drop(_) => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            RuleChange::Create(r) => r.definition.trim_end().to_string(),
            RuleChange::Drop(r) => format!("DROP RULE {} ON {};", ident(&r.name), r.table),
        })
    }

    fn rank(&self) -> Rank {
        match self {
            RuleChange::Drop(_) => rank::DROP_DEPENDANT,
            RuleChange::Create(_) => rank::CREATE_TRIGGER,
        }
    }

    fn stateless(&self) -> bool {
        true
    }

    fn shown(&self) -> Shown {
        let r = self.rule();
        let sign = match self {
            RuleChange::Create(_) => '+',
            RuleChange::Drop(_) => '-',
        };
        Shown::Part {
            table: r.table.clone(),
            detail: format!("{sign} rule {}", r.name),
        }
    }
}

impl Kind for RuleChange {
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT r.oid, n.nspname::text, c.relname::text, r.rulename::text, \
               pg_catalog.pg_get_ruledef(r.oid), {comment} \
             FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_class", "c.oid"), comment = comment_sql("pg_rewrite", "r.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let rule = Rule {
                table: QualName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                name: row.get(3),
                definition: printed(row, 4, &|| "a rule".to_string())?,
                comment: row.get(5),
            };
            reader.insert(Class::Rewrite, row.get(0), id(&rule));
            cat.rules
                .insert((rule.table.clone(), rule.name.clone()), rule);
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        // A rule on a table or view that the plan drops and creates again
        // is recreated with it (`recreate`, through its dependency).
        for (key, rule) in &desired.rules {
            let old = current.rules.get(key);
            let same = old.filter(|o| o.definition == rule.definition);
            if same.is_none() {
                if let Some(o) = old {
                    out.push(RuleChange::Drop(o.clone()).into());
                }
                out.push(RuleChange::Create(rule.clone()).into());
            }
            rule_comment(out, same, rule);
        }
        for (key, rule) in &current.rules {
            if !desired.rules.contains_key(key) {
                out.push(RuleChange::Drop(rule.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Rule { table, name } = id else {
            return;
        };
        let key = (table.clone(), name.clone());
        if let (Some(old), Some(new)) = (current.rules.get(&key), desired.rules.get(&key)) {
            out.push(RuleChange::Drop(old.clone()).into());
            out.push(RuleChange::Create(new.clone()).into());
            rule_comment(out, None, new);
        }
    }
}

fn rule_comment(out: &mut Vec<Change>, old: Option<&Rule>, new: &Rule) {
    comment::changed(
        out,
        id(new),
        format!("RULE {} ON {}", ident(&new.name), new.table),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
