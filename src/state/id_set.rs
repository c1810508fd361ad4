//! Sets of value ids for indexes whose members rarely leave (by space, creator, run). New
//! values get ever larger ids, so an insert is almost always a push; a sorted vector then
//! costs 8 bytes per member and no tree walk, where a `BTreeSet` costs more of both.

/// A sorted set of ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdSet(Vec<u64>);

impl IdSet {
    pub fn from_sorted(ids: Vec<u64>) -> IdSet {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        IdSet(ids)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, u64> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a u64;
    type IntoIter = std::slice::Iter<'a, u64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// What the fold needs of an id index, whichever set backs it.
pub(crate) trait Ids: Default {
    fn add(&mut self, id: u64);
    fn take_out(&mut self, id: u64);
    fn is_empty(&self) -> bool;
}

impl Ids for IdSet {
    fn add(&mut self, id: u64) {
        match self.0.last() {
            Some(last) if *last >= id => {
                if let Err(at) = self.0.binary_search(&id) {
                    self.0.insert(at, id);
                }
            }
            _ => self.0.push(id),
        }
    }

    fn take_out(&mut self, id: u64) {
        if let Ok(at) = self.0.binary_search(&id) {
            self.0.remove(at);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ids for std::collections::BTreeSet<u64> {
    fn add(&mut self, id: u64) {
        self.insert(id);
    }

    fn take_out(&mut self, id: u64) {
        self.remove(&id);
    }

    fn is_empty(&self) -> bool {
        std::collections::BTreeSet::is_empty(self)
    }
}
