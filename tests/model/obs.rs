//! What the engine and the model are compared on: plain observations with no engine types in
//! their equality. Values are compared through `vkey`, a typed rendering written here (so that
//! `3`, `3.0` and `"3"` differ, `-0.0` shows as such, and dict keys come out sorted).

use fvstore::{Role, Value};
use std::collections::BTreeMap;

/// An error kind, as `Error::kind()` names it.
pub type Kind = &'static str;
pub type R<T> = Result<T, Kind>;

pub const DNE: Kind = "DoesNotExist";
pub const VE: Kind = "ValidationError";
pub const IE: Kind = "IntegrityError";
pub const PE: Kind = "ProtectedError";
pub const PD: Kind = "PermissionDenied";

/// A typed, canonical rendering of a value.
pub fn vkey(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("b:{b}"),
        Value::Int(i) => format!("i:{i}"),
        Value::Float(f) => format!("f:{f:?}"),
        Value::Str(s) => format!("s:{s:?}"),
        Value::Date(d) => format!("d:{d}"),
        Value::DateTime(t) => format!("t:{t}"),
        Value::List(items) => format!("[{}]", items.iter().map(vkey).collect::<Vec<_>>().join(",")),
        Value::Dict(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k:?}={}", vkey(v))).collect::<Vec<_>>().join(","))
        }
    }
}

/// The canonical encoding of docs/FORMAT.md ("Canonical value encoding"), big-endian, that the
/// hash is blake3 of.
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    let len = |n: usize| u32::try_from(n).expect("small").to_be_bytes();
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.extend([1, u8::from(*b)]),
        Value::Int(i) => {
            out.push(2);
            out.extend(i.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            out.extend((if *f == 0.0 { 0.0f64 } else { *f }).to_bits().to_be_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            out.extend(len(s.len()));
            out.extend(s.as_bytes());
        }
        Value::Date(d) => {
            out.push(5);
            out.extend(d.to_be_bytes());
        }
        Value::DateTime(t) => {
            out.push(6);
            out.extend(t.to_be_bytes());
        }
        Value::List(items) => {
            out.push(7);
            out.extend(len(items.len()));
            items.iter().for_each(|x| canonical(x, out));
        }
        Value::Dict(m) => {
            out.push(8);
            out.extend(len(m.len()));
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (k, x) in entries {
                out.extend(len(k.len()));
                out.extend(k.as_bytes());
                canonical(x, out);
            }
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 lowercase hex digits of blake3 over the canonical encoding.
pub fn hash(v: &Value) -> String {
    let mut bytes = Vec::new();
    canonical(v, &mut bytes);
    blake3::hash(&bytes).to_hex().to_string()
}

/// A feature value as seen by one actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VObs {
    pub id: u64,
    pub feature_id: Option<u64>,
    pub value: String,
    pub hash: String,
    pub branch_id: i64,
    pub created_on_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    pub created_at: i64,
    pub artifact_ids: Vec<u64>,
    pub run_ids: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FObs {
    pub id: u64,
    pub name: String,
    pub dtype: String,
    pub nullable: bool,
    pub coerce: bool,
    pub branch_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AObs {
    pub id: u64,
    pub key: String,
    pub branch_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunObs {
    pub id: u64,
    pub name: String,
    pub created_by_id: u64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obs {
    User { id: u64, handle: String, created_at: i64 },
    Space { id: u64, name: String, created_by_id: u64, created_at: i64 },
    Grant { space_id: u64, user_id: u64, role: Option<Role> },
    Branch { id: i64, name: String, created_by_id: u64, created_at: i64, merged: bool },
    Run(RunObs),
    Feature(FObs),
    Artifact(AObs),
    Value(VObs),
    GetOrCreate(VObs, bool),
    Outcome(&'static str),
    FeatureOutcome(u64, &'static str),
    Count(usize),
    Values(Vec<VObs>),
    Features(Vec<FObs>),
    Artifacts(Vec<AObs>),
    Runs(Vec<RunObs>),
    Users(Vec<(u64, String, i64)>),
    Spaces(Vec<(u64, String, u64, i64)>),
    Branches(Vec<(i64, String, u64, i64, bool)>),
    PerFeature(BTreeMap<String, Vec<String>>),
    Unit,
}
