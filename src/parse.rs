//! Reads SQL sources: files and directories of `.sql` files, split into
//! statements with the real PostgreSQL grammar (pg_query).
//!
//! Syntax errors come back as `path:line:col: message` with the offending
//! line and a caret. Statements are ordered so that most schemas load in one
//! pass (schemas, then types, functions, tables, indexes, views, triggers,
//! comments); `load` retries whatever still refers to something not yet made.

use std::ffi::{c_char, c_int, CStr, CString};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pg_query::NodeRef;

/// One SQL file as read from disk.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// Path as given or found.
    pub path: PathBuf,
    /// Its text, with psql meta-commands such as `\restrict` blanked out.
    pub text: String,
}

/// One statement of a SQL source.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Index of its file in [`SqlSource::files`].
    pub file: usize,
    /// Byte offset of the statement in its file.
    pub offset: usize,
    /// The statement text, without the closing semicolon.
    pub sql: String,
    /// True for a statement that sets session state (`SET`, `RESET`, `SET
    /// ROLE`, `SELECT set_config(...)`), which governs the statements after
    /// it in its file.
    pub session: bool,
}

/// A parsed SQL source: its files and statements in written order.
#[derive(Debug, Clone, Default)]
pub struct SqlSource {
    /// The files, in path order.
    pub files: Vec<SqlFile>,
    /// The statements, file by file, each file's in written order.
    pub statements: Vec<Statement>,
}

/// A position in a SQL file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line.
    pub line_text: String,
}

impl Location {
    /// The location of byte `offset` in `file` (of the character holding
    /// it, when it falls inside one).
    pub fn at(file: &SqlFile, offset: usize) -> Location {
        let mut offset = offset.min(file.text.len());
        while !file.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &file.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = file.text[offset..]
            .find('\n')
            .map_or(file.text.len(), |i| offset + i);
        Location {
            path: file.path.clone(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            line_text: file.text[line_start..line_end].to_string(),
        }
    }
}

/// An error at a place in a SQL file, shown with the line and a caret.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SqlError {
    /// Where.
    pub location: Location,
    /// What.
    pub message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.location;
        let number = l.line.to_string();
        let pad = " ".repeat(number.len());
        let indent: String = l
            .line_text
            .chars()
            .take(l.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "{}:{}:{}: {}\n{pad} |\n{number} | {}\n{pad} | {indent}^",
            l.path.display(),
            l.line,
            l.column,
            self.message,
            l.line_text
        )
    }
}

/// Byte offset of the 1-based character position `chars` in `text`.
pub fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i)
}

/// Lists the `.sql` files of `path`: the file itself, or every `.sql` file
/// below the directory, in path order.
pub fn sql_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "sql") {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .sql files", path.display());
    }
    Ok(files)
}

/// Reads and parses a SQL source (a `.sql` file or a directory of them).
pub fn read_source(path: &Path) -> Result<SqlSource> {
    let mut source = SqlSource::default();
    for file_path in sql_files(path)? {
        let file = read_file(&file_path)?;
        let index = source.files.len();
        for (offset, len) in split(&file)? {
            let sql = file.text[offset..offset + len].to_string();
            let session = sets_session(&sql).map_err(|message| SqlError {
                location: Location::at(&file, offset),
                message,
            })?;
            source.statements.push(Statement {
                file: index,
                offset,
                sql,
                session,
            });
        }
        source.files.push(file);
    }
    Ok(source)
}

/// The statements of one file in file order, for scripts that must run as
/// written (migrations). `file` is the index recorded in each statement.
pub fn file_statements(file: &SqlFile, index: usize) -> Result<Vec<Statement>, SqlError> {
    Ok(split(file)?
        .into_iter()
        .map(|(offset, len)| Statement {
            file: index,
            offset,
            sql: file.text[offset..offset + len].to_string(),
            session: false,
        })
        .collect())
}

/// Reads one file with psql meta-command lines blanked out.
pub fn read_file(path: &Path) -> Result<SqlFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SqlFile {
        path: path.to_path_buf(),
        text: blank_meta_commands(&text),
    })
}

/// The first statement of `sql`, parsed; None when it does not parse.
pub fn first_statement(sql: &str) -> Option<pg_query::NodeEnum> {
    pg_query::parse(sql, 0)
        .ok()?
        .protobuf
        .stmts
        .into_iter()
        .next()?
        .stmt?
        .node
}

