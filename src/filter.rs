//! Which objects a project manages: include/exclude schemas, excluded name
//! patterns, and always the migration history table. Applied to a catalog
//! right after introspection, so both sides of a diff see the same scope.

use crate::kinds::{Catalog, ObjectId};
use crate::sql::QualName;

/// The scope of a project.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// When not empty, only these schemas.
    pub include_schemas: Vec<String>,
    /// Never these schemas.
    pub exclude_schemas: Vec<String>,
    /// Never objects matching these patterns (`*`, `?`; `schema.name`
    /// matches the qualified name, a pattern without a dot the bare name).
    pub exclude_objects: Vec<String>,
    /// stratum's own bookkeeping table.
    pub history_table: Option<QualName>,
}

impl Filter {
    /// True when nothing is filtered but the history table.
    fn is_trivial(&self) -> bool {
        self.include_schemas.is_empty()
            && self.exclude_schemas.is_empty()
            && self.exclude_objects.is_empty()
    }

    /// Whether schema `name` is managed.
    pub fn schema(&self, name: &str) -> bool {
        (self.include_schemas.is_empty() || self.include_schemas.iter().any(|s| s == name))
            && !self.exclude_schemas.iter().any(|s| s == name)
    }

    /// Whether the object `name` is managed.
    pub fn name(&self, name: &QualName) -> bool {
        if self.history_table.as_ref() == Some(name) {
            return false;
        }
        if self.is_trivial() {
            return true;
        }
        let qualified = format!("{}.{}", name.schema, name.name);
        self.schema(&name.schema)
            && !self.exclude_objects.iter().any(|p| {
                if p.contains('.') {
                    glob(p, &qualified)
                } else {
                    glob(p, &name.name)
                }
            })
    }

    /// Whether the object `id` is managed.
    pub fn object(&self, id: &ObjectId) -> bool {
        match id {
            ObjectId::Schema { name } => self.schema(name),
            ObjectId::Extension { .. }
            | ObjectId::EventTrigger { .. }
            | ObjectId::Publication { .. }
            | ObjectId::Cast { .. }
            | ObjectId::Unmanaged { .. } => true,
            ObjectId::Collation { name }
            | ObjectId::Statistics { name }
            | ObjectId::TsDictionary { name }
            | ObjectId::TsConfig { name }
            | ObjectId::Operator { name, .. } => self.name(name),
            ObjectId::Type { name }
            | ObjectId::Sequence { name }
            | ObjectId::SequenceOwner { name }
            | ObjectId::Table { name }
            | ObjectId::View { name } => self.name(name),
            // Index names share their table's schema; excluding a table
            // excludes its indexes through the table itself.
            ObjectId::Index { name } => self.schema(&name.schema),
            ObjectId::Column { table, .. }
            | ObjectId::Default { table, .. }
            | ObjectId::Constraint { table, .. }
            | ObjectId::Trigger { table, .. }
            | ObjectId::Rule { table, .. } => self.name(table),
            ObjectId::DomainConstraint { domain, .. } => self.name(domain),
            ObjectId::Routine { id } => self.name(&id.name),
        }
    }

    /// Removes from `catalog` everything outside the scope.
    pub fn apply(&self, catalog: &mut Catalog) {
        catalog.schemas.retain(|name, _| self.schema(name));
        catalog.enums.retain(|name, _| self.name(name));
        catalog.domains.retain(|name, _| self.name(name));
        catalog.composites.retain(|name, _| self.name(name));
        catalog.ranges.retain(|name, _| self.name(name));
        catalog.sequences.retain(|name, _| self.name(name));
        catalog.tables.retain(|name, _| self.name(name));
        catalog.views.retain(|name, _| self.name(name));
        catalog.functions.retain(|id, _| self.name(&id.name));
        catalog.aggregates.retain(|id, _| self.name(&id.name));
        catalog.rules.retain(|(table, _), _| self.name(table));
        catalog.collations.retain(|name, _| self.name(name));
        catalog.statistics.retain(|name, _| self.name(name));
        catalog.ts_dictionaries.retain(|name, _| self.name(name));
        catalog.ts_configs.retain(|name, _| self.name(name));
        catalog.operators.retain(|(name, _, _), _| self.name(name));
        catalog
            .depends
            .retain(|(a, b)| self.object(a) && self.object(b));
        if !self.is_trivial() {
            catalog.unmanaged.retain(|u| {
                let schema = u.name.split('.').next().unwrap_or_default();
                !u.name.contains('.') || self.schema(schema)
            });
        }
    }
}

/// Shell-style match of `pattern` (`*` any run, `?` one character).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(schema: &str, name: &str) -> QualName {
        QualName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    #[test]
    fn globs() {
        assert!(glob("tmp_*", "tmp_users"));
        assert!(glob("*_old", "users_old"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(!glob("tmp_*", "users"));
    }

    #[test]
    fn scope() {
        let filter = Filter {
            include_schemas: vec![],
            exclude_schemas: vec!["audit".into()],
            exclude_objects: vec!["tmp_*".into(), "app.legacy_*".into()],
            history_table: Some(q("public", "stratum_migrations")),
        };
        assert!(filter.name(&q("app", "users")));
        assert!(!filter.name(&q("app", "tmp_x")));
        assert!(!filter.name(&q("app", "legacy_orders")));
        assert!(filter.name(&q("public", "legacy_orders")));
        assert!(!filter.name(&q("audit", "log")));
        assert!(!filter.name(&q("public", "stratum_migrations")));
    }
}
