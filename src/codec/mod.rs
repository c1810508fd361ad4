//! The codec: the only code that knows byte layouts. Stored records are a format version byte
//! followed by a body. Events and batches are written and read by hand (`event_bytes`), several
//! times faster than serde: format 1 in exactly bincode 2's bytes (serde, fixed-width
//! integers; every event hash is computed over them), and the log's formats 2 and 3 with
//! varints (docs/FORMAT.md). Snapshot images are bincode, their values in a compact layout of
//! their own (`snapshot_values`). Values inside events use the
//! canonical encoding of `canon`. bincode is unmaintained, so every use of it is here.
//!
//! Decoding never panics and never allocates more than its input allows: bincode's limit is
//! the input length, and the canonical decoder refuses counts beyond the remaining bytes. The
//! one exception is bounded by the caller: a snapshot's value slots (deleted values leave
//! slots without bytes) may number at most the log's length, which the caller passes in.

mod canon;
mod chunks;
mod event_bytes;
mod snapshot;
mod snapshot_values;
mod varint;

pub(crate) use canon::{at_path, encode_value, TAG_DICT, TAG_LIST, TAG_STR};
pub use canon::{canonical, canonical_len, check_value, decode_value, value_hash};
pub(crate) use snapshot::{decode_snapshot, encode_snapshot, read_header, read_snapshot, state_hash, SnapshotFile};

use crate::error::{Error, Result};
use crate::event::{Batch, Event};

/// Decodes a snapshot file as opening a store does (checksum, version, header, image and its
/// consistency) and encodes the state it holds again: for the `decode` fuzz target and for
/// tools. A file this build wrote comes back byte for byte. `max_seq` plays the log's part:
/// the file may hold the state after at most that event, and what decoding allocates before
/// the hashes are checked is bounded by it, so pass the real bound (a fuzz target: a small one).
pub fn reencode_snapshot(bytes: &[u8], max_seq: u64) -> Result<Vec<u8>> {
    let file = decode_snapshot(bytes, max_seq)?;
    Ok(encode_snapshot(&file.state, file.fold_version))
}

/// `reencode_snapshot` with the file read in chunks of `chunk` bytes on a second thread, as
/// an open reads a file of more than one chunk: for the `decode` fuzz target, which checks that
/// it agrees with a read of the file whole.
#[doc(hidden)]
pub fn reencode_snapshot_in_chunks(bytes: &[u8], max_seq: u64, chunk: usize) -> Result<Vec<u8>> {
    let file = snapshot::read_chunked(&mut &bytes[..], bytes.len(), max_seq, chunk)?;
    Ok(encode_snapshot(&file.state, file.fold_version))
}

/// Deepest nesting the decoder follows; `Limits::max_depth` may not exceed it.
pub const MAX_NESTING: usize = 1024;

/// Version of the log this build writes: the meta tree's format byte, and the version byte of
/// the log records it writes. 2: varints, and batches leave out what the chain implies
/// (`event_bytes`); 3: and created values' content hashes, recomputed when read; 4: and all
/// but 4 bytes of each event's hash (the last event's is kept whole), recomputed when read.
/// Records of versions 1 to 3 are still read, so a store of any of them opens.
pub const FORMAT_VERSION: u8 = 4;

/// Version byte of a single encoded event, and of the bytes every event hash is computed over:
/// format 1 (bincode's fixed-width layout), whatever format stores the event.
pub const EVENT_FORMAT: u8 = 1;

/// Version byte of snapshot files. 2: the values section with varints (`snapshot_values`).
/// Snapshots are caches: a file of another version is skipped and the log replayed.
pub const SNAPSHOT_VERSION: u8 = 2;

/// Upper bound on one decoded record: sled values beyond this are refused as corrupt.
const MAX_RECORD: usize = 1 << 30;

pub(crate) fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_fixed_int_encoding().with_limit::<MAX_RECORD>()
}

