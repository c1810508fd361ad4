//! Equality lookups on a key path into a feature's dicts (`value__batch = 5`): without them a
//! query scans every dict of the feature. An index per (feature, path) is built by the first
//! query that needs it, from the values' canonical bytes, and the fold keeps it up to date
//! while it exists (values never change; only creates and deletes touch it). Nothing of it is
//! stored: an open starts with none.
//!
//! An index maps a 64-bit hash of the canonical bytes at the path to the ids of the values
//! that hold them there. Canonical bytes are a normal form (equal values, equal bytes), so a
//! lookup is a superset of the answer; the query still tests each candidate.

use super::ValueRec;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// At most this many path indexes are kept; needing one more drops them all (each is rebuilt
/// by its next query), so a stream of one-off paths cannot grow memory without bound.
const MAX_INDEXES: usize = 32;

/// The values an index covers: one feature's (`None`: those without a feature), or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Feature(Option<u64>),
    Any,
}

impl Scope {
    fn covers(self, v: &ValueRec) -> bool {
        match self {
            Scope::Feature(f) => f == v.feature(),
            Scope::Any => true,
        }
    }
}

type Key = (Scope, Vec<String>);

/// The ids of the values whose part at the path hashes alike: nearly always one.
#[derive(Debug)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

type PathIndex = HashMap<u64, Ids>;

#[derive(Default)]
pub(crate) struct KeyPaths {
    // Queries build indexes while they hold the state's read lock, hence a lock of its own
    // (read for a lookup, write for a build); the fold has the state to itself and reaches
    // the map without locking (`get_mut`).
    indexes: RwLock<HashMap<Key, PathIndex>>,
}

/// A derived cache: a copy of the state starts without it.
impl Clone for KeyPaths {
    fn clone(&self) -> Self {
        KeyPaths::default()
    }
}

impl std::fmt::Debug for KeyPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never waits: a debug print while a query builds an index must not deadlock.
        match self.indexes.try_read() {
            Some(all) => write!(f, "KeyPaths({} indexes)", all.len()),
            None => write!(f, "KeyPaths(being built)"),
        }
    }
}

fn hash_of(bytes: &[u8]) -> u64 {
    // SipHash with fixed keys: the same bytes give the same hash in every process, and the
    // query re-tests candidates, so a collision costs one test.
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn add(index: &mut PathIndex, bytes: &[u8], id: u32) {
    match index.entry(hash_of(bytes)) {
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Ids::One(id));
        }
        std::collections::hash_map::Entry::Occupied(mut e) => match e.get_mut() {
            Ids::One(first) => {
                let first = *first;
                e.insert(Ids::Many(vec![first, id]));
            }
            Ids::Many(ids) => ids.push(id),
        },
    }
}

fn take_out(index: &mut PathIndex, bytes: &[u8], id: u32) {
    let h = hash_of(bytes);
    let now_empty = match index.get_mut(&h) {
        Some(Ids::One(x)) => *x == id,
        Some(Ids::Many(ids)) => {
            ids.retain(|x| *x != id);
            ids.is_empty()
        }
        None => false,
    };
    if now_empty {
        index.remove(&h);
    }
}

/// The ids under each wanted encoding's hash.
fn find(index: &PathIndex, wanted: &[Vec<u8>]) -> Vec<u64> {
    let mut out = Vec::new();
    for w in wanted {
        match index.get(&hash_of(w)) {
            Some(Ids::One(id)) => out.push(u64::from(*id)),
            Some(Ids::Many(ids)) => out.extend(ids.iter().map(|id| u64::from(*id))),
            None => {}
        }
    }
    out
}

