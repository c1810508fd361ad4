//! The fvstore side of the comparison.

use crate::{rate, rss_bytes, Args};
use fvstore::{Durability, FeatureSpec, Host, Options, Query, Ref, Store, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// A cheap deterministic pseudo-random number (splitmix64) from a thread index and a counter.
pub fn mix(t: usize, i: u64) -> u64 {
    let mut z = (t as u64).wrapping_shl(40) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The dict value number `i`: `{"batch": i, "nested": {"ok": i even}, "tissue": "t<i % 50>"}`.
pub fn dict(i: u64) -> Value {
    let mut nested = BTreeMap::new();
    nested.insert("ok".to_string(), Value::Bool(i.is_multiple_of(2)));
    let mut m = BTreeMap::new();
    m.insert("batch".to_string(), Value::Int(i as i64));
    m.insert("nested".to_string(), Value::Dict(nested));
    m.insert("tissue".to_string(), Value::Str(format!("t{}", i % 50)));
    Value::Dict(m)
}

fn buffered(snapshot_every: u64) -> Options {
    Options { durability: Durability::Buffered, snapshot_every, ..Options::default() }
}

/// Child job: builds the big fixture (N ints of feature `n`, then N/20 dicts of feature
/// `params`), measuring load speed, RSS growth, disk use and the encoded size of the events.
pub fn build(path: &Path, args: &Args) -> serde_json::Value {
    let n = args.values;
    let rss_before = rss_bytes();
    let store = Store::open_with(path, buffered(0)).expect("open");
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).expect("feature");
    me.create_feature(&FeatureSpec::new("params", "dict")).expect("feature");
    let t = Instant::now();
    let mut rss_half = 0;
    for i in 0..n {
        if i == n / 2 {
            rss_half = rss_bytes();
        }
        me.get_or_create(Some("n".into()), i as i64).expect("create");
    }
    store.flush().expect("flush");
    let load_ints_s = t.elapsed().as_secs_f64();
    let rss_after_ints = rss_bytes();
    let t = Instant::now();
    store.snapshot().expect("snapshot");
    let snapshot_s = t.elapsed().as_secs_f64();
    let stats = store.stats();
    let sled_bytes = store.size_on_disk();
    let events_ints = store.head().0;
    // The events' own encoded size (codec::encode_event: format 1, the bytes each event hash
    // is computed over), and as the log stores them (batches of the log's format, here of 100k
    // events: the log's records hold ~110, so their one-off header is a little larger there), read
    // back from the log in chunks.
    let (mut encoded, mut stored) = (0u64, 0u64);
    let mut from = 1;
    while from <= events_ints {
        let to = (from + 99_999).min(events_ints);
        let events = me.log(from, to).expect("log");
        for e in &events {
            encoded += fvstore::codec::encode_event(e).len() as u64;
        }
        stored += fvstore::codec::encode_batch(&fvstore::Batch { events }).len() as u64;
        from = to + 1;
    }
    let t = Instant::now();
    for i in 0..args.dicts {
        me.get_or_create(Some("params".into()), dict(i)).expect("create dict");
    }
    store.flush().expect("flush");
    let load_dicts_s = t.elapsed().as_secs_f64();
    let events = store.head().0;
    let t = Instant::now();
    drop(me);
    drop(store); // a clean close writes the final snapshot
    let close_s = t.elapsed().as_secs_f64();
    json!({
        "values": n,
        "dicts": args.dicts,
        "load_ints_s": load_ints_s,
        "load_dicts_s": load_dicts_s,
        "snapshot_s": snapshot_s,
        "close_s": close_s,
        "rss_before": rss_before,
        "rss_half_ints": rss_half,
        "rss_after_ints": rss_after_ints,
        "disk_bytes_ints": stats.disk_bytes,
        "sled_bytes_ints": sled_bytes,
        "snapshot_bytes_ints": stats.disk_bytes.saturating_sub(sled_bytes),
        "encoded_event_bytes_ints": encoded,
        "stored_event_bytes_ints": stored,
        "events_ints": events_ints,
        "events": events,
    })
}

/// Child job: opens the store (from its newest snapshot, or by a full replay when there is
/// none) and reports the time and RSS growth.
pub fn open(path: &Path) -> serde_json::Value {
    let rss_before = rss_bytes();
    let t = Instant::now();
    let store = Store::open_with(path, Options::default()).expect("open");
    let open_s = t.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let stats = store.stats();
    json!({
        "open_s": open_s,
        "rss_growth": rss_after.saturating_sub(rss_before),
        "values": stats.values,
        "events": stats.events,
        "warnings": store.warnings().len(),
    })
}

/// Results of the workloads run on the big fixture.
pub struct OnFixture {
    pub hit1: f64,
    pub hit2: f64,
    pub create: f64,
    pub range: f64,
    pub keypath: f64,
    /// The first key-path query, which builds the path's index, in seconds.
    pub keypath_first_s: f64,
}

/// W1 hits, W5 queries and W2 creates on the big fixture, opened buffered with the default
/// snapshot interval.
pub fn on_fixture(path: &Path, args: &Args) -> OnFixture {
    let n = args.values;
    let store = Store::open_with(path, buffered(Options::default().snapshot_every)).expect("open");
    let me = store.session();
    let hit = |t: usize, i: u64| {
        let v = (mix(t, i) % n) as i64;
        let (_rec, existed) = me.get_or_create(Some("n".into()), v).expect("hit");
        assert!(existed);
        1
    };
    let hit1 = rate("fvstore W1 hit 1 thread", 1, args.window, hit);
    let hit2 = rate("fvstore W1 hit 2 threads", 2, args.window, hit);
    let range = rate("fvstore W5 range", 1, args.window, |t, i| {
        let x = (mix(t, i) % n.saturating_sub(100).max(1)) as i64;
        let q = Query::new().filter("feature", "n").filter("value__gte", x).filter("value__lt", x + 100);
        let got = me.filter(&q).expect("range").len();
        assert_eq!(got, 100);
        1
    });
    let first = Instant::now();
    let q = Query::new().filter("feature", "params").filter("value__batch", 0i64);
    assert_eq!(me.filter(&q).expect("key path").len(), 1);
    let keypath_first_s = first.elapsed().as_secs_f64();
    let keypath = rate("fvstore W5 key path", 1, args.window, |t, i| {
        let x = (mix(t, i) % args.dicts) as i64;
        let q = Query::new().filter("feature", "params").filter("value__batch", x);
        let got = me.filter(&q).expect("key path").len();
        assert_eq!(got, 1);
        1
    });
    let base = n as i64 + 1_000_000_000;
    let create = rate("fvstore W2 create", 1, args.window, |_, i| {
        let (_rec, existed) = me.get_or_create(Some("n".into()), base + i as i64).expect("create");
        assert!(!existed);
        1
    });
    OnFixture { hit1, hit2, create, range, keypath, keypath_first_s }
}

/// Ints in the small store of `hits_in_cache`: its records and dedup table fit in this
/// machine's L2 and L3 caches, so that a hit there costs what a hit costs without memory misses.
pub const SMALL: u64 = 20_000;

/// W1 on a store of `SMALL` ints, one thread: the part of a hit that is not the memory
/// latency of a large store (blake3, the read lock, resolving the feature, the record view).
pub fn hits_in_cache(dir: &Path, args: &Args) -> f64 {
    let store = Store::open_with(dir, buffered(0)).expect("open");
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).expect("feature");
    for v in 0..SMALL as i64 {
        me.get_or_create(Some("n".into()), v).expect("create");
    }
    rate(&format!("fvstore W1 hit 1 thread, {SMALL} values"), 1, args.window, |t, i| {
        let (_rec, existed) = me.get_or_create(Some("n".into()), (mix(t, i) % SMALL) as i64).expect("hit");
        assert!(existed);
        1
    })
}

