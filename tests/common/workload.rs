//! A shared workload for the audit tests: registries of every kind, random commands of every
//! kind that writes, and a fixed set of queries to compare what users see.
#![allow(dead_code)]

use super::Rng;
use fvstore::{
    BranchSel, Error, FeatureSpec, FixedClock, Host, Options, Query, RecordRef, RecordType, Role, Session, Store, Value,
};
use std::path::Path;
use std::sync::Arc;

pub const BASE: i64 = 1_800_000_000_000_000;

pub fn options(snapshot_every: u64) -> Options {
    Options { clock: Arc::new(FixedClock(BASE)), snapshot_every, ..Options::default() }
}

pub fn vref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Value, id }
}

/// Registries of every kind: users, a space with a grant, a run, features.
pub fn setup(store: &Store) {
    let me = store.session();
    for (name, dtype) in [("temperature", "float"), ("tissue", "str"), ("count", "int")] {
        me.create_feature(&FeatureSpec::new(name, dtype)).unwrap();
    }
    if me.users().unwrap().len() == 1 {
        me.create_user("alice").unwrap();
        me.create_space("lab").unwrap();
        me.grant("lab", "alice", Some(Role::Write)).unwrap();
        me.start_run("ingest").unwrap();
        me.create_artifact("first").unwrap();
    }
}

/// One random command of any kind that writes; refusals write nothing and are fine, damage
/// is not.
pub fn random_op(me: &Session, rng: &mut Rng, draft: &mut Option<i64>) {
    let store = me.store();
    let v = 1 + rng.below(store.head().0.max(1));
    let arts = me.artifacts(&BranchSel::All).unwrap();
    let art = arts[usize::try_from(rng.below(arts.len() as u64)).unwrap()].id;
    let k = rng.below(30);
    let r: Result<(), Error> = match rng.below(16) {
        0 => me.get_or_create(Some("temperature".into()), k as f64 * 0.5).map(drop),
        1 => me.get_or_create(Some("tissue".into()), format!("t{k}")).map(drop),
        2 | 3 => me
            .add_values(
                Host::Artifact(art),
                &[
                    ("temperature".into(), Value::Float(k as f64 * 0.5)),
                    ("tissue".into(), Value::Str(format!("t{}", rng.below(30)))),
                ],
            )
            .map(drop),
        4 => me.delete(vref(v), false).map(drop),
        5 => me.restore(vref(v)).map(drop),
        6 => me.delete(vref(v), true).map(drop),
        7 => me.unlink(v, Host::Artifact(art)).map(drop),
        8 => me.create_artifact(&format!("data/{k}.h5ad")).map(drop),
        9 => {
            let b = match *draft {
                Some(b) => b,
                None => {
                    let name = format!("draft{}-{}", store.head().0, rng.below(1 << 40));
                    let b = me.create_branch(&name).unwrap().id;
                    *draft = Some(b);
                    b
                }
            };
            me.clone().on_branch(b).get_or_create(Some("count".into()), i64::try_from(k).unwrap()).map(drop)
        }
        10 => match draft.take() {
            Some(b) => me.merge_branch(b).map(drop),
            None => Ok(()),
        },
        11 => me.link(v, Host::Run(1)).map(drop),
        12 => me.move_space(vref(v), "lab").map(drop),
        13 => me.set_branch(vref(v), 2i64).map(drop),
        14 => me.set_values(Host::Artifact(art), &[("count".into(), Value::Int(i64::try_from(k).unwrap()))]).map(drop),
        _ => me.remove_values(Host::Artifact(art), "tissue").map(drop),
    };
    if let Err(e) = r {
        assert!(!matches!(e, Error::Corruption { .. } | Error::Io(_)), "{e}");
    }
}

pub fn workload(store: &Store, ops: usize, seed: u64) {
    setup(store);
    let me = store.session();
    let mut rng = Rng::new(seed);
    let mut draft = None;
    for _ in 0..ops {
        random_op(&me, &mut rng, &mut draft);
    }
}

/// What users see: a fixed set of queries (as user 1 and as alice), rendered for comparison.
pub fn answers(store: &Store) -> String {
    let mut out = String::new();
    let sessions = [Some(store.session()), store.as_user("alice").ok()];
    for me in sessions.iter().flatten() {
        let all = me.filter(&Query::new().filter("branch", "all"));
        let default_count = me.count(&Query::new());
        let warm = me.count(&Query::new().filter("feature", "temperature").filter("value__gt", 5.0));
        let tissues = me.filter(&Query::new().filter("feature", "tissue").order_by("-value").limit(5));
        let arts = me.artifacts(&BranchSel::All).unwrap();
        let values: Vec<_> = arts.iter().map(|a| me.get_values(Host::Artifact(a.id))).collect();
        let on_run = me.get_values(Host::Run(1));
        let warm_arts = me.filter_artifacts(&[("temperature__gt".into(), Value::Float(5.0))]);
        let first = me.get(1);
        out += &format!(
            "{all:?}\n{default_count:?}\n{warm:?}\n{tissues:?}\n{arts:?}\n{values:?}\n{on_run:?}\n{warm_arts:?}\n\
             {first:?}\n{:?}\n{:?}\n{:?}\n",
            me.features(&BranchSel::All),
            me.branches(),
            me.users()
        );
    }
    out
}

pub fn copy_dir(from: &Path, to: &Path, with_snapshots: bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if with_snapshots || entry.file_name() != "snapshots" {
                copy_dir(&entry.path(), &target, with_snapshots);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn corruption_at<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<u64> {
    match r {
        Err(Error::Corruption { at, .. }) => at,
        other => panic!("expected a Corruption error, got {other:?}"),
    }
}
