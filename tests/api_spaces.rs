//! Spaces, roles and visibility (SPEC §5), and the acting context (SPEC §4, §6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fvstore::{BranchSel, Host, Query, Role, Session, Store, Value};

/// user 1, a space `lab` (id 2) created by user 1, and a user `bob` with no role in it.
fn setup() -> (Store, Session, u64, Session) {
    let store = mem();
    let root = store.session();
    let lab = new_space(&root, "lab");
    let bob = new_user(&store, "bob");
    (store, root, lab, bob)
}

#[test]
fn the_creator_of_a_space_is_its_admin_and_only_admins_grant() {
    let (store, root, lab, bob) = setup();
    let carol = new_user(&store, "carol");
    let alab = new_space(&bob, "bobs-lab");
    let g = bob.grant(alab, "carol", Some(Role::Write)).unwrap();
    check((g.space_id, g.user_id, g.role), (alab, carol.context().user, Some(Role::Write)));
    let head = store.head();
    check(kind(&carol.grant(alab, "bob", Some(Role::Read))), "PermissionDenied");
    check(kind(&carol.grant(alab, "carol", Some(Role::Admin))), "PermissionDenied");
    check(kind(&bob.grant(lab, "bob", Some(Role::Admin))), "PermissionDenied");
    check(kind(&root.grant(alab, "carol", Some(Role::Admin))), "PermissionDenied"); // user 1 has no role there
    check(kind(&bob.grant(alab, "nobody", Some(Role::Read))), "DoesNotExist");
    check(kind(&bob.grant("no-space", "carol", Some(Role::Read))), "DoesNotExist");
    check(store.head(), head);
    // `none` removes a role: carol can no longer see what is in bob's lab.
    let v = value_id(&bob.clone().in_space(alab), None, "inside");
    check(carol.get(v).unwrap().space_id, alab);
    bob.grant(alab, "carol", None).unwrap();
    check(kind(&carol.get(v)), "DoesNotExist");
}

#[test]
fn names_of_users_spaces_and_branches_are_unique_ignoring_case() {
    let (store, root, _, bob) = setup();
    let head = store.head();
    check(kind(&bob.create_space("LAB")), "IntegrityError");
    check(kind(&bob.create_user("BOB")), "IntegrityError");
    check(kind(&bob.create_user("Anonymous")), "IntegrityError");
    check(kind(&bob.create_space("All")), "IntegrityError");
    check(kind(&bob.create_branch("Main")), "IntegrityError");
    check(kind(&bob.create_branch("TRASH")), "IntegrityError");
    check(kind(&bob.create_branch("all")), "ValidationError");
    check(kind(&bob.create_branch("ALL")), "ValidationError");
    check(store.head(), head);
    // Anyone may create users, spaces, branches and runs.
    bob.create_branch("draft").unwrap();
    check(kind(&root.create_branch("DRAFT")), "IntegrityError");
    check(bob.create_branch("draft-2").unwrap().id, 5);
    check(bob.start_run("r").unwrap().id, 1);
    check(bob.create_user("dave").unwrap().handle, "dave".to_string());
    check(store.as_user("DAVE").unwrap().context().user, 3);
}

#[test]
fn the_last_admin_cannot_be_removed_or_demoted() {
    let (store, root, _, bob) = setup();
    let space = new_space(&bob, "bobs");
    let head = store.head();
    check(kind(&bob.grant(space, "bob", Some(Role::Write))), "ValidationError");
    check(kind(&bob.grant(space, "bob", None)), "ValidationError");
    check(kind(&root.grant(1u64, 1u64, Some(Role::Write))), "ValidationError");
    check(kind(&root.grant(1u64, 1u64, None)), "ValidationError");
    check(store.head(), head);
    bob.grant(space, 1u64, Some(Role::Admin)).unwrap();
    bob.grant(space, "bob", Some(Role::Read)).unwrap();
    check(kind(&bob.grant(space, 1u64, None)), "PermissionDenied"); // no longer an admin
    check(kind(&root.grant(space, 1u64, Some(Role::Read))), "ValidationError"); // now the last one
    root.grant(space, "bob", None).unwrap();
}