/// False when `sql` surely runs inside a transaction block as it runs on its
/// own; true when it may not ([`outside_transaction`] tells), or when it
/// controls transactions itself. A textual check, so that loading tens of
/// thousands of statements in batches does not parse each one again.
pub fn needs_own_transaction(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let word = first_word(&lower);
    const CONTROL: [&str; 12] = [
        "begin",
        "start",
        "commit",
        "end",
        "rollback",
        "abort",
        "savepoint",
        "release",
        "prepare",
        "vacuum",
        "reindex",
        "",
    ];
    if CONTROL.contains(&word) {
        return true;
    }
    let may = ["concurrently", "value", "database", "tablespace", "system"]
        .iter()
        .any(|w| lower.contains(w));
    may && outside_transaction(sql).is_some()
}

/// Where the code of `sql` starts, past blanks and comments (its length
/// when there is none, or a comment does not close).
pub fn code_start(sql: &str) -> usize {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            // Comments nest in PostgreSQL.
            let mut depth = 1;
            let mut i = 0;
            let bytes = after.as_bytes();
            while depth > 0 {
                if i + 1 >= bytes.len() {
                    return sql.len();
                }
                match &bytes[i..i + 2] {
                    b"/*" => (depth, i) = (depth + 1, i + 2),
                    b"*/" => (depth, i) = (depth - 1, i + 2),
                    _ => i += 1,
                }
            }
            rest = &after[i..];
        } else {
            return sql.len() - rest.len();
        }
    }
}

/// The first word of `sql` after blanks and comments ("" when there is
/// none, or a comment does not close).
fn first_word(sql: &str) -> &str {
    let rest = &sql[code_start(sql)..];
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Why `sql` cannot run inside a transaction block, if it cannot: such a
/// script is run statement by statement instead.
pub fn outside_transaction(sql: &str) -> Option<&'static str> {
    outside_transaction_of(&first_statement(sql)?)
}

/// [`outside_transaction`] of a statement already parsed.
pub fn outside_transaction_of(node: &pg_query::NodeEnum) -> Option<&'static str> {
    match node.to_ref() {
        NodeRef::IndexStmt(s) if s.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeRef::DropStmt(s) if s.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeRef::ReindexStmt(s)
            if s.params.iter().any(|p| {
                matches!(p.node.as_ref(), Some(pg_query::NodeEnum::DefElem(d)) if d.defname == "concurrently")
            }) =>
        {
            Some("REINDEX CONCURRENTLY")
        }
        NodeRef::AlterEnumStmt(s) if s.old_val.is_empty() => {
            // Allowed in a transaction since PostgreSQL 12, but the new value
            // cannot be used before the transaction commits.
            Some("ALTER TYPE ... ADD VALUE")
        }
        NodeRef::VacuumStmt(_) => Some("VACUUM"),
        NodeRef::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeRef::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeRef::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        NodeRef::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeRef::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        NodeRef::TransactionStmt(_) => Some("its own BEGIN/COMMIT"),
        _ => None,
    }
}

/// Replaces psql meta-command lines (`\restrict`, `\connect`, ...) by spaces,
/// so offsets stay true. pg_dump writes `\restrict` lines that no SQL parser
/// accepts.
fn blank_meta_commands(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim_start().starts_with('\\') {
                let body = line.trim_end_matches(['\n', '\r']);
                format!("{}{}", " ".repeat(body.len()), &line[body.len()..])
            } else {
                line.to_string()
            }
        })
        .collect()
}

/// Whether one statement sets session state, or the parser's message.
fn sets_session(sql: &str) -> Result<bool, String> {
    // Only these can set session state; the rest are not parsed again (the
    // split already parsed them): at 10 000 tables that took a fifth of a
    // diff whose sides were cached.
    let lower = sql.to_ascii_lowercase();
    if !["set", "reset", "select", "with", "values", "table", ""].contains(&first_word(&lower)) {
        return Ok(false);
    }
    let parsed = pg_query::parse(sql, 0).map_err(|e| e.to_string())?;
    let Some(node) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref())
    else {
        return Ok(false);
    };
    Ok(match node.to_ref() {
        NodeRef::VariableSetStmt(_) => true,
        // `SELECT pg_catalog.set_config('search_path', '', false)`, as
        // pg_dump writes it.
        NodeRef::SelectStmt(select) => select.target_list.iter().any(|target| {
            let Some(NodeRef::ResTarget(target)) = target.node.as_ref().map(|n| n.to_ref()) else {
                return false;
            };
            let call = target.val.as_ref().and_then(|v| v.node.as_ref());
            let Some(NodeRef::FuncCall(call)) = call.map(|n| n.to_ref()) else {
                return false;
            };
            call.funcname
                .last()
                .and_then(|n| n.node.as_ref())
                .is_some_and(|n| matches!(n.to_ref(), NodeRef::String(s) if s.sval == "set_config"))
        }),
        _ => false,
    })
}

