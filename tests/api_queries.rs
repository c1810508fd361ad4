//! Queries over feature values (SPEC §7): every filter, the default branch filter, operand
//! typing, exact numeric ranges, ordering, limits, get / first, field errors, and the selection
//! of artifacts and runs by their linked values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fvstore::{FixedClock, Host, Options, Query, Session, Store, Value};
use std::sync::Arc;

const TWO53: i64 = 1 << 53;

fn q() -> Query {
    Query::new()
}

fn ids(s: &Session, q: &Query) -> Vec<u64> {
    s.filter(q).unwrap().into_iter().map(|r| r.id).collect()
}

fn values(s: &Session, q: &Query) -> Vec<Value> {
    s.filter(q).unwrap().into_iter().map(|r| r.value).collect()
}

#[test]
fn id_and_hash_filters_skip_the_default_branch_filter() {
    let store = mem();
    let s = store.session();
    let a = s.get_or_create(None, 1).unwrap().0;
    let b = s.get_or_create(None, 2).unwrap().0;
    let c = s.get_or_create(None, 3).unwrap().0;
    s.delete(value_ref(b.id), false).unwrap();
    s.set_branch(value_ref(c.id), 3).unwrap();
    check(ids(&s, &q()), vec![a.id]);
    check(ids(&s, &q().filter("id", b.id as i64)), vec![b.id]);
    check(ids(&s, &q().filter("id__in", vec![c.id as i64, a.id as i64, 99])), vec![a.id, c.id]);
    check(ids(&s, &q().filter("hash", b.hash)), vec![b.id]);
    check(ids(&s, &q().filter("hash", b.hash.to_string().to_uppercase().as_str())), vec![b.id]);
    check(ids(&s, &q().filter("hash__in", vec![a.hash, c.hash])), vec![a.id, c.id]);
    // Naming the branch still applies it.
    check(ids(&s, &q().filter("id", b.id as i64).filter("branch", 1)), Vec::<u64>::new());
    check(ids(&s, &q().filter("id__in", vec![a.id as i64, b.id as i64]).filter("id", b.id as i64)), vec![b.id]);
}

#[test]
fn feature_filters_by_id_name_null_and_unknown_names() {
    let store = mem();
    let s = store.session();
    let n = feature(&s, "n", "int");
    feature(&s, "m", "int");
    let a = value_id(&s, Some("n"), 1);
    let b = value_id(&s, Some("m"), 1);
    let c = value_id(&s, None, 1);
    check(ids(&s, &q().filter("feature", "n")), vec![a]);
    check(ids(&s, &q().filter("feature", n.id as i64)), vec![a]);
    check(ids(&s, &q().filter("feature", Value::Null)), vec![c]);
    check(ids(&s, &q().filter("feature__in", vec![Value::from("m"), Value::Null])), vec![b, c]);
    check(ids(&s, &q().filter("feature__in", vec![Value::Int(n.id as i64), Value::from("m")])), vec![a, b]);
    // An unknown feature matches nothing (it is not an error).
    check(s.count(&q().filter("feature", "nope")).unwrap(), 0);
    check(ids(&s, &q().filter("feature__in", vec!["nope", "m"])), vec![b]);
}

#[test]
fn value_equality_is_typed_unless_one_feature_is_named() {
    let store = mem();
    let s = store.session();
    feature(&s, "x", "float");
    feature(&s, "o", "object");
    feature(&s, "d", "date");
    feature(&s, "t", "datetime");
    let x42 = value_id(&s, Some("x"), 42.0);
    let o42 = value_id(&s, Some("o"), 42);
    let o42f = value_id(&s, Some("o"), 42.0);
    let os = value_id(&s, Some("o"), "42");
    let ob = value_id(&s, Some("o"), true);
    let free = value_id(&s, None, 42);
    let day = value_id(&s, Some("d"), "2024-01-02");
    let at = value_id(&s, Some("t"), "2024-01-02T03:04:05");
    let text = value_id(&s, None, "2024-01-02");
    // One feature named: the operand is read as its dtype.
    check(ids(&s, &q().filter("feature", "x").filter("value", 42)), vec![x42]);
    check(ids(&s, &q().filter("feature", "x").filter("value__in", vec![42, 7])), vec![x42]);
    check(ids(&s, &q().filter("feature", "d").filter("value", "2024-01-02")), vec![day]);
    check(ids(&s, &q().filter("feature", "t").filter("value", "2024-01-02T03:04:05Z")), vec![at]);
    check(ids(&s, &q().filter("feature", "o").filter("value", 42)), vec![o42]);
    // Otherwise: exact and typed, except ISO strings against stored dates and datetimes.
    check(ids(&s, &q().filter("value", 42)), vec![o42, free]);
    check(ids(&s, &q().filter("value", 42.0)), vec![x42, o42f]);
    check(ids(&s, &q().filter("value", "42")), vec![os]);
    check(ids(&s, &q().filter("value", true)), vec![ob]);
    check(ids(&s, &q().filter("value__in", vec![Value::from("42"), Value::Bool(true)])), vec![os, ob]);
    check(ids(&s, &q().filter("value", "2024-01-02")), vec![day, text]);
    check(ids(&s, &q().filter("value", "2024-01-02T03:04:05")), vec![at]);
    check(ids(&s, &q().filter("value", date(2024, 1, 2))), vec![day]);
}

