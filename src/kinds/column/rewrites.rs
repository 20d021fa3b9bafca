//! What makes ADD COLUMN rewrite every row of a table, beyond a type
//! change (see `retype`).

use super::Column;
use crate::kinds::Catalog;

/// Whether the column's type is a domain with a CHECK or NOT NULL.
pub(super) fn constrained_domain(column: &Column, desired: &Catalog) -> bool {
    desired.domains.values().any(|d| {
        (d.name.to_string() == column.data_type || d.name.name == column.data_type)
            && (d.not_null || !d.checks.is_empty())
    })
}

/// Whether the column's default calls a volatile function, so that every
/// row gets its own value.
pub(super) fn volatile_default(column: &Column, desired: &Catalog) -> bool {
    let Some(default) = &column.default else {
        return false;
    };
    let Ok(parsed) = pg_query::parse(&format!("SELECT {default}"), 0) else {
        return true;
    };
    parsed.functions().iter().any(|name| {
        let short = name.rsplit('.').next().unwrap_or(name);
        desired.volatile_functions.contains(short)
    })
}
