//! Links between values and hosts (artifacts, runs), indexed both ways, with who made each.
//!
//! Each host kind has its own two B-trees, keyed by a `u128` that packs two ids high then low,
//! so a key sorts as the pair does, takes 16 bytes and compares as one integer (a `(u64, Host)`
//! key took 24 and compared through the tuple and the enum). The kind is the tree, not a bit of
//! the key: a host id may be any `u64` (the fold does not check that a linked host exists, so a
//! re-chained log or export can link run `u64::MAX`), and two 64-bit ids leave no bit spare.
//! Walking artifacts before runs gives `Host`'s derived order.

use crate::event::Host;
use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

/// Who made a link, when, and under which run. Every field takes any value an event carries
/// (the fold checks none of them), so `run` has no spare value to stand for `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMeta {
    pub by: u64,
    pub at: i64,
    pub run: Option<u64>,
}

/// The links to hosts of one kind.
#[derive(Debug, Clone, Default)]
struct Kind {
    /// `pack(value, host id)`.
    by_value: BTreeSet<u128>,
    /// `pack(host id, value)`.
    by_host: BTreeMap<u128, LinkMeta>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    artifacts: Kind,
    runs: Kind,
}

/// `(high, low)` as one integer that sorts as the pair does.
fn pack(high: u64, low: u64) -> u128 {
    u128::from(high) << 64 | u128::from(low)
}

fn unpack(key: u128) -> (u64, u64) {
    // The casts keep exactly the half asked for.
    ((key >> 64) as u64, key as u64)
}

/// Every key whose high id is `high`.
fn with_high(high: u64) -> RangeInclusive<u128> {
    pack(high, 0)..=pack(high, u64::MAX)
}

impl Kind {
    /// Ids of the hosts linked to a value.
    fn hosts_of(&self, value: u64) -> impl Iterator<Item = u64> + '_ {
        self.by_value.range(with_high(value)).map(|k| unpack(*k).1)
    }
}

impl Links {
    fn kind(&self, host: Host) -> (&Kind, u64) {
        match host {
            Host::Artifact(id) => (&self.artifacts, id),
            Host::Run(id) => (&self.runs, id),
        }
    }

    fn kind_mut(&mut self, host: Host) -> (&mut Kind, u64) {
        match host {
            Host::Artifact(id) => (&mut self.artifacts, id),
            Host::Run(id) => (&mut self.runs, id),
        }
    }

    pub fn contains(&self, value: u64, host: Host) -> bool {
        let (kind, id) = self.kind(host);
        kind.by_value.contains(&pack(value, id))
    }

    pub fn insert(&mut self, value: u64, host: Host, meta: LinkMeta) {
        let (kind, id) = self.kind_mut(host);
        kind.by_value.insert(pack(value, id));
        kind.by_host.insert(pack(id, value), meta);
    }

    pub fn remove(&mut self, value: u64, host: Host) {
        let (kind, id) = self.kind_mut(host);
        kind.by_value.remove(&pack(value, id));
        kind.by_host.remove(&pack(id, value));
    }

    /// Hosts linked to a value: artifacts then runs, each by id.
    pub fn hosts_of(&self, value: u64) -> impl Iterator<Item = Host> + '_ {
        self.artifacts.hosts_of(value).map(Host::Artifact).chain(self.runs.hosts_of(value).map(Host::Run))
    }

    /// Values linked to a host, by id.
    pub fn values_of(&self, host: Host) -> impl Iterator<Item = u64> + '_ {
        let (kind, id) = self.kind(host);
        kind.by_host.range(with_high(id)).map(|(k, _)| unpack(*k).1)
    }

    /// Every link with who made it, ordered by host then value.
    pub fn all(&self) -> impl ExactSizeIterator<Item = (Host, u64, LinkMeta)> + '_ {
        All { artifacts: self.artifacts.by_host.iter(), runs: self.runs.by_host.iter() }
    }

    pub fn len(&self) -> usize {
        self.artifacts.by_host.len() + self.runs.by_host.len()
    }
}

/// `Links::all`: artifacts' links, then runs'. (A `Chain` would not know its exact length.)
struct All<'a> {
    artifacts: btree_map::Iter<'a, u128, LinkMeta>,
    runs: btree_map::Iter<'a, u128, LinkMeta>,
}

