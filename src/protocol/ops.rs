//! One arm per protocol op. [`prepare`] reads and checks every field of a request, touching
//! no store, and returns the [`Action`] that calls the Rust API in the acting session and
//! renders the result.

use super::args::Args;
use super::event_json::EventJson;
use super::render;
use crate::error::{err, Result};
use crate::event::{Event, Host, RecordRef, RecordType};
use crate::query::{BranchSel, Query};
use crate::value::value_from_json;
use crate::{FeatureSpec, Session, Value};
use serde_json::{json, Map, Value as Json};

/// A checked request, waiting for its acting session. Whatever depends on the store's state
/// (resolving names, permissions, the records themselves) happens here, never field reading:
/// it outlives the borrow of the request's `Args`, so the compiler refuses a late field read
/// (as long as `prepare` takes a short `&Args`, not a `&'a Args<'a>`).
pub(super) type Action<'a> = Box<dyn FnOnce(&Session) -> Result<Reply> + 'a>;

/// What an op answers: its result as JSON, or the whole response line already written (a
/// list of events, each written field by field as it is read: a `Value` per event made a
/// `log` of a million events take 7 GB).
pub(super) enum Reply {
    Json(Json),
    Line(String),
}

fn act<'a>(f: impl FnOnce(&Session) -> Result<Json> + 'a) -> Result<Action<'a>> {
    Ok(Box::new(move |s| f(s).map(Reply::Json)))
}

/// An op that answers events: `feed` hands them to its visitor in blocks.
fn act_events<'a>(
    feed: impl FnOnce(&Session, &mut dyn FnMut(&[Event]) -> Result<()>) -> Result<()> + 'a,
) -> Result<Action<'a>> {
    Ok(Box::new(move |s| {
        let mut out = b"{\"ok\":[".to_vec();
        let mut first = true;
        feed(s, &mut |events| {
            for e in events {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &EventJson(e)).map_err(|e| err!(Io, "cannot render an event: {e}"))?;
            }
            Ok(())
        })?;
        out.extend_from_slice(b"]}");
        String::from_utf8(out).map(Reply::Line).map_err(|e| err!(Io, "cannot render the events: {e}"))
    }))
}

fn array<T>(items: &[T], render: impl Fn(&T) -> Json) -> Json {
    Json::Array(items.iter().map(render).collect())
}

