//! The exec protocol (SPEC §9) on a temporary store with a fixed clock: lines are either raw
//! fuzz bytes or requests built from a small grammar of valid ops with fields filled from the
//! fuzz bytes. Every response must be `{"ok": …}` or `{"error": {"kind", "message"}}` with one
//! of the ten kinds, nothing may panic, and the store must verify at the end.
#![no_main]

use arbitrary::{Result, Unstructured};
use fvstore::protocol::Exec;
use fvstore::{FixedClock, Options, Store};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

const KINDS: [&str; 10] = [
    "DoesNotExist",
    "MultipleObjectsReturned",
    "ValidationError",
    "IntegrityError",
    "ProtectedError",
    "PermissionDenied",
    "FieldError",
    "InvalidInput",
    "Corruption",
    "Io",
];

/// Each op with the fields it may take.
const OPS: &[(&str, &[&str])] = &[
    ("create_user", &["handle"]),
    ("list", &["type", "branch"]),
    ("create_space", &["name"]),
    ("grant", &["space", "user", "role"]),
    ("create_branch", &["name"]),
    ("merge_branch", &["branch"]),
    ("start_run", &["name"]),
    ("finish_run", &["run"]),
    ("create_feature", &["name", "dtype", "nullable", "coerce"]),
    ("create_artifact", &["key"]),
    ("get_or_create", &["feature", "value"]),
    ("get", &["id", "where"]),
    ("filter", &["where", "order_by", "limit"]),
    ("count", &["where"]),
    ("delete", &["id", "permanent", "type"]),
    ("restore", &["id", "type"]),
    ("set_branch", &["id", "branch", "type"]),
    ("move_space", &["id", "space", "type"]),
    ("link", &["id", "artifact", "run"]),
    ("unlink", &["id", "artifact", "run"]),
    ("add_values", &["artifact", "run", "values"]),
    ("set_values", &["artifact", "run", "values"]),
    ("remove_values", &["artifact", "run", "feature"]),
    ("get_values", &["artifact", "run"]),
    ("filter_artifacts", &["where"]),
    ("filter_runs", &["where"]),
    ("delete_feature", &["feature", "permanent"]),
    ("delete_artifact", &["artifact", "permanent"]),
    ("delete_run", &["run", "permanent"]),
    ("history", &["id", "record"]),
    ("log", &["from", "to"]),
    ("head", &[]),
    ("as_of", &["seq", "at", "request"]),
    ("snapshot", &[]),
    ("verify", &[]),
];

const FEATURES: &[&str] = &["temperature", "tag", "n", "meta", "when", "day", "xs", "ok", "path"];
const DTYPES: &[&str] = &[
    "float",
    "str",
    "int",
    "dict",
    "datetime",
    "date",
    "list[int]",
    "bool",
    "path",
    "num",
    "url",
    "object",
    "list[str]",
    "list[float]",
    "cat",
];
const NAMES: &[&str] = &["alice", "bob", "lab", "draft", "r1", "data/a.h5ad", "", "ALICE", "main"];
const WHERE_KEYS: &[&str] = &[
    "id",
    "id__in",
    "hash",
    "feature",
    "feature__in",
    "value",
    "value__in",
    "value__gt",
    "value__gte",
    "value__lt",
    "value__lte",
    "value__a",
    "value__a__b",
    "branch",
    "space",
    "created_by",
    "run",
    "artifact",
    "linked_run",
    "created_at__gte",
    "created_at__lte",
    "temperature__gt",
    "n",
    "bogus__x",
];

fn pick<'a, T: ?Sized>(u: &mut Unstructured, xs: &'a [&'a T]) -> Result<&'a T> {
    Ok(*u.choose(xs)?)
}

fn small(u: &mut Unstructured) -> Result<i64> {
    Ok(i64::from(u.int_in_range(-2..=6)?))
}

/// A plain JSON value of any type, shallow.
fn value(u: &mut Unstructured, depth: u32) -> Result<Json> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Json::Null,
        1 => json!(u.arbitrary::<bool>()?),
        2 => json!(small(u)?),
        3 => json!(u.arbitrary::<i64>()?),
        4 => json!(f64::from(u.int_in_range(-4..=40)?) / 4.0),
        5 => json!(pick(u, NAMES)?),
        6 => json!(u.arbitrary::<String>()?),
        7 => json!(pick(u, &["2024-01-02", "2024-01-02T03:04:05Z", "1969-12-31", "2024-02-30", "s3://b/k"])?),
        8 if depth > 0 => {
            let n = u.int_in_range(0..=3)?;
            Json::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        9 if depth > 0 => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                m.insert(pick(u, &["a", "b", "c", "A"])?.to_string(), value(u, depth - 1)?);
            }
            Json::Object(m)
        }
        10 => json!(u.arbitrary::<f64>()?),
        _ => json!(small(u)?),
    })
}

fn reference(u: &mut Unstructured, names: &[&str]) -> Result<Json> {
    Ok(if u.arbitrary()? { json!(pick(u, names)?) } else { json!(small(u)?) })
}

