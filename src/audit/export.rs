//! Export of the log as JSON Lines (one event per line, as the protocol renders events) and
//! import that rebuilds an identical store, refusing a broken chain.

use crate::error::{err, Error, Result};
use crate::event::Event;
use crate::log::Log;
use crate::protocol::{event_json::EventJson, parse_event::event_from_json, parse_line};
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
        let scanned = self.scan_events(1, u64::MAX, |events| {
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
        });
        // Every event before damage is written, then the damage is the error.
        w.write_all(&out)?;
        w.flush()?;
        scanned.map(|()| n)
    }
}

/// Builds a new store in `dir` (which must not hold a store yet) from an export. Every event is
/// checked: sequence, chain and hash, and that it folds; the first bad line is a `Corruption`
/// naming its sequence number, and nothing is kept.
///
/// The log is built under `DIR/log.importing` and renamed to `DIR/log` only once every event
/// is in and synced, so an import killed half-way leaves no store that looks whole (before,
/// it left a store of the events synced so far, which then refused the retried import as
/// "already holds a store"); a leftover `log.importing` is removed by the next import.
///
/// A refused import leaves nothing behind: the directories it made, parents of `dir`
/// included, are removed again (each only if empty).
pub fn import_jsonl(dir: &Path, r: impl BufRead, options: Options) -> Result<Store> {
    // The outermost directory this import will create (`a/b/c` with only `a` there: `a/b`).
    let made = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).last().map(Path::to_path_buf);
    let result = import_into(dir, r, options);
    if let (Err(_), Some(made)) = (&result, &made) {
        for d in dir.ancestors() {
            // Nothing anyone else put there meanwhile is lost: only empty directories go.
            if std::fs::remove_dir(d).is_err() || d == made.as_path() {
                break;
            }
        }
    }
    result
}

fn import_into(dir: &Path, r: impl BufRead, options: Options) -> Result<Store> {
    if dir.join("log").exists() {
        return Err(err!(ValidationError, "{} already holds a store; import into a new directory", dir.display()));
    }
    let building = dir.join("log.importing");
    // A leftover of a killed import is removed below, unless another import is building it now
    // (sled holds a lock on its data file while it is open).
    if let Ok(f) = std::fs::File::open(building.join("db")) {
        if let Err(std::fs::TryLockError::WouldBlock) = f.try_lock() {
            return Err(Error::Io(format!("another import is building a store in {}", dir.display())));
        }
    }
    // Snapshots of another store would be taken for this one's at the next open.
    if std::fs::read_dir(dir.join("snapshots")).is_ok_and(|mut d| d.next().is_some()) {
        return Err(err!(
            ValidationError,
            "{} holds snapshots of another store; import into a new directory",
            dir.display()
        ));
    }
    let result = (|| -> Result<State> {
        std::fs::create_dir_all(dir)?;
        if building.exists() {
            std::fs::remove_dir_all(&building)?;
        }
        let log = Log::open(&building, options.durability, options.log_cache_bytes)?;
        // Folded as a replay folds (value indexes built at the end, by `open_folded`).
        let mut state = State::new();
        state.begin_replay();
        let mut pending = Vec::new();
        parsed_lines(r, |line| {
            let e = match line {
                Line::Event(e) => e,
                Line::Blank => return Ok(()),
                // A line that cannot be read as an event is damage at the event it should
                // hold: the one after the last that folded (SPEC §8 names the seq of every
                // damage).
                Line::Damaged(why) => return Err(Error::corrupt(Some(state.seq + 1), why)),
                Line::Bad(why) => return Err(Error::corrupt(Some(state.seq + 1), why.message())),
            };
            check_next(&state, &e)?;
            state.fold(&e).map_err(|why| Error::corrupt(Some(e.seq), why))?;
            pending.push(e);
            if pending.len() >= IMPORT_BATCH {
                log.append(&std::mem::take(&mut pending))?;
            }
            Ok(())
        })?;
        log.append(&pending)?;
        log.sync()?;
        // Closed (sled lets go of its files) before the rename makes it the store's log.
        drop(log);
        std::fs::rename(&building, dir.join("log"))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(state)
    })();
    match result {
        // Every event was folded on the way in: the store opens from that state, where a
        // reopen would replay the whole log again.
        Ok(state) => Store::open_folded(dir, options, state),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&building);
            Err(e)
        }
    }
}

/// One line of an export, as the parsing thread read it.
enum Line {
    Event(Event),
    Blank,
    /// Not UTF-8 or not JSON: the message names the line.
    Damaged(String),
    /// JSON, but not an event; the caller names the seq it expected.
    Bad(Error),
}

/// Lines per block handed between the threads of an import.
const PARSE_BLOCK: usize = 1024;

/// Hands `each` every line of `r`, parsed (a blank one as `Line::Blank`), in order. The calling thread reads the
/// lines and `each` checks, folds and appends, while a second thread parses them: parsing was
/// more than half of an import. Stops at the first error, of `r` or of `each`.
fn parsed_lines(r: impl BufRead, mut each: impl FnMut(Line) -> Result<()>) -> Result<()> {
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = crossbeam_channel::bounded::<Vec<(usize, Vec<u8>)>>(2);
        let (parsed_tx, parsed_rx) = crossbeam_channel::bounded::<Vec<Line>>(2);
        scope.spawn(move || {
            for block in raw_rx {
                let parsed = block.into_iter().map(|(n, bytes)| parse_line(n, bytes)).collect();
                // The caller has stopped when its end is gone; so does this thread.
                if parsed_tx.send(parsed).is_err() {
                    return;
                }
            }
        });
        // Two blocks in flight: one parsed while the caller folds the other. Returning drops
        // both channel ends here, which ends the parsing thread.
        let mut lines = r.split(b'\n').enumerate();
        let mut in_flight = 0;
        let mut more = true;
        loop {
            while more && in_flight < 2 {
                let mut block = Vec::with_capacity(PARSE_BLOCK);
                more = false;
                for (i, line) in lines.by_ref() {
                    block.push((i + 1, line?));
                    if block.len() == PARSE_BLOCK {
                        more = true;
                        break;
                    }
                }
                if block.is_empty() {
                    break;
                }
                raw_tx.send(block).map_err(|_| err!(Io, "the import's parsing thread stopped"))?;
                in_flight += 1;
            }
            if in_flight == 0 {
                return Ok(());
            }
            let parsed = parsed_rx.recv().map_err(|_| err!(Io, "the import's parsing thread stopped"))?;
            in_flight -= 1;
            for line in parsed {
                each(line)?;
            }
        }
    })
}

fn parse_line(n: usize, bytes: Vec<u8>) -> Line {
    let Ok(text) = String::from_utf8(bytes) else {
        return Line::Damaged(format!("line {n} is not UTF-8"));
    };
    if text.trim().is_empty() {
        return Line::Blank;
    }
    if let Some(e) = parse_line::event(&text) {
        return Line::Event(e);
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Err(e) => Line::Damaged(format!("line {n} is not JSON: {e}")),
        Ok(json) => match event_from_json(&json) {
            Ok(e) => Line::Event(e),
            Err(why) => Line::Bad(why),
        },
    }
}
