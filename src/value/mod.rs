//! Typed feature values (SPEC §2). A [`Value`] is what a user stores; its [`Dtype`] says what a
//! feature accepts. Validation and coercion live in `dtype`, ISO dates in `temporal`, the
//! query ordering in `order`, JSON conversion in `json`. The canonical byte encoding that the
//! content hash is computed from belongs to the codec module, which alone knows byte layouts.

mod dtype;
mod hash;
mod json;
mod order;
mod temporal;

pub(crate) use dtype::{check_name, validate_plain};
pub use dtype::{Dtype, Limits};
pub use hash::{ParseHashError, ValueHash};
pub use json::{value_from_json, value_to_json};
pub(crate) use json::{PlainJson, TOO_DEEP_MARKER, TOO_DEEP_NESTING};
pub(crate) use order::{cmp_loose, cmp_order, range_cmp};
pub(crate) use temporal::{date_to_micros, format_timestamp, parse_date, parse_datetime, parse_timestamp};

use std::collections::BTreeMap;

/// A typed value. Dates are days since 1970-01-01; datetimes are naive UTC microseconds since
/// 1970-01-01T00:00:00. Dict keys are kept sorted by their UTF-8 bytes, so two dicts with the
/// same entries are equal whatever order they were written in.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Always finite; `-0.0` is normalised to `0.0` on validation.
    Float(f64),
    Str(String),
    Date(i32),
    DateTime(i64),
    List(Vec<Value>),
    Dict(BTreeMap<String, Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            // Bitwise after -0.0 normalisation, so equality agrees with the content hash.
            (Float(a), Float(b)) => norm_float(*a).to_bits() == norm_float(*b).to_bits(),
            (Str(a), Str(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (DateTime(a), DateTime(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

pub(crate) fn norm_float(f: f64) -> f64 {
    if f == 0.0 {
        0.0
    } else {
        f
    }
}

impl Value {
    /// "an int", "a string", … for error messages.
    pub fn type_phrase(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Date(_) => "a date",
            Value::DateTime(_) => "a datetime",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
        }
    }

    /// Nesting depth: scalars 0, a flat list or dict 1.
    pub fn depth(&self) -> usize {
        match self {
            Value::List(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Dict(map) => 1 + map.values().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// A date from a calendar day; `None` if the day does not exist.
    pub fn date(year: i32, month: u32, day: u32) -> Option<Value> {
        temporal::days_from_ymd(year, month, day).map(Value::Date)
    }

    /// Follows a dict key path; `None` when a segment is missing or not a dict. (Records follow
    /// paths in their canonical bytes, `codec::at_path`; this is what that must agree with.)
    #[cfg(test)]
    pub(crate) fn at_path(&self, path: &[String]) -> Option<&Value> {
        let mut cur = self;
        for key in path {
            match cur {
                Value::Dict(map) => cur = map.get(key)?,
                _ => return None,
            }
        }
        Some(cur)
    }

    /// A short rendering for messages, cut at 80 characters.
    pub(crate) fn brief(&self) -> String {
        let s = value_to_json(self).to_string();
        if s.chars().count() > 80 {
            let cut: String = s.chars().take(77).collect();
            format!("{cut}...")
        } else {
            s
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
