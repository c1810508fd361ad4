//! SPEC §8 (the log, durability, snapshots, audit) as an operator reaches it through the
//! `fvstore` binary: export and import of edited exports, the directories an import leaves
//! behind, warnings about skipped snapshots, timestamps with and without `--clock`, and the
//! error lines and exit codes of the audit commands on a store held by another process.
//! (tests/cli.rs covers the happy paths of every command; this file pins the edges.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bin::*;

use serde_json::Value as Json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const CLOCK: &str = "2026-11-26T21:00:00Z";

/// Runs `exec` with the fixed clock; every response must be `ok`. Returns the responses.
fn exec_ok(db: &str, script: &str) -> Vec<Json> {
    let out = fv_stdin(&["exec", "--db", db, "--clock", CLOCK], script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Json> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (l, req) in lines.iter().zip(script.lines()) {
        assert!(l.get("ok").is_some(), "{req} -> {l}");
    }
    lines
}

/// Every kind of event but `grant`'s cousins: users, spaces, grants, features, artifacts, runs,
/// add_values and set_values (links and unlinks), a draft branch merged, a finished run, a
/// trashed and restored value, a space move, and a permanent artifact delete (a cascade).
const SCRIPT: &str = r#"{"op":"create_user","handle":"alice"}
{"op":"create_space","name":"lab"}
{"op":"grant","space":"lab","user":"alice","role":"write"}
{"op":"create_feature","name":"temp","dtype":"float"}
{"op":"create_feature","name":"n","dtype":"int"}
{"op":"create_artifact","key":"a1"}
{"op":"start_run","name":"r1"}
{"op":"add_values","artifact":1,"values":{"temp":1.5,"n":3}}
{"op":"set_values","artifact":1,"values":{"temp":2.5}}
{"op":"add_values","run":1,"values":{"temp":2.5,"n":4}}
{"op":"create_branch","name":"dev"}
{"op":"get_or_create","feature":"n","value":7,"as":{"branch":4}}
{"op":"merge_branch","branch":"dev"}
{"op":"finish_run","run":1}
{"op":"delete","id":1}
{"op":"restore","id":1}
{"op":"move_space","id":1,"space":"lab"}
{"op":"delete_artifact","artifact":1,"permanent":true}
"#;

const EVENTS: u64 = 27;

/// A store made by [`SCRIPT`]; returns its path.
fn sample(dir: &Path) -> String {
    let db = dir.to_str().unwrap().to_string();
    exec_ok(&db, SCRIPT);
    db
}

/// The sample's export, one string per line.
fn export_lines(db: &str) -> Vec<String> {
    ok(&["export", "--db", db]).lines().map(str::to_string).collect()
}

/// Imports `content` into `tmp/name`: refused with exit 3 and a line naming `seq`, and neither
/// the target nor any directory import made is left behind.
fn refused(tmp: &Path, name: &str, content: &[u8], seq: u64) {
    let file = tmp.join(format!("{name}.jsonl"));
    std::fs::write(&file, content).unwrap();
    let target = tmp.join(name);
    fails(
        &["import", "--db", target.to_str().unwrap(), file.to_str().unwrap()],
        3,
        &format!("corruption at sequence number {seq}:"),
    );
    assert!(!target.exists(), "{name}: a refused import left {} behind", target.display());
}

fn join(lines: &[String]) -> Vec<u8> {
    (lines.join("\n") + "\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Export and import
// ---------------------------------------------------------------------------------------------

/// SPEC §8: "an export of the log as JSON Lines and an import that rebuilds a store from such
/// an export": the copy has the same head, the same log, and answers as the original, also as
/// of a past event.
#[test]
fn an_import_answers_as_the_original() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = export_lines(&db);
    assert_eq!(lines.len() as u64, EVENTS);
    let file = tmp.path().join("e.jsonl");
    std::fs::write(&file, join(&lines)).unwrap();
    let copy = tmp.path().join("copy");
    let c = copy.to_str().unwrap();
    let i = ok_json(&["import", "--db", c, file.to_str().unwrap(), "--json"]);
    assert_eq!(i["events"], EVENTS);
    assert_eq!(export_lines(c), lines, "the copy exports the same lines");
    let questions = r#"{"op":"head"}
{"op":"log"}
{"op":"filter","where":{"branch":"all"}}
{"op":"history","record":{"type":"run","id":1}}
{"op":"history","record":{"type":"branch","id":4}}
{"op":"history","id":1}
{"op":"as_of","seq":12,"request":{"op":"filter","where":{"branch":"all"}}}
{"op":"as_of","at":"2026-11-26T21:00:00.0125Z","request":{"op":"get_values","artifact":1}}
{"op":"verify"}
"#;
    assert_eq!(exec_ok(c, questions), exec_ok(&db, questions));
}

/// SPEC §8 Recovery: "Damage the engine cannot repair is reported as `Corruption` naming the
/// sequence number". An export whose last line was cut short (a copy interrupted mid-write)
/// is refused naming the event that line should have held, as every other damaged line is.
#[test]
fn import_names_the_seq_of_a_truncated_last_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let all = join(&export_lines(&db));
    refused(tmp.path(), "cut", &all[..all.len() - 40], EVENTS);
    // Cut inside the first line: event 1.
    refused(tmp.path(), "cut1", &all[..30], 1);
}

/// The same for a line that is not UTF-8 (a damaged byte): `Corruption` at its event, exit 3,
/// not an `Io` error without a place.
#[test]
fn import_names_the_seq_of_a_line_that_is_not_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = export_lines(&db);
    let mut bytes = join(&lines[..5]);
    let mut bad = lines[5].clone().into_bytes();
    let at = bad.len() / 2;
    bad[at] = 0xff;
    bytes.extend_from_slice(&bad);
    bytes.push(b'\n');
    bytes.extend_from_slice(&join(&lines[6..]));
    refused(tmp.path(), "utf8", &bytes, 6);
}

