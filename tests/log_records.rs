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
