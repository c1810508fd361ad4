//! Values through the public API: dtypes and strict validation (SPEC §2), coercion, dates,
//! nulls, limits, and hashing / get_or_create dedup (SPEC §3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fvstore::{codec, value_from_json, value_to_json, FeatureSpec, Host, Limits, Options, Store, Value};

const DTYPES: [&str; 14] = [
    "int",
    "float",
    "num",
    "str",
    "bool",
    "date",
    "datetime",
    "dict",
    "list[int]",
    "list[float]",
    "list[str]",
    "path",
    "url",
    "object",
];

const DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of 2024-01-02.
fn jan2() -> i64 {
    match date(2024, 1, 2) {
        Value::Date(d) => i64::from(d),
        other => panic!("not a date: {other:?}"),
    }
}

#[test]
fn every_dtype_is_accepted_and_unknown_ones_are_refused() {
    let store = mem();
    let s = store.session();
    for (i, dt) in DTYPES.iter().enumerate() {
        let f = feature(&s, &format!("f{i}"), dt);
        check(f.dtype.as_str(), *dt);
        check((f.nullable, f.coerce, f.branch_id, f.space_id), (true, false, 1, 1));
    }
    let head = store.head();
    let r = s.create_feature(&FeatureSpec::new("g", "integer"));
    check(kind(&r), "ValidationError");
    for dt in DTYPES {
        check(message(&r).contains(dt), true);
    }
    check(store.head(), head);
}

#[test]
fn same_name_same_dtype_is_that_feature_other_dtype_is_refused() {
    let store = mem();
    let s = store.session();
    let a = feature(&s, "temperature", "float");
    let again = feature(&s, "temperature", "float");
    check(again.id, a.id);
    check(kind(&s.create_feature(&FeatureSpec::new("temperature", "int"))), "ValidationError");
    // Feature names are case-sensitive and may not contain `__`.
    let upper = feature(&s, "Temperature", "int");
    check(upper.id != a.id, true);
    check(kind(&s.create_feature(&FeatureSpec::new("a__b", "int"))), "ValidationError");
}

/// (dtype, value, accepted without coercion)
fn strict_cases() -> Vec<(&'static str, Value, bool)> {
    let d = date(2024, 1, 2);
    vec![
        ("int", Value::Int(8), true),
        ("int", Value::Bool(true), false),
        ("int", Value::Float(9.0), false),
        ("int", Value::from("8"), false),
        ("float", Value::Float(3.5), true),
        ("float", Value::Int(3), false),
        ("float", Value::from("3.5"), false),
        ("num", Value::Int(3), true),
        ("num", Value::Float(3.5), true),
        ("num", Value::from("3"), false),
        ("num", Value::Bool(false), false),
        ("str", Value::from("x"), true),
        ("str", Value::Int(1), false),
        ("str", Value::Bool(true), false),
        ("path", Value::from("data/x.h5ad"), true),
        ("path", Value::Int(1), false),
        ("url", Value::from("https://example.org/x?y=1"), true),
        ("url", Value::from("s3://bucket/key"), true),
        ("url", Value::from("example.org/x"), false),
        ("url", Value::from("/tmp/x"), false),
        ("url", Value::Int(1), false),
        ("bool", Value::Bool(false), true),
        ("bool", Value::Int(1), false),
        ("bool", Value::from("true"), false),
        ("date", d.clone(), true),
        ("date", Value::from("2024-01-03"), true),
        ("date", Value::from("2024-02-30"), false),
        ("date", Value::from("2024-1-2"), false),
        ("date", Value::DateTime(jan2() * DAY), false),
        ("date", Value::Int(19724), false),
        ("datetime", Value::DateTime(jan2() * DAY + 1), true),
        ("datetime", Value::from("2024-01-02T03:04:05"), true),
        ("datetime", Value::from("2024-01-02T03:04:05+01:00"), false),
        ("datetime", Value::from("2024-01-02T25:00:00"), false),
        ("datetime", Value::from("2024-02-30T00:00:00"), false),
        ("datetime", d.clone(), false),
        ("dict", dict(&[("a", Value::Int(1))]), true),
        ("dict", Value::from("{\"a\": 1}"), false),
        ("dict", Value::from(vec![1]), false),
        ("list[int]", Value::from(vec![1, 2]), true),
        ("list[int]", Value::List(vec![]), true),
        ("list[int]", Value::List(vec![Value::Int(1), Value::Float(2.0)]), false),
        ("list[int]", Value::List(vec![Value::Int(1), Value::from("2")]), false),
        ("list[int]", Value::Int(1), false),
        ("list[float]", Value::from(vec![1.5]), true),
        ("list[float]", Value::from(vec![1]), false),
        ("list[str]", Value::from(vec!["a", "b"]), true),
        ("list[str]", Value::from(vec![1]), false),
        ("object", Value::Int(1), true),
        ("object", Value::from("s"), true),
        ("object", Value::Bool(true), true),
        ("object", dict(&[("k", Value::from(vec![1.5]))]), true),
        ("object", d, true),
    ]
}

