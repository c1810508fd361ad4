//! The audit surface (SPEC §8, Audit and Recovery; §9 `history`, `log`, `head`, `as_of`,
//! `snapshot`, `verify`): tamper evidence, truncated tails, export/import, history, log ranges,
//! as-of views, and subscriptions. Damage is made with sled directly on a closed store: the
//! tree `log` of `DIR/log` holds one record per group of commits, keyed by its first sequence
//! number (big-endian), encoded with `fvstore::codec::encode_batch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::Rng;
use fvstore::protocol::Exec;
use fvstore::{
    import_jsonl, BranchSel, Error, Event, FeatureSpec, FixedClock, Host, Options, Query, RecordRef, RecordType, Role,
    Session, Store, Value,
};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const BASE: i64 = 1_800_000_000_000_000;

fn options(snapshot_every: u64) -> Options {
    Options { clock: Arc::new(FixedClock(BASE)), snapshot_every, ..Options::default() }
}

fn vref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Value, id }
}

/// Registries of every kind: users, a space with a grant, a run, features.
fn setup(store: &Store) {
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
fn random_op(me: &Session, rng: &mut Rng, draft: &mut Option<i64>) {
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

fn workload(store: &Store, ops: usize, seed: u64) {
    setup(store);
    let me = store.session();
    let mut rng = Rng::new(seed);
    let mut draft = None;
    for _ in 0..ops {
        random_op(&me, &mut rng, &mut draft);
    }
}

/// What users see: a fixed set of queries (as user 1 and as alice), rendered for comparison.
fn answers(store: &Store) -> String {
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

fn copy_dir(from: &Path, to: &Path, with_snapshots: bool) {
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

fn corruption_at<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<u64> {
    match r {
        Err(Error::Corruption { at, .. }) => at,
        other => panic!("expected a Corruption error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tampering and truncation, with sled on a closed store
// ---------------------------------------------------------------------------------------------

/// Rewrites the first event (at or after `min_seq`) that `pick` accepts with `change`, keeping
/// its stored hash. Returns its seq.
fn tamper(dir: &Path, min_seq: u64, pick: impl Fn(&Event) -> bool, change: impl FnOnce(&mut Event)) -> u64 {
    let db = sled::open(dir.join("log")).unwrap();
    let tree = db.open_tree("log").unwrap();
    for item in tree.iter() {
        let (k, v) = item.unwrap();
        let mut batch = fvstore::codec::decode_batch(&v).unwrap();
        if let Some(e) = batch.events.iter_mut().find(|e| e.seq >= min_seq && pick(e)) {
            let seq = e.seq;
            change(e);
            tree.insert(k, fvstore::codec::encode_batch(&batch)).unwrap();
            db.flush().unwrap();
            return seq;
        }
    }
    panic!("no event to tamper with");
}

/// A closed store of `ops` random commands; returns its head seq.
fn closed_store(dir: &Path, ops: usize, seed: u64) -> u64 {
    let store = Store::open_with(dir, options(0)).unwrap();
    workload(&store, ops, seed);
    store.head().0
}

fn check_tampered(seed: u64, pick: impl Fn(&Event) -> bool, change: impl FnOnce(&mut Event)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let head = closed_store(&dir, 80, seed);
    let seq = tamper(&dir, head / 3, pick, change);
    assert!(seq < head);

    // A full replay meets the bad event: Corruption naming it.
    let replay = tmp.path().join("replay");
    copy_dir(&dir, &replay, false);
    assert_eq!(corruption_at(Store::open_with(&replay, options(0)).map(drop)), Some(seq), "full replay");

    // From the snapshot at the head the open succeeds (the snapshot checks out against the
    // log's last event); verify re-hashes the chain and names the event.
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert_eq!(corruption_at(store.verify()), Some(seq), "verify");
    let out: Json = serde_json::from_str(&Exec::new(store.clone()).handle(r#"{"op":"verify"}"#)).unwrap();
    assert_eq!(out["error"]["kind"], "Corruption", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains(&seq.to_string()), "{out}");
    // A view through the bad event is not silently built.
    assert_eq!(corruption_at(store.as_of(seq).map(drop)), Some(seq), "as_of({seq})");
    assert!(store.as_of(seq - 1).is_ok());
    // Nor is an export of it importable.
    let mut export = Vec::new();
    store.export_jsonl(&mut export).unwrap();
    let target = tmp.path().join("imported");
    assert_eq!(corruption_at(import_jsonl(&target, &export[..], options(0)).map(drop)), Some(seq), "import");
    assert!(!target.join("log").exists());
}

#[test]
fn tampered_timestamp_is_reported_at_its_seq() {
    // A field of an event in the middle of a multi-event commit (an add_values).
    check_tampered(1, |e| e.data.kind() == "link", |e| e.at += 1);
}

#[test]
fn tampered_value_is_reported_at_its_seq() {
    check_tampered(
        2,
        |e| matches!(e.data, fvstore::EventData::CreateValue { .. }),
        |e| {
            if let fvstore::EventData::CreateValue { value, .. } = &mut e.data {
                *value = fvstore::codec::canonical(&Value::Float(1234.5));
            }
        },
    );
}

#[test]
fn tampered_actor_is_reported_at_its_seq() {
    check_tampered(3, |e| e.data.kind() == "branch_change", |e| e.actor += 1);
}

/// Removes the last `n` records (commit groups) of the log; returns the new last seq.
fn cut_tail(dir: &Path, n: usize) -> u64 {
    let db = sled::open(dir.join("log")).unwrap();
    let tree = db.open_tree("log").unwrap();
    let keys: Vec<_> = tree.iter().keys().map(Result::unwrap).collect();
    assert!(keys.len() > n + 2, "too few log records");
    for k in &keys[keys.len() - n..] {
        tree.remove(k).unwrap();
    }
    db.flush().unwrap();
    u64::from_be_bytes(keys[keys.len() - n].as_ref().try_into().unwrap()) - 1
}

/// What a prefix of the log looked like: (state hash, head, answers).
type Prefix = ([u8; 32], (u64, [u8; 32]), String);

/// A closed store with snapshots at `middle` and at `head`, whose last 3 log records were then
/// removed: returns (dir, head, the new last seq, what the intact store looked like there).
fn truncated_store(tmp: &Path) -> (std::path::PathBuf, u64, u64, Prefix) {
    let dir = tmp.join("store");
    let store = Store::open_with(&dir, options(0)).unwrap();
    workload(&store, 60, 4);
    let middle = store.snapshot().unwrap();
    workload(&store, 60, 5);
    let head = store.head().0;
    // What every prefix looked like, from the intact store.
    let mut prefixes: BTreeMap<u64, Prefix> = (middle..=head)
        .map(|s| {
            let v = store.as_of(s).unwrap();
            (s, (v.state_hash(), v.head(), answers(&v)))
        })
        .collect();
    drop(store); // snapshot at `head`
    let cut = cut_tail(&dir, 3);
    assert!(cut > middle && cut < head, "cut at {cut}, middle {middle}, head {head}");
    (dir, head, cut, prefixes.remove(&cut).unwrap())
}

#[test]
fn truncated_tail_opens_as_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, head, cut, (hash, expected_head, expected_answers)) = truncated_store(tmp.path());

    // Without the snapshot ahead of the log: the prefix, and all is sound.
    let plain = tmp.path().join("plain");
    copy_dir(&dir, &plain, true);
    std::fs::remove_file(plain.join("snapshots").join(format!("snap-{head:020}.bin"))).unwrap();
    {
        let store = Store::open_with(&plain, options(0)).unwrap();
        assert!(store.warnings().is_empty(), "{:?}", store.warnings());
        assert_eq!((store.state_hash(), store.head()), (hash, expected_head));
        assert_eq!(answers(&store), expected_answers);
        let v = store.verify().unwrap();
        assert_eq!((v.events, v.head, v.state_hash), (cut, expected_head, hash));
    }

    // With it: it is skipped (with a warning); the older snapshot plus the fold give the prefix.
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert!(!store.warnings().is_empty(), "the snapshot ahead of the log was not reported");
    assert_eq!(store.head(), expected_head);
    assert_eq!(store.state_hash(), hash);
    assert_eq!(answers(&store), expected_answers);

    // The chain goes on from the prefix, past the old head; the stale snapshot is never used.
    workload(&store, 40, 6);
    assert!(store.head().0 > head, "the workload did not pass the old head");
    let log = store.session().log(cut, cut + 1).unwrap();
    assert_eq!((log[0].hash, log[1].prev), (expected_head.1, expected_head.1));
    let (new_head, new_hash) = (store.head(), store.state_hash());
    drop(store);
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert_eq!((store.head(), store.state_hash()), (new_head, new_hash));
    store.verify().unwrap();
    let replay = tmp.path().join("replay");
    copy_dir(&dir, &replay, false);
    assert_eq!(Store::open_with(&replay, options(0)).unwrap().state_hash(), new_hash);
}

#[test]
fn truncated_tail_verifies_with_a_snapshot_ahead_of_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, cut, (hash, expected_head, _)) = truncated_store(tmp.path());
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert!(!store.warnings().is_empty());
    let v = store.verify().unwrap_or_else(|e| panic!("verify after a truncated tail: {e}"));
    assert_eq!((v.events, v.head, v.state_hash), (cut, expected_head, hash));
    // And once a new event is committed on the prefix.
    store.session().create_artifact("after/the/cut").unwrap();
    store.verify().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Export and import
// ---------------------------------------------------------------------------------------------

fn exported(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let n = store.export_jsonl(&mut out).unwrap();
    let lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_string).collect();
    assert_eq!(n, lines.len() as u64);
    lines
}

#[test]
fn export_then_import_rebuilds_the_same_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with(tmp.path().join("a"), options(0)).unwrap();
    workload(&store, 150, 6);
    let lines = exported(&store);
    assert_eq!(lines.len() as u64, store.head().0);
    let text = lines.join("\n") + "\n";
    let copy = import_jsonl(&tmp.path().join("b"), text.as_bytes(), options(0)).unwrap();
    assert_eq!(copy.head(), store.head());
    assert_eq!(copy.state_hash(), store.state_hash());
    assert_eq!(answers(&copy), answers(&store));
    assert_eq!(exported(&copy), lines, "an import exports the same lines");
    copy.verify().unwrap();
    // Into a directory that holds a store: refused, nothing touched.
    let again = import_jsonl(&tmp.path().join("b"), text.as_bytes(), options(0));
    assert!(again.is_err());
    drop(copy);
    let reopened = Store::open_with(tmp.path().join("b"), options(0)).unwrap();
    assert_eq!(reopened.state_hash(), store.state_hash());
}

#[test]
fn empty_export_imports_an_empty_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::temporary().unwrap();
    assert!(exported(&store).is_empty());
    let copy = import_jsonl(&tmp.path().join("b"), &b""[..], options(0)).unwrap();
    assert_eq!(copy.head(), (0, [0; 32]));
    assert_eq!(copy.state_hash(), store.state_hash());
}

/// Imports an altered export: refused with Corruption naming `seq`, and no store left behind.
fn check_refused(lines: &[String], seq: u64, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("import");
    let text = lines.join("\n") + "\n";
    let r = import_jsonl(&target, text.as_bytes(), options(0));
    let at = match r {
        Err(Error::Corruption { at, .. }) => at,
        Err(other) => panic!("{what}: expected Corruption, got {other}"),
        Ok(s) => panic!("{what}: an altered export was imported (head {})", s.head().0),
    };
    assert_eq!(at, Some(seq), "{what}");
    assert!(!target.join("log").exists(), "{what}: the refused import left a log behind");
    assert!(!target.join("snapshots").exists(), "{what}: the refused import left snapshots behind");
}

fn altered_export() -> (Vec<String>, Vec<Json>) {
    let store = Store::temporary_with(options(0)).unwrap();
    workload(&store, 100, 7);
    let lines = exported(&store);
    let parsed = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    (lines, parsed)
}

fn find(parsed: &[Json], from: usize, pred: impl Fn(&Json) -> bool) -> usize {
    (from..parsed.len()).find(|i| pred(&parsed[*i])).expect("no such line")
}

fn is_value_create(e: &Json) -> bool {
    e["kind"] == "create" && e["record"]["type"] == "value"
}

#[test]
fn import_refuses_a_changed_canonical_value() {
    let (mut lines, mut parsed) = altered_export();
    let i = find(&parsed, lines.len() / 3, is_value_create);
    let canonical: String = fvstore::codec::canonical(&Value::Float(99.5)).iter().map(|b| format!("{b:02x}")).collect();
    parsed[i]["data"]["value"] = json!(99.5);
    parsed[i]["data"]["canonical"] = json!(canonical);
    lines[i] = parsed[i].to_string();
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "value and canonical changed");
}

#[test]
fn import_refuses_a_changed_plain_value() {
    let (mut lines, mut parsed) = altered_export();
    let i = find(&parsed, lines.len() / 3, |e| is_value_create(e) && e["data"]["value"].is_f64());
    parsed[i]["data"]["value"] = json!(parsed[i]["data"]["value"].as_f64().unwrap() + 1000.0);
    lines[i] = parsed[i].to_string();
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "plain value changed");
}

#[test]
fn import_refuses_a_changed_field() {
    let (mut lines, mut parsed) = altered_export();
    let i = find(&parsed, lines.len() / 3, |e| e["kind"] == "create" && e["record"]["type"] == "artifact");
    parsed[i]["data"]["key"] = json!("forged/key");
    lines[i] = parsed[i].to_string();
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "artifact key changed");

    let (mut lines, mut parsed) = altered_export();
    let i = find(&parsed, lines.len() / 2, |e| e["kind"] == "branch_change");
    parsed[i]["data"]["to"] = json!(2);
    lines[i] = parsed[i].to_string();
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "branch_change target changed");
}

