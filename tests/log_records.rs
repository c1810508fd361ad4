//! How commits become sled records: a big commit is cut into records small enough for sled's
//! main file (no blob file per commit), written atomically, and read back whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{check, reopen};
use fvstore::{FeatureSpec, Host, Options, Store, Value};

/// (events per record, bytes per record) of the `log` tree, from `dump`.
fn log_records(store: &Store) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    store.dump(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("log\t"))
        .map(|l| {
            let summary = l.split('\t').nth(1).unwrap();
            let mut words = summary.split(' ');
            let bytes: usize = words.next().unwrap().parse().unwrap();
            let events: usize = words.nth(1).unwrap().parse().unwrap();
            (events, bytes)
        })
        .collect()
}

fn blob_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("log").join("blobs")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_big_commit_is_cut_into_records_below_the_blob_threshold_and_reads_back_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (head, hash) = {
        let store = Store::open_with(&dir, Options::default()).unwrap();
        let s = store.session();
        s.create_feature(&FeatureSpec::new("n", "int")).unwrap();
        let a = s.create_artifact("data/big.h5ad").unwrap();
        let values: Vec<(String, Value)> = (0..3_000).map(|i| ("n".to_string(), Value::Int(i))).collect();
        // One commit: 3,000 creates and 3,000 links, about a megabyte of events.
        let before = store.head().0;
        check(s.add_values(Host::Artifact(a.id), &values).unwrap().len(), 3_000);
        check(store.head().0 - before, 6_000);
        let records = log_records(&store);
        let big: Vec<_> = records.iter().filter(|(_, bytes)| *bytes >= 64 << 10).collect();
        check(big, Vec::<&(usize, usize)>::new());
        check(records.iter().map(|(events, _)| events).sum::<usize>() as u64, store.head().0);
        assert!(records.len() > 10, "the commit spans many records: {records:?}");
        check(blob_files(&dir), 0);
        (store.head().0, store.state_hash())
    };
    // Read back from the log alone (no snapshot), and verified.
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    let store = reopen(&dir, Options::default());
    check((store.head().0, store.state_hash()), (head, hash));
    let verified = store.verify().unwrap();
    check((verified.events, verified.state_hash), (head, hash));
    let events = store.session().log(1, head).unwrap();
    check(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=head).collect::<Vec<_>>());
}

/// Every record of the closed store at `dir` rewritten in log format `version`, and the meta
/// tree set to it; returns (bytes before, bytes after).
fn rewrite_log(dir: &std::path::Path, version: u8) -> (usize, usize) {
    let db = sled::open(dir.join("log")).unwrap();
    let tree = db.open_tree("log").unwrap();
    let (mut before, mut after) = (0, 0);
    for item in tree.iter() {
        let (k, v) = item.unwrap();
        let batch = fvstore::codec::decode_batch(&v).unwrap();
        let again = fvstore::codec::encode_batch_as(&batch, version).unwrap();
        (before, after) = (before + v.len(), after + again.len());
        tree.insert(k, again).unwrap();
    }
    db.open_tree("meta").unwrap().insert("format_version", &[version]).unwrap();
    db.flush().unwrap();
    (before, after)
}

/// The version bytes of the log's records, in log order, and the meta tree's format byte.
fn versions(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let db = sled::open(dir.join("log")).unwrap();
    let records = db.open_tree("log").unwrap().iter().map(|item| item.unwrap().1[0]).collect();
    let meta = db.open_tree("meta").unwrap().get("format_version").unwrap().unwrap().to_vec();
    (records, meta)
}

#[test]
fn a_store_of_log_format_1_opens_as_it_was_and_goes_on_in_format_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (head, hash, events) = {
        let store = Store::open_with(&dir, common::workload::options(0)).unwrap();
        common::workload::workload(&store, 300, 11);
        let head = store.head();
        (head, store.state_hash(), store.session().log(1, head.0).unwrap())
    };
    let (v2_bytes, v1_bytes) = rewrite_log(&dir, 1);
    assert!(v2_bytes * 10 < v1_bytes * 6, "format 2 took {v2_bytes} bytes, format 1 {v1_bytes}");
    check(versions(&dir).1, vec![1]);
    // A full replay of the format 1 log gives the same store, event for event.
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    {
        let store = reopen(&dir, common::workload::options(0));
        check((store.head(), store.state_hash()), (head, hash));
        check(store.session().log(1, head.0).unwrap(), events.clone());
        check(store.verify().unwrap().events, head.0);
        store.session().create_artifact("after/upgrade").unwrap();
    }
    let (records, meta) = versions(&dir);
    check(meta, vec![2]);
    check(records.last().copied(), Some(2));
    assert!(records[..records.len() - 1].iter().all(|v| *v == 1), "{records:?}");
    // Mixed formats replay and verify as one chain.
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    let store = reopen(&dir, common::workload::options(0));
    check(store.head().0, head.0 + 1);
    check(store.session().log(1, head.0).unwrap(), events);
    check(store.verify().unwrap().events, head.0 + 1);
}
