//! The event log in sled: the only code that writes the `log` tree.
//!
//! A group of whole commits is one record of the tree, keyed by the big-endian sequence number
//! of its first event, holding the encoded batch; a group bigger than [`MAX_RECORD_BYTES`]
//! (one big commit) is cut into several records written as one sled batch, which sled recovers
//! atomically. Either way a commit is all there or not there after a crash.
//!
//! Durable mode: after the insert, `sled::Db::flush` writes sled's buffers, and an
//! `fdatasync` of sled's data file makes them reach stable storage (sled 0.34's own flush uses
//! `sync_file_range`, which does not survive a power loss). sled writes any page bigger than its
//! blob threshold (about 128 KiB: a big record, or a tree node holding several records) to a
//! file of its own under `blobs/`, which it never fsyncs: every `sync` fsyncs the blob files
//! that appeared since the last one (and then their directory) before the data file, so the
//! log never names a blob that a power loss could take. Buffered mode leaves flushing to
//! sled's background thread.

use crate::codec::{self, Hashes};
use crate::error::{Error, Result};
use crate::event::{Event, EventData};
use parking_lot::Mutex;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const LOG_TREE: &[u8] = b"log";
const META_TREE: &[u8] = b"meta";
const FORMAT_KEY: &[u8] = b"format_version";

/// When a call returns relative to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A call returns after its events are on stable storage (fdatasync).
    #[default]
    Durable,
    /// A call returns once sled holds its events in memory; sled's background flush writes
    /// them within its flush interval (documented in docs/FORMAT.md).
    Buffered,
}

/// Records hold events up to about this many (estimated) bytes, so that most land in sled's
/// main file: a record above sled's blob threshold is a blob file of its own, and so is a tree
/// node holding several records once it grows past it (128 KiB; a leaf splits past 16 records,
/// so 17 of ≤ 7 KiB fit). One record per big commit made a blob file per `add_values` of a
/// thousand values, 16 KiB records one per few node rewrites; sled's inserts of 7 KiB records
/// also cost about two thirds per byte of what 14 KiB ones do (4.5 against 7.0 ns a byte,
/// measured with sled alone, 200 MB of records).
pub(crate) const MAX_RECORD_BYTES: usize = 7 << 10;

/// A rough estimate of an event's size in a format 4 record, a little above the usual: 4 bytes
/// of its hash, varints that rarely take more than 3 bytes each (ids below 2 million), and the
/// payload. An int value's event takes about 22 bytes and is estimated at 22, a link 13 to 16
/// at 18. An event far above its estimate (ids in the billions) can make a record larger than
/// planned, which costs a blob file at worst, never an event. (A record's own 70 bytes, its
/// header and its last event's whole hash, fit in the margin.)
pub(crate) fn estimate(e: &Event) -> usize {
    use crate::event::EventData::*;
    12 + match &e.data {
        CreateValue { value, .. } => 5 + codec::stored_value_len(value),
        CreateUser { handle: name }
        | CreateSpace { name }
        | CreateBranch { name }
        | CreateRun { name }
        | CreateFeature { name, .. }
        | CreateArtifact { key: name, .. } => 8 + name.len(),
        Merge { moved } => 4 + moved.len() * 6,
        _ => 6,
    }
}

/// The first sequence number of a piece (pieces are never empty), its record's key.
fn seq_of(piece: &[Event]) -> u64 {
    piece.first().map_or(0, |e| e.seq)
}

/// Consecutive runs of events of at most [`MAX_RECORD_BYTES`] (estimated) each; an event
/// bigger than that is a run of its own.
fn pieces(events: &[Event]) -> impl Iterator<Item = &[Event]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take_while(|e| {
                bytes += estimate(e);
                bytes <= MAX_RECORD_BYTES
            })
            .count()
            .max(1)
            .min(rest.len());
        let (piece, after) = rest.split_at(n);
        rest = after;
        (!piece.is_empty()).then_some(piece)
    })
}