/// Encodes a commit batch as the log would hold it: format 4 when the batch is a chain whose
/// every hash is its event's (every batch the log writes), else format 3 for a chain, else
/// format 1, which holds any batch (tests write tampered ones: one with a changed field and
/// its old hash is kept as it is, for replay and verify to find).
pub fn encode_batch(b: &Batch) -> Vec<u8> {
    [FORMAT_VERSION, 3, 1].iter().find_map(|v| encode_batch_as(b, *v)).unwrap_or_default()
}

/// The log writer's encoding of these events into `out` (cleared first), in format 4: it
/// reuses one buffer for all its records, and sled copies each into an allocation of its exact
/// size. The events are sealed by this build, so their hashes are their own and are not
/// computed again here.
pub(crate) fn encode_events_into(events: &[Event], out: &mut Vec<u8>) {
    out.clear();
    debug_assert!(events.iter().all(|e| event_hash(e) == e.hash), "the log writes only sealed events");
    if !put_as(events, FORMAT_VERSION, out) {
        put_as(events, 1, out);
    }
}

/// Encodes a commit batch in format `version` (1 to 4); `None` for another version, for
/// versions 2 to 4 and a batch that is not a chain, and for version 4 and one with a hash that
/// is not its event's (format 4 keeps only 4 bytes of most hashes; reading recomputes them).
/// A value whose stored hash is not its content's (a forged event) comes back from formats 3
/// and 4 with the content's hash.
pub fn encode_batch_as(b: &Batch, version: u8) -> Option<Vec<u8>> {
    if version == 4 && !b.events.iter().all(|e| event_hash(e) == e.hash) {
        return None;
    }
    let mut out = Vec::new();
    put_as(&b.events, version, &mut out).then_some(out)
}

/// Appends the record of these events in format `version`; false (and nothing appended) if
/// that format cannot hold them. Format 4's hashes are the caller's to check.
fn put_as(events: &[Event], version: u8, out: &mut Vec<u8>) -> bool {
    use event_bytes::Chain;
    let chain = || event_bytes::chained(events);
    out.push(version);
    match version {
        1 => event_bytes::put_batch(events, out),
        2 if chain() => event_bytes::put_chain(events, Chain::V2, out),
        3 if chain() => event_bytes::put_chain(events, Chain::V3, out),
        4 if chain() && event_bytes::compactable(events) => event_bytes::put_chain(events, Chain::V4, out),
        _ => {
            out.pop();
            return false;
        }
    }
    true
}

/// Splits off the version byte.
fn version<'a>(bytes: &'a [u8], what: &str) -> Result<(u8, &'a [u8])> {
    let (version, body) = bytes.split_first().ok_or_else(|| Error::corrupt(None, format!("empty {what} record")))?;
    Ok((*version, body))
}

fn unknown_version(what: &str, version: u8, reads: &str) -> Error {
    Error::corrupt(None, format!("{what} has format version {version}; this build reads {reads}"))
}

fn undecodable(what: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| {
        let (at, reason) = match e {
            Error::Corruption { at, reason } => (at, reason),
            other => (None, other.message()),
        };
        Error::corrupt(at, format!("undecodable {what}: {reason}"))
    }
}

/// Decodes a commit batch from the log tree.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch> {
    let mut events = Vec::new();
    decode_batch_into(bytes, &mut events)?;
    Ok(Batch { events })
}

/// Decodes a commit batch from the log tree, appending its events to `out`. Returns whether
/// every event's hash was computed from its contents here (format 4), so that checking it
/// again would find nothing. On an error naming an event of the record (a field that does not
/// decode, or in format 4 a hash that does not match), `out` keeps the events before that
/// one, whose hashes are as the return value would have said; on any other it is as it was.
pub fn decode_batch_into(bytes: &[u8], out: &mut Vec<Event>) -> Result<bool> {
    decode_record_into(bytes, out, false, &mut Vec::new()).map(|h| h == Hashes::Computed)
}

/// Where the hashes of a record's decoded events stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashes {
    /// Read from the record (formats 1 to 3): each is still to be checked against its event.
    Read,
    /// Computed from the events (format 4).
    Computed,
    /// Format 4's, left for [`seal`] to compute (as `decode_record_into` was asked).
    Unsealed,
}

