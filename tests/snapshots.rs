//! Snapshots are caches, never trusted (SPEC §8, Snapshots): a damaged, truncated, foreign or
//! out-of-place snapshot is skipped with a warning, and opening always gives the state of a
//! full replay. Periodic snapshots are written every N events and old ones pruned; reopening
//! from a snapshot folds the events after it and answers every query as before closing.
//!
//! Files are `DIR/snapshots/snap-<20-digit seq>.bin`: a format version byte, then a bincode
//! header (fold_version u32, seq u64, head [32], last_at i64, state_hash [32], fixed-width
//! little-endian), then the image (codec/snapshot.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::workload::{answers, copy_dir, options, workload};
use fvstore::{FeatureSpec, Query, RecordRef, RecordType, Store};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Byte offsets in a snapshot file (see the module docs).
const FOLD_VERSION_AT: usize = 1;
const LAST_AT_AT: usize = 1 + 4 + 8 + 32;
const STATE_HASH_AT: usize = LAST_AT_AT + 8;

/// Snapshot files, oldest first (temporary files excluded).
fn snapshot_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = name.strip_prefix("snap-")?.strip_suffix(".bin")?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn snap_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join("snapshots").join(format!("snap-{seq:020}.bin"))
}

/// What a full replay of the log gives: (state hash, head, answers), from a copy of the store
/// without its snapshots.
fn full_replay(dir: &Path) -> ([u8; 32], (u64, [u8; 32]), String) {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path(), false);
    let store = Store::open_with(copy.path(), options(0)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    (store.state_hash(), store.head(), answers(&store))
}

/// A closed store with two snapshots: one in the middle of the log, one at its head (written on
/// close). Returns (middle seq, head seq).
fn two_snapshots(dir: &Path, seed: u64) -> (u64, u64) {
    let store = Store::open_with(dir, options(0)).unwrap();
    workload(&store, 60, seed);
    let middle = store.snapshot().unwrap();
    workload(&store, 60, seed + 1);
    let head = store.head().0;
    assert!(head > middle, "the workload wrote nothing after the first snapshot");
    drop(store);
    let files: Vec<u64> = snapshot_files(dir).iter().map(|(s, _)| *s).collect();
    assert_eq!(files, vec![middle, head], "snapshots after a clean close");
    (middle, head)
}

/// Damages the newest snapshot of a two-snapshot store with `damage(store dir, newest file)`,
/// then checks that opening skips it with a warning and gives exactly the full replay.
fn check_damaged_newest(seed: u64, damage: impl FnOnce(&Path, &Path)) -> (Store, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (_, head) = two_snapshots(&dir, seed);
    let (replay_hash, replay_head, replay_answers) = full_replay(&dir);
    damage(&dir, &snap_path(&dir, head));
    let store = Store::open_with(&dir, options(0)).expect("open with a damaged snapshot");
    assert!(!store.warnings().is_empty(), "a damaged snapshot was used without a warning");
    assert_eq!(store.head(), replay_head, "head differs from a full replay");
    assert_eq!(store.state_hash(), replay_hash, "state differs from a full replay");
    assert_eq!(answers(&store), replay_answers, "answers differ from a full replay");
    // The store works on: a new commit and a clean verify.
    store.session().create_artifact("after/damage").unwrap();
    (store, tmp)
}

fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_snapshot_is_skipped() {
    check_damaged_newest(1, |_, p| rewrite(p, |b| b.truncate(b.len() / 2)));
}

#[test]
fn snapshot_cut_by_a_few_bytes_is_skipped() {
    check_damaged_newest(2, |_, p| rewrite(p, |b| b.truncate(b.len() - 3)));
}

#[test]
fn flipped_bytes_in_the_middle_are_detected() {
    check_damaged_newest(3, |_, p| {
        rewrite(p, |b| {
            let mid = b.len() / 2;
            for x in &mut b[mid..mid + 4] {
                *x ^= 0x5a;
            }
        });
    });
}

#[test]
fn wrong_format_version_byte_is_skipped() {
    check_damaged_newest(4, |_, p| rewrite(p, |b| b[0] = b[0].wrapping_add(1)));
}

#[test]
fn empty_snapshot_file_is_skipped() {
    check_damaged_newest(5, |_, p| std::fs::write(p, b"").unwrap());
}

