//! The statements of a column's pattern, phase by phase, up and down:
//! the shadow or new column, the trigger that keeps it in step, the
//! backfill, the swap, and their undoing.

use super::{Carried, Carries, Pattern};
use crate::diff::Change;
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::expand::ExpandChange;
use crate::kinds::relation::{Column, Constraint, ConstraintKind, Identity, Index};
use crate::plan::Step;
use crate::sql::{ident, literal, rename_column, QualName};

/// What a column's pattern does, for its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Rename,
    Retype,
    NotNull,
    Compute,
}

/// Writes one pattern's statements.
pub(super) struct Writer<'a> {
    shape: Shape,
    table: &'a QualName,
    from: &'a Column,
    to: &'a Column,
    /// The column the new shape lives in until contract.
    new: String,
    function: QualName,
    trigger: String,
    check: String,
    /// What fills the column: an expression over the row's columns.
    fill: String,
    /// The indexes, constraints and sequences that move with the column.
    carries: &'a Carries,
}

impl<'a> Writer<'a> {
    /// The table the pattern is on.
    pub(super) fn table(&self) -> &QualName {
        self.table
    }

    pub(super) fn new(p: &'a Pattern) -> Writer<'a> {
        let table = p.table();
        let (from, to) = p.columns().expect("a column's pattern");
        let shape = match p {
            Pattern::Rename { .. } => Shape::Rename,
            Pattern::Retype { .. } => Shape::Retype,
            Pattern::NotNull { .. } => Shape::NotNull,
            Pattern::Compute { .. } => Shape::Compute,
            Pattern::RenameTable { .. } => unreachable!("a table's pattern is written in `phases`"),
        };
        let fill = match p {
            Pattern::NotNull { fill, .. } | Pattern::Compute { fill, .. } => fill.clone(),
            _ => String::new(),
        };
        static NOTHING: Carries = Carries {
            old: Vec::new(),
            new: Vec::new(),
            sequences: Vec::new(),
            views: Vec::new(),
            incoming_old: Vec::new(),
            incoming_new: Vec::new(),
        };
        let carries = match p {
            Pattern::Rename { carries, .. } | Pattern::Retype { carries, .. } => carries,
            _ => &NOTHING,
        };
        let new = match shape {
            Shape::Rename => to.name.clone(),
            Shape::Retype => short(format!("{}_stratum_new", from.name)),
            Shape::NotNull | Shape::Compute => from.name.clone(),
        };
        Writer {
            shape,
            table,
            from,
            to,
            function: QualName::new(
                &table.schema,
                short(format!("stratum_zd_{}_{}", table.name, from.name)),
            ),
            trigger: short(format!("stratum_zd_{}", from.name)),
            check: short(format!("stratum_zd_{new}_not_null")),
            fill,
            new,
            carries,
        }
    }

    fn step(&self, verb: &str, detail: &str, sql: String, transactional: bool) -> Step {
        self.step_with(verb, detail, sql, transactional, Vec::new())
    }

    fn step_with(
        &self,
        verb: &str,
        detail: &str,
        sql: String,
        transactional: bool,
        hazards: Vec<Hazard>,
    ) -> Step {
        let change = ExpandChange {
            table: self.table.clone(),
            column: self.from.name.clone(),
            verb: verb.to_string(),
            detail: detail.to_string(),
            sql,
            transactional,
            hazards: hazards.clone(),
        };
        let change = Change::from(change);
        let action = change.action();
        Step {
            kind: action.verb(),
            object: action.label(),
            hazards,
            sql: action.sql(),
            transactional,
            change,
        }
    }

    fn alter(&self, rest: &str) -> String {
        format!("ALTER TABLE {} {rest};", self.table)
    }

    fn column_type(&self, c: &Column) -> String {
        match &c.collation {
            Some(collation) => format!("{} COLLATE {collation}", c.data_type),
            None => c.data_type.clone(),
        }
    }

    /// A definition of the schema's, over the column expand adds (a
    /// retype's shadow).
    fn on_new(&self, definition: &str) -> String {
        match self.shape {
            Shape::Retype => rename_column(definition, &self.to.name, &self.new)
                .unwrap_or_else(|| definition.to_string()),
            _ => definition.to_string(),
        }
    }

    /// `CREATE INDEX CONCURRENTLY` of `definition` (named `was`) under
    /// `name`.
    fn create_index(&self, definition: &str, was: &str, name: &str, detail: String) -> Step {
        let sql = definition.replacen(
            &format!(" {} ON ", ident(was)),
            &format!(" CONCURRENTLY {} ON ", ident(name)),
            1,
        );
        self.step("create_index", &detail, format!("{sql};"), false)
    }

    /// The unique index of key `k` built CONCURRENTLY under `name`, over
    /// the new column when `new`; and the key's ` DEFERRABLE ...` clause.
    fn key_index(&self, k: &Constraint, name: &str, new: bool) -> (Step, String) {
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
    fn key_using(&self, k: &Constraint, index: &str, deferrable: &str) -> Step {
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
    fn add_unchecked(&self, k: &Constraint, name: &str, new: bool) -> Step {
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

    fn comment_on(&self, c: &Carried, name: &str, comment: Option<&str>) -> Step {
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
    fn build_carried(&self) -> Vec<Step> {
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
    fn validate_carried(&self) -> Vec<Step> {
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
    fn name_carried(&self) -> Vec<Step> {
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
    fn unname_carried(&self) -> Vec<Step> {
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

    fn drop_constraint(&self, k: &Constraint) -> Step {
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
    fn unname_keys(&self) -> Vec<Step> {
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
    fn rebuild_carried(&self, built: bool) -> Vec<Step> {
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
    fn own_sequences(&self, column: &str) -> Vec<Step> {
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
    fn next_setting(&self) -> String {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(format!("{}.{}", self.table, self.from.name).as_bytes());
        format!(
            "stratum.next_{:02x}{:02x}{:02x}{:02x}",
            hash[0], hash[1], hash[2], hash[3]
        )
    }

    /// The next value of `column`'s identity sequence, kept for the rest of
    /// the transaction (the value is used up; its sequence goes with it).
    fn keep_next(&self, column: &str) -> Step {
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
    fn add_identity(&self, column: &str, identity: &Identity) -> Vec<Step> {
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

    /// The trigger function and the trigger that keep old and new in step.
    fn sync(&self) -> Vec<Step> {
        let (old, new) = (ident(&self.from.name), ident(&self.new));
        let body = match self.shape {
            Shape::Rename => {
                let fill = match &self.to.default {
                    Some(default) => format!(
                        "    IF NEW.{new} IS NULL AND NEW.{old} IS NULL THEN\n      \
                         NEW.{new} := {default};\n      NEW.{old} := NEW.{new};\n    ELS"
                    ),
                    None => "    ".to_string(),
                };
                format!(
                    "  IF TG_OP = 'INSERT' THEN\n{fill}IF NEW.{new} IS NULL THEN\n      \
                     NEW.{new} := NEW.{old};\n    ELSIF NEW.{old} IS NULL THEN\n      \
                     NEW.{old} := NEW.{new};\n    END IF;\n  \
                     ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} AND NEW.{new} IS NOT DISTINCT FROM OLD.{new} THEN\n    \
                     NEW.{new} := NEW.{old};\n  \
                     ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} AND NEW.{old} IS NOT DISTINCT FROM OLD.{old} THEN\n    \
                     NEW.{old} := NEW.{new};\n  \
                     ELSIF NEW.{new} IS NULL THEN\n    NEW.{new} := NEW.{old};\n  \
                     ELSIF NEW.{old} IS NULL THEN\n    NEW.{old} := NEW.{new};\n  END IF;\n"
                )
            }
            Shape::Retype => format!(
                "  IF TG_OP = 'INSERT' OR NEW.{old} IS DISTINCT FROM OLD.{old} OR NEW.{new} IS NULL THEN\n    \
                 NEW.{new} := NEW.{old}::{};\n  END IF;\n",
                self.to.data_type
            ),
            Shape::NotNull => format!(
                "  IF NEW.{old} IS NULL THEN\n    NEW.{old} := {};\n  END IF;\n",
                self.of_row("NEW")
            ),
            // Computed when a write leaves it out, and again when what it
            // is computed from changes under a write that leaves it as it
            // was (a version that writes only the other columns).
            Shape::Compute => format!(
                "  IF TG_OP = 'INSERT' THEN\n    IF NEW.{new} IS NULL THEN\n      \
                 NEW.{new} := {now};\n    END IF;\n  \
                 ELSIF NEW.{new} IS NULL OR (NEW.{new} IS NOT DISTINCT FROM OLD.{new} AND {now} IS DISTINCT FROM {before}) THEN\n    \
                 NEW.{new} := {now};\n  END IF;\n",
                now = self.of_row("NEW"),
                before = self.of_row("OLD")
            ),
        };
        let function = format!(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $stratum$\nBEGIN\n{body}  \
             RETURN NEW;\nEND\n$stratum$;",
            self.function
        );
        let trigger = format!(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}();",
            ident(&self.trigger),
            self.table,
            self.function
        );
        let what = match self.shape {
            Shape::Rename => format!("keeps {} and {} in step", self.from.name, self.new),
            Shape::Retype => format!("copies {} into {}", self.from.name, self.new),
            Shape::NotNull => format!("fills NULLs of {}", self.from.name),
            Shape::Compute => format!("computes {}", self.new),
        };
        vec![
            self.step(
                "sync_trigger",
                &format!("trigger function {what}"),
                function,
                true,
            ),
            self.step("sync_trigger", &format!("trigger {what}"), trigger, true),
        ]
    }

    /// The fill expression over the row `row` of a trigger (`NEW`, `OLD`).
    fn of_row(&self, row: &str) -> String {
        format!(
            "(SELECT {} FROM (SELECT {row}.*) AS stratum_row)",
            self.fill
        )
    }

    fn drop_sync(&self) -> Vec<Step> {
        vec![
            self.step(
                "drop_sync_trigger",
                "- trigger",
                format!("DROP TRIGGER {} ON {};", ident(&self.trigger), self.table),
                true,
            ),
            self.step(
                "drop_sync_trigger",
                "- trigger function",
                format!("DROP FUNCTION {}();", self.function),
                true,
            ),
        ]
    }

    fn add_check(&self, column: &str, name: &str) -> Step {
        self.step(
            "add_constraint",
            &format!("NOT NULL of {column} for new rows (CHECK NOT VALID)"),
            self.alter(&format!(
                "ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID",
                ident(name),
                ident(column)
            )),
            true,
        )
    }

    fn validate(&self, name: &str) -> Step {
        self.step(
            "validate_constraint",
            "the NOT NULL check validated",
            self.alter(&format!("VALIDATE CONSTRAINT {}", ident(name))),
            false,
        )
    }

    /// SET NOT NULL through a valid check, which spares it a scan.
    fn set_not_null(&self, column: &str, check: &str) -> Vec<Step> {
        vec![
            self.step(
                "alter_column",
                &format!("~ column {column}: NOT NULL"),
                self.alter(&format!("ALTER COLUMN {} SET NOT NULL", ident(column))),
                true,
            ),
            self.step(
                "alter_column",
                "- the NOT NULL check",
                self.alter(&format!("DROP CONSTRAINT {}", ident(check))),
                true,
            ),
        ]
    }

    fn set_default(&self, column: &str, default: Option<&str>) -> Step {
        let sql = match default {
            Some(d) => format!("ALTER COLUMN {} SET DEFAULT {d}", ident(column)),
            None => format!("ALTER COLUMN {} DROP DEFAULT", ident(column)),
        };
        self.step(
            "alter_column",
            &format!("~ column {column}: default"),
            self.alter(&sql),
            true,
        )
    }

    fn comment(&self, column: &str, comment: Option<&str>) -> Step {
        self.step(
            "alter_column",
            &format!("~ column {column}: comment"),
            format!(
                "COMMENT ON COLUMN {}.{} IS {};",
                self.table,
                ident(column),
                comment.map_or("NULL".to_string(), literal)
            ),
            true,
        )
    }

    fn backfill_step(&self, set: &str, column: &str, whose: &str) -> Step {
        self.step(
            "backfill",
            &format!("{column} filled in batches"),
            format!(
                "{}\nUPDATE {} SET {set} WHERE {whose};",
                crate::execute::backfill::MARKER,
                self.table
            ),
            false,
        )
    }

    pub(super) fn expand(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::Rename | Shape::Retype => {
                let beside = match self.shape {
                    Shape::Rename => format!("+ column {new} beside {old}"),
                    _ => format!("+ column {new}, {old} as {}", self.to.data_type),
                };
                out.push(self.step(
                    "add_column",
                    &beside,
                    self.alter(&format!(
                        "ADD COLUMN {} {}",
                        ident(new),
                        self.column_type(self.to)
                    )),
                    true,
                ));
                // Both columns get the default from the trigger: each
                // version of the application writes only its own.
                if matches!(self.shape, Shape::Rename) && self.from.default.is_some() {
                    out.push(self.set_default(old, None));
                }
            }
            Shape::NotNull => {
                if self.from.default != self.to.default {
                    out.push(self.set_default(old, self.to.default.as_deref()));
                }
            }
            // Without its default yet: the trigger computes what a write
            // leaves out.
            Shape::Compute => out.push(self.step(
                "add_column",
                &format!("+ column {new}, computed by a trigger"),
                self.alter(&format!(
                    "ADD COLUMN {} {}",
                    ident(new),
                    self.column_type(self.to)
                )),
                true,
            )),
        }
        out.extend(self.sync());
        if self.to.not_null {
            out.push(self.add_check(new, &self.check));
        }
        out.extend(self.build_carried());
        out
    }

    pub(super) fn expand_down(&self) -> Vec<Step> {
        let mut out = self.drop_sync();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::Rename | Shape::Retype | Shape::Compute => {
                out.push(self.step(
                    "drop_column",
                    &format!("- column {new}"),
                    self.alter(&format!("DROP COLUMN {}", ident(new))),
                    true,
                ));
                if matches!(self.shape, Shape::Rename) && self.from.default.is_some() {
                    out.push(self.set_default(old, self.from.default.as_deref()));
                }
            }
            Shape::NotNull => {
                out.push(self.step(
                    "alter_column",
                    "- the NOT NULL check",
                    self.alter(&format!("DROP CONSTRAINT {}", ident(&self.check))),
                    true,
                ));
                if self.from.default != self.to.default {
                    out.push(self.set_default(old, self.from.default.as_deref()));
                }
            }
        }
        out
    }

    /// What the backfill does for this pattern: a column, its value from
    /// the row, and which rows need it.
    fn fill(&self) -> Fill {
        let (old, new) = (ident(&self.from.name), ident(&self.new));
        let (column, value, rows) = match self.shape {
            Shape::Rename => (
                self.new.clone(),
                old.clone(),
                format!("{new} IS DISTINCT FROM {old}"),
            ),
            Shape::Retype => (
                self.new.clone(),
                format!("{old}::{}", self.to.data_type),
                format!("{new} IS NULL AND {old} IS NOT NULL"),
            ),
            Shape::NotNull => (
                self.from.name.clone(),
                self.fill.clone(),
                format!("{old} IS NULL"),
            ),
            Shape::Compute => (
                self.new.clone(),
                format!("({})", self.fill),
                format!("{new} IS NULL"),
            ),
        };
        Fill {
            column,
            value,
            rows,
        }
    }

    /// The backfill of this pattern and of `others` on the same table,
    /// one pass over the table: each column set where its rows need it.
    pub(super) fn backfill(&self, others: &[Writer<'_>]) -> Step {
        let fills: Vec<Fill> = std::iter::once(self.fill())
            .chain(others.iter().map(Writer::fill))
            .collect();
        if let [one] = fills.as_slice() {
            return self.backfill_step(
                &format!("{} = {}", ident(&one.column), one.value),
                &one.column,
                &one.rows,
            );
        }
        let set: Vec<String> = fills
            .iter()
            .map(|f| {
                let c = ident(&f.column);
                format!("{c} = CASE WHEN {} THEN {} ELSE {c} END", f.rows, f.value)
            })
            .collect();
        let rows: Vec<String> = fills.iter().map(|f| format!("({})", f.rows)).collect();
        let columns: Vec<&str> = fills.iter().map(|f| f.column.as_str()).collect();
        self.backfill_step(
            &set.join(",\n    "),
            &columns.join(", "),
            &rows.join("\n   OR "),
        )
    }

    /// The contract: what runs before the swaps (validations, other
    /// tables' foreign keys pointed at the new column), and the swaps,
    /// which run in one short transaction.
    pub(super) fn contract(&self) -> (Vec<Step>, Vec<Step>) {
        let mut before = Vec::new();
        if self.to.not_null {
            before.push(self.validate(&self.check));
        }
        before.extend(self.validate_carried());
        for (on, k) in &self.carries.incoming_new {
            before.extend(self.add_incoming(on, k, &temp(&k.name), true));
        }
        let mut out = Vec::new();
        out.extend(self.drop_sync());
        let (old, new) = (&self.from.name, &self.new);
        out.extend(self.own_sequences(new));
        // Writes wait from the trigger's drop on: the old identity's next
        // value is the new one's.
        if self.from.identity.is_some() {
            out.push(self.keep_next(old));
        }
        for (on, k) in &self.carries.incoming_old {
            out.push(self.drop_incoming(on, k));
        }
        let swap = Hazard::new(
            HazardCode::AccessExclusiveLock,
            format!(
                "briefly, to swap the columns of {} (no rewrite, no scan)",
                self.table.plain()
            ),
        );
        if matches!(self.shape, Shape::Rename | Shape::Retype) {
            out.push(self.step_with(
                "drop_column",
                &format!("- column {old} (its values live on in {new})"),
                self.alter(&format!("DROP COLUMN {}", ident(old))),
                true,
                vec![swap],
            ));
        }
        if matches!(self.shape, Shape::Retype) {
            out.push(self.step(
                "swap_column",
                &format!("~ column {new} renamed {}", self.to.name),
                self.alter(&format!(
                    "RENAME COLUMN {} TO {}",
                    ident(new),
                    ident(&self.to.name)
                )),
                true,
            ));
        }
        if self.to.not_null {
            out.extend(self.set_not_null(&self.to.name, &self.check));
        }
        if let Some(identity) = &self.to.identity {
            out.extend(self.add_identity(&self.to.name, identity));
        }
        out.extend(self.name_carried());
        for (on, k) in &self.carries.incoming_new {
            out.extend(self.name_incoming(on, k));
        }
        if !matches!(self.shape, Shape::NotNull) {
            if self.to.default.is_some() {
                out.push(self.set_default(&self.to.name, self.to.default.as_deref()));
            }
            if self.to.comment.is_some() {
                out.push(self.comment(&self.to.name, self.to.comment.as_deref()));
            }
        }
        (before, out)
    }

    /// Foreign key `k` of table `on` to this column, added under `name`
    /// NOT VALID (to the new column when `new`) and validated on its own.
    fn add_incoming(&self, on: &QualName, k: &Constraint, name: &str, new: bool) -> Vec<Step> {
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

    fn drop_incoming(&self, on: &QualName, k: &Constraint) -> Step {
        self.step(
            "drop_constraint",
            &format!("- foreign key {} of {}", k.name, on.plain()),
            format!("ALTER TABLE {on} DROP CONSTRAINT {};", ident(&k.name)),
            true,
        )
    }

    /// Foreign key `k` of `on`, added under its temporary name, renamed
    /// to its own (with its comment).
    fn name_incoming(&self, on: &QualName, k: &Constraint) -> Vec<Step> {
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

    /// NULL allowed in `column` again, NOT NULL enforced for new rows by
    /// the check (as expand left it).
    fn allow_null(&self, column: &str) -> Vec<Step> {
        vec![
            self.step(
                "alter_column",
                &format!("~ column {column}: NULL allowed"),
                self.alter(&format!("ALTER COLUMN {} DROP NOT NULL", ident(column))),
                true,
            ),
            self.add_check(column, &self.check),
        ]
    }

    /// The new column as expand left it: no default, no comment, and
    /// (when `null`) NOT NULL only for new rows.
    fn as_expanded(&self, null: bool) -> Vec<Step> {
        let new = &self.new;
        let mut out = Vec::new();
        if self.to.default.is_some() {
            out.push(self.set_default(new, None));
        }
        if self.to.comment.is_some() {
            out.push(self.comment(new, None));
        }
        if self.to.not_null && null {
            out.extend(self.allow_null(new));
        }
        out
    }

    pub(super) fn contract_down(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::NotNull => {
                out.extend(self.allow_null(old));
                out.extend(self.sync());
                return out;
            }
            Shape::Compute => {
                out.extend(self.as_expanded(true));
                out.extend(self.sync());
                return out;
            }
            Shape::Retype => out.push(self.step(
                "swap_column",
                &format!("~ column {} renamed {new}", self.to.name),
                self.alter(&format!(
                    "RENAME COLUMN {} TO {}",
                    ident(&self.to.name),
                    ident(new)
                )),
                true,
            )),
            Shape::Rename => {}
        }
        // The new column keeps its keys (and its NOT NULL) until the old
        // one is backfilled: the backfill walks the key.
        out.extend(self.unname_carried());
        out.extend(self.as_expanded(false));
        out.push(self.step(
            "add_column",
            &format!("+ column {old}"),
            self.alter(&format!(
                "ADD COLUMN {} {}",
                ident(old),
                self.column_type(self.from)
            )),
            true,
        ));
        if matches!(self.shape, Shape::Retype) && self.from.default.is_some() {
            out.push(self.set_default(old, self.from.default.as_deref()));
        }
        if self.from.comment.is_some() {
            out.push(self.comment(old, self.from.comment.as_deref()));
        }
        out.extend(self.own_sequences(old));
        out.extend(self.sync());
        let (o, n) = (ident(old), ident(new));
        out.push(match self.shape {
            Shape::Retype => self.backfill_step(
                &format!("{o} = {n}::{}", self.from.data_type),
                old,
                &format!("{o} IS NULL AND {n} IS NOT NULL"),
            ),
            _ => self.backfill_step(
                &format!("{o} = {n}"),
                old,
                &format!("{o} IS DISTINCT FROM {n}"),
            ),
        });
        let check = short(format!("stratum_zd_{old}_not_null"));
        if self.from.not_null {
            out.push(self.add_check(old, &check));
            out.push(self.validate(&check));
        }
        // Other tables' foreign keys back to the old column, over its keys'
        // indexes built first, before the new column's keys can go.
        let incoming = !self.carries.incoming_old.is_empty();
        if incoming {
            for c in &self.carries.old {
                if let Carried::Constraint(k) = c {
                    if is_key(k) {
                        out.push(self.key_index(k, &old_key(&k.name), false).0);
                    }
                }
            }
        }
        for (on, k) in &self.carries.incoming_old {
            out.extend(self.add_incoming(on, k, &temp(&k.name), false));
        }
        for (on, k) in &self.carries.incoming_new {
            out.push(self.drop_incoming(on, k));
        }
        // The new column's keys go once the backfill has walked them; then,
        // in one transaction, its identity and NOT NULL move to the old
        // column (PostgreSQL 18 names the old column's NOT NULL as before
        // only once the new one's, which holds that name, is gone).
        out.extend(self.unname_keys());
        if self.from.identity.is_some() {
            out.push(self.step(
                "alter_column",
                "- writes wait while the identity moves",
                format!("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE;", self.table),
                true,
            ));
            out.push(self.keep_next(new));
            out.push(self.step(
                "alter_column",
                &format!("~ column {new}: no identity"),
                self.alter(&format!("ALTER COLUMN {} DROP IDENTITY", ident(new))),
                true,
            ));
        }
        if self.to.not_null {
            out.extend(self.allow_null(new));
        }
        if self.from.not_null {
            out.extend(self.set_not_null(old, &check));
        }
        if let Some(identity) = &self.from.identity {
            out.extend(self.add_identity(old, identity));
        }
        out.extend(self.rebuild_carried(incoming));
        for (on, k) in &self.carries.incoming_old {
            out.extend(self.name_incoming(on, k));
        }
        out
    }
}

/// A column a backfill sets: to `value` (over the row), in the `rows` that
/// need it.
struct Fill {
    column: String,
    value: String,
    rows: String,
}

/// The temporary name of an index or constraint built beside the one it
/// replaces.
fn temp(name: &str) -> String {
    short(format!("stratum_zd_{name}"))
}

/// The name of the old column's key's index while the new column's key
/// still holds the key's name (the contract's down file).
fn old_key(name: &str) -> String {
    short(format!("stratum_zd_old_{name}"))
}

fn is_key(k: &Constraint) -> bool {
    matches!(k.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
}

/// `PRIMARY KEY` or `UNIQUE`.
fn kind(k: &Constraint) -> &'static str {
    match k.kind {
        ConstraintKind::PrimaryKey => "PRIMARY KEY",
        _ => "UNIQUE",
    }
}

/// `index`'s definition under the name `name`.
fn renamed_index(index: &Index, name: &str) -> String {
    index.definition.replacen(
        &format!(" {} ON ", ident(&index.name.name)),
        &format!(" {} ON ", ident(name)),
        1,
    )
}

/// `name` cut to PostgreSQL's 63 bytes, a hash of the whole keeping names
/// apart.
fn short(name: String) -> String {
    if name.len() <= 63 {
        return name;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut cut = 54;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}_{:02x}{:02x}{:02x}{:02x}",
        &name[..cut],
        hash[0],
        hash[1],
        hash[2],
        hash[3]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long = "x".repeat(80);
        let cut = short(long.clone());
        assert_eq!(cut.len(), 63);
        assert_ne!(cut, short(format!("{long}y")));
        assert_eq!(short("short".into()), "short");
    }
}
