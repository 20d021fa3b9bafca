//! The statements of a column's pattern, phase by phase, up and down:
//! the shadow or new column, the trigger that keeps it in step, the
//! backfill, the swap, and their undoing.

use super::{Carried, Carries, Pattern};
use crate::diff::Change;
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::expand::ExpandChange;
use crate::kinds::relation::Column;
use crate::plan::Step;
use crate::sql::{ident, literal, QualName};
use carried::{is_key, old_key, temp};

mod carried;

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
            estimate: None,
            change,
        }
    }

    fn alter(&self, rest: &str) -> String {
        format!("ALTER TABLE {} {rest};", self.table)
    }

    /// `name` added with the type (and collation) of `like`.
    fn add_column(&self, name: &str, like: &Column, detail: &str) -> Step {
        self.step(
            "add_column",
            detail,
            self.alter(&format!(
                "ADD COLUMN {} {}",
                ident(name),
                self.column_type(like)
            )),
            true,
        )
    }

    fn column_type(&self, c: &Column) -> String {
        match &c.collation {
            Some(collation) => format!("{} COLLATE {collation}", c.data_type),
            None => c.data_type.clone(),
        }
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
                out.push(self.add_column(new, self.to, &beside));
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
            Shape::Compute => out.push(self.add_column(
                new,
                self.to,
                &format!("+ column {new}, computed by a trigger"),
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
        out.push(self.add_column(old, self.from, &format!("+ column {old}")));
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
