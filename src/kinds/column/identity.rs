//! Identity columns: their kind and sequence options, as read and as SQL
//! writes them.

use crate::kinds::sequence::{default_options, options_sql};
use crate::kinds::relation::{Identity};
use crate::kinds::SequenceOptions;

/// `GENERATED ... AS IDENTITY`, with the options that are not the defaults.
pub(crate) fn sql(id: &Identity) -> String {
    let kind = if id.always { "ALWAYS" } else { "BY DEFAULT" };
    let defaults = default_options(&id.options.data_type, id.options.increment);
    let options = options_sql(Some(&defaults), &id.options);
    if options.is_empty() {
        format!("GENERATED {kind} AS IDENTITY")
    } else {
        format!("GENERATED {kind} AS IDENTITY ({})", options.trim_start())
    }
}

/// The identity as `ALTER COLUMN ... TYPE data_type` leaves it: PostgreSQL
/// retypes the sequence too, and a bound that was the old type's limit
/// becomes the new type's (as `ALTER SEQUENCE ... AS` does).
pub(super) fn retyped(id: &Identity, data_type: &str) -> Identity {
    let limit = |t: &str| match t {
        "smallint" => (i16::MIN as i64, i16::MAX as i64),
        "integer" => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    let (old_min, old_max) = limit(&id.options.data_type);
    let (new_min, new_max) = limit(data_type);
    let mut options = id.options.clone();
    options.data_type = data_type.to_string();
    if options.max == old_max {
        options.max = new_max;
    }
    if options.min == old_min {
        options.min = new_min;
    }
    Identity {
        always: id.always,
        options,
    }
}

/// Builds an identity from `pg_attribute.attidentity` and its sequence.
pub(super) fn of(kind: &str, options: Option<&SequenceOptions>) -> Option<Box<Identity>> {
    let always = match kind {
        "a" => true,
        "d" => false,
        _ => return None,
    };
    Some(Box::new(Identity {
        always,
        options: options.cloned()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retyping_moves_the_limits_of_the_old_type() {
        let mut small = default_options("smallint", 1);
        small.min = i16::MIN as i64;
        let id = Identity {
            always: true,
            options: small,
        };
        let big = retyped(&id, "bigint").options;
        assert_eq!((big.min, big.max), (i64::MIN, i64::MAX));
        let mut capped = default_options("integer", 1);
        capped.max = 1000;
        let id = Identity {
            always: false,
            options: capped,
        };
        let big = retyped(&id, "bigint").options;
        assert_eq!((big.data_type.as_str(), big.min, big.max), ("bigint", 1, 1000));
    }

    #[test]
    fn identity_omits_default_options() {
        let id = Identity {
            always: true,
            options: default_options("bigint", 1),
        };
        assert_eq!(sql(&id), "GENERATED ALWAYS AS IDENTITY");
    }
}
