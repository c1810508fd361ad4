//! Durable throughput against the number of writer threads: each thread get_or_creates new
//! values in durable mode, so every call waits for its flush; group commit lets concurrent
//! callers share one. Run: `cargo bench --bench group_commit`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fvstore::{FeatureSpec, Options, Store};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn durable_creates(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_creates");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for threads in [1usize, 4, 16] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open_with(dir.path(), Options { snapshot_every: 0, ..Options::default() })
            .unwrap_or_else(|e| panic!("open: {e}"));
        store.session().create_feature(&FeatureSpec::new("n", "int")).unwrap_or_else(|e| panic!("feature: {e}"));
        let next = Arc::new(AtomicI64::new(0));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(format!("{threads}_writers"), |b| {
            // One "iteration" is one create on each of `threads` threads running together.
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        let s = store.session();
                        let next = Arc::clone(&next);
                        scope.spawn(move || {
                            for _ in 0..iters {
                                let v = next.fetch_add(1, Ordering::Relaxed);
                                s.get_or_create(Some("n".into()), v).unwrap_or_else(|e| panic!("create: {e}"));
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, durable_creates);
criterion_main!(benches);