/// Reads and checks every field of a request. It runs before the acting context is resolved,
/// so a malformed request is `InvalidInput` whatever its `as` names (SPEC §9); each arm reads
/// all its fields here, in the order that decides which error a request with several gets.
pub(super) fn prepare<'a>(a: &Args<'a>) -> Result<Action<'a>> {
    match a.op {
        "create_user" => {
            a.allow(&["handle"])?;
            let handle = a.str("handle")?;
            act(move |s| Ok(render::user(&s.create_user(handle)?)))
        }
        "create_space" => {
            a.allow(&["name"])?;
            let name = a.str("name")?;
            act(move |s| Ok(render::space(&s.create_space(name)?)))
        }
        "grant" => {
            a.allow(&["space", "user", "role"])?;
            // Every field is read before the role's value is judged: a grant missing its
            // space or user is InvalidInput (SPEC §9) whatever its role says.
            let (space, user, role_name) = (a.reference("space")?, a.reference("user")?, a.str("role")?);
            let role = super::parse_event::role(role_name).ok_or_else(|| {
                err!(ValidationError, "unknown role '{role_name}'; roles are admin, write, read and none")
            })?;
            act(move |s| {
                let g = s.grant(space, user, role)?;
                Ok(json!({"space": g.space_id, "user_id": g.user_id, "role": role_name}))
            })
        }
        "create_branch" => {
            a.allow(&["name"])?;
            let name = a.str("name")?;
            act(move |s| Ok(render::branch(&s.create_branch(name)?)))
        }
        "merge_branch" => {
            a.allow(&["branch"])?;
            let branch = a.reference("branch")?;
            act(move |s| Ok(json!({"moved": s.merge_branch(branch)?})))
        }
        "start_run" => {
            a.allow(&["name"])?;
            let name = a.str("name")?;
            act(move |s| Ok(render::run(&s.start_run(name)?)))
        }
        "finish_run" => {
            a.allow(&["run"])?;
            let run = a.u64("run")?;
            act(move |s| Ok(render::run(&s.finish_run(run)?)))
        }
        "create_feature" => {
            a.allow(&["name", "dtype", "nullable", "coerce"])?;
            let spec = FeatureSpec::new(a.str("name")?, a.str("dtype")?)
                .nullable(a.bool_or("nullable", true)?)
                .coerce(a.bool_or("coerce", false)?);
            act(move |s| Ok(render::feature(&s.create_feature(&spec)?)))
        }
        "create_artifact" => {
            a.allow(&["key"])?;
            let key = a.str("key")?;
            act(move |s| Ok(render::artifact(&s.create_artifact(key)?)))
        }
        "list" => list(a),
        "get_or_create" => {
            a.allow(&["feature", "value"])?;
            let feature = match a.raw("feature")? {
                Json::Null => None,
                j => Some(
                    super::args::to_ref(j)
                        .ok_or_else(|| err!(InvalidInput, "field 'feature' must be a name, an id or null"))?,
                ),
            };
            // A number no value can hold (not finite, outside i64) is a ValidationError, but
            // SPEC §3 checks that the feature exists first: it waits for the session.
            let value = value_from_json(a.raw("value")?);
            act(move |s| {
                let value = match value {
                    Ok(v) => v,
                    Err(e) => return Err(s.check_feature(feature.as_ref()).err().unwrap_or(e)),
                };
                let (rec, existed) = s.get_or_create(feature, value)?;
                Ok(json!({"record": render::value(&rec), "existed": existed}))
            })
        }
        "get" => {
            a.allow(&["id", "where"])?;
            match (a.has("id"), a.has("where")) {
                (true, false) => {
                    let id = a.u64("id")?;
                    act(move |s| Ok(render::value(&s.get(id)?)))
                }
                (false, true) => {
                    let q = query(a)?;
                    act(move |s| Ok(render::value(&s.get_where(&q)?)))
                }
                (true, true) => Err(err!(InvalidInput, "op 'get' takes either 'id' or 'where', not both")),
                (false, false) => Err(err!(InvalidInput, "op 'get' needs the field 'id' or the field 'where'")),
            }
        }
        "filter" => {
            a.allow(&["where", "order_by", "limit"])?;
            let mut q = query(a)?;
            if let Some(o) = a.opt_str("order_by")? {
                q = q.order_by(o);
            }
            if let Some(n) = a.opt_u64("limit")? {
                q = q.limit(usize::try_from(n).unwrap_or(usize::MAX));
            }
            act(move |s| Ok(array(&s.filter(&q)?, render::value)))
        }
        "count" => {
            a.allow(&["where"])?;
            let q = query(a)?;
            act(move |s| Ok(json!(s.count(&q)?)))
        }
        "delete" => {
            a.allow(&["id", "permanent", "type"])?;
            let (r, permanent) = (target(a)?, a.bool_or("permanent", false)?);
            act(move |s| Ok(json!({"id": r.id, "outcome": s.delete(r, permanent)?.as_str()})))
        }
        "restore" => {
            a.allow(&["id", "type"])?;
            let r = target(a)?;
            act(move |s| Ok(render::record(&s.restore(r)?)))
        }
        "set_branch" => {
            a.allow(&["id", "branch", "type"])?;
            let (r, branch) = (target(a)?, a.reference("branch")?);
            act(move |s| Ok(render::record(&s.set_branch(r, branch)?)))
        }
        "move_space" => {
            a.allow(&["id", "space", "type"])?;
            let (r, space) = (target(a)?, a.reference("space")?);
            act(move |s| Ok(render::record(&s.move_space(r, space)?)))
        }
        "link" | "unlink" => {
            a.allow(&["id", "artifact", "run"])?;
            let (id, h, link) = (a.u64("id")?, host(a)?, a.op == "link");
            act(move |s| Ok(render::value(&if link { s.link(id, h)? } else { s.unlink(id, h)? })))
        }
        "add_values" | "set_values" => {
            a.allow(&["artifact", "run", "values"])?;
            let h = host(a)?;
            let values = a.object("values")?;
            // A number no value can hold is a ValidationError, but SPEC §5's checks of the
            // host and the feature names come first: it waits for the session.
            let converted = values
                .iter()
                .map(|(k, v)| Ok((k.clone(), value_from_json(v)?)))
                .collect::<Result<Vec<(String, Value)>>>();
            let add = a.op == "add_values";
            act(move |s| {
                let values = match converted {
                    Ok(values) => values,
                    Err(e) => {
                        return Err(s.check_values_target(h, values.keys().map(String::as_str)).err().unwrap_or(e))
                    }
                };
                let recs = if add { s.add_values(h, &values)? } else { s.set_values(h, &values)? };
                Ok(array(&recs, render::value))
            })
        }
        "remove_values" => {
            a.allow(&["artifact", "run", "feature"])?;
            let (h, feature) = (host(a)?, a.reference("feature")?);
            act(move |s| Ok(json!({"removed": s.remove_values(h, feature)?})))
        }
        "get_values" => {
            a.allow(&["artifact", "run"])?;
            let h = host(a)?;
            act(move |s| {
                let m = s.get_values(h)?;
                Ok(Json::Object(m.iter().map(|(k, vs)| (k.clone(), array(vs, render::plain))).collect()))
            })
        }
        "filter_artifacts" | "filter_runs" => {
            a.allow(&["where"])?;
            // SPEC §9's table marks `where` optional for `filter` and `count`, not here: a
            // request without it is malformed; `{}` selects every visible host.
            let filters = a
                .object("where")?
                .iter()
                .map(|(k, v)| Ok((k.clone(), value_from_json(v)?)))
                .collect::<Result<Vec<_>>>()?;
            if a.op == "filter_artifacts" {
                act(move |s| Ok(array(&s.filter_artifacts(&filters)?, render::artifact)))
            } else {
                act(move |s| Ok(array(&s.filter_runs(&filters)?, render::run)))
            }
        }
        "delete_feature" => {
            a.allow(&["feature", "permanent"])?;
            let (feature, permanent) = (a.reference("feature")?, a.bool_or("permanent", false)?);
            act(move |s| {
                let (id, o) = s.delete_feature(feature, permanent)?;
                Ok(json!({"id": id, "outcome": o.as_str()}))
            })
        }
        "delete_artifact" => {
            a.allow(&["artifact", "permanent"])?;
            let (id, permanent) = (a.u64("artifact")?, a.bool_or("permanent", false)?);
            act(move |s| Ok(json!({"id": id, "outcome": s.delete_artifact(id, permanent)?.as_str()})))
        }
        "delete_run" => {
            a.allow(&["run", "permanent"])?;
            let (id, permanent) = (a.u64("run")?, a.bool_or("permanent", false)?);
            act(move |s| Ok(json!({"id": id, "outcome": s.delete_run(id, permanent)?.as_str()})))
        }
        "history" => {
            a.allow(&["id", "record"])?;
            if a.has("id") && a.has("record") {
                return Err(err!(InvalidInput, "op 'history' takes either 'id' or 'record', not both"));
            }
            let r = if a.has("record") {
                let m = a.object("record")?;
                let ra = Args::new("history.record", m);
                ra.allow(&["type", "id"])?;
                let kind = RecordType::parse(ra.str("type")?).ok_or_else(|| {
                    err!(InvalidInput, "record type must be one of user, space, branch, run, feature, artifact, value")
                })?;
                // Branch ids are signed (−1 is the trash).
                match kind {
                    RecordType::Branch => RecordRef::branch(ra.i64("id")?),
                    _ => RecordRef { kind, id: ra.u64("id")? },
                }
            } else {
                RecordRef { kind: RecordType::Value, id: a.u64("id")? }
            };
            act_events(move |s, visit| visit(&s.history(r)?))
        }
        "log" => {
            a.allow(&["from", "to"])?;
            let (from, to) = (a.opt_u64("from")?.unwrap_or(1), a.opt_u64("to")?.unwrap_or(u64::MAX));
            act_events(move |s, visit| s.log_visit(from, to, visit))
        }
        "head" => {
            a.allow(&[])?;
            act(|s| {
                // A read like any other: the acting context is checked (a merged or built-in
                // current branch, a space that does not exist in an `as_of` view).
                let ctx = s.context();
                s.store().read(|st| crate::command::check_context(st, &ctx))?;
                let (seq, hash) = s.store().head();
                Ok(json!({"seq": seq, "hash": crate::codec::hex(&hash)}))
            })
        }
        "snapshot" => {
            a.allow(&[])?;
            act(|s| {
                if s.context().user != 1 {
                    return Err(err!(PermissionDenied, "snapshots are the instance owner's: only user 1 may take one"));
                }
                Ok(json!({"seq": s.store().snapshot()?}))
            })
        }
        "verify" => {
            a.allow(&[])?;
            act(|s| {
                let v = s.store().verify()?;
                Ok(json!({"ok": true, "events": v.events,
                          "head": {"seq": v.head.0, "hash": crate::codec::hex(&v.head.1)},
                          "state_hash": crate::codec::hex(&v.state_hash)}))
            })
        }
        "as_of" => as_of(a),
        other => Err(err!(InvalidInput, "unknown op '{other}'")),
    }
}

