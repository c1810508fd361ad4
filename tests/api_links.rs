//! Links and the value helpers of hosts (SPEC §5): link / unlink, add_values, set_values,
//! remove_values, get_values, their atomicity and their branch rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fvstore::{FeatureSpec, Host, Query, Role, Session, Store, Value};

/// A store with features `temp` (float), `tissue` (str), `count` (int, not nullable) and one
/// artifact (id 1) on main in space 1.
fn setup() -> (Store, Session, Host) {
    let store = mem();
    let s = store.session();
    feature(&s, "temp", "float");
    feature(&s, "tissue", "str");
    s.create_feature(&FeatureSpec::new("count", "int").nullable(false)).unwrap();
    let art = s.create_artifact("sample.h5ad").unwrap().id;
    (store, s, Host::Artifact(art))
}

fn temps(s: &Session, host: Host) -> Option<Vec<Value>> {
    s.get_values(host).unwrap().get("temp").cloned()
}

#[test]
fn linking_twice_or_unlinking_what_is_not_linked_is_a_noop() {
    let (store, s, host) = setup();
    let run = s.start_run("r").unwrap().id;
    let v = value_id(&s, Some("temp"), 1.5);
    for h in [host, Host::Run(run)] {
        s.link(v, h).unwrap();
        let head = store.head();
        let again = s.link(v, h).unwrap();
        check(store.head(), head);
        check(again.id, v);
        s.unlink(v, h).unwrap();
        let head = store.head();
        check(s.unlink(v, h).unwrap().id, v);
        check(store.head(), head);
    }
    check(history_kinds(&store, value_ref(v)), vec!["create", "link", "unlink", "link", "unlink"]);
    let ev = store.session().history(value_ref(v)).unwrap();
    check(ev[1].data.clone(), fvstore::EventData::Link { host });
}

#[test]
fn trashed_and_archived_values_gain_no_links_but_can_be_unlinked() {
    let (store, s, host) = setup();
    let linked = value_id(&s, None, "linked");
    s.link(linked, host).unwrap();
    for (code, n) in [(-1, 1.0), (0, 2.0)] {
        let v = value_id(&s, Some("temp"), n);
        s.set_branch(value_ref(v), code).unwrap();
        let head = store.head();
        check((code, kind(&s.link(v, host))), (code, "PermissionDenied"));
        let expect = if code == 0 { "PermissionDenied" } else { "ok" }; // a trashed one is restored
        check((code, kind(&s.add_values(host, &pairs(&[("temp", Value::Float(n))])))), (code, expect));
        if code == 0 {
            check(store.head(), head);
        }
    }
    let archived = value_id(&s, None, "archived");
    s.link(archived, host).unwrap();
    s.set_branch(value_ref(archived), 0).unwrap();
    s.delete(value_ref(linked), false).unwrap();
    for v in [linked, archived] {
        s.unlink(v, host).unwrap();
        check(s.get(v).unwrap().artifact_ids, Vec::<u64>::new());
    }
}

#[test]
fn locked_and_template_values_can_be_linked_by_whoever_edits_the_host() {
    let (store, root, _) = setup();
    let writer = new_user(&store, "writer");
    let aid = writer.create_artifact("w").unwrap().id;
    let host = Host::Artifact(aid);
    for (code, n) in [(2, 1.0), (3, 2.0)] {
        let v = value_id(&root, Some("temp"), n);
        root.set_branch(value_ref(v), code).unwrap();
        check(writer.link(v, host).unwrap().artifact_ids, vec![aid]);
        check(writer.get(v).unwrap().branch_id, code);
    }
    check(temps(&writer, host), Some(vec![Value::Float(1.0), Value::Float(2.0)]));
}

#[test]
fn trashed_and_archived_features_take_no_new_values_or_links_but_hits_return() {
    for code in [-1, 0] {
        let (store, s, host) = setup();
        let v = s.get_or_create(Some("temp".into()), 1.0).unwrap().0;
        s.set_branch(feature_ref(1), code).unwrap();
        let head = store.head();
        check(s.get_or_create(Some("temp".into()), 1.0).unwrap(), (v.clone(), true));
        check((code, kind(&s.get_or_create(Some("temp".into()), 2.0))), (code, "PermissionDenied"));
        check((code, kind(&s.link(v.id, host))), (code, "PermissionDenied"));
        check((code, kind(&s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])))), (code, "PermissionDenied"));
        check((code, kind(&s.add_values(host, &pairs(&[("temp", Value::Float(3.0))])))), (code, "PermissionDenied"));
        check(store.head(), head);
    }
}

