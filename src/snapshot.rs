//! Snapshots: the folded state written to a file so that opening folds only the events after
//! it. A snapshot is a cache, never trusted without checks: its format version, fold version and
//! state hash are checked on load, and its head must match the log's event at its sequence
//! number. Any failure skips it (with a warning) for an older one or a full replay — except
//! an intact snapshot past the log's end, which proves the log lost durable events: opening
//! then fails with `Corruption`.
//!
//! Files live in `DIR/snapshots/snap-<seq, 20 digits>.bin`, written to a temporary name,
//! fsynced and renamed, so a crash leaves either the old set or the new file whole.

use crate::codec::{self, SnapshotFile};
use crate::error::{Error, Result};
use crate::log::Log;
use crate::state::State;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever the fold's meaning changes: older snapshots are then skipped and rebuilt.
pub const FOLD_VERSION: u32 = 1;

/// How many snapshot files are kept.
const KEEP: usize = 2;

pub(crate) fn dir_of(store: &Path) -> PathBuf {
    store.join("snapshots")
}

fn file_name(seq: u64) -> String {
    format!("snap-{seq:020}.bin")
}

/// Snapshot files, newest first, with their sequence numbers.
pub(crate) fn list(store: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = fs::read_dir(dir_of(store))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = name.strip_prefix("snap-")?.strip_suffix(".bin")?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out
}

/// Encodes the state as a snapshot file body.
pub(crate) fn encode(s: &State) -> Vec<u8> {
    codec::encode_snapshot(s, FOLD_VERSION)
}

/// Writes an encoded snapshot durably, then prunes old ones.
pub(crate) fn write(store: &Path, seq: u64, bytes: &[u8]) -> Result<()> {
    let dir = dir_of(store);
    // The snapshots directory only, never the store's own: a store whose directory was removed
    // while it was open must not have it re-created by its closing snapshot.
    match fs::create_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
        _ => {}
    }
    // A unique temporary name: a periodic and an explicit snapshot of the same seq may be
    // written at the same moment.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{}.{}-{n}.tmp", file_name(seq), std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(file_name(seq)))?;
    fs::File::open(&dir)?.sync_all()?;
    for (_, old) in list(store).into_iter().skip(KEEP) {
        let _ = fs::remove_file(old);
    }
    Ok(())
}

/// Why a snapshot file gave no state.
pub(crate) enum Unusable {
    /// Damaged, from another store or of another fold version: skipped, with a warning.
    Skip(Error),
    /// Intact, and the state after events the log does not reach. A snapshot is written only
    /// once its events are durable, so the log has lost them: damage, reported.
    LogLost(Error),
}

impl From<Error> for Unusable {
    fn from(e: Error) -> Self {
        Unusable::Skip(e)
    }
}

/// Reads and checks one snapshot file against the log. `named` is the seq in its file name,
/// which must be the seq inside it.
pub(crate) fn load(path: &Path, named: u64, log: &Log) -> std::result::Result<State, Unusable> {
    // The log must reach the named event before the file is decoded: that bounds what the
    // decoder allocates by what the log holds.
    let at_named = match named {
        0 => None,
        _ => match log.read_range(named, named).next() {
            Some(Ok(e)) if e.seq == named => Some(e.hash),
            Some(Ok(_)) => return Err(not_in_log(named).into()),
            None => return Err(past_the_log(path, named)),
            Some(Err(e)) => return Err(e.into()),
        },
    };
    let SnapshotFile { fold_version, state } = read_file(path, named)?;
    if state.seq != named {
        return Err(Error::corrupt(
            Some(named),
            format!("snapshot file is named for event {named} but holds the state after event {}", state.seq),
        )
        .into());
    }
    if fold_version != FOLD_VERSION {
        return Err(Error::corrupt(
            None,
            format!("snapshot has fold version {fold_version}; this build folds version {FOLD_VERSION}"),
        )
        .into());
    }
    if at_named.is_some_and(|hash| hash != state.head) {
        return Err(not_in_log(named).into());
    }
    Ok(state)
}

/// A snapshot named for an event past the log's end: intact (checksum, its own seq, this fold
/// version), it proves the log lost events; otherwise it is a damaged file, skipped.
fn past_the_log(path: &Path, named: u64) -> Unusable {
    let header = fs::File::open(path).and_then(|mut f| {
        let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
        Ok(codec::read_header(&mut f, len))
    });
    match header {
        Ok(Ok((FOLD_VERSION, seq))) if seq == named => Unusable::LogLost(Error::corrupt(
            Some(named),
            format!(
                "the log does not reach event {named}, but snapshot {} holds the state after it: the log \
                 has lost events that were durable. Move the snapshot aside to open the store with the \
                 events the log still has",
                path.display()
            ),
        )),
        _ => Unusable::Skip(not_in_log(named)),
    }
}

/// Reads, decodes and checks a snapshot file (not against the log); `max_seq` as in
/// `codec::read_snapshot`.
pub(crate) fn read_file(path: &Path, max_seq: u64) -> Result<SnapshotFile> {
    let mut file = fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| Error::Io(format!("snapshot file {} is too large", path.display())))?;
    codec::read_snapshot(&mut file, len, max_seq)
}

fn not_in_log(seq: u64) -> Error {
    Error::corrupt(
        Some(seq),
        "snapshot does not match the log (its head is not the log's event at its sequence number)",
    )
}

/// The newest snapshot that loads and checks out, with at most `max_seq`; warnings for the
/// ones skipped. With `quarantine`, a skipped file is renamed to `*.skipped` so that it is
/// not tried (or reported by `verify`) again; it is kept for inspection.
pub(crate) fn newest_valid(
    store: &Path,
    log: &Log,
    max_seq: u64,
    quarantine: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<State>> {
    for (seq, path) in list(store) {
        if seq > max_seq {
            continue;
        }
        match load(&path, seq, log) {
            Ok(s) => return Ok(Some(s)),
            // Left where it is: it is the evidence, and the way back to the lost events.
            Err(Unusable::LogLost(e)) => return Err(e),
            Err(Unusable::Skip(e)) => {
                warnings.push(format!("skipped snapshot {}: {}", path.display(), e.message()));
                if quarantine {
                    let _ = fs::rename(&path, path.with_extension("skipped"));
                }
            }
        }
    }
    Ok(None)
}
