//! Fuzz findings, each written as what the target did through the public API (see
//! docs/TESTING.md, "From a fuzz finding to a regression test").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fvstore::codec::reencode_snapshot;
use fvstore::Store;

/// A real snapshot file of a small store.
fn snapshot_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let me = store.session();
    for i in 0..5i64 {
        me.get_or_create(None, i).unwrap();
    }
    store.snapshot().unwrap();
    let snaps = dir.path().join("snapshots");
    let path = std::fs::read_dir(&snaps).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    std::fs::read(path).unwrap()
}

/// The file with `edit` applied and its checksum (the last 32 bytes) recomputed.
fn forged(mut file: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let content = file.len() - 32;
    edit(&mut file[..content]);
    let check = *blake3::hash(&file[..content]).as_bytes();
    file[content..].copy_from_slice(&check);
    file
}

/// `decode` found (stop 12): since a snapshot is decoded while its hashes are still being
/// taken, a header claiming the state after event 2^40 made the decoder reserve 2^40 value
/// slots (an abort, not an error) when the caller gave no bound. The decoders now take the
/// log's length as a parameter, as an open does; the finding's bytes under the target's bound
/// must be an error.
#[test]
fn a_snapshot_claiming_more_events_than_the_bound_is_an_error_not_an_allocation() {
    let file = snapshot_bytes();
    assert!(reencode_snapshot(&file, 1 << 16).is_ok());
    // Layout (docs/FORMAT.md): version byte, then the header: fold version u32, seq u64 (bytes
    // 5..13); the image from byte 85, whose counters end with the value slot count (133..141).
    let huge = (1u64 << 40).to_le_bytes();
    let far = forged(file.clone(), |b| {
        b[5..13].copy_from_slice(&huge);
        b[133..141].copy_from_slice(&huge);
    });
    let err = reencode_snapshot(&far, 1 << 16).unwrap_err().message();
    assert!(err.contains("beyond event 65536"), "{err}");
    // An honest seq with the slot count forged: refused whatever the bound, before allocating
    // (the slot count may not exceed the seq); the verdict names the image's hash, which is
    // checked before the image's own errors.
    let slots = forged(file, |b| b[133..141].copy_from_slice(&huge));
    let err = reencode_snapshot(&slots, u64::MAX).unwrap_err().message();
    assert!(err.contains("does not hash to the state hash"), "{err}");
}