#[test]
fn snapshot_of_another_fold_version_is_skipped() {
    // The fold version is the header's first field: a u32, little-endian, after the format
    // byte. It is outside the image, so the state hash still checks out: only the fold version
    // check can refuse it.
    check_damaged_newest(6, |_, p| {
        rewrite(p, |b| {
            let v = u32::from_le_bytes(b[FOLD_VERSION_AT..FOLD_VERSION_AT + 4].try_into().unwrap());
            assert_eq!(v, 1, "the fold version field is where the format says");
            b[FOLD_VERSION_AT..FOLD_VERSION_AT + 4].copy_from_slice(&(v + 1).to_le_bytes());
        });
    });
}

#[test]
fn snapshot_of_another_store_at_the_same_seq_is_skipped() {
    // A well-formed snapshot at the right sequence number, but of another history: its head
    // does not match the log.
    let other = tempfile::tempdir().unwrap();
    check_damaged_newest(7, |dir, p| {
        let head = snapshot_files(dir).last().unwrap().0;
        let store = Store::open_with(other.path(), options(0)).unwrap();
        workload(&store, 10, 99);
        while store.head().0 < head {
            store.session().create_artifact("padding").unwrap(); // one event each
        }
        assert_eq!(store.snapshot().unwrap(), head);
        drop(store);
        std::fs::copy(snap_path(other.path(), head), p).unwrap();
    });
}

/// Opening `dir` fails with `Corruption` naming each of `seqs` in turn and leaves that
/// snapshot where it is, until it is moved aside; then the store opens to a full replay of
/// what the log still holds.
fn check_log_lost(dir: &Path, seqs: &[u64]) {
    for &seq in seqs {
        let snap = snap_path(dir, seq);
        match Store::open_with(dir, options(0)) {
            Err(fvstore::Error::Corruption { at: Some(at), reason }) => {
                assert_eq!(at, seq, "{reason}");
                assert!(reason.contains("has lost events") && reason.contains("Move the snapshot aside"), "{reason}");
            }
            Err(e) => panic!("a log that lost events was refused as {e}, not as Corruption at {seq}"),
            Ok(s) => panic!("a log that lost events opened at head {}", s.head().0),
        }
        assert!(snap.is_file(), "the snapshot that proves the loss was moved");
        std::fs::rename(&snap, snap.with_extension("aside")).unwrap();
    }
    let (replay_hash, replay_head, _) = full_replay(dir);
    let store = Store::open_with(dir, options(0)).unwrap();
    assert_eq!((store.head(), store.state_hash()), (replay_head, replay_hash));
}

/// SPEC §8: damage is reported, never silently skipped. A snapshot is written only once its
/// events are durable, so an intact one past the log's end proves the log lost them.
#[test]
fn intact_snapshot_past_the_log_is_corruption() {
    // A genuine snapshot from later in the same history (the log was copied before those
    // events, as a restore of an older backup of the log alone would leave it).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let later = tempfile::tempdir().unwrap();
    let (_, head) = two_snapshots(dir, 8);
    copy_dir(dir, later.path(), true);
    let store = Store::open_with(later.path(), options(0)).unwrap();
    workload(&store, 30, 1234);
    let later_head = store.snapshot().unwrap();
    assert!(later_head > head);
    drop(store);
    std::fs::copy(snap_path(later.path(), later_head), snap_path(dir, later_head)).unwrap();
    check_log_lost(dir, &[later_head]);
}

#[test]
fn a_wiped_log_beside_its_snapshots_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (middle, head) = two_snapshots(dir, 10);
    std::fs::File::create(dir.join("log").join("db")).unwrap();
    check_log_lost(dir, &[head, middle]);
}

#[test]
fn snapshot_renamed_to_a_seq_beyond_the_log_is_skipped() {
    check_damaged_newest(9, |dir, p| {
        std::fs::rename(p, snap_path(dir, 1_000_000)).unwrap();
    });
}

#[test]
fn as_of_never_uses_a_snapshot_from_after_its_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (middle, head) = two_snapshots(dir, 10);
    // The newest snapshot (state after `head`) renamed to claim `middle - 5`: by name, it is the
    // snapshot for as_of(middle - 3).
    std::fs::rename(snap_path(dir, head), snap_path(dir, middle - 5)).unwrap();
    let store = Store::open_with(dir, options(0)).unwrap();
    let seq = middle - 3;
    let view = store.as_of(seq).unwrap();
    assert_eq!(view.head().0, seq, "as_of({seq}) shows the state after event {}", view.head().0);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path(), false);
    let replay = Store::open_with(copy.path(), options(0)).unwrap();
    assert_eq!(answers(&view), answers(&replay.as_of(seq).unwrap()));
}

