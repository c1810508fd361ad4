//! The per-feature ordered value index: entries sort by the query ordering (SPEC §7), then id,
//! so a range filter or `order_by value` walks only the part of a feature it needs.
//!
//! Numbers, the common case, are kept apart as fixed-width keys that sort exactly as
//! [`cmp_order`] sorts the numbers themselves: 24 bytes an entry, compared as integers, where a
//! cloned [`Value`] took 40 bytes and a `match` per comparison. Bools, strings, dates and
//! datetimes keep a clone. Nulls, lists and dicts never bound a lookup (the query layer walks
//! the index only for plain operands, and sorts every answer itself), so they are kept as bare
//! ids: cloning every dict into the index was a tenth of an open.

use super::id_set::IdSet;
use super::int_set::IntSet;
use super::ValueRec;
use crate::value::{cmp_order, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

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

/// A number's key: (hi, lo) compares like [`cmp_order`] compares the numbers, an int just
/// before the float of the same magnitude. `hi` is the part before the point (`trunc`, exact)
/// as an order-preserving u64. `lo` orders within it: a negative fraction below 2⁶³ (its bits
/// inverted, as a total order of negative floats does), then the int (2⁶³), the integral
/// float (2⁶³ + 1), and positive fractions (2⁶³ + bits·2 + 1; a fraction below 1 has bits
/// below 2⁶²). Floats beyond the i64 range share hi with i64::MIN or i64::MAX, where no
/// fraction exists, and sit below or above with lo of their own bits.
pub(crate) type NumKey = (u64, u64);

const SIGN: u64 = 1 << 63;
/// 2⁶³ as an f64: the first float above every i64.
const I64_END: f64 = 9_223_372_036_854_775_808.0;

pub(crate) fn num_key(v: &Value) -> Option<NumKey> {
    match *v {
        Value::Int(i) => Some(((i as u64) ^ SIGN, SIGN)),
        Value::Float(f) if f < -I64_END => Some((0, !f.to_bits())), // sign bit set, so below 2⁶³
        Value::Float(f) if f >= I64_END => Some((u64::MAX, f.to_bits() | SIGN)), // above 2⁶³ + 1
        Value::Float(f) => {
            let whole = f.trunc();
            let k = whole as i64; // exact: integral and in range
            let frac = f - whole; // exact: f with its integer bits removed; -0.0 == 0.0 here
            let lo = if frac == 0.0 {
                SIGN + 1
            } else if frac > 0.0 {
                SIGN + (frac.to_bits() << 1) + 1
            } else {
                !frac.to_bits()
            };
            Some(((k as u64) ^ SIGN, lo))
        }
        _ => None,
    }
}

/// Where a value bound falls against the numbers, in the query ordering.
fn against_nums(v: &Value) -> Ordering {
    match v {
        Value::Null | Value::Bool(_) => Ordering::Less,
        Value::Int(_) | Value::Float(_) => Ordering::Equal,
        _ => Ordering::Greater,
    }
}

/// Where one value goes in a [`ValueIndex`].
pub(crate) enum Entry {
    Num((u64, u64, u64)),
    Ordered(OrdEntry),
    Unordered(u64),
}

/// One feature's values: numbers and the other plain values in the query ordering, nulls,
/// lists and dicts by id.
///
/// Ints and floats are kept apart: an int's key is its `hi` alone (its `lo` is always 2⁶³)
/// beside a 32-bit id, 16 bytes an entry where a float's takes 24, and a range walks both
/// merged. The ints, by far the most common, are a sorted vector ([`IntSet`]): a million ints
/// loaded in ascending order took 49 MB in one tree of 24-byte entries, 29 MB in a tree of
/// 16-byte ones (its leaves left half full), and take 16 MB now.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueIndex {
    ints: IntSet,
    floats: BTreeSet<(u64, u64, u64)>,
    rest: BTreeSet<OrdEntry>,
    unordered: IdSet,
}

