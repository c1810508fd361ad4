//! Golden scripts for the `exec` protocol (SPEC §9), kept as data files in `tests/golden/` and
//! run by this one driver.
//!
//! A script is a sequence of lines:
//!
//! ```text
//! # a comment (blank lines are ignored too)
//! > {"op":"create_user","handle":"alice"}      a request line, sent as is
//! < {"ok":{"id":2,"handle":"alice"}}           the expected response (JSON)
//! reopen                                       close the store and open it again
//! ```
//!
//! A `>` with nothing after it sends a blank line; the text after `> ` need not be JSON (so
//! invalid requests can be tested). Responses are compared as JSON, not as text: object key
//! order does not matter, and a number matches only a number of the same kind (`42` is not
//! `42.0`) and value. Expected responses may be abbreviated:
//!
//! - `"*"` matches any value at that position;
//! - any other string containing `*` is a glob over a string (`"*nope*nada*"`);
//! - `"<hash>"` matches 64 lowercase hex characters;
//! - `"$name"` binds the actual value the first time it appears and must equal it afterwards;
//!   a bound `"$name"` in a later request is replaced by the JSON of its value;
//! - an object with the key `"*"` (any value) matches an actual object that has at least the
//!   other listed keys (a subset match).
//!
//! Every script runs in a fresh directory with a deterministic clock (the first event at
//! [`CLOCK`], each next one a millisecond later). All mismatches of all scripts are reported
//! before the test fails. `GOLDEN_SCRIPT=name cargo test --test golden` runs only the scripts
//! whose file name contains `name`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fvstore::protocol::Exec;
use fvstore::{FixedClock, Options, Store};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

const CLOCK: &str = "2026-11-26T21:00:00Z";

/// The script the binary test runs through a real `fvstore exec` process.
const BINARY_SCRIPT: &str = "protocol.txt";

enum Step {
    Request { line: usize, request: String, expected: Json },
    Reopen,
}

struct Script {
    name: String,
    steps: Vec<Step>,
}

impl Script {
    fn load(path: &Path) -> Script {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let mut steps = Vec::new();
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        while let Some((n, line)) = lines.next() {
            let trimmed = line.trim_end();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if trimmed == "reopen" {
                steps.push(Step::Reopen);
                continue;
            }
            let Some(request) = trimmed.strip_prefix('>') else {
                panic!("{name}:{n}: expected '> request', '# comment' or 'reopen', got {line:?}");
            };
            let request = request.strip_prefix(' ').unwrap_or(request).to_string();
            let expected = loop {
                let Some((m, next)) = lines.next() else {
                    panic!("{name}:{n}: request without an expected '< response' line");
                };
                let next = next.trim_end();
                if next.is_empty() || next.starts_with('#') {
                    continue;
                }
                let Some(json) = next.strip_prefix('<') else {
                    panic!("{name}:{m}: expected '< response' after the request of line {n}");
                };
                break serde_json::from_str(json.trim())
                    .unwrap_or_else(|e| panic!("{name}:{m}: expected response is not JSON: {e}"));
            };
            steps.push(Step::Request { line: n, request, expected });
        }
        Script { name, steps }
    }
}

fn scripts() -> Vec<Script> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    // NOTE: GOLDEN_SCRIPT=name runs only the scripts whose file name contains `name`.
    if let Ok(only) = std::env::var("GOLDEN_SCRIPT") {
        paths.retain(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&only)));
    }
    assert!(!paths.is_empty(), "no golden scripts in {}", dir.display());
    paths.iter().map(|p| Script::load(p)).collect()
}

/// Bound `$name` variables of one script run.
#[derive(Default)]
struct Vars(HashMap<String, Json>);

impl Vars {
    /// Replaces each bound `"$name"` in a request line by its value's JSON.
    fn substitute(&self, request: &str) -> String {
        let mut out = request.to_string();
        for (name, value) in &self.0 {
            out = out.replace(&format!("\"${name}\""), &value.to_string());
        }
        out
    }
}

/// Integer literals and float literals are different kinds of number (`42` is not `42.0`).
fn number_eq(expected: &serde_json::Number, actual: &serde_json::Number) -> bool {
    let (e, a) = (expected.to_string(), actual.to_string());
    let is_float = |s: &str| s.contains(['.', 'e', 'E']);
    match (is_float(&e), is_float(&a)) {
        (false, false) => e.parse::<i128>().ok() == a.parse::<i128>().ok(),
        (true, true) => e.parse::<f64>().ok() == a.parse::<f64>().ok(),
        _ => false,
    }
}

