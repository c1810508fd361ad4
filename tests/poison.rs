//! A failed write poisons the store: the call whose events could not be written fails, every
//! later write is refused with an `Io` error that says so, reads keep working, and reopening
//! recovers the durable prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fvstore::{Error, FeatureSpec, Options, Store};

fn open(dir: &std::path::Path) -> Store {
    Store::open_with(dir, Options::default()).unwrap()
}

#[test]
fn a_failed_write_poisons_the_store_until_it_is_reopened() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let s = store.session();
    s.create_feature(&FeatureSpec::new("n", "int")).unwrap();
    s.get_or_create(Some("n".into()), 1).unwrap();
    let durable = store.head();

    store.inject_write_failure();
    let failed = s.get_or_create(Some("n".into()), 2);
    assert!(matches!(&failed, Err(Error::Io(m)) if m.contains("poisoned")), "{failed:?}");

    // Every later write is refused, and says why.
    for attempt in [s.get_or_create(Some("n".into()), 3).map(|_| ()), s.create_artifact("a").map(|_| ())] {
        assert!(matches!(&attempt, Err(Error::Io(m)) if m.contains("poisoned")), "{attempt:?}");
    }
    // Reads still answer (they never wait for the disk).
    assert_eq!(s.get(1).unwrap().value, fvstore::Value::Int(1));

    drop(s);
    drop(store);
    let store = open(tmp.path());
    // The acknowledged prefix is there; the failed commit is not.
    assert_eq!(store.head(), durable);
    store.verify().unwrap();
    let (rec, existed) = store.session().get_or_create(Some("n".into()), 2).unwrap();
    assert!(!existed);
    assert_eq!(rec.id, 2);
}

/// A commit whose fold fails (a bug: a drafted event its own state cannot fold) poisons the
/// store, and none of it reaches the log: neither a small commit, folded before the writer
/// thread gets it, nor a large durable one (600 events, two log records' worth), which leaves
/// for the writer in parts while it is drafted and is appended while it is folded.
#[test]
fn a_commit_that_cannot_be_folded_is_never_written() {
    for values in [1usize, 300] {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let s = store.session();
        s.create_feature(&FeatureSpec::new("n", "int")).unwrap();
        let art = s.create_artifact("a").unwrap().id;
        s.add_values(fvstore::Host::Artifact(art), &batch(0, values)).unwrap();
        let durable = store.head();

        store.inject_fold_failure();
        let failed = s.add_values(fvstore::Host::Artifact(art), &batch(values, values));
        assert!(matches!(&failed, Err(Error::Corruption { .. })), "{values} values: {failed:?}");
        let later = s.get_or_create(Some("n".into()), -1);
        assert!(matches!(&later, Err(Error::Io(m)) if m.contains("poisoned")), "{values} values: {later:?}");

        drop(s);
        drop(store);
        let store = open(tmp.path());
        assert_eq!(store.head(), durable, "{values} values: the failed commit reached the log");
        store.verify().unwrap();
        let s = store.session();
        let got = s.get_values(fvstore::Host::Artifact(art)).unwrap();
        assert_eq!(got.get("n").map(Vec::len), Some(values), "{values} values");
        // The store takes the same values again.
        assert_eq!(s.add_values(fvstore::Host::Artifact(art), &batch(values, values)).unwrap().len(), values);
    }
}

fn batch(from: usize, n: usize) -> Vec<(String, fvstore::Value)> {
    (from..from + n).map(|i| ("n".to_string(), fvstore::Value::Int(i as i64))).collect()
}
