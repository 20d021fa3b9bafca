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

use crate::catalog_cache::{CatalogCache, Key};
use crate::conninfo;
use crate::introspect::{self, introspect_target};
use crate::kinds::Catalog;
use crate::migrations::Migration;
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

/// Something to read a catalog from: a source, or a migrations directory
/// replayed in order.
#[derive(Debug, Clone)]
pub enum Side {
    /// A `--from`/`--to` style source.
    Source(Source),
    /// Migrations, replayed one after the other into a scratch database.
    Migrations(Vec<Migration>),
    /// SQL text, named for error messages (a catalog's DDL, for a proof).
    Text(String, String),
    /// A side loaded into a scratch database, then these statements run
    /// there before it is read (the renames of `-- stratum:renamed-from`,
    /// undone on the desired side).
    Then(Box<Side>, Vec<String>),
}

/// Where SQL sources are loaded.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// A server where stratum may create and drop databases; the embedded
    /// cluster when None.
    pub dev_url: Option<String>,
    /// Accept a scratch server of another major version than the target's.
    pub any_major: bool,
}

/// A side after its files are parsed, ready to load.
enum Ready {
    Url(Box<conninfo::Target>),
    Sql(SqlSource),
    Empty,
    /// One source per migration, statements in file order.
    Replay(Vec<SqlSource>),
    /// A side, then statements.
    Then(Box<Ready>, Vec<String>),
}

/// Loads both sides. SQL is parsed before any server is started, so a syntax
/// error costs nothing; the scratch server is started only when a side needs
/// it, at the live database's major version when there is one.
pub async fn load_pair(
    from: &Source,
    to: &Source,
    scratch: &Scratch,
) -> Result<(Catalog, Catalog)> {
    let mut catalogs = load_sides(
        &[Side::Source(from.clone()), Side::Source(to.clone())],
        scratch,
    )
    .await?;
    let to_cat = catalogs.pop().expect("two sides");
    Ok((catalogs.pop().expect("two sides"), to_cat))
}

/// Loads any number of sides, in order, sharing one scratch server.
pub async fn load_sides(sides: &[Side], scratch: &Scratch) -> Result<Vec<Catalog>> {
    Ok(load_sides_keeping(sides, scratch, None).await?.0)
}

/// [`load_sides`], keeping the scratch database that side `keep` was
/// loaded into for more work (a proof on the state it holds): None when
/// that side came from the catalog cache or is a live database.
pub async fn load_sides_keeping(
    sides: &[Side],
    scratch: &Scratch,
    keep: Option<usize>,
) -> Result<(Vec<Catalog>, Option<Built>)> {
    let ready: Vec<Ready> = sides.iter().map(prepare).collect::<Result<_>>()?;
    // Live databases are read at the same time, and so are the scratch
    // loads; errors are reported in the order of `sides`, whichever came
    // first.
    let urls = ready.iter().filter(|r| matches!(r, Ready::Url(_))).count();
    let share = |n: usize| (introspect::connections() / n.max(1)).max(1);
    let live = futures_util::future::join_all(ready.iter().map(|r| async move {
        match r {
            Ready::Url(target) => Some(introspect_target(target, true, share(urls)).await),
            _ => None,
        }
    }))
    .await;
    let mut catalogs: Vec<Option<Catalog>> = Vec::new();
    for read in live {
        catalogs.push(read.transpose()?);
    }
    let live_major = catalogs
        .iter()
        .flatten()
        .map(|c| (c.server_version / 10000) as u32)
        .next_back();
    let (sides_at, scratch_sides): (Vec<usize>, Vec<&Ready>) = ready
        .iter()
        .zip(&catalogs)
        .enumerate()
        .filter(|(_, (_, slot))| slot.is_none())
        .map(|(i, (r, _))| (i, r))
        .unzip();
    let keep = keep.and_then(|k| sides_at.iter().position(|&i| i == k));
    let (loaded, kept) = load_scratch_sides(&scratch_sides, scratch, live_major, keep).await?;
    let mut loaded = loaded.into_iter();
    for slot in catalogs.iter_mut().filter(|slot| slot.is_none()) {
        *slot = loaded.next();
    }
    let catalogs = catalogs.into_iter().map(|c| c.expect("loaded")).collect();
    Ok((catalogs, kept))
}