/// A glob where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn matches(expected: &Json, actual: &Json, vars: &mut Vars) -> bool {
    match (expected, actual) {
        (Json::String(p), _) if p == "*" => true,
        (Json::String(p), _) if p == "<hash>" => actual
            .as_str()
            .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
        (Json::String(p), _) if p.len() > 1 && p.starts_with('$') => {
            let name = &p[1..];
            match vars.0.get(name) {
                Some(bound) => {
                    let bound = bound.clone();
                    matches(&bound, actual, vars)
                }
                None => {
                    vars.0.insert(name.to_string(), actual.clone());
                    true
                }
            }
        }
        (Json::String(p), Json::String(a)) if p.contains('*') => glob(p, a),
        (Json::Number(e), Json::Number(a)) => number_eq(e, a),
        (Json::Array(e), Json::Array(a)) => e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a, vars)),
        (Json::Object(e), Json::Object(a)) => {
            let subset = e.contains_key("*");
            let listed = e.keys().filter(|k| *k != "*");
            if !subset && listed.count() != a.len() {
                return false;
            }
            e.iter().filter(|(k, _)| *k != "*").all(|(k, ev)| a.get(k).is_some_and(|av| matches(ev, av, vars)))
        }
        _ => expected == actual,
    }
}

fn open(dir: &Path) -> Exec {
    let clock = Arc::new(FixedClock::parse(CLOCK).unwrap());
    let store = Store::open_with(dir, Options { clock, ..Default::default() })
        .unwrap_or_else(|e| panic!("cannot open the store in {}: {e:?}", dir.display()));
    Exec::new(store)
}

fn mismatch(script: &str, line: usize, request: &str, expected: &Json, actual: &str) -> String {
    format!("{script}:{line}\n  request:  {request}\n  expected: {expected}\n  actual:   {actual}\n")
}

/// Runs one script through the library; returns its mismatches and its request count.
fn run_script(script: &Script) -> (Vec<String>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut exec = Some(open(&db));
    let mut vars = Vars::default();
    let mut failures = Vec::new();
    let mut requests = 0;
    for step in &script.steps {
        match step {
            Step::Reopen => {
                drop(exec.take());
                exec = Some(open(&db));
            }
            Step::Request { line, request, expected } => {
                requests += 1;
                let request = vars.substitute(request);
                let response = exec.as_ref().unwrap().handle(&request);
                let ok = serde_json::from_str::<Json>(&response).is_ok_and(|a| matches(expected, &a, &mut vars));
                if !ok {
                    failures.push(mismatch(&script.name, *line, &request, expected, &response));
                }
            }
        }
    }
    (failures, requests)
}

#[test]
fn golden_scripts() {
    let scripts = scripts();
    let results: Vec<(Vec<String>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = scripts.iter().map(|s| scope.spawn(|| run_script(s))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let requests: usize = results.iter().map(|r| r.1).sum();
    let failures: Vec<String> = results.into_iter().flat_map(|r| r.0).collect();
    assert!(
        failures.is_empty(),
        "{} of {requests} golden requests in {} scripts did not get the expected response:\n\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n")
    );
}

/// Runs one script through the real binary: one process per segment between `reopen`s, all
/// request lines piped at once. Checks the exit code, one response line per request line
/// (blank and invalid lines included) and the responses themselves.
#[test]
fn golden_binary() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(BINARY_SCRIPT);
    let script = Script::load(&path);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut segments: Vec<Vec<(usize, &str, &Json)>> = vec![Vec::new()];
    for step in &script.steps {
        match step {
            Step::Reopen => segments.push(Vec::new()),
            Step::Request { line, request, expected } => {
                assert!(
                    !request.contains('$'),
                    "{BINARY_SCRIPT}:{line}: the binary test does not substitute variables"
                );
                segments.last_mut().unwrap().push((*line, request.as_str(), expected));
            }
        }
    }
    let mut vars = Vars::default();
    let mut failures = Vec::new();
    for segment in segments.iter().filter(|s| !s.is_empty()) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fvstore"))
            .args(["exec", "--db"])
            .arg(&db)
            .args(["--clock", CLOCK])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let input: String = segment.iter().map(|(_, r, _)| format!("{r}\n")).collect();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "fvstore exec exited with {} at end of input; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let responses: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            responses.len(),
            segment.len(),
            "fvstore exec must answer each request line with one response line; stdout:\n{stdout}"
        );
        for ((line, request, expected), response) in segment.iter().zip(&responses) {
            let ok = serde_json::from_str::<Json>(response).is_ok_and(|a| matches(expected, &a, &mut vars));
            if !ok {
                failures.push(mismatch(BINARY_SCRIPT, *line, request, expected, response));
            }
        }
    }
    assert!(failures.is_empty(), "fvstore exec (the binary) mismatches:\n\n{}", failures.join("\n"));
}

