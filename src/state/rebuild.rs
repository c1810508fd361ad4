//! Building every value index at once from the value records (after a snapshot load, and at
//! the end of a full replay): per-key lists are collected in id order and sorted once, then
//! bulk-built, instead of walking a tree from its root for each value.

use super::dedup::Dedup;
use super::id_set::IdSet;
use super::value_index::{Entry, OrdEntry};
use super::{dedup_key, State, ValueIndex, ValueRec, WordMap};

type FeatureIndex = WordMap<Option<u64>, ValueIndex>;

impl State {
    /// Rebuilds dedup, by_feature, by_branch, by_space, by_creator and by_run from `values`
    /// (dedup only if `with_dedup`: a replay keeps it up to date as it goes). The ordered
    /// index (sort, bulk build) is built on a second thread while this one builds the others
    /// and fills the dedup table; the records are only read meanwhile.
    pub(crate) fn rebuild_value_indexes(&mut self, with_dedup: bool) {
        self.key_paths.clear();
        let values = &self.values;
        let (by_feature, others) = std::thread::scope(|scope| {
            let ordered = scope.spawn(|| feature_index(values));
            let others = other_indexes(values, with_dedup);
            // A thread that cannot run (or panicked) only costs the parallelism.
            (ordered.join().unwrap_or_else(|_| feature_index(values)), others)
        });
        let (dedup, by_branch, by_space, by_creator, by_run) = others;
        if let Some(dedup) = dedup {
            self.dedup = dedup;
        }
        self.by_feature = by_feature;
        // Ids arrive in increasing order, so the id lists are sorted already.
        self.by_branch = by_branch.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_space = by_space.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_creator = by_creator.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_run = by_run.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
    }
}

/// Per feature, the entries sorted by value then id and bulk-built into the index's trees.
fn feature_index(values: &[Option<ValueRec>]) -> FeatureIndex {
    let mut nums: Groups<Option<u64>, (u64, u64, u64)> = Groups::default();
    let mut rest: Groups<Option<u64>, OrdEntry> = Groups::default();
    let mut unordered: Groups<Option<u64>, u64> = Groups::default();
    for (id, v) in super::with_ids(values) {
        match ValueIndex::entry_of(id, v) {
            Entry::Num(key) => nums.push(v.feature(), key),
            Entry::Ordered(entry) => rest.push(v.feature(), entry),
            Entry::Unordered(id) => unordered.push(v.feature(), id),
        }
    }
    let mut nums: WordMap<Option<u64>, Vec<(u64, u64, u64)>> = nums.lists.into_iter().collect();
    let mut rest: WordMap<Option<u64>, Vec<OrdEntry>> = rest.lists.into_iter().collect();
    let mut unordered: WordMap<Option<u64>, Vec<u64>> = unordered.lists.into_iter().collect();
    let features: std::collections::HashSet<Option<u64>> =
        nums.keys().chain(rest.keys()).chain(unordered.keys()).copied().collect();
    features
        .into_iter()
        .map(|f| {
            let (n, r, u) = (nums.remove(&f), rest.remove(&f), unordered.remove(&f));
            (f, ValueIndex::build(n.unwrap_or_default(), r.unwrap_or_default(), u.unwrap_or_default()))
        })
        .collect()
}

type Others = (Option<Dedup>, Groups<i64, u64>, Groups<u64, u64>, Groups<u64, u64>, Groups<u64, u64>);

/// The dedup table (if wanted) and the id lists of the branch, space, creator and run indexes.
fn other_indexes(values: &[Option<ValueRec>], with_dedup: bool) -> Others {
    let mut keys = with_dedup.then(Vec::new);
    let (mut by_branch, mut by_space, mut by_creator, mut by_run) =
        (Groups::default(), Groups::default(), Groups::default(), Groups::default());
    for (id, v) in super::with_ids(values) {
        if let Some(keys) = keys.as_mut() {
            // Ids fit 32 bits: `ValueRec::new` refused any that does not.
            keys.push((dedup_key(v.feature(), &v.hash), id as u32));
        }
        by_branch.push(v.branch(), id);
        by_space.push(v.space(), id);
        by_creator.push(v.created_by(), id);
        if let Some(r) = v.run() {
            by_run.push(r, id);
        }
    }
    let dedup = keys.map(|keys| {
        let mut d = Dedup::default();
        d.extend(keys);
        d
    });
    (dedup, by_branch, by_space, by_creator, by_run)
}

/// Per-key lists built in one pass. Neighbouring values nearly always share their feature,
/// branch, space and creator, so the map is consulted only when the key changes: a SipHash
/// per value per index was 5 % of an open.
struct Groups<K, T> {
    index: WordMap<K, usize>,
    lists: Vec<(K, Vec<T>)>,
    last: usize,
}

impl<K, T> Default for Groups<K, T> {
    fn default() -> Self {
        Groups { index: WordMap::default(), lists: Vec::new(), last: usize::MAX }
    }
}

impl<K: std::hash::Hash + Eq + Copy, T> Groups<K, T> {
    fn push(&mut self, key: K, item: T) {
        if self.lists.get(self.last).is_none_or(|(k, _)| *k != key) {
            let next = self.lists.len();
            self.last = *self.index.entry(key).or_insert(next);
            if self.last == next {
                self.lists.push((key, Vec::new()));
            }
        }
        if let Some((_, list)) = self.lists.get_mut(self.last) {
            list.push(item);
        }
    }
}