#[test]
fn space_one_gives_every_user_at_least_write() {
    let (store, root, _, bob) = setup();
    root.grant(1u64, "bob", Some(Role::Read)).unwrap();
    let (rec, _) = bob.get_or_create(None, "bob's").unwrap();
    check((rec.space_id, rec.created_by_id, rec.branch_id), (1, bob.context().user, 1));
    let theirs = value_id(&root, None, "root's");
    check(bob.delete(value_ref(theirs), false).unwrap(), fvstore::Outcome::Trashed);
    // But admin rights in space 1 are not given: locking needs admin.
    check(kind(&bob.set_branch(value_ref(rec.id), 2)), "PermissionDenied");
    check(store.head().0, 6);
}

#[test]
fn records_in_spaces_the_actor_cannot_read_do_not_exist_for_them() {
    let (store, root, lab, bob) = setup();
    let in_lab = root.clone().in_space(lab);
    let secret = feature(&in_lab, "secret", "int");
    let v = value_id(&in_lab, Some("secret"), 1);
    let art = in_lab.create_artifact("hidden.h5ad").unwrap().id;
    let mine = bob.create_artifact("mine").unwrap().id;
    let free = value_id(&bob, None, "free");
    let head = store.head();
    check(kind(&bob.get(v)), "DoesNotExist");
    check(kind(&bob.delete(value_ref(v), false)), "DoesNotExist");
    check(kind(&bob.delete(value_ref(v), true)), "DoesNotExist");
    check(kind(&bob.restore(value_ref(v))), "DoesNotExist");
    check(kind(&bob.set_branch(value_ref(v), 2)), "DoesNotExist");
    check(kind(&bob.move_space(value_ref(v), 1u64)), "DoesNotExist");
    check(kind(&bob.delete_feature("secret", false)), "DoesNotExist");
    check(kind(&bob.delete(feature_ref(secret.id), false)), "DoesNotExist");
    check(kind(&bob.delete_artifact(art, false)), "DoesNotExist");
    check(kind(&bob.history(value_ref(v))), "DoesNotExist");
    check(kind(&bob.get_or_create(Some("secret".into()), 2)), "DoesNotExist");
    check(kind(&bob.link(v, Host::Artifact(mine))), "DoesNotExist");
    check(kind(&bob.link(free, Host::Artifact(art))), "DoesNotExist");
    check(kind(&bob.get_values(Host::Artifact(art))), "DoesNotExist");
    check(kind(&bob.add_values(Host::Artifact(art), &pairs(&[]))), "DoesNotExist");
    check(kind(&bob.remove_values(Host::Artifact(mine), "secret")), "DoesNotExist");
    check(store.head(), head);
    // Queries leave them out, even by id or hash (never the space permission).
    let hash = root.get(v).unwrap().hash;
    check(bob.count(&Query::new().filter("branch", "all")).unwrap(), 1);
    check(bob.count(&Query::new().filter("id", v as i64)).unwrap(), 0);
    check(bob.count(&Query::new().filter("hash", hash)).unwrap(), 0);
    check(bob.count(&Query::new().filter("space", lab as i64)).unwrap(), 0);
    check(bob.count(&Query::new().filter("feature", "secret")).unwrap(), 0);
    check(kind(&bob.get_where(&Query::new().filter("id", v as i64))), "DoesNotExist");
    check(bob.features(&BranchSel::All).unwrap().len(), 0);
    check(bob.artifacts(&BranchSel::All).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), vec![mine]);
    check(bob.filter_artifacts(&pairs(&[("secret", Value::Int(1))])).unwrap().len(), 0);
    // Users, spaces, branches and runs are visible to everyone.
    check(bob.spaces().unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["all", "lab"]);
    check(bob.users().unwrap().len(), 2);
    check(bob.branches().unwrap().len(), 5);
    // Granting read makes them visible.
    grant(&root, lab, &bob, Some(Role::Read));
    check(bob.get(v).unwrap().id, v);
    check(bob.count(&Query::new().filter("feature", "secret")).unwrap(), 1);
}

