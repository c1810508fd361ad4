//! Edits (SPEC §4–5): every cell of the edit table for values, features and artifacts, in each
//! branch state, for a writer, an admin and a reader of the record's space; merges; runs;
//! cascading and protected deletes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fvstore::{BranchStatus, Host, Outcome, Query, RecordRef, RecordType, Role, Session, Store, Value};
use std::cell::Cell;

const TRASH: i64 = -1;
const ARCHIVE: i64 = 0;
const MAIN: i64 = 1;
const LOCKED: i64 = 2;
const TEMPLATE: i64 = 3;

/// One column of the table (plus the set_branch forms that SPEC §5 defines through it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Trash,
    Purge,
    Restore,
    SetBranch(i64),
    ToOtherDraft,
    Move,
    Link,
    Unlink,
}

/// What the table asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    W,
    A,
    Refused,
    Invalid,
    NoOp,
}

/// The table of SPEC §5, transcribed. `state` is a code, or `DRAFT` for a user branch.
fn need(state: i64, op: Op) -> Need {
    use Need::*;
    let draft = state >= 4;
    match op {
        Op::SetBranch(to) if to == state => NoOp,
        Op::SetBranch(MAIN) => need(state, Op::Restore),
        Op::SetBranch(TRASH) => need(state, Op::Trash),
        Op::ToOtherDraft => match state {
            MAIN => W,
            _ if draft => W,
            _ => Invalid,
        },
        _ if draft => match op {
            Op::Trash | Op::Restore | Op::SetBranch(_) => Invalid,
            _ => W,
        },
        _ => match (state, op) {
            (MAIN, Op::Restore) => Invalid,
            (MAIN, Op::SetBranch(_)) => A,
            (MAIN, _) => W,
            (LOCKED | TEMPLATE, _) => A,
            (ARCHIVE, Op::Restore | Op::SetBranch(_)) => A,
            (ARCHIVE, _) => Refused,
            (TRASH, Op::Trash) => NoOp,
            (TRASH, Op::Purge | Op::Restore | Op::Unlink) => W,
            (TRASH, _) => Refused,
            _ => unreachable!("state {state}"),
        },
    }
}

struct Fx {
    store: Store,
    root: Session,
    actors: Vec<(Role, Session)>,
    lab: u64,
    other: u64,
    draft: i64,
    draft2: i64,
    n: Cell<i64>,
}

fn fixture() -> Fx {
    let store = mem();
    let root = store.session();
    let lab = new_space(&root, "lab");
    let other = new_space(&root, "other");
    let mut actors = Vec::new();
    for role in [Role::Read, Role::Write, Role::Admin] {
        let u = new_user(&store, role.as_str());
        grant(&root, lab, &u, Some(role));
        grant(&root, other, &u, Some(Role::Write));
        actors.push((role, u));
    }
    feature(&root, "v", "int");
    let draft = root.create_branch("draft").unwrap().id;
    let draft2 = root.create_branch("draft2").unwrap().id;
    Fx { store, root, actors, lab, other, draft, draft2, n: Cell::new(0) }
}

impl Fx {
    fn next(&self) -> i64 {
        self.n.set(self.n.get() + 1);
        self.n.get()
    }

    /// A fresh record of `kind` in lab, put into `state` by user 1; for artifacts, also a value
    /// linked to it (before the state change) and one not linked.
    fn record(&self, kind: RecordType, state: i64) -> (RecordRef, u64, u64) {
        let on = if state == self.draft { self.draft } else { MAIN };
        let s = self.root.clone().in_space(self.lab).on_branch(on);
        let n = self.next();
        let id = match kind {
            RecordType::Value => value_id(&s, Some("v"), n),
            RecordType::Feature => feature(&s, &format!("f{n}"), "int").id,
            _ => s.create_artifact(&format!("a{n}")).unwrap().id,
        };
        let r = RecordRef { kind, id };
        let (linked, free) = (value_id(&self.root, None, -n), value_id(&self.root, None, n * 1000));
        if kind == RecordType::Artifact {
            self.root.link(linked, Host::Artifact(id)).unwrap();
        }
        match state {
            TRASH => check(self.root.delete(r, false).unwrap(), Outcome::Trashed),
            ARCHIVE | LOCKED | TEMPLATE => {
                self.root.set_branch(r, state).unwrap();
            }
            _ => {}
        }
        check(place(&self.store, r), Some((state, self.lab)));
        (r, linked, free)
    }