/// CLI.md: import refuses an export that fails any check, "nothing is left behind then" —
/// also not the parent directories it created for `--db a/b/c`.
#[test]
fn a_refused_import_leaves_no_directory_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let mut lines = export_lines(&db);
    lines.remove(3);
    let file = tmp.path().join("gap.jsonl");
    std::fs::write(&file, join(&lines)).unwrap();
    let deep = tmp.path().join("new").join("deeper").join("store");
    fails(&["import", "--db", deep.to_str().unwrap(), file.to_str().unwrap()], 3, "corruption at sequence number 4:");
    assert!(!tmp.path().join("new").exists(), "a refused import left new/deeper behind");

    // A directory that existed (with a file of the user's) keeps exactly what it had.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    fails(&["import", "--db", mine.to_str().unwrap(), file.to_str().unwrap()], 3, "corruption at sequence number 4:");
    let left: Vec<_> = std::fs::read_dir(&mine).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("notes.txt")]);
}

/// Edited exports, each refused naming the first event that no longer checks out, and no
/// store left behind: a changed time, a removed first line, two lines swapped, a line
/// repeated, a changed actor, a changed kind, a renumbered event.
#[test]
fn import_refuses_edited_exports_naming_the_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = export_lines(&db);
    let edit = |i: usize, from: &str, to: &str| {
        let mut l = lines.clone();
        assert!(l[i].contains(from), "{} lacks {from}", l[i]);
        l[i] = l[i].replacen(from, to, 1);
        join(&l)
    };
    refused(tmp.path(), "at", &edit(9, "21:00:00.009000Z", "21:00:00.009500Z"), 10);
    refused(tmp.path(), "actor", &edit(2, "\"actor_id\":1", "\"actor_id\":2"), 3);
    refused(tmp.path(), "kind", &edit(8, "\"kind\":\"link\"", "\"kind\":\"unlink\""), 9);
    refused(tmp.path(), "seq", &edit(8, "\"seq\":9", "\"seq\":99"), 9);
    refused(tmp.path(), "first", &join(&lines[1..]), 1);
    let mut swapped = lines.clone();
    swapped.swap(4, 5);
    refused(tmp.path(), "swapped", &join(&swapped), 5);
    let mut repeated = lines.clone();
    repeated.insert(4, lines[3].clone());
    refused(tmp.path(), "repeated", &join(&repeated), 5);
}

/// SPEC silent: an export is a prefix of the log, so an export whose last whole lines were
/// removed imports as the shorter history (nothing in the file says how long it was). Pinned
/// so that a change here is deliberate.
#[test]
fn an_export_cut_at_a_line_boundary_imports_as_a_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = export_lines(&db);
    let file = tmp.path().join("prefix.jsonl");
    std::fs::write(&file, join(&lines[..20])).unwrap();
    let copy = tmp.path().join("copy");
    let i = ok_json(&["import", "--db", copy.to_str().unwrap(), file.to_str().unwrap(), "--json"]);
    assert_eq!(i["events"], 20);
}