impl Iterator for All<'_> {
    type Item = (Host, u64, LinkMeta);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((k, m)) = self.artifacts.next() {
            let (id, value) = unpack(*k);
            return Some((Host::Artifact(id), value, *m));
        }
        let (k, m) = self.runs.next()?;
        let (id, value) = unpack(*k);
        Some((Host::Run(id), value, *m))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.artifacts.len() + self.runs.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for All<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The representation this module replaced, as the model.
    #[derive(Default)]
    struct Model {
        by_value: BTreeSet<(u64, Host)>,
        by_host: BTreeMap<(Host, u64), LinkMeta>,
    }

    /// Ids at the edges of every width an id might be assumed to fit, and a few small ones, so
    /// that random operations meet the same pairs again.
    const IDS: [u64; 12] =
        [0, 1, 2, 3, u32::MAX as u64, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, u64::MAX - 1, u64::MAX, 7];

    fn host(kind: bool, id: u64) -> Host {
        if kind {
            Host::Run(id)
        } else {
            Host::Artifact(id)
        }
    }

    fn id() -> impl Strategy<Value = u64> {
        prop_oneof![3 => proptest::sample::select(&IDS[..]), 1 => any::<u64>()]
    }

    fn meta(n: u64) -> LinkMeta {
        LinkMeta { by: n, at: n as i64 ^ i64::MIN, run: [None, Some(n), Some(u64::MAX - n)][(n % 3) as usize] }
    }

    /// Every read of `links` answers as the model does.
    fn check(links: &Links, model: &Model) -> Result<(), TestCaseError> {
        prop_assert_eq!(links.len(), model.by_host.len());
        let all: Vec<_> = model.by_host.iter().map(|((h, v), m)| (*h, *v, *m)).collect();
        prop_assert_eq!(links.all().len(), all.len());
        prop_assert_eq!(links.all().collect::<Vec<_>>(), all);
        let mut ids: BTreeSet<u64> = IDS.into_iter().collect();
        ids.extend(model.by_value.iter().flat_map(|(v, h)| match h {
            Host::Artifact(a) | Host::Run(a) => [*v, *a],
        }));
        for id in ids {
            let hosts: Vec<Host> = model
                .by_value
                .range((id, Host::Artifact(0))..)
                .take_while(|(v, _)| *v == id)
                .map(|(_, h)| *h)
                .collect();
            prop_assert_eq!(links.hosts_of(id).collect::<Vec<_>>(), hosts);
            for h in [Host::Artifact(id), Host::Run(id)] {
                let values: Vec<u64> =
                    model.by_host.range((h, 0)..).take_while(|((k, _), _)| *k == h).map(|((_, v), _)| *v).collect();
                prop_assert_eq!(links.values_of(h).collect::<Vec<_>>(), values);
            }
        }
        Ok(())
    }

    proptest! {
        /// Random inserts (new and repeated pairs, with new metadata) and removes (of linked
        /// and unlinked pairs), against the model: same answers after every operation.
        #[test]
        fn behaves_like_the_tuple_trees(
            ops in proptest::collection::vec((0u8..3, id(), any::<bool>(), id()), 1..120),
        ) {
            let (mut links, mut model) = (Links::default(), Model::default());
            for (n, (op, value, kind, id)) in ops.into_iter().enumerate() {
                let h = host(kind, id);
                if op < 2 {
                    links.insert(value, h, meta(n as u64));
                    model.by_value.insert((value, h));
                    model.by_host.insert((h, value), meta(n as u64));
                } else {
                    links.remove(value, h);
                    model.by_value.remove(&(value, h));
                    model.by_host.remove(&(h, value));
                }
                prop_assert_eq!(links.contains(value, h), model.by_value.contains(&(value, h)));
                check(&links, &model)?;
            }
        }
    }

    #[test]
    fn extreme_ids_keep_the_order_of_host() {
        let mut links = Links::default();
        let mut want = Vec::new();
        for h in IDS.iter().flat_map(|&id| [Host::Artifact(id), Host::Run(id)]) {
            for v in IDS {
                // Metadata that tells the kinds apart, so that swapped trees show.
                let m = meta(if matches!(h, Host::Run(_)) { !v } else { v });
                links.insert(v, h, m);
                want.push((h, v, m));
            }
        }
        want.sort_by_key(|(h, v, _)| (*h, *v));
        assert_eq!(links.all().collect::<Vec<_>>(), want);
        let mut hosts: Vec<Host> = IDS.iter().flat_map(|&id| [Host::Artifact(id), Host::Run(id)]).collect();
        hosts.sort();
        let mut values = IDS;
        values.sort();
        for v in IDS {
            assert_eq!(links.hosts_of(v).collect::<Vec<_>>(), hosts);
        }
        for h in &hosts {
            assert_eq!(links.values_of(*h).collect::<Vec<_>>(), values);
        }
        assert!(links.contains(u64::MAX, Host::Run(u64::MAX)) && links.contains(0, Host::Artifact(0)));
        links.remove(u64::MAX, Host::Run(u64::MAX));
        assert!(!links.contains(u64::MAX, Host::Run(u64::MAX)));
        assert_eq!(links.len(), want.len() - 1);
        assert_eq!(links.hosts_of(u64::MAX).last(), Some(Host::Run(u64::MAX - 1)));
    }
}
