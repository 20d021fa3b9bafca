//! Turns the two sources of a diff into catalogs.
//!
//! A URL is introspected directly. A SQL source (and `empty`) is loaded into
//! a scratch database and introspected by the same code, so both sides carry
//! PostgreSQL's canonical text.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::conninfo;
use crate::introspect::introspect;
use crate::parse::{self, char_to_byte, Location, SqlError, SqlSource};
use crate::scratch::ScratchServer;

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A live database.
    Url(String),
    /// A `.sql` file or a directory of them.
    Sql(PathBuf),
    /// Nothing at all: an empty database.
    Empty,
}

impl Source {
    /// Reads a `--from` / `--to` argument.
    pub fn parse(arg: &str) -> Result<Source> {
        if arg == "empty" {
            return Ok(Source::Empty);
        }
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            return Ok(Source::Url(arg.to_string()));
        }
        let path = PathBuf::from(arg);
        if !path.exists() {
            bail!(
                "{arg}: no such file or directory (expected a postgres:// URL, a .sql file, \
                 a directory of .sql files, or `empty`)"
            );
        }
        Ok(Source::Sql(path))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Url(url) => f.write_str(&conninfo::redact(url)),
            Source::Sql(path) => write!(f, "{}", path.display()),
            Source::Empty => f.write_str("empty"),
        }
    }
}

/// A source after its files are parsed, ready to load.
enum Ready {
    Url(Box<tokio_postgres::Config>),
    Sql(SqlSource),
    Empty,
}

/// Loads both sides. SQL is parsed before any server is started, so a syntax
/// error costs nothing; the scratch server is started only when a side needs
/// it, at the live database's major version when there is one.
pub async fn load_pair(
    from: &Source,
    to: &Source,
    dev_url: Option<&str>,
) -> Result<(Catalog, Catalog)> {
    let ready_from = prepare(from)?;
    let ready_to = prepare(to)?;
    let mut live_major = None;
    let mut from_cat = None;
    let mut to_cat = None;
    for (ready, slot) in [(&ready_from, &mut from_cat), (&ready_to, &mut to_cat)] {
        if let Ready::Url(config) = ready {
            let mut client = conninfo::connect(config).await?;
            let catalog = introspect(&mut client, true).await?;
            live_major = Some((catalog.server_version / 10000) as u32);
            *slot = Some(catalog);
        }
    }
    if from_cat.is_none() || to_cat.is_none() {
        let server = ScratchServer::start(dev_url, live_major).await?;
        for (ready, slot) in [(&ready_from, &mut from_cat), (&ready_to, &mut to_cat)] {
            if slot.is_none() {
                let source = match ready {
                    Ready::Sql(source) => Some(source),
                    _ => None,
                };
                *slot = Some(load_scratch(&server, source).await?);
            }
        }
    }
    Ok((from_cat.expect("loaded"), to_cat.expect("loaded")))
}

fn prepare(source: &Source) -> Result<Ready> {
    Ok(match source {
        Source::Url(url) => Ready::Url(Box::new(conninfo::config(url)?)),
        Source::Sql(path) => Ready::Sql(parse::read_source(path)?),
        Source::Empty => Ready::Empty,
    })
}

/// Loads `source` (or nothing) into a new scratch database and reads it back.
async fn load_scratch(server: &ScratchServer, source: Option<&SqlSource>) -> Result<Catalog> {
    let db = server.create_db().await?;
    let result = async {
        let mut client = db.connect().await?;
        if let Some(source) = source {
            load_sql(&client, source).await?;
        }
        introspect(&mut client, false).await
    }
    .await;
    let dropped = db.drop_db().await;
    let catalog = result?;
    dropped?;
    Ok(catalog)
}

/// SQLSTATEs that mean "something this statement refers to is not there
/// yet": the statement is retried after the others.
fn refers_to_missing(code: &SqlState) -> bool {
    [
        SqlState::UNDEFINED_TABLE,
        SqlState::UNDEFINED_OBJECT,
        SqlState::INVALID_SCHEMA_NAME,
        SqlState::UNDEFINED_FUNCTION,
        SqlState::UNDEFINED_COLUMN,
        SqlState::INVALID_FOREIGN_KEY,
        SqlState::WRONG_OBJECT_TYPE,
    ]
    .contains(code)
}

/// Runs the statements of `source`, each on its own, retrying those that
/// refer to objects made by later statements until no progress is made.
/// Roles the SQL names but the server lacks are created as stubs.
pub async fn load_sql(client: &Client, source: &SqlSource) -> Result<()> {
    let mut pending: Vec<usize> = (0..source.statements.len()).collect();
    while !pending.is_empty() {
        let mut failed: Vec<(usize, tokio_postgres::Error)> = Vec::new();
        for &i in &pending {
            let stmt = &source.statements[i];
            let mut outcome = client.batch_execute(&stmt.sql).await;
            if let Some(role) = outcome.as_ref().err().and_then(missing_role) {
                client
                    .batch_execute(&format!("CREATE ROLE {} NOLOGIN", crate::sql::ident(&role)))
                    .await
                    .with_context(|| format!("creating stub role {role} on the scratch server"))?;
                outcome = client.batch_execute(&stmt.sql).await;
            }
            match outcome {
                Ok(()) => {}
                Err(e) if e.code().is_some_and(refers_to_missing) => failed.push((i, e)),
                Err(e) => return Err(located(source, i, &e).into()),
            }
        }
        if failed.len() == pending.len() {
            // No progress: report the first failure in file order.
            let (i, e) = failed
                .iter()
                .min_by_key(|(i, _)| (source.statements[*i].file, source.statements[*i].offset))
                .expect("failed is not empty");
            return Err(located(source, *i, e).into());
        }
        pending = failed.into_iter().map(|(i, _)| i).collect();
    }
    Ok(())
}

fn missing_role(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    if db.code() != &SqlState::UNDEFINED_OBJECT {
        return None;
    }
    let rest = db.message().strip_prefix("role \"")?;
    Some(rest.strip_suffix("\" does not exist")?.to_string())
}

/// The server's error on statement `i`, at the position it names.
fn located(source: &SqlSource, i: usize, e: &tokio_postgres::Error) -> SqlError {
    let stmt = &source.statements[i];
    let file = &source.files[stmt.file];
    let (message, position) = match e.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_string();
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" ({detail})"));
            }
            let position = match db.position() {
                Some(tokio_postgres::error::ErrorPosition::Original(p)) => {
                    char_to_byte(&stmt.sql, *p as usize)
                }
                _ => 0,
            };
            (message, position)
        }
        None => (e.to_string(), 0),
    };
    // Skip leading whitespace and comments the split kept with the statement.
    let lead = if position == 0 {
        stmt.sql.len() - stmt.sql.trim_start().len()
    } else {
        position
    };
    SqlError {
        location: Location::at(file, stmt.offset + lead),
        message,
    }
}