#[test]
fn a_hidden_get_or_create_hit_is_permission_denied_and_reveals_nothing() {
    let (store, root, lab, bob) = setup();
    feature(&root, "shared", "int");
    let in_lab = root.clone().in_space(lab);
    let a = in_lab.get_or_create(None, "classified").unwrap().0;
    let b = in_lab.get_or_create(Some("shared".into()), 5).unwrap().0;
    let mine = bob.create_artifact("mine").unwrap().id;
    let head = store.head();
    for r in [bob.get_or_create(None, "classified"), bob.get_or_create(Some("shared".into()), 5)] {
        check(kind(&r), "PermissionDenied");
        let m = message(&r);
        check((m.contains(&a.hash.to_string()), m.contains(&b.hash.to_string())), (false, false));
    }
    check(kind(&bob.add_values(Host::Artifact(mine), &pairs(&[("shared", Value::Int(5))]))), "PermissionDenied");
    check(store.head(), head);
    // A miss in the same feature is fine.
    check(bob.get_or_create(Some("shared".into()), 6).unwrap().1, false);
}

#[test]
fn hosts_and_values_the_actor_cannot_read_are_left_out() {
    let (_store, root, lab, bob) = setup();
    feature(&root, "n", "int");
    let in_lab = root.clone().in_space(lab);
    let public = root.create_artifact("public").unwrap().id;
    let private = in_lab.create_artifact("private").unwrap().id;
    let run = root.start_run("r").unwrap().id;
    let v = value_id(&root, Some("n"), 1);
    let w = value_id(&in_lab, Some("n"), 2);
    for host in [Host::Artifact(public), Host::Artifact(private), Host::Run(run)] {
        root.link(v, host).unwrap();
    }
    root.link(w, Host::Artifact(public)).unwrap();
    root.link(w, Host::Run(run)).unwrap();
    let seen = bob.get(v).unwrap();
    check((seen.artifact_ids, seen.run_ids), (vec![public], vec![run]));
    check(root.get(v).unwrap().artifact_ids, vec![public, private]);
    check(bob.get_values(Host::Artifact(public)).unwrap().get("n").cloned(), Some(vec![Value::Int(1)]));
    check(bob.get_values(Host::Run(run)).unwrap().get("n").cloned(), Some(vec![Value::Int(1)]));
    check(root.get_values(Host::Run(run)).unwrap().get("n").cloned(), Some(vec![Value::Int(1), Value::Int(2)]));
    let hosts = bob.filter_artifacts(&pairs(&[("n", Value::Int(1))])).unwrap();
    check(hosts.iter().map(|a| a.id).collect::<Vec<_>>(), vec![public]);
    check(bob.filter_artifacts(&pairs(&[("n", Value::Int(2))])).unwrap().len(), 0);
    check(bob.filter_runs(&pairs(&[("n", Value::Int(2))])).unwrap().len(), 0);
    check(root.filter_runs(&pairs(&[("n", Value::Int(2))])).unwrap().len(), 1);
}

#[test]
fn creating_needs_write_in_the_current_space() {
    let (store, root, lab, bob) = setup();
    let carol = new_user(&store, "carol");
    grant(&root, lab, &bob, Some(Role::Read));
    grant(&root, lab, &carol, Some(Role::Write));
    let existing = value_id(&root.clone().in_space(lab), None, "there");
    let head = store.head();
    for who in [bob.clone().in_space(lab), new_user(&store, "dave").in_space(lab)] {
        let head = store.head();
        check(kind(&who.create_artifact("a")), "PermissionDenied");
        check(kind(&who.create_feature(&fvstore::FeatureSpec::new("f", "int"))), "PermissionDenied");
        check(kind(&who.get_or_create(None, "new")), "PermissionDenied");
        check(store.head(), head);
    }
    check(store.head().0, head.0 + 1); // only dave's creation
                                       // A hit the actor may read is returned even where they could not write.
    let (hit, existed) = bob.clone().in_space(lab).get_or_create(None, "there").unwrap();
    check((hit.id, existed), (existing, true));
    // Linking needs read access to the value and the right to edit the host, nothing more.
    let bobs = bob.create_artifact("bob's").unwrap().id;
    check(bob.link(existing, Host::Artifact(bobs)).unwrap().artifact_ids, vec![bobs]);
    check(kind(&bob.clone().in_space(999).get_or_create(None, "x")), "DoesNotExist");
    let (rec, _) = carol.clone().in_space(lab).get_or_create(None, "carol's").unwrap();
    check((rec.space_id, rec.created_by_id, rec.branch_id, rec.run_id), (lab, carol.context().user, 1, None));
    let art = carol.clone().in_space(lab).create_artifact("c").unwrap();
    check((art.space_id, art.created_by_id, art.branch_id), (lab, carol.context().user, 1));
}

