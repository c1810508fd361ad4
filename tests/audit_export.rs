//! Export and import of the log as JSON Lines (SPEC §8): a round trip rebuilds the same store;
//! altered, reordered, truncated or forged exports (every hash recomputed, so the chain checks
//! out, but events no command could have made) are refused and leave no store behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::workload::*;
use fvstore::{import_jsonl, Error, Event, Host, RecordRef, RecordType, Store, Value};
use serde_json::{json, Value as Json};

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