#[test]
fn trashed_and_archived_artifacts_take_no_links() {
    for code in [-1, 0] {
        let (store, s, host) = setup();
        let v = value_id(&s, Some("temp"), 1.0);
        s.add_values(host, &pairs(&[("tissue", Value::from("liver"))])).unwrap();
        s.set_branch(artifact_ref(1), code).unwrap();
        let head = store.head();
        check((code, kind(&s.link(v, host))), (code, "PermissionDenied"));
        check((code, kind(&s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])))), (code, "PermissionDenied"));
        check((code, kind(&s.add_values(host, &pairs(&[("temp", Value::Float(9.0))])))), (code, "PermissionDenied"));
        check(store.head(), head);
        // Unlinking from a trashed host is W; from an archived one it is refused.
        let expect = if code == -1 { "ok" } else { "PermissionDenied" };
        check((code, kind(&s.remove_values(host, "tissue"))), (code, expect));
    }
}

#[test]
fn add_values_creates_links_and_accumulates_per_feature() {
    let (store, s, host) = setup();
    let early = value_id(&s, Some("temp"), 38.0); // a lower id than 37.5 below
    let head = store.head();
    let out = s.add_values(host, &pairs(&[("temp", Value::Float(37.5)), ("tissue", Value::from("liver"))])).unwrap();
    check(
        out.iter().map(|r| (r.value.clone(), r.artifact_ids.clone())).collect::<Vec<_>>(),
        vec![(Value::Float(37.5), vec![1]), (Value::from("liver"), vec![1])],
    );
    check(store.head().0, head.0 + 4);
    let head = store.head();
    let again = s.add_values(host, &pairs(&[("temp", Value::Float(37.5)), ("tissue", Value::from("liver"))])).unwrap();
    check(again, out.clone());
    check(store.head(), head);
    s.add_values(host, &pairs(&[("temp", Value::Float(38.0))])).unwrap();
    check(store.head().0, head.0 + 1); // the existing value is only linked
    let free = value_id(&s, None, "no feature");
    s.link(free, host).unwrap();
    let all = s.get_values(host).unwrap();
    check(all.get("temp").cloned(), Some(vec![Value::Float(38.0), Value::Float(37.5)]));
    check(all.get("tissue").cloned(), Some(vec![Value::from("liver")]));
    check(all.get("").cloned(), Some(vec![Value::from("no feature")]));
    check(all.len(), 3);
    check(s.get(early).unwrap().artifact_ids, vec![1]);
    check(s.count(&Query::new().filter("artifact", 1)).unwrap(), 4);
}

#[test]
fn add_values_to_a_run() {
    let (store, s, _) = setup();
    let alice = new_user(&store, "alice");
    let run = alice.start_run("train").unwrap().id;
    let out = alice.add_values(Host::Run(run), &pairs(&[("temp", Value::Float(1.0))])).unwrap();
    check((out[0].run_ids.clone(), out[0].run_id), (vec![run], None));
    check(temps(&s, Host::Run(run)), Some(vec![Value::Float(1.0)]));
    check(s.count(&Query::new().filter("linked_run", run as i64)).unwrap(), 1);
    check(kind(&s.get_values(Host::Run(99))), "DoesNotExist");
    check(kind(&s.add_values(Host::Artifact(99), &pairs(&[("temp", Value::Float(1.0))]))), "DoesNotExist");
}

#[test]
fn set_values_replaces_the_named_features_and_null_unlinks_them() {
    let (store, s, host) = setup();
    s.add_values(host, &pairs(&[("temp", Value::Float(1.0)), ("tissue", Value::from("liver"))])).unwrap();
    let two = s.add_values(host, &pairs(&[("temp", Value::Float(2.0))])).unwrap()[0].id;
    s.set_values(host, &pairs(&[("temp", Value::Float(3.0))])).unwrap();
    check(temps(&s, host), Some(vec![Value::Float(3.0)]));
    check(s.get(two).unwrap().artifact_ids, Vec::<u64>::new()); // the record is kept
    check(s.get_values(host).unwrap().get("tissue").cloned(), Some(vec![Value::from("liver")]));
    // Setting what is already there changes nothing.
    let head = store.head();
    s.set_values(host, &pairs(&[("temp", Value::Float(3.0))])).unwrap();
    check(store.head(), head);
    check(s.set_values(host, &pairs(&[("temp", Value::Null)])).unwrap().len(), 0);
    check(temps(&s, host), None);
    s.add_values(host, &pairs(&[("count", Value::Int(1))])).unwrap();
    let head = store.head();
    check(kind(&s.set_values(host, &pairs(&[("count", Value::Null)]))), "ValidationError");
    check(store.head(), head);
}

