//! `order_by` value with a limit on one feature, answered by walking the feature's ordered
//! index instead of decoding and sorting every value it has: a feature's top ten reads about
//! ten records. The index orders plain values by `cmp_order` (a refinement of the query's
//! `cmp_loose`: an int and an equal float, a date and its midnight, differ only by type), so
//! the values that tie under `cmp_loose` sit together; the walk takes whole groups of ties and
//! sorts what it took exactly as the full path sorts everything.

use super::eval::Plan;
use super::parse::OrderBy;
use super::Query;
use crate::state::{State, ValueRec};
use crate::value::{cmp_loose, Value};
use std::cmp::Ordering;

/// The answer of `q`, if it is a top-k by value this path can give: ordered by value with a
/// limit, on exactly one feature, no value test (a selective one would make the walk read
/// values the full path never decodes), no id or hash filter, and no list or dict passing the
/// other filters (those rank above every plain value, in an order the index does not keep; no
/// null is ever stored, so the index's unordered part holds only lists and dicts).
pub(super) fn by_value<'s>(s: &'s State, p: &Plan, q: &Query) -> Option<Vec<(u64, &'s ValueRec)>> {
    let k = q.limit?;
    if q.order != OrderBy::Value || !p.has_no_id_hash_or_value_test() {
        return None;
    }
    let feature = p.the_feature()?;
    let Some(set) = s.by_feature.get(&feature) else { return Some(Vec::new()) };
    if set.unordered_ids().any(|id| s.value(id).is_some_and(|v| p.accepts_but_tests(s, id, v))) {
        return None;
    }
    let walk: Box<dyn DoubleEndedIterator<Item = u64> + '_> = match set.int_ids() {
        Some(ints) => Box::new(ints),
        None => Box::new(set.ordered_ids()),
    };
    Some(if q.descending { take_ties(s, p, walk.rev(), k, true) } else { take_ties(s, p, walk, k, false) })
}

/// The first `n` values passing the plan in the walk's order, whole groups of `cmp_loose` ties
/// included, sorted by value then id (reversed when descending) and cut to `n`.
fn take_ties<'s>(
    s: &'s State,
    p: &Plan,
    walk: impl Iterator<Item = u64>,
    n: usize,
    descending: bool,
) -> Vec<(u64, &'s ValueRec)> {
    // Not sized by `n`: a limit is the caller's number, and may be far beyond the store.
    let mut got: Vec<(Value, u64, &ValueRec)> = Vec::new();
    let mut last: Option<Value> = None;
    if n > 0 {
        for id in walk {
            let Some(v) = s.value(id) else { continue };
            match &last {
                None => {
                    if p.accepts_but_tests(s, id, v) {
                        got.push((v.value(), id, v));
                        if got.len() == n {
                            last = got.last().map(|(value, _, _)| value.clone());
                        }
                    }
                }
                Some(boundary) => {
                    let value = v.value();
                    // The ties of the n-th value are together in the walk: the first value
                    // past them ends it.
                    if cmp_loose(&value, boundary) != Ordering::Equal {
                        break;
                    }
                    if p.accepts_but_tests(s, id, v) {
                        got.push((value, id, v));
                    }
                }
            }
        }
    }
    got.sort_by(|(a, x, _), (b, y, _)| cmp_loose(a, b).then(x.cmp(y)));
    if descending {
        got.reverse();
    }
    got.truncate(n);
    got.into_iter().map(|(_, id, v)| (id, v)).collect()
}
