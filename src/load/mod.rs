//! Turns the two sources of a diff into catalogs.
//!
//! A URL is introspected directly. A SQL source (and `empty`) is loaded into
//! a scratch database and introspected by the same code, so both sides carry
//! PostgreSQL's canonical text.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

use crate::catalog_cache::{CatalogCache, Key};
use crate::conninfo;
use crate::introspect::{self, introspect_target};
use crate::kinds::Catalog;
use crate::migrations::Migration;
use crate::parse::{self, SqlSource};
use crate::scratch::ScratchServer;

mod checkpoint;
mod run;
mod settle;
use checkpoint::Checkpoints;
use run::{drop_stub_roles, replay, resumable};
pub use run::{load_sql, located, stub_roles, CLEAN_SESSION};
pub use settle::settle;

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A live database.
    Url(String),
    /// A `.sql` file or a directory of them.
    Sql(PathBuf),
    /// Nothing at all: an empty database.
    Empty,
    /// A migrations directory (in its layout), its up files replayed in
    /// order.
    Migrations(PathBuf, crate::migrations::Layout),
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
            Source::Migrations(path, _) => write!(f, "{} (replayed)", path.display()),
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
    let cache = CatalogCache::open();
    let cache = cache.as_ref();
    let live = futures_util::future::join_all(ready.iter().map(|r| async move {
        match r {
            Ready::Url(target) => Some(introspect_target(target, true, share(urls), cache).await),
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
        Side::Source(Source::Migrations(dir, layout)) => prepare(&Side::Migrations(
            crate::migrations::read_dir(dir, *layout)?,
        ))?,
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
        let resume = resume_point(ready, &missing, scratch, major).await;
        let (mut server, save_cost) =
            start_server(scratch, major, resume.as_ref().map(|(_, r)| r)).await?;
        // The replay is saved as a checkpoint only while no other side's
        // database is kept: that one would be saved with it.
        let save_side = resume
            .as_ref()
            .map(|(i, _)| *i)
            .filter(|i| keep.is_none_or(|k| k == *i));
        let share = (introspect::connections() / missing.len()).max(1);
        let loads = futures_util::future::join_all(missing.iter().map(|&i| {
            let from = resume
                .as_ref()
                .filter(|(side, _)| *side == i)
                .and_then(|(_, r)| Some((r, save_cost?)));
            let hold = keep == Some(i) || save_side == Some(i);
            load_scratch(&server, ready[i], share, hold, from)
        }))
        .await;
        let mut held = Vec::new();
        let mut to_save = None;
        let mut failed = None;
        for (i, loaded) in missing.into_iter().zip(loads) {
            match loaded {
                Ok((catalog, db, worth)) => {
                    if let (Some((cache, _)), Some(key)) = (&cached, &keys[i]) {
                        cache.put(key, &catalog);
                    }
                    catalogs[i] = Some(catalog);
                    if worth && save_side == Some(i) {
                        to_save = Some(i);
                    }
                    held.extend(db.map(|db| (i, db)));
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        let mut kept = None;
        for (i, db) in held {
            if failed.is_none() && to_save == Some(i) {
                if let Some((_, resume)) = &resume {
                    // Every load is done, so nothing writes: the cluster
                    // may stop.
                    resume.save(&mut server, &db).await?;
                }
            }
            if failed.is_none() && keep == Some(i) {
                kept = Some(db);
            } else {
                discard(&server, db).await;
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(db) = kept {
            built = Some(Built::open(server, db).await?);
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
    let resume = checkpoints_for(&ready, scratch, Some(major)).await;
    let (mut server, save_cost) = start_server(scratch, Some(major), resume.as_ref()).await?;
    let (db, done) = scratch_db(&server, resume.as_ref().filter(|_| save_cost.is_some())).await?;
    let filled = match db.connect().await {
        Ok(client) => fill(&client, &ready, done, save_cost.unwrap_or_default()).await,
        Err(e) => Err(e),
    };
    match filled {
        Ok(worth) => {
            if let Some(resume) = resume.filter(|_| worth) {
                resume.save(&mut server, &db).await?;
            }
            Built::open(server, db).await
        }
        Err(e) => {
            discard(&server, db).await;
            Err(e)
        }
    }
}

/// The checkpoints of replay `ready` on the embedded cluster of `major`
/// (see [`checkpoint`]): None for another side, a `--dev-url` server, or
/// when the cache is off.
async fn checkpoints_for(
    ready: &Ready,
    scratch: &Scratch,
    major: Option<u32>,
) -> Option<checkpoint::Resume> {
    let Ready::Replay(sources) = ready else {
        return None;
    };
    if scratch.dev_url.is_some() || sources.is_empty() {
        return None;
    }
    let checkpoints = Checkpoints::open()?;
    let keys = Checkpoints::keys(&server_key(scratch, major).await?, sources);
    let found = checkpoints.find(&keys);
    Some(checkpoint::Resume {
        checkpoints,
        keys,
        found,
    })
}

/// The replay among sides `missing` of `ready` that starts from a
/// checkpoint, and its checkpoints: the first that has one, else the first
/// replay (to save one).
async fn resume_point(
    ready: &[&Ready],
    missing: &[usize],
    scratch: &Scratch,
    major: Option<u32>,
) -> Option<(usize, checkpoint::Resume)> {
    let mut first = None;
    for &i in missing {
        if let Some(resume) = checkpoints_for(ready[i], scratch, major).await {
            if resume.found.is_some() {
                return Some((i, resume));
            }
            first.get_or_insert((i, resume));
        }
    }
    first
}

/// Starts the scratch server: the embedded cluster from the checkpoint
/// `resume` found, when there is one; when it did, what saving a new one
/// would cost: the longer of how long this start took (a copy of the
/// checkpoint's data directory, mostly) and how long saving that one did.
/// A checkpoint that does not start is removed.
async fn start_server(
    scratch: &Scratch,
    major: Option<u32>,
    resume: Option<&checkpoint::Resume>,
) -> Result<(ScratchServer, Option<Duration>)> {
    let found = resume.and_then(|r| r.found.as_ref());
    let started = Instant::now();
    let (server, resumed) = ScratchServer::start_from(
        scratch.dev_url.as_deref(),
        major,
        scratch.any_major,
        found.map(|f| (f.data.as_path(), f.bytes)),
    )
    .await?;
    if let (Some(resume), Some(found)) = (resume, found) {
        if !resumed {
            resume.checkpoints.forget(found);
        }
    }
    let saved_in = found.and_then(|f| f.saved_in).unwrap_or_default();
    Ok((server, resumed.then(|| started.elapsed().max(saved_in))))
}

/// A scratch database to load into, and how many migrations it already
/// holds: that of the checkpoint `from` found (which the server started
/// from), else a new one.
async fn scratch_db(
    server: &ScratchServer,
    from: Option<&checkpoint::Resume>,
) -> Result<(crate::scratch::ScratchDb, usize)> {
    let Some((resume, found)) = from.and_then(|r| Some((r, r.found.as_ref()?))) else {
        return Ok((server.create_db().await?, 0));
    };
    match server.adopt_db(&found.database).await {
        Ok(db) => Ok((db, found.migrations)),
        Err(e) => {
            // The server holds the checkpoint's roles and more: replaying
            // every migration there is not a full replay.
            resume.checkpoints.forget(found);
            Err(e.context(
                "the replay checkpoint the scratch server started from is unusable; \
                 it was removed, so the next run replays every migration",
            ))
        }
    }
}

/// Runs `ready` into `client`'s database, which already holds its first
/// `done` migrations, restored from their checkpoint; `save_cost` is what
/// saving a new one would cost (see [`start_server`]). Returns whether it
/// is worth a checkpoint: a replay that took [`checkpoint::WORTH`] or more,
/// and no less than `save_cost`, and left nothing a new session would lack
/// (see [`resumable`]).
///
/// A new checkpoint saves the next run that adds a migration the replay
/// since the last one. A shorter replay (a newest migration edited and
/// checked again and again) is not saved: the replay since the last
/// checkpoint grows with each migration added until it is worth one, so
/// the saves never cost much more than the replays they spare.
async fn fill(client: &Client, ready: &Ready, done: usize, save_cost: Duration) -> Result<bool> {
    let (ready, then) = match ready {
        Ready::Then(ready, then) => (&**ready, then.as_slice()),
        ready => (ready, &[][..]),
    };
    let mut worth = false;
    match ready {
        Ready::Sql(source) => load_sql(client, source).await?,
        Ready::Replay(sources) => {
            let started = Instant::now();
            replay(client, &sources[done..]).await?;
            worth = then.is_empty()
                && started.elapsed() >= checkpoint::WORTH.max(save_cost)
                && resumable(client).await;
        }
        Ready::Url(_) | Ready::Empty | Ready::Then(..) => {}
    }
    if matches!(ready, Ready::Sql(_) | Ready::Replay(_)) {
        settle(client).await?;
    }
    for sql in then {
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("in the scratch database: {sql}"))?;
    }
    Ok(worth)
}

impl Built {
    /// Connects to `db`, loaded on `server`; drops it when that fails.
    async fn open(server: ScratchServer, db: crate::scratch::ScratchDb) -> Result<Built> {
        match db.connect().await {
            Ok(client) => Ok(Built { server, db, client }),
            Err(e) => {
                discard(&server, db).await;
                Err(e)
            }
        }
    }

    /// A new connection to the database, in a backend of its own.
    pub async fn connect(&self) -> Result<Client> {
        self.db.connect().await
    }

    /// Drops the database and the stub roles its load made.
    pub async fn finish(self) {
        drop(self.client);
        discard(&self.server, self.db).await;
    }
}

/// Drops scratch database `db` of `server` and the stub roles its load
/// made; a failure to drop only leaves it for the leftovers' cleanup.
async fn discard(server: &ScratchServer, db: crate::scratch::ScratchDb) {
    let name = db.name.clone();
    let _ = db.drop_db().await;
    drop_stub_roles(server, &name).await;
}

/// Loads `ready` into a new scratch database, or that of the checkpoint
/// `from` found (which the server started from, with what saving a new one
/// would cost: see [`start_server`]), and reads it back, with whether it is
/// worth a checkpoint (see [`fill`]); the database is dropped, unless
/// `hold` asks for it back.
async fn load_scratch(
    server: &ScratchServer,
    ready: &Ready,
    connections: usize,
    hold: bool,
    from: Option<(&checkpoint::Resume, Duration)>,
) -> Result<(Catalog, Option<crate::scratch::ScratchDb>, bool)> {
    let (db, done) = scratch_db(server, from.map(|(resume, _)| resume)).await?;
    let save_cost = from.map(|(_, cost)| cost).unwrap_or_default();
    let result = async {
        let client = db.connect().await?;
        let worth = fill(&client, ready, done, save_cost).await?;
        drop(client);
        anyhow::Ok((
            introspect_target(&db.config, false, connections, None).await?,
            worth,
        ))
    }
    .await;
    if hold && result.is_ok() {
        let (catalog, worth) = result?;
        return Ok((catalog, Some(db), worth));
    }
    let name = db.name.clone();
    let dropped = db.drop_db().await;
    drop_stub_roles(server, &name).await;
    let (catalog, worth) = result?;
    dropped?;
    Ok((catalog, None, worth))
}
