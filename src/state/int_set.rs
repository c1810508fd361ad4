//! The ints of a feature's ordered index: `(key, id)` pairs kept in one sorted vector, so that a
//! range is one search and a contiguous walk. A `BTreeSet` of the same pairs cost two descents
//! and a walk over ≈ 10 scattered leaves for a 100-value range (≈ 20 % of the W5 query), and
//! it was left ≈ 55 % full (29 B a pair) by ascending inserts.
//!
//! Values are nearly always created with growing ints or loaded in bulk, and both keep the
//! vector sorted by appending. A pair inserted out of order waits in a small tree, and a pair
//! removed from the vector is marked in another; once the two hold an eighth of the vector they
//! are merged into it (O(n), so O(1) per change amortized).
//!
//! Every 64th key is copied into `fences` (256 KB at 1M ints), and every 64th fence into
//! `tops` (4 KB): a search runs in `tops` first, which stays in cache, then within one 1 KB
//! run of `fences` and one 1 KB block of the vector. (With `fences` alone, the last steps of
//! its binary search were cache and TLB misses of their own.)

use super::value_index::nonempty;
use std::collections::BTreeSet;
use std::ops::Bound;

/// An int's order key (see `value_index::num_key`) and its value's id.
pub(crate) type Key = (u64, u32);

/// Pairs per fence.
const STRIDE: usize = 64;

/// A slice of at most `STRIDE` pairs (1 KB), its cache lines read first: a binary search's
/// steps depend on each other, so in a cold block each was a miss of its own; these loads do
/// not, and the processor overlaps them.
fn warmed(block: &[Key]) -> &[Key] {
    // 16-byte pairs, four to a 64-byte line.
    let seen = block.iter().step_by(4).fold(0, |acc, k| acc ^ k.0);
    std::hint::black_box(seen);
    block
}

/// Pending changes merge once they reach an eighth of the vector, or this many (fewer in unit
/// tests, so that their small sets merge often).
#[cfg(not(test))]
const MIN_PENDING: usize = 1024;
#[cfg(test)]
const MIN_PENDING: usize = 8;

#[derive(Debug, Clone, Default)]
pub(crate) struct IntSet {
    /// Sorted and distinct; includes the pairs in `removed`.
    sorted: Vec<Key>,
    /// `sorted[i * STRIDE]` for every `i`.
    fences: Vec<Key>,
    /// `fences[i * STRIDE]` for every `i`.
    tops: Vec<Key>,
    /// Pairs not in `sorted`.
    added: BTreeSet<Key>,
    /// Pairs of `sorted` that are no longer in the set.
    removed: BTreeSet<Key>,
}

impl IntSet {
    /// The set of these pairs, ascending and distinct.
    pub fn from_sorted(mut sorted: Vec<Key>) -> IntSet {
        debug_assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        sorted.dedup();
        // A vector collected in place from wider entries keeps their allocation.
        sorted.shrink_to_fit();
        let mut set = IntSet { sorted, ..IntSet::default() };
        set.refence();
        set
    }

    pub fn len(&self) -> usize {
        self.sorted.len() - self.removed.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a pair; false if it was there.
    pub fn insert(&mut self, k: Key) -> bool {
        let above_all = self.sorted.last().is_none_or(|last| *last < k) && self.added.last().is_none_or(|l| *l < k);
        if above_all {
            if self.sorted.len().is_multiple_of(STRIDE) {
                if self.fences.len().is_multiple_of(STRIDE) {
                    self.tops.push(k);
                }
                self.fences.push(k);
            }
            self.sorted.push(k);
            return true;
        }
        let fresh = match self.sorted.get(self.search(|x| *x < k)) {
            Some(x) if *x == k => self.removed.remove(&k),
            _ => self.added.insert(k),
        };
        self.settle();
        fresh
    }

    /// Removes a pair; false if it was not there.
    pub fn remove(&mut self, k: Key) -> bool {
        if self.added.remove(&k) {
            return true;
        }
        let gone = match self.sorted.get(self.search(|x| *x < k)) {
            Some(x) if *x == k => self.removed.insert(k),
            _ => false,
        };
        self.settle();
        gone
    }

    /// The pairs between two bounds, ascending. Bounds in the wrong order give nothing.
    pub fn range(&self, lower: Bound<Key>, upper: Bound<Key>) -> Range<'_> {
        let start = match lower {
            Bound::Included(k) => self.search(|x| *x < k),
            Bound::Excluded(k) => self.search(|x| *x <= k),
            Bound::Unbounded => 0,
        };
        let end = match upper {
            Bound::Included(k) => self.gallop(start, |x| *x <= k),
            Bound::Excluded(k) => self.gallop(start, |x| *x < k),
            Bound::Unbounded => self.sorted.len(),
        };
        let added = match nonempty(&lower, &upper) && !self.added.is_empty() {
            true => Some(self.added.range((lower, upper)).peekable()),
            false => None,
        };
        Range {
            sorted: self.sorted.get(start..end.max(start)).unwrap_or_default().iter(),
            added,
            removed: (!self.removed.is_empty()).then_some(&self.removed),
        }
    }

