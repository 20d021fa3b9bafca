//! Policy rules on the desired schema (`stratum lint --schema`, and in
//! `check`): conventions a team wants every table to follow, each rule with
//! an id, off / warn / error by default, per project and per environment
//! in stratum.yaml's `lint:`. A rule is silenced on one object by a comment
//! in `schema/` on the line that declares it or just above:
//! `-- stratum: allow fk-without-index`.

mod rules;

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::kinds::{Catalog, ObjectId};

pub use rules::RULES;

/// How a rule's findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not checked.
    Off,
    /// Reported; the command still succeeds.
    Warn,
    /// Reported, and the command exits 1.
    Error,
}

/// `lint:` in stratum.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule id -> severity, over the defaults.
    #[serde(default)]
    pub rules: BTreeMap<String, Severity>,
    /// Environment name -> rule id -> severity, over `rules` when the run
    /// names that environment (`--env`, `STRATUM_ENV`).
    #[serde(default)]
    pub environments: BTreeMap<String, BTreeMap<String, Severity>>,
    /// Regular expressions names must match, by kind (rule `naming`).
    #[serde(default)]
    pub naming: Naming,
}

/// Name patterns of the `naming` rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Naming {
    /// Tables.
    pub table: Option<String>,
    /// Columns.
    pub column: Option<String>,
    /// Indexes.
    pub index: Option<String>,
    /// Constraints.
    pub constraint: Option<String>,
}

/// A rule: what it looks for in a catalog.
pub trait Rule: Sync {
    /// Its id, e.g. `fk-without-index`.
    fn id(&self) -> &'static str;
    /// Its severity when stratum.yaml does not say.
    fn default(&self) -> Severity;
    /// What it asks for, in a sentence.
    fn about(&self) -> &'static str;
    /// Its findings in `catalog`.
    fn check(&self, catalog: &Catalog, settings: &Settings) -> Vec<Violation>;
}

/// One object a rule finds.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The object, to find its place in `schema/`.
    pub id: ObjectId,
    /// The object its place falls back to (its table).
    pub owner: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

/// A finding as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// Warn or error.
    pub severity: Severity,
    /// The object, e.g. `column app.users.created_at`.
    pub object: String,
    /// What is wrong.
    pub message: String,
    /// Where `schema/` declares it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Its 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// The rules' severities for one run, and their settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rule id -> severity.
    pub severity: BTreeMap<&'static str, Severity>,
    /// The `naming` rule's patterns, compiled.
    pub naming: Vec<(&'static str, regex::Regex)>,
}

