//! `stratum dump`: the canonical DDL of a database as files that load into
//! an empty database in file order, to adopt stratum on an existing one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{count, load, Report, OK};
use crate::config::Project;
use crate::conninfo;
use crate::ddl;
use crate::load::{Side, Source};
use crate::plan::Step;
use crate::render;
use crate::ui::{paint, style};

/// How a dump is split into files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// One file, `schema.sql`.
    #[default]
    None,
    /// A file per schema.
    Schema,
    /// A file per object.
    Object,
}

/// Options of `dump`.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Output directory, or `-` for stdout (with `Split::None`).
    pub out: PathBuf,
    /// How to split.
    pub split: Split,
    /// Replace the `.sql` files already in `out`.
    pub force: bool,
}

/// The schema a step's object lives in, for `--split schema`; extensions,
/// which span schemas, have a file of their own.
fn schema_of(step: &Step) -> String {
    let owner = step.change.kind().owner();
    owner.schema().unwrap_or("extensions").to_string()
}

/// Files in load order: consecutive steps with the same key share a file,
/// numbered so that path order is load order.
fn chunk(steps: &[Step], key: impl Fn(&Step) -> String) -> Vec<(String, Vec<&Step>)> {
    let mut chunks: Vec<(String, Vec<&Step>)> = Vec::new();
    for step in steps.iter().filter(|s| s.sql.is_some()) {
        let k = key(step);
        match chunks.last_mut() {
            Some((last, list)) if *last == k => list.push(step),
            _ => chunks.push((k, vec![step])),
        }
    }
    chunks
}

/// The text of one dump file.
fn file_text(header: &str, steps: &[&Step]) -> String {
    let mut out = header.to_string();
    if render::writes_bodies(steps.iter().map(|s| &s.change)) {
        // As pg_dump does: bodies may name objects of later files.
        out.push_str("SET check_function_bodies = false;\n");
    }
    for step in steps {
        out.push('\n');
        out.push_str(&ddl::step_text(step).unwrap_or_default());
    }
    out
}

#[derive(Serialize)]
struct DumpJson {
    files: Vec<String>,
    objects: usize,
    unmanaged: Vec<crate::kinds::Unmanaged>,
}

/// Writes the DDL of the database at `url`.
pub async fn dump(project: &Project, url: &str, options: &DumpOptions) -> Result<Report> {
    let mut catalogs = load(project, &[Side::Source(Source::Url(url.to_string()))]).await?;
    let catalog = catalogs.pop().expect("one side");
    let steps = ddl::build_steps(&catalog)?;
    let header = format!(
        "-- Dumped by stratum from {}.\n",
        conninfo::redact(url).split('?').next().unwrap_or_default()
    );
    let chunks: Vec<(String, String)> = match options.split {
        Split::None => vec![("schema.sql".to_string(), {
            let all: Vec<&Step> = steps.iter().filter(|s| s.sql.is_some()).collect();
            file_text(&header, &all)
        })],
        Split::Schema | Split::Object => {
            let key = |s: &Step| match options.split {
                Split::Schema => schema_of(s),
                _ => ddl::owner(&s.change, &catalog),
            };
            let chunks = chunk(&steps, key);
            let width = chunks.len().to_string().len().max(3);
            chunks
                .into_iter()
                .enumerate()
                .map(|(i, (k, list))| {
                    let name = format!("{:0width$}_{}.sql", i + 1, crate::migrations::slug(&k));
                    (name, file_text(&header, &list))
                })
                .collect()
        }
    };
    let unmanaged = catalog.unmanaged.clone();
    if project.strict {
        crate::coverage::check(&catalog, &catalog, &[], true)?;
    }
    let mut stderr = crate::render::not_managed(&unmanaged, " (not dumped)");
    let objects = steps.len();
    if options.out == Path::new("-") {
        if chunks.len() != 1 {
            bail!("--out - writes one file: use it with --split none");
        }
        return Ok(Report::new(
            OK,
            chunks[0].1.clone(),
            stderr,
            DumpJson {
                files: vec!["-".into()],
                objects,
                unmanaged,
            },
        ));
    }
    prepare_dir(&options.out, options.force)?;
    let mut files = Vec::new();
    for (name, text) in &chunks {
        let path = options.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        files.push(project.show(&path));
    }
    stderr.push_str(&format!(
        "{} {} to {} ({} statements).\n",
        paint(style::GREEN, "Wrote"),
        count(files.len(), "file"),
        project.show(&options.out),
        objects
    ));
    Ok(Report::new(
        OK,
        String::new(),
        stderr,
        DumpJson {
            files,
            objects,
            unmanaged,
        },
    ))
}

/// Creates `dir`, or empties it of `.sql` files when `force`; refuses to
/// mix a dump with files already there.
fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let existing: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    if !force {
        bail!(
            "{} already holds {}; pass --force to replace them",
            dir.display(),
            count(existing.len(), ".sql file")
        );
    }
    for p in existing {
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}