impl KeyPaths {
    /// Ids of the values in `scope` whose part at `path` has one of the canonical encodings
    /// `wanted` (a superset: the caller tests each), building the path's index from `values`
    /// (the scope's values that may hold the path, with their ids) if it is not there yet.
    pub fn lookup<'v>(
        &self,
        scope: Scope,
        path: &[String],
        wanted: &[Vec<u8>],
        values: impl FnOnce() -> Vec<(u64, &'v ValueRec)>,
    ) -> Vec<u64> {
        let key = (scope, path.to_vec());
        if let Some(index) = self.indexes.read().get(&key) {
            return find(index, wanted);
        }
        let mut all = self.indexes.write();
        // Another query may have built it meanwhile.
        if !all.contains_key(&key) {
            let mut index = PathIndex::new();
            for (id, v) in values() {
                if let Some(bytes) = v.bytes_at(path) {
                    // Ids fit 32 bits: `ValueRec::new` refused any that does not.
                    add(&mut index, bytes, id as u32);
                }
            }
            if all.len() >= MAX_INDEXES {
                all.clear();
            }
            all.insert(key.clone(), index);
        }
        all.get(&key).map(|index| find(index, wanted)).unwrap_or_default()
    }

    /// A value was created: every index whose scope covers it takes it.
    pub fn created(&mut self, id: u64, v: &ValueRec) {
        let indexes = self.indexes.get_mut();
        if indexes.is_empty() {
            return;
        }
        for ((scope, path), index) in indexes.iter_mut() {
            if scope.covers(v) {
                if let Some(bytes) = v.bytes_at(path) {
                    add(index, bytes, id as u32);
                }
            }
        }
    }

    /// A value was deleted: every index whose scope covers it lets it go.
    pub fn deleted(&mut self, id: u64, v: &ValueRec) {
        let indexes = self.indexes.get_mut();
        for ((scope, path), index) in indexes.iter_mut() {
            if scope.covers(v) {
                if let Some(bytes) = v.bytes_at(path) {
                    take_out(index, bytes, id as u32);
                }
            }
        }
    }

    /// The values changed wholesale (a rebuild): every index is dropped.
    pub fn clear(&mut self) {
        self.indexes.get_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NewValue;
    use crate::value::Value;

    fn dict_rec(id: u64, a: i64, feature: u64) -> ValueRec {
        let value = Value::Dict([("a".to_string(), Value::Int(a))].into_iter().collect());
        let hash = *blake3::hash(&crate::codec::canonical(&value)).as_bytes();
        let new = NewValue {
            id,
            feature: Some(feature),
            value: crate::state::StoredValue::from(value),
            hash,
            branch: 1,
            created_on: 1,
            space: 1,
            created_by: 1,
            run: None,
            created_at: 0,
        };
        ValueRec::new(new).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An index built by a lookup takes later creates and lets deleted values go, for one id
    /// and for several under one key; other features' values stay out.
    #[test]
    fn an_index_follows_creates_and_deletes() {
        let path = vec!["a".to_string()];
        let five = crate::codec::canonical(&Value::Int(5));
        let (one, two) = (dict_rec(1, 5, 1), dict_rec(2, 6, 1));
        let mut paths = KeyPaths::default();
        let got =
            paths.lookup(Scope::Feature(Some(1)), &path, std::slice::from_ref(&five), || vec![(1, &one), (2, &two)]);
        assert_eq!(got, vec![1]);
        let three = dict_rec(3, 5, 1);
        paths.created(3, &three);
        let other = dict_rec(4, 5, 2);
        paths.created(4, &other);
        let lookup = |p: &KeyPaths| p.lookup(Scope::Feature(Some(1)), &path, std::slice::from_ref(&five), Vec::new);
        assert_eq!(lookup(&paths), vec![1, 3]);
        paths.deleted(1, &one);
        assert_eq!(lookup(&paths), vec![3]);
        paths.deleted(3, &three);
        assert_eq!(lookup(&paths), Vec::<u64>::new());
        paths.clear();
        assert_eq!(paths.lookup(Scope::Feature(Some(1)), &path, &[five], || vec![(2, &two)]), Vec::<u64>::new());
    }
}
