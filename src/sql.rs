//! SQL text helpers: the only place identifiers and literals are quoted.
//!
//! Every name that enters emitted SQL goes through [`ident`] or a
//! [`QualName`]'s `Display`, so quoting rules live in one place.

use std::fmt;

use serde::Serialize;

/// Quotes an identifier the way PostgreSQL's `quote_ident` does: bare when it
/// is a lower-case identifier that is not a keyword, double-quoted otherwise.
pub fn ident(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_keyword(name);
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Quotes a string literal, using the `E''` form only when a backslash needs it.
pub fn literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if body.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// True for words that PostgreSQL's scanner treats as keywords of any kind
/// other than unreserved; those must be quoted when used as identifiers.
///
/// A scan costs microseconds and every name a plan prints is checked, so
/// answers are remembered (per thread), and a word with a digit is never a
/// keyword (none has one).
fn is_keyword(word: &str) -> bool {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static KNOWN: RefCell<HashMap<String, bool>> = RefCell::new(HashMap::new());
    }
    if word.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(known) = KNOWN.with(|k| k.borrow().get(word).copied()) {
        return known;
    }
    let keyword = scan_keyword(word);
    KNOWN.with(|k| k.borrow_mut().insert(word.to_string(), keyword));
    keyword
}

/// The names `sql` spells as identifiers (or as keywords that may be
/// names), as PostgreSQL folds them: unquoted ones lower-cased, quoted
/// ones as written. What a statement may refer to, without parsing it.
pub fn identifiers(sql: &str) -> std::collections::BTreeSet<String> {
    use pg_query::protobuf::{KeywordKind, Token};
    let Ok(scan) = pg_query::scan(sql) else {
        return Default::default();
    };
    scan.tokens
        .iter()
        .filter(|t| {
            t.token == Token::Ident as i32
                || (t.keyword_kind != KeywordKind::NoKeyword as i32
                    && t.keyword_kind != KeywordKind::ReservedKeyword as i32)
        })
        .filter_map(|t| sql.get(t.start as usize..t.end as usize))
        .map(
            |word| match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => word.to_lowercase(),
            },
        )
        .collect()
}

/// True when `word`, an identifier as written (quoted or not), is `name`
/// as PostgreSQL folds it.
pub fn folds_to(word: &str, name: &str) -> bool {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\"") == name,
        None => word.to_lowercase() == name,
    }
}

/// `sql` (an index or constraint definition as PostgreSQL prints it) with
/// its references to column `from` made to `to`: every word that names
/// `from` and stands alone, not qualified, called, or a type after `::`,
/// `AS` or `COLLATE`. None when `sql` does not scan.
pub fn rename_column(sql: &str, from: &str, to: &str) -> Option<String> {
    use pg_query::protobuf::KeywordKind;
    let scan = pg_query::scan(sql).ok()?;
    let word = |i: usize| -> &str {
        scan.tokens
            .get(i)
            .and_then(|t| sql.get(t.start as usize..t.end as usize))
            .unwrap_or("")
    };
    let names = |w: &str| folds_to(w, from);
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (i, t) in scan.tokens.iter().enumerate() {
        let reserved = t.keyword_kind == KeywordKind::ReservedKeyword as i32;
        let w = word(i);
        let before = if i > 0 { word(i - 1) } else { "" };
        let stands_alone = !matches!(before, "." | "::")
            && !before.eq_ignore_ascii_case("as")
            && !before.eq_ignore_ascii_case("collate")
            && !matches!(word(i + 1), "(" | ".");
        if !reserved && names(w) && stands_alone {
            out.push_str(&sql[at..t.start as usize]);
            out.push_str(&ident(to));
            at = t.end as usize;
        }
    }
    out.push_str(&sql[at..]);
    Some(out)
}

/// [`is_keyword`], asked of PostgreSQL's scanner.
fn scan_keyword(word: &str) -> bool {
    match pg_query::scan(word) {
        Ok(scan) => scan.tokens.iter().any(|t| {
            use pg_query::protobuf::KeywordKind;
            t.keyword_kind != KeywordKind::NoKeyword as i32
                && t.keyword_kind != KeywordKind::UnreservedKeyword as i32
        }),
        Err(_) => true,
    }
}

/// A schema-qualified name of a relation, type, sequence or routine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct QualName {
    /// The schema (namespace) the object lives in.
    pub schema: String,
    /// The object's own name.
    pub name: String,
}

impl QualName {
    /// Builds a name from its two parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// The unquoted `schema.name`, for human-facing summaries.
    pub fn plain(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// Renders the quoted, qualified form ready for SQL.
impl fmt::Display for QualName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", ident(&self.schema), ident(&self.name))
    }
}

