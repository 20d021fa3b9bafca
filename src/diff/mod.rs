//! Compares two catalogs into a list of typed [`Change`]s.
//!
//! Pure: no I/O. Each kind compares its own objects (`kinds`); this module
//! adds what no single kind can see: objects that depend on something a
//! change drops or retypes (a view over a retyped column, a trigger on a
//! recreated function) are recreated around it, so that the change list is
//! complete. `plan` then orders the changes by their [`Effects`] and the
//! catalogs' dependencies.

mod recreate;

use crate::kinds::{self, Catalog};
pub use crate::kinds::{Change, Effects};

/// Computes every change that turns `current` into `desired`.
pub fn diff(current: &Catalog, desired: &Catalog) -> Vec<Change> {
    let mut changes = kinds::diff_all(current, desired);
    recreate::dependents(current, desired, &mut changes);
    kinds::ownership::diff_after(current, desired, &mut changes);
    kinds::privilege::diff_after(current, desired, &mut changes);
    changes
}

/// What differs, object by object, without the objects a plan must drop
/// and create again only because they depend on a changed one: what
/// `check` reports inside each drifting object.
pub fn direct(current: &Catalog, desired: &Catalog) -> Vec<Change> {
    let mut changes = kinds::diff_all(current, desired);
    kinds::ownership::diff_after(current, desired, &mut changes);
    kinds::privilege::diff_after(current, desired, &mut changes);
    changes
}