// libpg_query's split result, declared here because the pg_query crate's
// `split_with_parser` drops the error position that its C result carries.
#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQuerySplitStmt {
    stmt_location: c_int,
    stmt_len: c_int,
}

#[repr(C)]
struct PgQuerySplitResult {
    stmts: *mut *mut PgQuerySplitStmt,
    n_stmts: c_int,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    fn pg_query_split_with_parser(input: *const c_char) -> PgQuerySplitResult;
    fn pg_query_free_split_result(result: PgQuerySplitResult);
}

/// Text parsed at once. libpg_query holds the raw parse tree of all it is
/// given until it returns, about 25 times the text (a 4.5 MB schema of
/// 10 000 tables took 126 MB), so a longer file goes in pieces.
const PIECE: usize = 256 * 1024;

/// Splits a file into (byte offset, byte length) of each statement, or the
/// syntax error at its position.
fn split(file: &SqlFile) -> Result<Vec<(usize, usize)>, SqlError> {
    split_in_pieces(file, PIECE)
}

/// [`split`], parsing at most about `piece` bytes at a time. Pieces are cut
/// after a semicolon where the scanner sees a statement end. Not every such
/// end is one (a `;` inside `BEGIN ATOMIC ... END` or a rule's list of
/// actions ends nothing): a piece cut there fails in its last statement, and
/// is cut further on. The statements and errors are those of parsing the
/// whole file at once.
fn split_in_pieces(file: &SqlFile, piece: usize) -> Result<Vec<(usize, usize)>, SqlError> {
    let text = &file.text;
    let located = |(offset, message)| SqlError {
        location: Location::at(file, offset),
        message,
    };
    let cuts: Vec<usize> = match pg_query::split_with_scanner(text) {
        Ok(statements) if text.len() > piece => statements
            .iter()
            .map(|s| s.as_ptr() as usize - text.as_ptr() as usize + s.len())
            .filter(|&end| text.as_bytes().get(end) == Some(&b';'))
            .map(|end| end + 1)
            .collect(),
        // Short, or the scanner failed: the parser finds what failed.
        _ => return split_range(text, 0, text.len()).map_err(located),
    };
    let cut_from = |at: usize| {
        let i = cuts.partition_point(|&c| c < at);
        cuts.get(i).copied().unwrap_or(text.len())
    };
    let mut spans = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut cut = cut_from(start + piece);
        loop {
            match split_range(text, start, cut) {
                Ok(found) => {
                    spans.extend(found);
                    break;
                }
                Err((offset, _)) if cut < text.len() && offset >= last_cut_before(&cuts, cut) => {
                    cut = cut_from(cut + 1 + piece / 8);
                }
                Err(error) => return Err(located(error)),
            }
        }
        start = cut;
    }
    Ok(spans)
}

/// The cut before `cut` in `cuts`: where the last statement of a piece
/// ending at `cut` begins.
fn last_cut_before(cuts: &[usize], cut: usize) -> usize {
    let i = cuts.partition_point(|&c| c < cut);
    if i == 0 {
        0
    } else {
        cuts[i - 1]
    }
}

