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

/// Converts a value into plain JSON (dates as `YYYY-MM-DD`, datetimes as ISO strings), as
/// [`PlainJson`] writes it.
pub fn value_to_json(v: &Value) -> Json {
    // Serializing into a `Value` fails only where a map key is not a string; a dict's are.
    serde_json::to_value(PlainJson(v)).unwrap_or(Json::Null)
}

/// A value as plain JSON, written field by field (an export writes one per created value):
/// dates and datetimes as ISO strings, a float JSON cannot hold (never stored: values are
/// finite) as null.
pub(crate) struct PlainJson<'a>(pub &'a Value);

impl serde::Serialize for PlainJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(text) => s.serialize_str(text),
            Value::Date(d) => s.serialize_str(&format_date(*d)),
            Value::DateTime(t) => s.serialize_str(&format_datetime(*t)),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&PlainJson(item))?;
                }
                seq.end()
            }
            Value::Dict(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, &PlainJson(v))?;
                }
                m.end()
            }
        }
    }
}
