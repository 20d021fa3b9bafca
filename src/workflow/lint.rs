//! `lint`: the hazards of migration files (hand-written or generated) found
//! by running them: each file rehearsed on a copy of the database with
//! sampled rows (the locks its statements take and for how long, the
//! tables they rewrite, the rows they read) and pre-checked on the database
//! itself (the rows a drop loses, the rows a statement would fail on), so
//! a hand-written statement is flagged as a generated one would be, at its
//! file and line. Where squawk has a rule for the statement, the finding
//! names it.

use std::path::PathBuf;

use anyhow::Result;

use super::annotate::{Annotation, Level, Rule};
use super::findings::{findings, Lint};
use super::{Report, ATTENTION, OK};
use crate::config::Project;
use crate::execute::file;
use crate::rehearse::Part;

/// Options of `lint`.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The files to lint, in the order they would run; none: the pending
    /// migrations (the contract phase too).
    pub files: Vec<PathBuf>,
}

/// `stratum lint`: the hazards of the pending migrations (or `files`) on the
/// database at `url`, found by a rehearsal and the pre-checks; exit 1 when
/// there are any.
pub async fn lint(project: &Project, url: &str, options: &LintOptions) -> Result<Report> {
    let parts: Vec<Part> = if options.files.is_empty() {
        super::migrate::pending_scripts(project, url, true)
            .await?
            .into_iter()
            .map(|(name, script)| Part { name, script })
            .collect()
    } else {
        let mut parts = Vec::new();
        for path in &options.files {
            let sql = crate::parse::read_file(path)?;
            parts.push(Part {
                name: project.show(path),
                script: file::script(&sql, false)?,
            });
        }
        parts
    };
    let statements: usize = parts.iter().map(|p| p.script.steps.len()).sum();
    if statements == 0 {
        let json = serde_json::json!({ "lints": [] });
        return Ok(Report::new(
            OK,
            String::new(),
            "Nothing to lint.\n".into(),
            json,
        ));
    }
    let (lints, rehearsed) = findings(project, url, &parts, None).await?;
    let mut stdout = String::new();
    for l in &lints {
        stdout.push_str(&format!("{}\n", l.line()));
    }
    let files = super::count(parts.len(), "file");
    let stderr = match lints.len() {
        0 => format!(
            "No hazards in {} of {files}; {rehearsed}.\n",
            super::count(statements, "statement")
        ),
        n => format!(
            "{} in {} of {files}; {rehearsed}.\n",
            super::count(n, "finding"),
            super::count(statements, "statement")
        ),
    };
    let annotations = lints.iter().map(annotation).collect();
    let code = if lints.is_empty() { OK } else { ATTENTION };
    let mut report = Report::new(code, stdout, stderr, serde_json::json!({ "lints": lints }));
    report.annotations = annotations;
    report.markdown = Some(markdown(&lints));
    Ok(report)
}

/// The lints as a Markdown table, for a pull request comment.
fn markdown(lints: &[Lint]) -> String {
    if lints.is_empty() {
        return "### Lint\n\nNo hazards.\n".to_string();
    }
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out =
        String::from("### Lint\n\n| where | finding | what | squawk |\n|---|---|---|---|\n");
    for l in lints {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            cell(&l.at),
            match l.code.as_str() {
                "fails" => "**fails**".to_string(),
                code => format!("`{code}`"),
            },
            cell(&l.message),
            l.squawk.map(|r| format!("`{r}`")).unwrap_or_default()
        ));
    }
    out
}

/// A lint as a CI annotation at its file and line.
fn annotation(l: &Lint) -> Annotation {
    let (file, line) = match l.at.rsplit_once(':') {
        Some((file, line)) => (Some(file.to_string()), line.parse().ok()),
        None => (None, None),
    };
    Annotation {
        rule: Rule::Lint,
        level: if l.code == "fails" {
            Level::Error
        } else {
            Level::Warning
        },
        file,
        line,
        column: None,
        title: match l.code.as_str() {
            "fails" => "fails on the database's rows".to_string(),
            code => format!("hazard {code}"),
        },
        message: match l.squawk {
            Some(rule) => format!("{} (squawk: {rule})", l.message),
            None => l.message.clone(),
        },
    }
}
