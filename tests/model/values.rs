//! The model's value rules (SPEC §2, §7): strict validation with lossless coercion, the
//! legality limits, ISO dates, and the comparisons queries use. Written from the spec, for a
//! small domain of values; numbers are compared through f64, exact for the small values used.

use fvstore::Value;
use std::cmp::Ordering;

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a real calendar day.
pub fn days(y: i64, m: u32, d: u32) -> Option<i32> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut n: i64 = 0;
    if y >= 1970 {
        for yy in 1970..y {
            n += if is_leap(yy) { 366 } else { 365 };
        }
    } else {
        for yy in y..1970 {
            n -= if is_leap(yy) { 366 } else { 365 };
        }
    }
    for mm in 1..m {
        n += i64::from(days_in_month(y, mm));
    }
    n += i64::from(d) - 1;
    i32::try_from(n).ok()
}

fn num(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD` of a real day.
pub fn parse_date(s: &str) -> Option<i32> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    days(i64::from(num(y, 4)?), num(m, 2)?, num(d, 2)?)
}

/// `YYYY-MM-DDTHH:MM:SS` (the only shape the test's operands use), in microseconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let (d, t) = s.split_once('T')?;
    let day = parse_date(d)?;
    let mut parts = t.split(':');
    let (h, mi, se) = (num(parts.next()?, 2)?, num(parts.next()?, 2)?, num(parts.next()?, 2)?);
    if parts.next().is_some() || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(i64::from(day) * MICROS_PER_DAY + i64::from(h * 3600 + mi * 60 + se) * 1_000_000)
}

fn nz(f: f64) -> f64 {
    if f == 0.0 {
        0.0
    } else {
        f
    }
}

/// `-0.0` becomes `0.0` at every level.
pub fn norm(v: &Value) -> Value {
    match v {
        Value::Float(f) => Value::Float(nz(*f)),
        Value::List(items) => Value::List(items.iter().map(norm).collect()),
        Value::Dict(m) => Value::Dict(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        other => other.clone(),
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    if s.trim() != s || s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite()).map(nz)
}

/// SPEC §2: what a feature of `dtype` stores for `v`, or `None` if it refuses it.
pub fn validate(dtype: &str, coerce: bool, v: &Value) -> Option<Value> {
    match (dtype, v) {
        ("object", v) => Some(norm(v)),
        ("int", Value::Int(i)) => Some(Value::Int(*i)),
        ("int", Value::Str(s)) if coerce => s.parse::<i64>().ok().map(Value::Int),
        ("int", Value::Float(f)) if coerce && f.fract() == 0.0 && f.abs() < 9.0e18 => Some(Value::Int(*f as i64)),
        ("float", Value::Float(f)) => Some(Value::Float(nz(*f))),
        // Only an int that a float represents exactly.
        ("float", Value::Int(i)) if coerce && (*i as f64) < 9.2e18 && (*i as f64) as i64 == *i => {
            Some(Value::Float(*i as f64))
        }
        ("float", Value::Str(s)) if coerce => parse_f64(s).map(Value::Float),
        ("num", Value::Int(i)) => Some(Value::Int(*i)),
        ("num", Value::Float(f)) => Some(Value::Float(nz(*f))),
        ("num", Value::Str(s)) if coerce => match s.parse::<i64>() {
            Ok(i) => Some(Value::Int(i)),
            Err(_) => parse_f64(s).map(Value::Float),
        },
        ("str", Value::Str(s)) => Some(Value::Str(s.clone())),
        ("bool", Value::Bool(b)) => Some(Value::Bool(*b)),
        ("bool", Value::Str(s)) if coerce => match s.to_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        ("date", Value::Date(d)) => Some(Value::Date(*d)),
        ("date", Value::Str(s)) => parse_date(s).map(Value::Date),
        ("dict", Value::Dict(_)) => Some(norm(v)),
        ("list[int]", Value::List(items)) => {
            items.iter().map(|x| validate("int", coerce, x)).collect::<Option<Vec<_>>>().map(Value::List)
        }
        _ => None,
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Dict(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn finite(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_finite(),
        Value::List(items) => items.iter().all(finite),
        Value::Dict(m) => m.values().all(finite),
        _ => true,
    }
}

/// A legal value at all: not null, finite, at most 64 levels deep, a canonical encoding of at
/// most 1 MiB (SPEC §2 limits).
pub fn legal(v: &Value) -> bool {
    let mut bytes = Vec::new();
    super::obs::canonical(v, &mut bytes);
    !matches!(v, Value::Null) && finite(v) && depth(v) <= 64 && bytes.len() <= 1 << 20
}

/// Typed equality as in dedup (`3` is not `3.0`), except that an ISO date (datetime) string
/// operand equals a stored date (datetime) with that value.
pub fn eq_match(stored: &Value, operand: &Value) -> bool {
    match (stored, operand) {
        (Value::Date(d), Value::Str(s)) => parse_date(s) == Some(*d),
        (Value::DateTime(t), Value::Str(s)) => parse_datetime(s) == Some(*t),
        _ => super::obs::vkey(&norm(stored)) == super::obs::vkey(&norm(operand)),
    }
}

/// Exact comparison of numbers, int against float included (no cast of the int to f64).
fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    fn int_float(i: i64, f: f64) -> Option<Ordering> {
        if f.is_nan() {
            return None;
        }
        if f >= 9_223_372_036_854_775_808.0 {
            return Some(Ordering::Less);
        }
        if f < -9_223_372_036_854_775_808.0 {
            return Some(Ordering::Greater);
        }
        let t = f.trunc();
        Some(i128::from(i).cmp(&(t as i128)).then(if f > t {
            Ordering::Less
        } else if f < t {
            Ordering::Greater
        } else {
            Ordering::Equal
        }))
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => int_float(*y, *x).map(Ordering::reverse),
        _ => None,
    }
}

fn as_micros(v: &Value) -> Option<i64> {
    match v {
        Value::Date(d) => Some(i64::from(*d) * MICROS_PER_DAY),
        Value::DateTime(t) => Some(*t),
        _ => None,
    }
}

/// Range comparison (SPEC §7): numbers across int and float, dates chronologically (a date is
/// its midnight; a date or datetime string operand compares as one), strings by bytes.
pub fn range_cmp(stored: &Value, operand: &Value) -> Option<Ordering> {
    if let Some(o) = num_cmp(stored, operand) {
        return Some(o);
    }
    if let Some(a) = as_micros(stored) {
        let b = match operand {
            Value::Str(s) => parse_date(s).map(|d| i64::from(d) * MICROS_PER_DAY).or_else(|| parse_datetime(s)),
            other => as_micros(other),
        }?;
        return Some(a.cmp(&b));
    }
    match (stored, operand) {
        (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

fn type_rank(v: &Value) -> u8 {
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

/// `order_by value` (SPEC §7): types rank bool < numbers < strings < dates and datetimes <
/// lists < dicts, then values (the caller breaks ties by id).
pub fn order(a: &Value, b: &Value) -> Ordering {
    type_rank(a).cmp(&type_rank(b)).then_with(|| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::List(x), Value::List(y)) => {
            x.iter().zip(y).map(|(p, q)| order(p, q)).find(|o| o.is_ne()).unwrap_or_else(|| x.len().cmp(&y.len()))
        }
        (Value::Dict(x), Value::Dict(y)) => x
            .iter()
            .zip(y)
            .map(|((ka, va), (kb, vb))| ka.as_bytes().cmp(kb.as_bytes()).then_with(|| order(va, vb)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => match (num_cmp(a, b), as_micros(a), as_micros(b)) {
            (Some(o), _, _) => o,
            (None, Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    })
}

/// Follows a dict key path.
pub fn at_path<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut cur = v;
    for k in path {
        match cur {
            Value::Dict(m) => cur = m.get(*k)?,
            _ => return None,
        }
    }
    Some(cur)
}
