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