#[test]
fn set_values_null_unlinks_from_a_trashed_host() {
    let (store, s, host) = setup();
    s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])).unwrap();
    s.delete_artifact(1, false).unwrap();
    let head = store.head();
    // Unlinking from a trashed host needs W (SPEC §5 table); a null only unlinks.
    check(kind(&s.set_values(host, &pairs(&[("temp", Value::Null)]))), "ok");
    check(store.head().0, head.0 + 1);
    check(temps(&s, host), None);
}

#[test]
fn remove_values_unlinks_and_keeps_the_records() {
    let (store, s, host) = setup();
    let out = s.add_values(host, &pairs(&[("temp", Value::Float(1.0)), ("tissue", Value::from("x"))])).unwrap();
    s.add_values(host, &pairs(&[("temp", Value::Float(2.0))])).unwrap();
    check(s.remove_values(host, "temp").unwrap(), 2);
    check(temps(&s, host), None);
    check(s.get(out[0].id).unwrap().branch_id, 1);
    let head = store.head();
    check(s.remove_values(host, "temp").unwrap(), 0);
    check(store.head(), head);
    check(kind(&s.remove_values(host, "nope")), "DoesNotExist");
    check(s.get_values(host).unwrap().len(), 1);
}

#[test]
fn each_call_is_atomic() {
    let (store, s, host) = setup();
    let trashed = value_id(&s, Some("tissue"), "old");
    s.delete(value_ref(trashed), false).unwrap();
    let archived = value_id(&s, Some("temp"), 9.0);
    s.set_branch(value_ref(archived), 0).unwrap();
    let head = store.head();
    let bad_calls = [
        pairs(&[("temp", Value::Float(1.0)), ("count", Value::from("x"))]),
        pairs(&[("tissue", Value::from("old")), ("count", Value::Null)]),
        pairs(&[("temp", Value::Float(1.0)), ("tissue", Value::from("old")), ("temp", Value::Float(9.0))]),
        pairs(&[("temp", Value::Float(1.0)), ("temp", Value::Float(f64::NAN))]),
    ];
    for (i, call) in bad_calls.iter().enumerate() {
        check((i, kind(&s.add_values(host, call)) != "ok"), (i, true));
        check((i, kind(&s.set_values(host, call)) != "ok"), (i, true));
        check((i, store.head()), (i, head));
    }
    check(s.count(&Query::new().filter("branch", "all")).unwrap(), 2);
    check(s.get(trashed).unwrap().branch_id, -1);
    check(s.get_values(host).unwrap().len(), 0);
}

#[test]
fn unknown_features_are_one_validation_error_listing_them_all() {
    let (store, s, host) = setup();
    let head = store.head();
    let call = pairs(&[("nope1", Value::Int(1)), ("temp", Value::Float(1.0)), ("nope2", Value::Int(2))]);
    for r in [s.add_values(host, &call), s.set_values(host, &call)] {
        check(kind(&r), "ValidationError");
        let m = message(&r);
        check((m.contains("nope1"), m.contains("nope2"), m.contains("temp")), (true, true, false));
    }
    check(store.head(), head);
}

#[test]
fn a_trashed_value_is_restored_by_add_values_in_an_event_of_its_own() {
    let (store, s, host) = setup();
    let v = value_id(&s, Some("temp"), 1.0);
    s.delete(value_ref(v), false).unwrap();
    let head = store.head();
    s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])).unwrap();
    check(store.head().0, head.0 + 2);
    check(s.get(v).unwrap().branch_id, 1);
    check(history_kinds(&store, value_ref(v)), vec!["create", "branch_change", "branch_change", "link"]);
    // Already linked: the restore is the only event.
    s.delete(value_ref(v), false).unwrap();
    check(temps(&s, host), Some(vec![Value::Float(1.0)])); // a trashed value stays listed
    let head = store.head();
    s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])).unwrap();
    check(store.head().0, head.0 + 1);
    check(s.get(v).unwrap().branch_id, 1);
}

#[test]
fn restoring_through_add_values_needs_write_in_the_values_space() {
    let (store, root, _) = setup();
    let lab = new_space(&root, "lab");
    let bob = new_user(&store, "bob");
    grant(&root, lab, &bob, Some(Role::Read));
    let v = value_id(&root.clone().in_space(lab), Some("temp"), 1.0);
    root.delete(value_ref(v), false).unwrap();
    let host = Host::Artifact(bob.create_artifact("bob's").unwrap().id);
    let head = store.head();
    check(kind(&bob.add_values(host, &pairs(&[("temp", Value::Float(1.0))]))), "PermissionDenied");
    check(store.head(), head);
    check(root.get(v).unwrap().branch_id, -1);
}

