//! Query micro-benchmarks: every query shape of SPEC §7 on a store of about 100k values.
//! Run: `cargo bench --bench query`.
//!
//! The fixture (built once, untimed): 90k ints of feature `n` added to 90 artifacts, 1,000 per
//! artifact; 5k dicts of feature `params` (`{"tissue": "t<i % 50>", "batch": i, "nested":
//! {"ok": bool}}`); 5k strings of feature `s`, 1,000 of them created by user `alice`; 1,000 of
//! the ints in trash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use fvstore::{Durability, FeatureSpec, Host, Options, Query, RecordRef, RecordType, Session, Store, Value};
use std::collections::BTreeMap;

const INTS: i64 = 90_000;
const PER_ARTIFACT: i64 = 1_000;
const DICTS: i64 = 5_000;
const STRS: i64 = 5_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    artifact: u64,
    hash: fvstore::ValueHash,
}

fn dict(i: i64) -> Value {
    let mut nested = BTreeMap::new();
    nested.insert("ok".to_string(), Value::Bool(i % 2 == 0));
    let mut m = BTreeMap::new();
    m.insert("tissue".to_string(), Value::Str(format!("t{}", i % 50)));
    m.insert("batch".to_string(), Value::Int(i));
    m.insert("nested".to_string(), Value::Dict(nested));
    Value::Dict(m)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { durability: Durability::Buffered, snapshot_every: 0, ..Options::default() };
    let store = Store::open_with(dir.path(), opts).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).unwrap();
    me.create_feature(&FeatureSpec::new("params", "dict")).unwrap();
    me.create_feature(&FeatureSpec::new("s", "str")).unwrap();
    let mut artifact = 0;
    for chunk in 0..INTS / PER_ARTIFACT {
        let a = me.create_artifact(&format!("data/{chunk}.h5ad")).unwrap();
        let values: Vec<(String, Value)> =
            (chunk * PER_ARTIFACT..(chunk + 1) * PER_ARTIFACT).map(|i| ("n".to_string(), Value::Int(i))).collect();
        me.add_values(Host::Artifact(a.id), &values).unwrap();
        if chunk == 42 {
            artifact = a.id;
        }
    }
    for i in 0..DICTS {
        me.get_or_create(Some("params".into()), dict(i)).unwrap();
    }
    store.session().create_user("alice").unwrap();
    let alice = store.as_user("alice").unwrap();
    for i in 0..STRS {
        let who = if i < 1_000 { &alice } else { &me };
        who.get_or_create(Some("s".into()), format!("sample-{i:06}")).unwrap();
    }
    // Trash 1,000 ints (ids 1..=90k are the ints, in order).
    for id in (1..=1_000u64).map(|k| k * 89) {
        me.delete(RecordRef { kind: RecordType::Value, id }, false).unwrap();
    }
    let hash = me.get(4_242).unwrap().hash;
    Fixture { _dir: dir, store, artifact, hash }
}

fn bench_query(c: &mut Criterion, group: &str, me: &Session, shapes: Vec<(&str, Query)>) {
    let mut g = c.benchmark_group(group);
    for (name, q) in shapes {
        // Sanity: every shape answers something.
        let n = me.count(&q).unwrap();
        assert!(n > 0, "{name} matched nothing");
        g.bench_function(name, |b| b.iter(|| me.filter(&q).unwrap().len()));
    }
    g.finish();
}

fn queries(c: &mut Criterion) {
    let f = fixture();
    let me = f.store.session();
    bench_query(
        c,
        "query",
        &me,
        vec![
            ("id", Query::new().filter("id", 4_242)),
            ("hash", Query::new().filter("hash", f.hash)),
            ("feature_value_eq", Query::new().filter("feature", "n").filter("value", 4_242)),
            ("range_100", Query::new().filter("feature", "n").filter("value__gte", 50_000).filter("value__lt", 50_100)),
            ("dict_key_path", Query::new().filter("feature", "params").filter("value__batch", 1_234)),
            (
                "dict_nested_key_path_no_feature",
                Query::new().filter("value__tissue", "t7").filter("value__nested__ok", false),
            ),
            ("branch_trash", Query::new().filter("branch", -1)),
            ("created_by", Query::new().filter("created_by", "alice")),
            ("artifact_link", Query::new().filter("artifact", f.artifact as i64)),
            ("order_by_value_limit_10", Query::new().filter("feature", "n").order_by("-value").limit(10)),
        ],
    );
    let mut g = c.benchmark_group("query");
    let all_n = Query::new().filter("feature", "n");
    g.bench_function("count_feature", |b| b.iter(|| me.count(&all_n).unwrap()));
    let half = Query::new().filter("feature", "n").filter("value__gte", 45_000);
    g.bench_function("count_range_half", |b| b.iter(|| me.count(&half).unwrap()));
    let filters = vec![("n__gte".to_string(), Value::Int(88_500))];
    g.bench_function("filter_artifacts_by_value", |b| b.iter(|| me.filter_artifacts(&filters).unwrap().len()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = queries
}
criterion_main!(benches);
