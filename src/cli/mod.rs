//! Command-line parsing and the subcommands.

mod exec;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "fvstore", version, about = "An embedded, event-sourced store for feature values")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Exec { db, clock, buffered } => exec::run(&db, clock.as_deref(), buffered),
    }
}