    fn run(
        &self,
        actor: &Session,
        op: Op,
        r: RecordRef,
        linked: u64,
        free: u64,
    ) -> Result<Option<Outcome>, fvstore::Error> {
        let host = Host::Artifact(r.id);
        match op {
            Op::Trash => actor.delete(r, false).map(Some),
            Op::Purge => actor.delete(r, true).map(Some),
            Op::Restore => actor.restore(r).map(|_| None),
            Op::SetBranch(b) => actor.set_branch(r, b).map(|_| None),
            Op::ToOtherDraft => actor.set_branch(r, self.draft2).map(|_| None),
            Op::Move => actor.move_space(r, self.other).map(|_| None),
            Op::Link => actor.link(free, host).map(|_| None),
            Op::Unlink => actor.unlink(linked, host).map(|_| None),
        }
    }

    /// Runs every cell for one kind; returns the cells where the engine disagrees with the table.
    fn matrix(&self, rkind: RecordType) -> Vec<String> {
        let mut ops = vec![
            Op::Trash,
            Op::Purge,
            Op::Restore,
            Op::SetBranch(LOCKED),
            Op::SetBranch(TEMPLATE),
            Op::SetBranch(ARCHIVE),
            Op::SetBranch(MAIN),
            Op::SetBranch(TRASH),
            Op::ToOtherDraft,
            Op::Move,
        ];
        if rkind == RecordType::Artifact {
            ops.extend([Op::Link, Op::Unlink]);
        }
        let mut wrong = Vec::new();
        for state in [MAIN, LOCKED, TEMPLATE, ARCHIVE, TRASH, self.draft] {
            for &op in &ops {
                for (role, actor) in &self.actors {
                    let need = need(state, op);
                    let expect = match (need, role) {
                        (Need::Invalid | Need::NoOp, Role::Read) => continue, // precedence unspecified
                        (Need::W, Role::Write | Role::Admin) | (Need::A, Role::Admin) | (Need::NoOp, _) => "ok",
                        (Need::Invalid, _) => "ValidationError",
                        _ => "PermissionDenied",
                    };
                    let (r, linked, free) = self.record(rkind, state);
                    let (head, before) = (self.store.head(), place(&self.store, r));
                    let got = self.run(actor, op, r, linked, free);
                    let mut fault = None;
                    if kind(&got) != expect {
                        fault = Some(format!("{} ({:?})", kind(&got), got.as_ref().err().map(|e| e.message())));
                    } else if expect != "ok" || need == Need::NoOp {
                        if self.store.head() != head || place(&self.store, r) != before {
                            fault = Some("changed the store".into());
                        }
                        if need == Need::NoOp
                            && op == Op::Trash
                            && got.as_ref().ok() != Some(&Some(Outcome::AlreadyInTrash))
                        {
                            fault = Some(format!("outcome {got:?}"));
                        }
                    } else if let Some(why) = self.after(op, r, linked, free, &got) {
                        fault = Some(why);
                    }
                    if let Some(f) = fault {
                        wrong
                            .push(format!("{rkind:?} on {state}, {op:?} as {}: want {expect}, got {f}", role.as_str()));
                    }
                }
            }
        }
        wrong
    }

    /// Checks the effect of a successful edit.
    fn after(
        &self,
        op: Op,
        r: RecordRef,
        linked: u64,
        free: u64,
        got: &Result<Option<Outcome>, fvstore::Error>,
    ) -> Option<String> {
        let now = place(&self.store, r);
        let ok = match op {
            Op::Trash => now.map(|p| p.0) == Some(TRASH) && got.as_ref().ok() == Some(&Some(Outcome::Trashed)),
            Op::Purge => now.is_none() && got.as_ref().ok() == Some(&Some(Outcome::Deleted)),
            Op::Restore => now.map(|p| p.0) == Some(MAIN),
            Op::SetBranch(b) => now.map(|p| p.0) == Some(b),
            Op::ToOtherDraft => now.map(|p| p.0) == Some(self.draft2),
            Op::Move => now.map(|p| p.1) == Some(self.other),
            Op::Link => self.root.get(free).unwrap().artifact_ids == vec![r.id],
            Op::Unlink => self.root.get(linked).unwrap().artifact_ids.is_empty(),
        };
        (!ok).then(|| format!("ok, but the record is now {now:?}"))
    }
}

#[test]
fn the_edit_table_for_values() {
    let fx = fixture();
    check(fx.matrix(RecordType::Value), Vec::<String>::new());
}

#[test]
fn the_edit_table_for_features() {
    let fx = fixture();
    check(fx.matrix(RecordType::Feature), Vec::<String>::new());
}

