//! Arbitrary bytes into every decoder of stored data — commit batches, events, canonical values,
//! snapshot files (header and image) — : no panic, and whatever decodes re-encodes to exactly
//! the input (the encodings are canonical, so two byte strings never decode to the same
//! record). Random bytes never pass a snapshot's checksum, so they are also tried as the
//! content of a snapshot file with a valid checksum appended, which sends them through the
//! header and image decoders, whole and in small chunks (which must agree). With `FVSTORE_FUZZ_SNAPSHOT=1` the bytes are also opened as a
//! snapshot file next to an empty store (slow: one sled open per input).
#![no_main]

use fvstore::codec::{
    canonical, check_value, decode_batch, decode_event, decode_value, encode_batch_as, encode_event, reencode_snapshot,
    reencode_snapshot_in_chunks, MAX_NESTING,
};
use fvstore::Store;
use libfuzzer_sys::fuzz_target;

/// The log length the snapshot decoders are given: what they allocate before a file's hashes
/// are checked is bounded by it (≈ 90 bytes a value slot), as an open bounds it by the log.
const MAX_SEQ: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode_batch(data) {
        // In the format it was read in (all three are read; more than one may hold a given chain).
        let again = data.first().and_then(|v| encode_batch_as(&batch, *v));
        assert_eq!(again.as_deref(), Some(data), "batch does not re-encode to its bytes: {batch:?}");
    }
    if let Ok(event) = decode_event(data) {
        assert_eq!(encode_event(&event), data, "event does not re-encode to its bytes: {event:?}");
    }
    // The checker (records keep strings, lists and dicts as checked bytes) and the decoder
    // accept the same bytes.
    assert_eq!(check_value(data, MAX_NESTING).is_ok(), decode_value(data, MAX_NESTING).is_ok(), "checker and decoder disagree");
    if let Ok(value) = decode_value(data, MAX_NESTING) {
        assert_eq!(canonical(&value), data, "value does not re-encode to its bytes: {value:?}");
    }
    if let Ok(again) = reencode_snapshot(data, MAX_SEQ) {
        assert_eq!(again, data, "snapshot file does not re-encode to its bytes");
    }
    let mut file = data.to_vec();
    file.extend_from_slice(blake3::hash(data).as_bytes());
    let whole = reencode_snapshot(&file, MAX_SEQ).map_err(|e| e.message());
    if let Ok(again) = &whole {
        assert_eq!(again, &file, "snapshot content with a valid checksum does not re-encode to its bytes");
    }
    // Read in small chunks (on a second thread, as a big file is at open): the same verdict.
    let chunk = 1 + usize::from(data.first().copied().unwrap_or(0) % 64);
    let chunked = reencode_snapshot_in_chunks(&file, MAX_SEQ, chunk).map_err(|e| e.message());
    assert_eq!(chunked, whole, "snapshot read in chunks of {chunk} differs from one read whole");
    if std::env::var_os("FVSTORE_FUZZ_SNAPSHOT").is_some() {
        snapshot(data);
    }
});

/// The bytes as the newest snapshot of an empty store: opening must succeed (a bad snapshot
/// is skipped with a warning) and give the empty state.
fn snapshot(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let snaps = dir.path().join("snapshots");
    std::fs::create_dir_all(&snaps).expect("mkdir");
    std::fs::write(snaps.join("snap-00000000000000000000.bin"), data).expect("write");
    let store = Store::open(dir.path()).expect("a bad snapshot must be skipped, not fail the open");
    let empty = Store::temporary().expect("temporary store");
    assert_eq!(store.head(), empty.head());
    assert_eq!(store.state_hash(), empty.state_hash(), "opening over a snapshot changed the empty state");
}