    /// The first index of `sorted` whose pair is not `before` (which holds for a prefix).
    fn search(&self, before: impl Fn(&Key) -> bool) -> usize {
        let top = self.tops.partition_point(&before);
        // tops[top - 1] is before, tops[top] is not: so is the first fence that is not.
        let run = top.saturating_sub(1) * STRIDE;
        let run_end = (top * STRIDE).min(self.fences.len());
        let block = run + warmed(self.fences.get(run..run_end).unwrap_or_default()).partition_point(&before);
        // fences[block - 1] is before, fences[block] is not: the answer is in between.
        let from = block.saturating_sub(1) * STRIDE;
        let to = (block * STRIDE).min(self.sorted.len());
        from + warmed(self.sorted.get(from..to).unwrap_or_default()).partition_point(before)
    }

    /// As `search`, knowing that the answer is at or after `from`: probes at growing steps, so
    /// a short range costs a few nearby reads.
    fn gallop(&self, from: usize, before: impl Fn(&Key) -> bool) -> usize {
        let (mut lo, mut step) = (from, 8);
        while let Some(k) = self.sorted.get(lo + step) {
            if !before(k) {
                break;
            }
            lo += step + 1;
            step *= 2;
        }
        let to = (lo + step).min(self.sorted.len());
        lo + self.sorted.get(lo..to).unwrap_or_default().partition_point(before)
    }

    /// Merges the pending changes into the vector once they are many.
    fn settle(&mut self) {
        let pending = self.added.len() + self.removed.len();
        if pending < MIN_PENDING.max(self.sorted.len() / 8) {
            return;
        }
        let mut merged = Vec::with_capacity(self.len());
        merged.extend(self.range(Bound::Unbounded, Bound::Unbounded));
        self.sorted = merged;
        self.added.clear();
        self.removed.clear();
        self.refence();
    }

    fn refence(&mut self) {
        self.fences = self.sorted.iter().step_by(STRIDE).copied().collect();
        self.tops = self.fences.iter().step_by(STRIDE).copied().collect();
    }
}

/// A walk of an [`IntSet`]: the vector's part merged with the pending insertions, less the
/// pending removals. With none pending (the usual case) it is a slice walk.
pub(crate) struct Range<'a> {
    sorted: std::slice::Iter<'a, Key>,
    added: Option<std::iter::Peekable<std::collections::btree_set::Range<'a, Key>>>,
    removed: Option<&'a BTreeSet<Key>>,
}

impl Iterator for Range<'_> {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        if self.added.is_none() && self.removed.is_none() {
            return self.sorted.next().copied();
        }
        loop {
            let next = match (
                self.sorted.as_slice().first().copied(),
                self.added.as_mut().and_then(|a| a.peek().map(|k| **k)),
            ) {
                (Some(s), Some(a)) if a < s => self.added.as_mut().and_then(Iterator::next).copied(),
                (Some(_), _) => self.sorted.next().copied(),
                (None, _) => return self.added.as_mut().and_then(Iterator::next).copied(),
            };
            match (next, self.removed) {
                (Some(k), Some(r)) if r.contains(&k) => continue,
                _ => return next,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (s, a) = (self.sorted.len(), self.added.as_ref().map_or(0, |a| a.size_hint().0));
        match (&self.added, self.removed) {
            (None, None) => (s, Some(s)),
            (_, None) => (s + a, None),
            (_, Some(_)) => (0, None),
        }
    }
}