/// One record's events: sealed, or stamped with their hashes beside them (the first
/// following the given `prev`).
enum Piece<'a> {
    Sealed(&'a [Event]),
    Stamped(&'a [Event], [u8; 32], &'a [[u8; 32]]),
}

impl Piece<'_> {
    fn events(&self) -> &[Event] {
        match self {
            Piece::Sealed(e) | Piece::Stamped(e, ..) => e,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match *self {
            Piece::Sealed(events) => codec::encode_events_into(events, buf),
            Piece::Stamped(events, prev, hashes) => {
                if !codec::encode_stamped_into(events, &prev, hashes, buf) {
                    // Format 4 cannot hold them (never so for events a command made): seal a copy.
                    let mut copy = codec::sealed_copy(events, prev, hashes);
                    if hashes.len() != events.len() {
                        codec::chain(&mut copy, prev);
                    }
                    codec::encode_events_into(&copy, buf);
                }
            }
        }
    }
}

/// A handle to the log; clones share the same sled database.
#[derive(Clone)]
pub(crate) struct Log {
    db: sled::Db,
    tree: sled::Tree,
    data_file: Option<Arc<File>>,
    dir: Option<Arc<PathBuf>>,
    /// Blob files already fsynced (sled names them by a number that only grows).
    blobs_synced: Arc<Mutex<u64>>,
    /// The last event appended, and the last one a `sync` made durable: what a simulated
    /// crash keeps (see `drop_unsynced`).
    appended: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
    /// Last, so that it drops after `db` and `tree`: see [`LockRelease`].
    release: Option<Arc<LockRelease>>,
}

/// Dropped with the last handle of a log on disk: waits until sled has let go of the store's
/// file lock. sled's background tasks hold the file for a moment after its last handle drops,
/// and an open of the same store in that moment failed as "held by another process" (the
/// CLI's import, which builds a store and then opens it, did so under load in 1 of 20 runs).
/// The wait is bounded (2 s), should another process have taken the store in the meantime.
struct LockRelease(PathBuf);

impl Drop for LockRelease {
    fn drop(&mut self) {
        let Ok(file) = File::open(&self.0) else { return };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match file.try_lock() {
                // Ours now, so sled's is gone; closing the file releases it again.
                Ok(()) => return,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path, durability: Durability, cache_bytes: u64) -> Result<Log> {
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes).flush_every_ms(match durability {
            Durability::Durable => None,
            Durability::Buffered => Some(500),
        });
        let db = config.open().map_err(|e| open_error(dir, e))?;
        // sled 0.34 keeps its whole log in this one file; fdatasync of it after sled's own
        // flush is what makes a flush survive a power loss.
        let data_file = File::open(dir.join("db"))
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", dir.join("db").display())))?;
        // Make the store's own directory entries durable once.
        File::open(dir)?.sync_all()?;
        if let Some(parent) = dir.parent().and_then(|p| File::open(p).ok()) {
            parent.sync_all()?;
        }
        let mut log = Self::init(db, Some(Arc::new(data_file)))?;
        log.dir = Some(Arc::new(dir.to_path_buf()));
        log.release = Some(Arc::new(LockRelease(dir.join("db"))));
        Ok(log)
    }

