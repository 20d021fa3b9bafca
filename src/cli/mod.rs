//! The command line: clap arguments, resolved with `stratum.yaml` into one
//! [`Project`] at the edge, then one workflow call and its report printed as
//! text or JSON.

mod args;
mod diff;
mod fleet;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};
use tokio::signal::unix::SignalKind;

use crate::config::{Overrides, Project};
use crate::render;
use crate::ui;
use crate::workflow::{self, Report};

pub use args::Format;
use args::{Args, Command, Db};
pub use diff::{run_diff, DiffSettings};
use fleet::Where;

async fn run(command: Command, mut project: Project) -> Result<Report> {
    let url = |db: Db| project.database_url(db.db.as_deref());
    match command {
        Command::Generate {
            name,
            empty,
            allow_hazards,
            zero_downtime,
            db,
            prove_with_sample,
            summary,
        } => {
            let options = workflow::GenerateOptions {
                name,
                empty,
                allow: allow_hazards.into_iter().collect(),
                zero_downtime: match zero_downtime {
                    true => crate::zero_downtime::When::Always,
                    false => project.zero_downtime,
                },
                db,
                prove_with_sample,
                summary,
            };
            workflow::generate(&project, &options).await
        }
        Command::Migrate {
            targets,
            rollout,
            to,
            allow_hazards,
            dry_run,
            allow_out_of_order,
            contract,
            rehearse,
        } => {
            let options = workflow::MigrateOptions {
                to,
                allow: allow_hazards.into_iter().collect(),
                dry_run,
                allow_out_of_order,
                contract,
                rehearse,
            };
            let job = workflow::FleetJob::Migrate(&options);
            fleet::run_job(&project, &targets, &rollout, job).await
        }
        Command::Status { targets } => match targets.resolve(&project)? {
            Where::One(url) => workflow::status(&project, &url).await,
            Where::Fleet(fleet) => {
                workflow::status_fleet(&project, &fleet, targets.jobs(&project)).await
            }
        },
        Command::Down {
            targets,
            rollout,
            to,
            allow_hazards,
            dry_run,
        } => {
            let options = workflow::DownOptions {
                to,
                allow: allow_hazards.into_iter().collect(),
                dry_run,
            };
            let job = workflow::FleetJob::Down(&options);
            fleet::run_job(&project, &targets, &rollout, job).await
        }
        Command::Resolve {
            db,
            applied,
            rolled_back,
            checksum,
            reason,
            tenant,
        } => {
            let url = url(db)?;
            let target = fleet::tenant_part(&project, &url, tenant)?;
            let project = match &target {
                Some(target) => workflow::project_for(&project, target),
                None => std::borrow::Cow::Borrowed(&project),
            };
            let what = match (applied, rolled_back, checksum) {
                (Some(v), _, _) => workflow::Resolve::Applied(v),
                (None, Some(v), _) => workflow::Resolve::RolledBack(v),
                (None, None, Some(version)) => workflow::Resolve::Checksum {
                    version,
                    reason: reason.unwrap_or_default(),
                },
                (None, None, None) => unreachable!("clap requires one"),
            };
            workflow::resolve(&project, &url, &what).await
        }
        Command::Check { targets, env } => {
            project.policy_env = env;
            if targets.none_given() {
                return workflow::check(&project, None).await;
            }
            match targets.resolve(&project)? {
                Where::One(url) => workflow::check(&project, Some(&url)).await,
                Where::Fleet(fleet) => {
                    workflow::check_fleet(&project, &fleet, targets.jobs(&project)).await
                }
            }
        }
        Command::Plan {
            targets,
            out,
            explain,
        } => match targets.resolve(&project)? {
            Where::One(url) => workflow::plan(&project, &url, out.as_deref(), explain).await,
            Where::Fleet(fleet) => {
                let jobs = targets.jobs(&project);
                workflow::plan_fleet(&project, &fleet, jobs, out.as_deref()).await
            }
        },
        Command::Apply {
            saved,
            targets,
            rollout,
            allow_hazards,
            yes,
            prove_with_sample,
        } => {
            let options = workflow::ApplyOptions {
                allow: allow_hazards.into_iter().collect(),
                yes,
                saved,
                prove_with_sample,
            };
            let job = workflow::FleetJob::Apply(&options);
            fleet::run_job(&project, &targets, &rollout, job).await
        }
        Command::Lint {
            db: _,
            files: _,
            schema_rules: _,
            rules: true,
            env: _,
        } => Ok(workflow::lint_rules()),
        Command::Lint {
            schema_rules: true,
            env,
            ..
        } => {
            project.policy_env = env;
            workflow::lint_schema(&project).await
        }
        Command::Lint { db, files, .. } => {
            let options = workflow::LintOptions { files };
            workflow::lint(&project, &url(db)?, &options).await
        }
        Command::Rehearse {
            db,
            pending,
            contract,
        } => {
            let options = workflow::RehearseOptions {
                migrations: pending,
                contract,
            };
            workflow::rehearse(&project, &url(db)?, &options).await
        }
        Command::Dump {
            db,
            out,
            split,
            force,
        } => {
            let options = workflow::DumpOptions {
                out: out.unwrap_or_else(|| project.schema.clone()),
                split,
                force,
            };
            workflow::dump(&project, &url(db)?, &options).await
        }
        Command::Diff { from, to, explain } => {
            run_diff(&DiffSettings {
                explain,
                from: diff::source(&from, &project)?,
                to: diff::source(&to, &project)?,
                scratch: project.scratch(),
                filter: project.filter.clone(),
                strict: project.strict,
                assume_roles: project.assume_roles.clone(),
            })
            .await
        }
        Command::InstallServer { major } => workflow::install_server(major).await,
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Args::command(), "stratum", &mut out);
            Ok(Report {
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::new(),
                json: serde_json::Value::Null,
                exit: workflow::OK,
                annotations: Vec::new(),
                markdown: None,
                document: None,
            })
        }
    }
}

