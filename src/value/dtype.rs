//! Dtypes and strict validation with optional lossless coercion (SPEC §2).

use super::temporal::{parse_date, parse_datetime, DateTimeError};
use super::{norm_float, Value};
use crate::error::{err, Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a feature accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dtype {
    Int,
    Float,
    Num,
    Str,
    Bool,
    Date,
    DateTime,
    Dict,
    ListInt,
    ListFloat,
    ListStr,
    Path,
    Url,
    Object,
}

const ALL: [(Dtype, &str); 14] = [
    (Dtype::Int, "int"),
    (Dtype::Float, "float"),
    (Dtype::Num, "num"),
    (Dtype::Str, "str"),
    (Dtype::Bool, "bool"),
    (Dtype::Date, "date"),
    (Dtype::DateTime, "datetime"),
    (Dtype::Dict, "dict"),
    (Dtype::ListInt, "list[int]"),
    (Dtype::ListFloat, "list[float]"),
    (Dtype::ListStr, "list[str]"),
    (Dtype::Path, "path"),
    (Dtype::Url, "url"),
    (Dtype::Object, "object"),
];

impl Dtype {
    /// Parses a dtype string; an unknown one is a `ValidationError` naming the allowed ones.
    pub fn parse(s: &str) -> Result<Dtype> {
        ALL.iter().find(|(_, name)| *name == s).map(|(d, _)| *d).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|(_, n)| *n).collect();
            err!(ValidationError, "unknown dtype '{s}'; allowed dtypes are: {}", names.join(", "))
        })
    }

    pub fn as_str(self) -> &'static str {
        ALL.iter().find(|(d, _)| *d == self).map(|(_, n)| *n).unwrap_or("object")
    }

    fn element(self) -> Option<Dtype> {
        match self {
            Dtype::ListInt => Some(Dtype::Int),
            Dtype::ListFloat => Some(Dtype::Float),
            Dtype::ListStr => Some(Dtype::Str),
            _ => None,
        }
    }

    /// Validates (and, with `coerce`, converts) `v` for a feature of this dtype. `feature` is
    /// used in messages only. Returns the value to store and hash.
    pub(crate) fn validate(self, feature: &str, coerce: bool, v: Value) -> Result<Value> {
        let refuse = |v: &Value, hint: bool| -> Error {
            let tail = if hint && !coerce { " (set coerce=true to convert)" } else { "" };
            err!(
                ValidationError,
                "feature '{feature}' has dtype {}; {} is {}{tail}",
                self.as_str(),
                v.brief(),
                v.type_phrase()
            )
        };
        if let Some(elem) = self.element() {
            return match v {
                Value::List(items) => Ok(Value::List(
                    items
                        .into_iter()
                        .map(|item| elem.validate(feature, coerce, item))
                        .collect::<Result<_>>()
                        .map_err(|e| err!(ValidationError, "{} (in a {} list)", e.message(), self.as_str()))?,
                )),
                other => Err(refuse(&other, false)),
            };
        }
        match (self, v) {
            (Dtype::Object, v) => Ok(normalise(v)),
            (Dtype::Int, Value::Int(i)) => Ok(Value::Int(i)),
            (Dtype::Int, v @ Value::Str(_)) if coerce => coerce_int(&v).ok_or_else(|| refuse(&v, false)),
            (Dtype::Int, v @ Value::Float(_)) if coerce => coerce_int(&v).ok_or_else(|| refuse(&v, false)),
            (Dtype::Float, Value::Float(f)) => Ok(Value::Float(norm_float(f))),
            (Dtype::Float, Value::Int(i)) if coerce => {
                exact_float(i).map(Value::Float).ok_or_else(|| refuse(&Value::Int(i), false))
            }
            (Dtype::Float, Value::Str(s)) if coerce => match parse_float(&s) {
                Some(f) => Ok(Value::Float(f)),
                None => Err(refuse(&Value::Str(s), false)),
            },
            (Dtype::Num, Value::Int(i)) => Ok(Value::Int(i)),
            (Dtype::Num, Value::Float(f)) => Ok(Value::Float(norm_float(f))),
            (Dtype::Num, Value::Str(s)) if coerce => match s.parse::<i64>() {
                Ok(i) => Ok(Value::Int(i)),
                Err(_) => parse_float(&s).map(Value::Float).ok_or_else(|| refuse(&Value::Str(s), false)),
            },
            (Dtype::Str | Dtype::Path, Value::Str(s)) => Ok(Value::Str(s)),
            (Dtype::Url, Value::Str(s)) => match url::Url::parse(&s) {
                Ok(_) => Ok(Value::Str(s)),
                Err(e) => Err(err!(
                    ValidationError,
                    "feature '{feature}' has dtype url; {} is not an absolute URL ({e})",
                    Value::Str(s).brief()
                )),
            },
            (Dtype::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (Dtype::Bool, Value::Str(s)) if coerce => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(refuse(&Value::Str(s), false)),
            },
            (Dtype::Date, Value::Date(d)) => Ok(Value::Date(d)),
            (Dtype::Date, Value::Str(s)) => parse_date(&s).map(Value::Date).ok_or_else(|| {
                err!(
                    ValidationError,
                    "feature '{feature}' has dtype date; {} is not an ISO date (YYYY-MM-DD) of a real day",
                    Value::Str(s.clone()).brief()
                )
            }),
            (Dtype::DateTime, Value::DateTime(t)) => Ok(Value::DateTime(t)),
            (Dtype::DateTime, Value::Str(s)) => match parse_datetime(&s) {
                Ok(t) => Ok(Value::DateTime(t)),
                Err(DateTimeError::Offset) => Err(err!(
                    ValidationError,
                    "feature '{feature}' has dtype datetime; {} has a UTC offset other than Z or +00:00 (datetimes are naive UTC)",
                    Value::Str(s.clone()).brief()
                )),
                Err(DateTimeError::Shape) => Err(err!(
                    ValidationError,
                    "feature '{feature}' has dtype datetime; {} is not an ISO datetime (YYYY-MM-DDTHH:MM:SS[.ffffff]) of a real instant",
                    Value::Str(s.clone()).brief()
                )),
            },
            (Dtype::Dict, Value::Dict(m)) => Ok(normalise(Value::Dict(m))),
            (_, v) => {
                let hint = coerce_possible(self, &v);
                Err(refuse(&v, hint))
            }
        }
    }
}