    /// A log that lives in memory and a temporary directory removed on drop.
    pub fn temporary() -> Result<Log> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::init(db, None)
    }

    fn init(db: sled::Db, data_file: Option<Arc<File>>) -> Result<Log> {
        let meta = db.open_tree(META_TREE)?;
        match meta.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == [codec::FORMAT_VERSION] => {}
            // A new store, or one of an older format: this build reads them all and writes
            // format 4 records, so the store says 4 from now on (a build that reads only older
            // ones refuses it whole, rather than meeting records it cannot read).
            None => {
                meta.insert(FORMAT_KEY, &[codec::FORMAT_VERSION])?;
            }
            Some(v) if matches!(v.as_ref(), [1..=3]) => {
                meta.insert(FORMAT_KEY, &[codec::FORMAT_VERSION])?;
            }
            Some(v) => {
                return Err(Error::corrupt(
                    None,
                    format!(
                        "store has format version {:?}; this build reads versions 1 to {}",
                        v.as_ref(),
                        codec::FORMAT_VERSION
                    ),
                ))
            }
        }
        let tree = db.open_tree(LOG_TREE)?;
        Ok(Log {
            db,
            tree,
            data_file,
            dir: None,
            blobs_synced: Arc::default(),
            appended: Arc::default(),
            synced: Arc::default(),
            release: None,
        })
    }

    /// Appends events atomically: one sled record, or several in one sled batch when they are
    /// too many bytes for one (see [`MAX_RECORD_BYTES`]). Not yet durable: call [`Log::sync`].
    pub fn append(&self, events: &[Event]) -> Result<()> {
        self.write(pieces(events).map(Piece::Sealed).collect())
    }

    /// `append` for one commit's parts, stamped but not hashed, each part's hashes beside it
    /// (`hashes[i]` is event `i`'s). The first event follows its own `prev`, each part the part
    /// before it. All of them go in one sled batch: a commit is whole or absent.
    pub fn append_parts(&self, parts: &[(&[Event], &[[u8; 32]])]) -> Result<()> {
        let mut prev = parts.iter().find_map(|(p, _)| p.first()).map_or([0; 32], |e| e.prev);
        let mut all = Vec::new();
        for (events, hashes) in parts {
            let mut start = 0usize;
            for piece in pieces(events) {
                let piece_prev = match start.checked_sub(1) {
                    None => prev,
                    Some(i) => hashes.get(i).copied().unwrap_or_default(),
                };
                let mine = hashes.get(start..start + piece.len()).unwrap_or_default();
                all.push(Piece::Stamped(piece, piece_prev, mine));
                start += piece.len();
            }
            prev = hashes.last().copied().unwrap_or(prev);
        }
        self.write(all)
    }

    /// Writes the pieces' records, each encoded into one buffer in turn.
    fn write(&self, pieces: Vec<Piece<'_>>) -> Result<()> {
        let Some(last) = pieces.iter().rev().find_map(|p| p.events().last()).map(|e| e.seq) else {
            return Ok(());
        };
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        // One buffer for every record the thread writes: sled copies each into an allocation
        // of its own size, so the writer's heap holds no half-used encoding vectors among
        // sled's records.
        BUF.with(|buf| self.write_with(pieces, &mut buf.borrow_mut()))?;
        self.appended.store(last, Ordering::Release);
        Ok(())
    }

    fn write_with(&self, pieces: Vec<Piece<'_>>, buf: &mut Vec<u8>) -> Result<()> {
        if let [piece] = &pieces[..] {
            piece.encode(buf);
            self.tree.insert(codec::seq_key(seq_of(piece.events())), &buf[..])?;
        } else {
            let mut batch = sled::Batch::default();
            for piece in pieces {
                piece.encode(buf);
                batch.insert(&codec::seq_key(seq_of(piece.events()))[..], &buf[..]);
            }
            self.tree.apply_batch(batch)?;
        }
        if buf.capacity() > 4 * MAX_RECORD_BYTES {
            // An event bigger than a record (a huge value) is a record of its own.
            *buf = Vec::new();
        }
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let upto = self.appended.load(Ordering::Acquire);
        self.db.flush()?;
        // Blobs first: the data file synced next may name them.
        self.sync_blobs()?;
        if let Some(f) = &self.data_file {
            f.sync_data()?;
        }
        self.synced.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Marks every event up to `seq` as already durable (they were read back at open).
    pub fn opened_at(&self, seq: u64) {
        self.appended.store(seq, Ordering::Release);
        self.synced.store(seq, Ordering::Release);
    }

    /// For the simulated crash of tests: removes every commit after the last one a `sync`
    /// covered, as a power loss may, and returns the last event kept.
    pub fn drop_unsynced(&self) -> Result<u64> {
        let synced = self.synced.load(Ordering::Acquire);
        self.remove_from(synced + 1)?;
        self.db.flush()?;
        Ok(synced)
    }

    /// Removes every record from event `seq` on. Callers pass the first event of a group
    /// (records never span two groups): the unsynced tail, or a group that must not be synced.
    pub fn remove_from(&self, seq: u64) -> Result<()> {
        for item in self.tree.range(codec::seq_key(seq)..) {
            let (key, _) = item?;
            self.tree.remove(key)?;
        }
        self.appended.fetch_min(seq.saturating_sub(1), Ordering::AcqRel);
        Ok(())
    }

    /// fsyncs the blob files sled wrote since the last call and, if there were any, the blob
    /// directory.
    fn sync_blobs(&self) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let blobs = dir.join("blobs");
        let mut synced = self.blobs_synced.lock();
        let mut newest = *synced;
        let entries = match std::fs::read_dir(&blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let Some(n) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else { continue };
            if n > *synced {
                // sled removes blobs it no longer needs at any time; one gone between the
                // listing and the open needs no sync.
                match File::open(entry.path()).and_then(|f| f.sync_all()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                newest = newest.max(n);
            }
        }
        if newest > *synced {
            // The new names must survive too.
            File::open(&blobs)?.sync_all()?;
            *synced = newest;
        }
        Ok(())
    }

    /// Every event with `seq >= from`, in order, checked for gaps. The chain is checked by the
    /// caller, which knows the hash before `from`. Ends after the first error.
    pub fn read_from(&self, from: u64) -> impl Iterator<Item = Result<Event>> + '_ {
        self.read_range(from, u64::MAX)
    }

    /// `read_from`, ending after event `to`: records after it are not read, so damage there is
    /// not this reader's to report.
    pub fn read_range(&self, from: u64, to: u64) -> impl Iterator<Item = Result<Event>> + '_ {
        let mut cursor = self.cursor(from, to);
        let mut pending = Vec::new().into_iter();
        let mut done = false;
        std::iter::from_fn(move || loop {
            if let Some(e) = pending.next() {
                return Some(Ok(e));
            }
            if done {
                return None;
            }
            let mut events = Vec::new();
            match cursor.next_into(&mut events) {
                Ok(true) => pending = events.into_iter(),
                Ok(false) => done = true,
                Err(why) => {
                    done = true;
                    return Some(Err(why));
                }
            }
        })
    }

    /// A reader of the events with `seq >= from` that decodes each record straight into the
    /// caller's vector: replay's path, where moving every event through an iterator again
    /// was a fifth of the reading thread's time.
    pub fn cursor(&self, from: u64, to: u64) -> Cursor {
        let start = self
            .tree
            .range(..=codec::seq_key(from.max(1)))
            .next_back()
            .and_then(|r| r.ok())
            .map(|(k, _)| k.to_vec())
            .unwrap_or_else(|| codec::seq_key(0).to_vec());
        Cursor {
            records: self.tree.range(start..),
            from,
            expected: None,
            pending: None,
            unhashed: false,
            to,
            ended: false,
            defer: false,
            unsealed: Vec::new(),
            pool: Vec::new(),
        }
    }

    /// The raw trees, for `dump` and damage tests: (tree name, key, value) in order.
    pub fn raw(&self) -> &sled::Db {
        &self.db
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// At most this many value vectors wait in a cursor's pool (a few chunks' worth), each of at
/// most `POOLED_BYTES`: numbers and short strings, not a large value's buffer.
const POOLED: usize = 4_096;
const POOLED_BYTES: usize = 64;

/// Reads the log in order, record by record; see [`Log::cursor`].
pub struct Cursor {
    records: sled::Iter,
    from: u64,
    /// The seq the next event must have, once one was read.
    expected: Option<u64>,
    /// A problem found in a record after some of its events, which were handed out first: it
    /// is the next call's error.
    pending: Option<Error>,
    /// Whether an event handed out since the last `take_unhashed` came with a hash that was
    /// read, not computed from its contents (formats 1 to 3).
    unhashed: bool,
    /// The last event wanted: records after it are not read.
    to: u64,
    /// A record damaged after `to` was read up to the damage: nothing more to read.
    ended: bool,
    /// Leave a format 4 record unsealed when all its events are from `from` to `to`.
    defer: bool,
    /// The records handed out unsealed since the last `take_unsealed`: ranges of `out`.
    unsealed: Vec<std::ops::Range<usize>>,
    /// Emptied value vectors of events handed back (`recycle`), decoded into again.
    pool: Vec<Vec<u8>>,
}

impl Cursor {
    /// Appends the next record's events (those with `seq >= from`) to `out`; false at the end
    /// of the log. On an error `out` is as it was. A record damaged after its first events
    /// (`codec::decode_batch_into`) gives those events, and its error on the next call.
    pub fn next_into(&mut self, out: &mut Vec<Event>) -> Result<bool> {
        loop {
            if let Some(why) = self.pending.take() {
                return Err(why);
            }
            if self.ended {
                return Ok(false);
            }
            let Some(item) = self.records.next() else { return Ok(false) };
            let (k, v) = item?;
            let key = codec::key_seq(&k)?;
            if key > self.to {
                return Ok(false);
            }
            let start = out.len();
            let defer = self.defer && key >= self.from;
            match codec::decode_record_into(&v, out, defer, &mut self.pool).map_err(|e| e.at_seq(key)) {
                Ok(Hashes::Unsealed) => {
                    // Sealed now if `to` cuts it: only the last event's whole hash checks the
                    // last bytes of the record.
                    let within = out.last().is_some_and(|e| e.seq <= self.to);
                    let sealed = if within { Ok(()) } else { codec::seal(out.get_mut(start..).unwrap_or_default()) };
                    match sealed {
                        Ok(()) if within => self.unsealed.push(start..out.len()),
                        Ok(()) => {}
                        Err(why) => self.cut(out, start, why)?,
                    }
                }
                Ok(hashes) => self.unhashed |= hashes == Hashes::Read,
                Err(why) => self.cut(out, start, why)?,
            }
            let checked = self.check(key, out.get(start..).unwrap_or_default());
            if let Err(why) = checked {
                out.truncate(start);
                self.pending = None;
                self.unsealed.retain(|r| r.start < start);
                return Err(why);
            }
            // Only the first record read can hold events before `from`.
            let before = out.get(start..).unwrap_or_default().iter().take_while(|e| e.seq < self.from).count();
            out.drain(start..start + before);
            if out.len() > start {
                return Ok(true);
            }
        }
    }

    /// A problem found in the record read into `out` from `start`: the error now if it left no
    /// event before it, else the next call's, after those events. A problem after `to` ends
    /// the reading instead: it is not in what was asked for.
    fn cut(&mut self, out: &mut Vec<Event>, start: usize, why: Error) -> Result<()> {
        let keep = codec::keep_before(out, start, &why);
        self.unhashed = true;
        if why.at().is_some_and(|at| at > self.to) {
            self.ended = true;
        } else if keep == 0 {
            return Err(why);
        } else {
            self.pending = Some(why);
        }
        Ok(())
    }

    /// Leaves the hashes of format 4 records whose events are all from `from` up to `to` (as
    /// given to [`Log::cursor`]) for the caller to seal (`codec::seal`), each record listed by
    /// [`Cursor::take_unsealed`]. Their events come out with the record's first `prev` on the
    /// first, zeros on the others, and the bytes the record kept of each hash; the links
    /// between records (each one's first `prev` against the last event's kept hash) are the
    /// caller's to check.
    pub fn defer_sealing(&mut self) {
        self.defer = true;
    }

    /// Whether the record `next_into` last read, into `out` from `start`, was left unsealed.
    pub fn left_unsealed(&self, start: usize) -> bool {
        self.unsealed.last().is_some_and(|r| r.start == start)
    }

    /// Empties `events`, keeping their small created values' vectors for the next records to
    /// be decoded into: a replay allocated and freed one per created value (glibc's malloc and
    /// free were ≈ 15 % of its reading thread).
    pub fn recycle(&mut self, events: &mut Vec<Event>) {
        for e in events.drain(..) {
            if let EventData::CreateValue { mut value, .. } = e.data {
                if value.capacity() <= POOLED_BYTES && self.pool.len() < POOLED {
                    value.clear();
                    self.pool.push(value);
                }
            }
        }
    }

    /// The ranges of `out` (as passed to `next_into`) holding records left unsealed since the
    /// last call, one record each.
    pub fn take_unsealed(&mut self) -> Vec<std::ops::Range<usize>> {
        std::mem::take(&mut self.unsealed)
    }

    /// Whether an event handed out since the last call came with a hash read from the log
    /// rather than computed from its contents: only such a hash needs checking.
    pub fn take_unhashed(&mut self) -> bool {
        std::mem::take(&mut self.unhashed)
    }

    /// Does a record's batch start at its key, and continue the log without a gap?
    fn check(&mut self, key: u64, events: &[Event]) -> Result<()> {
        if events.first().map(|e| e.seq) != Some(key) {
            return Err(Error::corrupt(Some(key), "commit batch does not start at its key"));
        }
        for e in events.iter().filter(|e| e.seq >= self.from) {
            if let Some(x) = self.expected {
                if e.seq != x {
                    return Err(Error::corrupt(Some(x), format!("log gap: expected event {x}, found {}", e.seq)));
                }
            }
            self.expected = Some(e.seq + 1);
        }
        Ok(())
    }
}

fn open_error(log_dir: &Path, e: sled::Error) -> Error {
    // Name the store (the parent of its `log` directory), not sled's internals.
    let store = log_dir.parent().unwrap_or(log_dir).display();
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
            Error::Io(format!("store {store} is held by another process; close it there first"))
        }
        sled::Error::Io(io) => Error::Io(format!("cannot open store {store}: {}", io.kind())),
        sled::Error::Corruption { .. } => {
            Error::corrupt(None, format!("store {store} is damaged: sled cannot read its log file"))
        }
        other => Error::Io(format!("cannot open store {store}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventData, RecordRef, RecordType};

    fn event(seq: u64, bytes: usize) -> Event {
        Event {
            seq,
            at: 0,
            actor: 1,
            run: None,
            record: RecordRef { kind: RecordType::Value, id: seq },
            data: EventData::CreateValue {
                feature: Some(1),
                value: vec![7; bytes],
                hash: [0; 32],
                branch: 1,
                space: 1,
            },
            prev: [0; 32],
            hash: [0; 32],
        }
    }

    /// The writer thread appends a streamed commit from its stamped parts and the hashes it
    /// computed beside them: the records are byte for byte those of the same events sealed and
    /// cut at the same places, across several records and parts, the first following the
    /// commit's own `prev`, each later part the part before; and so when format 4 cannot hold
    /// a record (a malformed number) and a sealed copy is written instead. One part is written
    /// as `append` writes the whole commit.
    #[test]
    fn stamped_parts_and_their_hashes_are_written_as_the_sealed_events() {
        let value = |seq: u64, malformed: bool| {
            if malformed && seq == 2_500 {
                vec![2, 1]
            } else {
                crate::codec::canonical(&crate::value::Value::Int(seq as i64 * 1_000))
            }
        };
        for (malformed, cuts) in [(false, vec![3_000]), (true, vec![3_000]), (false, vec![700, 1, 1_299, 1_000])] {
            let prev = [5; 32];
            let stamped: Vec<Event> = (11..=3_010u64)
                .map(|seq| {
                    let mut e = event(seq, 0);
                    let v = value(seq, malformed);
                    e.data = EventData::CreateValue {
                        feature: Some(1),
                        hash: *blake3::hash(&v).as_bytes(),
                        value: v,
                        branch: 1,
                        space: 1,
                    };
                    // As a caller stamps a streamed commit: only the first `prev` set.
                    if seq == 11 {
                        e.prev = prev;
                    }
                    e
                })
                .collect();
            let mut sealed = stamped.clone();
            crate::codec::chain(&mut sealed, prev);
            let split = |events: &[Event]| -> Vec<Vec<Event>> {
                let mut rest = events;
                cuts.iter()
                    .map(|n| {
                        let (part, after) = rest.split_at(*n);
                        rest = after;
                        part.to_vec()
                    })
                    .collect()
            };
            let (stamped_parts, sealed_parts) = (split(&stamped), split(&sealed));
            let mut at = prev;
            let hashes: Vec<Vec<[u8; 32]>> = stamped_parts
                .iter()
                .map(|p| {
                    let h = crate::codec::chain_hashes(p, at);
                    at = h.last().copied().unwrap_or(at);
                    h
                })
                .collect();
            assert_eq!(hashes.concat(), sealed.iter().map(|e| e.hash).collect::<Vec<_>>());
            let (a, b) = (
                Log::temporary().unwrap_or_else(|e| panic!("{e}")),
                Log::temporary().unwrap_or_else(|e| panic!("{e}")),
            );
            if let [_] = cuts[..] {
                a.append(&sealed).unwrap_or_else(|e| panic!("{e}"));
            } else {
                a.write(sealed_parts.iter().flat_map(|p| pieces(p)).map(Piece::Sealed).collect())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let parts: Vec<(&[Event], &[[u8; 32]])> =
                stamped_parts.iter().zip(&hashes).map(|(p, h)| (p.as_slice(), h.as_slice())).collect();
            b.append_parts(&parts).unwrap_or_else(|e| panic!("{e}"));
            let records = |log: &Log| -> Vec<(Vec<u8>, Vec<u8>)> {
                log.tree.iter().flatten().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
            };
            let written = records(&a);
            assert!(written.len() > cuts.len() + 1, "{} records: the test wants several", written.len());
            let versions: Vec<u8> = written.iter().filter_map(|(_, v)| v.first().copied()).collect();
            assert_eq!(versions.contains(&1), malformed, "record versions {versions:?}");
            assert!(records(&b) == written, "malformed {malformed}, cuts {cuts:?}: the records differ");
            let back: Vec<Event> = b.read_from(11).collect::<Result<_>>().unwrap_or_else(|e| panic!("{e}"));
            assert!(back == sealed, "malformed {malformed}, cuts {cuts:?}: the events read back differ");
        }
    }

    #[test]
    fn sync_covers_blob_files_of_tree_nodes_not_only_of_big_records() {
        // Events of 60 KB are one record each, below the blob threshold, but a tree node holding
        // three of them is past it: sled writes such nodes to blob files as well, which a sync
        // must fsync. (Records of ordinary events, ~7 KiB at most, never fill a node that far.)
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = Log::open(&tmp.path().join("log"), Durability::Durable, 32 << 20).unwrap_or_else(|e| panic!("{e}"));
        let mut seq = 0;
        for _ in 0..10 {
            let events: Vec<Event> = (0..20)
                .map(|_| {
                    seq += 1;
                    event(seq, 60_000)
                })
                .collect();
            log.append(&events).unwrap_or_else(|e| panic!("{e}"));
            log.sync().unwrap_or_else(|e| panic!("{e}"));
        }
        let blobs: Vec<u64> = std::fs::read_dir(tmp.path().join("log").join("blobs"))
            .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        assert!(!blobs.is_empty(), "the workload should make sled write node blobs");
        let synced = *log.blobs_synced.lock();
        assert!(blobs.iter().all(|n| *n <= synced), "blob files {blobs:?} beyond the last synced {synced}");
    }
}