fn prepare(side: &Side) -> Result<Ready> {
    Ok(match side {
        Side::Then(side, statements) => Ready::Then(Box::new(prepare(side)?), statements.clone()),
        Side::Source(Source::Url(url)) => Ready::Url(Box::new(conninfo::config(url)?)),
        Side::Source(Source::Sql(path)) => Ready::Sql(parse::read_source(path)?),
        Side::Source(Source::Empty) => Ready::Empty,
        Side::Text(name, text) => {
            let file = parse::SqlFile {
                path: PathBuf::from(name),
                text: text.clone(),
            };
            Ready::Sql(SqlSource {
                statements: parse::file_statements(&file, 0)?,
                files: vec![file],
            })
        }
        Side::Migrations(migrations) => Ready::Replay(
            migrations
                .iter()
                .map(|m| {
                    Ok(SqlSource {
                        statements: parse::file_statements(&m.up, 0)?,
                        files: vec![m.up.clone()],
                    })
                })
                .collect::<Result<_>>()?,
        ),
    })
}

/// Loads `source` into a scratch server of PostgreSQL `major` and reads it
/// back: the desired side for databases of that major (a fleet may run
/// several).
pub async fn load_for_major(source: &Source, scratch: &Scratch, major: u32) -> Result<Catalog> {
    let ready = prepare(&Side::Source(source.clone()))?;
    let (mut loaded, _) = load_scratch_sides(&[&ready], scratch, Some(major), None).await?;
    Ok(loaded.pop().expect("one side"))
}

