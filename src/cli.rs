//! The command line: clap arguments resolved into settings at the edge, then
//! one run of load -> diff -> plan -> render.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::load::{load_pair, Source};
use crate::{diff, plan, render};

const AFTER_HELP: &str = "\
Sources (--from, --to):
  postgres://user@host/db   a live database (libpq defaults and PG* variables apply)
  schema/                   a directory of .sql files, read recursively in path order
  old.sql                   a single .sql file
  empty                     an empty database

SQL sources are loaded into a scratch PostgreSQL and read back with the same
queries as a live database. The scratch server is --dev-url, or a throwaway
cluster started from local binaries (STRATUM_PG_BIN, pg_config, PATH,
/usr/lib/postgresql/*/bin).

Examples:
  stratum diff --from empty --to schema/
  stratum diff --from postgres://app@localhost/app --to schema/ > next.sql
  stratum diff --from old.sql --to schema/ --format json

Exit codes: 0 success (with or without changes), 2 error.";

/// Declarative schema diff for PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "stratum", version, about, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the SQL that turns --from into --to.
    #[command(after_help = AFTER_HELP)]
    Diff(DiffArgs),
}

#[derive(Debug, clap::Args)]
struct DiffArgs {
    /// The current state: a postgres:// URL, a .sql file, a directory, or `empty`.
    #[arg(long, value_name = "SOURCE")]
    from: String,
    /// The desired state: a postgres:// URL, a .sql file, a directory, or `empty`.
    #[arg(long, value_name = "SOURCE")]
    to: String,
    /// A server where stratum may create and drop scratch databases, instead
    /// of the embedded throwaway cluster.
    #[arg(long, value_name = "URL", env = "STRATUM_DEV_URL")]
    dev_url: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Sql)]
    format: Format,
}

/// What stdout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Migration SQL with hazard comments.
    Sql,
    /// Steps as JSON: kind, object, hazards, sql.
    Json,
}

/// Resolved settings of one `diff` run.
#[derive(Debug, Clone)]
pub struct DiffSettings {
    /// Current side.
    pub from: Source,
    /// Desired side.
    pub to: Source,
    /// Scratch server URL, when not embedded.
    pub dev_url: Option<String>,
    /// Output format.
    pub format: Format,
}

impl DiffArgs {
    fn resolve(self) -> Result<DiffSettings> {
        Ok(DiffSettings {
            from: Source::parse(&self.from)?,
            to: Source::parse(&self.to)?,
            dev_url: self.dev_url,
            format: self.format,
        })
    }
}

/// The output of a diff: what goes to stdout and to stderr.
pub struct DiffOutput {
    /// SQL or JSON.
    pub stdout: String,
    /// The human summary.
    pub stderr: String,
}

/// Runs one diff.
pub async fn run_diff(settings: &DiffSettings) -> Result<DiffOutput> {
    let (current, desired) =
        load_pair(&settings.from, &settings.to, settings.dev_url.as_deref()).await?;
    let changes = diff::diff(&current, &desired);
    let plan = plan::plan(&current, &desired, changes)?;
    let unmanaged = render::unmanaged(&current, &desired);
    let stdout = match settings.format {
        Format::Sql => render::sql(&plan),
        Format::Json => render::json(&plan, &unmanaged),
    };
    Ok(DiffOutput {
        stdout,
        stderr: render::summary(&plan, &unmanaged),
    })
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let work = async {
            match args.command {
                Command::Diff(diff_args) => {
                    let settings = diff_args.resolve()?;
                    let output = run_diff(&settings).await?;
                    write_stdout(&output.stdout)?;
                    eprint!("{}", output.stderr);
                    Ok::<_, anyhow::Error>(())
                }
            }
        };
        tokio::select! {
            result = work => result,
            // Dropping `work` stops and removes the scratch cluster.
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
