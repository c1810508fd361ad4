//! Events back from their JSON form (the `export` format), for `import`. The inverse of
//! `render::event`; a created value is read from its `canonical` hex, which is exact.

use crate::codec::{unhex, unhex_bytes};
use crate::error::{err, Result};
use crate::event::{Event, EventData, Host, RecordRef, RecordType, Role};
use crate::value::{parse_timestamp, Dtype};
use serde_json::{Map, Value as Json};

struct Obj<'a>(&'a Map<String, Json>, &'a str);

impl<'a> Obj<'a> {
    fn get(&self, k: &str) -> Result<&'a Json> {
        self.0.get(k).ok_or_else(|| err!(InvalidInput, "{}: missing field '{k}'", self.1))
    }
    fn u64(&self, k: &str) -> Result<u64> {
        self.get(k)?
            .as_u64()
            .ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be a non-negative integer", self.1))
    }
    fn i64(&self, k: &str) -> Result<i64> {
        self.get(k)?.as_i64().ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be an integer", self.1))
    }
    fn opt_u64(&self, k: &str) -> Result<Option<u64>> {
        match self.get(k)? {
            Json::Null => Ok(None),
            j => {
                j.as_u64().map(Some).ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be an id or null", self.1))
            }
        }
    }
    fn str(&self, k: &str) -> Result<&'a str> {
        self.get(k)?.as_str().ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be a string", self.1))
    }
    fn bool(&self, k: &str) -> Result<bool> {
        self.get(k)?.as_bool().ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be a bool", self.1))
    }
    fn hash(&self, k: &str) -> Result<[u8; 32]> {
        unhex(self.str(k)?).ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be 64 hex digits", self.1))
    }
    fn obj(&self, k: &str) -> Result<Obj<'a>> {
        self.get(k)?
            .as_object()
            .map(|m| Obj(m, self.1))
            .ok_or_else(|| err!(InvalidInput, "{}: field '{k}' must be an object", self.1))
    }
}

fn record(o: &Obj<'_>) -> Result<RecordRef> {
    let kind = RecordType::parse(o.str("type")?).ok_or_else(|| err!(InvalidInput, "{}: unknown record type", o.1))?;
    Ok(RecordRef { kind, id: o.u64("id")? })
}

fn host(o: &Obj<'_>) -> Result<Host> {
    if o.0.contains_key("artifact") {
        Ok(Host::Artifact(o.u64("artifact")?))
    } else {
        Ok(Host::Run(o.u64("run")?))
    }
}

/// Parses one exported event line.
pub fn event_from_json(j: &Json) -> Result<Event> {
    let m = j.as_object().ok_or_else(|| err!(InvalidInput, "an event must be a JSON object"))?;
    let o = Obj(m, "event");
    let seq = o.u64("seq")?;
    let at = parse_timestamp(o.str("at")?).ok_or_else(|| err!(InvalidInput, "event {seq}: 'at' is not RFC 3339"))?;
    let rec = record(&o.obj("record")?)?;
    let d = o.obj("data")?;
    let kind = o.str("kind")?;
    let data = match (kind, rec.kind) {
        ("create", RecordType::User) => EventData::CreateUser { handle: d.str("handle")?.to_string() },
        ("create", RecordType::Space) => EventData::CreateSpace { name: d.str("name")?.to_string() },
        ("create", RecordType::Branch) => EventData::CreateBranch { name: d.str("name")?.to_string() },
        ("create", RecordType::Run) => EventData::CreateRun { name: d.str("name")?.to_string() },
        ("create", RecordType::Feature) => EventData::CreateFeature {
            name: d.str("name")?.to_string(),
            dtype: Dtype::parse(d.str("dtype")?)?,
            nullable: d.bool("nullable")?,
            coerce: d.bool("coerce")?,
            branch: d.i64("branch_id")?,
            space: d.u64("space_id")?,
        },
        ("create", RecordType::Artifact) => EventData::CreateArtifact {
            key: d.str("key")?.to_string(),
            branch: d.i64("branch_id")?,
            space: d.u64("space_id")?,
        },
        ("create", RecordType::Value) => {
            let (value, hash) = created_value(seq, d.str("canonical")?, d.get("value")?, d.str("hash")?)?;
            EventData::CreateValue {
                feature: d.opt_u64("feature_id")?,
                value,
                hash,
                branch: d.i64("branch_id")?,
                space: d.u64("space_id")?,
            }
        }
        ("branch_change", _) => EventData::BranchChange { from: d.i64("from")?, to: d.i64("to")? },
        ("space_change", _) => EventData::SpaceChange { from: d.u64("from")?, to: d.u64("to")? },
        ("link", _) => EventData::Link { host: host(&d)? },
        ("unlink", _) => EventData::Unlink { host: host(&d)? },
        ("delete", _) => EventData::Delete,
        ("merge", _) => EventData::Merge {
            moved: d
                .get("moved")?
                .as_array()
                .ok_or_else(|| err!(InvalidInput, "event {seq}: 'moved' must be a list"))?
                .iter()
                .map(|r| {
                    let m = r.as_object().ok_or_else(|| err!(InvalidInput, "event {seq}: bad moved record"))?;
                    record(&Obj(m, "moved record"))
                })
                .collect::<Result<_>>()?,
        },
        ("grant", _) => EventData::Grant {
            user: d.u64("user_id")?,
            role: {
                let name = d.str("role")?;
                role(name).ok_or_else(|| err!(InvalidInput, "event {seq}: unknown role '{name}'"))?
            },
        },
        ("run_finish", _) => EventData::RunFinish,
        (k, t) => return Err(err!(InvalidInput, "event {seq}: kind '{k}' does not apply to a {}", t.as_str())),
    };
    Ok(Event {
        seq,
        at,
        actor: o.u64("actor_id")?,
        run: o.opt_u64("run_id")?,
        record: rec,
        data,
        prev: o.hash("prev")?,
        hash: o.hash("hash")?,
    })
}

/// A created value's canonical bytes and content hash, checked against each other and against
/// the plain JSON a reader sees.
pub(super) fn created_value(seq: u64, canonical: &str, plain: &Json, hash: &str) -> Result<(Vec<u8>, [u8; 32])> {
    let bytes = unhex_bytes(canonical).ok_or_else(|| err!(InvalidInput, "event {seq}: 'canonical' must be hex"))?;
    // The plain value a reader sees must say what the exact encoding says.
    let decoded = crate::codec::decode_value(&bytes, crate::codec::MAX_NESTING)?;
    if &crate::value::value_to_json(&decoded) != plain {
        return Err(err!(InvalidInput, "event {seq}: 'value' does not match its canonical encoding"));
    }
    let hash = unhex(hash).ok_or_else(|| err!(InvalidInput, "event {seq}: field 'hash' must be 64 hex digits"))?;
    // Checked here, as the log's decoder does: the fold trusts a decoded event's hash.
    if hash != *blake3::hash(&bytes).as_bytes() {
        return Err(err!(InvalidInput, "event {seq}: 'hash' is not the hash of its canonical value"));
    }
    Ok((bytes, hash))
}

/// A grant's role by name (`grant` requests and exported events); `none` takes the role away.
pub(super) fn role(name: &str) -> Option<Option<Role>> {
    match name {
        "admin" => Some(Some(Role::Admin)),
        "write" => Some(Some(Role::Write)),
        "read" => Some(Some(Role::Read)),
        "none" => Some(None),
        _ => None,
    }
}
