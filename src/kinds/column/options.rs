//! Per-column settings that CREATE TABLE cannot carry on every supported
//! server: STORAGE, COMPRESSION and STATISTICS, and a foreign table's
//! column OPTIONS, and its attribute options (`n_distinct`, ...). They are
//! set with ALTER COLUMN after the column exists.

use crate::sql::{ident, options_change, storage_parameters};
use crate::kinds::relation::{ColumnOptions};

/// The SQL name of a storage mode.
fn storage(mode: char) -> &'static str {
    match mode {
        'p' => "PLAIN",
        'e' => "EXTERNAL",
        'm' => "MAIN",
        _ => "EXTENDED",
    }
}

/// The ALTER COLUMN actions that turn `from` into `to`; `type_storage` is
/// the storage mode the column's type has by default.
pub(super) fn actions(
    column: &str,
    from: &ColumnOptions,
    to: &ColumnOptions,
    type_storage: char,
) -> Vec<String> {
    let prefix = format!("ALTER COLUMN {}", ident(column));
    let mut out = Vec::new();
    if from.storage != to.storage {
        let mode = to.storage.unwrap_or(type_storage);
        out.push(format!("{prefix} SET STORAGE {}", storage(mode)));
    }
    if from.compression != to.compression {
        let method = match to.compression {
            Some('l') => "lz4",
            Some(_) => "pglz",
            None => "default",
        };
        out.push(format!("{prefix} SET COMPRESSION {method}"));
    }
    if from.statistics != to.statistics {
        out.push(format!(
            "{prefix} SET STATISTICS {}",
            to.statistics.unwrap_or(-1)
        ));
    }
    if let Some(options) = options_change(&from.fdw, &to.fdw) {
        out.push(format!("{prefix} {options}"));
    }
    for part in storage_parameters(&from.attributes, &to.attributes) {
        out.push(format!("{prefix} {part}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_to_defaults() {
        let set = ColumnOptions {
            storage: Some('e'),
            compression: Some('l'),
            statistics: Some(500),
            fdw: vec!["column_name=id".into()],
            attributes: vec!["n_distinct=-0.02".into()],
        };
        assert_eq!(
            actions("c", &set, &ColumnOptions::default(), 'x'),
            vec![
                "ALTER COLUMN c SET STORAGE EXTENDED",
                "ALTER COLUMN c SET COMPRESSION default",
                "ALTER COLUMN c SET STATISTICS -1",
                "ALTER COLUMN c OPTIONS (DROP column_name)",
                "ALTER COLUMN c RESET (n_distinct)"
            ]
        );
    }
}