/// CLI.md: import "refuses a directory that already holds a store" (exit 1), and leaves it
/// untouched.
#[test]
fn import_into_an_existing_store_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let other = tmp.path().join("o");
    let o = other.to_str().unwrap();
    exec_ok(o, "{\"op\":\"create_user\",\"handle\":\"zed\"}\n");
    let before = ok(&["export", "--db", o]);
    let file = tmp.path().join("e.jsonl");
    std::fs::write(&file, join(&export_lines(&db))).unwrap();
    fails(&["import", "--db", o, file.to_str().unwrap()], 1, "already holds a store");
    assert_eq!(ok(&["export", "--db", o]), before);
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

fn snapshot_files(db: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(Path::new(db).join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    v.sort();
    v
}

/// SPEC §8: "A snapshot that is corrupt, truncated or from another fold version is skipped
/// (with a warning)". CLI.md: warnings are `fvstore: warning: …` lines on stderr; `exec` keeps
/// the protocol on stdout, so its warning goes to stderr too — before this, exec skipped the
/// snapshot (and set it aside as `*.skipped`) without a word, so nobody ever learnt of it.
#[test]
fn exec_warns_on_stderr_when_it_skips_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let snap = snapshot_files(&db).pop().expect("exec's clean close writes a snapshot");
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
    let out = fv_stdin(&["exec", "--db", &db], "{\"op\":\"head\"}\n");
    assert!(out.status.success());
    let head: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(head["ok"]["seq"], EVENTS, "stdout is the protocol only");
    let err = text(&out.stderr);
    assert!(err.starts_with("fvstore: warning: skipped snapshot"), "exec's stderr: {err:?}");
    assert!(err.contains(snap.file_name().unwrap().to_str().unwrap()), "{err}");
}

/// SPEC §8: "the result of opening is always identical to a full replay", whether the newest
/// snapshot is truncated, garbage, or fine; an older valid snapshot is used when the newest is
/// not.
#[test]
fn a_truncated_snapshot_opens_as_a_full_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let replay = ok_json(&["replay", "--db", &db, "--json"]);
    assert_eq!(replay["matches_live_state"], true);
    // A second snapshot, one event later; then the newer one is truncated.
    exec_ok(&db, "{\"op\":\"create_user\",\"handle\":\"zed\"}\n");
    let full = ok_json(&["replay", "--db", &db, "--json"]);
    let snaps = snapshot_files(&db);
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let newest = &snaps[1];
    let bytes = std::fs::read(newest).unwrap();
    std::fs::write(newest, &bytes[..bytes.len() - 1]).unwrap();
    let out = fv(&["stats", "--db", &db, "--json"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).starts_with("fvstore: warning: skipped snapshot"), "{}", text(&out.stderr));
    let stats: Json = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(stats["events"], EVENTS + 1);
    let v = ok_json(&["verify", "--db", &db, "--json"]);
    assert_eq!(v["state_hash"], full["state_hash"]);
    assert_eq!(v["ok"], true);
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

fn micros(at: &Json) -> i64 {
    // "2026-11-26T21:00:00.005000Z": compare as strings of fixed width is enough for order, but
    // the gap needs numbers: hours, minutes, seconds and micros of the same day (or not).
    let s = at.as_str().unwrap();
    let (date, time) = s.split_once('T').unwrap();
    let day: i64 = date.replace('-', "").parse().unwrap();
    let t = time.trim_end_matches('Z');
    let (hms, frac) = t.split_once('.').unwrap();
    let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    day * 100_000_000_000 + ((p[0] * 60 + p[1]) * 60 + p[2]) * 1_000_000 + frac.parse::<i64>().unwrap()
}

/// SPEC §8: "an event is stamped no earlier than one millisecond after the event before it",
/// with the real clock (events of one commit included), and with a `--clock` earlier than the
/// log's last event (the log's order wins over the requested time).
#[test]
fn timestamps_are_a_millisecond_apart_with_any_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("t");
    let d = db.to_str().unwrap();
    let script = r#"{"op":"create_feature","name":"x","dtype":"int"}
{"op":"create_artifact","key":"k"}
{"op":"add_values","artifact":1,"values":{"x":1}}
{"op":"create_user","handle":"u"}
"#;
    let out = fv_stdin(&["exec", "--db", d], script);
    assert!(out.status.success());
    let out = fv_stdin(
        &["exec", "--db", d, "--clock", "2020-01-01T00:00:00Z"],
        "{\"op\":\"create_user\",\"handle\":\"v\"}\n",
    );
    assert!(out.status.success());
    let log = ok_json(&["log", "--db", d, "--json"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 6);
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
    }
    // Same day here, so the micros compare directly.
    for w in log.windows(2) {
        let gap = micros(&w[1]["at"]) - micros(&w[0]["at"]);
        assert!(gap >= 1000, "{} then {}", w[0]["at"], w[1]["at"]);
    }
    assert_eq!(micros(&log[5]["at"]) - micros(&log[4]["at"]), 1000, "a clock in the past: 1 ms after the last event");
}