#[test]
fn import_refuses_a_removed_line() {
    let (mut lines, parsed) = altered_export();
    let i = lines.len() / 2;
    lines.remove(i);
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "line removed");
}

#[test]
fn import_refuses_swapped_lines() {
    let (mut lines, parsed) = altered_export();
    let i = lines.len() / 2;
    lines.swap(i, i + 1);
    check_refused(&lines, parsed[i]["seq"].as_u64().unwrap(), "lines swapped");
}

#[test]
fn import_refuses_a_line_that_is_not_json() {
    let (mut lines, parsed) = altered_export();
    let i = lines.len() / 2;
    let half = lines[i].len() / 2;
    lines[i].truncate(half);
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("import");
    let r = import_jsonl(&target, (lines.join("\n") + "\n").as_bytes(), options(0));
    assert!(matches!(r, Err(Error::Corruption { .. })), "{:?}", r.map(|s| s.head()));
    assert!(!target.join("log").exists());
    let _ = parsed;
}

// ---------------------------------------------------------------------------------------------
// history, log, head
// ---------------------------------------------------------------------------------------------

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.data.kind()).collect()
}

#[test]
fn history_shows_every_event_of_a_value() {
    let store = Store::temporary_with(options(0)).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("temperature", "float")).unwrap();
    let art = me.create_artifact("sample").unwrap().id;
    let run = me.start_run("qc").unwrap().id;
    let draft = me.create_branch("draft").unwrap().id;
    let v = me.clone().on_branch(draft).get_or_create(Some("temperature".into()), 36.6).unwrap().0.id;
    me.link(v, Host::Artifact(art)).unwrap();
    me.link(v, Host::Run(run)).unwrap();
    me.unlink(v, Host::Artifact(art)).unwrap();
    me.merge_branch(draft).unwrap();
    me.delete(vref(v), false).unwrap(); // trash
    me.restore(vref(v)).unwrap();
    me.set_branch(vref(v), 2i64).unwrap(); // lock
    me.create_space("lab").unwrap();
    me.move_space(vref(v), "lab").unwrap();
    me.unlink(v, Host::Run(run)).unwrap();
    // Noise that does not touch the value.
    let other = me.get_or_create(Some("temperature".into()), 1.5).unwrap().0.id;
    me.link(other, Host::Artifact(art)).unwrap();

    let h = me.history(vref(v)).unwrap();
    assert_eq!(
        kinds(&h),
        [
            "create",
            "link",
            "link",
            "unlink",
            "merge",
            "branch_change",
            "branch_change",
            "branch_change",
            "space_change",
            "unlink"
        ]
    );
    assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
    let log = me.log(1, u64::MAX).unwrap();
    for e in &h {
        assert_eq!(&log[usize::try_from(e.seq - 1).unwrap()], e, "history gives the log's events");
    }
    // The branch changes carry their codes: trash, restore, lock.
    let moves: Vec<_> = h
        .iter()
        .filter_map(|e| match e.data {
            fvstore::EventData::BranchChange { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(moves, [(1, -1), (-1, 1), (1, 2)]);
    // The artifact's history has its creation and both link events of `v` plus the other link.
    let ah = me.history(RecordRef { kind: RecordType::Artifact, id: art }).unwrap();
    assert_eq!(kinds(&ah), ["create", "link", "unlink", "link"]);
    // The branch's history has its creation and the merge.
    let bh = me.history(RecordRef { kind: RecordType::Branch, id: u64::try_from(draft).unwrap() }).unwrap();
    assert_eq!(kinds(&bh), ["create", "merge"]);

    // A removed value's history keeps the removal (user 1 may read it).
    me.unlink(other, Host::Artifact(art)).unwrap();
    me.delete(vref(other), true).unwrap();
    let oh = me.history(vref(other)).unwrap();
    assert_eq!(kinds(&oh), ["create", "link", "unlink", "delete"]);
}

#[test]
fn log_ranges_are_inclusive() {
    let store = Store::temporary_with(options(0)).unwrap();
    workload(&store, 40, 8);
    let me = store.session();
    let head = store.head().0;
    let all = me.log(1, u64::MAX).unwrap();
    assert_eq!(all.len() as u64, head);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    assert_eq!(all.last().unwrap().hash, store.head().1);
    assert_eq!(all[0].prev, [0; 32]);
    assert!(all.windows(2).all(|w| w[1].prev == w[0].hash), "the chain links every event");
    assert!(all.windows(2).all(|w| w[1].at >= w[0].at + 1000), "1 ms apart at least");
    let seqs = |from, to| me.log(from, to).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(5, 7), [5, 6, 7]);
    assert_eq!(seqs(3, 3), [3]);
    assert_eq!(seqs(0, 2), [1, 2]);
    assert_eq!(seqs(head - 1, head + 10), [head - 1, head]);
    assert!(seqs(head + 1, head + 5).is_empty());
    assert!(seqs(7, 5).is_empty());
    assert_eq!(me.log(10, 20).unwrap(), all[9..20].to_vec());
    // The log is the instance owner's.
    let alice = store.as_user("alice").unwrap();
    assert!(matches!(alice.log(1, 5), Err(Error::PermissionDenied(_))));
}

#[test]
fn head_of_an_empty_store() {
    let tmp = tempfile::tempdir().unwrap();
    for store in [Store::temporary().unwrap(), Store::open(tmp.path()).unwrap()] {
        assert_eq!(store.head(), (0, [0; 32]));
        let v = store.verify().unwrap();
        assert_eq!((v.events, v.head), (0, (0, [0; 32])));
        assert!(store.session().log(1, u64::MAX).unwrap().is_empty());
        let exec = Exec::new(store.clone());
        let out: Json = serde_json::from_str(&exec.handle(r#"{"op":"head"}"#)).unwrap();
        assert_eq!(out, json!({"ok": {"seq": 0, "hash": "0".repeat(64)}}));
    }
}

// ---------------------------------------------------------------------------------------------
// as_of
// ---------------------------------------------------------------------------------------------

#[test]
fn as_of_answers_what_the_live_store_answered() {
    let tmp = tempfile::tempdir().unwrap();
    // Periodic snapshots, so that views start from the nearest one at or before their seq.
    let store = Store::open_with(tmp.path(), options(40)).unwrap();
    setup(&store);
    let me = store.session();
    let mut rng = Rng::new(9);
    let mut draft = None;
    let mut recorded: BTreeMap<u64, String> = BTreeMap::new();
    recorded.insert(store.head().0, answers(&store));
    for _ in 0..200 {
        random_op(&me, &mut rng, &mut draft);
        let (seq, now) = (store.head().0, answers(&store));
        if let Some(before) = recorded.get(&seq) {
            assert_eq!(before, &now, "a refused command changed what queries answer at {seq}");
        }
        recorded.insert(seq, now);
    }
    assert!(recorded.len() > 100, "the workload wrote too little: {}", recorded.len());
    for (seq, expected) in &recorded {
        let view = store.as_of(*seq).unwrap();
        assert_eq!(view.head().0, *seq);
        assert_eq!(&answers(&view), expected, "as_of({seq})");
    }
    // Views are read-only.
    let view = store.as_of(5).unwrap();
    assert!(view.session().create_artifact("nope").is_err());
    assert_eq!(store.as_of(0).unwrap().head(), (0, [0; 32]));
    assert!(store.as_of(store.head().0 + 1).is_err());
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

#[test]
fn subscription_delivers_every_event_in_order_then_live() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap(); // durable: group commit from 4 threads
    setup(&store);
    let early = store.subscribe(1).unwrap();
    let before = store.head().0;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let me = store.session();
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t);
                let mut draft = None;
                for _ in 0..60 {
                    random_op(&me, &mut rng, &mut draft);
                }
            })
        })
        .collect();
    // Subscribe while the writers run: the backlog and the live feed must meet exactly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.head().0 < before + 40 {
        assert!(std::time::Instant::now() < deadline, "the writers wrote too little");
        std::thread::yield_now();
    }
    let from = before + 20;
    let mid = store.subscribe(from).unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let late = store.subscribe(3).unwrap();
    let head = store.head().0;
    let log = store.session().log(1, u64::MAX).unwrap();
    assert_eq!(log.len() as u64, head);
    for (name, rx, first) in [("early", &early, 1), ("mid", &mid, from), ("late", &late, 3)] {
        let got: Vec<Event> = rx.try_iter().collect();
        let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (first..=head).collect::<Vec<_>>(), "{name}: from {first}, gapless, in order");
        assert_eq!(got, log[usize::try_from(first - 1).unwrap()..].to_vec(), "{name}: the log's events");
    }
    // And live: one more commit reaches every subscriber.
    store.session().create_artifact("live").unwrap();
    for rx in [&early, &mid, &late] {
        let e = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(e.seq, head + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// The exec ops of the audit surface
// ---------------------------------------------------------------------------------------------

/// Sends one request line; returns the parsed response.
fn send(exec: &Exec, line: &Json) -> Json {
    serde_json::from_str(&exec.handle(&line.to_string())).unwrap()
}

fn ok(exec: &Exec, line: Json) -> Json {
    let out = send(exec, &line);
    assert!(out.get("ok").is_some(), "{line} → {out}");
    out["ok"].clone()
}

fn error_kind(exec: &Exec, line: Json) -> String {
    let out = send(exec, &line);
    out["error"]["kind"].as_str().unwrap_or_else(|| panic!("{line} → {out}: expected an error")).to_string()
}

#[test]
fn exec_audit_ops() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with(tmp.path(), options(0)).unwrap();
    let exec = Exec::new(store.clone());
    ok(&exec, json!({"op":"create_feature","name":"temperature","dtype":"float"})); // 1
    ok(&exec, json!({"op":"create_user","handle":"alice"})); // 2
    let v = ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":36.6}))["record"]["id"].clone(); // 3
    ok(&exec, json!({"op":"create_artifact","key":"sample"})); // 4
    ok(&exec, json!({"op":"link","id":v,"artifact":1})); // 5
    ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":40.0})); // 6
    ok(&exec, json!({"op":"delete","id":v})); // 7: trashed
    let alice = json!({"user":"alice"});

    // head and log
    let head = ok(&exec, json!({"op":"head"}));
    assert_eq!(head, json!({"seq": 7, "hash": fvstore::codec::hex(&store.head().1)}));
    let log = ok(&exec, json!({"op":"log","from":3,"to":5}));
    let seqs: Vec<u64> = log.as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(log[2]["kind"], "link");
    assert_eq!(log[1]["hash"], log[2]["prev"]);
    assert_eq!(ok(&exec, json!({"op":"log"})).as_array().unwrap().len(), 7);
    assert_eq!(error_kind(&exec, json!({"op":"log","as":alice})), "PermissionDenied");
    assert_eq!(ok(&exec, json!({"op":"head","as":alice}))["seq"], 7, "head is open to all");

    // history
    let h = ok(&exec, json!({"op":"history","id":v}));
    let kinds: Vec<&str> = h.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["create", "link", "branch_change"]);
    assert_eq!(h[2]["data"], json!({"from": 1, "to": -1}));
    let h = ok(&exec, json!({"op":"history","record":{"type":"artifact","id":1}}));
    assert_eq!(h.as_array().unwrap().len(), 2);

    // as_of by seq
    let count = json!({"op":"count","where":{"feature":"temperature"}});
    for (seq, n) in [(0, 0), (2, 0), (3, 1), (5, 1), (6, 2), (7, 1)] {
        assert_eq!(ok(&exec, json!({"op":"as_of","seq":seq,"request":count})), json!(n), "as_of seq {seq}");
    }
    let got = ok(&exec, json!({"op":"as_of","seq":5,"request":{"op":"get","id":v}}));
    assert_eq!((got["branch_id"].clone(), got["artifact_ids"].clone()), (json!(1), json!([1])));
    let got = ok(&exec, json!({"op":"as_of","seq":4,"request":{"op":"get_values","artifact":1}}));
    assert_eq!(got, json!({}));
    let got = ok(&exec, json!({"op":"as_of","seq":5,"request":{"op":"get_values","artifact":1}}));
    assert_eq!(got, json!({"temperature": [36.6]}));
    assert_eq!(ok(&exec, json!({"op":"as_of","seq":4,"request":{"op":"head"}}))["seq"], 4);
    assert_eq!(
        error_kind(&exec, json!({"op":"as_of","seq":3,"request":{"op":"create_artifact","key":"x"}})),
        "InvalidInput",
        "as_of wraps read-only requests only"
    );
    // as_of by time: the last event at or before `at` (event n is stamped BASE + (n-1) ms).
    let events = ok(&exec, json!({"op":"log"}));
    let at = |seq: usize| events[seq - 1]["at"].as_str().unwrap().to_string();
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(3),"request":count})), json!(1));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(6),"request":count})), json!(2));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(6),"request":{"op":"head"}}))["seq"], 6);
    let between_3_and_4 = at(3).strip_suffix("000Z").map(|s| format!("{s}500Z")).unwrap();
    assert_eq!(ok(&exec, json!({"op":"as_of","at":between_3_and_4,"request":{"op":"head"}}))["seq"], 3);
    assert_eq!(ok(&exec, json!({"op":"as_of","at":"2000-01-01T00:00:00Z","request":count})), json!(0));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":"2100-01-01T00:00:00Z","request":{"op":"head"}}))["seq"], 7);

    // snapshot: user 1 only
    assert_eq!(error_kind(&exec, json!({"op":"snapshot","as":alice})), "PermissionDenied");
    assert_eq!(ok(&exec, json!({"op":"snapshot"})), json!({"seq": 7}));
    assert!(tmp.path().join("snapshots").join(format!("snap-{:020}.bin", 7)).exists());

    // verify: open to all
    let expected = json!({"ok": true, "events": 7,
                          "head": {"seq": 7, "hash": fvstore::codec::hex(&store.head().1)},
                          "state_hash": fvstore::codec::hex(&store.state_hash())});
    assert_eq!(ok(&exec, json!({"op":"verify"})), expected);
    assert_eq!(ok(&exec, json!({"op":"verify","as":alice})), expected);
}