/// A Unix signal's stream; None where it cannot be listened to.
fn signal(kind: SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

/// The next delivery of `signal`; never, without one.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let mut command = args::focused_help(Args::command());
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        // Probing the server binaries costs a process each: only when asked.
        command = command.version(format!(
            "{}\n{}",
            env!("CARGO_PKG_VERSION"),
            crate::scratch::binaries_report()
        ));
    }
    let mut args = match Args::from_arg_matches(&command.get_matches()) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let format = args.global.format;
    if args.global.offline {
        crate::scratch::fetch::set_offline();
    }
    render::want(match format {
        Format::Html => render::Document::Html,
        Format::Dot => render::Document::Dot,
        _ => render::Document::None,
    });
    // `--schema` alone names no directory: `lint --schema` checks the
    // policy rules on schema/, elsewhere it is a mistake.
    if args.global.schema.as_deref() == Some(std::path::Path::new("\0")) {
        args.global.schema = None;
        match &mut args.command {
            Command::Lint { schema_rules, .. } => *schema_rules = true,
            _ => {
                eprintln!("error: --schema needs a directory or file (--schema DIR)");
                return ExitCode::from(workflow::ERROR);
            }
        }
    } else if let Command::Lint { schema_rules, .. } = &mut args.command {
        *schema_rules = args.global.schema.is_some();
    }
    // `plan --format html --out FILE` writes the page there, not a saved
    // plan.
    let document_out = match (&mut args.command, format) {
        (Command::Plan { out, .. }, Format::Html | Format::Dot) => out.take(),
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(workflow::ERROR);
        }
    };
    let result = runtime.block_on(async {
        let work = async {
            let cwd = std::env::current_dir()?;
            let g = args.global;
            let mut project = Project::resolve(
                Overrides {
                    config: g.config,
                    schema: g.schema,
                    migrations: g.migrations,
                    dev_url: g.dev_url,
                    allow_major_mismatch: g.allow_major_mismatch,
                    layout: g.layout,
                    strict: g.strict,
                    privileges: g.privileges,
                    owners: g.owners,
                    no_online: g.no_online,
                    no_proof: g.no_proof,
                    no_pre_checks: g.no_pre_checks,
                    lock_timeout: g.lock_timeout,
                    retries: g.retries,
                },
                &cwd,
            )?;
            project.relative_to(&cwd);
            run(args.command, project).await
        };
        tokio::pin!(work);
        // SIGINT, SIGTERM (what CI runners and Kubernetes send) and SIGHUP
        // are one event.
        let mut term = signal(SignalKind::terminate());
        let mut hangup = signal(SignalKind::hangup());
        let finished = loop {
            let signalled = tokio::select! {
                result = &mut work => break Some(result),
                _ = tokio::signal::ctrl_c() => true,
                _ = recv(&mut term) => true,
                _ = recv(&mut hangup) => true,
            };
            // Work that runs statements on the user's database cancels them
            // itself on the first signal (`interrupt`); a second quits.
            if signalled && !crate::interrupt::request() {
                break None;
            }
        };
        // On Ctrl-C, `work` is dropped by now, which stopped and removed an
        // embedded scratch cluster; what it made on a --dev-url server is
        // dropped here.
        match finished {
            Some(result) => result,
            None => {
                crate::scratch::clean_up_interrupted().await;
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    });
    match result {
        Ok(report) => {
            let written = match format {
                Format::Json if !report.json.is_null() => {
                    let mut text =
                        serde_json::to_string_pretty(&report.json).expect("JSON serialises");
                    text.push('\n');
                    ui::print_out(&text)
                }
                Format::Sarif => {
                    ui::print_err(&report.stderr);
                    let log = workflow::annotate::sarif(&report.annotations);
                    let mut text = serde_json::to_string_pretty(&log).expect("JSON serialises");
                    text.push('\n');
                    ui::print_out(&text)
                }
                Format::Markdown => {
                    ui::print_err(&report.stderr);
                    ui::print_out(report.markdown.as_ref().unwrap_or(&report.stdout))
                }
                Format::Html | Format::Dot => {
                    ui::print_err(&report.stderr);
                    match (&report.document, &document_out) {
                        (Some(document), Some(path)) => std::fs::write(path, document).map(|()| {
                            let what = if format == Format::Html {
                                "page"
                            } else {
                                "graph"
                            };
                            ui::print_err(&format!("Wrote the {what} to {}.\n", path.display()));
                        }),
                        (Some(document), None) => ui::print_out(document),
                        (None, _) => ui::print_out(&report.stdout),
                    }
                }
                Format::Github => {
                    ui::print_err(&report.stderr);
                    let annotations = workflow::annotate::github(&report.annotations);
                    ui::print_out(&(report.stdout.clone() + &annotations))
                }
                _ => {
                    ui::print_err(&report.stderr);
                    ui::print_out(&report.stdout)
                }
            };
            if let Err(e) = written {
                eprintln!("error: writing output: {e}");
                return ExitCode::from(workflow::ERROR);
            }
            ExitCode::from(report.exit)
        }
        Err(e) => {
            if format == Format::Json {
                let text = serde_json::json!({ "error": format!("{e:#}") });
                let _ = ui::print_out(&format!("{text}\n"));
            }
            // CI sees an error in a SQL file (a syntax error, a statement
            // the scratch database refused) at its place, like drift.
            let annotations = workflow::annotate::of_error(&e);
            match format {
                Format::Github => {
                    let _ = ui::print_out(&workflow::annotate::github(&annotations));
                }
                Format::Sarif => {
                    let log = workflow::annotate::sarif(&annotations);
                    let text = serde_json::to_string_pretty(&log).expect("JSON serialises");
                    let _ = ui::print_out(&(text + "\n"));
                }
                _ => {}
            }
            ui::print_err(&format!("{} {e:#}\n", ui::paint(ui::style::RED, "error:")));
            ExitCode::from(workflow::ERROR)
        }
    }
}