#[test]
fn numeric_ranges_are_exact_across_int_and_float() {
    let store = mem();
    let s = store.session();
    feature(&s, "o", "object");
    feature(&s, "x", "float");
    let big_int = value_id(&s, Some("o"), TWO53 + 1);
    let big_float = value_id(&s, Some("o"), TWO53 as f64);
    let small = value_id(&s, Some("o"), 2);
    let half = value_id(&s, Some("o"), 2.5);
    value_id(&s, Some("o"), "3");
    value_id(&s, Some("o"), true);
    value_id(&s, Some("o"), date(2024, 1, 1));
    let xf = value_id(&s, Some("x"), TWO53 as f64);
    let o = |op: &str, v: Value| ids(&s, &q().filter("feature", "o").filter(&format!("value__{op}"), v));
    check(o("gt", Value::Float(TWO53 as f64)), vec![big_int]);
    check(o("gte", Value::Int(TWO53 + 1)), vec![big_int]);
    check(o("lte", Value::Int(TWO53)), vec![big_float, small, half]);
    check(o("lt", Value::Int(TWO53 + 1)), vec![big_float, small, half]);
    check(o("gt", Value::Int(2)), vec![big_int, big_float, half]);
    check(o("gte", Value::Float(2.0)), vec![big_int, big_float, small, half]);
    check(o("lt", Value::Float(2.5)), vec![small]);
    check(o("lte", Value::Int(2)), vec![small]);
    // On a float feature, an int with no exact float stays exact: 2^53 < 2^53 + 1.
    let x = |op: &str, v: Value| ids(&s, &q().filter("feature", "x").filter(&format!("value__{op}"), v));
    check(x("lt", Value::Int(TWO53 + 1)), vec![xf]);
    check(x("gte", Value::Int(TWO53 + 1)), Vec::<u64>::new());
    check(x("gte", Value::Int(TWO53)), vec![xf]);
    // With no feature named, ranges still compare numbers only.
    check(ids(&s, &q().filter("value__gt", 1).filter("value__lt", 3)), vec![small, half]);
}

#[test]
fn string_and_date_ranges() {
    let store = mem();
    let s = store.session();
    feature(&s, "s", "str");
    feature(&s, "d", "date");
    feature(&s, "o", "object");
    let [apple, banana, cherry] = ["apple", "banana", "cherry"].map(|v| value_id(&s, Some("s"), v));
    let [jan1, jan2, mar1] = ["2024-01-01", "2024-01-02", "2024-03-01"].map(|v| value_id(&s, Some("d"), v));
    let noon = value_id(&s, Some("o"), Value::DateTime((jan2_days() * 86_400 + 43_200) * 1_000_000));
    let od = value_id(&s, Some("o"), date(2024, 1, 2));
    check(ids(&s, &q().filter("feature", "s").filter("value__gt", "b")), vec![banana, cherry]);
    check(ids(&s, &q().filter("feature", "s").filter("value__lte", "banana")), vec![apple, banana]);
    check(ids(&s, &q().filter("feature", "d").filter("value__gte", "2024-01-02")), vec![jan2, mar1]);
    check(ids(&s, &q().filter("feature", "d").filter("value__lt", date(2024, 1, 2))), vec![jan1]);
    // A date is its midnight; a datetime string compares chronologically with both.
    check(ids(&s, &q().filter("feature", "o").filter("value__gte", "2024-01-02T00:00:00")), vec![noon, od]);
    check(ids(&s, &q().filter("feature", "o").filter("value__gt", "2024-01-02T00:00:00")), vec![noon]);
    check(ids(&s, &q().filter("feature", "o").filter("value__lt", date(2024, 1, 3))), vec![noon, od]);
    check(ids(&s, &q().filter("feature", "o").filter("value__lte", "2024-01-02")), vec![od]);
    // Other types never match a range.
    check(s.count(&q().filter("feature", "s").filter("value__gt", 0)).unwrap(), 0);
    check(s.count(&q().filter("feature", "o").filter("value__gt", "a")).unwrap(), 0);
}

fn jan2_days() -> i64 {
    match date(2024, 1, 2) {
        Value::Date(d) => i64::from(d),
        _ => unreachable!(),
    }
}

