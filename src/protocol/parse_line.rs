//! The fast path of `import`: an exported line read straight into borrowed fields, without
//! building a `serde_json::Value` (an ordered map per object, a string per key and number),
//! which was most of an import's time. It answers `None` for anything unusual — a string
//! with escapes, a field missing, null or mistyped, a key twice — and the import then reads
//! the line through `event_from_json`, which gives the message. So it must never accept a
//! line that `event_from_json` refuses, nor read one differently (a test checks both on
//! mutated lines).

use super::parse_event::{created_value, role};
use crate::codec::unhex;
use crate::event::{Event, EventData, Host, RecordRef, RecordType};
use crate::value::{parse_timestamp, Dtype};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use std::fmt;
use std::marker::PhantomData;

/// A struct read from a JSON object only: derived structs also take an array of their fields
/// in order, which `event_from_json` refuses.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(PhantomData)).map(Object)
    }
}

#[derive(Deserialize)]
struct LineFields<'a> {
    seq: u64,
    at: &'a str,
    kind: &'a str,
    actor_id: u64,
    // `deserialize_with` makes a missing field an error, as it is for `event_from_json`;
    // null is the only other thing it takes for these.
    #[serde(deserialize_with = "nullable")]
    run_id: Option<u64>,
    #[serde(borrow)]
    record: Object<RefFields<'a>>,
    #[serde(borrow)]
    data: Object<DataFields<'a>>,
    prev: &'a str,
    hash: &'a str,
}

#[derive(Deserialize)]
struct RefFields<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: u64,
}

/// Every field some kind of event's `data` has: `None` when absent (null is refused).
#[derive(Deserialize)]
struct DataFields<'a> {
    #[serde(default, deserialize_with = "present", borrow)]
    handle: Option<&'a str>,
    #[serde(default, deserialize_with = "present", borrow)]
    name: Option<&'a str>,
    #[serde(default, deserialize_with = "present", borrow)]
    dtype: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    nullable: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    coerce: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    branch_id: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    space_id: Option<u64>,
    #[serde(default, deserialize_with = "present", borrow)]
    key: Option<&'a str>,
    #[serde(default, deserialize_with = "present_nullable")]
    feature_id: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present_json")]
    value: Option<Json>,
    #[serde(default, deserialize_with = "present", borrow)]
    hash: Option<&'a str>,
    #[serde(default, deserialize_with = "present", borrow)]
    canonical: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    from: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    to: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    artifact: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    run: Option<u64>,
    #[serde(default, deserialize_with = "present", borrow)]
    moved: Option<Vec<Object<RefFields<'a>>>>,
    #[serde(default, deserialize_with = "present")]
    user_id: Option<u64>,
    #[serde(default, deserialize_with = "present", borrow)]
    role: Option<&'a str>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

fn present_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

fn present_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

fn record(r: &Object<RefFields<'_>>) -> Option<RecordRef> {
    Some(RecordRef { kind: RecordType::parse(r.0.kind)?, id: r.0.id })
}

/// One exported event line, or `None` to read it the slow way.
pub fn event(line: &str) -> Option<Event> {
    let Object(l) = serde_json::from_str::<Object<LineFields<'_>>>(line).ok()?;
    let rec = record(&l.record)?;
    let d = &l.data.0;
    let data = match (l.kind, rec.kind) {
        ("create", RecordType::User) => EventData::CreateUser { handle: d.handle?.to_string() },
        ("create", RecordType::Space) => EventData::CreateSpace { name: d.name?.to_string() },
        ("create", RecordType::Branch) => EventData::CreateBranch { name: d.name?.to_string() },
        ("create", RecordType::Run) => EventData::CreateRun { name: d.name?.to_string() },
        ("create", RecordType::Feature) => EventData::CreateFeature {
            name: d.name?.to_string(),
            dtype: Dtype::parse(d.dtype?).ok()?,
            nullable: d.nullable?,
            coerce: d.coerce?,
            branch: d.branch_id?,
            space: d.space_id?,
        },
        ("create", RecordType::Artifact) => {
            EventData::CreateArtifact { key: d.key?.to_string(), branch: d.branch_id?, space: d.space_id? }
        }
        ("create", RecordType::Value) => {
            let (value, hash) = created_value(l.seq, d.canonical?, d.value.as_ref()?, d.hash?).ok()?;
            EventData::CreateValue { feature: d.feature_id?, value, hash, branch: d.branch_id?, space: d.space_id? }
        }
        ("branch_change", _) => EventData::BranchChange { from: d.from?, to: d.to? },
        ("space_change", _) => {
            EventData::SpaceChange { from: u64::try_from(d.from?).ok()?, to: u64::try_from(d.to?).ok()? }
        }
        ("link", _) => EventData::Link { host: host(d)? },
        ("unlink", _) => EventData::Unlink { host: host(d)? },
        ("delete", _) => EventData::Delete,
        ("merge", _) => EventData::Merge { moved: d.moved.as_ref()?.iter().map(record).collect::<Option<_>>()? },
        ("grant", _) => EventData::Grant { user: d.user_id?, role: role(d.role?)? },
        ("run_finish", _) => EventData::RunFinish,
        _ => return None,
    };
    Some(Event {
        seq: l.seq,
        at: parse_timestamp(l.at)?,
        actor: l.actor_id,
        run: l.run_id,
        record: rec,
        data,
        prev: unhex(l.prev)?,
        hash: unhex(l.hash)?,
    })
}

