//! A small model of the engine over the public Rust API: get_or_create, delete (trash and
//! permanent), restore, link and unlink of int values of two features on two artifacts, by
//! user 1 on branch 1 in space 1, compared after every step with a `BTreeMap` model of
//! (feature, value) → (id, branch, links), and reopened from its directory now and then
//! (the reopened state must hash the same and verify).
//!
//! The full model-based test of SPEC §1–7 is `tests/model.rs` (proptest); this target is the
//! coverage-guided counterpart over the core of it.
#![no_main]

use arbitrary::Arbitrary;
use fvstore::{Durability, FeatureSpec, FixedClock, Host, Options, Outcome, RecordRef, RecordType, Store};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const FEATURES: [&str; 2] = ["n", "m"];
const ARTIFACTS: u64 = 2;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    GetOrCreate { f: bool, v: u8 },
    Delete { f: bool, v: u8, permanent: bool },
    Restore { f: bool, v: u8 },
    Link { f: bool, v: u8, a: bool },
    Unlink { f: bool, v: u8, a: bool },
    Reopen,
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    id: u64,
    branch: i64,
    artifacts: BTreeSet<u64>,
}

type Key = (usize, i64);

fn key(f: bool, v: u8) -> Key {
    (usize::from(f), i64::from(v % 8))
}

fn artifact(a: bool) -> u64 {
    1 + u64::from(a)
}

fn options() -> Options {
    Options { clock: Arc::new(FixedClock(0)), durability: Durability::Buffered, ..Default::default() }
}

/// Every record of the model, read back from the engine; and no deleted id is readable.
fn compare(store: &Store, model: &BTreeMap<Key, Rec>, gone: &BTreeSet<u64>, step: usize) {
    let s = store.session();
    for ((f, v), rec) in model {
        let got = s.get(rec.id).unwrap_or_else(|e| panic!("step {step}: get({}) failed: {e}", rec.id));
        assert_eq!(got.value, fvstore::Value::Int(*v), "step {step}: value of {}", rec.id);
        assert_eq!(got.feature_id, Some(*f as u64 + 1), "step {step}: feature of {}", rec.id);
        assert_eq!(got.branch_id, rec.branch, "step {step}: branch of {}", rec.id);
        assert_eq!(got.artifact_ids, rec.artifacts.iter().copied().collect::<Vec<_>>(), "step {step}: links");
    }
    for id in gone {
        assert!(s.get(*id).is_err(), "step {step}: deleted value {id} is still there");
    }
    for a in 1..=ARTIFACTS {
        let vals = s.get_values(Host::Artifact(a)).expect("get_values");
        let n: usize = vals.values().map(Vec::len).sum();
        let want = model.values().filter(|r| r.artifacts.contains(&a)).count();
        assert_eq!(n, want, "step {step}: get_values(artifact {a})");
    }
}

