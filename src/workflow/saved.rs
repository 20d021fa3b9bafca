//! Saved plans (`plan --out FILE`, `apply FILE`): what was reviewed is
//! what runs.
//!
//! A saved plan holds the steps, the script rendered from them (what the
//! reviewer read), the fingerprint of the database's schema it was made
//! from with a digest of each object's DDL (to name what changed), the
//! canonical DDL of the state it leads to, and a checksum over all of it.
//! `apply FILE` refuses a file whose checksum fails or whose script is not
//! the one its steps render, plans again from the database to that state,
//! and runs only when the new plan's statements are the saved ones; the
//! hazards are the new plan's, from the catalog as it is now.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::ddl;
use crate::execute::RunStep;
use crate::kinds::rename::RenameChange;
use crate::kinds::Catalog;
use crate::plan::Plan;
use crate::render;

/// What a saved plan file holds, as JSON.
const FORMAT: &str = "stratum plan 2";

/// A plan as `plan --out` saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    format: String,
    /// The stratum version that made it.
    stratum: String,
    /// The database it was made against (password hidden); informative.
    database: String,
    /// [`ddl::fingerprint`] of that database's schema.
    pub fingerprint: String,
    /// sha256 of each object's DDL then, by object: what changed since.
    objects: BTreeMap<String, String>,
    /// Canonical DDL of the state the plan was made against (the schema,
    /// with its renames undone).
    pub target: String,
    /// Renames that run last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renames: Vec<RenameChange>,
    /// Canonical DDL of the state the plan reaches, when renames make it
    /// differ from `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    /// The script, as reviewed: rendered from `steps`.
    pub sql: String,
    /// The steps.
    pub steps: Vec<RunStep>,
    /// sha256 over everything above.
    checksum: String,
}

/// Canonical DDL of `catalog`, as a scratch database loads it.
fn ddl_text(catalog: &Catalog) -> Result<String> {
    Ok(render::sql(&Plan {
        steps: ddl::build_steps(catalog)?,
        left_alone: Vec::new(),
    }))
}

/// A digest of each object's DDL.
fn object_sums(catalog: &Catalog) -> Result<BTreeMap<String, String>> {
    Ok(ddl::by_object(catalog)?
        .into_iter()
        .map(|(object, sql)| (object, crate::migrations::checksum(&sql)[..16].to_string()))
        .collect())
}

impl SavedPlan {
    /// The saved form of `plan`, made from `current` (the database at
    /// `database`, redacted) against `target`, with `renames` run last to
    /// reach `desired`.
    pub fn new(
        database: String,
        current: &Catalog,
        target: &Catalog,
        desired: &Catalog,
        renames: &[RenameChange],
        plan: &Plan,
    ) -> Result<SavedPlan> {
        let steps: Vec<RunStep> = plan.steps.iter().map(RunStep::from).collect();
        let mut saved = SavedPlan {
            format: FORMAT.to_string(),
            stratum: env!("CARGO_PKG_VERSION").to_string(),
            database,
            fingerprint: ddl::fingerprint(current)?,
            objects: object_sums(current)?,
            target: ddl_text(target)?,
            desired: if renames.is_empty() {
                None
            } else {
                Some(ddl_text(desired)?)
            },
            renames: renames.to_vec(),
            sql: render::run_steps(&steps),
            steps,
            checksum: String::new(),
        };
        saved.checksum = saved.sum();
        Ok(saved)
    }

    /// sha256 over every field but the checksum.
    fn sum(&self) -> String {
        let mut unsummed = self.clone();
        unsummed.checksum = String::new();
        let text = serde_json::to_string(&unsummed).expect("plans serialise");
        crate::migrations::checksum(&text)
    }

    /// Writes the plan to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("plans serialise");
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads the plan at `path`: refused unless it is a saved plan whose
    /// checksum holds and whose script is the one its steps render.
    pub fn read(path: &Path) -> Result<SavedPlan> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let saved: SavedPlan = serde_json::from_str(&text)
            .ok()
            .filter(|p: &SavedPlan| p.format == FORMAT)
            .ok_or_else(|| {
                anyhow!(
                    "{}: not a plan saved by `stratum plan --out` ({FORMAT}); nothing was applied",
                    path.display()
                )
            })?;
        if saved.sum() != saved.checksum {
            bail!(
                "{}: its checksum does not match what it holds: it was edited after `stratum \
                 plan --out` saved it. Nothing was applied; make and review a new plan",
                path.display()
            );
        }
        if render::run_steps(&saved.steps) != saved.sql {
            bail!(
                "{}: the steps it would run are not the script it shows. Nothing was applied; \
                 make and review a new plan",
                path.display()
            );
        }
        Ok(saved)
    }

    /// What differs between the database's schema when the plan was made
    /// and `now`, a line per object (`+` new, `-` gone, `~` changed).
    pub fn changed_objects(&self, now: &Catalog) -> Result<Vec<String>> {
        let now = object_sums(now)?;
        let mut lines = Vec::new();
        for (object, sum) in &now {
            match self.objects.get(object) {
                None => lines.push(format!("+ {object}")),
                Some(was) if was != sum => lines.push(format!("~ {object}")),
                Some(_) => {}
            }
        }
        for object in self.objects.keys().filter(|o| !now.contains_key(*o)) {
            lines.push(format!("- {object}"));
        }
        lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
        Ok(lines)
    }

    /// Fails, naming the first difference, unless `fresh` (the plan made
    /// again from the database) runs exactly the saved statements.
    pub fn check_steps(&self, path: &Path, fresh: &[RunStep]) -> Result<()> {
        let same = |a: &RunStep, b: &RunStep| {
            (
                &a.kind,
                &a.object,
                &a.sql,
                a.transactional,
                &a.undo_on_failure,
            ) == (
                &b.kind,
                &b.object,
                &b.sql,
                b.transactional,
                &b.undo_on_failure,
            )
        };
        let first = self.steps.iter().zip(fresh).position(|(a, b)| !same(a, b));
        let what = match (first, self.steps.len() == fresh.len()) {
            (None, true) => return Ok(()),
            (Some(i), _) => format!(
                "step {} is now `{}`, not `{}`",
                i + 1,
                fresh[i].sql.as_deref().unwrap_or(&fresh[i].object),
                self.steps[i]
                    .sql
                    .as_deref()
                    .unwrap_or(&self.steps[i].object)
            ),
            (None, false) => format!(
                "the plan now has {} steps, not {}",
                fresh.len(),
                self.steps.len()
            ),
        };
        bail!(
            "{}: planned again from this database to the state it was made for, the plan \
             differs ({what}). Nothing was applied; make and review a new plan",
            path.display()
        )
    }
}