impl Settings {
    /// The severities of `config` in environment `env` (none: the
    /// project's own): an unknown rule or environment, or a bad pattern,
    /// is an error that says which (`lint.rules: ...`, for the file's
    /// line).
    pub fn of(config: &Config, env: Option<&str>) -> Result<Settings> {
        let ids: Vec<&'static str> = RULES.iter().map(|r| r.id()).collect();
        let known = |key: &str, id: &str| -> Result<&'static str> {
            match ids.iter().find(|i| **i == id) {
                Some(i) => Ok(i),
                None => {
                    let near = ids
                        .iter()
                        .min_by_key(|i| strsim::levenshtein(i, id))
                        .filter(|i| strsim::levenshtein(i, id) <= 3)
                        .map(|i| format!(" (did you mean `{i}`?)"))
                        .unwrap_or_default();
                    bail!(
                        "{key}: unknown rule `{id}`{near}; the rules: {}",
                        ids.join(", ")
                    )
                }
            }
        };
        let mut severity: BTreeMap<&'static str, Severity> =
            RULES.iter().map(|r| (r.id(), r.default())).collect();
        for (id, s) in &config.rules {
            severity.insert(known("lint.rules", id)?, *s);
        }
        for (name, rules) in &config.environments {
            for id in rules.keys() {
                known(&format!("lint.environments.{name}"), id)?;
            }
        }
        if let Some(env) = env {
            let Some(rules) = config.environments.get(env) else {
                let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
                bail!(
                    "lint.environments: no environment `{env}` (stratum.yaml names: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            };
            for (id, s) in rules {
                severity.insert(known("lint.environments", id)?, *s);
            }
        }
        let n = &config.naming;
        let mut naming = Vec::new();
        for (kind, pattern) in [
            ("table", &n.table),
            ("column", &n.column),
            ("index", &n.index),
            ("constraint", &n.constraint),
        ] {
            if let Some(pattern) = pattern {
                let re = regex::Regex::new(pattern)
                    .map_err(|e| anyhow::anyhow!("lint.naming.{kind}: {e}"))?;
                naming.push((kind, re));
            }
        }
        Ok(Settings { severity, naming })
    }

    /// The severity of rule `id`.
    pub fn severity(&self, id: &str) -> Severity {
        self.severity.get(id).copied().unwrap_or(Severity::Off)
    }
}

/// The findings of every rule not off in `catalog`, each at its place in
/// the schema at `schema` (`show` names a path as the user sees it); those
/// a `stratum: allow RULE` comment silences are left out.
pub fn check(
    catalog: &Catalog,
    settings: &Settings,
    source: &crate::parse::SqlSource,
    show: &dyn Fn(&std::path::Path) -> String,
) -> Vec<Finding> {
    let mut found: Vec<(&'static str, Severity, Violation)> = Vec::new();
    for rule in RULES {
        let severity = settings.severity(rule.id());
        if severity == Severity::Off {
            continue;
        }
        for v in rule.check(catalog, settings) {
            found.push((rule.id(), severity, v));
        }
    }
    let names = found
        .iter()
        .flat_map(|(_, _, v)| [v.owner.clone(), v.id.label()]);
    let names: Vec<String> = names.collect();
    let locator = crate::workflow::annotate::Locator::new(source, names.iter().map(String::as_str));
    let mut out = Vec::new();
    for (rule, severity, v) in found {
        let part = locator.locate_part(&v.owner, &v.id, &v.id.label(), show);
        let whole = locator.locate(&v.owner, show);
        let silenced = [&part, &whole]
            .into_iter()
            .flatten()
            .any(|p| allowed(source, p, rule, show));
        if silenced {
            continue;
        }
        let place = part.or(whole);
        out.push(Finding {
            rule,
            severity,
            object: v.id.label(),
            message: v.message,
            file: place.as_ref().map(|p| p.file.clone()),
            line: place.as_ref().map(|p| p.line),
            column: place.map(|p| p.column),
        });
    }
    out.sort_by(|a, b| {
        (&a.file, a.line, a.rule, &a.object).cmp(&(&b.file, b.line, b.rule, &b.object))
    });
    out
}

/// True when the line at `place`, or the comment lines just above it,
/// say `stratum: allow RULE` (several rules: comma-separated).
fn allowed(
    source: &crate::parse::SqlSource,
    place: &crate::workflow::annotate::Place,
    rule: &str,
    show: &dyn Fn(&std::path::Path) -> String,
) -> bool {
    let Some(file) = source.files.iter().find(|f| show(&f.path) == place.file) else {
        return false;
    };
    let lines: Vec<&str> = file.text.lines().collect();
    let says = |line: &str| {
        line.split("--").skip(1).any(|comment| {
            let comment = comment.trim();
            let Some(rest) = comment
                .strip_prefix("stratum:")
                .map(str::trim)
                .and_then(|r| r.strip_prefix("allow"))
            else {
                return false;
            };
            rest.split([',', ' '])
                .map(str::trim)
                .any(|r| r == rule || r == "all")
        })
    };
    let mut i = place.line.saturating_sub(1);
    if lines.get(i).is_some_and(|l| says(l)) {
        return true;
    }
    while i > 0 {
        i -= 1;
        let line = lines[i].trim();
        if !line.starts_with("--") {
            return false;
        }
        if says(line) {
            return true;
        }
    }
    false
}

/// Every rule with its id, default and what it asks, for `lint --schema
/// --rules` and the README.
pub fn described() -> String {
    RULES
        .iter()
        .map(|r| {
            let default = match r.default() {
                Severity::Off => "off",
                Severity::Warn => "warn",
                Severity::Error => "error",
            };
            format!("{:<26} {default:<6} {}\n", r.id(), r.about())
        })
        .collect()
}