#[test]
// postmortem: Session::history scanned the whole log, so inside as_of it showed events after
// the view's seq; fixed in af647e0.
fn exec_as_of_history_stops_at_its_seq() {
    let store = Store::temporary_with(options(0)).unwrap();
    let exec = Exec::new(store.clone());
    ok(&exec, json!({"op":"create_feature","name":"temperature","dtype":"float"}));
    let v = ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":36.6}))["record"]["id"].clone();
    ok(&exec, json!({"op":"delete","id":v}));
    ok(&exec, json!({"op":"restore","id":v}));
    let h = ok(&exec, json!({"op":"as_of","seq":2,"request":{"op":"history","id":v}}));
    let seqs: Vec<u64> = h.as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2], "the history of value {v} as of event 2");
}

// ---------------------------------------------------------------------------------------------
// Forged exports: every hash recomputed, so the chain checks out; the events themselves are
// ones no command could have made (SPEC §8: only valid events enter the log).
// ---------------------------------------------------------------------------------------------

/// The store's export with one forged event appended, re-hashed and chained; returns the lines
/// and the forged event's seq.
fn forged_export(store: &Store, record: RecordRef, data: fvstore::EventData) -> (Vec<String>, u64) {
    let events = store.session().log(1, u64::MAX).unwrap();
    let last = events.last().unwrap();
    let mut e = Event {
        seq: last.seq + 1,
        at: last.at + 1000,
        actor: 1,
        run: None,
        record,
        data,
        prev: last.hash,
        hash: [0; 32],
    };
    e.hash = fvstore::codec::event_hash(&e);
    let mut lines: Vec<String> = events.iter().map(|e| fvstore::protocol::render::event(e).to_string()).collect();
    lines.push(fvstore::protocol::render::event(&e).to_string());
    (lines, e.seq)
}