/// Is this number key a float's? (An int's `lo` is exactly 2⁶³; see [`num_key`].)
fn is_float_key(lo: u64) -> bool {
    lo != SIGN
}

/// A value id as the int set keeps it: value records refuse ids beyond 32 bits.
fn short(id: u64) -> u32 {
    debug_assert!(u32::try_from(id).is_ok(), "value id {id} beyond 32 bits");
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// A bound on number keys `(hi, lo, id)` as a bound on the int set's `(hi, id)`: an int sits
/// at `(hi, 2⁶³, id)`, so a bound with another `lo` takes all or none of the ints at its `hi`.
fn int_bound(b: Bound<(u64, u64, u64)>, lower: bool) -> Bound<(u64, u32)> {
    let (Bound::Included((hi, lo, id)) | Bound::Excluded((hi, lo, id))) = b else {
        return Bound::Unbounded;
    };
    match (lo.cmp(&SIGN), lower) {
        // Every int at `hi` is above the bound.
        (Ordering::Less, true) => Bound::Included((hi, 0)),
        (Ordering::Less, false) => Bound::Excluded((hi, 0)),
        // Every int at `hi` is below it.
        (Ordering::Greater, true) => Bound::Excluded((hi, u32::MAX)),
        (Ordering::Greater, false) => Bound::Included((hi, u32::MAX)),
        (Ordering::Equal, _) => {
            let at = (hi, u32::try_from(id).unwrap_or(u32::MAX));
            if matches!(b, Bound::Included(_)) {
                Bound::Included(at)
            } else {
                Bound::Excluded(at)
            }
        }
    }
}

/// Two ascending walks of number keys as one.
fn merge<'a>(
    ints: impl Iterator<Item = (u64, u64, u64)> + 'a,
    floats: impl Iterator<Item = (u64, u64, u64)> + 'a,
) -> impl Iterator<Item = (u64, u64, u64)> + 'a {
    let (mut a, mut b) = (ints.peekable(), floats.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

impl ValueIndex {
    /// Built from each kind's entries in any order (sorted here, then bulk-built).
    pub fn build(mut nums: Vec<(u64, u64, u64)>, mut rest: Vec<OrdEntry>, mut unordered: Vec<u64>) -> ValueIndex {
        nums.sort_unstable();
        rest.sort_unstable();
        unordered.sort_unstable();
        let (floats, ints): (Vec<_>, Vec<_>) = nums.into_iter().partition(|k| is_float_key(k.1));
        ValueIndex {
            ints: IntSet::from_sorted(ints.into_iter().map(|(hi, _, id)| (hi, short(id))).collect()),
            floats: floats.into_iter().collect(),
            rest: rest.into_iter().collect(),
            unordered: IdSet::from_sorted(unordered),
        }
    }

    /// The entry a value makes.
    pub fn entry(value: &Value, id: u64) -> Entry {
        match (num_key(value), value) {
            (Some((hi, lo)), _) => Entry::Num((hi, lo, id)),
            (None, Value::Null | Value::List(_) | Value::Dict(_)) => Entry::Unordered(id),
            (None, _) => Entry::Ordered(OrdEntry { value: value.clone(), id }),
        }
    }

    /// The entry a record's value makes. A list or dict is kept by id alone, so it is not
    /// decoded for it (at open that was every dict of the store, decoded and dropped).
    pub fn entry_of(id: u64, v: &ValueRec) -> Entry {
        match v.is_list_or_dict() {
            true => Entry::Unordered(id),
            false => Self::entry(&v.value(), id),
        }
    }

    #[cfg(test)]
    pub fn insert(&mut self, value: &Value, id: u64) {
        self.insert_entry(Self::entry(value, id));
    }

    #[cfg(test)]
    pub fn remove(&mut self, value: &Value, id: u64) {
        self.remove_entry(Self::entry(value, id));
    }

    pub fn insert_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Num(k) if is_float_key(k.1) => {
                self.floats.insert(k);
            }
            Entry::Num((hi, _, id)) => {
                self.ints.insert((hi, short(id)));
            }
            Entry::Ordered(e) => {
                self.rest.insert(e);
            }
            Entry::Unordered(id) => self.unordered.add(id),
        }
    }

    pub fn remove_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Num(k) if is_float_key(k.1) => {
                self.floats.remove(&k);
            }
            Entry::Num((hi, _, id)) => {
                self.ints.remove((hi, short(id)));
            }
            Entry::Ordered(e) => {
                self.rest.remove(&e);
            }
            Entry::Unordered(id) => self.unordered.take_out(id),
        }
    }

    /// Does the index hold no value at all?
    pub fn is_empty(&self) -> bool {
        self.ints.is_empty() && self.floats.is_empty() && self.rest.is_empty() && self.unordered.is_empty()
    }

    /// Does the index hold a float / an int?
    pub fn has_floats(&self) -> bool {
        !self.floats.is_empty()
    }

    pub fn has_ints(&self) -> bool {
        !self.ints.is_empty()
    }

    /// The plain values' ids in the query ordering (as `range` gives them).
    pub fn ordered_ids(&self) -> std::vec::IntoIter<u64> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// For an index of ints alone (the common case), the same walk without collecting it
    /// first, from either end: a top ten reads ten entries.
    pub fn int_ids(&self) -> Option<impl DoubleEndedIterator<Item = u64> + '_> {
        (self.floats.is_empty() && self.rest.is_empty())
            .then(|| self.ints.range(Bound::Unbounded, Bound::Unbounded).map(|(_, id)| u64::from(id)))
    }

    /// The ids of nulls, lists and dicts, by id.
    pub fn unordered_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.unordered.iter()
    }

    /// Every id: the plain values in the query ordering, then nulls, lists and dicts in id
    /// order. (Callers that need an order sort the answer themselves.)
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ordered_ids().chain(self.unordered_ids())
    }

    /// The ids of plain values (not null, list or dict) between two value bounds (an included
    /// bound takes every entry equal to it, whatever its id), in the query ordering. Collected
    /// eagerly: callers collect them anyway, and a chain of lazy walks cost a call per id.
    pub fn range(&self, start: Bound<&Value>, end: Bound<&Value>) -> std::vec::IntoIter<u64> {
        let mut out = Vec::new();
        let rest = rest_range(&self.rest, start, end);
        if let Some(below) = rest.clone() {
            out.extend(below.take_while(|e| against_nums(&e.value).is_lt()).map(|e| e.id));
        }
        self.num_range(start, end, &mut out);
        if let Some(above) = rest {
            out.extend(above.skip_while(|e| against_nums(&e.value).is_lt()).map(|e| e.id));
        }
        out.into_iter()
    }

    fn num_range(&self, start: Bound<&Value>, end: Bound<&Value>, out: &mut Vec<u64>) {
        let lower = match start {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(v) | Bound::Excluded(v) => match (against_nums(v), num_key(v)) {
                (Ordering::Less, _) => Some(Bound::Unbounded),
                (_, Some((hi, lo))) if matches!(start, Bound::Included(_)) => Some(Bound::Included((hi, lo, 0))),
                (_, Some((hi, lo))) => Some(Bound::Excluded((hi, lo, u64::MAX))),
                _ => None, // the bound is above every number
            },
        };
        let upper = match end {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(v) | Bound::Excluded(v) => match (against_nums(v), num_key(v)) {
                (Ordering::Greater, _) => Some(Bound::Unbounded),
                (_, Some((hi, lo))) if matches!(end, Bound::Included(_)) => Some(Bound::Included((hi, lo, u64::MAX))),
                (_, Some((hi, lo))) => Some(Bound::Excluded((hi, lo, 0))),
                _ => None, // the bound is below every number
            },
        };
        let (Some(l), Some(u)) = (lower, upper) else { return };
        if !nonempty(&l, &u) {
            return;
        }
        let (il, iu) = (int_bound(l, true), int_bound(u, false));
        let ints = nonempty(&il, &iu).then(|| self.ints.range(il, iu)).into_iter().flatten();
        if self.floats.is_empty() {
            // The common case, a feature of ints: one tree, no merge.
            out.extend(ints.map(|(_, id)| u64::from(id)));
            return;
        }
        let ints = ints.map(|(hi, id)| (hi, SIGN, u64::from(id)));
        out.extend(merge(ints, self.floats.range((l, u)).copied()).map(|k| k.2));
    }
}

