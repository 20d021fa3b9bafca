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
    /// Privileges are neither planned nor reported (`privileges: ignore`).
    pub ignore_privileges: bool,
    /// Which owners are compared (`owners:`).
    pub owners: Owners,
    /// Plans build and drop indexes of existing tables CONCURRENTLY
    /// (`online:`, `--no-online`).
    pub online: bool,
    /// Drift stratum.yaml accepts (`expected_drift:`): left as it is by
    /// plans, and not counted after an apply.
    pub expected_drift: Vec<ExpectedDrift>,
}

/// Which owners a project compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Owners {
    /// Only those the schema sets (ALTER ... OWNER TO, AUTHORIZATION).
    #[default]
    Schema,
    /// Also give objects the schema sets no owner for to the applying role.
    Manage,
    /// None.
    Ignore,
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
            // Index names share their table's schema; excluding a table
            // excludes its indexes through the table itself.
            ObjectId::Index { name } => self.schema(&name.schema),
            other => other.qualified().is_none_or(|name| self.name(name)),
        }
    }

    /// Removes from `catalog` everything outside the scope.
    pub fn apply(&self, catalog: &mut Catalog) {
        catalog.retain(&|schema| self.schema(schema), &|name| self.name(name));
        catalog
            .depends
            .retain(|a, b| self.object(a) && self.object(b));
        self.leave_history_schema(catalog);
        if self.ignore_privileges {
            catalog.privileges.clear();
        }
        if self.owners == Owners::Ignore {
            catalog.owners.clear();
        }
        catalog.manage_unset_owners = self.owners == Owners::Manage;
        catalog.online = self.online;
        if !self.is_trivial() {
            catalog
                .unmanaged
                .retain(|u| u.schema.as_deref().is_none_or(|s| self.schema(s)));
        }
    }
}

impl Filter {
    /// Keeps the history table's schema in `to` when `from` has it: no plan
    /// drops the schema that holds stratum's history (a down migration of
    /// the schema's first migration, a schema/ that stops declaring it).
    pub fn keep_history_schema(&self, from: &Catalog, to: &mut Catalog) {
        if let Some((name, schema)) = self.history_schema_missing(from, to) {
            to.schemas.insert(name.clone(), schema.clone());
        }
    }

    /// The history table's schema (other than `public`) when `from` has it
    /// and `to` lacks it: what [`Filter::keep_history_schema`] adds.
    pub fn history_schema_missing<'a>(
        &'a self,
        from: &'a Catalog,
        to: &Catalog,
    ) -> Option<(&'a String, &'a crate::kinds::Schema)> {
        let history = self
            .history_table
            .as_ref()
            .filter(|h| h.schema != "public")?;
        let schema = from.schemas.get(&history.schema)?;
        (!to.schemas.contains_key(&history.schema)).then_some((&history.schema, schema))
    }

    /// Leaves out the history table's own schema (other than `public`) when
    /// nothing else in it is managed: it is stratum's, not the schema's.
    fn leave_history_schema(&self, catalog: &mut Catalog) {
        let Some(history) = self.history_table.as_ref().filter(|h| h.schema != "public") else {
            return;
        };
        let used = std::cell::Cell::new(false);
        catalog.retain(&|_| true, &|name| {
            used.set(used.get() || name.schema == history.schema);
            true
        });
        let extension = catalog
            .extensions
            .values()
            .any(|e| e.schema == history.schema);
        if !used.get() && !extension {
            catalog.schemas.remove(&history.schema);
        }
    }
}

/// An entry of `expected_drift:`: objects whose drift is accepted.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDrift {
    /// A pattern (`*`, `?`) on the object as `check` names it, e.g.
    /// `table app.audit_*` or `* platform.*`.
    pub object: String,
    /// Why it is accepted; `check` prints it.
    pub reason: String,
}

impl ExpectedDrift {
    /// The entry that accepts the drift of `object`, if any.
    pub fn find<'a>(entries: &'a [ExpectedDrift], object: &str) -> Option<&'a ExpectedDrift> {
        entries.iter().find(|e| glob(&e.object, object))
    }
}

/// Shell-style match of `pattern` (`*` any run, `?` one character).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
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
            ignore_privileges: false,
            owners: Owners::Schema,
            online: true,
            expected_drift: Vec::new(),
        };
        assert!(filter.name(&q("app", "users")));
        assert!(!filter.name(&q("app", "tmp_x")));
        assert!(!filter.name(&q("app", "legacy_orders")));
        assert!(filter.name(&q("public", "legacy_orders")));
        assert!(!filter.name(&q("audit", "log")));
        assert!(!filter.name(&q("public", "stratum_migrations")));
    }

    #[test]
    fn unmanaged_objects_by_their_schema() {
        let filter = Filter {
            include_schemas: vec!["app".into(), "My.Schema".into()],
            ..Filter::default()
        };
        let object = |name: &str, schema: Option<&str>| crate::kinds::Unmanaged {
            kind: "policy".into(),
            name: name.into(),
            schema: schema.map(str::to_string),
        };
        let mut catalog = Catalog {
            unmanaged: vec![
                object("p on app.t", Some("app")),
                object("\"My.Schema\".t", Some("My.Schema")),
                object("q on other.t", Some("other")),
                object("anon", None),
            ],
            ..Catalog::default()
        };
        filter.apply(&mut catalog);
        let names: Vec<&str> = catalog.unmanaged.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["p on app.t", "\"My.Schema\".t", "anon"]);
    }

    #[test]
    fn history_schema_is_left_out_when_nothing_else_uses_it() {
        let filter = Filter {
            history_table: Some(q("ops", "stratum_migrations")),
            ..Filter::default()
        };
        let schema = |name: &str| crate::kinds::Schema {
            name: name.into(),
            comment: None,
        };
        let mut catalog = Catalog::default();
        catalog.schemas.insert("ops".into(), schema("ops"));
        filter.apply(&mut catalog);
        assert!(catalog.schemas.is_empty());
    }
}