/// Whether `coerce=true` would have accepted the value: used only for the message hint.
fn coerce_possible(d: Dtype, v: &Value) -> bool {
    match (d, v) {
        (Dtype::Int, Value::Float(_) | Value::Str(_)) => coerce_int(v).is_some(),
        (Dtype::Float, Value::Int(i)) => exact_float(*i).is_some(),
        (Dtype::Float | Dtype::Num, Value::Str(s)) => parse_float(s).is_some(),
        (Dtype::Bool, Value::Str(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "false"),
        _ => false,
    }
}

/// Normalises floats (`-0.0` → `0.0`) at every level.
fn normalise(v: Value) -> Value {
    match v {
        Value::Float(f) => Value::Float(norm_float(f)),
        Value::List(items) => Value::List(items.into_iter().map(normalise).collect()),
        Value::Dict(m) => Value::Dict(m.into_iter().map(|(k, v)| (k, normalise(v))).collect()),
        other => other,
    }
}

fn coerce_int(v: &Value) -> Option<Value> {
    match v {
        Value::Str(s) => s.parse::<i64>().ok().map(Value::Int),
        Value::Float(f) if f.fract() == 0.0 && *f >= -9.223_372_036_854_776e18 && *f < 9.223_372_036_854_776e18 => {
            // In range and integral, so the cast is exact.
            Some(Value::Int(*f as i64))
        }
        _ => None,
    }
}

/// The float equal to `i`, if there is one.
fn exact_float(i: i64) -> Option<f64> {
    let f = i as f64;
    if f >= 9.223_372_036_854_776e18 {
        return None; // rounds up to 2^63, which is not an i64
    }
    (f as i64 == i).then_some(f)
}

/// The float a numeric string denotes, if the conversion is lossless (SPEC §2): the float must
/// read back as the same number, so `"0.1"` converts but `"9007199254740993"` (no float is
/// 2^53 + 1) and `"1e-400"` (an underflow to 0.0) do not.
fn parse_float(s: &str) -> Option<f64> {
    // Rust accepts "inf" and "nan"; those are not numbers here, nor is anything but the
    // decimal form `decimal` reads.
    let given = decimal(s)?;
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    // `{:e}` prints the shortest digits that read back as `f`.
    (decimal(&format!("{f:e}"))? == given).then_some(norm_float(f))
}

/// A decimal number `[+-]digits[.digits][(e|E)[+-]digits]` as (negative, significant digits
/// without leading or trailing zeros, exponent of the last digit): equal numbers, equal
/// triples. Zero is `(false, "", 0)` whatever its sign.
fn decimal(s: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match (s.strip_prefix('-'), s.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, s),
    };
    let (mantissa, exp) = match rest.split_once(['e', 'E']) {
        Some((mantissa, exp)) => (mantissa, exp.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let kept = digits.trim_start_matches('0');
    let significant = kept.trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let trailing = i64::try_from(kept.len() - significant.len()).ok()?;
    let frac_len = i64::try_from(frac.len()).ok()?;
    let exp = exp.checked_sub(frac_len)?.checked_add(trailing)?;
    Some((negative, significant.to_string(), exp))
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size limits (SPEC §2), configurable at open time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest canonical encoding of a value, in bytes (default 1 MiB).
    pub max_value_bytes: usize,
    /// Deepest nesting of lists and dicts (default 64; a flat list is one level).
    pub max_depth: usize,
    /// Longest name or handle, in characters (default 150).
    pub max_name_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_value_bytes: 1 << 20, max_depth: 64, max_name_chars: 150 }
    }
}

/// Checks a value is legal at all: finite floats, within the depth and size limits.
pub(crate) fn validate_plain(v: &Value, limits: &Limits) -> Result<()> {
    if matches!(v, Value::Null) {
        return Err(err!(ValidationError, "a null value is never stored"));
    }
    check_finite(v)?;
    let depth = v.depth();
    if depth > limits.max_depth {
        return Err(err!(ValidationError, "value is nested {depth} levels deep; the limit is {}", limits.max_depth));
    }
    let size = crate::codec::canonical_len(v);
    if size > limits.max_value_bytes {
        return Err(err!(
            ValidationError,
            "value's canonical encoding is {size} bytes; the limit is {} bytes",
            limits.max_value_bytes
        ));
    }
    Ok(())
}

fn check_finite(v: &Value) -> Result<()> {
    match v {
        Value::Float(f) if !f.is_finite() => {
            Err(err!(ValidationError, "{f} is not a finite number; NaN and infinities are refused"))
        }
        Value::List(items) => items.iter().try_for_each(check_finite),
        Value::Dict(m) => m.values().try_for_each(check_finite),
        _ => Ok(()),
    }
}

/// Names and handles: 1 to `max` characters.
pub(crate) fn check_name(what: &str, name: &str, limits: &Limits) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > limits.max_name_chars {
        return Err(err!(ValidationError, "{what} must be 1 to {} characters long; got {n}", limits.max_name_chars));
    }
    Ok(())
}
