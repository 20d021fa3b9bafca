//! Findings for CI: each drifting object at the statement in `schema/` that
//! declares it, printed as GitHub Actions annotations (`--format github`)
//! or as a SARIF log for code-scanning tools (`--format sarif`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::kinds::ObjectId;
use crate::parse::{Location, SqlSource};

mod tree;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fails the check.
    Error,
    /// Reported, accepted (expected drift).
    Warning,
}

/// What a finding is about, SARIF's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The database or the migrations differ from `schema/`.
    Drift,
    /// A statement of a migration is hazardous or fails on the rows.
    Lint,
    /// An error stopped the command (a syntax error, a failed load).
    Error,
    /// A policy rule on the desired schema: its id and what it asks.
    Policy(&'static str, &'static str),
}

impl Rule {
    /// Its SARIF id.
    fn id(self) -> String {
        match self {
            Rule::Drift => "stratum/drift".into(),
            Rule::Lint => "stratum/lint".into(),
            Rule::Error => "stratum/error".into(),
            Rule::Policy(id, _) => format!("stratum/policy/{id}"),
        }
    }

    /// Its SARIF description.
    fn description(self) -> String {
        match self {
            Rule::Drift => "The database or migrations differ from schema/".into(),
            Rule::Lint => {
                "A migration statement is hazardous or fails on the database's rows".into()
            }
            Rule::Error => "An error in a SQL file stopped stratum".into(),
            Rule::Policy(_, about) => about.to_string(),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id())
    }
}

/// One finding, at a place in the schema when one declares the object.
#[derive(Debug, Clone, Serialize)]
pub struct Annotation {
    /// What found it: a [`Rule`].
    pub rule: Rule,
    /// Error or warning.
    pub level: Level,
    /// The schema file, relative to the project.
    pub file: Option<String>,
    /// 1-based line of the declaring statement (or of the part of it).
    pub line: Option<usize>,
    /// 1-based column, in characters, when the part is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Short title, e.g. `drift: table app.users`.
    pub title: String,
    /// What differs.
    pub message: String,
}

impl Annotation {
    /// A finding at `place` (none: the schema does not say where).
    pub fn at(
        rule: Rule,
        level: Level,
        place: Option<Place>,
        title: String,
        message: String,
    ) -> Annotation {
        Annotation {
            rule,
            level,
            file: place.as_ref().map(|p| p.file.clone()),
            line: place.as_ref().map(|p| p.line),
            column: place.map(|p| p.column),
            title,
            message,
        }
    }
}

/// Finds the statement of a schema that declares an object. Each statement
/// is read once, up front: an index from the names it mentions to the
/// first statement (and the first CREATE) that does, kept for the names of
/// the objects asked about only (a whole 10 000-table schema's names took
/// 60 MB).
pub struct Locator<'a> {
    source: &'a SqlSource,
    /// (which statements, the name) -> the first such statement. Names
    /// from pg_query's DDL table and function lists are kept as written
    /// (`Ddl`), words of the text in lower case (`Word`).
    first: HashMap<(Verb, Key), usize>,
}

/// Which statements naming an object are indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Verb {
    /// Any statement.
    Any,
    /// CREATE statements.
    Create,
    /// GRANT statements.
    Grant,
}

/// A place in the schema: a file as the user sees it, a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ddl(String),
    Word(String),
}