#[test]
fn dict_key_paths() {
    let store = mem();
    let s = store.session();
    feature(&s, "meta", "dict");
    let a = value_id(
        &s,
        Some("meta"),
        dict(&[("nested", dict(&[("ok", true.into()), ("n", 3.into())])), ("k", "a".into())]),
    );
    let b = value_id(
        &s,
        Some("meta"),
        dict(&[("nested", dict(&[("ok", false.into()), ("n", 7.5.into())])), ("k", "b".into())]),
    );
    let c = value_id(&s, Some("meta"), dict(&[("k", "c".into()), ("l", Value::List(vec![dict(&[("a", 1.into())])]))]));
    let free = value_id(&s, None, dict(&[("k", "a".into())]));
    value_id(&s, None, "k");
    check(ids(&s, &q().filter("value__nested__ok", true)), vec![a]);
    check(ids(&s, &q().filter("value__nested__n__gt", 5)), vec![b]);
    check(ids(&s, &q().filter("value__nested__n__lte", 7.5)), vec![a, b]);
    check(ids(&s, &q().filter("value__k", "a")), vec![a, free]);
    check(ids(&s, &q().filter("feature", "meta").filter("value__k__in", vec!["a", "c"])), vec![a, c]);
    check(ids(&s, &q().filter("value__k__gte", "b")), vec![b, c]);
    check(ids(&s, &q().filter("value__l__a", 1)), Vec::<u64>::new()); // paths do not enter lists
    check(ids(&s, &q().filter("value__missing", 1)), Vec::<u64>::new());
    check(ids(&s, &q().filter("value__nested", dict(&[("n", 3.into()), ("ok", true.into())]))), vec![a]);
    let whole: serde_json::Value = serde_json::from_str(r#"{"k": "a", "nested": {"ok": true, "n": 3}}"#).unwrap();
    check(ids(&s, &q().filter("value", fvstore::value_from_json(&whole).unwrap())), vec![a]);
}

#[test]
fn branch_filters_and_the_default() {
    let store = mem();
    let s = store.session();
    let draft = s.create_branch("draft").unwrap().id;
    let mut by_code = Vec::new();
    for code in [-1i64, 0, 1, 2, 3] {
        let id = value_id(&s, None, code);
        if code != 1 {
            s.set_branch(value_ref(id), code).unwrap();
        }
        by_code.push(id);
    }
    let [trash, archive, main, locked, template] = by_code[..] else { unreachable!() };
    let on_draft = s.clone().on_branch(draft);
    let drafted = value_id(&on_draft, None, "draft");
    check(ids(&s, &q()), vec![main, locked]);
    check(ids(&on_draft, &q()), vec![main, locked, drafted]);
    check(ids(&s, &q().filter("branch", -1)), vec![trash]);
    check(ids(&s, &q().filter("branch", "trash")), vec![trash]);
    check(ids(&s, &q().filter("branch", vec![0, 3])), vec![archive, template]);
    check(ids(&s, &q().filter("branch", vec![Value::from("locked"), Value::Int(draft)])), vec![locked, drafted]);
    check(ids(&s, &q().filter("branch", "all")), vec![trash, archive, main, locked, template, drafted]);
    check(ids(&s, &q().filter("branch", "ALL")).len(), 6);
    check(kind(&s.filter(&q().filter("branch", "nope"))), "DoesNotExist");
}

#[test]
fn space_creator_run_and_link_filters() {
    let store = mem();
    let root = store.session();
    let lab = new_space(&root, "lab");
    let bob = new_user(&store, "bob");
    let run = root.start_run("r").unwrap().id;
    let art = root.create_artifact("a").unwrap().id;
    let a = value_id(&root, None, 1);
    let b = value_id(&root.clone().in_space(lab), None, 2);
    let c = value_id(&bob, None, 3);
    let d = value_id(&root.clone().with_run(run), None, 4);
    root.link(a, Host::Artifact(art)).unwrap();
    root.link(c, Host::Artifact(art)).unwrap();
    root.link(c, Host::Run(run)).unwrap();
    check(ids(&root, &q().filter("space", lab as i64)), vec![b]);
    check(ids(&root, &q().filter("space", "LAB")), vec![b]);
    check(ids(&root, &q().filter("space", "all")), vec![a, c, d]);
    check(ids(&root, &q().filter("created_by", "bob")), vec![c]);
    check(ids(&root, &q().filter("created_by", bob.context().user as i64)), vec![c]);
    check(ids(&root, &q().filter("created_by", 1)), vec![a, b, d]);
    check(ids(&root, &q().filter("run", run as i64)), vec![d]);
    check(ids(&root, &q().filter("run", Value::Null)), vec![a, b, c]);
    check(ids(&root, &q().filter("artifact", art as i64)), vec![a, c]);
    check(ids(&root, &q().filter("linked_run", run as i64)), vec![c]);
    check(ids(&root, &q().filter("artifact", art as i64).filter("linked_run", run as i64)), vec![c]);
    check(kind(&root.filter(&q().filter("created_by", "nobody"))), "DoesNotExist");
    check(kind(&root.filter(&q().filter("space", "nowhere"))), "DoesNotExist");
}

#[test]
fn created_at_ranges_with_an_injected_clock() {
    let clock = FixedClock::parse("2026-01-01T00:00:00Z").unwrap();
    let store = Store::temporary_with(Options { clock: Arc::new(clock), ..Default::default() }).unwrap();
    let s = store.session();
    let made: Vec<_> = (0..4).map(|i| s.get_or_create(None, i).unwrap().0).collect();
    // Events are stamped the clock's time, then one millisecond apart.
    let at: Vec<i64> = made.iter().map(|r| r.created_at).collect();
    check(at, (0..4).map(|i| clock.0 + i * 1000).collect::<Vec<_>>());
    let id = |r: &[usize]| r.iter().map(|i| made[*i].id).collect::<Vec<u64>>();
    check(ids(&s, &q().filter("created_at__gte", "2026-01-01T00:00:00.001Z")), id(&[1, 2, 3]));
    check(ids(&s, &q().filter("created_at__lte", "2026-01-01T00:00:00.002Z")), id(&[0, 1, 2]));
    check(
        ids(
            &s,
            &q().filter("created_at__gte", "2026-01-01T01:00:00.001+01:00")
                .filter("created_at__lte", "2026-01-01T00:00:00.002Z"),
        ),
        id(&[1, 2]),
    );
    check(ids(&s, &q().filter("created_at__gte", Value::DateTime(clock.0 + 3000))), id(&[3]));
    check(kind(&s.filter(&q().filter("created_at__gte", "yesterday"))), "ValidationError");
}

/// A clock that runs backwards five seconds per reading.
struct Backwards(std::sync::atomic::AtomicI64);

impl fvstore::Clock for Backwards {
    fn now_micros(&self) -> i64 {
        self.0.fetch_sub(5_000_000, std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn created_at_never_goes_backwards_even_if_the_clock_does() {
    let clock = Backwards(std::sync::atomic::AtomicI64::new(1_800_000_000_000_000));
    let store = Store::temporary_with(Options { clock: Arc::new(clock), ..Default::default() }).unwrap();
    let s = store.session();
    let at: Vec<i64> = (0..4).map(|i| s.get_or_create(None, i).unwrap().0.created_at).collect();
    check(at.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>(), vec![1000, 1000, 1000]);
    check(ids(&s, &q().order_by("-created_at")), vec![4, 3, 2, 1]);
}

#[test]
fn ordering_limits_counts_get_and_first() {
    let store = mem();
    let s = store.session();
    feature(&s, "n", "int");
    let c = value_id(&s, Some("n"), 30);
    let a = value_id(&s, Some("n"), 10);
    let b = value_id(&s, Some("n"), 20);
    let f = || q().filter("feature", "n");
    check(ids(&s, &f()), vec![c, a, b]);
    check(ids(&s, &f().order_by("id")), vec![c, a, b]);
    check(ids(&s, &f().order_by("-id")), vec![b, a, c]);
    check(ids(&s, &f().order_by("value")), vec![a, b, c]);
    check(ids(&s, &f().order_by("-value")), vec![c, b, a]);
    check(ids(&s, &f().order_by("created_at")), vec![c, a, b]);
    check(ids(&s, &f().order_by("-created_at")), vec![b, a, c]);
    check(ids(&s, &f().order_by("value").limit(2)), vec![a, b]);
    check(ids(&s, &f().limit(0)), Vec::<u64>::new());
    check(s.count(&f()).unwrap(), 3);
    check(s.count(&f().filter("value__gt", 10)).unwrap(), 2);
    check(s.get_where(&f().filter("value", 20)).unwrap().id, b);
    check(kind(&s.get_where(&f().filter("value", 99))), "DoesNotExist");
    check(kind(&s.get_where(&f())), "MultipleObjectsReturned");
    check(s.first(&f().order_by("-value")).unwrap().map(|r| r.id), Some(c));
    check(s.first(&f().filter("value", 99)).unwrap(), None);
    check(kind(&s.get(99)), "DoesNotExist");
}

#[test]
fn order_by_value_ranks_types_then_values() {
    let store = mem();
    let s = store.session();
    feature(&s, "o", "object");
    let inputs = vec![
        dict(&[("a", 1.into())]),
        Value::from(vec![2]),
        Value::from(vec![1, 5]),
        date(2024, 1, 3),
        Value::from("b"),
        Value::from("a"),
        Value::Float(2.5),
        Value::Int(-7),
        Value::Int(3),
        Value::Bool(true),
        Value::Bool(false),
        Value::DateTime((jan2_days() * 86_400 + 60) * 1_000_000),
        date(2024, 1, 1),
    ];
    for v in &inputs {
        value_id(&s, Some("o"), v.clone());
    }
    let want = vec![
        Value::Bool(false),
        Value::Bool(true),
        Value::Int(-7),
        Value::Float(2.5),
        Value::Int(3),
        Value::from("a"),
        Value::from("b"),
        date(2024, 1, 1),
        Value::DateTime((jan2_days() * 86_400 + 60) * 1_000_000),
        date(2024, 1, 3),
        Value::from(vec![1, 5]),
        Value::from(vec![2]),
        dict(&[("a", 1.into())]),
    ];
    check(values(&s, &q().filter("feature", "o").order_by("value")), want.clone());
    let mut rev = want;
    rev.reverse();
    check(values(&s, &q().filter("feature", "o").order_by("-value")), rev);
}

#[test]
fn order_by_value_breaks_ties_between_equal_values_by_id() {
    let store = mem();
    let s = store.session();
    feature(&s, "o", "object");
    let float = value_id(&s, Some("o"), 42.0);
    let int = value_id(&s, Some("o"), 42);
    let midnight = value_id(&s, Some("o"), Value::DateTime(jan2_days() * 86_400 * 1_000_000));
    let day = value_id(&s, Some("o"), date(2024, 1, 2));
    check(ids(&s, &q().filter("feature", "o").order_by("value")), vec![float, int, midnight, day]);
}

#[test]
fn unknown_fields_are_field_errors_listing_the_fields() {
    let store = mem();
    let s = store.session();
    value_id(&s, None, 1);
    let r = s.filter(&q().filter("colour", 1));
    check(kind(&r), "FieldError");
    let m = message(&r);
    for field in [
        "id__in",
        "hash",
        "feature",
        "value__gt",
        "branch",
        "space",
        "created_by",
        "run",
        "artifact",
        "linked_run",
        "created_at__gte",
    ] {
        check((field, m.contains(field)), (field, true));
    }
    check(kind(&s.count(&q().filter("values", 1))), "FieldError");
    check(kind(&s.get_where(&q().filter("id__gt", 1))), "FieldError");
    check(kind(&s.filter(&q().order_by("colour"))), "FieldError");
}

#[test]
fn artifacts_and_runs_selected_by_their_linked_values() {
    let store = mem();
    let s = store.session();
    feature(&s, "temperature", "float");
    feature(&s, "tissue", "str");
    feature(&s, "meta", "dict");
    let [a1, a2, a3] = ["a1", "a2", "a3"].map(|k| s.create_artifact(k).unwrap().id);
    let run = s.start_run("r").unwrap().id;
    let t = |v: f64, tissue: &str| pairs(&[("temperature", Value::Float(v)), ("tissue", Value::from(tissue))]);
    s.add_values(Host::Artifact(a1), &t(36.5, "liver")).unwrap();
    s.add_values(Host::Artifact(a2), &t(38.0, "liver")).unwrap();
    let hot = s.add_values(Host::Artifact(a3), &t(39.5, "lung")).unwrap()[0].id;
    s.add_values(Host::Artifact(a3), &pairs(&[("meta", dict(&[("ok", true.into())]))])).unwrap();
    s.add_values(Host::Run(run), &t(40.0, "liver")).unwrap();
    let arts =
        |f: &[(&str, Value)]| s.filter_artifacts(&pairs(f)).unwrap().into_iter().map(|a| a.id).collect::<Vec<_>>();
    check(arts(&[("temperature__gt", Value::Int(37))]), vec![a2, a3]);
    check(arts(&[("temperature", Value::Int(38))]), vec![a2]); // read as the feature's dtype
    check(arts(&[("temperature__gt", Value::Int(37)), ("tissue", Value::from("liver"))]), vec![a2]);
    check(arts(&[("tissue__in", Value::from(vec!["lung", "liver"]))]), vec![a1, a2, a3]);
    check(arts(&[("meta__ok", Value::Bool(true))]), vec![a3]);
    check(arts(&[("nope", Value::Int(1))]), Vec::<u64>::new());
    check(arts(&[("nope__gt", Value::Int(1)), ("tissue", Value::from("liver"))]), Vec::<u64>::new());
    // Trashed values count.
    s.delete(value_ref(hot), false).unwrap();
    check(arts(&[("temperature__gt", Value::Int(39))]), vec![a3]);
    let runs =
        s.filter_runs(&pairs(&[("temperature__gte", Value::Float(40.0)), ("tissue", Value::from("liver"))])).unwrap();
    check(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![run]);
    check(s.filter_runs(&pairs(&[("tissue", Value::from("lung"))])).unwrap().len(), 0);
}

#[test]
fn queries_agree_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let queries = || {
        vec![
            q().filter("branch", "all").order_by("value"),
            q().filter("feature", "n").filter("value__gte", 2),
            q().filter("value__k", "x"),
            q().order_by("-created_at").limit(3),
        ]
    };
    let before: Vec<_> = {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "n", "int");
        for i in 0..10 {
            value_id(&s, Some("n"), i);
            value_id(&s, None, dict(&[("k", if i % 2 == 0 { "x" } else { "y" }.into())]));
        }
        s.delete(value_ref(3), false).unwrap();
        queries().iter().map(|q| s.filter(q).unwrap()).collect()
    };
    let store = open(dir.path());
    let s = store.session();
    let after: Vec<_> = queries().iter().map(|q| s.filter(q).unwrap()).collect();
    check(after, before);
}

#[test]
fn int_ranges_of_every_bound_kind_match_a_filter() {
    let store = mem();
    let s = store.session();
    feature(&s, "o", "object");
    let ints: Vec<(i64, u64)> = (-3..=3).map(|i| (i, value_id(&s, Some("o"), i))).collect();
    // Values of other ranks in the same feature, which no int range may return.
    for other in [Value::from("1"), Value::Bool(true), Value::from(vec![1i64]), date(2024, 1, 1)] {
        value_id(&s, Some("o"), other);
    }
    // A deleted int (2) is in the index's range but not in the default branch.
    assert_eq!(ints[5].0, 2);
    s.delete(value_ref(ints[5].1), false).unwrap();
    let live: Vec<(i64, u64)> = ints.iter().copied().filter(|(i, _)| *i != 2).collect();
    let sides = ["", "gt", "gte"].into_iter().flat_map(|l| ["", "lt", "lte"].into_iter().map(move |u| (l, u)));
    for (lo_op, hi_op) in sides {
        for (lo, hi) in (-4..=4).flat_map(|lo| (-4..=4).map(move |hi| (lo, hi))) {
            let mut query = q().filter("feature", "o");
            if !lo_op.is_empty() {
                query = query.filter(&format!("value__{lo_op}"), lo);
            }
            if !hi_op.is_empty() {
                query = query.filter(&format!("value__{hi_op}"), hi);
            }
            let want: Vec<u64> = live
                .iter()
                .filter(|(i, _)| match lo_op {
                    "gt" => *i > lo,
                    "gte" => *i >= lo,
                    _ => true,
                })
                .filter(|(i, _)| match hi_op {
                    "lt" => *i < hi,
                    "lte" => *i <= hi,
                    _ => true,
                })
                .map(|(_, id)| *id)
                .collect();
            if lo_op.is_empty() && hi_op.is_empty() {
                continue; // no range: every value of the feature
            }
            assert_eq!(ids(&s, &query), want, "{lo_op} {lo}, {hi_op} {hi}");
        }
    }
    // Two bounds on one side (the index cannot take both): the stricter one still cuts.
    let both = q().filter("feature", "o").filter("value__gte", 1).filter("value__gt", 1);
    check(ids(&s, &both), live.iter().filter(|(i, _)| *i > 1).map(|(_, id)| *id).collect());
}

/// Int ranges on a feature whose values arrive out of order and are deleted for good, in
/// numbers that make the ordered index merge its pending changes several times, then after a
/// reopen: every range answers as a filter over the live values does.
#[test]
fn int_ranges_stay_exact_through_out_of_order_creates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut live: std::collections::BTreeMap<i64, u64> = std::collections::BTreeMap::new();
    let ranges: Vec<(i64, i64)> =
        (0..150i64).map(|i| ((i * 7_919) % 9_000 - 4_600, (i * 7_919) % 9_000 - 4_600 + i % 40 * 13)).collect();
    let check_ranges = |s: &Session, live: &std::collections::BTreeMap<i64, u64>, when: &str| {
        for (lo, hi) in &ranges {
            let query = q().filter("feature", "n").filter("value__gte", *lo).filter("value__lt", *hi);
            let mut want: Vec<u64> = live.range(*lo..(*hi).max(*lo)).map(|(_, id)| *id).collect();
            want.sort_unstable();
            assert_eq!(ids(s, &query), want, "{when}: [{lo}, {hi})");
        }
    };
    {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "n", "int");
        // 6,000 ints, scrambled (a step coprime with the count), negatives included.
        for i in 0..6_000i64 {
            let v = (i * 2_477) % 6_000 * 3 - 9_000;
            live.insert(v, value_id(&s, Some("n"), v));
        }
        // Every 7th of them deleted for good (trash, then purge), in ascending order of value.
        let doomed: Vec<(i64, u64)> = live.iter().step_by(7).map(|(v, id)| (*v, *id)).collect();
        for (v, id) in &doomed {
            s.delete(value_ref(*id), false).unwrap();
            s.delete(value_ref(*id), true).unwrap();
            live.remove(v);
        }
        check_ranges(&s, &live, "after the load");
        // A third of those created again: new ids, back in the index.
        for (v, _) in doomed.iter().step_by(3) {
            live.insert(*v, value_id(&s, Some("n"), *v));
        }
        check_ranges(&s, &live, "after re-creating");
    }
    let store = reopen(dir.path(), buffered());
    check_ranges(&store.session(), &live, "after a reopen");
}

