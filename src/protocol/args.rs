//! Reading request fields: every missing, mistyped or unknown field is an `InvalidInput` that
//! names it.

use crate::error::{err, Result};
use crate::Ref;
use serde_json::{Map, Value as Json};

pub struct Args<'a> {
    pub op: &'a str,
    map: &'a Map<String, Json>,
}

impl<'a> Args<'a> {
    pub fn new(op: &'a str, map: &'a Map<String, Json>) -> Args<'a> {
        Args { op, map }
    }

    /// Refuses fields the op does not take, so a typo (`permanant`) never passes silently.
    pub fn allow(&self, fields: &[&str]) -> Result<()> {
        for k in self.map.keys() {
            if k != "op" && k != "as" && !fields.contains(&k.as_str()) {
                let known = if fields.is_empty() { "none".to_string() } else { fields.join(", ") };
                return Err(err!(InvalidInput, "op '{}' has no field '{k}'; its fields are: {known}", self.op));
            }
        }
        Ok(())
    }

    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    pub fn raw(&self, k: &str) -> Result<&'a Json> {
        self.map.get(k).ok_or_else(|| err!(InvalidInput, "op '{}' needs the field '{k}'", self.op))
    }

    fn mistyped(&self, k: &str, want: &str) -> crate::Error {
        err!(InvalidInput, "field '{k}' of op '{}' must be {want}", self.op)
    }

    pub fn str(&self, k: &str) -> Result<&'a str> {
        self.raw(k)?.as_str().ok_or_else(|| self.mistyped(k, "a string"))
    }

    pub fn opt_str(&self, k: &str) -> Result<Option<&'a str>> {
        match self.map.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.mistyped(k, "a string")),
        }
    }

    pub fn u64(&self, k: &str) -> Result<u64> {
        self.raw(k)?.as_u64().ok_or_else(|| self.mistyped(k, "a non-negative integer id"))
    }

    pub fn i64(&self, k: &str) -> Result<i64> {
        self.raw(k)?.as_i64().ok_or_else(|| self.mistyped(k, "an integer id"))
    }

    pub fn opt_u64(&self, k: &str) -> Result<Option<u64>> {
        match self.map.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.mistyped(k, "a non-negative integer")),
        }
    }

    pub fn bool_or(&self, k: &str, default: bool) -> Result<bool> {
        match self.map.get(k) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.mistyped(k, "true or false")),
        }
    }

    /// A record named by id or by name.
    pub fn reference(&self, k: &str) -> Result<Ref> {
        to_ref(self.raw(k)?).ok_or_else(|| self.mistyped(k, "an id or a name"))
    }

    pub fn object(&self, k: &str) -> Result<&'a Map<String, Json>> {
        self.raw(k)?.as_object().ok_or_else(|| self.mistyped(k, "an object"))
    }

    pub fn opt_object(&self, k: &str) -> Result<Option<&'a Map<String, Json>>> {
        match self.map.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_object().map(Some).ok_or_else(|| self.mistyped(k, "an object")),
        }
    }
}

pub fn to_ref(j: &Json) -> Option<Ref> {
    match j {
        Json::String(s) => Some(Ref::Name(s.clone())),
        Json::Number(n) => n.as_i64().map(Ref::Id),
        _ => None,
    }
}
