//! The `fvstore` binary, run as a person or a script would: every command, its `--json` output,
//! and the errors a person must be able to act on (a wrong path, a store held by another
//! process, a damaged store) — one line on stderr, a non-zero exit code, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bin::*;

use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"{"op":"create_user","handle":"alice"}
{"op":"create_feature","name":"temperature","dtype":"float"}
{"op":"create_feature","name":"params","dtype":"dict"}
{"op":"get_or_create","feature":"temperature","value":36.6}
{"op":"get_or_create","feature":"temperature","value":36.6}
{"op":"create_artifact","key":"data/a.h5ad"}
{"op":"add_values","artifact":1,"values":{"temperature":37.5,"params":{"lr":0.001}}}
{"op":"delete","id":1}
{"op":"get_or_create","feature":"temperature","value":38.0,"as":{"user":"alice"}}
"#;

/// A store with 11 events made through `exec` with a fixed clock.
fn sample(dir: &Path) -> String {
    let db = dir.to_str().unwrap().to_string();
    let out = fv_stdin(&["exec", "--db", &db, "--clock", "2026-11-26T21:00:00Z"], SCRIPT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Json> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 9);
    assert!(lines.iter().all(|l| l.get("ok").is_some()), "{lines:?}");
    assert_eq!(lines[4]["ok"]["existed"], true);
    db
}

#[test]
fn every_command_has_help() {
    for cmd in
        ["demo", "init", "exec", "log", "history", "verify", "snapshot", "export", "import", "replay", "stats", "dump"]
    {
        let out = ok(&[cmd, "--help"]);
        assert!(out.contains("Usage: fvstore"), "{cmd}: {out}");
    }
    let top = ok(&["--help"]);
    for cmd in ["demo", "init", "exec", "log", "history", "verify", "snapshot", "export", "import", "replay", "stats"] {
        assert!(top.contains(cmd), "{cmd} missing from --help");
    }
    // No command: usage on stderr, exit 2 (clap's code for bad usage).
    assert_eq!(fv(&[]).status.code(), Some(2));
    assert_eq!(fv(&["stats"]).status.code(), Some(2));
}

#[test]
fn init_creates_an_empty_store_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    assert!(ok(&["init", d]).contains("created an empty store"));
    let stats = ok_json(&["stats", "--db", d, "--json"]);
    assert_eq!(stats["events"], 0);
    assert_eq!(stats["counts"]["users"], 1);
    fails(&["init", d], 1, "already holds a store");
    let other = tmp.path().join("t");
    let j = ok_json(&["init", other.to_str().unwrap(), "--json"]);
    assert_eq!(j["head"]["seq"], 0);
    assert_eq!(j["head"]["hash"], "0".repeat(64));
}

#[test]
fn log_lists_and_filters_events() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let all = ok_json(&["log", "--db", &db, "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 11);
    assert_eq!(all[0]["kind"], "create");
    assert_eq!(all[0]["at"], "2026-11-26T21:00:00.000000Z");
    let text = ok(&["log", "--db", &db]);
    assert!(text.lines().next().unwrap().contains("seq"), "{text}");
    assert!(text.contains("branch_change") && text.contains("handle=alice"), "{text}");
    let seqs = |j: Json| j.as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--from", "3", "--to", "4", "--json"])), vec![3, 4]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--kind", "link", "--json"])), vec![7, 9]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--kind", "branch_change", "--json"])), vec![10]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--user", "alice", "--json"])), vec![11]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--user", "2", "--json"])), vec![11]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--record", "value:1", "--json"])), vec![4, 10]);
    assert_eq!(seqs(ok_json(&["log", "--db", &db, "--record", "artifact:1", "--json"])), vec![5, 7, 9]);
    assert!(ok(&["log", "--db", &db, "--kind", "merge"]).contains("no events match"));
    fails(&["log", "--db", &db, "--user", "nobody"], 1, "no user 'nobody'");
    assert_eq!(fv(&["log", "--db", &db, "--record", "value"]).status.code(), Some(2));
    assert_eq!(fv(&["log", "--db", &db, "--kind", "explode"]).status.code(), Some(2));
}

