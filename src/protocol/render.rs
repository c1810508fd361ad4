//! Records and events as the protocol's JSON objects (SPEC §9).

use super::event_json::EventJson;
use crate::event::Event;
use crate::state::{Artifact, Branch, Feature, Run, Space, User, ValueRecord};
use crate::value::{format_timestamp, value_to_json};
use crate::{Record, Value};
use serde_json::{json, Value as Json};

pub fn user(u: &User) -> Json {
    json!({"id": u.id, "handle": u.handle})
}

pub fn space(s: &Space) -> Json {
    json!({"id": s.id, "name": s.name})
}

pub fn branch(b: &Branch) -> Json {
    json!({"id": b.id, "name": b.name, "status": b.status.as_str()})
}

pub fn run(r: &Run) -> Json {
    json!({"id": r.id, "name": r.name, "created_by_id": r.created_by_id, "finished": r.finished_at.is_some()})
}

pub fn feature(f: &Feature) -> Json {
    json!({"id": f.id, "name": f.name, "dtype": f.dtype.as_str(), "nullable": f.nullable, "coerce": f.coerce,
           "branch_id": f.branch_id, "space_id": f.space_id})
}

pub fn artifact(a: &Artifact) -> Json {
    json!({"id": a.id, "key": a.key, "branch_id": a.branch_id, "space_id": a.space_id})
}

pub fn value(v: &ValueRecord) -> Json {
    json!({"id": v.id, "feature_id": v.feature_id, "value": value_to_json(&v.value), "hash": v.hash.to_string(),
           "branch_id": v.branch_id, "created_on_id": v.created_on_id, "space_id": v.space_id,
           "created_by_id": v.created_by_id, "run_id": v.run_id, "created_at": format_timestamp(v.created_at),
           "artifact_ids": v.artifact_ids, "run_ids": v.run_ids})
}

pub fn record(r: &Record) -> Json {
    match r {
        Record::Value(v) => value(v),
        Record::Feature(f) => feature(f),
        Record::Artifact(a) => artifact(a),
    }
}

/// `{"seq", "at", "kind", "actor_id", "run_id", "record", "data", "prev", "hash"}`, as
/// [`EventJson`] writes it.
pub fn event(e: &Event) -> Json {
    // Serializing into a `Value` fails only where a map key is not a string; EventJson has none.
    serde_json::to_value(EventJson(e)).unwrap_or(Json::Null)
}

pub fn plain(v: &Value) -> Json {
    value_to_json(v)
}