#[test]
fn the_current_branch_is_main_or_an_open_user_branch() {
    let (store, root, _, bob) = setup();
    feature(&root, "n", "int");
    let head = store.head();
    for code in [-1, 0, 2, 3] {
        let s = root.clone().on_branch(code);
        check((code, kind(&s.get_or_create(None, "x"))), (code, "ValidationError"));
        check((code, kind(&s.create_artifact("x"))), (code, "ValidationError"));
        check((code, kind(&s.count(&Query::new()))), (code, "ValidationError"));
    }
    check(kind(&root.clone().on_branch(99).get_or_create(None, "x")), "DoesNotExist");
    check(kind(&root.clone().with_run(99).get_or_create(None, "x")), "DoesNotExist");
    let ghost = store.with_context(fvstore::Context { user: 99, ..root.context() });
    check(kind(&ghost.get_or_create(None, "x")), "DoesNotExist");
    check(kind(&ghost.count(&Query::new())), "DoesNotExist");
    check(store.head(), head);

    let b = bob.create_branch("bobs-draft").unwrap().id;
    let on_b = bob.clone().on_branch(b);
    let (rec, _) = on_b.get_or_create(Some("n".into()), 1).unwrap();
    check((rec.branch_id, rec.created_on_id), (b, b));
    let f = on_b.create_feature(&fvstore::FeatureSpec::new("drafted", "int")).unwrap();
    check(f.branch_id, b);
    // Default queries see main, locked and the current user branch only.
    check(root.count(&Query::new()).unwrap(), 0);
    check(on_b.count(&Query::new()).unwrap(), 1);
    check(root.clone().on_branch(b).count(&Query::new()).unwrap(), 1);
    check(root.count(&Query::new().filter("branch", b)).unwrap(), 1);
    check(root.features(&BranchSel::Default).unwrap().len(), 1);
    check(on_b.features(&BranchSel::Default).unwrap().len(), 2);
    // Anyone may work on an open branch; it is not owned.
    check(root.clone().on_branch(b).get_or_create(None, "root on bob's draft").unwrap().0.branch_id, b);
}

#[test]
fn the_log_is_the_owners() {
    let (store, root, _, bob) = setup();
    check(kind(&bob.log(1, 100)), "PermissionDenied");
    let events = root.log(1, 100).unwrap();
    check(events.len() as u64, store.head().0);
    check(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=store.head().0).collect::<Vec<_>>());
    check(events.iter().map(|e| e.actor).collect::<Vec<_>>(), vec![1, 1]);
}

#[test]
fn roles_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let v = {
        let store = open(dir.path());
        let root = store.session();
        let lab = new_space(&root, "lab");
        let bob = new_user(&store, "bob");
        let carol = new_user(&store, "carol");
        grant(&root, lab, &bob, Some(Role::Read));
        grant(&root, lab, &carol, Some(Role::Admin));
        root.grant(lab, 1u64, None).unwrap();
        value_id(&carol.in_space(lab), None, "x")
    };
    let store = open(dir.path());
    let (root, bob, carol) = (store.session(), store.as_user("bob").unwrap(), store.as_user("carol").unwrap());
    check(kind(&root.get(v)), "DoesNotExist");
    check(bob.get(v).unwrap().space_id, 2);
    check(kind(&bob.delete(value_ref(v), false)), "PermissionDenied");
    check(kind(&carol.grant(2u64, "carol", None)), "ValidationError");
    check(carol.delete(value_ref(v), false).unwrap(), fvstore::Outcome::Trashed);
}