fn where_(u: &mut Unstructured) -> Result<Json> {
    let mut m = Map::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let k = pick(u, WHERE_KEYS)?;
        let v = match k {
            "feature" | "feature__in" if u.arbitrary()? => json!(pick(u, FEATURES)?),
            "branch" if u.arbitrary()? => json!(pick(u, &["all", "main", "trash", "draft"])?),
            k if k.ends_with("__in") => json!([value(u, 0)?, value(u, 0)?]),
            _ => value(u, 1)?,
        };
        m.insert(k.to_string(), v);
    }
    Ok(Json::Object(m))
}

fn field(u: &mut Unstructured, name: &str, depth: u32) -> Result<Json> {
    Ok(match name {
        "handle" | "name" | "key" | "user" => json!(pick(u, NAMES)?),
        "type" => json!(pick(
            u,
            &["users", "spaces", "branches", "runs", "features", "artifacts", "value", "feature", "artifact", "run"]
        )?),
        "role" => json!(pick(u, &["admin", "write", "read", "none", "owner"])?),
        "dtype" => json!(pick(u, DTYPES)?),
        "feature" => match u.int_in_range(0..=3)? {
            0 => Json::Null,
            1 => json!(small(u)?),
            _ => json!(pick(u, FEATURES)?),
        },
        "space" => reference(u, &["lab", "all", "default"])?,
        "branch" => reference(u, &["main", "draft", "trash", "all"])?,
        "value" => value(u, 2)?,
        "where" => where_(u)?,
        "order_by" => json!(pick(u, &["id", "-id", "value", "-value", "created_at", "-created_at", "x"])?),
        "values" => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                m.insert(pick(u, FEATURES)?.to_string(), value(u, 1)?);
            }
            Json::Object(m)
        }
        "record" => json!({"type": pick(u, &["value", "feature", "artifact", "run", "user", "space", "branch"])?,
                           "id": small(u)?}),
        "at" => json!(pick(u, &["1970-01-01T00:00:00.001Z", "2030-01-01T00:00:00Z", "nope"])?),
        "request" if depth > 0 => request(u, depth - 1)?,
        "nullable" | "coerce" | "permanent" => json!(u.arbitrary::<bool>()?),
        // Counts the caller chooses may be far beyond the store: nothing may be sized by them.
        "limit" | "from" | "to" => match u.int_in_range(0..=3)? {
            0 => json!(u64::MAX),
            1 => json!(1u64 << 32),
            _ => json!(small(u)?),
        },
        _ => json!(small(u)?),
    })
}

/// A request from the grammar: an op, some of its fields, sometimes an acting context.
fn request(u: &mut Unstructured, depth: u32) -> Result<Json> {
    let (op, fields) = *u.choose(OPS)?;
    let mut m = Map::new();
    m.insert("op".into(), json!(op));
    for f in fields.iter() {
        if u.ratio(4, 5)? {
            m.insert((*f).to_string(), field(u, f, depth)?);
        }
    }
    if u.ratio(1, 4)? {
        let mut ctx = Map::new();
        for k in ["user", "run", "branch", "space"] {
            if u.arbitrary()? {
                ctx.insert(k.into(), field(u, k, 0)?);
            }
        }
        m.insert("as".into(), Json::Object(ctx));
    }
    if u.ratio(1, 20)? {
        m.insert("extra".into(), value(u, 0)?);
    }
    Ok(Json::Object(m))
}

fn line(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 8)? {
        // Raw text up to a newline (the protocol's framing).
        let s: String = u.arbitrary()?;
        Ok(s.split('\n').next().unwrap_or("").to_string())
    } else {
        Ok(request(u, 1)?.to_string())
    }
}

fn check(line: &str, response: &str) {
    assert!(!response.contains('\n'), "response spans lines: {response}");
    let r: Json = serde_json::from_str(response).unwrap_or_else(|e| panic!("{line} -> not JSON ({e}): {response}"));
    let m = r.as_object().unwrap_or_else(|| panic!("{line} -> not an object: {response}"));
    assert_eq!(m.len(), 1, "{line} -> not exactly one of ok/error: {response}");
    if m.contains_key("ok") {
        return;
    }
    let e = m.get("error").and_then(Json::as_object).unwrap_or_else(|| panic!("{line} -> bad response: {response}"));
    assert_eq!(e.len(), 2, "{line} -> error has other fields: {response}");
    let kind = e.get("kind").and_then(Json::as_str).unwrap_or_else(|| panic!("{line} -> no kind: {response}"));
    assert!(KINDS.contains(&kind), "{line} -> unknown kind {kind}: {response}");
    assert!(e.get("message").is_some_and(Json::is_string), "{line} -> no message: {response}");
    assert!(!matches!(kind, "Corruption" | "Io"), "{line} -> {kind} on a healthy store: {response}");
}

fuzz_target!(|data: &[u8]| {
    let store = Store::temporary_with(Options { clock: Arc::new(FixedClock(0)), ..Default::default() })
        .expect("temporary store");
    let exec = Exec::new(store.clone());
    let mut u = Unstructured::new(data);
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        let Ok(line) = line(&mut u) else { break };
        let response = exec.handle(&line);
        check(&line, &response);
    }
    store.verify().expect("the store verifies after any requests");
});