#[test]
fn history_of_values_and_other_records() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let h = ok_json(&["history", "--db", &db, "1", "--json"]);
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["create", "branch_change"]);
    assert_eq!(h["current"]["branch_id"], -1);
    assert_eq!(h["current"]["value"], 36.6);
    let t = ok(&["history", "--db", &db, "2"]);
    assert!(t.contains("history of value 2: 2 events") && t.contains("link"), "{t}");
    let f = ok_json(&["history", "--db", &db, "1", "--type", "artifact", "--json"]);
    assert_eq!(f["events"].as_array().unwrap().len(), 3);
    let u = ok_json(&["history", "--db", &db, "2", "--type", "user", "--as", "alice", "--json"]);
    assert_eq!(u["events"][0]["data"]["handle"], "alice");
    fails(&["history", "--db", &db, "99"], 1, "no value 99");
    fails(&["history", "--db", &db, "1", "--as", "nobody"], 1, "no user with handle 'nobody'");
}

#[test]
fn verify_snapshot_replay_stats_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let v = ok_json(&["verify", "--db", &db, "--json"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["events"], 11);
    assert!(ok(&["verify", "--db", &db]).starts_with("ok: 11 events verified"));
    let snap = ok_json(&["snapshot", "--db", &db, "--json"]);
    assert_eq!(snap["seq"], 11);
    assert!(snap["bytes"].as_u64().unwrap() > 0);
    assert!(ok(&["snapshot", "--db", &db]).contains("snapshot written at event 11"));
    let r = ok_json(&["replay", "--db", &db, "--json"]);
    assert_eq!(r["state_hash"], v["state_hash"]);
    assert_eq!(r["matches_live_state"], true);
    assert_eq!(r["counts"]["values"], 4);
    let early = ok_json(&["replay", "--db", &db, "--to", "4", "--json"]);
    assert_eq!(early["events"], 4);
    assert_eq!(early["counts"]["values"], 1);
    assert_ne!(early["state_hash"], v["state_hash"]);
    assert!(ok(&["replay", "--db", &db]).contains("equals the live state"));
    fails(&["replay", "--db", &db, "--to", "99"], 1, "the log ends at event 11");
    let s = ok_json(&["stats", "--db", &db, "--json"]);
    assert_eq!(s["events"], 11);
    assert_eq!(s["counts"]["values"], 4);
    assert_eq!(s["counts"]["links"], 2);
    assert_eq!(s["values_by_state"]["trash"], 1);
    assert_eq!(s["values_by_state"]["main"], 3);
    assert_eq!(s["snapshot"]["seq"], 11);
    assert!(s["disk_bytes"].as_u64().unwrap() > 0);
    let st = ok(&["stats", "--db", &db]);
    assert!(st.contains("registry") && st.contains("values") && st.contains("snapshot  at event 11"), "{st}");
    let dump = ok(&["dump", "--db", &db]);
    assert!(dump.lines().any(|l| l.starts_with("log\t") && l.contains("create user 2")), "{dump}");
}

#[test]
fn export_and_import_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let lines = ok(&["export", "--db", &db]);
    assert_eq!(lines.lines().count(), 11);
    for l in lines.lines() {
        serde_json::from_str::<Json>(l).unwrap();
    }
    let file = tmp.path().join("log.jsonl");
    let f = file.to_str().unwrap();
    let e = ok_json(&["export", "--db", &db, "--out", f, "--json"]);
    assert_eq!(e["events"], 11);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), lines);
    assert!(ok(&["export", "--db", &db, "-o", f]).contains("exported 11 events"));

    let copy = tmp.path().join("copy");
    let c = copy.to_str().unwrap();
    let i = ok_json(&["import", "--db", c, f, "--json"]);
    assert_eq!(i["events"], 11);
    let v = ok_json(&["verify", "--db", &db, "--json"]);
    assert_eq!(i["state_hash"], v["state_hash"]);
    assert_eq!(ok_json(&["verify", "--db", c, "--json"])["state_hash"], v["state_hash"]);
    fails(&["import", "--db", c, f], 1, "already holds a store");
    // From stdin.
    let out = fv_stdin(&["import", "--db", tmp.path().join("piped").to_str().unwrap(), "-"], &lines);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 11 events"));

    // A tampered export is refused, naming the event, and leaves no store behind.
    let tampered = lines.replacen("\"handle\":\"alice\"", "\"handle\":\"mallory\"", 1);
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, tampered).unwrap();
    let target = tmp.path().join("bad");
    fails(&["import", "--db", target.to_str().unwrap(), bad.to_str().unwrap()], 3, "corruption at sequence number 1");
    assert!(!target.exists());
    fails(&["import", "--db", target.to_str().unwrap(), "/no/such/file.jsonl"], 1, "cannot read /no/such/file.jsonl");
}