// ---------------------------------------------------------------------------------------------
// Errors of the audit commands
// ---------------------------------------------------------------------------------------------

/// CLI.md: a failure is one line a person can act on. An import into a path that is a file,
/// or from a path that is a directory, named neither ("File exists (os error 17)", "Is a
/// directory (os error 21)"); both now name the path, and nothing is created.
#[test]
fn import_errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain");
    std::fs::write(&file, "").unwrap();
    let f = file.to_str().unwrap();
    fails(&["import", "--db", f, f], 1, &format!("{f} is not a directory"));
    let dir = tmp.path().to_str().unwrap();
    let target = tmp.path().join("t");
    fails(&["import", "--db", target.to_str().unwrap(), dir], 1, &format!("cannot read {dir}: it is a directory"));
    assert!(!target.exists());
}

/// SPEC silent on an import that is interrupted; a user expects it to leave no store that
/// looks whole. An import killed half-way (here: reading stdin, killed while it waits for the
/// rest) left `DIR/log` holding the events synced so far — a valid-looking store of 0 or a
/// prefix of the events, which then refused the retried import as "already holds a store".
/// Now the log is built aside and renamed into place only when complete.
#[test]
fn an_interrupted_import_leaves_no_store_and_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = export_lines(&db);
    let target = tmp.path().join("t");
    let t = target.to_str().unwrap();
    let mut child = Command::new(BIN)
        .args(["import", "--db", t, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&join(&lines[..10])).unwrap();
    stdin.flush().unwrap();
    // Wait until the import has made its directory (it has read and is building), then kill it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !target.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(!target.join("log").exists(), "a killed import left a store behind");
    fails(&["stats", "--db", t], 1, "no fvstore store at");
    // The retry builds the whole store.
    let file = tmp.path().join("e.jsonl");
    std::fs::write(&file, join(&lines)).unwrap();
    let i = ok_json(&["import", "--db", t, file.to_str().unwrap(), "--json"]);
    assert_eq!(i["events"], EVENTS);
    assert!(!target.join("log.importing").exists());
    assert_eq!(export_lines(t), lines);
}

/// SPEC §1 makes branch -1 (`trash`) a row like 0–3, and §9's `history` takes `record
/// {"type", "id"}`: its history is `[]`, as for branches 0–3 (no event touches a built-in
/// branch). It was refused as `InvalidInput` ("must be a non-negative integer id"), and
/// `fvstore history --type branch -- -1` as bad usage (exit 2): a branch's signed id now
/// travels in `RecordRef` as its bits (`RecordRef::branch`).
#[test]
fn history_of_the_trash_branch_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let out = fv_stdin(&["exec", "--db", &db], "{\"op\":\"history\",\"record\":{\"type\":\"branch\",\"id\":-1}}\n");
    let r: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(r, serde_json::json!({"ok": []}));
    ok(&["history", "--db", &db, "--type", "branch", "--", "-1"]);
}

/// SPEC §8 "A snapshot that is corrupt, truncated … is skipped (with a warning)". An `as_of`
/// that builds its view from an older, damaged snapshot falls back to an earlier one or a
/// replay (the answer is right); its warning stayed in the view's own `Store::warnings`,
/// which exec never printed. Now exec prints the warnings of the views it makes on stderr
/// (`Exec::take_warnings`); the file is not set aside by a view (only opening does that).
#[test]
fn as_of_warns_when_it_skips_a_damaged_older_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    exec_ok(&db, "{\"op\":\"create_user\",\"handle\":\"zed\"}\n");
    let snaps = snapshot_files(&db);
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let older = &snaps[0];
    let bytes = std::fs::read(older).unwrap();
    std::fs::write(older, &bytes[..bytes.len() - 3]).unwrap();
    let q = format!(
        "{{\"op\":\"as_of\",\"seq\":{EVENTS},\"request\":{{\"op\":\"count\",\"where\":{{\"branch\":\"all\"}}}}}}\n"
    );
    let out = fv_stdin(&["exec", "--db", &db], &q);
    let r: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(r.get("ok").is_some(), "{r}");
    assert!(text(&out.stderr).contains("fvstore: warning: skipped snapshot"), "stderr: {:?}", text(&out.stderr));
}
