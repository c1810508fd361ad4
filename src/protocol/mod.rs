//! The `exec` command protocol (SPEC §9): one JSON request per line in, one JSON response per
//! line out. [`Exec::handle`] never panics on any input and always answers with `{"ok": …}`
//! or `{"error": {"kind", "message"}}`.

mod args;
pub(crate) mod event_json;
mod ops;
pub(crate) mod parse_event;
pub(crate) mod parse_line;
pub mod render;

use crate::error::{err, Error, Result};
use crate::store::{Context, Store};
use crate::value::{TOO_DEEP_MARKER, TOO_DEEP_NESTING};
use crate::Ref;
use args::Args;
use ops::Reply;
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

    /// Warnings of the `as_of` views requests made since the last call — a damaged snapshot a
    /// view started without (SPEC §8: skipped with a warning) — for the caller to show.
    pub fn take_warnings(&self) -> Vec<String> {
        self.store.take_view_warnings()
    }

    /// Answers one request line with one response line (without the newline).
    pub fn handle(&self, line: &str) -> String {
        match self.request(line) {
            Ok(Reply::Json(result)) => json!({ "ok": result }).to_string(),
            Ok(Reply::Line(line)) => line,
            Err(e) => error_json(&e).to_string(),
        }
    }

    fn request(&self, line: &str) -> Result<Reply> {
        if line.trim().is_empty() {
            return Err(err!(InvalidInput, "blank line; send one JSON object per line"));
        }
        let parsed: Json = match serde_json::from_str(line) {
            Ok(j) => j,
            // serde_json stops at 128 levels (its recursion limit bounds the stack). Valid JSON
            // that deep holds a value over SPEC §2's depth limit, a ValidationError, not an
            // invalid line: read it again with the deep parts replaced by a marker that
            // `value_from_json` refuses as too deep, so every other check keeps its order.
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                parse_deep(line).ok_or_else(|| err!(InvalidInput, "not valid JSON: {e}"))?
            }
            Err(e) => return Err(err!(InvalidInput, "not valid JSON: {e}")),
        };
        let map =
            parsed.as_object().ok_or_else(|| err!(InvalidInput, "a request must be a JSON object with an \"op\""))?;
        self.dispatch(map)
    }

    /// Runs a parsed request object.
    fn dispatch(&self, map: &Map<String, Json>) -> Result<Reply> {
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
        // Null is absent, as for every optional field (and as `"run": null` always was).
        let named = |k: &str, want: &str| -> Result<Option<Ref>> {
            if a.raw(k).map_or(true, Json::is_null) {
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

/// Reads a request nested deeper than serde_json does: each part that opens
/// `TOO_DEEP_NESTING` levels inside the line (or inside such a part) is checked to be JSON on
/// its own and replaced by `TOO_DEEP_MARKER`. One pass, one buffer per part open (not a
/// recursion: the depth is the input's). `None` if the line is not JSON.
fn parse_deep(line: &str) -> Option<Json> {
    // The line, then the parts open inside it: their text so far and how deep the scan is in them.
    let mut open: Vec<(String, usize)> = vec![(String::with_capacity(line.len()), 0)];
    let (mut in_string, mut escaped) = (false, false);
    for c in line.chars() {
        let parts = open.len();
        let (text, depth) = open.last_mut()?;
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            text.push(c);
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' if *depth == TOO_DEEP_NESTING => {
                open.push((c.to_string(), 1));
                continue;
            }
            '[' | '{' => *depth += 1,
            ']' | '}' if *depth == 1 && parts > 1 => {
                text.push(c);
                let (part, _) = open.pop()?;
                serde_json::from_str::<serde::de::IgnoredAny>(&part).ok()?;
                open.last_mut()?.0.push_str(TOO_DEEP_MARKER);
                continue;
            }
            ']' | '}' => *depth = depth.checked_sub(1)?,
            _ => {}
        }
        text.push(c);
    }
    match open.as_slice() {
        [(text, _)] => serde_json::from_str(text).ok(),
        _ => None, // a part never closed
    }
}