/// Opens the directory again. sled releases its lock file from a background thread a moment
/// after the last handle is dropped, so a reopen in the same process retries briefly (as
/// `tests/model/engine.rs` does).
fn reopen(dir: &std::path::Path) -> Store {
    let mut last = None;
    for _ in 0..200 {
        match Store::open_with(dir, options()) {
            Ok(store) => return store,
            Err(e) if e.message().contains("held by another process") => last = Some(e),
            Err(e) => panic!("reopen: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("reopen: still held after 1 s: {last:?}")
}

fuzz_target!(|ops: Vec<Op>| {
    if ops.len() > 64 {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_with(dir.path(), options()).expect("open");
    {
        // Sessions hold the store: this one must be gone before a reopen.
        let s = store.session();
        for f in FEATURES {
            s.create_feature(&FeatureSpec::new(f, "int")).expect("create_feature");
        }
        for a in 0..ARTIFACTS {
            s.create_artifact(&format!("data/{a}")).expect("create_artifact");
        }
    }
    let mut model: BTreeMap<Key, Rec> = BTreeMap::new();
    let mut gone: BTreeSet<u64> = BTreeSet::new();
    for (step, op) in ops.into_iter().enumerate() {
        let s = store.session();
        let head = store.head().0;
        let events = match op {
            Op::GetOrCreate { f, v } => {
                let k = key(f, v);
                let (rec, existed) = s.get_or_create(Some(FEATURES[k.0].into()), k.1).expect("get_or_create");
                match model.get(&k) {
                    Some(m) => {
                        assert!(existed && rec.id == m.id, "step {step}: {op:?} missed the existing {m:?}");
                        0
                    }
                    None => {
                        assert!(!existed, "step {step}: {op:?} found a value the model has not");
                        assert!(!gone.contains(&rec.id), "step {step}: id {} reused", rec.id);
                        model.insert(k, Rec { id: rec.id, branch: 1, artifacts: BTreeSet::new() });
                        1
                    }
                }
            }
            Op::Delete { f, v, permanent } => {
                let Some(m) = model.get(&key(f, v)).cloned() else { continue };
                let got = s.delete(RecordRef { kind: RecordType::Value, id: m.id }, permanent);
                match (m.branch, permanent, m.artifacts.is_empty()) {
                    (1, false, _) => {
                        assert_eq!(got.expect("trash"), Outcome::Trashed, "step {step}: {op:?}");
                        model.get_mut(&key(f, v)).expect("in model").branch = -1;
                        1
                    }
                    (-1, false, _) => {
                        assert_eq!(got.expect("trash again"), Outcome::AlreadyInTrash, "step {step}: {op:?}");
                        0
                    }
                    (_, true, false) => {
                        let e = got.expect_err("a linked value cannot be removed");
                        assert_eq!(e.kind(), "ProtectedError", "step {step}: {op:?}: {e}");
                        0
                    }
                    (_, true, true) => {
                        assert_eq!(got.expect("delete"), Outcome::Deleted, "step {step}: {op:?}");
                        model.remove(&key(f, v));
                        gone.insert(m.id);
                        1
                    }
                    other => unreachable!("branch {other:?}"),
                }
            }
            Op::Restore { f, v } => {
                let Some(m) = model.get_mut(&key(f, v)) else { continue };
                let got = s.restore(RecordRef { kind: RecordType::Value, id: m.id });
                if m.branch == -1 {
                    got.unwrap_or_else(|e| panic!("step {step}: {op:?}: {e}"));
                    m.branch = 1;
                    1
                } else {
                    let e = got.err().unwrap_or_else(|| panic!("step {step}: {op:?} restored a value on 1"));
                    assert_eq!(e.kind(), "ValidationError", "step {step}: {op:?}: {e}");
                    0
                }
            }
            Op::Link { f, v, a } => {
                let Some(m) = model.get_mut(&key(f, v)) else { continue };
                let got = s.link(m.id, Host::Artifact(artifact(a)));
                if m.branch == -1 {
                    let e = got.err().unwrap_or_else(|| panic!("step {step}: {op:?} linked a trashed value"));
                    assert_eq!(e.kind(), "PermissionDenied", "step {step}: {op:?}: {e}");
                    0
                } else {
                    got.unwrap_or_else(|e| panic!("step {step}: {op:?}: {e}"));
                    usize::from(m.artifacts.insert(artifact(a)))
                }
            }
            Op::Unlink { f, v, a } => {
                let Some(m) = model.get_mut(&key(f, v)) else { continue };
                s.unlink(m.id, Host::Artifact(artifact(a))).unwrap_or_else(|e| panic!("step {step}: {op:?}: {e}"));
                usize::from(m.artifacts.remove(&artifact(a)))
            }
            Op::Reopen => {
                let before = (store.head(), store.state_hash());
                drop(s);
                drop(store);
                store = reopen(dir.path());
                assert_eq!((store.head(), store.state_hash()), before, "step {step}: reopen changed the state");
                0
            }
        };
        assert_eq!(store.head().0, head + events as u64, "step {step}: {op:?} appended the wrong number of events");
        compare(&store, &model, &gone, step);
    }
    let v = store.verify().expect("verify");
    let (_, replayed) = store.replay_log(None).expect("replay");
    assert_eq!(replayed, store.state_hash(), "replay differs from the live state: {v:?}");
});
