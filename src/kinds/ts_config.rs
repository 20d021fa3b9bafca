//! Text search configurations: a parser and, per token type, the
//! dictionaries to consult. Mappings change in place (ADD / ALTER / DROP
//! MAPPING); a new parser is drop and create.

use std::collections::BTreeMap;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};

/// A text search configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TsConfig {
    /// Qualified name.
    pub name: QualName,
    /// Its parser, qualified.
    pub parser: String,
    /// Dictionaries by token type, in the order they are consulted.
    pub mappings: BTreeMap<String, Vec<String>>,
    /// COMMENT ON TEXT SEARCH CONFIGURATION.
    pub comment: Option<String>,
}

/// What a mapping change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MappingAction {
    /// ADD MAPPING.
    Add,
    /// ALTER MAPPING.
    Alter,
    /// DROP MAPPING.
    Drop,
}

/// A change to a text search configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TsConfigChange {
    /// CREATE TEXT SEARCH CONFIGURATION with its parser (mappings follow).
    Create(TsConfig),
    /// DROP TEXT SEARCH CONFIGURATION.
    Drop(TsConfig),
    /// ALTER TEXT SEARCH CONFIGURATION ... ADD / ALTER / DROP MAPPING FOR
    /// `tokens` [WITH `dictionaries`].
    Mapping {
        name: QualName,
        action: MappingAction,
        tokens: Vec<String>,
        dictionaries: Vec<String>,
    },
}

impl TsConfigChange {
    fn name(&self) -> &QualName {
        match self {
            TsConfigChange::Create(c) | TsConfigChange::Drop(c) => &c.name,
            TsConfigChange::Mapping { name, .. } => name,
        }
    }
}

impl Action for TsConfigChange {
    fn id(&self) -> ObjectId {
        ObjectId::TsConfig {
            name: self.name().clone(),
        }
    }

    fn label(&self) -> String {
        format!("text search configuration {}", self.name().plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            TsConfigChange::Create(_) => "create_text_search_configuration",
            TsConfigChange::Drop(_) => "drop_text_search_configuration",
            TsConfigChange::Mapping { .. } => "alter_text_search_configuration",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            TsConfigChange::Create(_) => super::made(vec![self.id()]),
            TsConfigChange::Drop(_) => super::gone(vec![self.id()]),
            TsConfigChange::Mapping { dictionaries, .. } => super::needs(
                std::iter::once(self.id())
                    .chain(dictionaries.iter().filter_map(|d| dictionary_id(d)))
                    .collect(),
            ),
        }
    }

    fn sql(&self) -> Option<String> {
        let name = self.name();
        Some(match self {
            TsConfigChange::Create(c) => format!(
                "CREATE TEXT SEARCH CONFIGURATION {name} (PARSER = {});",
                c.parser
            ),
            TsConfigChange::Drop(_) => format!("DROP TEXT SEARCH CONFIGURATION {name};"),
            TsConfigChange::Mapping {
                action,
                tokens,
                dictionaries,
                ..
            } => {
                let tokens = tokens.join(", ");
                match action {
                    MappingAction::Drop => format!(
                        "ALTER TEXT SEARCH CONFIGURATION {name} DROP MAPPING FOR {tokens};"
                    ),
                    _ => format!(
                        "ALTER TEXT SEARCH CONFIGURATION {name} {} MAPPING FOR {tokens} WITH {};",
                        if *action == MappingAction::Add {
                            "ADD"
                        } else {
                            "ALTER"
                        },
                        dictionaries.join(", ")
                    ),
                }
            }
        })
    }

