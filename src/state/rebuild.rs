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
        let mut by_feature: HashMap<Option<u64>, Vec<OrdEntry>> = HashMap::new();
        let mut by_branch: HashMap<i64, Vec<u64>> = HashMap::new();
        let mut by_space: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut by_creator: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut by_run: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut keys = Vec::with_capacity(if with_dedup { self.value_count } else { 0 });
        for v in self.values.iter().flatten() {
            if with_dedup {
                keys.push((dedup_key(v.feature(), &v.hash), v.id));
            }
            by_feature.entry(v.feature()).or_default().push(OrdEntry { value: v.value.clone(), id: v.id });
            by_branch.entry(v.branch).or_default().push(v.id);
            by_space.entry(v.space).or_default().push(v.id);
            by_creator.entry(v.created_by).or_default().push(v.id);
            if let Some(r) = v.run() {
                by_run.entry(r).or_default().push(v.id);
            }
        }
        if with_dedup {
            self.dedup = Default::default();
            self.dedup.extend(keys);
        }
        // Ids arrive in increasing order, so the id lists are sorted already.
        self.by_feature = by_feature
            .into_iter()
            .map(|(f, mut entries)| {
                entries.sort_unstable_by(|a, b| cmp_order(&a.value, &b.value).then(a.id.cmp(&b.id)));
                (f, entries.into_iter().collect::<BTreeSet<_>>())
            })
            .collect();
        self.by_branch = by_branch.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_space = by_space.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_creator = by_creator.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
        self.by_run = by_run.into_iter().map(|(k, ids)| (k, IdSet::from_sorted(ids))).collect();
    }
}
