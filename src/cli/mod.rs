//! The `fvstore` command line: clap definitions, dispatch, and the one way a command fails.
//!
//! Every subcommand is a function returning `Result<(), Fail>`. A failure is printed as one line
//! on stderr (`fvstore: error: …`) with a non-zero exit code: 1 for an error a person can act on
//! (a wrong path, a store held by another process, a refused operation), 3 when the store is
//! damaged (`Corruption`), 2 for bad usage (clap's own code). `exec` is the exception: it speaks
//! the JSON protocol of SPEC §9, errors included. No command panics on bad input; a panic would
//! be a bug, and the panic hook still prints it as one line without a backtrace.
//!
//! Human-readable output goes to stdout; `--json` prints one JSON document instead. Progress
//! bars and spinners draw on stderr, only when it is a terminal.

mod admin;
mod audit;
mod demo;
mod exec;
mod output;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "fvstore", version, about = "An embedded, event-sourced store for feature values")]
#[command(propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--db DIR` of a store that must already exist.
#[derive(Args, Clone)]
struct Db {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    db: PathBuf,
}

/// `--json`: one JSON document on stdout instead of text.
#[derive(Args, Clone, Copy)]
struct Format {
    /// Print JSON instead of human-readable text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Play a realistic lab against a fresh store, reopen and verify it, and print a summary.
    Demo(demo::DemoArgs),
    /// Create an empty store in DIR.
    Init {
        /// The directory to create the store in (it must not hold a store yet).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        format: Format,
    },
    /// Serve the JSON command protocol: one request per line on stdin, one response per line on stdout.
    Exec {
        /// The store directory (created if it does not exist).
        #[arg(long)]
        db: PathBuf,
        /// Make the clock deterministic: the first event is stamped TIME (RFC 3339), each next one 1 ms later.
        #[arg(long, value_name = "TIME")]
        clock: Option<String>,
        /// Return once events are in sled's memory instead of on stable storage.
        #[arg(long)]
        buffered: bool,
    },
    /// Print events of the log, optionally filtered.
    Log(audit::LogArgs),
    /// Print every event that touched one record (a value unless --type says otherwise).
    History(audit::HistoryArgs),
    /// Re-hash the chain, replay the log, and compare with the newest snapshot and the live state.
    Verify {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        format: Format,
    },
    /// Write a snapshot of the current state now.
    Snapshot {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        format: Format,
    },
    /// Export the log as JSON Lines (one event per line), to stdout or a file.
    Export(audit::ExportArgs),
    /// Build a new store from a JSON Lines export, checking the hash chain.
    Import(audit::ImportArgs),
    /// Rebuild the state from the log alone (no snapshot) and print its hash and counts.
    Replay {
        #[command(flatten)]
        db: Db,
        /// Stop after this event (default: the end of the log).
        #[arg(long, value_name = "SEQ")]
        to: Option<u64>,
        #[command(flatten)]
        format: Format,
    },
    /// Counts per registry and branch state, log length, snapshot, disk use.
    Stats {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        format: Format,
    },
    /// Print the raw sled trees, one record per line (for debugging the format).
    Dump {
        #[command(flatten)]
        db: Db,
    },
}

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub struct Fail {
    message: String,
    code: u8,
}

impl Fail {
    /// A failure a person can act on (exit code 1).
    pub fn new(message: impl Into<String>) -> Fail {
        Fail { message: message.into(), code: 1 }
    }

    /// The reader of our stdout went away (`fvstore export | head`): stop quietly.
    fn broken_pipe() -> Fail {
        Fail { message: String::new(), code: 0 }
    }
}

impl From<fvstore::Error> for Fail {
    fn from(e: fvstore::Error) -> Fail {
        let code = if matches!(e, fvstore::Error::Corruption { .. }) { 3 } else { 1 };
        let mut message = e.message();
        // sled's lock error carries a Rust debug dump of the OS error; say what to do instead.
        const HELD: &str = "is held by another process";
        if let Some(at) = message.find(HELD) {
            message.truncate(at + HELD.len());
            message.push_str("; stop that process (or wait for it to finish) and retry");
        }
        Fail { message, code }
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Fail::broken_pipe()
        } else {
            Fail::new(e.to_string())
        }
    }
}

pub type Outcome = Result<(), Fail>;

pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("fvstore: error: internal error (a bug, please report it): {what}{at}");
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Exec { db, clock, buffered } => return exec::run(&db, clock.as_deref(), buffered),
        Command::Demo(args) => demo::run(&args),
        Command::Init { dir, format } => admin::init(&dir, format.json),
        Command::Log(args) => audit::log(&args),
        Command::History(args) => audit::history(&args),
        Command::Verify { db, format } => admin::verify(&db.db, format.json),
        Command::Snapshot { db, format } => admin::snapshot(&db.db, format.json),
        Command::Export(args) => audit::export(&args),
        Command::Import(args) => audit::import(&args),
        Command::Replay { db, to, format } => admin::replay(&db.db, to, format.json),
        Command::Stats { db, format } => admin::stats(&db.db, format.json),
        Command::Dump { db } => admin::dump(&db.db),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("fvstore: error: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
