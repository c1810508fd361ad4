//! An event as the protocol's JSON object (SPEC §9), serialized field by field: an export
//! writes one per event, and building a `serde_json::Value` for each (an ordered map per
//! object, a string per field) was most of its time. `render::event` is this, as a `Value`.

use crate::event::{Event, EventData, Host, RecordRef};
use crate::value::{format_timestamp, PlainJson, ValueHash};
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

/// `{"seq", "at", "kind", "actor_id", "run_id", "record", "data", "prev", "hash"}`.
pub struct EventJson<'a>(pub &'a Event);

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_struct("event", 9)?;
        m.serialize_field("seq", &e.seq)?;
        m.serialize_field("at", &format_timestamp(e.at))?;
        m.serialize_field("kind", e.data.kind())?;
        m.serialize_field("actor_id", &e.actor)?;
        m.serialize_field("run_id", &e.run)?;
        m.serialize_field("record", &RefJson(&e.record))?;
        m.serialize_field("data", &DataJson(&e.data))?;
        m.serialize_field("prev", &Hex32(&e.prev))?;
        m.serialize_field("hash", &Hex32(&e.hash))?;
        m.end()
    }
}

/// `{"type", "id"}`.
pub struct RefJson<'a>(pub &'a RecordRef);

impl Serialize for RefJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("record", 2)?;
        m.serialize_field("type", self.0.kind.as_str())?;
        m.serialize_field("id", &self.0.id)?;
        m.end()
    }
}

/// 64 lowercase hex digits.
struct Hex32<'a>(&'a [u8; 32]);

impl Serialize for Hex32<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits = ValueHash(*self.0).hex_digits();
        s.serialize_str(std::str::from_utf8(&digits).map_err(S::Error::custom)?)
    }
}

/// An event's `data`. A created value carries its plain JSON and its canonical encoding in hex
/// (`canonical`), which is exact where JSON is not (a date in an `object` feature).
struct DataJson<'a>(&'a EventData);

impl Serialize for DataJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            EventData::CreateUser { handle } => {
                let mut m = s.serialize_struct("data", 1)?;
                m.serialize_field("handle", handle)?;
                m.end()
            }
            EventData::CreateSpace { name } | EventData::CreateBranch { name } | EventData::CreateRun { name } => {
                let mut m = s.serialize_struct("data", 1)?;
                m.serialize_field("name", name)?;
                m.end()
            }
            EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => {
                let mut m = s.serialize_struct("data", 6)?;
                m.serialize_field("name", name)?;
                m.serialize_field("dtype", dtype.as_str())?;
                m.serialize_field("nullable", nullable)?;
                m.serialize_field("coerce", coerce)?;
                m.serialize_field("branch_id", branch)?;
                m.serialize_field("space_id", space)?;
                m.end()
            }
            EventData::CreateArtifact { key, branch, space } => {
                let mut m = s.serialize_struct("data", 3)?;
                m.serialize_field("key", key)?;
                m.serialize_field("branch_id", branch)?;
                m.serialize_field("space_id", space)?;
                m.end()
            }
            EventData::CreateValue { feature, value, hash, branch, space } => {
                // Bytes that do not decode (never in a verified log) show as null, beside
                // their exact hex.
                let plain = crate::codec::decode_value(value, crate::codec::MAX_NESTING).ok();
                let mut m = s.serialize_struct("data", 6)?;
                m.serialize_field("feature_id", feature)?;
                m.serialize_field("value", &plain.as_ref().map(PlainJson))?;
                m.serialize_field("hash", &Hex32(hash))?;
                m.serialize_field("branch_id", branch)?;
                m.serialize_field("space_id", space)?;
                m.serialize_field("canonical", &crate::codec::hex_bytes(value))?;
                m.end()
            }
            EventData::BranchChange { from, to } => from_to(s, from, to),
            EventData::SpaceChange { from, to } => from_to(s, from, to),
            EventData::Link { host } | EventData::Unlink { host } => {
                let mut m = s.serialize_struct("data", 1)?;
                match host {
                    Host::Artifact(a) => m.serialize_field("artifact", a)?,
                    Host::Run(r) => m.serialize_field("run", r)?,
                }
                m.end()
            }
            EventData::Delete | EventData::RunFinish => s.serialize_struct("data", 0)?.end(),
            EventData::Merge { moved } => {
                let mut m = s.serialize_struct("data", 1)?;
                m.serialize_field("moved", &Refs(moved))?;
                m.end()
            }
            EventData::Grant { user, role } => {
                let mut m = s.serialize_struct("data", 2)?;
                m.serialize_field("user_id", user)?;
                m.serialize_field("role", role.map_or("none", |r| r.as_str()))?;
                m.end()
            }
        }
    }
}

fn from_to<S: Serializer, T: Serialize>(s: S, from: &T, to: &T) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_struct("data", 2)?;
    m.serialize_field("from", from)?;
    m.serialize_field("to", to)?;
    m.end()
}

struct Refs<'a>(&'a [RecordRef]);

impl Serialize for Refs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&RefJson(r))?;
        }
        seq.end()
    }
}
