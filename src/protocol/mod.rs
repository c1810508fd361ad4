//! The `exec` command protocol (SPEC §9): one JSON request per line in, one JSON response per
//! line out. [`Exec::handle`] never panics on any input and always answers with `{"ok": …}`
//! or `{"error": {"kind", "message"}}`.

mod args;
mod ops;
pub(crate) mod parse_event;
pub mod render;

use crate::error::{err, Error, Result};
use crate::store::{Context, Store};
use crate::Ref;
use args::Args;
use serde_json::{json, Map, Value as Json};

/// Serves protocol requests against one store.
#[derive(Clone)]
pub struct Exec {
    store: Store,
}

impl Exec {
    pub fn new(store: Store) -> Exec {
        Exec { store }
    }

    /// The store requests act on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Answers one request line with one response line (without the newline).
    pub fn handle(&self, line: &str) -> String {
        let response = match self.request(line) {
            Ok(result) => json!({ "ok": result }),
            Err(e) => error_json(&e),
        };
        response.to_string()
    }

    fn request(&self, line: &str) -> Result<Json> {
        if line.trim().is_empty() {
            return Err(err!(InvalidInput, "blank line; send one JSON object per line"));
        }
        let parsed: Json = serde_json::from_str(line).map_err(|e| err!(InvalidInput, "not valid JSON: {e}"))?;
        let map =
            parsed.as_object().ok_or_else(|| err!(InvalidInput, "a request must be a JSON object with an \"op\""))?;
        self.dispatch(map)
    }

    /// Runs a parsed request object.
    pub(crate) fn dispatch(&self, map: &Map<String, Json>) -> Result<Json> {
        let op = match map.get("op") {
            Some(Json::String(op)) => op.as_str(),
            Some(_) => return Err(err!(InvalidInput, "field 'op' must be a string")),
            None => return Err(err!(InvalidInput, "a request needs an \"op\" field")),
        };
        // Fields first (an unknown op among them), then the context: a malformed request is
        // InvalidInput (SPEC §9) even when its `as` names a user or branch that does not exist.
        let action = ops::prepare(&Args::new(op, map))?;
        let ctx = self.context(map.get("as"))?;
        action(&self.store.with_context(ctx))
    }

    /// Reads `"as": {"user", "run", "branch", "space"}`: every field before any is resolved,
    /// so a mistyped one is InvalidInput even beside an unknown user or branch.
    fn context(&self, as_: Option<&Json>) -> Result<Context> {
        let mut ctx = Context::default();
        let Some(as_) = as_ else { return Ok(ctx) };
        if as_.is_null() {
            return Ok(ctx);
        }
        let m = as_.as_object().ok_or_else(|| err!(InvalidInput, "field 'as' must be an object"))?;
        let a = Args::new("as", m);
        a.allow(&["user", "run", "branch", "space"])?;
        let named = |k: &str, want: &str| -> Result<Option<Ref>> {
            if !a.has(k) {
                return Ok(None);
            }
            args::to_ref(a.raw(k)?).map(Some).ok_or_else(|| err!(InvalidInput, "'as.{k}' must be {want}"))
        };
        let user = named("user", "a handle")?;
        ctx.run = a.opt_u64("run")?;
        let branch = named("branch", "an id")?;
        let space = named("space", "an id")?;
        if let Some(r) = user {
            ctx.user = self.store.read(|s| crate::command::resolve_user(s, &r))?;
        }
        if let Some(r) = branch {
            ctx.branch = self.store.read(|s| crate::command::resolve_branch(s, &r))?;
        }
        if let Some(r) = space {
            ctx.space = self.store.read(|s| crate::command::resolve_space(s, &r))?;
        }
        Ok(ctx)
    }
}

/// `{"error": {"kind", "message"}}`.
pub fn error_json(e: &Error) -> Json {
    json!({"error": {"kind": e.kind(), "message": e.message()}})
}