/// `{"artifact": id}` or else `{"run": id}`, as `event_from_json` reads a host.
fn host(d: &DataFields<'_>) -> Option<Host> {
    match (d.artifact, d.run) {
        (Some(a), _) => Some(Host::Artifact(a)),
        (None, Some(r)) => Some(Host::Run(r)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_event::event_from_json;
    use crate::protocol::Exec;

    fn slow(line: &str) -> Option<Event> {
        event_from_json(&serde_json::from_str(line).ok()?).ok()
    }

    /// Export lines of every kind of event and every shape of value.
    fn lines() -> Vec<String> {
        let exec = Exec::new(crate::Store::temporary().unwrap_or_else(|e| panic!("store: {e}")));
        for request in include_str!("../../tests/golden/export_kinds.requests").lines() {
            exec.handle(request);
        }
        let mut out = Vec::new();
        exec.store().export_jsonl(&mut out).unwrap_or_else(|e| panic!("export: {e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("utf-8: {e}")).lines().map(str::to_string).collect()
    }

    /// What a hand or a bug might do to a field.
    const REPLACEMENTS: &[&str] = &[
        "null",
        "\"x\"",
        "\"\"",
        "1",
        "0",
        "-0",
        "-1",
        "1.0",
        "1e2",
        "18446744073709551616",
        "9223372036854775808",
        "true",
        "[]",
        "{}",
        "[1]",
        "\"cre\\u0061te\"",
        "\"none\"",
        "\"value\"",
        "\"admin\"",
    ];

    fn mutations(line: &str) -> Vec<String> {
        let json: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("json: {e}"));
        let mut out = Vec::new();
        let Json::Object(top) = &json else { return out };
        let mut paths: Vec<Vec<String>> = top.keys().map(|k| vec![k.clone()]).collect();
        for inner in ["record", "data"] {
            if let Some(Json::Object(m)) = top.get(inner) {
                paths.extend(m.keys().map(|k| vec![inner.to_string(), k.clone()]));
            }
        }
        for path in &paths {
            let (parent, key) = match path.as_slice() {
                [k] => (None, k),
                [p, k] => (Some(p), k),
                _ => continue,
            };
            let mut edit = |f: &mut dyn FnMut(&mut serde_json::Map<String, Json>)| {
                let mut j = json.clone();
                let Some(Json::Object(m)) = (match parent {
                    None => Some(&mut j),
                    Some(p) => j.get_mut(p.as_str()),
                }) else {
                    return;
                };
                f(m);
                out.push(j.to_string());
            };
            edit(&mut |m| {
                m.shift_remove(key.as_str());
            });
            for r in REPLACEMENTS {
                let v: Json = serde_json::from_str(r).unwrap_or_else(|e| panic!("replacement: {e}"));
                edit(&mut |m| {
                    m.insert(key.clone(), v.clone());
                });
            }
            // An object as the array of its values.
            edit(&mut |m| {
                if let Some(Json::Object(inner)) = m.get(key.as_str()).cloned() {
                    m.insert(key.clone(), Json::Array(inner.values().cloned().collect()));
                }
            });
        }
        out.push(Json::Array(top.values().cloned().collect()).to_string());
        out.push(line.replacen('{', "{\"seq\":1,", 1));
        // A data field twice: an export never writes one, the slow path keeps the last.
        out.push(line.replacen("\"data\":{", "\"data\":{\"name\":\"dup\",\"handle\":\"dup\",", 1));
        out.push(format!(" {line} "));
        out
    }

    #[test]
    fn reads_every_exported_line_as_the_slow_path_does() {
        let lines = lines();
        assert!(lines.len() > 30);
        for line in &lines {
            let fast = event(line);
            // Escaped strings (names with quotes, control characters) go the slow way.
            if line.contains('\\') {
                assert!(fast.is_none() || fast == slow(line), "{line}");
            } else {
                assert!(fast.is_some(), "the fast path refused an exported line: {line}");
                assert_eq!(fast, slow(line), "{line}");
            }
        }
    }

    /// Whatever the fast path accepts, `event_from_json` accepts and reads the same; the rest
    /// falls back to it.
    #[test]
    fn accepts_nothing_the_slow_path_refuses() {
        let mut fell_back = 0;
        let mut checked = 0;
        for line in lines() {
            for m in mutations(&line) {
                checked += 1;
                match event(&m) {
                    None => fell_back += 1,
                    Some(e) => assert_eq!(Some(e), slow(&m), "{m}"),
                }
            }
        }
        assert!(checked > 5_000 && fell_back > checked / 2, "{checked} mutations, {fell_back} fell back");
    }
}