#[test]
fn validation_is_strict_for_every_dtype() {
    let store = mem();
    let s = store.session();
    for dt in DTYPES {
        feature(&s, &dt.replace(['[', ']'], "_"), dt);
    }
    for (dt, v, ok) in strict_cases() {
        let name = dt.replace(['[', ']'], "_");
        let head = store.head();
        let r = s.get_or_create(Some(name.as_str().into()), v.clone());
        let expected = if ok { "ok" } else { "ValidationError" };
        check((dt, format!("{v:?}"), kind(&r)), (dt, format!("{v:?}"), expected));
        if !ok {
            check(store.head(), head);
        }
    }
}

#[test]
fn coercion_converts_losslessly_and_stores_the_converted_value() {
    let store = mem();
    let s = store.session();
    for dt in ["int", "float", "num", "bool", "list[int]", "str", "path", "url", "dict"] {
        s.create_feature(&FeatureSpec::new(format!("c_{dt}"), dt).coerce(true)).unwrap();
    }
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        ("int", Value::from("8"), Some(Value::Int(8))),
        ("int", Value::Float(9.0), Some(Value::Int(9))),
        ("int", Value::Float(9.5), None),
        ("int", Value::from("8.0"), None),
        ("int", Value::from("abc"), None),
        ("int", Value::Bool(true), None),
        ("float", Value::Int(3), Some(Value::Float(3.0))),
        ("float", Value::from("2.5"), Some(Value::Float(2.5))),
        ("float", Value::Int((1 << 53) + 1), None),
        ("float", Value::from("nan"), None),
        ("float", Value::from("inf"), None),
        ("num", Value::from("2.5"), Some(Value::Float(2.5))),
        ("num", Value::from("x"), None),
        ("bool", Value::from("TRUE"), Some(Value::Bool(true))),
        ("bool", Value::from("False"), Some(Value::Bool(false))),
        ("bool", Value::from("yes"), None),
        ("bool", Value::Int(1), None),
        ("list[int]", Value::List(vec![Value::from("1"), Value::Float(2.0)]), Some(Value::from(vec![1, 2]))),
        ("list[int]", Value::List(vec![Value::from("1"), Value::Float(2.5)]), None),
        ("str", Value::Int(5), None),
        ("str", Value::Bool(true), None),
        ("path", Value::Int(5), None),
        ("url", Value::Int(5), None),
        ("dict", Value::from("{\"a\": 1}"), None),
        ("float", Value::Int(i64::MAX), None),
        ("int", Value::Float(1e19), None),
        ("bool", Value::from("1"), None),
    ];
    for (dt, input, expected) in cases {
        let name = format!("c_{dt}");
        let r = s.get_or_create(Some(name.as_str().into()), input.clone());
        match expected {
            Some(want) => {
                let (rec, _) = r.unwrap();
                check((dt, format!("{input:?}"), rec.value.clone()), (dt, format!("{input:?}"), want.clone()));
                // The converted value is what is hashed: the plain value is the same record.
                let (again, existed) = s.get_or_create(Some(name.as_str().into()), want.clone()).unwrap();
                check((again.id, existed), (rec.id, true));
                check(rec.hash.to_string(), blake3::hash(&codec::canonical(&want)).to_hex().to_string());
            }
            None => check((dt, format!("{input:?}"), kind(&r)), (dt, format!("{input:?}"), "ValidationError")),
        }
    }
    // "num" accepts an integer string too (as some number).
    check(kind(&s.get_or_create(Some("c_num".into()), "3")), "ok");
}