/// Key-path equality (`value__a = x`, `value__a__in`) answers from an index built by a path's
/// first query and kept by every later create and delete, per feature and (with no feature
/// named) over all values; checked against a filter over the dicts kept here, through
/// creates, deletes (trash and purge), two paths, values of two features and without one,
/// ints and strings beside them, and a reopen.
#[test]
fn key_path_equality_matches_a_filter_through_creates_deletes_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(77);
    // Each live dict's feature and what it holds at paths `a` and `b__c` (None: no such path).
    type Live = std::collections::BTreeMap<u64, (Option<&'static str>, Option<Value>, Option<Value>)>;
    let mut live: Live = Live::new();
    let leaf = |rng: &mut Rng| -> Option<Value> {
        match rng.below(7) {
            0 => None,
            1 => Some(Value::Float(rng.below(5) as f64)),
            2 => Some(Value::Str(format!("s{}", rng.below(5)))),
            3 => Some(Value::Date(20_000 + rng.below(3) as i32)),
            4 => Some(Value::List(vec![Value::Int(rng.below(2) as i64)])),
            _ => Some(Value::Int(rng.below(5) as i64)),
        }
    };
    let make = |rng: &mut Rng, live: &mut Live, s: &Session, feature: Option<&'static str>| {
        let (a, c) = (leaf(rng), leaf(rng));
        let mut m = std::collections::BTreeMap::new();
        if let Some(a) = &a {
            m.insert("a".to_string(), a.clone());
        }
        if let Some(c) = &c {
            m.insert("b".to_string(), dict(&[("c", c.clone())]));
        }
        m.insert("n".to_string(), Value::Int(rng.next() as i64 >> 1)); // distinct dicts
        let (rec, existed) = s.get_or_create(feature.map(Into::into), Value::Dict(m)).unwrap();
        assert!(!existed);
        live.insert(rec.id, (feature, a, c));
        // Scalars beside the dicts, which no key path reaches.
        s.get_or_create(None, Value::Int(rng.next() as i64 >> 1)).unwrap();
        s.get_or_create(None, Value::Str(format!("a{}", rng.next()))).unwrap();
    };
    let operands: Vec<Value> = vec![
        Value::Int(0),
        Value::Int(3),
        Value::Float(3.0),
        Value::Float(-0.0),
        Value::Str("s1".into()),
        Value::Str("s9".into()),
        Value::Date(20_001),
        Value::Str("2024-10-05".into()), // day 20_001: equals the stored date
        Value::List(vec![Value::Int(1)]),
    ];
    let matched = std::cell::Cell::new(0);
    let check_all = |s: &Session, live: &Live, when: &str| {
        for scope in [Some("d"), None] {
            let base = || match scope {
                Some(f) => q().filter("feature", f),
                None => q(),
            };
            let in_scope = |f: &Option<&str>| scope.is_none() || *f == scope;
            for (key, at) in [("value__a", 0), ("value__b__c", 1)] {
                let part =
                    |l: &(Option<&str>, Option<Value>, Option<Value>)| if at == 0 { l.1.clone() } else { l.2.clone() };
                for o in &operands {
                    let eq = |v: Option<Value>| match (v, o) {
                        (Some(Value::Date(d)), Value::Str(text)) => text == "2024-10-05" && d == 20_001,
                        (Some(v), o) => v == *o,
                        (None, _) => false,
                    };
                    let want: Vec<u64> =
                        live.iter().filter(|(_, l)| in_scope(&l.0) && eq(part(l))).map(|(id, _)| *id).collect();
                    let got = ids(s, &base().filter(key, o.clone()));
                    assert_eq!(got, want, "{when}: {scope:?} {key} = {o:?}");
                    matched.set(matched.get() + got.len());
                }
                let pair = vec![Value::Int(1), Value::Str("s2".into())];
                let want: Vec<u64> = live
                    .iter()
                    .filter(|(_, l)| in_scope(&l.0) && part(l).is_some_and(|v| pair.contains(&v)))
                    .map(|(id, _)| *id)
                    .collect();
                let got = ids(s, &base().filter(&format!("{key}__in"), Value::List(pair.clone())));
                assert_eq!(got, want, "{when}: {scope:?} {key}__in");
            }
        }
    };
    {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "d", "dict");
        feature(&s, "other", "dict");
        for i in 0..400 {
            make(&mut rng, &mut live, &s, [Some("d"), Some("d"), Some("other"), None][i % 4]);
        }
        check_all(&s, &live, "after the load");
        // Creates and deletes after the indexes exist.
        for round in 0..3 {
            let doomed: Vec<u64> = live.keys().copied().filter(|id| id % 5 == round).collect();
            for id in doomed {
                // Trashed: out of the default branch filter, though still in the indexes;
                // every other one purged as well.
                s.delete(value_ref(id), false).unwrap();
                if id % 2 == 0 {
                    s.delete(value_ref(id), true).unwrap();
                }
                live.remove(&id);
            }
            for i in 0..60 {
                make(&mut rng, &mut live, &s, [Some("d"), Some("other"), None][i % 3]);
            }
            check_all(&s, &live, &format!("after round {round}"));
        }
    }
    let store = reopen(dir.path(), buffered());
    check_all(&store.session(), &live, "after a reopen");
    // Most operands found something (this is not a test of empty answers).
    assert!(matched.get() > 1_000, "only {} matches in all", matched.get());
}

