//! get_or_create micro-benchmarks: a hit on an existing value (read lock, validation, blake3,
//! dedup probe, record view), a create in buffered mode (the whole write path minus the
//! fsync), and the content hash alone. Run: `cargo bench --bench get_or_create`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fvstore::{Durability, FeatureSpec, Options, Store, Value};

/// Values in the store the hits are drawn from.
const FIXTURE: i64 = 20_000;

fn buffered() -> Options {
    Options { durability: Durability::Buffered, snapshot_every: 0, ..Options::default() }
}

fn get_or_create(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), buffered()).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).unwrap();
    me.create_feature(&FeatureSpec::new("s", "str")).unwrap();
    for i in 0..FIXTURE {
        me.get_or_create(Some("n".into()), i).unwrap();
    }

    let mut group = c.benchmark_group("get_or_create");
    group.throughput(Throughput::Elements(1));

    let mut i = 0i64;
    group.bench_function("hit_int", |b| {
        b.iter(|| {
            i = (i + 7919) % FIXTURE;
            let (rec, existed) = me.get_or_create(Some("n".into()), i).unwrap();
            assert!(existed);
            rec.id
        })
    });

    let mut next = FIXTURE;
    group.bench_function("create_buffered_int", |b| {
        b.iter(|| {
            next += 1;
            let (rec, existed) = me.get_or_create(Some("n".into()), next).unwrap();
            assert!(!existed);
            rec.id
        })
    });

    let mut k = 0u64;
    group.bench_function("create_buffered_str", |b| {
        b.iter(|| {
            k += 1;
            let v = Value::Str(format!("sample-{k:012}"));
            me.get_or_create(Some("s".into()), v).unwrap().0.id
        })
    });
    // The content hash alone (canonical bytes + blake3), which every hit must compute: the
    // floor under `hit_int` that no index layout removes.
    let mut h = 0i64;
    group.bench_function("value_hash_int", |b| {
        b.iter(|| {
            h += 1;
            fvstore::codec::value_hash(&Value::Int(h))
        })
    });
    group.finish();
}

criterion_group!(benches, get_or_create);
criterion_main!(benches);
