//! The steps of kinds whose objects are keyed by name and only created,
//! altered in place or dropped (wrappers, servers, user mappings): one
//! change type and one comparison for all of them.

use std::collections::BTreeMap;

use super::{Change, Effects, ObjectId};

/// A step of a kind that creates, alters in place and drops its objects.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Lifecycle<T> {
    /// CREATE.
    Create(T),
    /// DROP.
    Drop(T),
    /// ALTER in place.
    Alter {
        /// As it is.
        from: T,
        /// As it should be.
        to: T,
    },
}

impl<T> Lifecycle<T> {
    /// The object as the step leaves it (as it was, for a drop).
    pub fn object(&self) -> &T {
        match self {
            Lifecycle::Create(o) | Lifecycle::Drop(o) | Lifecycle::Alter { to: o, .. } => o,
        }
    }

    /// This step's verb among `[create, drop, alter]`.
    pub fn step_verb(&self, verbs: [&'static str; 3]) -> &'static str {
        match self {
            Lifecycle::Create(_) => verbs[0],
            Lifecycle::Drop(_) => verbs[1],
            Lifecycle::Alter { .. } => verbs[2],
        }
    }

    /// Creates provide `id`, drops remove it, alters need it; `needs` are the
    /// objects it uses (created and altered steps wait for them).
    pub fn step_effects(&self, id: ObjectId, needs: Vec<ObjectId>) -> Effects {
        match self {
            Lifecycle::Create(_) => Effects {
                provides: vec![id],
                needs,
                ..Effects::default()
            },
            Lifecycle::Drop(_) => super::gone(vec![id]),
            Lifecycle::Alter { .. } => super::needs([vec![id], needs].concat()),
        }
    }
}

/// Pushes the comment change of a desired object (second) given the current
/// one (first), for [`Compare::comment`].
pub(crate) type Commenter<'a, T> = dyn Fn(&mut Vec<Change>, Option<&T>, &T) + 'a;

/// How one name-keyed kind compares its objects, for [`diff`].
pub(crate) struct Compare<'a, T> {
    /// True when the desired object cannot change in place and is dropped
    /// and created again.
    pub recreated: &'a dyn Fn(&T) -> bool,
    /// True when an ALTER is needed from the first to the second.
    pub differs: &'a dyn Fn(&T, &T) -> bool,
    /// Pushes the comment change of the desired object, given the current
    /// one that keeps its comment (None when created).
    pub comment: &'a Commenter<'a, T>,
}

/// Creates what `desired` has alone, alters or recreates what both have, and
/// drops what `current` has alone.
pub(crate) fn diff<K: Ord, T: Clone>(
    current: &BTreeMap<K, T>,
    desired: &BTreeMap<K, T>,
    how: Compare<'_, T>,
    out: &mut Vec<Change>,
) where
    Lifecycle<T>: Into<Change>,
{
    for (key, new) in desired {
        let mut old = current.get(key);
        if let Some(o) = old.filter(|_| (how.recreated)(new)) {
            out.push(Lifecycle::Drop(o.clone()).into());
            old = None;
        }
        match old {
            None => out.push(Lifecycle::Create(new.clone()).into()),
            Some(o) if (how.differs)(o, new) => out.push(
                Lifecycle::Alter {
                    from: o.clone(),
                    to: new.clone(),
                }
                .into(),
            ),
            Some(_) => {}
        }
        (how.comment)(out, old, new);
    }
    for (key, old) in current {
        if !desired.contains_key(key) {
            out.push(Lifecycle::Drop(old.clone()).into());
        }
    }
}