/// `order_by` value with a limit on one feature walks the feature's ordered index, taking
/// groups of ties whole; its answers are the full sort's cut to the limit, for mixed types with
/// int/float and date/datetime twins (the ties there are), lists and dicts, in both
/// directions, with trashed values, values another user may not read, other filters, and
/// after a reopen.
#[test]
fn order_by_value_with_a_limit_is_the_full_sort_cut_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    let day = 19_800i32;
    let mixed = |rng: &mut Rng| -> Value {
        let r = rng.below(40) as i64;
        match rng.below(9) {
            0 => Value::Int(r - 20),
            1 => Value::Float((r - 20) as f64),
            2 => Value::Float(r as f64 - 19.5),
            3 => Value::Bool(r % 2 == 0),
            4 => Value::Str(format!("s{}", r % 12)),
            5 => Value::Date(day + (r % 6) as i32),
            6 => Value::DateTime(i64::from(day + (r % 6) as i32) * 86_400_000_000),
            7 => Value::DateTime(i64::from(day + (r % 6) as i32) * 86_400_000_000 + 3_600_000_000),
            _ => Value::Int(r * 1_000),
        }
    };
    let check_all = |store: &Store, when: &str| {
        let me = store.session();
        let alice = store.as_user("alice").unwrap();
        let reads = [
            (&me, q().filter("feature", "o")),
            (&me, q().filter("feature", "o").filter("branch", "all")),
            (&me, q().filter("feature", "o").filter("created_by", "anonymous")),
            (&alice, q().filter("feature", "o")),
            (&me, q().filter("feature", "n")),
            (&me, q().filter("feature", "n").filter("branch", -1)),
        ];
        for (who, base) in reads {
            for order in ["value", "-value"] {
                let full = ids(who, &base.clone().order_by(order));
                for k in [0usize, 1, 2, 5, 17, 60, 1_000, usize::MAX] {
                    let top = ids(who, &base.clone().order_by(order).limit(k));
                    assert_eq!(top, full[..k.min(full.len())], "{when}: {base:?} {order} limit {k}");
                }
            }
        }
    };
    {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "o", "object");
        feature(&s, "n", "int");
        new_user(&store, "alice");
        let lab = new_space(&s, "lab");
        let in_lab = s.clone().in_space(lab);
        for i in 0..400 {
            let v = mixed(&mut rng);
            let (rec, _) = if i % 7 == 0 {
                in_lab.get_or_create(Some("o".into()), v)
            } else {
                s.get_or_create(Some("o".into()), v)
            }
            .unwrap();
            if i % 11 == 0 {
                s.delete(value_ref(rec.id), false).unwrap();
            }
            let n = value_id(&s, Some("n"), rng.below(300) as i64 - 150);
            if i % 13 == 0 {
                s.delete(value_ref(n), false).unwrap();
            }
        }
        check_all(&store, "plain values");
        // A list and a dict: they rank above every plain value, so the full path answers.
        value_id(&s, Some("o"), Value::from(vec![1, 2]));
        value_id(&s, Some("o"), dict(&[("a", 1.into())]));
        check_all(&store, "with a list and a dict");
    }
    let store = reopen(dir.path(), buffered());
    check_all(&store, "after a reopen");
}