/// A store held by another `fvstore exec` cannot be opened: one error line of kind `Io`, and a
/// non-zero exit (SPEC §9). The holder is unaffected and still exits 0 at end of input.
#[test]
fn golden_binary_store_held() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let exec = |stdin: Stdio| {
        Command::new(env!("CARGO_BIN_EXE_fvstore"))
            .args(["exec", "--db"])
            .arg(&db)
            .args(["--clock", CLOCK])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let line_matches = |expected: Json, line: &str| {
        serde_json::from_str::<Json>(line).is_ok_and(|a| matches(&expected, &a, &mut Vars::default()))
    };
    let mut holder = exec(Stdio::piped());
    let mut holder_in = holder.stdin.take().unwrap();
    let mut holder_out = BufReader::new(holder.stdout.take().unwrap());
    writeln!(holder_in, r#"{{"op":"create_user","handle":"alice"}}"#).unwrap();
    let mut line = String::new();
    holder_out.read_line(&mut line).unwrap();
    assert!(line_matches(serde_json::json!({"ok": {"id": 2, "handle": "alice"}}), &line), "{line}");

    let out = exec(Stdio::null()).wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "a second exec on a held store must exit non-zero; stdout: {stdout}");
    assert_eq!(stdout.lines().count(), 1, "one error line expected, got: {stdout}");
    assert!(line_matches(serde_json::json!({"error": {"kind": "Io", "message": "*"}}), &stdout), "{stdout}");

    writeln!(holder_in, r#"{{"op":"head"}}"#).unwrap();
    drop(holder_in);
    line.clear();
    holder_out.read_line(&mut line).unwrap();
    assert!(line_matches(serde_json::json!({"ok": {"seq": 1, "hash": "<hash>"}}), &line), "{line}");
    assert!(holder.wait().unwrap().success());
}

/// The comparison rules themselves, so that a script cannot pass by matching too much.
#[test]
fn matcher_rules() {
    let m = |expected: &str, actual: &str| {
        let (e, a) = (serde_json::from_str(expected).unwrap(), serde_json::from_str(actual).unwrap());
        matches(&e, &a, &mut Vars::default())
    };
    assert!(m(r#"{"a":1,"b":[1,2]}"#, r#"{"b":[1,2],"a":1}"#));
    assert!(!m(r#"{"a":1}"#, r#"{"a":1,"b":2}"#));
    assert!(m(r#"{"a":1,"*":"*"}"#, r#"{"a":1,"b":2}"#));
    assert!(!m(r#"{"a":1,"*":"*"}"#, r#"{"b":2}"#));
    assert!(!m("[1,2]", "[2,1]"));
    assert!(!m("42", "42.0"));
    assert!(!m("42.0", "42"));
    assert!(m("42.0", "42.00"));
    assert!(m("100.0", "1e2"));
    assert!(!m("9223372036854775807", "9223372036854775806"));
    assert!(m(r#""*""#, "null"));
    assert!(m(r#""*nope*nada*""#, r#""unknown features 'nope', 'nada'""#));
    assert!(!m(r#""*nope*nada*""#, r#""unknown features 'nada', 'nope'""#));
    assert!(!m(r#""*x*""#, "1"));
    assert!(m(r#""<hash>""#, &format!("\"{}\"", "ab".repeat(32))));
    assert!(!m(r#""<hash>""#, &format!("\"{}\"", "AB".repeat(32))));
    assert!(!m(r#""<hash>""#, r#""abc""#));
    let mut vars = Vars::default();
    let (e, first, other) = (serde_json::json!(["$v", "$v"]), serde_json::json!([1, 1]), serde_json::json!([1, 2]));
    assert!(matches(&e, &first, &mut vars));
    assert!(!matches(&e, &other, &mut vars));
    assert_eq!(vars.substitute(r#"{"id":"$v","x":"$vv"}"#), r#"{"id":1,"x":"$vv"}"#);
}
