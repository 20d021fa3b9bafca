//! Identity columns: their kind and sequence options, as read and as SQL
//! writes them.

use crate::kinds::sequence::{default_options, options_sql};
use crate::kinds::SequenceOptions;

/// An identity column's kind and sequence options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// ALWAYS (true) or BY DEFAULT (false).
    pub always: bool,
    /// The options of its internal sequence.
    pub options: SequenceOptions,
}

/// `GENERATED ... AS IDENTITY`, with the options that are not the defaults.
pub(super) fn sql(id: &Identity) -> String {
    let kind = if id.always { "ALWAYS" } else { "BY DEFAULT" };
    let defaults = default_options(&id.options.data_type, id.options.increment);
    let options = options_sql(Some(&defaults), &id.options);
    if options.is_empty() {
        format!("GENERATED {kind} AS IDENTITY")
    } else {
        format!("GENERATED {kind} AS IDENTITY ({})", options.trim_start())
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
    fn identity_omits_default_options() {
        let id = Identity {
            always: true,
            options: default_options("bigint", 1),
        };
        assert_eq!(sql(&id), "GENERATED ALWAYS AS IDENTITY");
    }
}
