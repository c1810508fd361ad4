//! Running the `fvstore` binary from a test, as a person or a script would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value as Json;
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_fvstore");

pub fn fv(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run fvstore")
}

pub fn fv_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A process that fails to open its store may exit before reading: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Succeeds, prints nothing on stderr (no progress when not on a terminal), returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = fv(args);
    assert!(out.status.success(), "fvstore {args:?} failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "fvstore {args:?} wrote to stderr");
    text(&out.stdout)
}

pub fn ok_json(args: &[&str]) -> Json {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fvstore {args:?} --json is not JSON ({e}): {out}"))
}

/// Fails with `code` and exactly one `fvstore: error: …` line containing `needle`.
pub fn fails(args: &[&str], code: i32, needle: &str) -> String {
    let out = fv(args);
    check_failure(&out, code, needle, args)
}

pub fn check_failure(out: &Output, code: i32, needle: &str, args: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "fvstore {args:?}: stderr {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("fvstore: warning:")).collect();
    assert_eq!(lines.len(), 1, "fvstore {args:?}: want one error line, got {err}");
    assert!(lines[0].starts_with("fvstore: error: "), "fvstore {args:?}: {err}");
    assert!(lines[0].contains(needle), "fvstore {args:?}: {err} lacks '{needle}'");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    err
}
