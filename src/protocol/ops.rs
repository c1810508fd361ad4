//! One function per protocol op: read the fields, call the Rust API, render the result.

use super::args::Args;
use super::render;
use super::Exec;
use crate::error::{err, Result};
use crate::event::{Host, RecordRef, RecordType, Role};
use crate::query::{BranchSel, Query};
use crate::value::value_from_json;
use crate::{FeatureSpec, Session, Value};
use serde_json::{json, Map, Value as Json};

/// Every op of SPEC §9. A request whose op is not here is `InvalidInput` before anything else,
/// its acting context included: an unknown op is not a valid request, whatever its `as` says.
const OPS: [&str; 35] = [
    "create_user",
    "list",
    "create_space",
    "grant",
    "create_branch",
    "merge_branch",
    "start_run",
    "finish_run",
    "create_feature",
    "create_artifact",
    "get_or_create",
    "get",
    "filter",
    "count",
    "delete",
    "restore",
    "set_branch",
    "move_space",
    "link",
    "unlink",
    "add_values",
    "set_values",
    "remove_values",
    "get_values",
    "filter_artifacts",
    "filter_runs",
    "delete_feature",
    "delete_artifact",
    "delete_run",
    "history",
    "log",
    "head",
    "as_of",
    "snapshot",
    "verify",
];

/// Refuses an op that is not in SPEC §9.
pub(super) fn check_op(op: &str) -> Result<()> {
    if OPS.contains(&op) {
        Ok(())
    } else {
        Err(err!(InvalidInput, "unknown op '{op}'"))
    }
}

