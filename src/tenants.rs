//! Schema per tenant: `schema/` holds a tenant's objects once, in a
//! placeholder schema (`tenants.placeholder`, say `tenant`), and each
//! database holds them in many tenant schemas (`tenant_0001`, ...), found
//! by a name pattern or a query. The rest of `schema/` (the shared part)
//! is in each database once.
//!
//! SQL written for the placeholder (migration files, the loaded schema)
//! runs in tenant `T` by its tokens: an identifier naming the placeholder
//! as a qualifier (`tenant.users`) or after `SCHEMA` (`GRANT USAGE ON
//! SCHEMA tenant`), and a string cast to a `reg*` type that starts with it
//! (`'tenant.users_id_seq'::regclass`), become `T`'s; nothing else is
//! touched, so positions (file:line) stay true. Function bodies are text
//! and are not rewritten: refer to the tenant's objects there unqualified
//! (through `search_path`). A statement that names the placeholder belongs
//! to the tenant part, every other one to the shared part; the tenant
//! part's `CREATE SCHEMA` of the placeholder is left out (a tenant's schema
//! exists before it is one).

use anyhow::{bail, Context, Result};
use pg_query::protobuf::{KeywordKind, Token};
use serde::Deserialize;
use tokio_postgres::Client;

use crate::parse::SqlFile;

/// `tenants:` in stratum.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsConfig {
    /// The schema `schema/` holds a tenant's objects in.
    pub placeholder: String,
    /// The tenant schemas: a name pattern (`*`, `?`).
    pub schemas: Option<String>,
    /// The tenant schemas: a query whose first column names them.
    pub query: Option<String>,
}

/// The tenants' settings, checked.
#[derive(Debug, Clone)]
pub struct Tenants {
    /// The placeholder schema.
    pub placeholder: String,
    /// How a database's tenant schemas are found.
    pub find: Find,
}

/// How tenant schemas are found.
#[derive(Debug, Clone)]
pub enum Find {
    /// Schemas whose names match (`*`, `?`).
    Pattern(String),
    /// The first column of this query's rows.
    Query(String),
}

impl Tenants {
    /// `tenants:` checked: a placeholder and one of `schemas` / `query`.
    pub fn from_config(config: &TenantsConfig) -> Result<Tenants> {
        let find = match (&config.schemas, &config.query) {
            (Some(pattern), None) => Find::Pattern(pattern.clone()),
            (None, Some(query)) => Find::Query(query.clone()),
            _ => bail!("tenants: give one of schemas (a name pattern) or query"),
        };
        if config.placeholder.is_empty() {
            bail!("tenants.placeholder: the schema schema/ holds a tenant's objects in");
        }
        Ok(Tenants {
            placeholder: config.placeholder.clone(),
            find,
        })
    }