/// Loads `ready` into scratch databases of PostgreSQL `major` (any when
/// None), at the same time, and reads each back; a side the catalog cache
/// holds is not loaded, and when it holds them all no server is started.
/// Errors come in the order of `ready`. The database of side `keep`, when
/// it was loaded, is kept and returned with its server.
async fn load_scratch_sides(
    ready: &[&Ready],
    scratch: &Scratch,
    major: Option<u32>,
    keep: Option<usize>,
) -> Result<(Vec<Catalog>, Option<Built>)> {
    let cached = match CatalogCache::open() {
        Some(cache) => server_key(scratch, major).await.map(|key| (cache, key)),
        None => None,
    };
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut catalogs: Vec<Option<Catalog>> = Vec::new();
    for r in ready {
        let (key, hit) = match &cached {
            Some((cache, server)) => {
                let mut key = Key::new(server);
                add_to_key(&mut key, r);
                let (key, hit) = cache.get(key);
                (Some(key), hit)
            }
            None => (None, None),
        };
        keys.push(key);
        catalogs.push(hit);
    }
    let missing: Vec<usize> = (0..ready.len())
        .filter(|&i| catalogs[i].is_none())
        .collect();
    if missing.is_empty() && !ready.is_empty() {
        crate::scratch::remove_dead_cluster_dirs();
    }
    let mut built = None;
    if !missing.is_empty() {
        let server =
            ScratchServer::start(scratch.dev_url.as_deref(), major, scratch.any_major).await?;
        let share = (introspect::connections() / missing.len()).max(1);
        let loads = futures_util::future::join_all(
            missing
                .iter()
                .map(|&i| load_scratch(&server, ready[i], share, keep == Some(i))),
        )
        .await;
        let mut kept = None;
        let mut failed = None;
        for (i, loaded) in missing.into_iter().zip(loads) {
            match loaded {
                Ok((catalog, db)) => {
                    if let (Some((cache, _)), Some(key)) = (&cached, &keys[i]) {
                        cache.put(key, &catalog);
                    }
                    catalogs[i] = Some(catalog);
                    kept = kept.or(db);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(db) = kept {
            built = Some(Built::open(server, db).await?);
        }
        if let Some(e) = failed {
            if let Some(built) = built {
                built.finish().await;
            }
            return Err(e);
        }
    }
    let catalogs = catalogs.into_iter().map(|c| c.expect("loaded")).collect();
    Ok((catalogs, built))
}

/// What identifies the scratch server for the catalog cache's key: the
/// embedded cluster's binaries (their directory and full version), or the
/// `--dev-url` server (see [`crate::scratch::dev_identity`]). None, and no
/// cache, when the binaries are not found or are of another major than the
/// target's, or the dev server cannot say: the server's start reports why.
async fn server_key(scratch: &Scratch, major: Option<u32>) -> Option<String> {
    let (found, key) = match &scratch.dev_url {
        Some(url) => crate::scratch::dev_identity(url).await?,
        None => {
            let bins = crate::scratch::find_binaries(major).ok()?;
            let key = format!("{} {}", bins.bindir.display(), bins.version);
            (bins.major, key)
        }
    };
    (scratch.any_major || major.is_none_or(|m| m == found)).then_some(key)
}

/// Feeds what `ready` loads into a cache key.
fn add_to_key(key: &mut Key, ready: &Ready) {
    let source = |key: &mut Key, source: &SqlSource| {
        // Files by their text, in load order: where they lie does not change
        // what they load, so a copy of the project elsewhere (a worktree, a
        // CI checkout) finds the same entries.
        key.add(b"source");
        for file in &source.files {
            key.add(file.text.as_bytes());
        }
    };
    match ready {
        Ready::Url(_) => key.add(b"url"),
        Ready::Empty => key.add(b"empty"),
        Ready::Sql(sql) => source(key, sql),
        Ready::Replay(sources) => {
            key.add(b"replay");
            for sql in sources {
                source(key, sql);
            }
        }
        Ready::Then(inner, then) => {
            key.add(b"then");
            add_to_key(key, inner);
            for sql in then {
                key.add(sql.as_bytes());
            }
        }
    }
}

/// The renames that `-- stratum:renamed-from` in the desired side asks for
/// against `current`, and the desired catalog to plan the other changes
/// against: the desired side loaded again with those renames undone (at the
/// same major as `desired`); None when no rename applies. The catalog is
/// unfiltered, as [`load_sides`] returns it.
pub async fn undo_renames(
    side: &Side,
    current: &Catalog,
    desired: &Catalog,
    scratch: &Scratch,
) -> Result<(Option<Catalog>, crate::renames::Renames)> {
    let Side::Source(Source::Sql(path)) = side else {
        return Ok((None, crate::renames::Renames::default()));
    };
    let source = parse::read_source(path)?;
    if !crate::renames::any(&source) {
        return Ok((None, crate::renames::Renames::default()));
    }
    let renames = crate::renames::resolve(&source, current, desired)?;
    if renames.changes.is_empty() {
        return Ok((None, renames));
    }
    let ready = Ready::Then(Box::new(Ready::Sql(source)), renames.undo.clone());
    let major = (desired.server_version / 10000) as u32;
    let (mut undone, _) = load_scratch_sides(&[&ready], scratch, Some(major), None)
        .await
        .context("undoing the renames of -- stratum:renamed-from on the schema")?;
    Ok((undone.pop(), renames))
}

/// A scratch database holding a side, kept open for more work (a proof).
pub struct Built {
    server: ScratchServer,
    db: crate::scratch::ScratchDb,
    /// A connection to it.
    pub client: Client,
}

/// Loads `side` into a new scratch database of PostgreSQL `major`, and
/// keeps it; [`Built::finish`] drops it.
pub async fn build(side: &Side, scratch: &Scratch, major: u32) -> Result<Built> {
    let ready = prepare(side)?;
    let server =
        ScratchServer::start(scratch.dev_url.as_deref(), Some(major), scratch.any_major).await?;
    let db = server.create_db().await?;
    let client = db.connect().await?;
    let built = Built { server, db, client };
    let loaded = match &ready {
        Ready::Sql(source) => load_sql(&built.client, source).await,
        Ready::Replay(sources) => replay(&built.client, sources).await,
        _ => Ok(()),
    };
    if let Err(e) = loaded {
        built.finish().await;
        return Err(e);
    }
    Ok(built)
}

impl Built {
    /// Connects to `db`, loaded on `server`; drops it when that fails.
    async fn open(server: ScratchServer, db: crate::scratch::ScratchDb) -> Result<Built> {
        match db.connect().await {
            Ok(client) => Ok(Built { server, db, client }),
            Err(e) => {
                let name = db.name.clone();
                let _ = db.drop_db().await;
                drop_stub_roles(&server, &name).await;
                Err(e)
            }
        }
    }

    /// Drops the database and the stub roles its load made.
    pub async fn finish(self) {
        drop(self.client);
        let name = self.db.name.clone();
        let _ = self.db.drop_db().await;
        drop_stub_roles(&self.server, &name).await;
    }
}

/// Loads `ready` into a new scratch database and reads it back; the
/// database is dropped, unless `keep` asks for it back.
async fn load_scratch(
    server: &ScratchServer,
    ready: &Ready,
    connections: usize,
    keep: bool,
) -> Result<(Catalog, Option<crate::scratch::ScratchDb>)> {
    let db = server.create_db().await?;
    let result = async {
        let client = db.connect().await?;
        let (ready, then) = match ready {
            Ready::Then(ready, then) => (&**ready, then.as_slice()),
            ready => (ready, &[][..]),
        };
        match ready {
            Ready::Sql(source) => load_sql(&client, source).await?,
            Ready::Replay(sources) => replay(&client, sources).await?,
            Ready::Url(_) | Ready::Empty | Ready::Then(..) => {}
        }
        for sql in then {
            client
                .batch_execute(sql)
                .await
                .with_context(|| format!("in the scratch database: {sql}"))?;
        }
        drop(client);
        introspect_target(&db.config, false, connections).await
    }
    .await;
    if keep && result.is_ok() {
        return Ok((result?, Some(db)));
    }
    let name = db.name.clone();
    let dropped = db.drop_db().await;
    drop_stub_roles(server, &name).await;
    let catalog = result?;
    dropped?;
    Ok((catalog, None))
}

/// Stub roles this process created, with the database whose load made
/// them, to drop again once that scratch database is gone (on a
/// `--dev-url` server they would otherwise stay in its cluster).
static STUB_ROLES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Drops the stub roles that loading `database` made. One that another
/// load uses meanwhile cannot be dropped; that error is ignored.
async fn drop_stub_roles(server: &ScratchServer, database: &str) {
    let roles: Vec<String> = {
        let mut all = STUB_ROLES.lock().expect("stub role list");
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|(db, _)| db == database);
        *all = rest;
        mine.into_iter().map(|(_, role)| role).collect()
    };
    if roles.is_empty() {
        return;
    }
    let Ok(client) = server.admin().await else {
        return;
    };
    for role in roles {
        let _ = client
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    }
}

/// Runs migrations as written: each file's statements in order, stopping
/// at the first error, reported at its file, line and column.
async fn replay(client: &Client, sources: &[SqlSource]) -> Result<()> {
    let progress = crate::ui::Progress::new(sources.len() as u64, "replaying migrations");
    for source in sources {
        // Batches of statements first (see `run_batch`); where one fails,
        // its statements run one at a time to find and report the failure.
        let all: Vec<usize> = (0..source.statements.len()).collect();
        let mut alone_until = 0;
        let mut i = 0;
        while i < all.len() {
            if let Some(end) = batch_at(client, source, &all, i, &mut alone_until).await {
                i = end;
                continue;
            }
            let stmt = &source.statements[i];
            i += 1;
            if let Err(e) = run_with_stub_roles(client, &stmt.sql).await? {
                let i = i - 1;
                return Err(anyhow::Error::new(located(source, i, &e)).context(format!(
                    "migration {} does not replay",
                    source.files[0].path.display()
                )));
            }
        }
        progress.inc();
    }
    progress.finish();
    Ok(())
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

/// Runs the statements of `source` in the order written, each on its own,
/// as `psql -f` would run each file (function bodies unchecked, as pg_dump
/// output is restored). A statement that refers to something a later one
/// makes is retried after the others, under the session state (`SET
/// search_path`, `SET ROLE`, ...) it was written under, until no progress
/// is made. Roles the SQL names but the server lacks are created as stubs.
pub async fn load_sql(client: &Client, source: &SqlSource) -> Result<()> {
    // For each statement, how many session statements of its file precede it.
    let mut before = Vec::with_capacity(source.statements.len());
    let mut seen: Option<(usize, usize)> = None;
    for stmt in &source.statements {
        let count = match seen {
            Some((file, n)) if file == stmt.file => n,
            _ => 0,
        };
        before.push(count);
        seen = Some((stmt.file, count + usize::from(stmt.session)));
    }
    let mut session = Session { client, now: None };
    let mut pending: Vec<usize> = (0..source.statements.len()).collect();
    let mut first_pass = true;
    while !pending.is_empty() {
        let mut failed: Vec<(usize, tokio_postgres::Error)> = Vec::new();
        // Up to here, the statements of a batch that failed: each runs on
        // its own.
        let mut alone_until = 0;
        let mut k = 0;
        while k < pending.len() {
            let i = pending[k];
            let stmt = &source.statements[i];
            session.enter(source, stmt.file, before[i]).await?;
            if first_pass {
                if let Some(end) = batch_at(client, source, &pending, k, &mut alone_until).await {
                    k = end;
                    continue;
                }
            }
            k += 1;
            match run_with_stub_roles(client, &stmt.sql).await? {
                Ok(()) if stmt.session => session.now = Some((stmt.file, before[i] + 1)),
                Ok(()) => {}
                Err(e) if !stmt.session && e.code().is_some_and(refers_to_missing) => {
                    failed.push((i, e))
                }
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
        first_pass = false;
    }
    session.reset().await
}

/// Statements sent in one message at most, and their bytes at most.
const BATCH: (usize, usize) = (200, 256 * 1024);

/// Where the batch that starts at `pending[start]` ends: it holds the
/// statements after it of the same file, up to [`BATCH`], and up to the
/// next statement that sets session state or needs a transaction of its
/// own (CREATE INDEX CONCURRENTLY, its own BEGIN, ...), which runs alone.
fn batch_end(source: &SqlSource, pending: &[usize], start: usize) -> usize {
    let first = &source.statements[pending[start]];
    let mut bytes = 0;
    let mut end = start;
    for &i in &pending[start..] {
        let stmt = &source.statements[i];
        bytes += stmt.sql.len();
        if stmt.session
            || stmt.file != first.file
            || end - start == BATCH.0
            || (bytes > BATCH.1 && end > start)
            || parse::needs_own_transaction(&stmt.sql)
        {
            break;
        }
        end += 1;
    }
    end
}

/// Runs the batch that starts at `pending[k]`, unless that statement
/// belongs to a batch that failed (up to `alone_until`) or would be alone
/// in its batch; Some(where it ends) when it ran, else the statement is to
/// run on its own.
async fn batch_at(
    client: &Client,
    source: &SqlSource,
    pending: &[usize],
    k: usize,
    alone_until: &mut usize,
) -> Option<usize> {
    if k < *alone_until {
        return None;
    }
    let end = batch_end(source, pending, k);
    if end - k < 2 {
        return None;
    }
    if run_batch(client, source, &pending[k..end]).await {
        return Some(end);
    }
    *alone_until = end;
    None
}

/// Runs `batch` (indexes of statements of `source`) in one message: one
/// round trip and one transaction instead of one each (at 10 000 tables,
/// loading took 7.1 s instead of about 12 s). False when any statement
/// failed: then none took effect, and the caller runs them one by one, to
/// retry or report each failure as it would without batches.
async fn run_batch(client: &Client, source: &SqlSource, batch: &[usize]) -> bool {
    // A newline before each semicolon ends a statement's closing line
    // comment.
    let sql: Vec<&str> = batch
        .iter()
        .map(|&i| source.statements[i].sql.as_str())
        .collect();
    client.batch_execute(&sql.join("\n;\n")).await.is_ok()
}

/// The session state of the loading connection: which file's first how
/// many session statements are in effect.
struct Session<'a> {
    client: &'a Client,
    now: Option<(usize, usize)>,
}

impl Session<'_> {
    /// Puts the session in the state of file `file` after its first `count`
    /// session statements.
    async fn enter(&mut self, source: &SqlSource, file: usize, count: usize) -> Result<()> {
        if self.now == Some((file, count)) {
            return Ok(());
        }
        self.reset().await?;
        self.client
            .batch_execute("SET check_function_bodies = off")
            .await?;
        let statements = source.statements.iter().filter(|s| s.file == file);
        for (i, stmt) in statements.filter(|s| s.session).take(count).enumerate() {
            if let Err(e) = run_with_stub_roles(self.client, &stmt.sql).await? {
                let index = source
                    .statements
                    .iter()
                    .position(|s| std::ptr::eq(s, stmt))
                    .unwrap_or(i);
                return Err(located(source, index, &e).into());
            }
        }
        self.now = Some((file, count));
        Ok(())
    }

    /// Back to the connection's own role and settings.
    async fn reset(&mut self) -> Result<()> {
        self.client
            .batch_execute("RESET SESSION AUTHORIZATION; RESET ALL")
            .await
            .context("resetting the session on the scratch server")?;
        self.now = None;
        Ok(())
    }
}

/// Runs `sql`; when it names a role the server lacks, creates that role as
/// a stub and runs it again. The outer error is the server's failure to
/// make the stub; the inner one the statement's own.
async fn run_with_stub_roles(
    client: &Client,
    sql: &str,
) -> Result<Result<(), tokio_postgres::Error>> {
    let mut outcome = client.batch_execute(sql).await;
    let mut made: Vec<String> = Vec::new();
    while let Some(name) = outcome.as_ref().err().and_then(undefined_name) {
        let known = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)";
        if made.contains(&name) || client.query_one(known, &[&name]).await?.get::<_, bool>(0) {
            break;
        }
        let role = crate::sql::ident(&name);
        match client
            .batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))
            .await
        {
            Ok(()) => {}
            // Another load at the same time made it first: it is its to
            // drop, and this one can use it.
            Err(e)
                if e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                    || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                made.push(name);
                outcome = client.batch_execute(sql).await;
                continue;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("creating stub role {name} on the scratch server")))
            }
        }
        // Marked, so that a run that dies cannot leave it for good on a
        // --dev-url server (see scratch::clean_dev_server).
        let database: String = client
            .query_one("SELECT pg_catalog.current_database()::text", &[])
            .await?
            .get(0);
        let mark = format!("{}{database}", crate::scratch::STUB_ROLE_COMMENT);
        client
            .batch_execute(&format!(
                "COMMENT ON ROLE {role} IS {}",
                crate::sql::literal(&mark)
            ))
            .await?;
        let retry = client.batch_execute(sql).await;
        if retry.as_ref().err().and_then(undefined_name).as_ref() == Some(&name) {
            // The name was not a role's after all (a type, say).
            client.batch_execute(&format!("DROP ROLE {role}")).await?;
            break;
        }
        STUB_ROLES
            .lock()
            .expect("stub role list")
            .push((database, role));
        made.push(name);
        outcome = retry;
    }
    Ok(outcome)
}

/// The name an "undefined object" error (SQLSTATE 42704) is about: the
/// first quoted word of its message, whatever the server's language and
/// its quotation marks. Whether it is a role the caller finds out.
fn undefined_name(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    if db.code() != &SqlState::UNDEFINED_OBJECT {
        return None;
    }
    let message = db.message();
    let start = message.find(['"', '«', '»', '„', '“', '「'])?;
    let open = message[start..].chars().next()?;
    let rest = &message[start + open.len_utf8()..];
    let end = rest.find(['"', '»', '«', '“', '”', '」'])?;
    Some(
        rest[..end]
            .trim_matches([' ', '\u{a0}', '\u{202f}'])
            .to_string(),
    )
}

/// The server's error on statement `i`, at the position it names.
pub fn located(source: &SqlSource, i: usize, e: &tokio_postgres::Error) -> SqlError {
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