/// `decode_batch_into`, leaving a format 4 record's hashes for [`seal`] if `defer`, so another
/// thread can compute them. A record that fails to decode is sealed as far as it decoded
/// whatever `defer` says, so that a hash that does not match before the failing event is the
/// error reported: the first problem in log order.
pub(crate) fn decode_record_into(
    bytes: &[u8],
    out: &mut Vec<Event>,
    defer: bool,
    pool: &mut Vec<Vec<u8>>,
) -> Result<Hashes> {
    use event_bytes::{Chain, Reader};
    let what = "commit batch";
    let start = out.len();
    let (mut done, hashes) = match version(bytes, what)? {
        (1, body) => {
            let mut r = Reader::new(body, event_bytes::Ints::Fixed);
            r.pool = std::mem::take(pool);
            let done = r.batch_into(out).map_err(undecodable(what)).and_then(|()| r.finish(what));
            *pool = r.pool;
            (done, Hashes::Read)
        }
        (v @ 2..=4, body) => {
            let chain = [Chain::V2, Chain::V3, Chain::V4][usize::from(v - 2)];
            let mut r = Reader::chained(body, chain);
            r.pool = std::mem::take(pool);
            let done = r.chain_into(out).map_err(undecodable(what)).and_then(|()| r.finish(what));
            *pool = r.pool;
            (done, if chain == Chain::V4 { Hashes::Unsealed } else { Hashes::Read })
        }
        (v, _) => return Err(unknown_version(what, v, "versions 1 to 4")),
    };
    if hashes == Hashes::Unsealed && (done.is_err() || !defer) {
        let events = out.get_mut(start..).unwrap_or_default();
        if let Err(why) = event_bytes::seal(events, done.is_ok()) {
            done = Err(why);
        }
    }
    if let Err(why) = &done {
        keep_before(out, start, why);
    }
    done.map(|()| if hashes == Hashes::Unsealed && !defer { Hashes::Computed } else { hashes })
}

/// After an error in the record read into `out` from `start`, keeps the events before the one
/// it names (all of them, if it names a later one; none, if it names no event). Returns how
/// many were kept.
pub(crate) fn keep_before(out: &mut Vec<Event>, start: usize, why: &Error) -> usize {
    let keep = why.at().map_or(0, |at| out.get(start..).unwrap_or_default().iter().take_while(|e| e.seq < at).count());
    out.truncate(start + keep);
    keep
}

/// Seals the events of one format 4 record that `decode_record_into` left unsealed: computes
/// their hashes along the chain and checks them against what the record kept. On an error,
/// naming the event, the events before it are sealed.
pub(crate) fn seal(events: &mut [Event]) -> Result<()> {
    event_bytes::seal(events, true)
}

/// About how many bytes a created value takes in a format 4 record (its length or compact
/// marker included): a number as its compact form with a varint of 3 bytes, the usual.
pub(crate) fn stored_value_len(canonical: &[u8]) -> usize {
    if canon::as_number(canonical).is_some() {
        5
    } else {
        1 + canonical.len()
    }
}

/// Encodes a single event (for fuzzing and export tooling).
pub fn encode_event(e: &Event) -> Vec<u8> {
    let mut out = vec![EVENT_FORMAT];
    event_bytes::put_event(e, false, &mut out);
    out
}

/// Decodes a single event.
pub fn decode_event(bytes: &[u8]) -> Result<Event> {
    let body = match version(bytes, "event")? {
        (EVENT_FORMAT, body) => body,
        (v, _) => return Err(unknown_version("event", v, "version 1")),
    };
    let mut r = event_bytes::Reader::new(body, event_bytes::Ints::Fixed);
    let e = r.event().map_err(undecodable("event"))?;
    r.finish("event")?;
    Ok(e)
}

/// The chain hash of an event: blake3 over its encoding with `hash` zeroed. It covers `prev`,
/// so changing any earlier event breaks every hash after it. The event is encoded into a
/// reused per-thread buffer and hashed in one call.
pub fn event_hash(e: &Event) -> [u8; 32] {
    event_bytes::chain_hash(e)
}

