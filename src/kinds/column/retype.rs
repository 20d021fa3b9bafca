//! Column type changes: the USING expression (none when a cast does it,
//! through text when none exists, attribute by attribute for rebuilt
//! composite types) and what the change costs.

use std::collections::BTreeMap;

use super::Column;
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::{Catalog, Conversion, QualName};
use crate::sql::ident;

/// The rebuilt type a column's type names (element type for arrays), with
/// how its values move over.
pub(super) fn moved_type<'a>(
    column: &Column,
    rebuilt: &'a BTreeMap<QualName, Conversion>,
) -> Option<(&'a QualName, &'a Conversion)> {
    let base = column
        .data_type
        .strip_suffix("[]")
        .unwrap_or(&column.data_type);
    rebuilt.iter().find(|(ty, _)| ty.to_string() == base)
}

/// The USING expression that moves `column` over to the rebuilt `ty`.
pub(super) fn conversion(column: &Column, ty: &QualName, how: &Conversion) -> String {
    let col = ident(&column.name);
    let array = column.data_type.ends_with("[]");
    match how {
        Conversion::Text if array => format!("{col}::text[]::{ty}[]"),
        Conversion::Text => format!("{col}::text::{ty}"),
        // USING allows no subquery to rebuild elements one by one.
        Conversion::Attributes(_) if array => format!("{col}::text::{ty}[]"),
        Conversion::Attributes(attributes) => {
            let fields: Vec<String> = attributes
                .iter()
                .map(|(name, data_type, kept)| match kept {
                    true => format!("({col}).{}::{data_type}", ident(name)),
                    false => format!("NULL::{data_type}"),
                })
                .collect();
            format!("ROW({})::{ty}", fields.join(", "))
        }
    }
}

/// `USING col::type` when PostgreSQL has no implicit or assignment cast
/// between the two base types.
pub(super) fn using_clause(current: &Catalog, was: &Column, column: &Column) -> Option<String> {
    if was.base_type == column.base_type {
        return None;
    }
    let cast = current
        .casts
        .get(&(was.base_type.clone(), column.base_type.clone()));
    let direct = Some(format!("{}::{}", ident(&column.name), column.data_type));
    match cast {
        Some(c) if c.context == 'i' || c.context == 'a' => None,
        Some(_) => direct,
        None if was.base_type == "text" => direct,
        // No cast at all (enum to enum, uuid to integer, ...): through text.
        None => Some(format!(
            "{}::text::{}",
            ident(&column.name),
            column.data_type
        )),
    }
}

/// The typmod of a formatted type, e.g. `[100]` for `character varying(100)`.
fn typmod(data_type: &str) -> Option<Vec<i64>> {
    let open = data_type.find('(')?;
    let close = data_type[open..].find(')')? + open;
    data_type[open + 1..close]
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect()
}

/// True when every value of the integer type `from` fits `numeric(p, s)`.
fn integer_fits(from: &str, to: &str, typmod: Option<&[i64]>) -> bool {
    let digits = match from {
        "smallint" => 5,
        "integer" => 10,
        "bigint" => 19,
        _ => return false,
    };
    match (to, typmod) {
        ("numeric", Some([p])) => *p >= digits,
        ("numeric", Some([p, s])) => p - s >= digits,
        _ => false,
    }
}

/// Hazards of a type change: always the lock, a rewrite unless the types
/// are binary coercible and the typmod only widens, data loss unless the
/// conversion is widening and implicit or binary coercible.
pub(super) fn type_hazards(
    desired: &Catalog,
    table: &QualName,
    from: &Column,
    to: &Column,
) -> Vec<Hazard> {
    let column = format!("{}.{}", table.plain(), to.name);
    let collation = |c: &Column| c.collation.clone().unwrap_or_else(|| "default".into());
    let what = if from.data_type == to.data_type && from.collation != to.collation {
        format!(
            "the collation of {column} from {} to {}",
            collation(from),
            collation(to)
        )
    } else if from.data_type == to.data_type {
        // The type of that name is built anew.
        format!("the type of {column} to the new {}", to.data_type)
    } else {
        format!("the type of {column} from {} to {}", from.data_type, to.data_type)
    };
    let cast = desired
        .casts
        .get(&(from.base_type.clone(), to.base_type.clone()));
    let same_base = from.base_type == to.base_type;
    let (old_mod, new_mod) = (typmod(&from.data_type), typmod(&to.data_type));
    let widened = match (&old_mod, &new_mod) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => {
            a.len() == b.len() && a[0] <= b[0] && a.get(1).unwrap_or(&0) == b.get(1).unwrap_or(&0)
        }
    };
    // The same name with the same collation: the type itself is built anew
    // (an enum, domain, range or composite), and every value is converted.
    let rebuilt = from.data_type == to.data_type && from.collation == to.collation;
    let rewrite_free = from.collation == to.collation
        && !rebuilt
        && widened
        && (same_base || cast.is_some_and(|c| c.method == 'b'));
    // A binary-coercible cast (text to citext, varchar to text) keeps every
    // value as it is, whatever context it is allowed in.
    let lossless = (widened
        && (same_base || cast.is_some_and(|c| c.context == 'i' || c.method == 'b')))
        || integer_fits(&from.base_type, &to.base_type, new_mod.as_deref());
    let mut hazards = vec![Hazard::new(
        HazardCode::AccessExclusiveLock,
        format!("changing {what} locks the table"),
    )];
    if !rewrite_free {
        hazards.push(Hazard::new(
            HazardCode::TableRewrite,
            if rebuilt {
                format!("changing {what} converts every value and rewrites the table and its indexes")
            } else {
                format!("changing {what} rewrites the table and its indexes")
            },
        ));
    }
    if !lossless {
        hazards.push(Hazard::new(
            HazardCode::DataLoss,
            format!("narrows {what}: values that do not fit fail or are cut"),
        ));
    }
    hazards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typmods() {
        assert_eq!(typmod("character varying(100)"), Some(vec![100]));
        assert_eq!(typmod("numeric(10,2)"), Some(vec![10, 2]));
        assert_eq!(typmod("text"), None);
    }
}
