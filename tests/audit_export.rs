//! Export and import of the log as JSON Lines (SPEC §8): a round trip rebuilds the same store;
//! altered, reordered, truncated or forged exports (every hash recomputed, so the chain checks
//! out, but events no command could have made) are refused and leave no store behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bin::{fv, fv_stdin, text};
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
    assert_eq!(answers(&reopened), answers(&store));
    // Into a directory that holds another store's snapshots (its log removed): refused, the
    // snapshots untouched; they would be taken for the new store's at its next open.
    drop(reopened);
    std::fs::remove_dir_all(tmp.path().join("b").join("log")).unwrap();
    let snaps = || std::fs::read_dir(tmp.path().join("b").join("snapshots")).unwrap().count();
    let before = snaps();
    assert!(before > 0);
    let again = import_jsonl(&tmp.path().join("b"), text.as_bytes(), options(0));
    assert!(matches!(&again, Err(Error::ValidationError(m)) if m.contains("snapshots")), "{:?}", again.map(drop));
    assert_eq!(snaps(), before);
    assert!(!tmp.path().join("b").join("log").exists());
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

/// Every kind of event, every shape of value, names JSON must escape: the export is byte for
/// byte the file the engine wrote when events were still rendered through `serde_json::Value`
/// (before `EventJson`), so the format users keep cannot drift.
#[test]
fn export_lines_are_pinned_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let requests = std::fs::read_to_string(golden.join("export_kinds.requests")).unwrap();
    let db = db.to_str().unwrap();
    let answers = text(&fv_stdin(&["exec", "--db", db, "--clock", "2026-01-01T00:00:00Z"], &requests).stdout);
    assert!(answers.lines().all(|l| l.starts_with("{\"ok\"")), "{answers}");
    let out = fv(&["export", "--db", db]);
    let expected = std::fs::read_to_string(golden.join("export_kinds.jsonl")).unwrap();
    let actual = String::from_utf8(out.stdout).unwrap();
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "line {}", i + 1);
    }
    assert_eq!(actual.lines().count(), expected.lines().count());
    // `exec`'s `log` writes the same objects, byte for byte, in one array.
    let log = text(&fv_stdin(&["exec", "--db", db], "{\"op\":\"log\"}\n").stdout);
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(log.trim_end(), format!("{{\"ok\":[{}]}}", lines.join(",")));
}

/// An `as_of` view exports the log up to its seq, and that export imports to the view's state.
#[test]
fn export_of_a_view_ends_at_its_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with(tmp.path().join("a"), options(0)).unwrap();
    workload(&store, 150, 9);
    let all = exported(&store);
    let seq = store.head().0 / 2;
    let view = store.as_of(seq).unwrap();
    let lines = exported(&view);
    assert_eq!(lines.as_slice(), all.get(..usize::try_from(seq).unwrap()).unwrap());
    let text = lines.join("\n") + "\n";
    let copy = import_jsonl(&tmp.path().join("b"), text.as_bytes(), options(0)).unwrap();
    assert_eq!(copy.head(), view.head());
    assert_eq!(copy.state_hash(), view.state_hash());
}

