//! The statements of a column's pattern, phase by phase, up and down:
//! the shadow or new column, the trigger that keeps it in step, the
//! backfill, the swap, and their undoing.

use super::Pattern;
use crate::diff::Change;
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::expand::ExpandChange;
use crate::kinds::relation::Column;
use crate::plan::Step;
use crate::sql::{ident, literal, QualName};

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
}

impl<'a> Writer<'a> {
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

    pub(super) fn backfill(&self) -> Vec<Step> {
        let (old, new) = (ident(&self.from.name), ident(&self.new));
        vec![match self.shape {
            Shape::Rename => self.backfill_step(
                &format!("{new} = {old}"),
                &self.new,
                &format!("{new} IS DISTINCT FROM {old}"),
            ),
            Shape::Retype => self.backfill_step(
                &format!("{new} = {old}::{}", self.to.data_type),
                &self.new,
                &format!("{new} IS NULL AND {old} IS NOT NULL"),
            ),
            Shape::NotNull => self.backfill_step(
                &format!("{old} = {}", self.fill),
                &self.from.name,
                &format!("{old} IS NULL"),
            ),
            Shape::Compute => self.backfill_step(
                &format!("{new} = ({})", self.fill),
                &self.new,
                &format!("{new} IS NULL"),
            ),
        }]
    }

    pub(super) fn contract(&self) -> Vec<Step> {
        let mut out = Vec::new();
        if self.to.not_null {
            out.push(self.validate(&self.check));
        }
        out.extend(self.drop_sync());
        let (old, new) = (&self.from.name, &self.new);
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
        if !matches!(self.shape, Shape::NotNull) {
            if self.to.default.is_some() {
                out.push(self.set_default(&self.to.name, self.to.default.as_deref()));
            }
            if self.to.comment.is_some() {
                out.push(self.comment(&self.to.name, self.to.comment.as_deref()));
            }
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

    /// The new column as expand left it: no default, no comment, NOT NULL
    /// only for new rows.
    fn as_expanded(&self) -> Vec<Step> {
        let new = &self.new;
        let mut out = Vec::new();
        if self.to.default.is_some() {
            out.push(self.set_default(new, None));
        }
        if self.to.comment.is_some() {
            out.push(self.comment(new, None));
        }
        if self.to.not_null {
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
                out.extend(self.as_expanded());
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
        out.extend(self.as_expanded());
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
        if self.from.not_null {
            let check = short(format!("stratum_zd_{old}_not_null"));
            out.push(self.add_check(old, &check));
            out.push(self.validate(&check));
            out.extend(self.set_not_null(old, &check));
        }
        out
    }
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
