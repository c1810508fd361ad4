//! Log replay and snapshot micro-benchmarks on a store of 50k events: folding the whole log
//! (`Store::replay_log`), writing a snapshot, and opening a closed store from its snapshot or by
//! a full replay (snapshots moved aside). Run: `cargo bench --bench replay`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fvstore::{Durability, FeatureSpec, Host, Options, Store, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Values in the fixture; with their links that is about twice as many events.
const VALUES: i64 = 25_000;

fn buffered() -> Options {
    Options { durability: Durability::Buffered, snapshot_every: 0, ..Options::default() }
}

/// A closed store with `VALUES` int values, each linked to one of 25 artifacts.
fn build(dir: &Path) -> u64 {
    let store = Store::open_with(dir, buffered()).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).unwrap();
    for chunk in 0..VALUES / 1_000 {
        let a = me.create_artifact(&format!("data/{chunk}.h5ad")).unwrap();
        let values: Vec<(String, Value)> =
            (chunk * 1_000..(chunk + 1) * 1_000).map(|i| ("n".to_string(), Value::Int(i))).collect();
        me.add_values(Host::Artifact(a.id), &values).unwrap();
    }
    store.flush().unwrap();
    store.head().0
    // Dropped here: a clean close writes the final snapshot.
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let events = build(&path);
    let snapshots = path.join("snapshots");
    let aside = dir.path().join("snapshots-aside");

    let mut g = c.benchmark_group("replay");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(events));

    g.bench_function("open_from_snapshot", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let store = Store::open_with(&path, buffered()).unwrap();
                total += t.elapsed();
                assert_eq!(store.head().0, events);
                drop(store);
            }
            total
        })
    });

    std::fs::rename(&snapshots, &aside).unwrap();
    g.bench_function("open_full_replay", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let store = Store::open_with(&path, buffered()).unwrap();
                total += t.elapsed();
                assert_eq!(store.head().0, events);
                // Closing writes a snapshot again (untimed): throw it away.
                drop(store);
                let _ = std::fs::remove_dir_all(&snapshots);
            }
            total
        })
    });
    std::fs::rename(&aside, &snapshots).unwrap();

    let store = Store::open_with(&path, buffered()).unwrap();
    g.bench_function("replay_log_fold", |b| b.iter(|| store.replay_log(None).unwrap().0.values));
    g.bench_function("snapshot_write", |b| b.iter(|| store.snapshot().unwrap()));
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
