//! add_values micro-benchmarks: one call get_or_creates and links a batch of new values to a
//! fresh artifact, atomically (buffered mode, so this is the engine's CPU cost, not fsync).
//! Run: `cargo bench --bench add_values`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fvstore::{Durability, FeatureSpec, Host, Options, Store, Value};

const FEATURES: usize = 10;

fn add_values(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { durability: Durability::Buffered, snapshot_every: 0, ..Options::default() };
    let store = Store::open_with(dir.path(), opts).unwrap();
    let me = store.session();
    let names: Vec<String> = (0..FEATURES).map(|f| format!("n{f}")).collect();
    for n in &names {
        me.create_feature(&FeatureSpec::new(n.as_str(), "int")).unwrap();
    }

    let mut group = c.benchmark_group("add_values");
    let mut next = 0i64;
    for batch in [10usize, 1_000] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{batch}_new_values"), |b| {
            b.iter_batched(
                || {
                    // Fixture, untimed: a fresh artifact and `batch` values never seen before.
                    let a = me.create_artifact("data/sample.h5ad").unwrap();
                    let values: Vec<(String, Value)> = (0..batch)
                        .map(|i| {
                            next += 1;
                            (names[i % FEATURES].clone(), Value::Int(next))
                        })
                        .collect();
                    (a.id, values)
                },
                |(a, values)| me.add_values(Host::Artifact(a), &values).unwrap().len(),
                BatchSize::SmallInput,
            )
        });
    }
    // The same batch again on the same artifact: every value is a hit and already linked.
    let a = me.create_artifact("data/again.h5ad").unwrap();
    let values: Vec<(String, Value)> =
        (0..1_000).map(|i| (names[i % FEATURES].clone(), Value::Int(i as i64 + 1))).collect();
    me.add_values(Host::Artifact(a.id), &values).unwrap();
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("1000_existing_linked", |b| {
        b.iter(|| me.add_values(Host::Artifact(a.id), &values).unwrap().len())
    });
    group.finish();
}

criterion_group!(benches, add_values);
criterion_main!(benches);
