//! `stratum lint --schema`: the policy rules on the desired schema, and
//! the same findings inside `check` when stratum.yaml has a `lint:`
//! section.

use anyhow::Result;

use super::annotate::{Annotation, Level, Rule};
use super::{Report, ATTENTION, OK};
use crate::config::Project;
use crate::kinds::Catalog;
use crate::load::Side;
use crate::policy::{self, Finding, Severity};

/// The findings of the policy rules on `desired` (schema/ as loaded), with
/// the severities of the run's environment.
pub fn findings(project: &Project, desired: &Catalog) -> Result<Vec<Finding>> {
    let defaults = policy::Config::default();
    let config = project.policy.as_ref().unwrap_or(&defaults);
    let settings = policy::Settings::of(config, project.policy_env.as_deref())
        .map_err(|e| project.located(e))?;
    let source = crate::parse::read_source(&project.schema)?;
    Ok(policy::check(desired, &settings, &source, &|p| {
        project.show(p)
    }))
}

/// A line per finding: `schema/app.sql:12:5: warn fk-without-index: ...`.
pub fn lines(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let place = match (&f.file, f.line, f.column) {
                (Some(file), Some(line), Some(column)) => format!("{file}:{line}:{column}: "),
                (Some(file), Some(line), None) => format!("{file}:{line}: "),
                _ => String::new(),
            };
            let severity = match f.severity {
                Severity::Error => crate::ui::paint(crate::ui::style::RED, "error"),
                _ => "warn".to_string(),
            };
            format!("{place}{severity} {}: {}\n", f.rule, f.message)
        })
        .collect()
}

/// The findings as CI annotations.
pub fn annotations(findings: &[Finding]) -> Vec<Annotation> {
    findings
        .iter()
        .map(|f| Annotation {
            rule: Rule::Policy(
                f.rule,
                policy::RULES
                    .iter()
                    .find(|r| r.id() == f.rule)
                    .map_or("", |r| r.about()),
            ),
            level: match f.severity {
                Severity::Error => Level::Error,
                _ => Level::Warning,
            },
            file: f.file.clone(),
            line: f.line,
            column: f.column,
            title: format!("policy {}: {}", f.rule, f.object),
            message: f.message.clone(),
        })
        .collect()
}

/// How many findings are errors and warnings, in a sentence; None when
/// there are none.
pub fn summary(findings: &[Finding]) -> Option<String> {
    if findings.is_empty() {
        return None;
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    Some(format!(
        "Policy: {} and {} on schema/ ({}).",
        super::count(errors, "error"),
        super::count(findings.len() - errors, "warning"),
        "stratum.yaml's lint: sets each rule off, warn or error; `-- stratum: allow RULE` \
         silences one object"
    ))
}

/// `stratum lint --schema`: the policy rules on `schema/`, loaded as
/// PostgreSQL reads it; exit 1 when a rule set to error finds anything.
pub async fn lint_schema(project: &Project) -> Result<Report> {
    let side = Side::Source(project.schema_source()?);
    let desired = super::load(project, &[side])
        .await?
        .pop()
        .expect("one side");
    let found = findings(project, &desired)?;
    let errors = found.iter().any(|f| f.severity == Severity::Error);
    let stderr = match summary(&found) {
        Some(line) => line + "\n",
        None => format!("No policy findings on {}.\n", project.show(&project.schema)),
    };
    let mut report = Report::new(
        if errors { ATTENTION } else { OK },
        lines(&found),
        stderr,
        serde_json::json!({ "findings": found }),
    );
    report.annotations = annotations(&found);
    report.markdown = Some(markdown(&found));
    Ok(report)
}

/// The findings as a Markdown table.
fn markdown(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "### Policy\n\nNo findings.\n".to_string();
    }
    let mut out =
        String::from("### Policy\n\n| where | rule | severity | what |\n|---|---|---|---|\n");
    for f in findings {
        let place = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("`{file}:{line}`"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "| {place} | `{}` | {} | {} |\n",
            f.rule,
            match f.severity {
                Severity::Error => "**error**",
                _ => "warn",
            },
            f.message.replace('|', "\\|")
        ));
    }
    out
}

/// `stratum lint --rules`: every rule, its default and what it asks.
pub fn rules() -> Report {
    Report::new(
        OK,
        policy::described(),
        String::new(),
        serde_json::json!({
            "rules": policy::RULES.iter().map(|r| serde_json::json!({
                "id": r.id(), "default": r.default(), "about": r.about()
            })).collect::<Vec<_>>()
        }),
    )
}