/// Imports an altered export: refused with Corruption naming `seq`, and nothing left behind,
/// not even the directories the import made (the target and its new parent).
fn check_refused(lines: &[String], seq: u64, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("new").join("import");
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
    assert!(!tmp.path().join("new").exists(), "{what}: the refused import left the directories it made");
    assert!(tmp.path().exists(), "{what}: the refused import removed a directory it did not make");
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

// ---------------------------------------------------------------------------------------------
// Forged references: every record an imported event names must exist when it is folded, and no
// event may leave a reference dangling.
// ---------------------------------------------------------------------------------------------

/// A store whose ids are known: features 1 `n` (values 1 and 2) and 2 `m`; user 2 `alice`;
/// space 2 `lab`; runs 1 (value 2 created under it), 2 (value 1 linked to it) and 3
/// (finished); artifact 1 (value 1 linked to it); branches 4 `draft` (open) and 5 `done`
/// (merged).
fn reference_base() -> Store {
    let store = Store::temporary_with(options(0)).unwrap();
    let me = store.session();
    me.create_feature(&fvstore::FeatureSpec::new("n", "int")).unwrap();
    me.create_feature(&fvstore::FeatureSpec::new("m", "int")).unwrap();
    me.create_user("alice").unwrap();
    me.create_space("lab").unwrap();
    for name in ["used", "linked", "finished"] {
        me.start_run(name).unwrap();
    }
    me.finish_run(3).unwrap();
    me.create_artifact("a").unwrap();
    me.create_branch("draft").unwrap();
    me.create_branch("done").unwrap();
    me.clone().on_branch(5).create_artifact("b").unwrap();
    me.merge_branch("done").unwrap();
    assert_eq!(me.get_or_create(Some("n".into()), 1).unwrap().0.id, 1);
    assert_eq!(me.clone().with_run(1).get_or_create(Some("n".into()), 2).unwrap().0.id, 2);
    me.link(1, Host::Artifact(1)).unwrap();
    me.link(1, Host::Run(2)).unwrap();
    store
}

/// The base's export with one event appended (re-hashed and chained), imported.
fn import_appended(
    store: &Store,
    actor: u64,
    run: Option<u64>,
    record: RecordRef,
    data: fvstore::EventData,
) -> Result<Store, Error> {
    import_appended_after(store, 1000, actor, run, record, data)
}

/// `import_appended`, the event stamped `after` µs after the last one.
fn import_appended_after(
    store: &Store,
    after: i64,
    actor: u64,
    run: Option<u64>,
    record: RecordRef,
    data: fvstore::EventData,
) -> Result<Store, Error> {
    let events = store.session().log(1, u64::MAX).unwrap();
    let last = events.last().unwrap();
    let mut e =
        Event { seq: last.seq + 1, at: last.at + after, actor, run, record, data, prev: last.hash, hash: [0; 32] };
    e.hash = fvstore::codec::event_hash(&e);
    let mut lines: Vec<String> = events.iter().map(|e| fvstore::protocol::render::event(e).to_string()).collect();
    lines.push(fvstore::protocol::render::event(&e).to_string());
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("import");
    let r = import_jsonl(&target, (lines.join("\n") + "\n").as_bytes(), options(0));
    if r.is_err() {
        assert!(!target.join("log").exists(), "a refused import left a log behind");
    }
    r
}

fn new_int(feature: Option<u64>, n: i64, branch: i64, space: u64) -> fvstore::EventData {
    let value = fvstore::codec::canonical(&Value::Int(n));
    let hash = *blake3::hash(&value).as_bytes();
    fvstore::EventData::CreateValue { feature, value, hash, branch, space }
}

#[test]
fn import_refuses_rechained_events_that_name_missing_or_wrong_records() {
    use fvstore::EventData as D;
    let store = reference_base();
    let rec = |kind, id| RecordRef { kind, id };
    let (run, feature, artifact, branch, space) =
        (RecordType::Run, RecordType::Feature, RecordType::Artifact, RecordType::Branch, RecordType::Space);
    // The control: a valid event forged the same way imports.
    let ok = import_appended(&store, 1, Some(2), vref(2), D::Link { host: Host::Artifact(1) });
    assert!(ok.is_ok(), "a valid appended event was refused: {:?}", ok.err());
    let ok = import_appended(&store, 1, None, vref(3), new_int(Some(2), 3, 4, 2));
    assert!(ok.is_ok(), "a valid appended value was refused: {:?}", ok.err());
    // What the engines of the project's first hour could draft, whose logs must still open, is
    // left to the commands: a link of a linked pair, an unlink of an unlinked one, a restore
    // "from" a branch the value is no longer on, and deleting a run that records were created
    // under (run 1, value 2's run, whose `run_id` then names a run that is gone).
    let tolerated = [
        (vref(1), D::Link { host: Host::Artifact(1) }),
        (vref(2), D::Unlink { host: Host::Artifact(1) }),
        (vref(1), D::BranchChange { from: -1, to: 1 }),
        (rec(run, 1), D::Delete),
    ];
    for (record, data) in tolerated {
        let label = format!("{record:?} {data:?}");
        let ok = import_appended(&store, 1, None, record, data);
        assert!(ok.is_ok(), "{label} was refused: {:?}", ok.err());
    }
    let cases: Vec<(u64, Option<u64>, RecordRef, D, &str)> = vec![
        (9, None, rec(run, 4), D::CreateRun { name: "x".into() }, "user 9, which does not exist"),
        (1, Some(9), rec(run, 4), D::CreateRun { name: "x".into() }, "run 9, which does not exist"),
        (1, None, vref(2), D::Link { host: Host::Artifact(9) }, "artifact 9, which does not exist"),
        (1, None, vref(2), D::Link { host: Host::Run(u64::MAX) }, "does not exist"),
        (1, None, vref(3), new_int(Some(9), 3, 1, 1), "feature 9, which does not exist"),
        (1, None, vref(3), new_int(Some(1), 3, -1, 1), "branch -1"),
        (1, None, vref(3), new_int(Some(1), 3, 5, 1), "branch 5"),
        (1, None, vref(3), new_int(Some(1), 3, 9, 1), "branch 9"),
        (1, None, vref(3), new_int(Some(1), 3, 1, 9), "space 9, which does not exist"),
        (1, None, rec(artifact, 3), D::CreateArtifact { key: "k".into(), branch: 1, space: 9 }, "space 9"),
        (1, None, rec(artifact, 1), D::Delete, "value 1 is still linked"),
        (1, None, rec(run, 2), D::Delete, "value 1 is still linked"),
        (1, None, rec(feature, 1), D::Delete, "values of it remain"),
        (1, None, vref(1), D::BranchChange { from: 1, to: 9 }, "branch 9, which does not exist"),
        (1, None, vref(1), D::SpaceChange { from: 1, to: 9 }, "space 9, which does not exist"),
        (1, None, vref(1), D::SpaceChange { from: 2, to: 1 }, "it is in space 1"),
        (1, None, rec(branch, 1), D::Merge { moved: vec![] }, "not an open user branch"),
        (1, None, rec(branch, 5), D::Merge { moved: vec![] }, "not an open user branch"),
        (1, None, rec(branch, 4), D::Merge { moved: vec![vref(1)] }, "it is on branch 1"),
        (1, None, rec(space, 9), D::Grant { user: 2, role: Some(fvstore::Role::Read) }, "space 9"),
        (1, None, rec(space, 2), D::Grant { user: 9, role: Some(fvstore::Role::Read) }, "user 9"),
        (1, None, rec(run, 3), D::RunFinish, "finished a second time"),
    ];
    let seq = store.head().0 + 1;
    for (actor, under, record, data, what) in cases {
        let label = format!("{record:?} {data:?} by {actor} under {under:?}");
        match import_appended(&store, actor, under, record, data) {
            Err(Error::Corruption { at, reason }) => {
                assert_eq!(at, Some(seq), "{label}");
                assert!(reason.contains(what), "{label}: {reason:?} does not say {what:?}");
            }
            Err(other) => panic!("{label}: expected Corruption, got {other}"),
            Ok(s) => panic!("{label}: imported (head {})", s.head().0),
        }
    }
}

/// SPEC §8: each event is stamped at least a millisecond after the one before; an export whose
/// times go backwards or bunch up is refused, and the binary search of `as_of` by time can
/// rely on the order.
#[test]
fn import_refuses_a_rechained_event_stamped_too_early() {
    let store = reference_base();
    let seq = store.head().0 + 1;
    let link = || fvstore::EventData::Link { host: Host::Artifact(1) };
    for after in [1000, 1001, 86_400_000_000] {
        let ok = import_appended_after(&store, after, 1, None, vref(2), link());
        assert!(ok.is_ok(), "{after} µs later was refused: {:?}", ok.err());
    }
    for after in [999, 1, 0, -1, -86_400_000_000] {
        match import_appended_after(&store, after, 1, None, vref(2), link()) {
            Err(Error::Corruption { at, reason }) => {
                assert_eq!(at, Some(seq), "{after}");
                assert!(reason.contains("less than 1 ms after the event before it"), "{after}: {reason}");
            }
            Err(other) => panic!("{after} µs later: expected Corruption, got {other}"),
            Ok(s) => panic!("{after} µs later: imported (head {})", s.head().0),
        }
    }
}
