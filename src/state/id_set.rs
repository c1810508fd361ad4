//! Sets of value ids for the branch, space, creator and run indexes. Values get ever larger
//! ids and nearly all of them share a branch, a space and a creator, so these sets are long
//! runs of consecutive ids: a set is kept as its runs (`start → end`, end exclusive), which is
//! a few bytes for a million ids where a `Vec<u64>` took 8–16 bytes per id and a
//! `BTreeSet<u64>` 9–17. A fragmented set (every other value trashed) costs about one B-tree
//! entry per id, and every operation stays O(log runs).

use std::collections::BTreeMap;

/// A set of ids, as runs of consecutive ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdSet {
    runs: BTreeMap<u64, u64>,
    len: usize,
}

impl IdSet {
    /// The set of ascending, distinct ids.
    pub fn from_sorted(ids: impl IntoIterator<Item = u64>) -> IdSet {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut len = 0;
        for id in ids {
            len += 1;
            match runs.last_mut() {
                Some((_, end)) if *end == id => *end += 1,
                _ => runs.push((id, id + 1)),
            }
        }
        debug_assert!(runs.windows(2).all(|w| w[0].1 < w[1].0));
        IdSet { runs: runs.into_iter().collect(), len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.runs.iter().flat_map(|(start, end)| *start..*end)
    }

    /// The run that contains `id`, if any.
    fn run_of(&self, id: u64) -> Option<(u64, u64)> {
        let (start, end) = self.runs.range(..=id).next_back()?;
        (id < *end).then_some((*start, *end))
    }

    pub fn add(&mut self, id: u64) {
        // The common case: the next id after the last run.
        if let Some(mut last) = self.runs.last_entry() {
            if *last.get() == id {
                *last.get_mut() += 1;
                self.len += 1;
                return;
            }
        }
        if self.run_of(id).is_some() {
            return;
        }
        self.len += 1;
        let before = self.runs.range(..id).next_back().filter(|(_, end)| **end == id).map(|(start, _)| *start);
        let after = self.runs.remove(&(id + 1));
        match (before, after) {
            (Some(start), Some(end)) => {
                self.runs.insert(start, end);
            }
            (Some(start), None) => {
                self.runs.insert(start, id + 1);
            }
            (None, Some(end)) => {
                self.runs.insert(id, end);
            }
            (None, None) => {
                self.runs.insert(id, id + 1);
            }
        }
    }

    pub fn take_out(&mut self, id: u64) {
        let Some((start, end)) = self.run_of(id) else { return };
        self.len -= 1;
        if start < id {
            self.runs.insert(start, id);
        } else {
            self.runs.remove(&start);
        }
        if id + 1 < end {
            self.runs.insert(id + 1, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn behaves_as_a_set() {
        let mut set = IdSet::default();
        let mut model = BTreeSet::new();
        let mut x = 7u64;
        for step in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let id = (x >> 33) % 200 + 1;
            if step % 3 == 0 {
                set.take_out(id);
                model.remove(&id);
            } else {
                set.add(id);
                model.insert(id);
            }
            assert_eq!(set.len(), model.len());
        }
        assert!(set.iter().eq(model.iter().copied()));
        assert_eq!(IdSet::from_sorted(model.iter().copied()), set);
        assert!(set.runs.iter().zip(set.runs.iter().skip(1)).all(|(a, b)| *a.1 < *b.0), "runs are merged");
    }
}