/// Child jobs for profilers: one workload alone on the big fixture, for `--seconds`.
pub fn profile(path: &Path, args: &Args, what: &str) -> serde_json::Value {
    let n = args.values;
    let store = Store::open_with(path, buffered(Options::default().snapshot_every)).expect("open");
    let me = store.session();
    let per_s = match what {
        "hits" => rate("fvstore W1 hit 1 thread", 1, args.window, |t, i| {
            let v = (mix(t, i) % n) as i64;
            assert!(me.get_or_create(Some("n".into()), v).expect("hit").1);
            1
        }),
        "creates" => rate("fvstore W2 create", 1, args.window, |_, i| {
            let v = n as i64 + 2_000_000_000 + i as i64;
            assert!(!me.get_or_create(Some("n".into()), v).expect("create").1);
            1
        }),
        "range" => rate("fvstore W5 range", 1, args.window, |t, i| {
            let x = (mix(t, i) % n.saturating_sub(100).max(1)) as i64;
            let q = Query::new().filter("feature", "n").filter("value__gte", x).filter("value__lt", x + 100);
            me.filter(&q).expect("range").len() as u64 / 100
        }),
        "keypath" => rate("fvstore W5 key path", 1, args.window, |t, i| {
            let x = (mix(t, i) % args.dicts) as i64;
            let q = Query::new().filter("feature", "params").filter("value__batch", x);
            me.filter(&q).expect("key path").len() as u64
        }),
        other => panic!("unknown profile job {other}"),
    };
    json!({ "per_s": per_s })
}

/// W3: new values from `threads` writers, each call durable (group commit shares flushes).
pub fn durable_creates(dir: &Path, threads: usize, args: &Args) -> f64 {
    let store = Store::open_with(dir, Options::default()).expect("open");
    store.session().create_feature(&FeatureSpec::new("n", "int")).expect("feature");
    let sessions: Vec<_> = (0..threads).map(|_| store.session()).collect();
    rate(&format!("fvstore W3 durable create, {threads} writers"), threads, args.window, |t, i| {
        let v = ((t as i64) << 40) + i as i64;
        sessions[t].get_or_create(Some(Ref::Name("n".into())), v).expect("create");
        1
    })
}

/// W4: add_values of 1,000 new values (10 int features) to a new artifact per call, durable.
pub fn add_values_durable(dir: &Path, args: &Args) -> f64 {
    const ARTIFACTS: u64 = 5_000;
    let names: Vec<String> = (0..10).map(|f| format!("n{f}")).collect();
    {
        // Untimed setup, buffered: the features and enough artifacts for the window.
        let store = Store::open_with(dir, buffered(0)).expect("open");
        let me = store.session();
        for n in &names {
            me.create_feature(&FeatureSpec::new(n.as_str(), "int")).expect("feature");
        }
        for k in 0..ARTIFACTS {
            me.create_artifact(&format!("data/{k}.h5ad")).expect("artifact");
        }
        store.flush().expect("flush");
    }
    let store = Store::open_with(dir, Options::default()).expect("reopen durable");
    let me = store.session();
    rate("fvstore W4 add_values durable", 1, args.window, |_, i| {
        let artifact = i % ARTIFACTS + 1;
        let values: Vec<(String, Value)> =
            (0..1_000u64).map(|j| (names[(j % 10) as usize].clone(), Value::Int((i * 1_000 + j) as i64))).collect();
        me.add_values(Host::Artifact(artifact), &values).expect("add_values").len() as u64
    })
}