/// Read-only requests an `as_of` may wrap.
const READ_ONLY: [&str; 9] =
    ["get", "filter", "count", "list", "get_values", "filter_artifacts", "filter_runs", "history", "head"];

/// Where an `as_of` looks: after an event, or after the last event at or before a time (in
/// microseconds), which only the log can tell.
enum When {
    Seq(u64),
    At(i64),
}

fn as_of<'a>(a: &Args<'a>) -> Result<Action<'a>> {
    a.allow(&["seq", "at", "request"])?;
    let when = match (a.has("seq"), a.has("at")) {
        (true, false) => When::Seq(a.u64("seq")?),
        (false, true) => {
            let at = a.str("at")?;
            When::At(
                crate::value::parse_timestamp(at)
                    .ok_or_else(|| err!(InvalidInput, "field 'at' must be an RFC 3339 time, not '{at}'"))?,
            )
        }
        _ => return Err(err!(InvalidInput, "op 'as_of' takes either 'seq' or 'at'")),
    };
    let inner = a.object("request")?;
    let op = inner.get("op").and_then(Json::as_str).unwrap_or("");
    if !READ_ONLY.contains(&op) {
        return Err(err!(InvalidInput, "as_of wraps a read-only request ({}), not '{op}'", READ_ONLY.join(", ")));
    }
    if inner.contains_key("as") {
        return Err(err!(InvalidInput, "the request inside as_of acts in the outer request's context; drop its 'as'"));
    }
    // The wrapped request is a field too: checked now, before the outer context resolves.
    let request = prepare(&Args::new(op, inner))?;
    Ok(Box::new(move |s| {
        let seq = match when {
            When::Seq(seq) => seq,
            When::At(micros) => s.store().seq_at_time(micros)?,
        };
        let view = s.store().as_of_kept(seq)?;
        request(&view.with_context(s.context()))
    }))
}

