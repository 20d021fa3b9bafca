//! The databases of a fleet: `--db` given more than once, a `--db-list`
//! file (or `-` for stdin), or the `fleet:` section of `stratum.yaml`,
//! whose groups name their URLs through environment variables so that no
//! secret lives in the file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::conninfo;

/// One database of a fleet.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Its name: given, or the URL with its password hidden (with `#2`,
    /// `#3` for URLs that hide to the same text).
    pub name: String,
    /// The URL, password hidden.
    pub database: String,
    /// Its URL.
    #[serde(skip)]
    pub url: String,
    /// Its tags (for `--canary`, and in the report).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The `fleet:` group it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its server (`host:port`), whose connections `per_server` bounds.
    #[serde(skip)]
    pub server: String,
    /// With tenants: its database's shared part, or one tenant schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<crate::tenants::Part>,
    /// With tenants: its database's tenant schemas (left out of its shared
    /// part; beside a tenant's, out of its proof).
    #[serde(skip)]
    pub tenant_schemas: std::sync::Arc<Vec<String>>,
    /// For a tenant schema: what it should hold, made from `schema/`'s
    /// placeholder (for check, plan and apply).
    #[serde(skip)]
    pub desired: Option<std::sync::Arc<crate::kinds::Catalog>>,
}

impl Target {
    /// A target for `url`, named `name` when given.
    pub fn new(url: &str, name: Option<String>, tags: Vec<String>) -> Target {
        let database = conninfo::redact(url);
        // Where the URL does not parse, the run says why; its server is
        // then its own.
        let server = match conninfo::config(url) {
            Ok(target) => conninfo::server(&target.config),
            Err(_) => database.clone(),
        };
        Target {
            name: name.unwrap_or_else(|| database.clone()),
            database,
            url: url.to_string(),
            tags,
            group: None,
            server,
            part: None,
            tenant_schemas: Default::default(),
            desired: None,
        }
    }

    /// True when `word` is its name or one of its tags.
    pub fn is(&self, word: &str) -> bool {
        self.name == word || self.tags.iter().any(|t| t == word)
    }
}

/// What a report calls `targets`: databases, or with tenants, targets (a
/// database's shared part, a tenant schema).
pub fn noun(targets: &[Target]) -> &'static str {
    match targets.iter().any(|t| t.part.is_some()) {
        true => "target",
        false => "database",
    }
}

/// The `fleet:` section of `stratum.yaml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Named groups of databases, in rollout order.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Targets run at once [8].
    pub jobs: Option<usize>,
    /// Targets of one server run at once [no limit but `jobs`].
    pub per_server: Option<usize>,
    /// Stop starting targets after this many failed [no limit].
    pub max_failures: Option<usize>,
    /// The first N targets, or these names or tags, run alone first.
    pub canary: Option<CanaryConfig>,
    /// Wave sizes (`[1, 10%, rest]`), or `groups`: each group a wave.
    pub waves: Option<WavesConfig>,
}

/// `canary:` in the `fleet:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CanaryConfig {
    /// The first N targets.
    First(usize),
    /// These names or tags.
    Named(Vec<String>),
}

/// `waves:` in the `fleet:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WavesConfig {
    /// `groups`, or sizes in one string (`1,10%,rest`).
    Text(String),
    /// Sizes: numbers, percentages, `rest`.
    Sizes(Vec<WaveSizeConfig>),
}

/// One wave size as YAML gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WaveSizeConfig {
    /// A count.
    Count(usize),
    /// `10%` or `rest`.
    Text(String),
}

/// One group of `fleet.groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Its name (`--fleet NAME` runs it alone).
    pub name: String,
    /// Its databases.
    #[serde(default)]
    pub databases: Vec<MemberConfig>,
    /// A file of more (as `--db-list` reads it), relative to stratum.yaml.
    pub list: Option<std::path::PathBuf>,
    /// Tags every database of the group gets.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One database of a group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// Its name in reports [default: the URL, password hidden].
    pub name: Option<String>,
    /// The environment variable holding its URL.
    pub url_env: Option<String>,
    /// Its URL, where it holds no secret (a Unix socket, a service name).
    pub url: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Where a command's targets come from.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// `--db` URLs.
    pub urls: Vec<String>,
    /// `--db-list FILE` (`-`: stdin).
    pub list: Option<std::path::PathBuf>,
    /// `--fleet [GROUP,...]`: Some(empty) for every group.
    pub groups: Option<Vec<String>>,
}

impl Selection {
    /// True when it names more than one database or a list or groups: a
    /// fleet run rather than one database's.
    pub fn is_fleet(&self) -> bool {
        self.urls.len() > 1 || self.list.is_some() || self.groups.is_some()
    }

    /// The targets, in order: `--db` ones, then the list's, then the
    /// groups' (in stratum.yaml's order). `root` is where stratum.yaml's
    /// relative paths start.
    pub fn targets(&self, config: &FleetConfig, root: &Path) -> Result<Vec<Target>> {
        let mut targets: Vec<Target> = self
            .urls
            .iter()
            .map(|u| Target::new(u, None, Vec::new()))
            .collect();
        if let Some(list) = &self.list {
            targets.extend(read_list(list)?);
        }
        if let Some(wanted) = &self.groups {
            if config.groups.is_empty() {
                bail!("--fleet: stratum.yaml has no fleet.groups");
            }
            for name in wanted {
                if !config.groups.iter().any(|g| &g.name == name) {
                    let known: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
                    bail!(
                        "--fleet {name}: no such group in stratum.yaml (groups: {})",
                        known.join(", ")
                    );
                }
            }
            for group in &config.groups {
                if wanted.is_empty() || wanted.contains(&group.name) {
                    targets.extend(group_targets(group, root)?);
                }
            }
        }
        if targets.is_empty() {
            bail!("the fleet is empty: no database in the list or groups given");
        }
        name_apart(&mut targets);
        Ok(targets)
    }
}