#[test]
fn dates_and_datetimes_via_values_and_iso_strings() {
    let store = mem();
    let s = store.session();
    feature(&s, "day", "date");
    feature(&s, "at", "datetime");
    let (a, _) = s.get_or_create(Some("day".into()), date(2024, 1, 2)).unwrap();
    let (b, existed) = s.get_or_create(Some("day".into()), "2024-01-02").unwrap();
    check((b.id, existed), (a.id, true));
    check(value_to_json(&a.value), serde_json::json!("2024-01-02"));
    check(kind(&s.get_or_create(Some("day".into()), "2023-02-29")), "ValidationError");
    check(kind(&s.get_or_create(Some("day".into()), "2024-02-29")), "ok");
    check(kind(&s.get_or_create(Some("day".into()), "2024-13-01")), "ValidationError");

    let micros = jan2() * DAY + ((3 * 60 + 4) * 60 + 5) * 1_000_000;
    let (t, _) = s.get_or_create(Some("at".into()), Value::DateTime(micros)).unwrap();
    for text in ["2024-01-02T03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"] {
        let (u, existed) = s.get_or_create(Some("at".into()), text).unwrap();
        check((u.id, existed, u.value.clone()), (t.id, true, Value::DateTime(micros)));
    }
    check(value_to_json(&t.value), serde_json::json!("2024-01-02T03:04:05"));
    let (frac, _) = s.get_or_create(Some("at".into()), "2024-01-02T03:04:05.123456Z").unwrap();
    check(frac.value.clone(), Value::DateTime(micros + 123_456));
    check(value_to_json(&frac.value), serde_json::json!("2024-01-02T03:04:05.123456"));
    for bad in ["2024-01-02T03:04:05-05:00", "2024-01-02 03:04:05", "2024-01-02T03:04:05.1234567", "2024-01-02T03:04"] {
        check((bad, kind(&s.get_or_create(Some("at".into()), bad))), (bad, "ValidationError"));
    }
    // With no feature, an ISO string is just a string.
    let (plain, _) = s.get_or_create(None, "2024-01-02").unwrap();
    check(plain.value, Value::from("2024-01-02"));
}

#[test]
fn get_or_create_checks_the_feature_then_the_value_then_the_dedup_key() {
    let store = mem();
    let s = store.session();
    check(kind(&s.get_or_create(Some("nope".into()), f64::NAN)), "DoesNotExist");
    check(kind(&s.get_or_create(Some("nope".into()), Value::Null)), "DoesNotExist");
    check(kind(&s.get_or_create(Some(99i64.into()), 1)), "DoesNotExist");
    let f = feature(&s, "n", "int");
    let (rec, _) = s.get_or_create(Some(f.id.into()), 1).unwrap();
    check(rec.feature_id, Some(f.id));
    check(s.get_or_create(Some("n".into()), 1).unwrap().0.id, rec.id); // by name or id alike
    check(kind(&s.get_or_create(Some("n".into()), 1.0)), "ValidationError");
    check(store.head().0, 2);
}

