//! Running SQL into a scratch database: a schema's files as `psql -f`
//! would (in batches, retried in dependency order under the session state
//! they were written in), migrations in order, stub roles for the roles they
//! name, and errors located at file, line and column.

use anyhow::{Context, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::parse::{self, char_to_byte, Location, SqlError, SqlSource};
use crate::scratch::ScratchServer;

/// Stub roles this process created, with the database whose load made
/// them, to drop again once that scratch database is gone (on a
/// `--dev-url` server they would otherwise stay in its cluster).
static STUB_ROLES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Drops the stub roles that loading `database` made. One that another
/// load uses meanwhile cannot be dropped yet (a load that found it made
/// may use it without listing it): it is tried again when the next scratch
/// database goes.
pub(super) async fn drop_stub_roles(server: &ScratchServer, database: &str) {
    // One at a time: two scratch databases going at once could each fail
    // to drop a role the other still used, and each find no one left to
    // try again after it. In turn, the last one to go tries them all.
    static DROPPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = DROPPING.lock().await;
    // Roles whose drop failed before are listed under no database.
    let roles: Vec<String> = {
        let mut all = STUB_ROLES.lock().expect("stub role list");
        let (mine, rest): (Vec<_>, Vec<_>) = all
            .drain(..)
            .partition(|(db, _)| db == database || db.is_empty());
        *all = rest;
        let mut roles: Vec<String> = mine.into_iter().map(|(_, role)| role).collect();
        roles.sort();
        roles.dedup();
        roles
    };
    if roles.is_empty() {
        return;
    }
    let Ok(client) = server.admin().await else {
        return;
    };
    // Dropped only while it is still a stub: a real role of that name
    // (made meanwhile on a shared server) is never this load's.
    let stub = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE quote_ident(rolname) = $1 \
                AND coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '') LIKE $2 || '%')";
    let mark = crate::scratch::STUB_ROLE_COMMENT;
    for role in roles {
        let is_stub = client
            .query_one(stub, &[&role, &mark])
            .await
            .is_ok_and(|r| r.get::<_, bool>(0));
        if is_stub
            && client
                .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
                .await
                .is_err()
        {
            STUB_ROLES
                .lock()
                .expect("stub role list")
                .push((String::new(), role));
        }
    }
}

/// What starts each migration file, in `migrate` and in a replay: the
/// connection's own role and settings, whatever the file before set.
pub const CLEAN_SESSION: &str = "SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL";