fn group_targets(group: &GroupConfig, root: &Path) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for (i, member) in group.databases.iter().enumerate() {
        let what = || match &member.name {
            Some(name) => format!("fleet group {}: database {name}", group.name),
            None => format!("fleet group {}: database {}", group.name, i + 1),
        };
        let url = match (&member.url, &member.url_env) {
            (Some(url), None) => url.clone(),
            (None, Some(var)) => match std::env::var(var) {
                Ok(url) if !url.is_empty() => url,
                _ => bail!("{}: the environment variable {var} is not set", what()),
            },
            _ => bail!("{}: give one of url_env or url", what()),
        };
        let mut tags = member.tags.clone();
        tags.extend(group.tags.iter().cloned());
        out.push(Target::new(&url, member.name.clone(), tags));
    }
    if let Some(list) = &group.list {
        for mut target in read_list(&root.join(list))? {
            target.tags.extend(group.tags.iter().cloned());
            out.push(target);
        }
    }
    for target in &mut out {
        target.group = Some(group.name.clone());
    }
    Ok(out)
}

/// The targets of a `--db-list` file (`-`: stdin): one database per line,
/// its connection string (URL or `key=value` words) with optional
/// `name=NAME` and `tags=a,b` words; blank lines and `#` comments skipped.
pub fn read_list(path: &Path) -> Result<Vec<Target>> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the database list from stdin")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the database list {}", path.display()))?
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mut name, mut tags, mut words) = (None, Vec::new(), Vec::new());
        for word in line.split_whitespace() {
            if let Some(n) = word.strip_prefix("name=") {
                name = Some(n.to_string());
            } else if let Some(t) = word.strip_prefix("tags=") {
                tags.extend(t.split(',').filter(|t| !t.is_empty()).map(str::to_string));
            } else {
                words.push(word);
            }
        }
        if words.is_empty() {
            bail!("{}:{}: no database URL on this line", path.display(), n + 1);
        }
        out.push(Target::new(&words.join(" "), name, tags));
    }
    Ok(out)
}

/// Targets whose names are the same get `#2`, `#3`, ... so that every
/// report line says which one it is.
fn name_apart(targets: &mut [Target]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for target in targets.iter() {
        *seen.entry(target.name.clone()).or_default() += 1;
    }
    let mut nth: BTreeMap<String, usize> = BTreeMap::new();
    for target in targets.iter_mut() {
        if seen[&target.name] > 1 {
            let n = nth.entry(target.name.clone()).or_default();
            *n += 1;
            if *n > 1 {
                target.name = format!("{} #{n}", target.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_line_holds_a_url_a_name_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbs.txt");
        std::fs::write(
            &path,
            "# tenants\n\npostgres://u:secret@h1/a name=alpha tags=eu,paid\n\
             host=h2 dbname=b user=u\npostgres://u:other@h1/a\n",
        )
        .unwrap();
        let mut targets = read_list(&path).unwrap();
        name_apart(&mut targets);
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[0].name, "alpha");
        assert_eq!(targets[0].tags, ["eu", "paid"]);
        assert!(!targets[0].database.contains("secret"));
        assert_eq!(targets[0].server, "h1:5432");
        assert_eq!(targets[1].url, "host=h2 dbname=b user=u");
        assert_eq!(targets[1].server, "h2:5432");
        assert!(targets[2].name.starts_with("postgres://"));
        assert!(targets[0].is("eu") && targets[0].is("alpha") && !targets[1].is("eu"));
    }

    #[test]
    fn urls_that_hide_to_the_same_text_are_told_apart() {
        let mut targets = vec![
            Target::new("postgres://u:one@h/a", None, Vec::new()),
            Target::new("postgres://u:two@h/a", None, Vec::new()),
        ];
        name_apart(&mut targets);
        assert_ne!(targets[0].name, targets[1].name);
        assert!(targets[1].name.ends_with(" #2"), "{}", targets[1].name);
    }

    #[test]
    fn groups_read_urls_from_the_environment_and_refuse_a_missing_one() {
        let config: FleetConfig = serde_yaml_ng::from_str(
            "groups:\n  - name: eu\n    tags: [eu]\n    databases:\n      - {name: one, url_env: STRATUM_TEST_FLEET_ONE}\n      - {url: 'postgres://h/two'}\n  - name: us\n    databases:\n      - {name: three, url_env: STRATUM_TEST_FLEET_MISSING}\n",
        )
        .unwrap();
        std::env::set_var("STRATUM_TEST_FLEET_ONE", "postgres://u:pw@h/one");
        let eu = Selection {
            groups: Some(vec!["eu".into()]),
            ..Selection::default()
        };
        let targets = eu.targets(&config, Path::new(".")).unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].name, "one");
        assert_eq!(targets[0].group.as_deref(), Some("eu"));
        assert_eq!(targets[1].tags, ["eu"]);
        let all = Selection {
            groups: Some(Vec::new()),
            ..Selection::default()
        };
        let e = all.targets(&config, Path::new(".")).unwrap_err();
        assert!(
            e.to_string()
                .contains("STRATUM_TEST_FLEET_MISSING is not set"),
            "{e}"
        );
        let unknown = Selection {
            groups: Some(vec!["asia".into()]),
            ..Selection::default()
        };
        let e = unknown.targets(&config, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("groups: eu, us"), "{e}");
    }
}