#[test]
fn the_edit_table_for_artifacts_including_links() {
    let fx = fixture();
    check(fx.matrix(RecordType::Artifact), Vec::<String>::new());
}

#[test]
fn set_branch_to_the_same_branch_returns_the_record_and_changes_nothing() {
    let fx = fixture();
    let (r, _, _) = fx.record(RecordType::Value, LOCKED);
    let writer = &fx.actors[1].1;
    let head = fx.store.head();
    let got = writer.set_branch(r, LOCKED).unwrap();
    check(got, fvstore::Record::Value(fx.root.get(r.id).unwrap()));
    check(fx.store.head(), head);
    check(history_kinds(&fx.store, r), vec!["create", "branch_change"]);
}

#[test]
fn moving_needs_write_in_the_target_space_too() {
    let fx = fixture();
    let (r, _, _) = fx.record(RecordType::Value, MAIN);
    let writer = &fx.actors[1].1;
    let locked_out = new_space(&fx.root, "readonly");
    grant(&fx.root, locked_out, writer, Some(Role::Read));
    let head = fx.store.head();
    check(kind(&writer.move_space(r, locked_out)), "PermissionDenied");
    check(kind(&writer.move_space(r, 999u64)), "DoesNotExist");
    check(fx.store.head(), head);
    writer.move_space(r, fx.other).unwrap();
    check(place(&fx.store, r), Some((MAIN, fx.other)));
}

#[test]
fn merging_moves_every_record_of_the_branch_to_main_once() {
    let store = mem();
    let root = store.session();
    let alice = new_user(&store, "alice");
    let b = root.create_branch("feature-x").unwrap().id;
    let keep = root.create_branch("elsewhere").unwrap().id;
    let on_b = root.clone().on_branch(b);
    let f = feature(&on_b, "fx", "int");
    let art = on_b.create_artifact("x.h5ad").unwrap();
    let v1 = value_id(&on_b, Some("fx"), 1);
    let v2 = value_id(&on_b, None, "free");
    let untouched = value_id(&root.clone().on_branch(keep), None, "other");
    on_b.link(v1, Host::Artifact(art.id)).unwrap();

    let head = store.head();
    check(kind(&alice.merge_branch(b)), "PermissionDenied");
    check(kind(&root.merge_branch(LOCKED)), "ValidationError");
    check(kind(&root.merge_branch(MAIN)), "ValidationError");
    check(kind(&root.merge_branch("no-such-branch")), "DoesNotExist");
    check(store.head(), head);

    check(root.merge_branch("feature-x").unwrap(), 4);
    check(store.head().0, head.0 + 1);
    for r in [feature_ref(f.id), artifact_ref(art.id), value_ref(v1), value_ref(v2)] {
        check(place(&store, r).map(|p| p.0), Some(MAIN));
        check(history_kinds(&store, r).last().copied(), Some("merge"));
    }
    check(root.get(v1).unwrap().created_on_id, b);
    check(root.get(untouched).unwrap().branch_id, keep);
    let row = root.branches().unwrap().into_iter().find(|x| x.id == b).unwrap();
    check(row.status, BranchStatus::Merged);

    let head = store.head();
    check(kind(&root.merge_branch(b)), "ValidationError");
    check(kind(&root.clone().on_branch(b).get_or_create(None, 5)), "ValidationError");
    check(kind(&root.clone().on_branch(b).count(&Query::new())), "ValidationError");
    check(kind(&root.set_branch(value_ref(untouched), b)), "ValidationError");
    check(store.head(), head);

    // The creator of a branch may merge it too.
    let mine = alice.create_branch("alice-draft").unwrap().id;
    let av = value_id(&alice.clone().on_branch(mine), None, "alice");
    check(alice.merge_branch(mine).unwrap(), 1);
    check(root.get(av).unwrap().branch_id, MAIN);
}

