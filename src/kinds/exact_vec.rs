//! Lists read from the catalog cache at their exact length. JSON does not
//! say how long a list is, so a `Vec` read from it grows by doubling and
//! keeps up to twice the room it needs: for the 132 000 dependency ids of a
//! 10 000-table catalog that was 12 MB left empty per side.

use serde::{Deserialize, Deserializer};

/// Reads a `Vec`, then moves it into one of its exact length when the
/// room left over is more than an eighth. (Shrinking in place would not
/// do: the allocator keeps a block that is still half used.)
pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let read = Vec::<T>::deserialize(deserializer)?;
    if read.capacity() - read.len() <= read.len() / 8 {
        return Ok(read);
    }
    let mut exact = Vec::with_capacity(read.len());
    exact.extend(read);
    Ok(exact)
}
