//! Plain JSON in and out. JSON has no date type: dates and datetimes leave as ISO strings and
//! arrive as strings, which a `date`/`datetime` feature (or a query on one) reads back.

use super::temporal::{format_date, format_datetime};
use super::Value;
use crate::error::{err, Result};
use serde_json::Value as Json;

/// JSON nesting past which the exec protocol clips a request line (serde_json reads at most
/// 128 levels): more than a request's own structure and SPEC §2's default value limit (64).
pub(crate) const TOO_DEEP_NESTING: usize = 100;

/// What the protocol puts in place of JSON nested deeper than [`TOO_DEEP_NESTING`]: a number
/// that is refused anyway (it is not finite), so no value changes meaning by it.
pub(crate) const TOO_DEEP_MARKER: &str = "1e+999999999999999999";

/// Converts JSON into a value. Integers outside i64 and non-finite numbers are refused.
pub fn value_from_json(j: &Json) -> Result<Value> {
    Ok(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            let text = n.to_string();
            if text == TOO_DEEP_MARKER {
                return Err(err!(
                    ValidationError,
                    "value is nested too deep: its request nests JSON more than {TOO_DEEP_NESTING} levels deep"
                ));
            }
            let integral = !text.contains(['.', 'e', 'E']);
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if integral {
                return Err(err!(ValidationError, "integer {n} is outside the 64-bit signed range"));
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Value::Float(f),
                    _ => return Err(err!(ValidationError, "number {n} is not finite")),
                }
            }
        }
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(value_from_json).collect::<Result<_>>()?),
        Json::Object(map) => {
            Value::Dict(map.iter().map(|(k, v)| Ok((k.clone(), value_from_json(v)?))).collect::<Result<_>>()?)
        }
    })
}

/// Converts a value into plain JSON (dates as `YYYY-MM-DD`, datetimes as ISO strings).
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::Str(s) => Json::String(s.clone()),
        Value::Date(d) => Json::String(format_date(*d)),
        Value::DateTime(t) => Json::String(format_datetime(*t)),
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Dict(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()),
    }
}