/// Can a range have entries? (`BTreeSet::range` panics on a start above its end, so every
/// walk of the index, the int set's pending tree included, checks this first.)
pub(super) fn nonempty<T: Ord>(l: &Bound<T>, u: &Bound<T>) -> bool {
    match (l, u) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

/// The walk of the tree of other plain values between two value bounds; `None` if empty.
fn rest_range<'a>(
    rest: &'a BTreeSet<OrdEntry>,
    start: Bound<&Value>,
    end: Bound<&Value>,
) -> Option<std::collections::btree_set::Range<'a, OrdEntry>> {
    let entry = |v: &Value, id| OrdEntry { value: v.clone(), id };
    let lower = match start {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(entry(v, 0)),
        Bound::Excluded(v) => Bound::Excluded(entry(v, u64::MAX)),
    };
    let upper = match end {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(entry(v, u64::MAX)),
        Bound::Excluded(v) => Bound::Excluded(entry(v, 0)),
    };
    nonempty(&lower, &upper).then(|| rest.range((lower, upper)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_keys_sort_like_the_query_ordering() {
        let big = I64_END;
        let nums = [
            Value::Float(-f64::MAX),
            Value::Float(-big * 2.0),
            Value::Int(i64::MIN),
            Value::Float(-big),
            Value::Int(i64::MIN + 1),
            Value::Float(-1.5),
            Value::Int(-1),
            Value::Float(-1.0),
            Value::Float(-0.5),
            Value::Float(-1e-17),
            Value::Float(-1e-300),
            Value::Float(-f64::MIN_POSITIVE),
            Value::Int(0),
            Value::Float(0.0),
            Value::Float(5e-324),
            Value::Float(0.25),
            Value::Int(1),
            Value::Float(1.0),
            Value::Float(1.0 + f64::EPSILON),
            Value::Int(9_007_199_254_740_993),
            Value::Float(big - 1024.0),
            Value::Int(i64::MAX),
            Value::Float(big),
            Value::Float(f64::MAX),
        ];
        for (i, a) in nums.iter().enumerate() {
            for (j, b) in nums.iter().enumerate() {
                let (ka, kb) = (num_key(a), num_key(b));
                assert_eq!(ka.cmp(&kb), cmp_order(a, b), "{a:?} vs {b:?}");
                assert_eq!(ka.cmp(&kb), i.cmp(&j), "{a:?} vs {b:?}: list order");
            }
        }
    }

    proptest::proptest! {
        /// Ints and floats live in two trees: every range over both, with bounds of either
        /// kind (and twins such as 3 and 3.0), must list what a sort and a filter list.
        #[test]
        fn number_ranges_match_a_sort_and_filter(
            nums in proptest::collection::vec((-6i64..6, 0u8..3), 0..40),
            lo in proptest::option::of((-7i64..7, 0u8..3, proptest::bool::ANY)),
            hi in proptest::option::of((-7i64..7, 0u8..3, proptest::bool::ANY)),
        ) {
            // 0: the int, 1: the float twin, 2: the float half a step above.
            let num = |(n, kind): (i64, u8)| match kind {
                0 => Value::Int(n),
                1 => Value::Float(n as f64),
                _ => Value::Float(n as f64 + 0.5),
            };
            let values: Vec<Value> = nums.into_iter().map(num).collect();
            let mut idx = ValueIndex::default();
            for (i, v) in values.iter().enumerate() {
                idx.insert(v, i as u64 + 1);
            }
            let bound = |b: &Option<(i64, u8, bool)>| b.map(|(n, k, inc)| (num((n, k)), inc));
            let (lo, hi) = (bound(&lo), bound(&hi));
            let as_bound = |b: &Option<(Value, bool)>| match b {
                None => Bound::Unbounded,
                Some((v, true)) => Bound::Included(v.clone()),
                Some((v, false)) => Bound::Excluded(v.clone()),
            };
            let (lb, ub) = (as_bound(&lo), as_bound(&hi));
            let got: Vec<u64> = idx.range(lb.as_ref(), ub.as_ref()).collect();
            let mut want: Vec<(usize, &Value)> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| match &lo {
                    None => true,
                    Some((b, inc)) => cmp_order(v, b).is_gt() || (*inc && cmp_order(v, b).is_eq()),
                })
                .filter(|(_, v)| match &hi {
                    None => true,
                    Some((b, inc)) => cmp_order(v, b).is_lt() || (*inc && cmp_order(v, b).is_eq()),
                })
                .collect();
            want.sort_by(|a, b| cmp_order(a.1, b.1).then(a.0.cmp(&b.0)));
            let want: Vec<u64> = want.into_iter().map(|(i, _)| i as u64 + 1).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn ranges_cover_both_halves_in_order() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(3),
            Value::Float(2.5),
            Value::from("a"),
            Value::Date(5),
            Value::Int(3),
            Value::List(vec![]),
        ];
        let mut idx = ValueIndex::default();
        for (i, v) in values.iter().enumerate() {
            idx.insert(v, i as u64 + 1);
        }
        // The plain values in the query ordering, then null, lists and dicts by id.
        assert_eq!(idx.ids().collect::<Vec<_>>(), vec![2, 4, 3, 7, 5, 6, 1, 8]);
        assert_eq!((idx.has_ints(), idx.has_floats()), (true, true));
        let three = Value::Int(3);
        assert_eq!(idx.range(Bound::Included(&three), Bound::Included(&three)).collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(idx.range(Bound::Excluded(&three), Bound::Unbounded).collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(
            idx.range(Bound::Unbounded, Bound::Excluded(&Value::Float(3.0))).collect::<Vec<_>>(),
            vec![2, 4, 3, 7]
        );
        let s = Value::from("");
        assert_eq!(idx.range(Bound::Included(&s), Bound::Excluded(&s)).count(), 0);
        assert_eq!(idx.range(Bound::Included(&Value::Int(4)), Bound::Included(&Value::Int(1))).count(), 0);
        let (mut nums, mut rest, mut unordered) = (Vec::new(), Vec::new(), Vec::new());
        for (i, v) in values.iter().enumerate().rev() {
            match ValueIndex::entry(v, i as u64 + 1) {
                Entry::Num(k) => nums.push(k),
                Entry::Ordered(e) => rest.push(e),
                Entry::Unordered(id) => unordered.push(id),
            }
        }
        let rebuilt = ValueIndex::build(nums, rest, unordered);
        assert_eq!(rebuilt.ids().collect::<Vec<_>>(), idx.ids().collect::<Vec<_>>());
        assert_eq!(
            (rebuilt.has_ints(), rebuilt.has_floats(), rebuilt.floats.len(), rebuilt.ints.len()),
            (true, true, 1, 2)
        );
        idx.remove(&Value::Int(3), 3);
        idx.remove(&Value::from("a"), 5);
        idx.remove(&Value::Null, 1);
        assert_eq!(idx.ids().collect::<Vec<_>>(), vec![2, 4, 7, 6, 8]);
        idx.remove(&Value::Float(2.5), 4);
        assert_eq!((idx.has_ints(), idx.has_floats()), (true, false));
        idx.remove(&Value::Int(3), 7);
        assert_eq!((idx.has_ints(), idx.has_floats()), (false, false));
    }
}