/// Runs migrations as written, each file in a clean session as `migrate`
/// runs them: each file's statements in order, stopping at the first
/// error, reported at its file, line and column.
pub(super) async fn replay(client: &Client, sources: &[SqlSource]) -> Result<()> {
    let progress = crate::ui::Progress::new(sources.len() as u64, "replaying migrations");
    for source in sources {
        client
            .batch_execute(CLEAN_SESSION)
            .await
            .context("resetting the session on the scratch server")?;
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

/// Whether a new session on the database that `client` replayed
/// migrations into starts where the replay left off, so that a checkpoint
/// of it replays the next migrations as the replay would: no transaction
/// left open, no temporary table, no setting given to the database or a
/// role (a new session takes it, the replay's did not), no replication slot
/// (it keeps WAL that a checkpoint does not copy) and no `ALTER SYSTEM` (a
/// restart applies it).
pub(super) async fn resumable(client: &Client) -> bool {
    // The simple protocol: a statement of its own, so a transaction that
    // started before it is one left open (with the extended protocol, the
    // statement's timestamp is taken again at Bind).
    let Ok(messages) = client
        .simple_query(
            "SELECT pg_catalog.statement_timestamp() = pg_catalog.transaction_timestamp() \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class \
                 WHERE relnamespace = pg_catalog.pg_my_temp_schema()) \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting) \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots) \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_file_settings \
                 WHERE sourcefile LIKE '%/postgresql.auto.conf')",
        )
        .await
    else {
        return false;
    };
    messages.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("t"),
        _ => false,
    })
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

/// Runs `sql`; when it fails on an undefined object (SQLSTATE 42704) and
/// names roles the server lacks (as GRANT, OWNER TO, a policy's TO or a
/// default privilege's FOR ROLE name them, read from the statement's parse
/// tree, not from the error's text), creates those roles as stubs and runs
/// it again. A missing collation or text search configuration makes no
/// role. The outer error is the server's failure to make a stub; the inner
/// one the statement's own.
async fn run_with_stub_roles(
    client: &Client,
    sql: &str,
) -> Result<Result<(), tokio_postgres::Error>> {
    let mut outcome = client.batch_execute(sql).await;
    // At most three rounds: a stub another load made may go between its
    // CREATE and this statement's retry.
    let mut raced = false;
    for _ in 0..3 {
        let undefined = outcome
            .as_ref()
            .err()
            .and_then(|e| e.code())
            .is_some_and(|c| *c == SqlState::UNDEFINED_OBJECT);
        if !undefined {
            break;
        }
        let named: Vec<String> = crate::execute::statement::roles(sql).into_iter().collect();
        if named.is_empty() {
            break;
        }
        let missing: Vec<String> = client
            .query(
                "SELECT n FROM pg_catalog.unnest($1::text[]) n \
                 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = n)",
                &[&named],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // None missing: another load may have made them between the
        // failure and this query (it is then tried once more, sharing
        // them), or what was undefined is no role at all.
        let mine = if missing.is_empty() {
            if raced {
                break;
            }
            raced = true;
            &named
        } else {
            &missing
        };
        for name in mine {
            make_stub(client, name).await?;
        }
        outcome = client.batch_execute(sql).await;
    }
    Ok(outcome)
}

/// Creates role `name` as a stub on the scratch server, marked and listed
/// as this load's, so that it is dropped with its database (or, on a
/// --dev-url server, by the next run if this one dies). A role that exists
/// already (another load at the same time made it first, and it is then
/// shared; or a real role) is left as it is.
async fn make_stub(client: &Client, name: &str) -> Result<()> {
    let role = crate::sql::ident(name);
    let database: String = client
        .query_one("SELECT pg_catalog.current_database()::text", &[])
        .await?
        .get(0);
    // Listed for this load whoever made it: each load that uses a stub
    // tries to drop it when it ends, and the last one can.
    let list = |database: String| {
        STUB_ROLES
            .lock()
            .expect("stub role list")
            .push((database, role.clone()))
    };
    match client
        .batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))
        .await
    {
        Ok(()) => {}
        Err(e)
            if e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
        {
            // Shared only when another load made it: a real role is never
            // this load's to drop.
            let stub = "SELECT coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '') \
                        LIKE $2 || '%' FROM pg_catalog.pg_roles WHERE rolname = $1";
            let mark = crate::scratch::STUB_ROLE_COMMENT;
            let rows = client.query(stub, &[&name, &mark]).await?;
            if rows.first().is_some_and(|r| r.get::<_, bool>(0)) {
                list(database);
            }
            return Ok(());
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("creating stub role {name} on the scratch server")))
        }
    }
    let mark = format!("{}{database}", crate::scratch::STUB_ROLE_COMMENT);
    client
        .batch_execute(&format!(
            "COMMENT ON ROLE {role} IS {}",
            crate::sql::literal(&mark)
        ))
        .await?;
    list(database);
    Ok(())
}

/// Creates the roles of `names` the scratch server lacks as stubs of the
/// load of the database `client` is on (the proof's copy: the roles a plan
/// names exist where it runs, not on the scratch server).
pub async fn stub_roles(client: &Client, names: &std::collections::BTreeSet<String>) -> Result<()> {
    // A role another load made as a stub is made again, so that this load
    // shares it (and tries to drop it when it ends); a real role is left.
    let real = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1 \
                AND coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '') NOT LIKE $2 || '%')";
    let mark = crate::scratch::STUB_ROLE_COMMENT;
    for name in names {
        if !client
            .query_one(real, &[name, &mark])
            .await?
            .get::<_, bool>(0)
        {
            make_stub(client, name).await?;
        }
    }
    Ok(())
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