/// Hashes stamped events along the chain: the first follows `prev`, each next one the event
/// before it. Returns the last hash (`prev` for no events).
pub(crate) fn chain(events: &mut [Event], mut prev: [u8; 32]) -> [u8; 32] {
    for e in events {
        e.prev = prev;
        e.hash = event_hash(e);
        prev = e.hash;
    }
    prev
}

/// The hash `chain` would give the last of these stamped events (`prev` for none), the first
/// following `prev`.
pub(crate) fn chain_end(events: &[Event], prev: [u8; 32]) -> [u8; 32] {
    events.iter().fold(prev, |prev, e| event_bytes::chain_hash_after(e, &prev))
}

/// The hashes `chain` would give stamped events, computed beside them: they stay as they are
/// (the writer thread hashes a commit its caller is still reading).
pub(crate) fn chain_hashes(events: &[Event], mut prev: [u8; 32]) -> Vec<[u8; 32]> {
    events
        .iter()
        .map(|e| {
            prev = event_bytes::chain_hash_after(e, &prev);
            prev
        })
        .collect()
}

/// A sealed copy of stamped events whose hashes `chain_hashes` computed (one each, the first
/// following `prev`): each copy's `prev` and `hash` filled in, nothing hashed again.
pub(crate) fn sealed_copy(events: &[Event], mut prev: [u8; 32], hashes: &[[u8; 32]]) -> Vec<Event> {
    let mut copy = events.to_vec();
    for (e, h) in copy.iter_mut().zip(hashes) {
        (e.prev, e.hash) = (prev, *h);
        prev = *h;
    }
    copy
}

/// `encode_events_into` for stamped events whose hashes are `hashes`, one each, the first
/// following `prev` (as `chain_hashes` computed them). False, with `out` empty, if format 4
/// cannot hold them: the caller seals a copy and encodes that.
pub(crate) fn encode_stamped_into(events: &[Event], prev: &[u8; 32], hashes: &[[u8; 32]], out: &mut Vec<u8>) -> bool {
    out.clear();
    if hashes.len() != events.len() || !event_bytes::compactable(events) {
        return false;
    }
    out.push(FORMAT_VERSION);
    let hash = |i: usize| hashes.get(i).copied().unwrap_or_default();
    event_bytes::put_chain_by(events, prev, hash, event_bytes::Chain::V4, out);
    true
}

/// The log tree key of a batch: its first sequence number, big-endian so keys sort by seq.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Reads a log tree key back.
pub fn key_seq(key: &[u8]) -> Result<u64> {
    let arr: [u8; 8] =
        key.try_into().map_err(|_| Error::corrupt(None, format!("log key of {} bytes, expected 8", key.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// Lower-case hex of a hash (event hashes, heads); value records keep the bytes as a
/// [`crate::value::ValueHash`] and format only when asked.
pub fn hex(h: &[u8; 32]) -> String {
    crate::value::ValueHash(*h).to_string()
}

/// Lower-case hex of any bytes, two digits each, into one string (a string per byte was most
/// of the allocations of an export).
pub fn hex_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// Parses 64 hex digits (either case).
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *byte = hex_pair(pair)?;
    }
    Some(out)
}

/// Parses an even number of hex digits (either case) into bytes.
pub fn unhex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes().chunks_exact(2).map(hex_pair).collect()
}

/// Two hex digits; no sign, no space (`u8::from_str_radix` took a leading `+`).
fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |c: &u8| char::from(*c).to_digit(16);
    match pair {
        [hi, lo] => u8::try_from(digit(hi)? << 4 | digit(lo)?).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod hex_tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex_bytes(&hex_bytes(&all)), Some(all.clone()));
        assert_eq!(unhex_bytes(&hex_bytes(&all).to_uppercase()), Some(all));
        let h = [0xab; 32];
        assert_eq!(unhex(&hex(&h)), Some(h));
        for bad in ["+f", " f", "f ", "g0", "0x", "-1", "abc", "é"] {
            assert_eq!(unhex_bytes(bad), None, "{bad:?}");
        }
        assert_eq!(unhex(&"0".repeat(63)), None);
        assert_eq!(unhex(&format!("{}+f", "0".repeat(62))), None);
    }
}