#[test]
fn damaged_last_at_in_the_header_is_not_trusted() {
    // The damage leaves the image (and its hash) intact, so the state hash of the open equals a
    // replay's; what differs is the time the next event is stamped with.
    let (store, _tmp) = check_damaged_newest(11, |_, p| {
        rewrite(p, |b| b[LAST_AT_AT..LAST_AT_AT + 8].copy_from_slice(&0i64.to_le_bytes()));
    });
    // check_damaged_newest committed one event after opening; every event is stamped at least
    // 1 ms after the one before it.
    let log = store.session().log(1, u64::MAX).unwrap();
    for pair in log.windows(2) {
        assert!(
            pair[1].at >= pair[0].at + 1000,
            "event {} is stamped {} but event {} {} (SPEC §8: never earlier than 1 ms after)",
            pair[1].seq,
            pair[1].at,
            pair[0].seq,
            pair[0].at
        );
    }
    // Closed before its directory goes: the closing snapshot would re-create it in /tmp.
    drop(store);
}

/// Fuzz finding (`decode`, input with a valid checksum appended): a snapshot whose header state
/// hash does not match its image, with the file checksum recomputed so that it checks out.
// postmortem: the decoder trusted the header's state hash without hashing the image, so such a
// file loaded (and re-encoded to other bytes); a crafted or buggy snapshot could then give a
// state whose recorded identity is false. Fixed: the image must hash to the header's value.
#[test]
fn snapshot_whose_state_hash_does_not_match_its_image_is_skipped() {
    check_damaged_newest(12, |_, p| {
        rewrite(p, |b| {
            b[STATE_HASH_AT] ^= 1;
            let content = b.len() - 32;
            let check = *blake3::hash(&b[..content]).as_bytes();
            b[content..].copy_from_slice(&check);
        })
    });
}

#[test]
fn both_snapshots_damaged_means_a_full_replay() {
    check_damaged_newest(12, |dir, p| {
        rewrite(p, |b| b.truncate(10));
        let (_, oldest) = &snapshot_files(dir)[0];
        rewrite(oldest, |b| {
            let mid = b.len() / 2;
            b[mid] ^= 1;
        });
    });
}

#[test]
fn leftover_temporary_file_is_ignored() {
    // A crash between writing and renaming leaves `snap-….bin.tmp`: never read.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_, head) = two_snapshots(dir, 13);
    let (replay_hash, replay_head, _) = full_replay(dir);
    std::fs::write(dir.join("snapshots").join(format!("snap-{:020}.bin.tmp", head + 5)), b"half a snap").unwrap();
    let store = Store::open_with(dir, options(0)).unwrap();
    assert_eq!((store.state_hash(), store.head()), (replay_hash, replay_head));
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
}

