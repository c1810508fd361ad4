//! The query ordering (SPEC §7): types rank bool < numbers < strings < dates and datetimes <
//! lists < dicts; numbers compare exactly across int and float; a date is its midnight.

use super::temporal::date_to_micros;
use super::Value;
use std::cmp::Ordering;

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 2,
        Value::Str(_) => 3,
        Value::Date(_) | Value::DateTime(_) => 4,
        Value::List(_) => 5,
        Value::Dict(_) => 6,
    }
}

/// Exact comparison of an i64 with a finite f64, without casting the int to f64.
fn cmp_int_float(i: i64, f: f64) -> Ordering {
    if f >= 9.223_372_036_854_776e18 {
        return Ordering::Less;
    }
    if f < -9.223_372_036_854_776e18 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    let ti = t as i64; // exact: t is integral and in range
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// The order of `order_by value`: like [`cmp_order`] but a number equals a number of the other
/// type with the same magnitude (and a date its midnight datetime), so ties fall to the id.
pub(crate) fn cmp_loose(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x).reverse(),
        (Value::Date(x), Value::DateTime(y)) => date_to_micros(*x).cmp(y),
        (Value::DateTime(x), Value::Date(y)) => x.cmp(&date_to_micros(*y)),
        (Value::List(x), Value::List(y)) => {
            x.iter().zip(y).map(|(p, q)| cmp_loose(p, q)).find(|o| o.is_ne()).unwrap_or_else(|| x.len().cmp(&y.len()))
        }
        (Value::Dict(x), Value::Dict(y)) => x
            .iter()
            .zip(y)
            .map(|((ka, va), (kb, vb))| ka.as_bytes().cmp(kb.as_bytes()).then_with(|| cmp_loose(va, vb)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => cmp_order(a, b),
    }
}

/// Total order used by the per-feature value index. Equal ranks with
/// equal magnitudes (an int and an equal float, a date and its midnight) tie-break on type so
/// that the order stays total and consistent with equality.
pub(crate) fn cmp_order(a: &Value, b: &Value) -> Ordering {
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y).then(Ordering::Less),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x).reverse().then(Ordering::Greater),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Date(x), Value::DateTime(y)) => date_to_micros(*x).cmp(y).then(Ordering::Less),
        (Value::DateTime(x), Value::Date(y)) => x.cmp(&date_to_micros(*y)).then(Ordering::Greater),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = cmp_order(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Dict(x), Value::Dict(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                let o = ka.as_bytes().cmp(kb.as_bytes()).then_with(|| cmp_order(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => Ordering::Equal,
    })
}

/// Range comparison for `gt`/`gte`/`lt`/`lte`: `None` when the two are not comparable (different
/// kinds, bools, lists, dicts). Numbers compare across int and float; a date is its midnight.
pub(crate) fn range_cmp(stored: &Value, operand: &Value) -> Option<Ordering> {
    match (stored, operand) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => Some(cmp_int_float(*x, *y)),
        (Value::Float(x), Value::Int(y)) => Some(cmp_int_float(*y, *x).reverse()),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::DateTime(y)) => Some(date_to_micros(*x).cmp(y)),
        (Value::DateTime(x), Value::Date(y)) => Some(x.cmp(&date_to_micros(*y))),
        _ => None,
    }
}
