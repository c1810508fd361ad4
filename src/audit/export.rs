//! Export of the log as JSON Lines (one event per line, as the protocol renders events) and
//! import that rebuilds an identical store, refusing a broken chain.

use crate::error::{err, Error, Result};
use crate::log::Log;
use crate::protocol::{event_json::EventJson, parse_event::event_from_json};
use crate::replay::check_next;
use crate::state::State;
use crate::store::{Options, Store};
use std::io::{BufRead, Write};
use std::path::Path;

/// Events appended to the new log per sled record during an import.
const IMPORT_BATCH: usize = 10_000;

/// Bytes of export lines gathered before each write.
const EXPORT_BLOCK: usize = 1 << 16;

impl Store {
    /// Writes every event, in order, one JSON object per line — on an `as_of` view, up to the
    /// view's seq. Returns how many.
    pub fn export_jsonl(&self, mut w: impl Write) -> Result<u64> {
        let mut n = 0;
        // Lines go out in blocks: one write per line through a caller's writer (a progress
        // counter, a pipe) cost more than the line.
        let mut out = Vec::with_capacity(EXPORT_BLOCK + 4096);
        self.scan_events(1, u64::MAX, |events| {
            for e in events {
                serde_json::to_writer(&mut out, &EventJson(e)).map_err(|e| err!(Io, "cannot render an event: {e}"))?;
                out.push(b'\n');
                n += 1;
                if out.len() >= EXPORT_BLOCK {
                    w.write_all(&out)?;
                    out.clear();
                }
            }
            Ok(())
        })?;
        w.write_all(&out)?;
        w.flush()?;
        Ok(n)
    }
}

/// Builds a new store in `dir` (which must not hold a store yet) from an export. Every event is
/// checked: sequence, chain and hash, and that it folds; the first bad line is a `Corruption`
/// naming its sequence number, and nothing is kept.
pub fn import_jsonl(dir: &Path, r: impl BufRead, options: Options) -> Result<Store> {
    if dir.join("log").exists() {
        return Err(err!(ValidationError, "{} already holds a store; import into a new directory", dir.display()));
    }
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let log = Log::open(&dir.join("log"), options.durability, options.log_cache_bytes)?;
        // The state only checks that every event folds (the store is opened afresh at the
        // end), so its value indexes are never built, as in a replay.
        let mut state = State::new();
        state.begin_replay();
        let mut pending = Vec::new();
        for (i, line) in r.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let json: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| Error::corrupt(None, format!("line {}: not JSON: {e}", i + 1)))?;
            let e = event_from_json(&json).map_err(|e| Error::corrupt(Some(state.seq + 1), e.message()))?;
            check_next(&state, &e)?;
            state.fold(&e).map_err(|why| Error::corrupt(Some(e.seq), why))?;
            pending.push(e);
            if pending.len() >= IMPORT_BATCH {
                log.append(&std::mem::take(&mut pending))?;
            }
        }
        log.append(&pending)?;
        log.sync()
    })();
    match result {
        Ok(()) => Store::open_with(dir, options),
        Err(e) => {
            let _ = std::fs::remove_dir_all(dir.join("log"));
            Err(e)
        }
    }
}