    /// The tenant schemas of the database behind `client`, by name (never
    /// the placeholder).
    pub async fn list(&self, client: &Client) -> Result<Vec<String>> {
        let rows = match &self.find {
            Find::Pattern(pattern) => client
                .query(
                    "SELECT nspname::text FROM pg_catalog.pg_namespace \
                     WHERE nspname LIKE $1 AND nspname <> $2 ORDER BY 1",
                    &[&like(pattern), &self.placeholder],
                )
                .await
                .context("listing the tenant schemas")?,
            Find::Query(query) => client
                .query(query.as_str(), &[])
                .await
                .context("listing the tenant schemas (tenants.query)")?,
        };
        let mut names: Vec<String> = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row
                .try_get(0)
                .context("tenants.query: its first column must be text")?;
            if name != self.placeholder && !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// A `*` / `?` pattern as LIKE's.
fn like(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// What one run of a project with tenants works on.
#[derive(Debug, Clone)]
pub struct TenantRun {
    /// The placeholder schema.
    pub placeholder: String,
    /// The shared part, or one tenant's.
    pub part: Part,
    /// The schema that part should hold, made for it (for `check`,
    /// `plan`, `apply`); None for the migration commands.
    pub desired: Option<std::sync::Arc<crate::kinds::Catalog>>,
    /// The database's tenant schemas.
    pub tenant_schemas: std::sync::Arc<Vec<String>>,
}

/// Which part of SQL written for the placeholder to keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The statements that do not name the placeholder, as written.
    Shared,
    /// The statements that name it, made tenant `schema`'s.
    Tenant(String),
}

/// The byte ranges in `sql` that name schema `placeholder`, and what each
/// is (an identifier, or the start of a `reg*` string).
fn references(sql: &str, placeholder: &str) -> Vec<(usize, usize, bool)> {
    let Ok(scan) = pg_query::scan(sql) else {
        return Vec::new();
    };
    let tokens = &scan.tokens;
    let text = |i: usize| -> &str {
        tokens
            .get(i)
            .and_then(|t| sql.get(t.start as usize..t.end as usize))
            .unwrap_or("")
    };
    let names = |word: &str| crate::sql::folds_to(word, placeholder);
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let is_name = t.token == Token::Ident as i32
            || (t.keyword_kind != KeywordKind::NoKeyword as i32
                && t.keyword_kind != KeywordKind::ReservedKeyword as i32);
        if is_name && names(text(i)) {
            let qualifies = tokens.get(i + 1).map(|n| n.token) == Some(Token::Ascii46 as i32);
            let after_schema = i > 0
                && [Token::Schema as i32, Token::Schemas as i32].contains(&tokens[i - 1].token);
            if qualifies || after_schema {
                out.push((t.start as usize, t.end as usize, false));
            }
        } else if t.token == Token::Sconst as i32
            && tokens.get(i + 1).map(|n| n.token) == Some(Token::Typecast as i32)
            && text(i + 2).to_lowercase().starts_with("reg")
        {
            let literal = text(i);
            for prefix in [format!("'{placeholder}."), format!("'\"{placeholder}\".")] {
                if literal.starts_with(&prefix) {
                    let start = t.start as usize + 1;
                    out.push((start, start + prefix.len() - 2, true));
                }
            }
        }
    }
    out
}

/// True when `sql` names schema `placeholder`.
pub fn names_placeholder(sql: &str, placeholder: &str) -> bool {
    !references(sql, placeholder).is_empty()
}

/// `sql` with its references to `placeholder` made `schema`'s.
pub fn rewrite(sql: &str, placeholder: &str, schema: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut at = 0;
    for (start, end, in_string) in references(sql, placeholder) {
        out.push_str(&sql[at..start]);
        let name = crate::sql::ident(schema);
        if in_string {
            // Inside a string literal: its quotes doubled.
            out.push_str(&name.replace('\'', "''"));
        } else {
            out.push_str(&name);
        }
        at = end;
    }
    out.push_str(&sql[at..]);
    out
}

/// True for `CREATE SCHEMA placeholder` (and `DROP SCHEMA placeholder`):
/// a tenant's schema is there before it is a tenant, and stays.
fn is_placeholder_schema_statement(sql: &str, placeholder: &str) -> bool {
    use pg_query::NodeEnum;
    match crate::parse::first_statement(sql) {
        Some(NodeEnum::CreateSchemaStmt(s)) => s.schemaname == placeholder,
        Some(NodeEnum::DropStmt(s)) => {
            s.remove_type == pg_query::protobuf::ObjectType::ObjectSchema as i32
                && s.objects
                    .iter()
                    .any(|o| matches!(&o.node, Some(NodeEnum::String(n)) if n.sval == placeholder))
        }
        _ => false,
    }
}

/// The `part` of a file written for the placeholder: the other part's
/// statements blanked (their lines kept, so that positions stay true),
/// the tenant part's references made the tenant's.
pub fn part_of(file: &SqlFile, placeholder: &str, part: &Part) -> Result<SqlFile> {
    let statements = crate::parse::file_statements(file, 0)
        .map_err(|e| anyhow::anyhow!("{}", e))
        .with_context(|| format!("reading {}", file.path.display()))?;
    let mut out = String::with_capacity(file.text.len());
    let mut at = 0;
    for s in statements {
        let end = s.offset + s.sql.len();
        let tenants = names_placeholder(&s.sql, placeholder);
        out.push_str(&file.text[at..s.offset]);
        let keep = match part {
            Part::Shared => !tenants,
            Part::Tenant(_) => tenants && !is_placeholder_schema_statement(&s.sql, placeholder),
        };
        // The statement's `;` goes with it.
        let end_with = match file.text[end..].starts_with(';') {
            true => end + 1,
            false => end,
        };
        match (keep, part) {
            (true, Part::Tenant(schema)) => {
                out.push_str(&rewrite(&s.sql, placeholder, schema));
                out.push_str(&file.text[end..end_with]);
            }
            (true, Part::Shared) => out.push_str(&file.text[s.offset..end_with]),
            (false, _) => out.push_str(&blank(&file.text[s.offset..end_with])),
        }
        at = end_with;
    }
    out.push_str(&file.text[at..]);
    Ok(SqlFile {
        path: file.path.clone(),
        text: out,
    })
}

/// `text` as spaces, its line breaks kept.
fn blank(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_qualifiers_schema_names_and_reg_strings() {
        let sql = "CREATE TABLE tenant.users (id bigint DEFAULT nextval('tenant.users_id_seq'::regclass), \
                   tenant text, note text DEFAULT 'tenant.x')";
        assert_eq!(
            rewrite(sql, "tenant", "tenant_07"),
            "CREATE TABLE tenant_07.users (id bigint DEFAULT nextval('tenant_07.users_id_seq'::regclass), \
             tenant text, note text DEFAULT 'tenant.x')"
        );
        assert_eq!(
            rewrite("GRANT USAGE ON SCHEMA tenant TO app", "tenant", "Acme Co"),
            "GRANT USAGE ON SCHEMA \"Acme Co\" TO app"
        );
        assert_eq!(
            rewrite(
                "SELECT \"tenant\".f(tenant.t.c) FROM tenant.t",
                "tenant",
                "t1"
            ),
            "SELECT t1.f(t1.t.c) FROM t1.t"
        );
        assert!(!names_placeholder(
            "CREATE TABLE public.accounts (tenant text)",
            "tenant"
        ));
        assert!(names_placeholder(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA tenant GRANT SELECT ON TABLES TO app",
            "tenant"
        ));
    }

    #[test]
    fn a_file_splits_into_its_shared_and_tenant_parts_keeping_lines() {
        let file = SqlFile {
            path: "m.sql".into(),
            text:
                "-- both\nCREATE SCHEMA tenant;\nCREATE TABLE public.plans (id int);\n\
                   CREATE TABLE tenant.users (\n  id int,\n  plan int REFERENCES public.plans\n);\n"
                    .into(),
        };
        let shared = part_of(&file, "tenant", &Part::Shared).unwrap();
        assert_eq!(shared.text.lines().count(), file.text.lines().count());
        assert!(shared.text.contains("CREATE TABLE public.plans (id int);"));
        assert!(!shared.text.contains("users") && !shared.text.contains("SCHEMA"));
        let tenant = part_of(&file, "tenant", &Part::Tenant("t_1".into())).unwrap();
        assert_eq!(tenant.text.lines().count(), file.text.lines().count());
        assert!(tenant.text.contains("CREATE TABLE t_1.users (\n  id int,"));
        assert!(!tenant.text.contains("plans (id") && !tenant.text.contains("SCHEMA"));
        assert_eq!(
            tenant.text.lines().position(|l| l.contains("t_1.users")),
            file.text.lines().position(|l| l.contains("tenant.users"))
        );
    }

    #[test]
    fn patterns_become_like_patterns() {
        assert_eq!(like("tenant_*"), "tenant\\_%");
        assert_eq!(like("t?"), "t_");
    }
}