#[test]
fn json_numbers_must_be_finite_and_integers_fit_i64() {
    let parse = |text: &str| value_from_json(&serde_json::from_str(text).unwrap());
    check(kind(&parse("1e400")), "ValidationError");
    check(kind(&parse("-1e400")), "ValidationError");
    check(kind(&parse("[1, 1e400]")), "ValidationError");
    check(kind(&parse("18446744073709551615")), "ValidationError");
    check(parse("1").unwrap(), Value::Int(1));
    check(parse("1.0").unwrap(), Value::Float(1.0));
    check(
        parse(r#"{"a": [true, null, "x"]}"#).unwrap(),
        dict(&[("a", Value::List(vec![true.into(), Value::Null, "x".into()]))]),
    );
}

#[test]
fn nulls_are_never_stored() {
    let store = mem();
    let s = store.session();
    feature(&s, "opt", "int");
    s.create_feature(&FeatureSpec::new("req", "int").nullable(false)).unwrap();
    let art = s.create_artifact("a").unwrap();
    let head = store.head();
    check(kind(&s.get_or_create(Some("opt".into()), Value::Null)), "ValidationError");
    check(kind(&s.get_or_create(Some("req".into()), Value::Null)), "ValidationError");
    check(kind(&s.get_or_create(None, Value::Null)), "ValidationError");
    // add_values: a null is skipped for a nullable feature, refused for a non-nullable one.
    let out = s.add_values(Host::Artifact(art.id), &pairs(&[("opt", Value::Null)])).unwrap();
    check(out.len(), 0);
    check(store.head(), head);
    let r = s.add_values(Host::Artifact(art.id), &pairs(&[("opt", Value::Int(1)), ("req", Value::Null)]));
    check(kind(&r), "ValidationError");
    check(store.head(), head);
    check(s.get_values(Host::Artifact(art.id)).unwrap().len(), 0);
}

fn nested_list(depth: usize) -> Value {
    let mut v = Value::Int(1);
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}

fn nested_dict(depth: usize) -> Value {
    let mut v = Value::Int(1);
    for _ in 0..depth {
        v = dict(&[("k", v)]);
    }
    v
}

#[test]
fn nesting_limit_is_64_levels() {
    let store = mem();
    let s = store.session();
    feature(&s, "obj", "object");
    feature(&s, "d", "dict");
    check(kind(&s.get_or_create(None, nested_list(64))), "ok");
    check(kind(&s.get_or_create(Some("obj".into()), nested_list(64))), "ok");
    check(kind(&s.get_or_create(Some("d".into()), nested_dict(64))), "ok");
    let head = store.head();
    check(kind(&s.get_or_create(None, nested_list(65))), "ValidationError");
    check(kind(&s.get_or_create(Some("obj".into()), nested_dict(65))), "ValidationError");
    check(kind(&s.get_or_create(Some("d".into()), nested_dict(65))), "ValidationError");
    check(store.head(), head);
}

#[test]
fn size_limit_is_one_mib_of_canonical_encoding() {
    let store = mem();
    let s = store.session();
    feature(&s, "blob", "str");
    let overhead = codec::canonical_len(&Value::from(""));
    let fits = "x".repeat((1 << 20) - overhead);
    check(codec::canonical_len(&Value::from(fits.as_str())), 1 << 20);
    check(kind(&s.get_or_create(Some("blob".into()), fits.as_str())), "ok");
    let head = store.head();
    let over = format!("{fits}y");
    check(kind(&s.get_or_create(Some("blob".into()), over.as_str())), "ValidationError");
    check(kind(&s.get_or_create(None, over.as_str())), "ValidationError");
    check(store.head(), head);
}

#[test]
fn limits_are_configurable() {
    let limits = Limits { max_value_bytes: 100, max_depth: 3, max_name_chars: 10 };
    let store = Store::temporary_with(Options { limits, ..Default::default() }).unwrap();
    let s = store.session();
    check(kind(&s.get_or_create(None, nested_list(3))), "ok");
    check(kind(&s.get_or_create(None, nested_list(4))), "ValidationError");
    check(kind(&s.get_or_create(None, "x".repeat(200).as_str())), "ValidationError");
    check(kind(&s.create_feature(&FeatureSpec::new("abcdefghij", "int"))), "ok");
    check(kind(&s.create_feature(&FeatureSpec::new("abcdefghijk", "int"))), "ValidationError");
}

#[test]
fn nan_and_infinities_are_refused_everywhere() {
    let store = mem();
    let s = store.session();
    feature(&s, "x", "float");
    feature(&s, "o", "object");
    feature(&s, "l", "list[float]");
    let head = store.head();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let in_list = Value::List(vec![Value::Float(1.0), Value::Float(bad)]);
        let in_dict = dict(&[("a", dict(&[("b", Value::Float(bad))]))]);
        check(kind(&s.get_or_create(Some("x".into()), bad)), "ValidationError");
        check(kind(&s.get_or_create(Some("o".into()), bad)), "ValidationError");
        check(kind(&s.get_or_create(Some("l".into()), in_list.clone())), "ValidationError");
        check(kind(&s.get_or_create(None, bad)), "ValidationError");
        check(kind(&s.get_or_create(None, in_list)), "ValidationError");
        check(kind(&s.get_or_create(None, in_dict)), "ValidationError");
    }
    check(store.head(), head);
    // JSON integers outside i64 are refused too.
    let big: serde_json::Value = serde_json::from_str("9223372036854775808").unwrap();
    check(kind(&value_from_json(&big)), "ValidationError");
    let ok: serde_json::Value = serde_json::from_str("-9223372036854775808").unwrap();
    check(value_from_json(&ok).unwrap(), Value::Int(i64::MIN));
}

