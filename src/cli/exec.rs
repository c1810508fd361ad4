//! `fvstore exec`: the protocol over stdin and stdout.

use fvstore::protocol::{error_json, Exec};
use fvstore::{Durability, Error, FixedClock, Options, Store};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(db: &Path, clock: Option<&str>, buffered: bool) -> ExitCode {
    let mut options = Options::default();
    if buffered {
        options.durability = Durability::Buffered;
    }
    if let Some(c) = clock {
        match FixedClock::parse(c) {
            Some(fixed) => options.clock = Arc::new(fixed),
            None => {
                let e =
                    Error::InvalidInput(format!("--clock '{c}' is not an RFC 3339 time such as 2026-11-26T21:00:00Z"));
                println!("{}", error_json(&e));
                return ExitCode::from(2);
            }
        }
    }
    let store = match Store::open_with(db, options) {
        Ok(s) => s,
        Err(e) => {
            println!("{}", error_json(&e));
            return ExitCode::from(1);
        }
    };
    // Warnings of opening (a snapshot skipped) go to stderr, as for every command (docs/CLI.md);
    // stdout keeps one response per request.
    super::output::warn_all(&store);
    let exec = Exec::new(store);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let response = match line {
            Ok(l) => exec.handle(&l),
            Err(e) => error_json(&Error::InvalidInput(format!("unreadable line: {e}"))).to_string(),
        };
        for w in exec.take_warnings() {
            eprintln!("fvstore: warning: {w}");
        }
        if writeln!(out, "{response}").and_then(|()| out.flush()).is_err() {
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
