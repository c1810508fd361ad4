//! Building every value index at once from the value records (after a snapshot load): per-key
//! lists are collected in id order and sorted once, then bulk-built, instead of walking a tree
//! from its root for each value.

use super::id_set::IdSet;
use super::{dedup_key, OrdEntry, State};
use crate::value::cmp_order;
use std::collections::{BTreeSet, HashMap};

impl State {
    /// Rebuilds dedup, by_feature, by_branch, by_space, by_creator and by_run from `values`
    /// (dedup only if `with_dedup`: a replay keeps it up to date as it goes).
    pub(crate) fn rebuild_value_indexes(&mut self, with_dedup: bool) {
        let mut by_feature: Groups<Option<u64>, OrdEntry> = Groups::default();
        let mut by_branch: Groups<i64, u64> = Groups::default();
        let mut by_space: Groups<u64, u64> = Groups::default();
        let mut by_creator: Groups<u64, u64> = Groups::default();
        let mut by_run: Groups<u64, u64> = Groups::default();
        let mut keys = Vec::with_capacity(if with_dedup { self.value_count } else { 0 });
        for v in self.values.iter().flatten() {
            if with_dedup {
                keys.push((dedup_key(v.feature(), &v.hash), v.id));
            }
            by_feature.push(v.feature(), OrdEntry { value: v.value.clone(), id: v.id });
            by_branch.push(v.branch, v.id);
            by_space.push(v.space, v.id);
            by_creator.push(v.created_by, v.id);
            if let Some(r) = v.run() {
                by_run.push(r, v.id);
            }
        }
        if with_dedup {
            self.dedup = Default::default();
            self.dedup.extend(keys);
        }
        // Ids arrive in increasing order, so the id lists are sorted already.
        self.by_feature = by_feature
            .lists
            .into_iter()
            .map(|(f, mut entries)| {
                entries.sort_unstable_by(|a, b| cmp_order(&a.value, &b.value).then(a.id.cmp(&b.id)));
                (f, entries.into_iter().collect::<BTreeSet<_>>())
            })
            .collect();
        self.by_branch = by_branch.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_space = by_space.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_creator = by_creator.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_run = by_run.lists.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
    }
}

/// Per-key lists built in one pass. Neighbouring values nearly always share their feature,
/// branch, space and creator, so the map is consulted only when the key changes: a SipHash
/// per value per index was 5 % of an open.
struct Groups<K, T> {
    index: HashMap<K, usize>,
    lists: Vec<(K, Vec<T>)>,
    last: usize,
}

impl<K, T> Default for Groups<K, T> {
    fn default() -> Self {
        Groups { index: HashMap::new(), lists: Vec::new(), last: usize::MAX }
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