#[test]
fn names_are_1_to_150_characters() {
    let store = mem();
    let s = store.session();
    let n150 = "é".repeat(150); // characters, not bytes
    let n151 = "é".repeat(151);
    check(kind(&s.create_feature(&FeatureSpec::new(n150.as_str(), "int"))), "ok");
    check(kind(&s.create_feature(&FeatureSpec::new(n151.as_str(), "int"))), "ValidationError");
    check(kind(&s.create_feature(&FeatureSpec::new("", "int"))), "ValidationError");
    check(kind(&s.create_user(&n150)), "ok");
    check(kind(&s.create_user(&n151)), "ValidationError");
    check(kind(&s.create_user("")), "ValidationError");
    check(kind(&s.create_space(&n150)), "ok");
    check(kind(&s.create_space(&n151)), "ValidationError");
    check(kind(&s.create_space("")), "ValidationError");
    check(kind(&s.create_branch(&n150)), "ok");
    check(kind(&s.create_branch(&n151)), "ValidationError");
    check(kind(&s.create_branch("")), "ValidationError");
    check(kind(&s.start_run(&n150)), "ok");
    check(kind(&s.start_run(&n151)), "ValidationError");
    check(kind(&s.start_run("")), "ValidationError");
}

#[test]
fn types_are_part_of_the_hash() {
    let store = mem();
    let s = store.session();
    feature(&s, "o", "object");
    let vals = [Value::Int(42), Value::Float(42.0), Value::from("42"), Value::Bool(true), Value::Int(1)];
    let recs: Vec<_> = vals.iter().map(|v| s.get_or_create(Some("o".into()), v.clone()).unwrap().0).collect();
    let mut ids: Vec<u64> = recs.iter().map(|r| r.id).collect();
    let mut hashes: Vec<String> = recs.iter().map(|r| r.hash.to_string()).collect();
    ids.dedup();
    hashes.sort();
    hashes.dedup();
    check((ids.len(), hashes.len()), (5, 5));
    for (r, v) in recs.iter().zip(&vals) {
        let hex = r.hash.to_string();
        check(hex.len(), 64);
        check(hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), true);
        check(hex.clone(), blake3::hash(&codec::canonical(v)).to_hex().to_string());
        check(*r.hash.as_bytes(), *blake3::hash(&codec::canonical(v)).as_bytes());
        // Parsing gives the hash back, in either case; anything but 64 hex digits is refused.
        check(hex.parse::<fvstore::ValueHash>(), Ok(r.hash));
        check(hex.to_uppercase().parse::<fvstore::ValueHash>(), Ok(r.hash));
        check(r.hash == hex.as_str(), true);
        check(hex[..63].parse::<fvstore::ValueHash>(), Err(fvstore::ParseHashError));
        check(format!("{:?}", r.hash), format!("ValueHash({hex})"));
    }
}