#[test]
fn an_archived_value_refuses_add_values_even_when_linked() {
    let (store, s, host) = setup();
    let v = s.add_values(host, &pairs(&[("temp", Value::Float(1.0))])).unwrap()[0].id;
    s.set_branch(value_ref(v), 0).unwrap();
    let head = store.head();
    check(kind(&s.add_values(host, &pairs(&[("temp", Value::Float(1.0))]))), "PermissionDenied");
    check(store.head(), head);
    check(temps(&s, host), Some(vec![Value::Float(1.0)]));
}

#[test]
fn the_same_value_twice_in_one_call_is_one_record_and_one_link() {
    let (store, s, host) = setup();
    let head = store.head();
    let out = s.add_values(host, &pairs(&[("temp", Value::Float(5.0)), ("temp", Value::Float(5.0))])).unwrap();
    check(out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![out[0].id, out[0].id]);
    check(s.count(&Query::new().filter("feature", "temp")).unwrap(), 1);
    check(store.head().0, head.0 + 2);
    check(temps(&s, host), Some(vec![Value::Float(5.0)]));
}

#[test]
fn an_existing_value_twice_in_one_call_is_linked_once() {
    let (store, s, host) = setup();
    let v = value_id(&s, Some("temp"), 5.0);
    s.delete(value_ref(v), false).unwrap();
    let head = store.head();
    s.add_values(host, &pairs(&[("temp", Value::Float(5.0)), ("temp", Value::Float(5.0))])).unwrap();
    check(store.head().0, head.0 + 2); // one restore, one link
    check(history_kinds(&store, value_ref(v)), vec!["create", "branch_change", "branch_change", "link"]);
}

#[test]
fn links_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, head) = {
        let store = open(dir.path());
        let s = store.session();
        feature(&s, "temp", "float");
        let art = s.create_artifact("a").unwrap().id;
        let run = s.start_run("r").unwrap().id;
        s.add_values(Host::Artifact(art), &pairs(&[("temp", Value::Float(1.0))])).unwrap();
        s.add_values(Host::Run(run), &pairs(&[("temp", Value::Float(2.0))])).unwrap();
        s.add_values(Host::Artifact(art), &pairs(&[("temp", Value::Float(2.0))])).unwrap();
        s.remove_values(Host::Run(run), "temp").unwrap();
        (s.filter(&Query::new().filter("branch", "all")).unwrap(), store.head())
    };
    let store = open(dir.path());
    let s = store.session();
    check(store.head(), head);
    check(s.filter(&Query::new().filter("branch", "all")).unwrap(), expected);
    check(temps(&s, Host::Artifact(1)), Some(vec![Value::Float(1.0), Value::Float(2.0)]));
    check(s.get_values(Host::Run(1)).unwrap().len(), 0);
}

/// A durable add_values too big for one log record leaves for the writer thread in parts while
/// it is drafted. When a value late in the call is refused, none of it is written: not in the
/// state, not in the log, not after a reopen; and the next call chains on from the head before.
#[test]
fn a_large_durable_call_refused_late_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), fvstore::Options::default());
    let s = store.session();
    feature(&s, "n", "int");
    let art = Host::Artifact(s.create_artifact("a").unwrap().id);
    let (seq, head) = store.head();
    let mut values: Vec<(String, Value)> = (0..5_000).map(|i| ("n".to_string(), Value::Int(i))).collect();
    values.push(("n".to_string(), Value::Str("not an int".into())));
    let refused = s.add_values(art, &values);
    check(kind(&refused), "ValidationError");
    check(store.head(), (seq, head));
    check(s.log(seq + 1, u64::MAX).unwrap().len(), 0);
    // The next call takes the same sequence numbers and chains from the same head.
    let added = s.add_values(art, &values[..3_000]).unwrap();
    check(added.len(), 3_000);
    let after = s.log(seq + 1, u64::MAX).unwrap();
    check(after.len(), 6_000);
    check(after.first().map(|e| (e.seq, e.prev)), Some((seq + 1, head)));
    // Stamped part by part as they were drafted: consecutive, each at least 1 ms after the one
    // before (SPEC §8), each chained to it.
    let bad =
        after.windows(2).find(|w| w[1].seq != w[0].seq + 1 || w[1].at < w[0].at + 1_000 || w[1].prev != w[0].hash);
    check(bad.map(|w| w[1].seq), None);
    check(store.verify().unwrap().head, store.head());
    let end = store.head();
    drop((s, store));
    let store = reopen(dir.path(), fvstore::Options::default());
    check(store.head(), end);
    check(store.session().get_values(art).unwrap().get("n").map(Vec::len), Some(3_000));
    check(store.verify().unwrap().head, end);
}
