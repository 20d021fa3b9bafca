//! Text search dictionaries (CREATE TEXT SEARCH DICTIONARY). Options change
//! in place; a new template is drop and create.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};

/// A text search dictionary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TsDictionary {
    /// Qualified name.
    pub name: QualName,
    /// Its template, qualified.
    pub template: String,
    /// Its options as PostgreSQL keeps them: `stopwords = 'english', ...`.
    pub options: Option<String>,
    /// COMMENT ON TEXT SEARCH DICTIONARY.
    pub comment: Option<String>,
}

/// A change to a text search dictionary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TsDictionaryChange {
    /// CREATE TEXT SEARCH DICTIONARY.
    Create(TsDictionary),
    /// DROP TEXT SEARCH DICTIONARY.
    Drop(TsDictionary),
    /// ALTER TEXT SEARCH DICTIONARY ... (options); `reset` lists options to
    /// take away.
    SetOptions {
        dictionary: TsDictionary,
        reset: Vec<String>,
    },
}

impl TsDictionaryChange {
    fn dictionary(&self) -> &TsDictionary {
        match self {
            TsDictionaryChange::Create(d)
            | TsDictionaryChange::Drop(d)
            | TsDictionaryChange::SetOptions { dictionary: d, .. } => d,
        }
    }
}

/// The option names of `stopwords = 'english', accept = 'false'`.
fn option_names(options: &Option<String>) -> Vec<String> {
    options
        .iter()
        .flat_map(|o| o.split(", "))
        .filter_map(|o| o.split_once(" = ").map(|(k, _)| k.to_string()))
        .collect()
}

impl Action for TsDictionaryChange {
    fn id(&self) -> ObjectId {
        ObjectId::TsDictionary {
            name: self.dictionary().name.clone(),
        }
    }

    fn label(&self) -> String {
        format!(
            "text search dictionary {}",
            self.dictionary().name.plain()
        )
    }

    fn verb(&self) -> &'static str {
        match self {
            TsDictionaryChange::Create(_) => "create_text_search_dictionary",
            TsDictionaryChange::Drop(_) => "drop_text_search_dictionary",
            TsDictionaryChange::SetOptions { .. } => "alter_text_search_dictionary",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            TsDictionaryChange::Create(_) => super::made(vec![self.id()]),
            TsDictionaryChange::Drop(_) => super::gone(vec![self.id()]),
            TsDictionaryChange::SetOptions { .. } => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let d = self.dictionary();
        Some(match self {
            TsDictionaryChange::Create(_) => {
                let options = d
                    .options
                    .as_ref()
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default();
                format!(
                    "CREATE TEXT SEARCH DICTIONARY {} (TEMPLATE = {}{options});",
                    d.name, d.template
                )
            }
            TsDictionaryChange::Drop(_) => format!("DROP TEXT SEARCH DICTIONARY {};", d.name),
            TsDictionaryChange::SetOptions { reset, .. } => {
                let mut options: Vec<String> = d.options.iter().cloned().collect();
                options.extend(reset.iter().cloned());
                format!(
                    "ALTER TEXT SEARCH DICTIONARY {} ({});",
                    d.name,
                    options.join(", ")
                )
            }
        })
    }

    fn rank(&self) -> Rank {
        match self {
            TsDictionaryChange::Drop(_) => rank::DROP_BASE,
            _ => rank::CREATE_ROUTINE,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for TsDictionaryChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_ts_dict", "'TEXT SEARCH DICTIONARY'", "dictowner", "dictnamespace", ""))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT d.oid, n.nspname::text, d.dictname::text, \
               pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname), \
               d.dictinitoption, {comment} \
             FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace \
             JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate \
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace \
             WHERE {USER_SCHEMA} AND {}",
            not_extension_member("pg_ts_dict", "d.oid"), comment = comment_sql("pg_ts_dict", "d.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            reader.insert(
                Class::TsDict,
                row.get(0),
                ObjectId::TsDictionary { name: name.clone() },
            );
            cat.ts_dictionaries.insert(
                name.clone(),
                TsDictionary {
                    name,
                    template: row.get(3),
                    options: row.get(4),
                    comment: row.get(5),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, dictionary) in &desired.ts_dictionaries {
            let old = current.ts_dictionaries.get(name);
            let kept = old.filter(|o| o.template == dictionary.template);
            match kept {
                None => {
                    if let Some(o) = old {
                        out.push(TsDictionaryChange::Drop(o.clone()).into());
                    }
                    out.push(TsDictionaryChange::Create(dictionary.clone()).into());
                }
                Some(o) if o.options != dictionary.options => {
                    let now = option_names(&dictionary.options);
                    let reset = option_names(&o.options)
                        .into_iter()
                        .filter(|k| !now.contains(k))
                        .collect();
                    out.push(
                        TsDictionaryChange::SetOptions {
                            dictionary: dictionary.clone(),
                            reset,
                        }
                        .into(),
                    );
                }
                Some(_) => {}
            }
            comment::changed(
                out,
                ObjectId::TsDictionary { name: name.clone() },
                format!("TEXT SEARCH DICTIONARY {name}"),
                kept.and_then(|o| o.comment.as_ref()),
                dictionary.comment.as_ref(),
            );
        }
        for (name, dictionary) in &current.ts_dictionaries {
            if !desired.ts_dictionaries.contains_key(name) {
                out.push(TsDictionaryChange::Drop(dictionary.clone()).into());
            }
        }
    }
}