#[test]
fn runs_belong_to_their_creator() {
    let store = mem();
    let root = store.session();
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    let run = alice.start_run("train").unwrap().id;
    feature(&root, "n", "int");
    let v = value_id(&root, None, "v");
    let head = store.head();
    check(kind(&bob.clone().with_run(run).get_or_create(None, "b")), "PermissionDenied");
    check(kind(&bob.clone().with_run(run).create_artifact("b")), "PermissionDenied");
    check(kind(&bob.finish_run(run)), "PermissionDenied");
    check(kind(&bob.link(v, Host::Run(run))), "PermissionDenied");
    check(kind(&bob.add_values(Host::Run(run), &pairs(&[("n", Value::Int(1))]))), "PermissionDenied");
    check(kind(&bob.delete_run(run, true)), "PermissionDenied");
    check(store.head(), head);
    root.link(v, Host::Run(run)).unwrap(); // user 1 may act on any run
    let head = store.head();
    check(kind(&bob.unlink(v, Host::Run(run))), "PermissionDenied");
    check(kind(&bob.remove_values(Host::Run(run), "n")), "PermissionDenied");
    check(store.head(), head);
    // Every user sees every run.
    check(bob.runs().unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![run]);

    let (rec, _) = alice.clone().with_run(run).get_or_create(None, "made").unwrap();
    check(rec.run_id, Some(run));
    check(root.get(v).unwrap().run_ids, vec![run]);

    let head = store.head();
    check(kind(&alice.delete_run(run, false)), "ValidationError");
    check(kind(&alice.delete_run(run, true)), "ProtectedError");
    check(kind(&alice.delete_run(999, true)), "DoesNotExist");
    check(store.head(), head);

    let finished = alice.finish_run(run).unwrap();
    check(finished.finished_at.is_some(), true);
    let head = store.head();
    let under = alice.clone().with_run(run);
    check(kind(&under.get_or_create(None, "late")), "ValidationError");
    check(kind(&under.create_artifact("late")), "ValidationError");
    check(kind(&under.start_run("late")), "ValidationError");
    check(under.get_or_create(None, "made").unwrap(), (root.get(rec.id).unwrap(), true)); // a hit writes nothing
    check(store.head(), head);
}

#[test]
fn deleting_a_run_for_good_removes_its_links_and_keeps_the_values() {
    let store = mem();
    let root = store.session();
    let alice = new_user(&store, "alice");
    let run = alice.start_run("scratch").unwrap().id;
    let a = value_id(&root, None, 1);
    let b = value_id(&root, None, 2);
    alice.link(a, Host::Run(run)).unwrap();
    alice.link(b, Host::Run(run)).unwrap();
    check(alice.delete_run(run, true).unwrap(), Outcome::Deleted);
    for id in [a, b] {
        check(root.get(id).unwrap().run_ids, Vec::<u64>::new());
        check(history_kinds(&store, value_ref(id)), vec!["create", "link", "unlink"]);
    }
    check(root.runs().unwrap().len(), 0);
    check(kind(&alice.finish_run(run)), "DoesNotExist");
    // Ids are never reused.
    check(alice.start_run("again").unwrap().id, run + 1);
}

#[test]
fn a_run_stays_protected_after_its_records_are_removed() {
    let store = mem();
    let root = store.session();
    let run = root.start_run("r").unwrap().id;
    let v = value_id(&root.clone().with_run(run), None, 1);
    root.delete(value_ref(v), true).unwrap();
    // "A run under which any record was created cannot be deleted: provenance is kept."
    let head = store.head();
    check(kind(&root.delete_run(run, true)), "ProtectedError");
    check(store.head(), head);
}

/// A lab space, a writer and an admin in it, and a feature `cf` in lab with two values.
fn cascade_fixture() -> (Store, Session, Session, u64, Vec<u64>) {
    let store = mem();
    let root = store.session();
    let lab = new_space(&root, "lab");
    let writer = new_user(&store, "writer");
    let admin = new_user(&store, "admin");
    grant(&root, lab, &writer, Some(Role::Write));
    grant(&root, lab, &admin, Some(Role::Admin));
    let in_lab = root.clone().in_space(lab);
    feature(&in_lab, "cf", "int");
    let ids = vec![value_id(&in_lab, Some("cf"), 1), value_id(&in_lab, Some("cf"), 2)];
    (store, writer, admin, lab, ids)
}

#[test]
fn deleting_a_feature_removes_its_values_when_each_may_be_removed() {
    let (store, writer, _, _, ids) = cascade_fixture();
    let root = store.session();
    let fid = root.get(ids[0]).unwrap().feature_id.unwrap();
    // Trashing a feature leaves its values where they are.
    check(writer.delete_feature("cf", false).unwrap(), (fid, Outcome::Trashed));
    check(root.get(ids[0]).unwrap().branch_id, MAIN);
    root.delete(value_ref(ids[1]), false).unwrap(); // a trashed value is W to remove
    let head = store.head();
    check(writer.delete_feature(fid, true).unwrap(), (fid, Outcome::Deleted));
    check(store.head().0, head.0 + 3); // two value removals and the feature's, in one commit
    for id in &ids {
        check(kind(&root.get(*id)), "DoesNotExist");
        check(history_kinds(&store, value_ref(*id)).last().copied(), Some("delete"));
    }
    check(feature_row(&root, fid), None);
    check(root.count(&Query::new().filter("branch", "all")).unwrap(), 0);
    check(kind(&root.delete_feature("cf", true)), "DoesNotExist");
    // The name is free again; the id is new.
    check(feature(&root, "cf", "str").id, fid + 1);
}