pub(super) fn run(exec: &Exec, s: &Session, a: &Args<'_>) -> Result<Json> {
    match a.op {
        "create_user" => {
            a.allow(&["handle"])?;
            Ok(render::user(&s.create_user(a.str("handle")?)?))
        }
        "create_space" => {
            a.allow(&["name"])?;
            Ok(render::space(&s.create_space(a.str("name")?)?))
        }
        "grant" => {
            a.allow(&["space", "user", "role"])?;
            let role_name = a.str("role")?;
            let role = match role_name {
                "admin" => Some(Role::Admin),
                "write" => Some(Role::Write),
                "read" => Some(Role::Read),
                "none" => None,
                other => {
                    return Err(err!(ValidationError, "unknown role '{other}'; roles are admin, write, read and none"))
                }
            };
            let g = s.grant(a.reference("space")?, a.reference("user")?, role)?;
            Ok(json!({"space": g.space_id, "user_id": g.user_id, "role": role_name}))
        }
        "create_branch" => {
            a.allow(&["name"])?;
            Ok(render::branch(&s.create_branch(a.str("name")?)?))
        }
        "merge_branch" => {
            a.allow(&["branch"])?;
            Ok(json!({"moved": s.merge_branch(a.reference("branch")?)?}))
        }
        "start_run" => {
            a.allow(&["name"])?;
            Ok(render::run(&s.start_run(a.str("name")?)?))
        }
        "finish_run" => {
            a.allow(&["run"])?;
            Ok(render::run(&s.finish_run(a.u64("run")?)?))
        }
        "create_feature" => {
            a.allow(&["name", "dtype", "nullable", "coerce"])?;
            let spec = FeatureSpec::new(a.str("name")?, a.str("dtype")?)
                .nullable(a.bool_or("nullable", true)?)
                .coerce(a.bool_or("coerce", false)?);
            Ok(render::feature(&s.create_feature(&spec)?))
        }
        "create_artifact" => {
            a.allow(&["key"])?;
            Ok(render::artifact(&s.create_artifact(a.str("key")?)?))
        }
        "list" => list(s, a),
        "get_or_create" => {
            a.allow(&["feature", "value"])?;
            let feature = match a.raw("feature")? {
                Json::Null => None,
                j => Some(
                    super::args::to_ref(j)
                        .ok_or_else(|| err!(InvalidInput, "field 'feature' must be a name, an id or null"))?,
                ),
            };
            let value = a.value("value")?;
            let (rec, existed) = s.get_or_create(feature, value)?;
            Ok(json!({"record": render::value(&rec), "existed": existed}))
        }
        "get" => {
            a.allow(&["id", "where"])?;
            match (a.has("id"), a.has("where")) {
                (true, false) => Ok(render::value(&s.get(a.u64("id")?)?)),
                (false, true) => Ok(render::value(&s.get_where(&query(a)?)?)),
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
            Ok(Json::Array(s.filter(&q)?.iter().map(render::value).collect()))
        }
        "count" => {
            a.allow(&["where"])?;
            Ok(json!(s.count(&query(a)?)?))
        }
        "delete" => {
            a.allow(&["id", "permanent", "type"])?;
            let r = target(a)?;
            let outcome = s.delete(r, a.bool_or("permanent", false)?)?;
            Ok(json!({"id": r.id, "outcome": outcome.as_str()}))
        }
        "restore" => {
            a.allow(&["id", "type"])?;
            Ok(render::record(&s.restore(target(a)?)?))
        }
        "set_branch" => {
            a.allow(&["id", "branch", "type"])?;
            Ok(render::record(&s.set_branch(target(a)?, a.reference("branch")?)?))
        }
        "move_space" => {
            a.allow(&["id", "space", "type"])?;
            Ok(render::record(&s.move_space(target(a)?, a.reference("space")?)?))
        }
        "link" | "unlink" => {
            a.allow(&["id", "artifact", "run"])?;
            let (id, h) = (a.u64("id")?, host(a)?);
            let rec = if a.op == "link" { s.link(id, h)? } else { s.unlink(id, h)? };
            Ok(render::value(&rec))
        }
        "add_values" | "set_values" => {
            a.allow(&["artifact", "run", "values"])?;
            let h = host(a)?;
            let values = a
                .object("values")?
                .iter()
                .map(|(k, v)| Ok((k.clone(), value_from_json(v)?)))
                .collect::<Result<Vec<(String, Value)>>>()?;
            let recs = if a.op == "add_values" { s.add_values(h, &values)? } else { s.set_values(h, &values)? };
            Ok(Json::Array(recs.iter().map(render::value).collect()))
        }
        "remove_values" => {
            a.allow(&["artifact", "run", "feature"])?;
            Ok(json!({"removed": s.remove_values(host(a)?, a.reference("feature")?)?}))
        }
        "get_values" => {
            a.allow(&["artifact", "run"])?;
            let m = s.get_values(host(a)?)?;
            Ok(Json::Object(
                m.iter().map(|(k, vs)| (k.clone(), Json::Array(vs.iter().map(render::plain).collect()))).collect(),
            ))
        }
        "filter_artifacts" | "filter_runs" => {
            a.allow(&["where"])?;
            let filters = match a.opt_object("where")? {
                None => Vec::new(),
                Some(m) => m.iter().map(|(k, v)| Ok((k.clone(), value_from_json(v)?))).collect::<Result<Vec<_>>>()?,
            };
            if a.op == "filter_artifacts" {
                Ok(Json::Array(s.filter_artifacts(&filters)?.iter().map(render::artifact).collect()))
            } else {
                Ok(Json::Array(s.filter_runs(&filters)?.iter().map(render::run).collect()))
            }
        }
        "delete_feature" => {
            a.allow(&["feature", "permanent"])?;
            let (id, o) = s.delete_feature(a.reference("feature")?, a.bool_or("permanent", false)?)?;
            Ok(json!({"id": id, "outcome": o.as_str()}))
        }
        "delete_artifact" => {
            a.allow(&["artifact", "permanent"])?;
            let id = a.u64("artifact")?;
            let o = s.delete_artifact(id, a.bool_or("permanent", false)?)?;
            Ok(json!({"id": id, "outcome": o.as_str()}))
        }
        "delete_run" => {
            a.allow(&["run", "permanent"])?;
            let id = a.u64("run")?;
            let o = s.delete_run(id, a.bool_or("permanent", false)?)?;
            Ok(json!({"id": id, "outcome": o.as_str()}))
        }
        "history" => {
            a.allow(&["id", "record"])?;
            let r = if a.has("record") {
                let m = a.object("record")?;
                let ra = Args::new("history.record", m);
                ra.allow(&["type", "id"])?;
                let kind = RecordType::parse(ra.str("type")?).ok_or_else(|| {
                    err!(InvalidInput, "record type must be one of user, space, branch, run, feature, artifact, value")
                })?;
                RecordRef { kind, id: ra.u64("id")? }
            } else {
                RecordRef { kind: RecordType::Value, id: a.u64("id")? }
            };
            Ok(Json::Array(s.history(r)?.iter().map(render::event).collect()))
        }
        "log" => {
            a.allow(&["from", "to"])?;
            let events = s.log(a.opt_u64("from")?.unwrap_or(1), a.opt_u64("to")?.unwrap_or(u64::MAX))?;
            Ok(Json::Array(events.iter().map(render::event).collect()))
        }
        "head" => {
            a.allow(&[])?;
            let (seq, hash) = s.store().head();
            Ok(json!({"seq": seq, "hash": crate::codec::hex(&hash)}))
        }
        "snapshot" => {
            a.allow(&[])?;
            if s.context().user != 1 {
                return Err(err!(PermissionDenied, "snapshots are the instance owner's: only user 1 may take one"));
            }
            Ok(json!({"seq": s.store().snapshot()?}))
        }
        "verify" => {
            a.allow(&[])?;
            let v = s.store().verify()?;
            Ok(json!({"ok": true, "events": v.events,
                      "head": {"seq": v.head.0, "hash": crate::codec::hex(&v.head.1)},
                      "state_hash": crate::codec::hex(&v.state_hash)}))
        }
        "as_of" => as_of(exec, s, a),
        other => Err(err!(InvalidInput, "unknown op '{other}'")),
    }
}

/// Read-only requests an `as_of` may wrap.
const READ_ONLY: [&str; 9] =
    ["get", "filter", "count", "list", "get_values", "filter_artifacts", "filter_runs", "history", "head"];

fn as_of(exec: &Exec, s: &Session, a: &Args<'_>) -> Result<Json> {
    a.allow(&["seq", "at", "request"])?;
    let seq = match (a.has("seq"), a.has("at")) {
        (true, false) => a.u64("seq")?,
        (false, true) => {
            let at = a.str("at")?;
            let micros = crate::value::parse_timestamp(at)
                .ok_or_else(|| err!(InvalidInput, "field 'at' must be an RFC 3339 time, not '{at}'"))?;
            exec.store().seq_at_time(micros)?
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
    let view = exec.store().as_of(seq)?;
    let session = view.with_context(s.context());
    run(&Exec::new(view.clone()), &session, &Args::new(op, inner))
}

fn list(s: &Session, a: &Args<'_>) -> Result<Json> {
    a.allow(&["type", "branch"])?;
    let ty = a.str("type")?;
    let branches = match a.raw("branch") {
        Ok(j) => BranchSel::from_value(value_from_json(j)?)?,
        Err(_) => BranchSel::Default,
    };
    if a.has("branch") && !matches!(ty, "features" | "artifacts") {
        return Err(err!(InvalidInput, "'branch' applies only to features and artifacts"));
    }
    Ok(Json::Array(match ty {
        "users" => s.users()?.iter().map(render::user).collect(),
        "spaces" => s.spaces()?.iter().map(render::space).collect(),
        "branches" => s.branches()?.iter().map(render::branch).collect(),
        "runs" => s.runs()?.iter().map(render::run).collect(),
        "features" => s.features(&branches)?.iter().map(render::feature).collect(),
        "artifacts" => s.artifacts(&branches)?.iter().map(render::artifact).collect(),
        other => {
            return Err(err!(
                InvalidInput,
                "cannot list '{other}'; choose users, spaces, branches, runs, features or artifacts"
            ))
        }
    }))
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