#[test]
fn dict_key_order_and_negative_zero_do_not_matter() {
    let store = mem();
    let s = store.session();
    feature(&s, "d", "dict");
    feature(&s, "x", "float");
    let one: serde_json::Value =
        serde_json::from_str(r#"{"b": 1, "a": {"d": 2, "c": [3, {"z": 1, "y": 2}]}}"#).unwrap();
    let two: serde_json::Value =
        serde_json::from_str(r#"{"a": {"c": [3, {"y": 2, "z": 1}], "d": 2}, "b": 1}"#).unwrap();
    let (r1, _) = s.get_or_create(Some("d".into()), value_from_json(&one).unwrap()).unwrap();
    let (r2, existed) = s.get_or_create(Some("d".into()), value_from_json(&two).unwrap()).unwrap();
    check((r2.id, existed), (r1.id, true));
    // A list's order does matter.
    let three: serde_json::Value =
        serde_json::from_str(r#"{"a": {"c": [{"y": 2, "z": 1}, 3], "d": 2}, "b": 1}"#).unwrap();
    check(s.get_or_create(Some("d".into()), value_from_json(&three).unwrap()).unwrap().1, false);

    let (z, _) = s.get_or_create(Some("x".into()), 0.0).unwrap();
    let (nz, existed) = s.get_or_create(Some("x".into()), -0.0).unwrap();
    check((nz.id, existed), (z.id, true));
    let (nz_free, _) = s.get_or_create(None, -0.0).unwrap();
    let (z_free, existed) = s.get_or_create(None, 0.0).unwrap();
    check((z_free.id, existed), (nz_free.id, true));
    match nz_free.value {
        Value::Float(f) => check((f, f.is_sign_positive()), (0.0, true)),
        other => panic!("expected a float, got {other:?}"),
    }
    let in_list = s.get_or_create(None, Value::from(vec![-0.0])).unwrap().0;
    check(s.get_or_create(None, Value::from(vec![0.0])).unwrap(), (in_list, true));
}

#[test]
fn the_dedup_key_includes_the_feature() {
    let store = mem();
    let s = store.session();
    feature(&s, "a", "int");
    feature(&s, "b", "int");
    let a = value_id(&s, Some("a"), 7);
    let b = value_id(&s, Some("b"), 7);
    let none = value_id(&s, None, 7);
    check(a != b && b != none && a != none, true);
    check(s.get_or_create(None, 7).unwrap().0.id, none);
    check(s.get_or_create(None, 7).unwrap().1, true);
    check(s.get_or_create(Some("a".into()), 7).unwrap().0.feature_id, s.get(a).unwrap().feature_id);
    check(s.get(none).unwrap().feature_id, None);
}

#[test]
fn a_hit_returns_the_record_on_any_branch_unchanged_and_writes_nothing() {
    let store = mem();
    let s = store.session();
    feature(&s, "n", "int");
    let draft = s.create_branch("draft").unwrap().id;
    let on_draft = s.clone().on_branch(draft);
    let targets: [(i64, i64); 5] = [(-1, 1), (0, 2), (2, 3), (3, 4), (draft, 5)];
    for (branch, n) in targets {
        let id = if branch == draft {
            value_id(&on_draft, Some("n"), n)
        } else {
            let id = value_id(&s, Some("n"), n);
            s.set_branch(value_ref(id), branch).unwrap();
            id
        };
        let before = s.get(id).unwrap();
        check(before.branch_id, branch);
        let head = store.head();
        let (hit, existed) = s.get_or_create(Some("n".into()), n).unwrap();
        check((existed, store.head()), (true, head));
        check(hit, before.clone());
        // The same from another current branch.
        let (hit2, existed2) = on_draft.get_or_create(Some("n".into()), n).unwrap();
        check((hit2, existed2, store.head()), (before, true, head));
    }
}

#[test]
fn values_and_dedup_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<(Option<&str>, Value)> = vec![
        (Some("n"), Value::Int(1)),
        (Some("x"), Value::Float(-0.0)),
        (Some("day"), Value::from("2024-01-02")),
        (Some("obj"), dict(&[("b", Value::Int(1)), ("a", Value::from(vec!["x"]))])),
        (None, Value::Int(1)),
        (None, Value::Float(1.0)),
    ];
    let (ids, head) = {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "n", "int");
        feature(&s, "x", "float");
        feature(&s, "day", "date");
        feature(&s, "obj", "object");
        let ids: Vec<u64> = inputs.iter().map(|(f, v)| value_id(&s, *f, v.clone())).collect();
        s.delete(value_ref(ids[0]), false).unwrap();
        (ids, store.head())
    };
    let store = open(dir.path());
    let s = store.session();
    check(store.head(), head);
    for ((f, v), id) in inputs.iter().zip(&ids) {
        let (rec, existed) = s.get_or_create(f.map(Into::into), v.clone()).unwrap();
        check((rec.id, existed), (*id, true));
    }
    check(s.get(ids[0]).unwrap().branch_id, -1);
    check(store.head(), head);
    // Ids continue after the reopen, never reused.
    check(value_id(&s, None, "new"), ids.len() as u64 + 1);
}
