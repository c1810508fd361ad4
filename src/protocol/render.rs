//! Records and events as the protocol's JSON objects (SPEC §9).

use crate::codec::hex;
use crate::event::{Event, EventData, Host, RecordRef};
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

fn record_ref(r: &RecordRef) -> Json {
    json!({"type": r.kind.as_str(), "id": r.id})
}

fn host(h: &Host) -> Json {
    match h {
        Host::Artifact(a) => json!({"artifact": a}),
        Host::Run(r) => json!({"run": r}),
    }
}

/// An event's `data`. A created value carries its plain JSON and its canonical encoding in hex
/// (`canonical`), which is exact where JSON is not (a date in an `object` feature).
fn data(d: &EventData) -> Json {
    match d {
        EventData::CreateUser { handle } => json!({"handle": handle}),
        EventData::CreateSpace { name } | EventData::CreateBranch { name } | EventData::CreateRun { name } => {
            json!({"name": name})
        }
        EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => json!({
            "name": name, "dtype": dtype.as_str(), "nullable": nullable, "coerce": coerce,
            "branch_id": branch, "space_id": space}),
        EventData::CreateArtifact { key, branch, space } => {
            json!({"key": key, "branch_id": branch, "space_id": space})
        }
        EventData::CreateValue { feature, value, hash, branch, space } => {
            let plain = crate::codec::decode_value(value, crate::codec::MAX_NESTING)
                .map(|v| value_to_json(&v))
                .unwrap_or(Json::Null);
            json!({"feature_id": feature, "value": plain, "hash": hex(hash), "branch_id": branch, "space_id": space,
                   "canonical": crate::codec::hex_bytes(value)})
        }
        EventData::BranchChange { from, to } => json!({"from": from, "to": to}),
        EventData::SpaceChange { from, to } => json!({"from": from, "to": to}),
        EventData::Link { host: h } | EventData::Unlink { host: h } => host(h),
        EventData::Delete | EventData::RunFinish => json!({}),
        EventData::Merge { moved } => {
            json!({"moved": moved.iter().map(record_ref).collect::<Vec<_>>()})
        }
        EventData::Grant { user, role } => {
            json!({"user_id": user, "role": role.map_or("none", |r| r.as_str())})
        }
    }
}

pub fn event(e: &Event) -> Json {
    json!({"seq": e.seq, "at": format_timestamp(e.at), "kind": e.data.kind(), "actor_id": e.actor,
           "run_id": e.run, "record": record_ref(&e.record), "data": data(&e.data),
           "prev": hex(&e.prev), "hash": hex(&e.hash)})
}

pub fn plain(v: &Value) -> Json {
    value_to_json(v)
}