fn list<'a>(a: &Args<'a>) -> Result<Action<'a>> {
    a.allow(&["type", "branch"])?;
    let ty = a.str("type")?;
    // `branch` is a field of the request: a mistyped one is InvalidInput (SPEC §9), and a null
    // one is absent, as for the other optional fields. Names are resolved in the session.
    let branches = match a.raw("branch") {
        Ok(Json::Null) | Err(_) => BranchSel::Default,
        Ok(j) => value_from_json(j).and_then(BranchSel::from_value).map_err(|e| {
            err!(
                InvalidInput,
                "field 'branch' of op 'list' must be a branch id or name, a list of them, or \"all\" ({})",
                e.message()
            )
        })?,
    };
    if !matches!(branches, BranchSel::Default) && !matches!(ty, "features" | "artifacts") {
        return Err(err!(InvalidInput, "'branch' applies only to features and artifacts"));
    }
    match ty {
        "users" => act(|s| Ok(array(&s.users()?, render::user))),
        "spaces" => act(|s| Ok(array(&s.spaces()?, render::space))),
        "branches" => act(|s| Ok(array(&s.branches()?, render::branch))),
        "runs" => act(|s| Ok(array(&s.runs()?, render::run))),
        "features" => act(move |s| Ok(array(&s.features(&branches)?, render::feature))),
        "artifacts" => act(move |s| Ok(array(&s.artifacts(&branches)?, render::artifact))),
        other => Err(err!(
            InvalidInput,
            "cannot list '{other}'; choose users, spaces, branches, runs, features or artifacts"
        )),
    }
}

fn query(a: &Args<'_>) -> Result<Query> {
    let mut q = Query::new();
    if let Some(m) = a.opt_object("where")? {
        q = where_into(q, m)?;
    }
    Ok(q)
}

fn where_into(mut q: Query, m: &Map<String, Json>) -> Result<Query> {
    for (k, v) in m {
        q = q.filter(k, value_from_json(v)?);
    }
    Ok(q)
}

fn target(a: &Args<'_>) -> Result<RecordRef> {
    let kind = match a.opt_str("type")? {
        None | Some("value") => RecordType::Value,
        Some("feature") => RecordType::Feature,
        Some("artifact") => RecordType::Artifact,
        Some(other) => {
            return Err(err!(InvalidInput, "field 'type' must be value, feature or artifact, not '{other}'"))
        }
    };
    Ok(RecordRef { kind, id: a.u64("id")? })
}

fn host(a: &Args<'_>) -> Result<Host> {
    match (a.has("artifact"), a.has("run")) {
        (true, false) => Ok(Host::Artifact(a.u64("artifact")?)),
        (false, true) => Ok(Host::Run(a.u64("run")?)),
        (true, true) => Err(err!(InvalidInput, "op '{}' takes either 'artifact' or 'run', not both", a.op)),
        (false, false) => Err(err!(InvalidInput, "op '{}' needs an 'artifact' or a 'run'", a.op)),
    }
}