fn forgery_base() -> (Store, u64, fvstore::EventData) {
    let store = Store::temporary_with(options(0)).unwrap();
    workload(&store, 60, 11);
    let log = store.session().log(1, u64::MAX).unwrap();
    let creates: Vec<&Event> =
        log.iter().filter(|e| matches!(e.data, fvstore::EventData::CreateValue { .. })).collect();
    let next_value = creates.len() as u64 + 1;
    let data = creates.last().unwrap().data.clone();
    (store, next_value, data)
}

#[test]
fn import_refuses_a_rechained_link_to_a_missing_value() {
    let (store, next_value, _) = forgery_base();
    let (lines, seq) =
        forged_export(&store, vref(next_value + 10), fvstore::EventData::Link { host: Host::Artifact(1) });
    check_refused(&lines, seq, "link to a value that does not exist");
}

#[test]
fn import_refuses_a_rechained_duplicate_value() {
    let (store, next_value, data) = forgery_base();
    let (lines, seq) = forged_export(&store, vref(next_value), data);
    check_refused(&lines, seq, "a second value with an existing dedup key");
}

#[test]
fn import_refuses_a_rechained_value_with_a_wrong_content_hash() {
    let (store, next_value, data) = forgery_base();
    let fvstore::EventData::CreateValue { feature, branch, space, .. } = data else { unreachable!() };
    let value = fvstore::codec::canonical(&Value::Str("forged".into()));
    let data = fvstore::EventData::CreateValue { feature, value, hash: [7; 32], branch, space };
    let (lines, seq) = forged_export(&store, vref(next_value), data);
    check_refused(&lines, seq, "a value whose content hash is not its bytes' hash");
}

#[test]
fn import_refuses_a_rechained_duplicate_handle() {
    let (store, _, _) = forgery_base();
    let next_user = store.session().users().unwrap().len() as u64 + 1;
    let data = fvstore::EventData::CreateUser { handle: "ALICE".into() };
    let (lines, seq) = forged_export(&store, RecordRef { kind: RecordType::User, id: next_user }, data);
    check_refused(&lines, seq, "a second user 'alice'");
}