#[test]
fn periodic_snapshots_are_written_and_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = Store::open_with(dir, options(50)).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut round = 0;
    while store.head().0 < 300 {
        workload(&store, 10, 100 + round);
        round += 1;
        seen.extend(snapshot_files(dir).into_iter().map(|(s, _)| s));
    }
    let head = store.head().0;
    // Snapshots are spaced by 50 events or the state's size (values and links), whichever is
    // more. They are written off the write path (a new file appears, then the oldest is
    // pruned): wait until one within the last spacing is there and the pruning is done.
    let stats = store.stats();
    let spacing = 50.max((stats.values + stats.links) as u64);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files = snapshot_files(dir);
        seen.extend(files.iter().map(|(s, _)| *s));
        if files.len() <= 2 && files.last().is_some_and(|(s, _)| *s + spacing > head) {
            break;
        }
        assert!(Instant::now() < deadline, "snapshots near head {head} never settled to two: {files:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.len() >= 3, "a snapshot every 50 to {spacing} events over {head} events; saw only {seen:?}");
    let files = snapshot_files(dir);
    assert!(files.iter().all(|(s, _)| *s >= 50 && *s <= head), "{files:?}");
    let hash = store.state_hash();
    let answers_before = answers(&store);
    drop(store);
    let files = snapshot_files(dir);
    assert!(files.len() <= 2, "after close: {files:?}");
    assert_eq!(files.last().unwrap().0, head, "a clean close snapshots the final state");
    let tmp_files = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
    assert_eq!(tmp_files.count(), 0, "no temporary snapshot left behind");
    let store = Store::open_with(dir, options(50)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    assert_eq!(store.state_hash(), hash);
    assert_eq!(answers(&store), answers_before);
}

#[test]
fn reopening_folds_the_events_after_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = Store::open_with(dir, options(50)).unwrap();
    workload(&store, 140, 21);
    let head = store.head();
    let hash = store.state_hash();
    let answers_before = answers(&store);
    drop(store);
    let (replay_hash, replay_head, replay_answers) = full_replay(dir);
    assert_eq!((replay_hash, replay_head), (hash, head), "the live state is the replay of its log");
    assert_eq!(replay_answers, answers_before);

    // From the snapshot at the head (written on close).
    let store = Store::open_with(dir, options(50)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    assert_eq!((store.state_hash(), store.head()), (hash, head));
    assert_eq!(answers(&store), answers_before);
    drop(store);

    // From the older periodic snapshot: the close snapshot removed, the events after the
    // periodic one are folded.
    let files = snapshot_files(dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let (periodic, _) = files[0];
    assert!(periodic < head.0 && periodic >= 50, "periodic snapshot at {periodic}, head {}", head.0);
    std::fs::remove_file(&files[1].1).unwrap();
    let store = Store::open_with(dir, options(50)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    assert_eq!(store.head(), head, "events after snapshot {periodic} folded");
    assert_eq!(store.state_hash(), hash);
    assert_eq!(answers(&store), answers_before);
    store.verify().unwrap();

    // And the store goes on from there: new events, a clean close, the same again.
    workload(&store, 20, 22);
    let (head2, hash2, answers2) = (store.head(), store.state_hash(), answers(&store));
    drop(store);
    let store = Store::open_with(dir, options(50)).unwrap();
    assert_eq!((store.head(), store.state_hash()), (head2, hash2));
    assert_eq!(answers(&store), answers2);
}

#[test]
fn snapshot_on_demand_and_as_of_agree_with_a_replay() {
    // as_of a seq at, before and after snapshots gives what a full replay to that seq gives.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (middle, head) = two_snapshots(dir, 30);
    let store = Store::open_with(dir, options(0)).unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path(), false);
    let replay = Store::open_with(copy.path(), options(0)).unwrap();
    for seq in [0, 1, middle - 1, middle, middle + 1, head - 1, head] {
        let a = store.as_of(seq).unwrap();
        let b = replay.as_of(seq).unwrap();
        assert_eq!(a.head(), b.head(), "as_of({seq})");
        assert_eq!(a.head().0, seq, "as_of({seq})");
        assert_eq!(a.state_hash(), b.state_hash(), "as_of({seq})");
        assert_eq!(answers(&a), answers(&b), "as_of({seq})");
    }
    assert!(matches!(store.as_of(head + 1), Err(fvstore::Error::ValidationError(_))));
}

/// Commands whose answers depend on derived state (indexes, counters, protection of runs,
/// name uniqueness, the last timestamp), run on a store; their answers, rendered.
fn probe(store: &Store) -> String {
    let me = store.session();
    let mut out = Vec::new();
    for run in me.runs().unwrap() {
        out.push(format!("delete_run {}: {:?}", run.id, me.delete_run(run.id, true)));
    }
    for v in me.filter(&Query::new().filter("branch", "all")).unwrap() {
        let f = v.feature_id.map(fvstore::Ref::from);
        out.push(format!("get_or_create {}: {:?}", v.id, me.get_or_create(f, v.value.clone()).map(|(r, e)| (r.id, e))));
    }
    for b in me.branches().unwrap() {
        out.push(format!("merge {}: {:?}", b.id, me.merge_branch(b.id).map_err(|e| e.kind())));
    }
    out.push(format!("{:?}", me.create_user("ALICE").map_err(|e| e.kind())));
    out.push(format!("{:?}", me.create_feature(&FeatureSpec::new("temperature", "int")).map_err(|e| e.kind())));
    out.push(format!("{:?}", me.create_artifact("probe").map(|a| (a.id, a.created_at))));
    out.push(format!("{:?}", me.get_or_create(Some("tissue".into()), "probe").map(|(r, e)| (r.id, r.created_at, e))));
    out.push(format!("{:?}", me.log(1, u64::MAX).unwrap().last().map(|e| (e.seq, e.at))));
    out.push(format!("{:?}", store.state_hash()));
    out.join("\n")
}

#[test]
fn snapshot_open_behaves_like_a_full_replay() {
    // The state hash covers the snapshot image; this checks what the image does not show:
    // every command that reads derived state answers the same after a snapshot open as after
    // a full replay.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let store = Store::open_with(&dir, options(0)).unwrap();
        workload(&store, 80, 40); // creates user alice, whom the probe tries to create again
        let me = store.session();
        let used = me.start_run("used").unwrap().id;
        me.start_run("unused").unwrap();
        let under = me.clone().with_run(used);
        let gone = under.get_or_create(Some("tissue".into()), "made under the run").unwrap().0.id;
        under.create_artifact("made/under/the/run").unwrap();
        me.delete(RecordRef { kind: RecordType::Value, id: gone }, true).unwrap();
        me.finish_run(used).unwrap();
        workload(&store, 40, 41);
    }
    let from_snapshot = tmp.path().join("from_snapshot");
    let replayed = tmp.path().join("replayed");
    copy_dir(&dir, &from_snapshot, true);
    copy_dir(&dir, &replayed, false);
    let a = probe(&Store::open_with(&from_snapshot, options(0)).unwrap());
    let b = probe(&Store::open_with(&replayed, options(0)).unwrap());
    assert!(a.contains("ProtectedError"), "the run with records is protected:\n{a}");
    assert_eq!(a, b);
}

#[test]
fn a_store_whose_directory_was_removed_does_not_recreate_it_on_close() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = Store::open_with(&dir, options(0)).unwrap();
    store.session().create_artifact("a").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // The closing snapshot has nowhere to go; closing must neither panic nor resurrect the dir.
    drop(store);
    assert!(!dir.exists(), "the closing snapshot re-created {}", dir.display());
}

