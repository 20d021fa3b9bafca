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
    let owner = step.change.action().owner();
    owner.schema().unwrap_or("extensions").to_string()
}

/// The object a step's file is named after, for `--split object`: its
/// owner (a table for its columns, indexes, constraints, comments and
/// grants), and for a sequence a column owns, that column's table.
fn object_of(step: &Step, catalog: &crate::kinds::Catalog) -> String {
    if let crate::kinds::ObjectId::Sequence { name } = step.change.action().owner() {
        if let Some((table, _)) = catalog
            .sequences
            .get(&name)
            .and_then(|s| s.owned_by.as_ref())
        {
            return format!("table {}", table.plain());
        }
    }
    ddl::owner(&step.change, catalog)
}

/// Steps grouped by key, and the groups that need each other both ways
/// (strongly connected through `before`) joined.
struct Groups {
    /// The keys, numbered by first appearance.
    names: Vec<String>,
    /// Each step's group.
    group: Vec<usize>,
    /// The joined groups, each a list of group numbers.
    joined: Vec<Vec<usize>>,
    /// Each group's place in `joined`.
    joined_at: Vec<usize>,
}

impl Groups {
    fn of(keys: &[String], before: &[(usize, usize)]) -> Groups {
        use petgraph::graph::DiGraph;
        let mut number: std::collections::HashMap<&str, usize> = Default::default();
        let mut names: Vec<String> = Vec::new();
        let group: Vec<usize> = keys
            .iter()
            .map(|k| {
                *number.entry(k).or_insert_with(|| {
                    names.push(k.clone());
                    names.len() - 1
                })
            })
            .collect();
        let mut graph: DiGraph<(), ()> = DiGraph::new();
        let nodes: Vec<_> = names.iter().map(|_| graph.add_node(())).collect();
        for &(b, a) in before {
            if group[b] != group[a] {
                graph.update_edge(nodes[group[b]], nodes[group[a]], ());
            }
        }
        let joined: Vec<Vec<usize>> = petgraph::algo::tarjan_scc(&graph)
            .into_iter()
            .map(|scc| {
                let mut groups: Vec<usize> = scc.iter().map(|n| n.index()).collect();
                groups.sort_unstable();
                groups
            })
            .collect();
        let mut joined_at = vec![0; names.len()];
        for (j, groups) in joined.iter().enumerate() {
            for &g in groups {
                joined_at[g] = j;
            }
        }
        Groups {
            names,
            group,
            joined,
            joined_at,
        }
    }

    /// The joined group step `i` falls in.
    fn of_step(&self, i: usize) -> usize {
        self.joined_at[self.group[i]]
    }
}

/// The steps grouped into files by `keys` (one per step), in an order that
/// loads: one file per key, its steps in plan order, and the files ordered
/// so that every step comes after the steps it needs (`before`: pairs of
/// step indexes). Keys whose steps need each other both ways share one
/// file, named after both (a sequence owned by a column of the table whose
/// default takes from it); with `defer`, the steps that would join them
/// (foreign keys and views across schemas that name each other) move to a
/// file of that name instead, after what they need. Steps without SQL are
/// left out.
fn files<'a>(
    steps: &'a [Step],
    before: &[(usize, usize)],
    mut keys: Vec<String>,
    defer: Option<&str>,
) -> Vec<(String, Vec<&'a Step>)> {
    use std::cmp::Reverse;
    use std::collections::{BTreeSet, BinaryHeap};

    let mut groups = Groups::of(&keys, before);
    if let Some(deferred) = defer {
        loop {
            let moved: BTreeSet<usize> = before
                .iter()
                .filter(|&&(b, a)| {
                    keys[b] != keys[a]
                        && keys[a] != deferred
                        && groups.of_step(b) == groups.of_step(a)
                })
                .map(|&(_, a)| a)
                .collect();
            if moved.is_empty() {
                break;
            }
            for a in moved {
                keys[a] = deferred.to_string();
            }
            groups = Groups::of(&keys, before);
        }
    }
    // Files in dependency order, ties to the one whose first step comes
    // first.
    let files = groups.joined.len();
    let first: Vec<usize> = groups.joined.iter().map(|g| g[0]).collect();
    let mut after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); files];
    let mut indegree = vec![0; files];
    for &(b, a) in before {
        let (b, a) = (groups.of_step(b), groups.of_step(a));
        if b != a && after[b].insert(a) {
            indegree[a] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..files)
        .filter(|&f| indegree[f] == 0)
        .map(|f| Reverse((first[f], f)))
        .collect();
    let mut order = Vec::with_capacity(files);
    while let Some(Reverse((_, f))) = ready.pop() {
        order.push(f);
        for &a in &after[f] {
            indegree[a] -= 1;
            if indegree[a] == 0 {
                ready.push(Reverse((first[a], a)));
            }
        }
    }
    let mut lists: Vec<Vec<&Step>> = vec![Vec::new(); files];
    for (i, step) in steps.iter().enumerate().filter(|(_, s)| s.sql.is_some()) {
        lists[groups.of_step(i)].push(step);
    }
    order
        .into_iter()
        .filter_map(|f| {
            let name: Vec<&str> = groups.joined[f]
                .iter()
                .map(|g| groups.names[*g].as_str())
                .collect();
            let list = std::mem::take(&mut lists[f]);
            (!list.is_empty()).then(|| (name.join(" and "), list))
        })
        .collect()
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
            let keys: Vec<String> = steps
                .iter()
                .map(|s| match options.split {
                    Split::Schema => schema_of(s),
                    _ => object_of(s, &catalog),
                })
                .collect();
            let before = ddl::build_order(&catalog, &steps);
            let defer = (options.split == Split::Schema).then_some("across schemas");
            let chunks = files(&steps, &before, keys, defer);
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
