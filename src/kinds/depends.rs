//! The dependencies of a catalog, kept compact: at 10 000 tables a side has
//! about 150 000 of them, and a set of `(ObjectId, ObjectId)` pairs held two
//! copies of each object's names per pair (over 100 MB for the two sides).
//! Here every object is kept once and the pairs are indexes.

use std::collections::HashMap;

use super::reader::Ids;
use super::ObjectId;

/// Dependencies between managed objects, as (dependent, referenced) pairs,
/// iterated in the order of the pairs of ids (as a sorted set of them
/// would be).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Depends {
    /// Every object of some pair, sorted.
    #[serde(deserialize_with = "super::exact_vec::deserialize")]
    ids: Vec<ObjectId>,
    /// (dependent, referenced) as indexes into `ids`, sorted and unique.
    #[serde(deserialize_with = "super::exact_vec::deserialize")]
    pairs: Vec<(u32, u32)>,
}

/// Collects dependencies while a catalog is read, as pairs of indexes: into
/// the objects the catalog's [`Reader`](super::reader::Reader) recorded, or,
/// tagged with [`OWN`], into objects of the builder's own (made from a
/// dependency row, or inserted by value).
#[derive(Default)]
pub struct DependsBuilder {
    own: Vec<ObjectId>,
    own_index: HashMap<ObjectId, u32>,
    pairs: Vec<(u32, u32)>,
}

/// Tags an index into the builder's own objects.
const OWN: u32 = 1 << 31;

impl DependsBuilder {
    /// The tagged index of `id` among the builder's own objects.
    pub(crate) fn own(&mut self, id: &ObjectId) -> u32 {
        if let Some(&i) = self.own_index.get(id) {
            return i;
        }
        let i = self.own.len() as u32 | OWN;
        self.own.push(id.clone());
        self.own_index.insert(id.clone(), i);
        i
    }

    /// Records that `dependent` depends on `referenced`.
    pub fn insert(&mut self, dependent: &ObjectId, referenced: &ObjectId) {
        let pair = (self.own(dependent), self.own(referenced));
        self.pairs.push(pair);
    }

    /// Records a dependency between two indexes: a reader's, or tagged
    /// ones from [`DependsBuilder::own`].
    pub(crate) fn insert_indexes(&mut self, dependent: u32, referenced: u32) {
        self.pairs.push((dependent, referenced));
    }

    /// The dependencies, sorted. `read` is the objects the reader recorded,
    /// which untagged indexes refer to; the ones some pair names are kept,
    /// the others dropped as they are passed. One object recorded under several indexes is one object.
    pub fn finish(self, read: Ids) -> Depends {
        let mut named = vec![false; read.len()];
        for &(a, b) in &self.pairs {
            for i in [a, b] {
                if i & OWN == 0 {
                    named[i as usize] = true;
                }
            }
        }
        let count = named.iter().filter(|n| **n).count() + self.own.len();
        let mut keyed: Vec<(ObjectId, u32)> = Vec::with_capacity(count);
        for (i, id) in read.into_objects().enumerate() {
            if named[i] {
                keyed.push((id, i as u32));
            }
        }
        keyed.extend(
            self.own
                .into_iter()
                .enumerate()
                .map(|(i, id)| (id, i as u32 | OWN)),
        );
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut rank_read = HashMap::with_capacity(keyed.len());
        let mut ids: Vec<ObjectId> = Vec::with_capacity(keyed.len());
        for (id, key) in keyed {
            if ids.last() != Some(&id) {
                ids.push(id);
            }
            rank_read.insert(key, (ids.len() - 1) as u32);
        }
        let mut pairs: Vec<(u32, u32)> = self
            .pairs
            .into_iter()
            .map(|(a, b)| (rank_read[&a], rank_read[&b]))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        Depends { ids, pairs }
    }
}

impl FromIterator<(ObjectId, ObjectId)> for Depends {
    fn from_iter<I: IntoIterator<Item = (ObjectId, ObjectId)>>(iter: I) -> Depends {
        let mut builder = DependsBuilder::default();
        for (a, b) in iter {
            builder.insert(&a, &b);
        }
        builder.finish(Ids::default())
    }
}

impl Depends {
    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every (dependent, referenced) pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectId, &ObjectId)> + '_ {
        self.pairs
            .iter()
            .map(|&(a, b)| (&self.ids[a as usize], &self.ids[b as usize]))
    }

    /// What `dependent` depends on, in order.
    pub fn of<'a>(&'a self, dependent: &ObjectId) -> impl Iterator<Item = &'a ObjectId> + 'a {
        let run = match self.ids.binary_search(dependent) {
            Ok(i) => {
                let i = i as u32;
                let start = self.pairs.partition_point(|p| p.0 < i);
                let end = self.pairs.partition_point(|p| p.0 <= i);
                &self.pairs[start..end]
            }
            Err(_) => &[],
        };
        run.iter().map(|&(_, b)| &self.ids[b as usize])
    }

    /// Every object some pair names, sorted: what the indexes of
    /// [`Depends::index_pairs`] refer to.
    pub fn ids(&self) -> &[ObjectId] {
        &self.ids
    }

    /// Every pair as indexes into [`Depends::ids`], in order.
    pub fn index_pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.pairs.iter().map(|&(a, b)| (a as usize, b as usize))
    }

    /// Keeps the pairs for which `keep` holds.
    pub fn retain(&mut self, keep: impl Fn(&ObjectId, &ObjectId) -> bool) {
        let ids = &self.ids;
        self.pairs
            .retain(|&(a, b)| keep(&ids[a as usize], &ids[b as usize]));
    }
}

impl<'a> IntoIterator for &'a Depends {
    type Item = (&'a ObjectId, &'a ObjectId);
    type IntoIter = Box<dyn Iterator<Item = (&'a ObjectId, &'a ObjectId)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> ObjectId {
        ObjectId::Table {
            name: crate::kinds::QualName::new("public".to_string(), name.to_string()),
        }
    }

    #[test]
    fn pairs_come_out_sorted_and_once_whatever_the_order_they_went_in() {
        let (a, b, c) = (table("a"), table("b"), table("c"));
        let depends: Depends = [
            (c.clone(), a.clone()),
            (a.clone(), b.clone()),
            (c.clone(), a.clone()),
            (a.clone(), c.clone()),
        ]
        .into_iter()
        .collect();
        let pairs: Vec<(&ObjectId, &ObjectId)> = depends.iter().collect();
        assert_eq!(pairs, vec![(&a, &b), (&a, &c), (&c, &a)]);
        assert_eq!(depends.of(&a).collect::<Vec<_>>(), vec![&b, &c]);
        assert_eq!(depends.of(&b).count(), 0);
        let mut kept = depends.clone();
        kept.retain(|x, _| x != &a);
        assert_eq!(kept.iter().collect::<Vec<_>>(), vec![(&c, &a)]);
    }
}
