//! Pre-checks of the migration files `migrate` and `down` are about to run:
//! their statements checked as one run, in the order they will run (a file's
//! UPDATE leaves the next file's checks unrun), each finding named by its
//! file and line.

use anyhow::Result;
use tokio_postgres::Client;

use crate::config::Project;
use crate::execute::Script;
use crate::parse::SqlFile;
use crate::precheck::{self, Finding};

/// What the pre-checks of some files found.
#[derive(Default)]
pub(super) struct Checked {
    /// For each statement checked (by its index in the run): its file and
    /// its step in that file's script.
    at: Vec<(usize, usize)>,
    /// The findings.
    pub findings: Vec<Finding>,
    /// Each file's path and the line of each of its steps.
    places: Vec<(String, Vec<String>)>,
}

impl Checked {
    /// The pre-checks of `files` (each a file and its script, in the order
    /// they run) on the database of `client` (at `url`); nothing when `project` has
    /// them off. Only the steps of the script's batches run (a resumed
    /// file's earlier steps ran before).
    pub async fn run(
        project: &Project,
        client: &Client,
        url: &str,
        files: &[(&SqlFile, &Script)],
    ) -> Result<Checked> {
        let Some(settings) = &project.pre_checks else {
            return Ok(Checked::default());
        };
        let mut at = Vec::new();
        let mut statements = Vec::new();
        let mut places = Vec::new();
        for (f, (file, script)) in files.iter().enumerate() {
            for batch in &script.batches {
                for s in batch.steps.clone() {
                    at.push((f, s));
                    statements.push(script.steps[s].sql.as_deref().unwrap_or_default());
                }
            }
            let lines = script
                .steps
                .iter()
                .map(|s| s.object.trim_start_matches("line ").to_string())
                .collect();
            places.push((project.show(&file.path), lines));
        }
        let mut checked = Checked {
            at,
            findings: Vec::new(),
            places,
        };
        let label = |i: usize| checked.label(i);
        let findings = precheck::run(
            client,
            Some(url),
            &statements,
            &label,
            settings,
            project.timeouts.lock,
        )
        .await?;
        checked.findings = findings;
        Ok(checked)
    }

    /// `file:line` of the statement `i` of the run.
    fn label(&self, i: usize) -> String {
        let (f, s) = self.at[i];
        let (path, lines) = &self.places[f];
        format!("{path}:{}", lines[s])
    }

    /// True when a finding refuses the run.
    pub fn refuses(&self) -> bool {
        self.findings.iter().any(Finding::refuses)
    }

    /// The findings of file `file` (by its index), a line each.
    pub fn lines_of(&self, file: usize) -> String {
        let own: Vec<Finding> = self
            .findings
            .iter()
            .filter(|f| self.at[f.statement].0 == file)
            .cloned()
            .collect();
        precheck::lines(&own)
    }

    /// Every finding, a line each.
    pub fn lines(&self) -> String {
        precheck::lines(&self.findings)
    }
}