/// Splits `text[start..end]`: (byte offset, byte length) in `text` of each
/// statement, or the byte offset in `text` and message of the syntax error.
fn split_range(
    text: &str,
    start: usize,
    end: usize,
) -> Result<Vec<(usize, usize)>, (usize, String)> {
    let part = &text[start..end];
    let input = CString::new(part).map_err(|e| {
        (
            start + e.nul_position(),
            "the file holds a NUL byte".to_string(),
        )
    })?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the
    // call; the result is read before it is freed, and freed exactly once.
    unsafe {
        let result = pg_query_split_with_parser(input.as_ptr());
        let outcome = if result.error.is_null() {
            let mut spans = Vec::with_capacity(result.n_stmts as usize);
            for i in 0..result.n_stmts as usize {
                let stmt = &**result.stmts.add(i);
                spans.push((start + stmt.stmt_location as usize, stmt.stmt_len as usize));
            }
            Ok(spans)
        } else {
            let error = &*result.error;
            let message = CStr::from_ptr(error.message).to_string_lossy().into_owned();
            Err((
                start + char_to_byte(part, error.cursorpos.max(1) as usize),
                message,
            ))
        };
        pg_query_free_split_result(result);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SqlFile {
        SqlFile {
            path: PathBuf::from("schema/users.sql"),
            text: text.to_string(),
        }
    }

    #[test]
    fn splits_statements_with_offsets() {
        let f = file("CREATE TABLE a (x int);\n\nCREATE VIEW v AS SELECT 1;");
        let spans = split(&f).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            &f.text[spans[0].0..spans[0].0 + spans[0].1],
            "CREATE TABLE a (x int)"
        );
        assert!(f.text[spans[1].0..].starts_with("CREATE VIEW v"));
    }

    /// Splitting in pieces gives what splitting whole does, wherever the
    /// pieces are cut: through `BEGIN ATOMIC` bodies, rules' action lists,
    /// dollar quotes, comments and multi-byte text, and at errors.
    #[test]
    fn pieces_split_as_the_whole_does() {
        let body = "-- a comment; with a semicolon\n\
            CREATE TABLE \"tâble\" (x int, note text DEFAULT 'a;b');\n\
            CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\n\
              BEGIN ATOMIC SELECT a + 1; SELECT a + 2; SELECT a; END;\n\
            CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\n\
            CREATE RULE r AS ON INSERT TO \"tâble\" DO ALSO (NOTIFY a; NOTIFY b; NOTIFY c);\n\
            /* ; */ CREATE VIEW v AS SELECT 1;\n";
        let whole = |f: &SqlFile| {
            split_range(&f.text, 0, f.text.len()).map_err(|(offset, message)| SqlError {
                location: Location::at(f, offset),
                message,
            })
        };
        let broken = [
            String::new(),
            "CREATE TABLE é (y int NOT NOT NULL);\n".to_string(),
            "CREATE FUNCTION h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\n".to_string(),
        ];
        for (n, bad) in broken.iter().enumerate() {
            for at in [0, 2, 5] {
                let mut text = String::new();
                for i in 0..6 {
                    if i == at {
                        text.push_str(bad);
                    }
                    text.push_str(body);
                }
                let f = file(&text);
                let expected = whole(&f);
                assert_eq!(expected.is_ok(), n == 0);
                for piece in [1, 7, 40, 200, 1000] {
                    let got = split_in_pieces(&f, piece);
                    match (&expected, &got) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "piece {piece}"),
                        (Err(a), Err(b)) => {
                            assert_eq!(a.to_string(), b.to_string(), "piece {piece}, at {at}")
                        }
                        _ => panic!("piece {piece}, at {at}: {expected:?} vs {got:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn syntax_error_has_line_column_and_caret() {
        let f = file("CREATE TABLE a (x int);\nCREATE TABLE b (y int NOT NOT NULL);\n");
        let err = split(&f).unwrap_err();
        assert_eq!((err.location.line, err.location.column), (2, 27));
        let shown = err.to_string();
        assert!(
            shown.starts_with("schema/users.sql:2:27: syntax error at or near \"NOT\""),
            "{shown}"
        );
        assert!(
            shown.ends_with("  |                           ^"),
            "{shown}"
        );
    }

    #[test]
    fn blanks_psql_meta_commands() {
        let text = "\\restrict abc\nCREATE TABLE a ();\n\\unrestrict abc\n";
        let blanked = blank_meta_commands(text);
        assert_eq!(blanked.len(), text.len());
        assert_eq!(split(&file(&blanked)).unwrap().len(), 1);
    }

    #[test]
    fn tells_statements_that_need_a_transaction_of_their_own() {
        for sql in [
            "BEGIN",
            "  -- a comment\n /* and /* a nested */ one */ COMMIT",
            "create index concurrently i on t (a)",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "VACUUM t",
            "/* unclosed",
        ] {
            assert!(needs_own_transaction(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (value int)",
            "-- concurrently\nCREATE INDEX i ON t (a)",
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
        ] {
            assert!(!needs_own_transaction(sql), "{sql}");
        }
    }

    #[test]
    fn knows_statements_that_set_session_state() {
        for sql in [
            "SET search_path = app",
            "RESET ALL",
            "SET ROLE admin",
            "SET SESSION AUTHORIZATION admin",
            "SELECT pg_catalog.set_config('search_path', '', false)",
        ] {
            assert_eq!(sets_session(sql), Ok(true), "{sql}");
        }
        for sql in ["CREATE TABLE t ()", "SELECT 1", "SELECT lower('A')"] {
            assert_eq!(sets_session(sql), Ok(false), "{sql}");
        }
    }
}
