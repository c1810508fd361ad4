//! Tamper evidence and truncated tails (SPEC §8, Audit and Recovery). Damage is made with sled
//! directly on a closed store: the tree `log` of `DIR/log` holds one record per group of
//! commits, keyed by its first sequence number (big-endian), encoded with
//! `fvstore::codec::encode_batch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bin::{fv, fv_stdin, text};
use common::workload::*;
use fvstore::protocol::Exec;
use fvstore::{import_jsonl, Event, Store, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Tampering and truncation, with sled on a closed store
// ---------------------------------------------------------------------------------------------

/// Rewrites the first event (at or after `min_seq`) that `pick` accepts with `change`, keeping
/// its stored hash. Returns its seq.
fn tamper(dir: &Path, min_seq: u64, pick: impl Fn(&Event) -> bool, change: impl FnOnce(&mut Event)) -> u64 {
    let db = common::raw_log::raw_log(dir);
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

/// Event `seq` of the closed store in `dir` as its record now reads (tampered: its stored hash
/// no longer its content's), rendered as an export line.
fn tampered_line(dir: &Path, seq: u64) -> String {
    let db = common::raw_log::raw_log(dir);
    let tree = db.open_tree("log").unwrap();
    for item in tree.iter() {
        let (_, v) = item.unwrap();
        if let Some(e) = fvstore::codec::decode_batch(&v).unwrap().events.into_iter().find(|e| e.seq == seq) {
            return fvstore::protocol::render::event(&e).to_string();
        }
    }
    panic!("no event {seq}");
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
    // Nor does exec's `log` hand out the events before it and stop: the answer is the error
    // alone, one line of JSON (CLI.md).
    let out: Json = serde_json::from_str(&Exec::new(store.clone()).handle(r#"{"op":"log"}"#)).unwrap();
    assert_eq!(out["error"]["kind"], "Corruption", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains(&seq.to_string()), "{out}");
    // A view through the bad event is not silently built.
    assert_eq!(corruption_at(store.as_of(seq).map(drop)), Some(seq), "as_of({seq})");
    assert!(store.as_of(seq - 1).is_ok());
    // Nor is it exported: the export stops at it, having written every event before it.
    let mut export = Vec::new();
    assert_eq!(corruption_at(store.export_jsonl(&mut export)), Some(seq), "export");
    assert_eq!(export.iter().filter(|b| **b == b'\n').count() as u64, seq - 1, "export before the damage");
    // And an export with the event as it now reads is not importable.
    let mut lines: Vec<String> = String::from_utf8(export).unwrap().lines().map(str::to_string).collect();
    let bad = store.session().log(seq, seq).map(drop);
    assert_eq!(corruption_at(bad), Some(seq), "log");
    lines.push(tampered_line(&replay, seq));
    let target = tmp.path().join("imported");
    let text = lines.join("\n") + "\n";
    assert_eq!(corruption_at(import_jsonl(&target, text.as_bytes(), options(0)).map(drop)), Some(seq), "import");
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

#[test]
fn damage_deep_in_a_long_log_is_reported_at_its_seq_by_a_full_replay() {
    // A replay reads and checks events on one thread and folds them on another, in chunks:
    // damage several chunks in must still stop it at the damaged event, with everything before
    // it folded (a view just before it opens).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let store = Store::open_with(&dir, options(0)).unwrap();
        let s = store.session();
        s.create_feature(&fvstore::FeatureSpec::new("n", "int")).unwrap();
        for i in 0..5_000 {
            s.get_or_create(Some("n".into()), i).unwrap();
        }
    }
    let seq = tamper(&dir, 4_321, |e| e.data.kind() == "create", |e| e.actor += 1);
    assert_eq!(seq, 4_321);
    let replay = tmp.path().join("replay");
    copy_dir(&dir, &replay, false);
    assert_eq!(corruption_at(Store::open_with(&replay, options(0)).map(drop)), Some(seq), "full replay");
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert_eq!(corruption_at(store.as_of(seq).map(drop)), Some(seq), "as_of({seq})");
    let before = store.as_of(seq - 1).unwrap();
    assert_eq!(before.head().0, seq - 1);
    assert_eq!(before.stats().values as u64, seq - 2, "every value before the damage");
}

#[test]
fn a_byte_flipped_inside_a_format_4_record_is_found_at_its_event() {
    // Damage to the stored bytes themselves, not a re-encoded event: a letter of a string value
    // in a record the log wrote (format 4 keeps 4 bytes of each event's hash): in the middle of
    // one `add_values` commit of three values and their links, and alone in its record.
    flipped_byte(true);
    flipped_byte(false);
}

fn flipped_byte(inside: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (marker, values_before) = {
        let store = Store::open_with(&dir, options(0)).unwrap();
        let s = store.session();
        s.create_feature(&fvstore::FeatureSpec::new("n", "int")).unwrap();
        s.create_feature(&fvstore::FeatureSpec::new("s", "str")).unwrap();
        let a = s.create_artifact("data/a.h5ad").unwrap();
        for i in 0..3_000 {
            s.get_or_create(Some("n".into()), i).unwrap();
            if i == 2_000 && !inside {
                s.get_or_create(Some("s".into()), Value::Str("marker-abcdef".into())).unwrap();
            }
            if i == 2_000 && inside {
                let values = [("n", Value::Int(-1)), ("s", Value::Str("marker-abcdef".into())), ("n", Value::Int(-2))];
                let values: Vec<(String, Value)> = values.into_iter().map(|(f, v)| (f.to_string(), v)).collect();
                s.add_values(fvstore::Host::Artifact(a.id), &values).unwrap();
            }
        }
        let events = s.log(1, store.head().0).unwrap();
        let is_marker =
            |e: &&Event| matches!(&e.data, fvstore::EventData::CreateValue { value, .. } if value.ends_with(b"abcdef"));
        let marker = events.iter().find(is_marker).unwrap().seq;
        let before = events
            .iter()
            .filter(|e| e.seq < marker && e.data.kind() == "create" && e.record.kind == fvstore::RecordType::Value);
        (marker, before.count())
    };
    {
        let db = common::raw_log::raw_log(&dir);
        let tree = db.open_tree("log").unwrap();
        let (k, v) = tree.iter().map(Result::unwrap).find(|(_, v)| v.windows(6).any(|w| w == b"abcdef")).unwrap();
        assert_eq!(v[0], 4, "the log writes format 4");
        let events = fvstore::codec::decode_batch(&v).unwrap().events;
        match inside {
            true => assert!(events.len() == 6 && events[0].seq < marker, "the marker is inside its record: {events:?}"),
            false => assert!(events.len() == 1 && events[0].seq == marker, "the marker is alone: {events:?}"),
        }
        let mut bytes = v.to_vec();
        let at = bytes.windows(6).position(|w| w == b"abcdef").unwrap();
        bytes[at] = b'x';
        tree.insert(k, bytes).unwrap();
        db.flush().unwrap();
    }
    let replay = tmp.path().join("replay");
    copy_dir(&dir, &replay, false);
    assert_eq!(corruption_at(Store::open_with(&replay, options(0)).map(drop)), Some(marker), "full replay");
    // From the snapshot at the head: verify, a view through the damage, and the log's reader
    // all name it; everything before it, in the same record too, is read.
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert_eq!(corruption_at(store.verify()), Some(marker), "verify");
    assert_eq!(corruption_at(store.as_of(marker).map(drop)), Some(marker), "as_of({marker})");
    let before = store.as_of(marker - 1).unwrap();
    assert_eq!(before.head().0, marker - 1);
    assert_eq!(before.stats().values, values_before, "every value before the damage");
    assert_eq!(store.session().log(1, marker - 1).unwrap().len() as u64, marker - 1);
    assert_eq!(corruption_at(store.session().log(1, marker)), Some(marker), "log");
    // An export stops at the damage with its error, where a format 3 log exported the changed
    // event for the import to refuse.
    assert_eq!(corruption_at(store.export_jsonl(Vec::new())), Some(marker), "export");
    // A subscription's backlog too: it never delivers the changed event.
    assert_eq!(corruption_at(store.subscribe(1).map(drop)), Some(marker), "subscribe");
}

/// Removes the last `n` records (commit groups) of the log; returns the new last seq.
fn cut_tail(dir: &Path, n: usize) -> u64 {
    let db = common::raw_log::raw_log(dir);
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

    // With it: the snapshot proves the log lost durable events (SPEC §8: damage is reported,
    // never silently skipped), so the open is refused at its seq and the file left in place.
    // Moved aside, the older snapshot plus the fold give the prefix.
    assert_eq!(corruption_at(Store::open_with(&dir, options(0)).map(drop)), Some(head), "open");
    let ahead = dir.join("snapshots").join(format!("snap-{head:020}.bin"));
    assert!(ahead.is_file());
    std::fs::rename(&ahead, ahead.with_extension("aside")).unwrap();
    let store = Store::open_with(&dir, options(0)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
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

/// The same through the binary: `verify` and `exec` refuse the store, naming the snapshot's
/// seq, exit code 3 and 1 as for any damaged log.
#[test]
fn truncated_tail_behind_a_snapshot_is_refused_by_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, head, _, _) = truncated_store(tmp.path());
    let db = dir.to_str().unwrap();
    let verify = fv(&["verify", "--db", db]);
    let err = text(&verify.stderr);
    assert_eq!(verify.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("corruption at sequence number {head}")) && err.contains("lost events"), "{err}");
    let out = fv_stdin(&["exec", "--db", db], "{\"op\":\"head\"}\n");
    let line: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(line["error"]["kind"], "Corruption", "{line}");
}

/// A snapshot in the middle of the log whose state is not the log's at its event (here: the
/// snapshot file of another store at the same seq, so its checksum and format are valid):
/// `verify` folds up to that event, compares, and names it.
#[test]
fn verify_names_a_snapshot_that_differs_from_the_replay_at_its_event() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshot_at = |dir: &Path, key: &str| {
        let store = Store::open_with(dir, options(0)).unwrap();
        for i in 0..20 {
            store.session().create_artifact(&format!("{key}/{i}")).unwrap();
        }
        let seq = store.snapshot().unwrap();
        (store, seq)
    };
    let (store, seq) = snapshot_at(&tmp.path().join("a"), "a");
    let (other, other_seq) = snapshot_at(&tmp.path().join("b"), "b");
    assert_eq!(seq, other_seq);
    for i in 0..5 {
        store.session().create_artifact(&format!("later/{i}")).unwrap();
    }
    let v = store.verify().unwrap();
    assert_eq!(v.events, seq + 5);
    let name = format!("snap-{seq:020}.bin");
    std::fs::copy(
        tmp.path().join("b").join("snapshots").join(&name),
        tmp.path().join("a").join("snapshots").join(&name),
    )
    .unwrap();
    drop(other);
    assert_eq!(corruption_at(store.verify()), Some(seq));
}