#[test]
fn a_wrong_path_is_an_error_not_a_new_store() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("nowhere");
    let n = nowhere.to_str().unwrap();
    for args in [
        vec!["log", "--db", n],
        vec!["history", "--db", n, "1"],
        vec!["verify", "--db", n],
        vec!["snapshot", "--db", n],
        vec!["export", "--db", n],
        vec!["replay", "--db", n],
        vec!["stats", "--db", n, "--json"],
        vec!["dump", "--db", n],
    ] {
        fails(&args, 1, "no fvstore store at");
    }
    assert!(!nowhere.exists(), "a read command created a store");
}

#[test]
fn a_store_held_by_another_process_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    let mut holder = Command::new(BIN)
        .args(["exec", "--db", &db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(stdin, r#"{{"op":"head"}}"#).unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("\"seq\":11"), "{line}");
    let out_file = tmp.path().join("x.jsonl");
    for args in [
        vec!["stats", "--db", &db],
        vec!["verify", "--db", &db],
        vec!["log", "--db", &db],
        vec!["export", "--db", &db],
        vec!["export", "--db", &db, "--out", out_file.to_str().unwrap()],
        vec!["snapshot", "--db", &db],
        vec!["history", "--db", &db, "1"],
        vec!["replay", "--db", &db],
        vec!["dump", "--db", &db],
    ] {
        fails(&args, 1, "held by another process");
    }
    assert!(!out_file.exists(), "export --out made its file before it could open the store");
    let e = tmp.path().join("e.jsonl");
    std::fs::write(&e, "").unwrap();
    fails(&["import", "--db", &db, e.to_str().unwrap()], 1, "already holds a store");
    // exec answers with one JSON error line and a non-zero exit.
    let out = fv_stdin(&["exec", "--db", &db], "{\"op\":\"head\"}\n");
    assert!(!out.status.success());
    let err: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(err["error"]["kind"], "Io");
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    ok(&["stats", "--db", &db]);
}

/// Overwrites a file with garbage of the same length.
fn garble(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len() as usize;
    let junk: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(path, junk).unwrap();
}

fn snapshots(db: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(Path::new(db).join("snapshots")).unwrap().map(|e| e.unwrap().path()).collect()
}

#[test]
fn a_damaged_store_is_reported_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample(&tmp.path().join("s"));
    ok(&["snapshot", "--db", &db]);
    // A garbage snapshot is skipped with a warning (the log still rebuilds the state) and set
    // aside as `*.skipped`, so verify then finds a sound store.
    for s in snapshots(&db) {
        std::fs::write(&s, b"not a snapshot").unwrap();
    }
    let out = fv(&["stats", "--db", &db, "--json"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).starts_with("fvstore: warning: skipped snapshot"), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_str::<Json>(&text(&out.stdout)).unwrap()["events"], 11);
    assert!(snapshots(&db).iter().any(|p| p.extension().is_some_and(|e| e == "skipped")));
    ok(&["verify", "--db", &db]);

    // A garbage log cannot be opened by anyone.
    for s in snapshots(&db) {
        std::fs::write(&s, b"not a snapshot").unwrap();
    }
    garble(&Path::new(&db).join("log").join("db"));
    for args in [vec!["stats", "--db", &db], vec!["verify", "--db", &db], vec!["export", "--db", &db]] {
        let out = fv(&args);
        assert!(!out.status.success(), "{args:?} succeeded on a damaged store");
        let err = text(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("fvstore: warning:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].starts_with("fvstore: error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = fv_stdin(&["exec", "--db", &db], "{\"op\":\"head\"}\n");
    assert!(!out.status.success());
    let err: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(["Corruption", "Io"].contains(&err["error"]["kind"].as_str().unwrap()), "{err}");
}

#[test]
fn exec_keeps_the_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("new").to_str().unwrap().to_string();
    let out = fv_stdin(&["exec", "--db", &db], "not json\n{\"op\":\"head\"}\n");
    assert!(out.status.success());
    let lines: Vec<Json> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["error"]["kind"], "InvalidInput");
    assert_eq!(lines[1]["ok"]["seq"], 0);
    let out = fv_stdin(&["exec", "--db", &db, "--clock", "yesterday"], "");
    assert!(!out.status.success());
    assert_eq!(serde_json::from_str::<Json>(text(&out.stdout).trim()).unwrap()["error"]["kind"], "InvalidInput");
}

/// SPEC §9: every line is answered and the next one read — a line that is not UTF-8, one
/// ending in CR LF, and a last line without a newline included — and the exit code is 0 at
/// end of input. Warnings of opening go to stderr (docs/CLI.md), never between responses.
#[test]
fn exec_answers_every_line_and_warns_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("s").to_str().unwrap().to_string();
    let input: &[u8] =
        b"{\"op\":\"create_user\",\"handle\":\"alice\"}\n\xff\xfe\n{\"op\":\"head\"}\r\n{\"op\":\"head\"}";
    let mut child = Command::new(BIN)
        .args(["exec", "--db", &db, "--clock", "2026-11-26T21:00:00Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let lines: Vec<Json> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["ok"]["id"], 2);
    assert_eq!(lines[1]["error"]["kind"], "InvalidInput");
    assert_eq!(lines[2]["ok"]["seq"], 1);
    assert_eq!(lines[3]["ok"]["seq"], 1);

    // A garbage snapshot: skipped with a warning on stderr, the state rebuilt from the log.
    for s in snapshots(&db) {
        std::fs::write(&s, b"not a snapshot").unwrap();
    }
    let out = fv_stdin(&["exec", "--db", &db], "{\"op\":\"head\"}\n");
    assert!(out.status.success());
    assert!(text(&out.stderr).starts_with("fvstore: warning: skipped snapshot"), "{}", text(&out.stderr));
    let lines: Vec<Json> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["ok"]["seq"], 1);
}

#[test]
fn demo_runs_small_and_prints_its_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("demo");
    let d = db.to_str().unwrap();
    let out = ok(&["demo", "--db", d, "--values", "3000", "--seed", "7"]);
    for needle in [
        "fvstore demo summary: 3,000 values",
        "phase",
        "ops/s",
        "bulk:",
        "curation:",
        "draft branch:",
        "durable get_or_create, 16 threads",
        "reopen from snapshot",
        "full replay of the log",
        "verify",
        "hits (existing value returned)",
        "registry",
        "artifacts",
        "value__lr",
        "as of event",
        "disk size",
        "bytes per value",
    ] {
        assert!(out.contains(needle), "demo summary lacks '{needle}':\n{out}");
    }
    // The store it leaves is sound, and a second run replaces it.
    assert_eq!(ok_json(&["verify", "--db", d, "--json"])["ok"], true);
    let j = ok_json(&["demo", "--db", d, "--values", "2000", "--threads", "1", "--json"]);
    assert_eq!(j["submitted"], 2000);
    let hits = j["hits"].as_u64().unwrap();
    assert!(hits > 200 && hits < 1800, "hits {hits} of 2000");
    assert_eq!(j["reopen"].as_array().unwrap().len(), 3);
    // It refuses to replace a directory that is not a store.
    let other = tmp.path().join("precious");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("thesis.tex"), "…").unwrap();
    fails(&["demo", "--db", other.to_str().unwrap(), "--values", "100"], 1, "is not an fvstore store");
    assert!(other.join("thesis.tex").exists());
}