    fn rank(&self) -> Rank {
        match self {
            TsConfigChange::Drop(_) => rank::DROP_BASE,
            _ => rank::CREATE_ROUTINE,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for TsConfigChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_ts_config", "'TEXT SEARCH CONFIGURATION'", "cfgowner", "cfgnamespace", ""))
    }

    fn query(_version: i32) -> Option<String> {
        let mappings = |what: &str| {
            format!(
                "ARRAY(SELECT {what} FROM (SELECT tt.alias, \
                   pg_catalog.string_agg(m.mapdict::pg_catalog.regdictionary::text, ',' ORDER BY m.mapseqno) AS dicts \
                   FROM pg_catalog.pg_ts_config_map m \
                   JOIN pg_catalog.ts_token_type(c.cfgparser) tt ON tt.tokid = m.maptokentype \
                   WHERE m.mapcfg = c.oid GROUP BY tt.alias ORDER BY tt.alias) s)"
            )
        };
        Some(format!(
            "SELECT c.oid, n.nspname::text, c.cfgname::text, \
               pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname), \
               {}, {}, {comment} \
             FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace \
             JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser \
             JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace \
             WHERE {USER_SCHEMA} AND {}",
            mappings("s.alias::text"),
            mappings("s.dicts"),
            not_extension_member("pg_ts_config", "c.oid"), comment = comment_sql("pg_ts_config", "c.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            reader.insert(
                Class::TsConfig,
                row.get(0),
                ObjectId::TsConfig { name: name.clone() },
            );
            let tokens: Vec<String> = row.get(4);
            let dictionaries: Vec<String> = row.get(5);
            let mappings = tokens
                .into_iter()
                .zip(dictionaries)
                .map(|(t, d)| (t, d.split(',').map(str::to_string).collect()))
                .collect();
            cat.ts_configs.insert(
                name.clone(),
                TsConfig {
                    name,
                    parser: row.get(3),
                    mappings,
                    comment: row.get(6),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let empty = BTreeMap::new();
        for (name, config) in &desired.ts_configs {
            let old = current.ts_configs.get(name);
            let kept = old.filter(|o| o.parser == config.parser);
            if kept.is_none() {
                if let Some(o) = old {
                    out.push(TsConfigChange::Drop(o.clone()).into());
                }
                out.push(TsConfigChange::Create(config.clone()).into());
            }
            mappings(name, kept.map_or(&empty, |o| &o.mappings), &config.mappings, out);
            comment::changed(
                out,
                ObjectId::TsConfig { name: name.clone() },
                format!("TEXT SEARCH CONFIGURATION {name}"),
                kept.and_then(|o| o.comment.as_ref()),
                config.comment.as_ref(),
            );
        }
        for (name, config) in &current.ts_configs {
            if !desired.ts_configs.contains_key(name) {
                out.push(TsConfigChange::Drop(config.clone()).into());
            }
        }
    }
}

/// The id of a dictionary named in a mapping, when it is a user's.
fn dictionary_id(qualified: &str) -> Option<ObjectId> {
    let (schema, name) = qualified.split_once('.')?;
    (schema != "pg_catalog").then(|| ObjectId::TsDictionary {
        name: QualName::new(schema.trim_matches('"'), name.trim_matches('"')),
    })
}

/// Mapping changes from `old` to `new`, one statement per action and
/// dictionary list, token types in order.
fn mappings(
    name: &QualName,
    old: &BTreeMap<String, Vec<String>>,
    new: &BTreeMap<String, Vec<String>>,
    out: &mut Vec<Change>,
) {
    let mut groups: BTreeMap<(u8, Vec<String>), Vec<String>> = BTreeMap::new();
    for (token, dictionaries) in new {
        match old.get(token) {
            None => groups
                .entry((0, dictionaries.clone()))
                .or_default()
                .push(token.clone()),
            Some(d) if d != dictionaries => groups
                .entry((1, dictionaries.clone()))
                .or_default()
                .push(token.clone()),
            Some(_) => {}
        }
    }
    for token in old.keys().filter(|t| !new.contains_key(*t)) {
        groups.entry((2, Vec::new())).or_default().push(token.clone());
    }
    for ((action, dictionaries), tokens) in groups {
        let action = [MappingAction::Add, MappingAction::Alter, MappingAction::Drop][action as usize];
        out.push(
            TsConfigChange::Mapping {
                name: name.clone(),
                action,
                tokens,
                dictionaries,
            }
            .into(),
        );
    }
}