impl<'a> Locator<'a> {
    /// Indexes the statements of `source` that name one of the objects of
    /// `labels` (drift labels, as [`Locator::locate`] takes).
    pub fn new<'l>(
        source: &'a SqlSource,
        labels: impl IntoIterator<Item = &'l str>,
    ) -> Locator<'a> {
        let wanted: HashSet<String> = labels
            .into_iter()
            .filter_map(short_name)
            .map(str::to_lowercase)
            .collect();
        let mut first = HashMap::new();
        for (i, statement) in source.statements.iter().enumerate() {
            let sql = &statement.sql;
            let mut keys: Vec<Key> = words(sql)
                .map(str::to_lowercase)
                .filter(|w| wanted.contains(w))
                .map(Key::Word)
                .collect();
            // An unquoted ASCII name is one of the words, in lower case, as
            // pg_query gives it: parse only where the words matched or a
            // name may be written otherwise.
            if !keys.is_empty() || sql.contains('"') || !sql.is_ascii() {
                if let Ok(parsed) = pg_query::parse(sql, 0) {
                    let ddl = parsed
                        .ddl_tables()
                        .into_iter()
                        .chain(parsed.ddl_functions());
                    keys.extend(
                        ddl.map(|n| n.rsplit('.').next().unwrap_or(&n).to_string())
                            .filter(|n| wanted.contains(&n.to_lowercase()))
                            .map(Key::Ddl),
                    );
                }
            }
            let verb = match words(sql).next().map(str::to_lowercase).as_deref() {
                Some("create") => Some(Verb::Create),
                Some("grant") => Some(Verb::Grant),
                _ => None,
            };
            for key in keys {
                if let Some(verb) = verb {
                    first.entry((verb, key.clone())).or_insert(i);
                }
                first.entry((Verb::Any, key)).or_insert(i);
            }
        }
        Locator { source, first }
    }

    /// The statement that declares the object with drift label `label`
    /// (`table app.users`, `function app.f(integer)`): the first CREATE
    /// naming it, else the first statement naming it.
    fn statement(&self, label: &str) -> Option<usize> {
        let short = short_name(label)?;
        self.first_naming(Verb::Create, short)
            .or_else(|| self.first_naming(Verb::Any, short))
    }

    /// The first statement of `verb` naming `name`.
    fn first_naming(&self, verb: Verb, name: &str) -> Option<usize> {
        let ddl = self.first.get(&(verb, Key::Ddl(name.to_string())));
        let word = self.first.get(&(verb, Key::Word(name.to_lowercase())));
        ddl.into_iter().chain(word).min().copied()
    }

    /// The place of byte `at` of statement `i` (its start when None,
    /// after leading comments). `show` turns a path into what the user sees.
    fn place(
        &self,
        i: usize,
        at: Option<usize>,
        show: &dyn Fn(&std::path::Path) -> String,
    ) -> Place {
        let found = &self.source.statements[i];
        let file = &self.source.files[found.file];
        let start = match at {
            Some(at) => found.offset + at,
            None => first_code(&file.text, found.offset),
        };
        let location = Location::at(file, start);
        Place {
            file: show(&file.path),
            line: location.line,
            column: location.column,
        }
    }

    /// Where the object with drift label `label` is declared.
    pub fn locate(&self, label: &str, show: &dyn Fn(&std::path::Path) -> String) -> Option<Place> {
        Some(self.place(self.statement(label)?, None, show))
    }

    /// Where part `id` (labelled `part`) of the object labelled `owner` is
    /// declared: a column's or a constraint's own line inside its table's
    /// statement (or the ALTER TABLE that adds it), the statement of an
    /// index, trigger or policy, the GRANT on the object for a grant. None
    /// when the schema does not say.
    pub fn locate_part(
        &self,
        owner: &str,
        id: &ObjectId,
        part: &str,
        show: &dyn Fn(&std::path::Path) -> String,
    ) -> Option<Place> {
        let sql = |i: usize| self.source.statements[i].sql.as_str();
        match id {
            ObjectId::Column { table, column } | ObjectId::Default { table, column } => {
                let i = self.statement(owner)?;
                let at = tree::column_at(sql(i), &table.name, column)?;
                Some(self.place(i, Some(at), show))
            }
            ObjectId::Constraint { table, name } => {
                let named = self.first_naming(Verb::Any, name);
                [named, self.statement(owner)]
                    .into_iter()
                    .flatten()
                    .find_map(|i| {
                        let at = tree::constraint_at(sql(i), &table.name, name)?;
                        Some(self.place(i, Some(at), show))
                    })
            }
            ObjectId::Privilege { object, .. } => {
                let short = short_name(&object.label())?.to_string();
                let i = self.first_naming(Verb::Grant, &short)?;
                Some(self.place(i, None, show))
            }
            ObjectId::Index { .. }
            | ObjectId::Trigger { .. }
            | ObjectId::Policy { .. }
            | ObjectId::Rule { .. }
            | ObjectId::Statistics { .. } => self.locate(part, show),
            _ => None,
        }
    }
}

/// The object's own name in a drift label: `users` for `table app.users`,
/// `f` for `function app.f(integer)`.
fn short_name(label: &str) -> Option<&str> {
    let name = label.split_once(' ').map_or(label, |(_, n)| n);
    let name = name.split('(').next().unwrap_or(name).trim();
    let name = name.split(" on ").next().unwrap_or(name);
    let short = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
    (!short.is_empty()).then_some(short)
}

/// The identifiers and keywords of `sql`, unquoted.
fn words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
}

/// The offset of the first character at or after `offset` that is neither
/// white space nor in a `--` comment: where the statement itself begins.
fn first_code(text: &str, mut offset: usize) -> usize {
    loop {
        let rest = &text[offset..];
        let trimmed = rest.trim_start();
        offset += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            offset += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else {
            return offset;
        }
    }
}

/// The finding for an error that stopped a command: at its place when it
/// is an error in a SQL file (`file:line:col`), else without one.
pub fn of_error(error: &anyhow::Error) -> Vec<Annotation> {
    let located = error
        .chain()
        .find_map(|e| e.downcast_ref::<crate::parse::SqlError>());
    let annotation = match located {
        Some(e) => Annotation {
            rule: Rule::Error,
            level: Level::Error,
            file: Some(e.location.path.display().to_string()),
            line: Some(e.location.line),
            column: Some(e.location.column),
            title: "stratum: error in SQL".to_string(),
            message: e.message.clone(),
        },
        None => Annotation {
            rule: Rule::Error,
            level: Level::Error,
            file: None,
            line: None,
            column: None,
            title: "stratum: error".to_string(),
            message: format!("{error:#}"),
        },
    };
    vec![annotation]
}