/// `SET (a=1)` and `RESET (b)`, each present only when needed: the storage
/// parameters (`key=value` entries, as `reloptions` and `attoptions` keep
/// them) that turn `from` into `to`.
pub fn storage_parameters(from: &[String], to: &[String]) -> Vec<String> {
    let key = |o: &String| o.split('=').next().unwrap_or_default().to_string();
    let set: Vec<&str> = to
        .iter()
        .filter(|o| !from.contains(o))
        .map(|o| o.as_str())
        .collect();
    let reset: Vec<String> = from
        .iter()
        .map(key)
        .filter(|k| !to.iter().any(|o| key(o) == *k))
        .collect();
    let mut parts = Vec::new();
    if !set.is_empty() {
        parts.push(format!("SET ({})", set.join(", ")));
    }
    if !reset.is_empty() {
        parts.push(format!("RESET ({})", reset.join(", ")));
    }
    parts
}

/// `OPTIONS (key 'value', ...)` for a generic options array as the catalogs
/// keep it (`key=value` entries), as foreign data wrappers, servers, user
/// mappings and foreign tables take it; empty when there are none.
pub fn options_clause(options: &[String]) -> String {
    if options.is_empty() {
        return String::new();
    }
    let items: Vec<String> = options
        .iter()
        .map(|o| {
            let (key, value) = split_option(o);
            format!("{} {}", ident(key), literal(value))
        })
        .collect();
    format!("OPTIONS ({})", items.join(", "))
}

/// `OPTIONS (ADD k 'v', SET k 'v', DROP k)`: the ALTER clause that turns the
/// generic options `from` into `to`; None when they hold the same entries.
pub fn options_change(from: &[String], to: &[String]) -> Option<String> {
    let old: Vec<(&str, &str)> = from.iter().map(|o| split_option(o)).collect();
    let new: Vec<(&str, &str)> = to.iter().map(|o| split_option(o)).collect();
    let mut items = Vec::new();
    for (key, _) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            items.push(format!("DROP {}", ident(key)));
        }
    }
    for (key, value) in &new {
        match old.iter().find(|(k, _)| k == key) {
            Some((_, v)) if v == value => {}
            Some(_) => items.push(format!("SET {} {}", ident(key), literal(value))),
            None => items.push(format!("ADD {} {}", ident(key), literal(value))),
        }
    }
    (!items.is_empty()).then(|| format!("OPTIONS ({})", items.join(", ")))
}

/// Generic options in a fixed order: PostgreSQL keeps them as written, but
/// their order means nothing, so both sides are compared sorted.
pub fn sorted_options(mut options: Vec<String>) -> Vec<String> {
    options.sort();
    options
}

/// `key=value` split at its first `=` (values may hold more of them).
fn split_option(option: &str) -> (&str, &str) {
    option.split_once('=').unwrap_or((option, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_identifiers_as_postgres_folds_them() {
        let names = identifiers(
            "CREATE INDEX i ON s.t USING btree (\"Name\", lower(email)) WHERE (\"a\"\"b\" <> ''::text)",
        );
        for name in ["Name", "email", "a\"b", "lower", "s", "t", "i"] {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("where") && !names.contains("name"));
    }

    #[test]
    fn renames_a_column_where_it_stands_as_one() {
        let renamed = |sql: &str| rename_column(sql, "status", "status_stratum_new").unwrap();
        assert_eq!(
            renamed(
                "CREATE INDEX t_status_idx ON app.t USING btree (status, lower(status)) \
                 WHERE (status <> 'status'::app.status)"
            ),
            "CREATE INDEX t_status_idx ON app.t USING btree (status_stratum_new, \
             lower(status_stratum_new)) WHERE (status_stratum_new <> 'status'::app.status)"
        );
        assert_eq!(
            renamed("CHECK ((status)::text <> ''::status) NOT VALID"),
            "CHECK ((status_stratum_new)::text <> ''::status) NOT VALID"
        );
        assert_eq!(
            rename_column("UNIQUE (\"Id\", id)", "Id", "new id").unwrap(),
            "UNIQUE (\"new id\", id)"
        );
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("user_2"), "user_2");
        assert_eq!(ident("Users"), "\"Users\"");
        assert_eq!(ident("select"), "\"select\"");
        assert_eq!(ident("order items"), "\"order items\"");
        assert_eq!(ident("na\u{ef}ve"), "\"na\u{ef}ve\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("2fa"), "\"2fa\"");
        // Unreserved keywords stay bare, as quote_ident leaves them.
        assert_eq!(ident("name"), "name");
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn generic_options_add_set_and_drop() {
        let from = vec!["host=a".to_string(), "port=5432".to_string()];
        let to = vec!["host=b=c".to_string(), "dbname=x".to_string()];
        assert_eq!(options_clause(&to), "OPTIONS (host 'b=c', dbname 'x')");
        assert_eq!(
            options_change(&from, &to).unwrap(),
            "OPTIONS (DROP port, SET host 'b=c', ADD dbname 'x')"
        );
        assert_eq!(options_change(&from, &from), None);
        assert_eq!(options_clause(&[]), "");
    }
}
