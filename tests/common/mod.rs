//! Shared helpers for the integration tests. Every assertion goes through [`check`],
//! so a failure always prints what was found next to what the spec expects.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bin;
pub mod raw_log;
pub mod workload;

use fvstore::{
    Artifact, BranchSel, Durability, Error, Feature, FeatureSpec, Options, RecordRef, RecordType, Role, Session, Store,
    Value,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

/// The one assertion helper: `actual` must equal `expected`.
#[track_caller]
pub fn check<T: PartialEq + Debug>(actual: T, expected: T) {
    assert_eq!(actual, expected);
}

/// The error kind of a result (`"ok"` for success), to be passed to [`check`].
pub fn kind<T>(r: &Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    }
}

/// The message of an error (empty for success).
pub fn message<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e.message(),
    }
}

/// An in-memory store.
pub fn mem() -> Store {
    Store::temporary().unwrap()
}

/// Buffered options for stores on disk (fast; the tests drop the store cleanly).
pub fn buffered() -> Options {
    Options { durability: Durability::Buffered, ..Default::default() }
}

/// Opens (or reopens) a store in `dir`, buffered.
pub fn open(dir: &Path) -> Store {
    Store::open_with(dir, buffered()).unwrap()
}

/// Opens `dir` again right after its last handle was dropped. No retry: the last handle waits
/// until sled has released the store's file lock, so an immediate open must succeed.
pub fn reopen(dir: &Path, options: Options) -> Store {
    Store::open_with(dir, options).unwrap_or_else(|e| panic!("reopen {}: {e}", dir.display()))
}

pub fn value_ref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Value, id }
}

pub fn feature_ref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Feature, id }
}

pub fn artifact_ref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Artifact, id }
}

/// A feature with default flags.
pub fn feature(s: &Session, name: &str, dtype: &str) -> Feature {
    s.create_feature(&FeatureSpec::new(name, dtype)).unwrap()
}

/// `get_or_create` that must succeed; returns the value's id.
pub fn value_id(s: &Session, feature: Option<&str>, v: impl Into<Value>) -> u64 {
    s.get_or_create(feature.map(Into::into), v).unwrap().0.id
}

/// A dict value from pairs.
pub fn dict(pairs: &[(&str, Value)]) -> Value {
    Value::Dict(pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect::<BTreeMap<_, _>>())
}

/// `(feature name, value)` pairs for add_values / set_values.
pub fn pairs(items: &[(&str, Value)]) -> Vec<(String, Value)> {
    items.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

/// Creates a user and returns a session acting as them.
pub fn new_user(store: &Store, handle: &str) -> Session {
    store.session().create_user(handle).unwrap();
    store.as_user(handle).unwrap()
}

/// Creates a space as `owner` (who becomes its admin) and returns its id.
pub fn new_space(owner: &Session, name: &str) -> u64 {
    owner.create_space(name).unwrap().id
}

/// Grants a role in a space, as `admin`.
pub fn grant(admin: &Session, space: u64, user: &Session, role: Option<Role>) {
    admin.grant(space, user.context().user, role).unwrap();
}

/// The feature with this id as `s` sees it on any branch, if visible.
pub fn feature_row(s: &Session, id: u64) -> Option<Feature> {
    s.features(&BranchSel::All).unwrap().into_iter().find(|f| f.id == id)
}

/// The artifact with this id as `s` sees it on any branch, if visible.
pub fn artifact_row(s: &Session, id: u64) -> Option<Artifact> {
    s.artifacts(&BranchSel::All).unwrap().into_iter().find(|a| a.id == id)
}

/// The branch and space of a value, feature or artifact as user 1 sees it; `None` once removed.
pub fn place(store: &Store, r: RecordRef) -> Option<(i64, u64)> {
    let s = store.session();
    match r.kind {
        RecordType::Value => s.get(r.id).ok().map(|v| (v.branch_id, v.space_id)),
        RecordType::Feature => feature_row(&s, r.id).map(|f| (f.branch_id, f.space_id)),
        RecordType::Artifact => artifact_row(&s, r.id).map(|a| (a.branch_id, a.space_id)),
        _ => None,
    }
}

/// The kinds of the events in a record's history, as user 1 reads it.
pub fn history_kinds(store: &Store, r: RecordRef) -> Vec<&'static str> {
    store.session().history(r).unwrap().iter().map(|e| e.data.kind()).collect()
}

/// A date value; panics on an impossible day.
pub fn date(y: i32, m: u32, d: u32) -> Value {
    Value::date(y, m, d).unwrap()
}

/// A small xorshift generator: deterministic from the seed, std only.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}