#[test]
fn deleting_a_feature_needs_the_right_to_remove_every_value() {
    for (state, writer_kind, admin_kind) in [
        (LOCKED, "PermissionDenied", "ok"),
        (TEMPLATE, "PermissionDenied", "ok"),
        (ARCHIVE, "PermissionDenied", "PermissionDenied"),
    ] {
        let (store, writer, admin, _, ids) = cascade_fixture();
        store.session().set_branch(value_ref(ids[1]), state).unwrap();
        let head = store.head();
        check((state, kind(&writer.delete_feature("cf", true))), (state, writer_kind));
        check(store.head(), head);
        check(store.session().get(ids[0]).unwrap().branch_id, MAIN);
        check((state, kind(&admin.delete_feature("cf", true))), (state, admin_kind));
    }
}

#[test]
fn deleting_a_feature_with_a_linked_value_is_protected() {
    let (store, writer, _, _, ids) = cascade_fixture();
    let root = store.session();
    let art = root.create_artifact("a").unwrap().id;
    root.link(ids[1], Host::Artifact(art)).unwrap();
    let head = store.head();
    check(kind(&writer.delete_feature("cf", true)), "ProtectedError");
    check(kind(&root.delete_feature("cf", true)), "ProtectedError");
    check(store.head(), head);
    check(root.count(&Query::new().filter("feature", "cf")).unwrap(), 2);
    root.unlink(ids[1], Host::Artifact(art)).unwrap();
    check(root.delete_feature("cf", true).unwrap().1, Outcome::Deleted);
}

#[test]
fn a_linked_value_cannot_be_removed_but_can_be_trashed() {
    let store = mem();
    let root = store.session();
    let art = root.create_artifact("a").unwrap().id;
    let run = root.start_run("r").unwrap().id;
    let v = value_id(&root, None, 1);
    let w = value_id(&root, None, 2);
    root.link(v, Host::Artifact(art)).unwrap();
    root.link(w, Host::Run(run)).unwrap();
    let head = store.head();
    check(kind(&root.delete(value_ref(v), true)), "ProtectedError");
    check(kind(&root.delete(value_ref(w), true)), "ProtectedError");
    check(store.head(), head);
    check(root.delete(value_ref(v), false).unwrap(), Outcome::Trashed);
    check(root.get(v).unwrap().artifact_ids, vec![art]); // links stay
    check(kind(&root.delete(value_ref(v), true)), "ProtectedError");
    root.unlink(v, Host::Artifact(art)).unwrap();
    check(root.delete(value_ref(v), true).unwrap(), Outcome::Deleted);
    check(kind(&root.get(v)), "DoesNotExist");
    check(history_kinds(&store, value_ref(v)), vec!["create", "link", "branch_change", "unlink", "delete"]);
}

#[test]
fn deleting_an_artifact_for_good_removes_its_links_and_keeps_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, art, head) = {
        let store = open(dir.path());
        let root = store.session();
        feature(&root, "n", "int");
        let art = root.create_artifact("a").unwrap().id;
        let out = root.add_values(Host::Artifact(art), &pairs(&[("n", Value::Int(1))])).unwrap();
        let b = value_id(&root, None, "x");
        root.link(b, Host::Artifact(art)).unwrap();
        check(root.delete_artifact(art, false).unwrap(), Outcome::Trashed);
        check(root.get(b).unwrap().artifact_ids, vec![art]);
        check(root.delete_artifact(art, false).unwrap(), Outcome::AlreadyInTrash);
        let head = store.head();
        check(root.delete_artifact(art, true).unwrap(), Outcome::Deleted);
        check(store.head().0, head.0 + 3); // two unlinks and the delete, in one commit
        (out[0].id, b, art, store.head())
    };
    let store = open(dir.path());
    let root = store.session();
    check(store.head(), head);
    for id in [a, b] {
        check(root.get(id).unwrap().artifact_ids, Vec::<u64>::new());
        check(root.get(id).unwrap().branch_id, MAIN);
    }
    check(artifact_row(&root, art), None);
    check(kind(&root.get_values(Host::Artifact(art))), "DoesNotExist");
    check(
        history_kinds(&store, artifact_ref(art)),
        vec!["create", "link", "link", "branch_change", "unlink", "unlink", "delete"],
    );
}
