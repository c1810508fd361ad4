//! The per-feature ordered value index: entries sort by the query ordering (SPEC §7), then id,
//! so a range filter or `order_by value` walks only the part of a feature it needs.

use crate::value::{cmp_order, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub(crate) struct OrdEntry {
    pub value: Value,
    pub id: u64,
}

impl PartialEq for OrdEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrdEntry {}
impl PartialOrd for OrdEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_order(&self.value, &other.value).then(self.id.cmp(&other.id))
    }
}