/// The walk from its high end (a feature's top values first), merged the same way.
impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Key> {
        if self.added.is_none() && self.removed.is_none() {
            return self.sorted.next_back().copied();
        }
        loop {
            // A cloned tree walk is two handles: peeking its back end costs nothing more.
            let last_added = self.added.as_ref().and_then(|a| a.clone().next_back().copied());
            let next = match (self.sorted.as_slice().last().copied(), last_added) {
                (Some(s), Some(a)) if a > s => self.added.as_mut().and_then(DoubleEndedIterator::next_back).copied(),
                (Some(_), _) => self.sorted.next_back().copied(),
                (None, _) => return self.added.as_mut().and_then(DoubleEndedIterator::next_back).copied(),
            };
            match (next, self.removed) {
                (Some(k), Some(r)) if r.contains(&k) => continue,
                _ => return next,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bound(kind: u8, k: Key) -> Bound<Key> {
        match kind % 3 {
            0 => Bound::Included(k),
            1 => Bound::Excluded(k),
            _ => Bound::Unbounded,
        }
    }

    proptest! {
        /// Random inserts and removes (ascending runs, which append, mixed with others, which
        /// wait and merge), against a `BTreeSet`: same answers, lengths and ranges.
        #[test]
        fn behaves_like_a_btreeset(
            start in proptest::collection::vec((0u64..400, 0u32..4), 0..300),
            ops in proptest::collection::vec((0u8..4, 0u64..400, 0u32..4), 0..3000),
            ranges in proptest::collection::vec((0u8..3, 0u64..400, 0u32..4, 0u8..3, 0u64..400, 0u32..4), 1..20),
        ) {
            let model: BTreeSet<Key> = start.into_iter().collect();
            let mut set = IntSet::from_sorted(model.iter().copied().collect());
            let mut model = model;
            let mut next_up = 400u64;
            for (op, hi, id) in ops {
                match op {
                    0 => prop_assert_eq!(set.insert((hi, id)), model.insert((hi, id))),
                    1 => prop_assert_eq!(set.remove((hi, id)), model.remove(&(hi, id))),
                    2 => {
                        next_up += hi % 3;
                        prop_assert_eq!(set.insert((next_up, id)), model.insert((next_up, id)));
                    }
                    _ => {
                        let last = model.last().copied();
                        if let Some(k) = last {
                            prop_assert_eq!(set.remove(k), model.remove(&k));
                        }
                    }
                }
                prop_assert_eq!(set.len(), model.len());
            }
            for (lk, lh, li, uk, uh, ui) in ranges {
                let (l, u) = (bound(lk, (lh, li)), bound(uk, (uh, ui)));
                let want: Vec<Key> = if nonempty(&l, &u) { model.range((l, u)).copied().collect() } else { vec![] };
                prop_assert_eq!(set.range(l, u).collect::<Vec<_>>(), want.clone());
                let mut back: Vec<Key> = set.range(l, u).rev().collect();
                back.reverse();
                prop_assert_eq!(back, want);
            }
            prop_assert_eq!(set.range(Bound::Unbounded, Bound::Unbounded).collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_large_set_finds_ranges_across_fences_and_merges() {
        // Even keys appended, then odd keys inserted out of order until a merge.
        let mut set = IntSet::default();
        for k in (0..20_000u64).step_by(2) {
            assert!(set.insert((k, 1)));
        }
        assert_eq!(set.fences.len(), 10_000usize.div_ceil(STRIDE));
        assert_eq!(set.tops.len(), set.fences.len().div_ceil(STRIDE));
        for k in (1..4_000u64).step_by(2) {
            assert!(set.insert((k, 1)));
        }
        // The 1,250th pending pair (an eighth of 10,000) merged; 750 wait again.
        assert_eq!((set.sorted.len(), set.added.len(), set.len()), (11_250, 750, 12_000));
        let got: Vec<u64> = set.range(Bound::Included((3_001, 0)), Bound::Excluded((3_101, 0))).map(|k| k.0).collect();
        assert_eq!(got, (3_001..3_101).collect::<Vec<_>>());
        let got: Vec<u64> =
            set.range(Bound::Excluded((18_000, 1)), Bound::Included((18_010, 1))).map(|k| k.0).collect();
        assert_eq!(got, vec![18_002, 18_004, 18_006, 18_008, 18_010]);
        assert!(set.remove((18_004, 1)) && !set.remove((18_004, 1)));
        let got: Vec<u64> =
            set.range(Bound::Included((18_000, 0)), Bound::Included((18_006, 9))).map(|k| k.0).collect();
        assert_eq!(got, vec![18_000, 18_002, 18_006]);
    }
}