/// GitHub Actions workflow commands, one per finding.
pub fn github(annotations: &[Annotation]) -> String {
    let escape_data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let escape_prop = |s: &str| escape_data(s).replace(':', "%3A").replace(',', "%2C");
    annotations
        .iter()
        .map(|a| {
            let mut props = Vec::new();
            if let Some(file) = &a.file {
                props.push(format!("file={}", escape_prop(file)));
            }
            if let Some(line) = a.line {
                props.push(format!("line={line}"));
            }
            if let Some(column) = a.column {
                props.push(format!("col={column}"));
            }
            props.push(format!("title={}", escape_prop(&a.title)));
            let command = match a.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            format!(
                "::{command} {}::{}\n",
                props.join(","),
                escape_data(&a.message)
            )
        })
        .collect()
}

/// A SARIF 2.1.0 log of the findings.
pub fn sarif(annotations: &[Annotation]) -> serde_json::Value {
    let mut rules: Vec<Rule> = annotations.iter().map(|a| a.rule).collect();
    rules.sort_by_key(|r| r.id());
    rules.dedup();
    if rules.is_empty() {
        rules.push(Rule::Drift);
    }
    let results: Vec<serde_json::Value> = annotations
        .iter()
        .map(|a| {
            let mut result = serde_json::json!({
                "ruleId": a.rule.id(),
                "level": match a.level { Level::Error => "error", Level::Warning => "warning" },
                "message": { "text": format!("{}: {}", a.title, a.message) },
            });
            if let Some(file) = &a.file {
                let mut location = serde_json::json!({
                    "physicalLocation": { "artifactLocation": { "uri": file } }
                });
                if let Some(line) = a.line {
                    let mut region = serde_json::json!({ "startLine": line });
                    if let Some(column) = a.column {
                        region["startColumn"] = column.into();
                    }
                    location["physicalLocation"]["region"] = region;
                }
                result["locations"] = serde_json::json!([location]);
            }
            result
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "stratum",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/stratum/stratum",
                "rules": rules
                    .iter()
                    .map(|r| serde_json::json!({
                        "id": r.id(),
                        "shortDescription": { "text": r.description() }
                    }))
                    .collect::<Vec<_>>()
            }},
            "results": results
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_commands_escape_their_text() {
        let a = Annotation {
            rule: Rule::Drift,
            level: Level::Error,
            file: Some("schema/app, core.sql".into()),
            line: Some(12),
            column: None,
            title: "drift: table app.users".into(),
            message: "100% different\nsee the plan".into(),
        };
        assert_eq!(
            github(&[a]),
            "::error file=schema/app%2C core.sql,line=12,title=drift%3A table app.users::100%25 different%0Asee the plan\n"
        );
    }

    #[test]
    fn statements_are_found_by_the_object_they_declare() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.sql"),
            "CREATE SCHEMA app;\n\n-- users\nCREATE TABLE app.users (id int);\nCREATE INDEX users_email ON app.users (id);\n\
             CREATE FUNCTION app.f(x integer) RETURNS int LANGUAGE sql AS 'SELECT 1';\n\
             CREATE TABLE app.\"Mixed Case\" (id int);\nCREATE TABLE APP.ORDERS (id int);\n\
             COMMENT ON TABLE app.later IS 'x';\nCREATE TABLE app.later (id int);\n",
        )
        .unwrap();
        let source = crate::parse::read_source(dir.path()).unwrap();
        let labels = [
            "schema app",
            "table app.users",
            "index app.users_email",
            "function app.f(integer)",
            "table app.missing",
            "table app.Mixed Case",
            "table app.orders",
            "table app.later",
        ];
        let locator = Locator::new(&source, labels);
        let show = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
        let at = |label| locator.locate(label, &show).map(|p| p.line);
        assert_eq!(at("schema app"), Some(1));
        assert_eq!(at("table app.users"), Some(4));
        assert_eq!(at("index app.users_email"), Some(5));
        assert_eq!(at("function app.f(integer)"), Some(6));
        assert_eq!(at("table app.missing"), None);
        assert_eq!(at("table app.Mixed Case"), Some(7));
        assert_eq!(at("table app.orders"), Some(8));
        assert_eq!(at("table app.later"), Some(10));
        // Only the objects asked about are indexed.
        assert_eq!(at("table app.users"), Some(4));
        let few = Locator::new(&source, ["table app.orders"]);
        assert_eq!(few.locate("table app.users", &show), None);
    }
}