/// A snapshot of several 1 MiB chunks, which an open reads on a second thread while it
/// decodes: it opens to the state of a full replay, and damage in a later chunk or a cut is
/// found and the file skipped.
#[test]
fn a_snapshot_of_several_chunks_opens_alike_and_its_damage_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    {
        // Buffered for speed; closing flushes.
        let buffered = fvstore::Options { durability: fvstore::Durability::Buffered, ..options(0) };
        let store = Store::open_with(&dir, buffered).unwrap();
        let me = store.session();
        me.create_feature(&FeatureSpec::new("n", "int")).unwrap();
        me.create_feature(&FeatureSpec::new("p", "dict")).unwrap();
        let art = me.create_artifact("data/big.h5ad").unwrap();
        for i in 0..60_000i64 {
            let (v, _) = me.get_or_create(Some("n".into()), i).unwrap();
            if i % 1_000 == 0 {
                me.link(v.id, fvstore::Host::Artifact(art.id)).unwrap();
            }
        }
        for i in 0..2_000i64 {
            let dict = fvstore::Value::Dict(
                [
                    ("batch".to_string(), fvstore::Value::Int(i)),
                    ("tag".to_string(), fvstore::Value::from(format!("t{}", i % 7))),
                ]
                .into_iter()
                .collect(),
            );
            me.get_or_create(Some("p".into()), dict).unwrap();
        }
    }
    let (_, path) = snapshot_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 2 << 20, "the snapshot must span several chunks: {len} bytes");
    let (replay_hash, replay_head, replay_answers) = full_replay(&dir);
    let check = |damaged: bool| {
        let store = Store::open_with(&dir, options(0)).unwrap();
        assert_eq!(store.warnings().is_empty(), !damaged, "{:?}", store.warnings());
        assert_eq!(store.head(), replay_head);
        assert_eq!(store.state_hash(), replay_hash);
        assert_eq!(answers(&store), replay_answers);
        let q = Query::new().filter("feature", "p").filter("value__batch", 1_234);
        assert_eq!(store.session().filter(&q).unwrap().len(), 1);
    };
    check(false);
    let good = std::fs::read(&path).unwrap();
    // A changed byte in the third chunk.
    rewrite(&path, |b| b[(5 << 19) + 17] ^= 0x10);
    check(true);
    // Cut inside the second chunk (the damaged file was renamed aside; put a cut one back).
    std::fs::write(&path, &good[..(3 << 19)]).unwrap();
    check(true);
}
