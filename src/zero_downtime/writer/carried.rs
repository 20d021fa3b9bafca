//! The indexes, constraints, sequences, identities and other tables'
//! foreign keys that move with a renamed or retyped column: built beside
//! it in expand, named at contract, and back in the contract's down file.

use super::{short, Shape, Writer};
use crate::kinds::relation::{Constraint, ConstraintKind, Identity, Index};
use crate::plan::Step;
use crate::sql::{ident, literal, rename_column, QualName};
use crate::zero_downtime::Carried;

impl Writer<'_> {
    /// A definition of the schema's, over the column expand adds (a
    /// retype's shadow).
    pub(super) fn on_new(&self, definition: &str) -> String {
        match self.shape {
            Shape::Retype => rename_column(definition, &self.to.name, &self.new)
                .unwrap_or_else(|| definition.to_string()),
            _ => definition.to_string(),
        }
    }

    /// `CREATE INDEX CONCURRENTLY` of `definition` (named `was`) under
    /// `name`.
    pub(super) fn create_index(
        &self,
        definition: &str,
        was: &str,
        name: &str,
        detail: String,
    ) -> Step {
        let sql = definition.replacen(
            &format!(" {} ON ", ident(was)),
            &format!(" CONCURRENTLY {} ON ", ident(name)),
            1,
        );
        self.step("create_index", &detail, format!("{sql};"), false)
    }

    /// The unique index of key `k` built CONCURRENTLY under `name`, over
    /// the new column when `new`; and the key's ` DEFERRABLE ...` clause.
    pub(super) fn key_index(&self, k: &Constraint, name: &str, new: bool) -> (Step, String) {
        let named = Constraint {
            name: name.to_string(),
            definition: match new {
                true => self.on_new(&k.definition),
                false => k.definition.clone(),
            },
            ..k.clone()
        };
        let (index, deferrable) = crate::kinds::constraint::unique_index(self.table, &named)
            .expect("`carried` takes only keys with a plain unique index");
        let detail = format!("index of {} {}, built CONCURRENTLY", kind(k), k.name);
        (
            self.create_index(&index.definition, name, name, detail),
            deferrable,
        )
    }

    /// `k` made a key over the index `index` built for it.
    pub(super) fn key_using(&self, k: &Constraint, index: &str, deferrable: &str) -> Step {
        self.step(
            "add_constraint",
            &format!("{} {} over its index", kind(k), k.name),
            self.alter(&format!(
                "ADD CONSTRAINT {} {} USING INDEX {}{deferrable}",
                ident(&k.name),
                kind(k),
                ident(index)
            )),
            true,
        )
    }

    /// Check or foreign key `k` added under `name` (over the new column
    /// when `new`) without reading the table: NOT VALID.
    pub(super) fn add_unchecked(&self, k: &Constraint, name: &str, new: bool) -> Step {
        let definition = match new {
            true => self.on_new(&k.definition),
            false => k.definition.clone(),
        };
        let state = if k.enforced {
            " NOT VALID"
        } else {
            " NOT ENFORCED"
        };
        self.step(
            "add_constraint",
            &format!("constraint {} for new rows (NOT VALID)", k.name),
            self.alter(&format!(
                "ADD CONSTRAINT {} {definition}{state}",
                ident(name)
            )),
            true,
        )
    }

    pub(super) fn comment_on(&self, c: &Carried, name: &str, comment: Option<&str>) -> Step {
        let (what, object) = match c {
            Carried::Index(_) => ("index", QualName::new(&self.table.schema, name).to_string()),
            Carried::Constraint(_) => ("constraint", format!("{} ON {}", ident(name), self.table)),
        };
        self.step(
            "alter_column",
            &format!("~ {what} {name}: comment"),
            format!(
                "COMMENT ON {} {object} IS {};",
                what.to_uppercase(),
                comment.map_or("NULL".to_string(), literal)
            ),
            true,
        )
    }

    /// Expand: the schema's indexes and constraints over the column, on
    /// the new column, under temporary names.
    pub(super) fn build_carried(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for c in &self.carries.new {
            let temp = temp(c.name());
            out.push(match c {
                Carried::Index(i) => self.create_index(
                    &self.on_new(&renamed_index(i, &temp)),
                    &temp,
                    &temp,
                    format!("index {} on {}, built CONCURRENTLY", i.name.name, self.new),
                ),
                Carried::Constraint(k) if is_key(k) => self.key_index(k, &temp, true).0,
                Carried::Constraint(k) => self.add_unchecked(k, &temp, true),
            });
        }
        out
    }

    /// Contract: the new column's checks and foreign keys validated.
    pub(super) fn validate_carried(&self) -> Vec<Step> {
        self.carries
            .new
            .iter()
            .filter_map(|c| match c {
                Carried::Constraint(k) if !is_key(k) && k.validated && k.enforced => {
                    Some(self.validate(&temp(&k.name)))
                }
                _ => None,
            })
            .collect()
    }

    /// Contract, once the old column is gone: the new column's indexes
    /// and constraints under their names.
    pub(super) fn name_carried(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for c in &self.carries.new {
            let temp = temp(c.name());
            let (name, comment) = match c {
                Carried::Index(i) => (&i.name.name, &i.comment),
                Carried::Constraint(k) => (&k.name, &k.comment),
            };
            out.push(match c {
                Carried::Index(_) => self.step(
                    "rename_index",
                    &format!("index {temp} renamed {name}"),
                    format!(
                        "ALTER INDEX {} RENAME TO {};",
                        QualName::new(&self.table.schema, &temp),
                        ident(name)
                    ),
                    true,
                ),
                Carried::Constraint(k) if is_key(k) => {
                    let deferrable = crate::kinds::constraint::unique_index(self.table, k)
                        .map(|(_, d)| d)
                        .unwrap_or_default();
                    self.key_using(k, &temp, &deferrable)
                }
                Carried::Constraint(_) => self.step(
                    "rename_constraint",
                    &format!("constraint {temp} renamed {name}"),
                    self.alter(&format!(
                        "RENAME CONSTRAINT {} TO {}",
                        ident(&temp),
                        ident(name)
                    )),
                    true,
                ),
            });
            if comment.is_some() {
                out.push(self.comment_on(c, name, comment.as_deref()));
            }
        }
        out
    }

    /// The contract's down file, the columns swapped back: the new
    /// column's indexes, checks and foreign keys as expand left them (its
    /// keys stay until `unname_keys`).
    pub(super) fn unname_carried(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for c in &self.carries.new {
            let temp = temp(c.name());
            match c {
                Carried::Index(i) => {
                    if i.comment.is_some() {
                        out.push(self.comment_on(c, &i.name.name, None));
                    }
                    out.push(self.step(
                        "rename_index",
                        &format!("index {} renamed {temp}", i.name.name),
                        format!("ALTER INDEX {} RENAME TO {};", i.name, ident(&temp)),
                        true,
                    ));
                }
                Carried::Constraint(k) if is_key(k) => {}
                Carried::Constraint(k) => {
                    out.push(self.drop_constraint(k));
                    out.push(self.add_unchecked(k, &temp, true));
                }
            }
        }
        out
    }

    pub(super) fn drop_constraint(&self, k: &Constraint) -> Step {
        self.step(
            "drop_constraint",
            &format!("- constraint {}", k.name),
            self.alter(&format!("DROP CONSTRAINT {}", ident(&k.name))),
            true,
        )
    }

    /// The contract's down file, once the old column is backfilled: the
    /// new column's keys as expand left them, unique indexes (built before
    /// the keys go, so that the column is never without one).
    pub(super) fn unname_keys(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for c in &self.carries.new {
            if let Carried::Constraint(k) = c {
                if is_key(k) {
                    out.push(self.key_index(k, &temp(&k.name), true).0);
                    out.push(self.drop_constraint(k));
                }
            }
        }
        out
    }

    /// The end of the contract's down file: the old column's indexes and
    /// constraints (its keys over the indexes built before when `built`).
    pub(super) fn rebuild_carried(&self, built: bool) -> Vec<Step> {
        let mut out = Vec::new();
        for c in &self.carries.old {
            match c {
                Carried::Index(i) => out.push(self.create_index(
                    &i.definition,
                    &i.name.name,
                    &i.name.name,
                    format!(
                        "index {} on {}, built CONCURRENTLY",
                        i.name.name, self.from.name
                    ),
                )),
                Carried::Constraint(k) if is_key(k) => {
                    let index = if built {
                        old_key(&k.name)
                    } else {
                        k.name.clone()
                    };
                    let (build, deferrable) = self.key_index(k, &index, false);
                    if !built {
                        out.push(build);
                    }
                    out.push(self.key_using(k, &index, &deferrable));
                }
                Carried::Constraint(k) => {
                    out.push(self.add_unchecked(k, &k.name, false));
                    if k.validated && k.enforced {
                        out.push(self.validate(&k.name));
                    }
                }
            }
            let comment = match c {
                Carried::Index(i) => &i.comment,
                Carried::Constraint(k) => &k.comment,
            };
            if comment.is_some() {
                out.push(self.comment_on(c, c.name(), comment.as_deref()));
            }
        }
        out
    }

    /// The sequences the column owns, passed to `column`.
    pub(super) fn own_sequences(&self, column: &str) -> Vec<Step> {
        self.carries
            .sequences
            .iter()
            .map(|s| {
                self.step(
                    "alter_column",
                    &format!("~ sequence {} owned by {column}", s.plain()),
                    format!(
                        "ALTER SEQUENCE {s} OWNED BY {}.{};",
                        self.table,
                        ident(column)
                    ),
                    true,
                )
            })
            .collect()
    }

    /// The transaction-local setting that carries an identity's next
    /// value from the old column's sequence to the new one's.
    pub(super) fn next_setting(&self) -> String {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(format!("{}.{}", self.table, self.from.name).as_bytes());
        format!(
            "stratum.next_{:02x}{:02x}{:02x}{:02x}",
            hash[0], hash[1], hash[2], hash[3]
        )
    }

    /// The next value of `column`'s identity sequence, kept for the rest of
    /// the transaction (the value is used up; its sequence goes with it).
    pub(super) fn keep_next(&self, column: &str) -> Step {
        self.step(
            "alter_column",
            &format!("~ the next value of {column}'s identity kept"),
            format!(
                "SELECT pg_catalog.set_config({}, pg_catalog.nextval(\
                 pg_catalog.pg_get_serial_sequence({}, {}))::text, true);",
                literal(&self.next_setting()),
                literal(&self.table.to_string()),
                literal(column)
            ),
            true,
        )
    }

    /// `identity` given to `column`, its sequence going on from the value
    /// [`Writer::keep_next`] kept.
    pub(super) fn add_identity(&self, column: &str, identity: &Identity) -> Vec<Step> {
        vec![
            self.step(
                "alter_column",
                &format!("~ column {column}: identity"),
                self.alter(&format!(
                    "ALTER COLUMN {} ADD {}",
                    ident(column),
                    crate::kinds::column::identity::sql(identity)
                )),
                true,
            ),
            self.step(
                "alter_column",
                &format!("~ column {column}: identity goes on from the old one"),
                format!(
                    "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence({}, {}), \
                     pg_catalog.current_setting({})::bigint, false);",
                    literal(&self.table.to_string()),
                    literal(column),
                    literal(&self.next_setting())
                ),
                true,
            ),
        ]
    }

    /// Foreign key `k` of table `on` to this column, added under `name`
    /// NOT VALID (to the new column when `new`) and validated on its own.
    pub(super) fn add_incoming(
        &self,
        on: &QualName,
        k: &Constraint,
        name: &str,
        new: bool,
    ) -> Vec<Step> {
        let definition = match (new, k.definition.split_once(" REFERENCES ")) {
            (true, Some((head, target))) => {
                format!("{head} REFERENCES {}", self.on_new(target))
            }
            _ => k.definition.clone(),
        };
        let mut out = vec![self.step(
            "add_constraint",
            &format!("foreign key {} of {} (NOT VALID)", k.name, on.plain()),
            format!(
                "ALTER TABLE {on} ADD CONSTRAINT {} {definition} NOT VALID;",
                ident(name)
            ),
            true,
        )];
        if k.validated && k.enforced {
            out.push(self.step(
                "validate_constraint",
                &format!("foreign key {} of {} validated", k.name, on.plain()),
                format!("ALTER TABLE {on} VALIDATE CONSTRAINT {};", ident(name)),
                false,
            ));
        }
        out
    }

    pub(super) fn drop_incoming(&self, on: &QualName, k: &Constraint) -> Step {
        self.step(
            "drop_constraint",
            &format!("- foreign key {} of {}", k.name, on.plain()),
            format!("ALTER TABLE {on} DROP CONSTRAINT {};", ident(&k.name)),
            true,
        )
    }

    /// Foreign key `k` of `on`, added under its temporary name, renamed
    /// to its own (with its comment).
    pub(super) fn name_incoming(&self, on: &QualName, k: &Constraint) -> Vec<Step> {
        let mut out = vec![self.step(
            "rename_constraint",
            &format!("foreign key {} of {} renamed", k.name, on.plain()),
            format!(
                "ALTER TABLE {on} RENAME CONSTRAINT {} TO {};",
                ident(&temp(&k.name)),
                ident(&k.name)
            ),
            true,
        )];
        if let Some(comment) = &k.comment {
            out.push(self.step(
                "alter_column",
                &format!("~ constraint {}: comment", k.name),
                format!(
                    "COMMENT ON CONSTRAINT {} ON {on} IS {};",
                    ident(&k.name),
                    literal(comment)
                ),
                true,
            ));
        }
        out
    }
}

/// The temporary name of an index or constraint built beside the one it
/// replaces.
pub(super) fn temp(name: &str) -> String {
    short(format!("stratum_zd_{name}"))
}

/// The name of the old column's key's index while the new column's key
/// still holds the key's name (the contract's down file).
pub(super) fn old_key(name: &str) -> String {
    short(format!("stratum_zd_old_{name}"))
}

pub(super) fn is_key(k: &Constraint) -> bool {
    matches!(k.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
}

/// `PRIMARY KEY` or `UNIQUE`.
pub(super) fn kind(k: &Constraint) -> &'static str {
    match k.kind {
        ConstraintKind::PrimaryKey => "PRIMARY KEY",
        _ => "UNIQUE",
    }
}

/// `index`'s definition under the name `name`.
pub(super) fn renamed_index(index: &Index, name: &str) -> String {
    index.definition.replacen(
        &format!(" {} ON ", ident(&index.name.name)),
        &format!(" {} ON ", ident(name)),
        1,
    )
}
