//! The model-based check itself: one sequence of steps run against the engine and the model,
//! compared after every step. Shared by `tests/model.rs` (proptest) and the fuzz target
//! `fuzz/fuzz_targets/model.rs` (libFuzzer bytes fed to the same strategy).

use super::commands::atomic;
use super::engine::{self, aobs, fobs, kind, pairs, runobs, Engine};
use super::obs::{self, Obs, R};
use super::ops::{self, dtype_for, feature_name, value, Op, Step, BRANCHES, FEATURES, HANDLES, KEYS, RUNS, SPACES};
use super::queries;
use super::spec::{self, Ctx, Model};
use fvstore::{BranchSel, BranchStatus, Host, Query, Store, Value};
use std::collections::BTreeMap;

/// set_values takes a map of feature names: keep the first item of each name.
fn unique_names(items: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut seen = Vec::new();
    items
        .iter()
        .filter(|(f, _)| {
            !seen.contains(&feature_name(*f)) && {
                seen.push(feature_name(*f));
                true
            }
        })
        .copied()
        .collect()
}

fn apply_model(m: &mut Model, c: &Ctx, op: &Op) -> R<Obs> {
    match op {
        Op::CreateUser(i) => atomic(m, |m| m.create_user(c, HANDLES[*i])),
        Op::CreateSpace(i) => atomic(m, |m| m.create_space(c, SPACES[*i])),
        Op::Grant { space, user, role } => atomic(m, |m| m.grant(c, space, user, *role)),
        Op::CreateBranch(i) => atomic(m, |m| m.create_branch(c, BRANCHES[*i])),
        Op::MergeBranch(b) => atomic(m, |m| m.merge_branch(c, b)),
        Op::StartRun(i) => atomic(m, |m| m.start_run(c, RUNS[*i])),
        Op::FinishRun(r) => atomic(m, |m| m.finish_run(c, *r)),
        Op::CreateFeature { name, dtype } => {
            let (n, _, nullable, coerce) = FEATURES[*name];
            atomic(m, |m| m.create_feature(c, n, dtype_for(*name, *dtype), nullable, coerce))
        }
        Op::CreateArtifact(i) => atomic(m, |m| m.create_artifact(c, KEYS[*i])),
        Op::GetOrCreate { feature, value: v } => atomic(m, |m| m.get_or_create(c, feature.as_ref(), &value(*v))),
        Op::Delete { target, permanent } => atomic(m, |m| m.delete(c, *target, *permanent)),
        Op::Restore(r) => atomic(m, |m| m.restore(c, *r)),
        Op::SetBranch(r, b) => atomic(m, |m| m.set_branch(c, *r, b)),
        Op::MoveSpace(r, s) => atomic(m, |m| m.move_space(c, *r, s)),
        Op::Link(v, h) => atomic(m, |m| m.link(c, *v, *h)),
        Op::Unlink(v, h) => atomic(m, |m| m.unlink(c, *v, *h)),
        Op::AddValues(h, items) => atomic(m, |m| m.change_values(c, *h, &pairs(items), false)),
        Op::SetValues(h, items) => atomic(m, |m| m.change_values(c, *h, &pairs(items), true)),
        Op::RemoveValues(h, f) => atomic(m, |m| m.remove_values(c, *h, f)),
        Op::DeleteFeature(f, p) => atomic(m, |m| m.delete_feature(c, f, *p)),
        Op::DeleteArtifact(a, p) => {
            atomic(m, |m| m.delete(c, fvstore::RecordRef { kind: fvstore::RecordType::Artifact, id: *a }, *p))
        }
        Op::DeleteRun(r, p) => atomic(m, |m| m.delete_run(c, *r, *p)),
        Op::Reopen | Op::Crash | Op::Flush | Op::Snapshot | Op::AsOf(_) | Op::RestoreOffMain(..) => Ok(Obs::Unit),
    }
}

/// postmortem: `remove_values` and `set_values` unlinked the host's values of the feature that
/// the actor may not read (SPEC §5: unlinking needs read access to the value; such values are
/// left out of `get_values`). Fixed; with FVSTORE_MODEL_SKIP_FIXED=1 such steps are skipped.
fn meets_hidden_linked_value(m: &Model, c: &Ctx, op: &Op) -> bool {
    let (host, names): (Host, Vec<fvstore::Ref>) = match op {
        Op::RemoveValues(h, f) => (*h, vec![f.clone()]),
        Op::SetValues(h, items) => {
            (*h, items.iter().map(|(f, _)| fvstore::Ref::Name(feature_name(*f).into())).collect())
        }
        _ => return false,
    };
    let features: Vec<u64> = names.iter().filter_map(|r| m.resolve_feature(c.user, r).ok()).collect();
    m.linked_to(host).iter().any(|id| {
        let v = &m.values[id];
        v.feature.is_some_and(|f| features.contains(&f)) && !m.can_read(c.user, v.space)
    })
}

/// Normalises a generated step where the API takes a map (set_values), and picks the record
/// of a `RestoreOffMain` from the model's state.
fn normalise(m: &Model, op: &Op) -> Op {
    match op {
        Op::SetValues(h, items) => Op::SetValues(*h, unique_names(items)),
        Op::RestoreOffMain(kind, n) => {
            let off: Vec<u64> = match kind {
                fvstore::RecordType::Feature => {
                    m.features.iter().filter(|(_, f)| f.branch != 1).map(|(id, _)| *id).collect()
                }
                fvstore::RecordType::Artifact => {
                    m.artifacts.iter().filter(|(_, a)| a.branch != 1).map(|(id, _)| *id).collect()
                }
                _ => m.values.iter().filter(|(_, v)| v.branch != 1).map(|(id, _)| *id).collect(),
            };
            let id = if off.is_empty() { *n as u64 % 8 + 1 } else { off[n % off.len()] };
            Op::Restore(fvstore::RecordRef { kind: *kind, id })
        }
        other => other.clone(),
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, engine: T, model: T) -> Result<(), String> {
    if engine == model {
        Ok(())
    } else {
        Err(format!("{what}:\n  engine: {engine:?}\n  model:  {model:?}"))
    }
}

fn default_branches(c: &Ctx) -> Vec<i64> {
    let mut v = vec![1, 2];
    if c.branch >= 4 {
        v.push(c.branch);
    }
    v
}

/// Everything a user can observe, engine against model.
fn compare_user(m: &Model, store: &Store, c: &Ctx) -> Result<(), String> {
    let handle = &m.users[&c.user].handle;
    let s = engine::session(store, handle, c.run, c.branch, c.space);
    let who = format!("user {} ({handle}) on branch {}", c.user, c.branch);
    for q in queries::queries() {
        let got = engine::values(s.filter(&queries::build(&q)));
        same(&format!("{who}: filter {q:?}"), got, queries::filter(m, c, &q))?;
        let want = queries::eval(m, c, &q);
        let got = s.count(&queries::build(&q)).map_err(|e| kind(&e));
        same(&format!("{who}: count {q:?}"), got, want.clone().map(|ids| ids.len()))?;
        let got = s.get_where(&queries::build(&q)).map(|v| v.id).map_err(|e| kind(&e));
        let want = want.and_then(|ids| match ids.as_slice() {
            [] => Err(obs::DNE),
            [one] => Ok(*one),
            _ => Err("MultipleObjectsReturned"),
        });
        same(&format!("{who}: get_where {q:?}"), got, want)?;
    }
    same(
        &format!("{who}: count()"),
        s.count(&Query::new()).map_err(|e| kind(&e)),
        queries::eval(m, c, &queries::Q::Default).map(|v| v.len()),
    )?;
    for id in 1..m.next_value + 2 {
        same(
            &format!("{who}: get({id})"),
            s.get(id).map(|v| Obs::Value(engine::vobs(&v))).map_err(|e| kind(&e)),
            m.get(c, id),
        )?;
    }
    let hosts = (1..=m.next_artifact).map(Host::Artifact).chain((1..=m.next_run).map(Host::Run));
    for h in hosts {
        let got = s.get_values(h).map(|vs| {
            Obs::PerFeature(
                vs.into_iter().map(|(k, v)| (k, v.iter().map(obs::vkey).collect())).collect::<BTreeMap<_, _>>(),
            )
        });
        same(&format!("{who}: get_values({h:?})"), got.map_err(|e| kind(&e)), m.get_values(c, h))?;
    }
    for (sel, allowed) in [(BranchSel::All, None), (BranchSel::Default, Some(default_branches(c)))] {
        let ok = |b: i64| allowed.as_ref().is_none_or(|a| a.contains(&b));
        let got = s.features(&sel).map(|fs| Obs::Features(fs.iter().map(fobs).collect()));
        let want = m
            .features
            .iter()
            .filter(|(_, f)| m.can_read(c.user, f.space) && ok(f.branch))
            .map(|(id, _)| m.fview(*id))
            .collect();
        same(&format!("{who}: features({sel:?})"), got.map_err(|e| kind(&e)), Ok(Obs::Features(want)))?;
        let got = s.artifacts(&sel).map(|xs| Obs::Artifacts(xs.iter().map(aobs).collect()));
        let want = m
            .artifacts
            .iter()
            .filter(|(_, a)| m.can_read(c.user, a.space) && ok(a.branch))
            .map(|(id, _)| m.aview(*id))
            .collect();
        same(&format!("{who}: artifacts({sel:?})"), got.map_err(|e| kind(&e)), Ok(Obs::Artifacts(want)))?;
    }
    for f in queries::HOST_FILTERS {
        let filters: Vec<(String, Value)> = f.iter().map(|(k, v)| ((*k).to_string(), Value::Int(*v))).collect();
        let got = s.filter_artifacts(&filters).map(|xs| xs.iter().map(|a| a.id).collect::<Vec<_>>());
        same(&format!("{who}: filter_artifacts({f:?})"), got.map_err(|e| kind(&e)), queries::hosts(m, c, f, true))?;
        let got = s.filter_runs(&filters).map(|xs| xs.iter().map(|r| r.id).collect::<Vec<_>>());
        same(&format!("{who}: filter_runs({f:?})"), got.map_err(|e| kind(&e)), queries::hosts(m, c, f, false))?;
    }
    Ok(())
}

/// The observable state: as `users` (every user when `None`), then, for every user, the
/// registries; with every user also on each open user branch as current branch.
fn compare_state(m: &Model, store: &Store, users: Option<&[u64]>) -> Result<(), String> {
    same("head seq", store.head().0, m.seq)?;
    let all: Vec<u64> = m.users.keys().copied().collect();
    for &user in users.unwrap_or(&all) {
        compare_user(m, store, &Ctx { user, run: None, branch: 1, space: 1 })?;
    }
    if users.is_none() {
        for (&b, branch) in &m.branches {
            if b >= 4 && !branch.merged {
                compare_user(m, store, &Ctx { user: branch.created_by, run: None, branch: b, space: 1 })?;
            }
        }
    }
    let s = store.session();
    same(
        "users()",
        s.users().map(|us| Obs::Users(us.iter().map(|u| (u.id, u.handle.clone(), u.created_at)).collect())),
        Ok(Obs::Users(m.users.iter().map(|(id, u)| (*id, u.handle.clone(), u.created_at)).collect())),
    )?;
    same(
        "spaces()",
        s.spaces()
            .map(|xs| Obs::Spaces(xs.iter().map(|x| (x.id, x.name.clone(), x.created_by_id, x.created_at)).collect())),
        Ok(Obs::Spaces(m.spaces.iter().map(|(id, x)| (*id, x.name.clone(), x.created_by, x.created_at)).collect())),
    )?;
    same(
        "branches()",
        s.branches().map(|xs| {
            Obs::Branches(
                xs.iter()
                    .map(|b| (b.id, b.name.clone(), b.created_by_id, b.created_at, b.status == BranchStatus::Merged))
                    .collect(),
            )
        }),
        Ok(Obs::Branches(
            m.branches.iter().map(|(id, b)| (*id, b.name.clone(), b.created_by, b.created_at, b.merged)).collect(),
        )),
    )?;
    same(
        "runs()",
        s.runs().map(|rs| Obs::Runs(rs.iter().map(runobs).collect())),
        Ok(Obs::Runs(m.runs.keys().map(|id| m.runview(*id)).collect())),
    )?;
    Ok(())
}

/// `history` of every record (and of one id past the last), as every user.
fn compare_history(m: &Model, store: &Store) -> Result<(), String> {
    use fvstore::RecordType as T;
    let mut records: Vec<(T, u64)> = Vec::new();
    records.extend((1..=m.next_value).map(|i| (T::Value, i)));
    records.extend((1..=m.next_feature).map(|i| (T::Feature, i)));
    records.extend((1..=m.next_artifact).map(|i| (T::Artifact, i)));
    records.extend((1..=m.next_user).map(|i| (T::User, i)));
    records.extend((1..=m.next_space).map(|i| (T::Space, i)));
    records.extend((0..=m.next_branch as u64).map(|i| (T::Branch, i)));
    records.extend((1..=m.next_run).map(|i| (T::Run, i)));
    for &user in m.users.keys() {
        let s = engine::session(store, &m.users[&user].handle, None, 1, 1);
        for &(t, id) in &records {
            let got =
                s.history(fvstore::RecordRef { kind: t, id }).map(|es| es.iter().map(|e| e.seq).collect::<Vec<_>>());
            same(
                &format!("user {user}: history({t:?} {id})"),
                got.map_err(|e| kind(&e)),
                queries::history(m, user, (t, id)),
            )?;
        }
    }
    Ok(())
}

/// Runs the steps on both sides, comparing after each.
pub fn check(steps: &[Step]) -> Result<(), String> {
    let mut m = Model::new();
    let mut e = Engine::new();
    // The model after every step, for `AsOf` and `Crash`.
    let mut history = vec![m.clone()];
    // The last event an explicit sync made durable: a crash keeps at least this much.
    let mut synced = 0;
    for (i, step) in ops::prelude().iter().chain(steps).enumerate() {
        let op = normalise(&m, &step.op);
        let at = |what: String| format!("step {i}: {step:?}\n{what}");
        match op {
            Op::Reopen | Op::Crash => {
                if op == Op::Crash {
                    let kept = e.crash().map_err(at)?;
                    // Buffered mode: the log keeps a prefix of whole steps, at least up to the
                    // last sync (periodic snapshots sync too, so it may keep more).
                    let then = history.iter().rposition(|h| h.seq == kept).filter(|_| kept >= synced && kept <= m.seq);
                    let Some(k) = then else {
                        return Err(at(format!("crash kept events 1..={kept}; synced {synced}, head {}", m.seq)));
                    };
                    if std::env::var_os("FVSTORE_MODEL_STATS").is_some() {
                        let lost = if kept < m.seq { "lost the unsynced tail" } else { "lost nothing" };
                        STATS.with(|s| *s.borrow_mut().entry(format!("{:>15} {lost}", "Crash")).or_insert(0) += 1);
                    }
                    history.truncate(k + 1);
                    m = history[k].clone();
                } else {
                    e.reopen().map_err(at)?;
                }
                synced = m.seq;
                let log = e.store().session().log(1, m.seq).map(|es| es.iter().map(engine::event).collect::<Vec<_>>());
                same("the log after reopen", log.map_err(|e| kind(&e)), Ok(m.events.clone())).map_err(at)?;
                compare_history(&m, e.store()).map_err(|w| at(format!("after reopen: {w}")))?;
                compare_state(&m, e.store(), None).map_err(|w| at(format!("after reopen: {w}")))?;
                continue;
            }
            Op::Snapshot => {
                let got = e.store().snapshot().map_err(|e| kind(&e));
                same("snapshot", got, Ok(m.seq)).map_err(at)?;
                synced = m.seq;
                continue;
            }
            Op::Flush => {
                e.store().flush().map_err(|e| at(format!("flush: {e}")))?;
                synced = m.seq;
                continue;
            }
            Op::AsOf(k) => {
                let then = &history[k % history.len()];
                // Half a millisecond after that step's last event (before the first one for 0).
                let time = spec::T0 + (then.seq as i64 - 1) * 1000 + 500;
                same("seq_at_time", e.store().seq_at_time(time).map_err(|e| kind(&e)), Ok(then.seq)).map_err(at)?;
                let view = e.store().as_of(then.seq).map_err(|e| at(format!("as_of({}): {e}", then.seq)))?;
                compare_state(then, &view, None).map_err(|w| at(format!("as of event {}: {w}", then.seq)))?;
                continue;
            }
            _ => {}
        }
        let ids: Vec<u64> = m.users.keys().copied().collect();
        let user = ids[step.actor % ids.len()];
        let c = Ctx { user, run: step.ctx.run, branch: step.ctx.branch, space: step.ctx.space };
        if ops::skip_fixed() && meets_hidden_linked_value(&m, &c, &op) {
            continue;
        }
        let handle = &m.users[&user].handle;
        let handle = if step.upper { handle.to_uppercase() } else { handle.clone() };
        let session = engine::session(e.store(), &handle, c.run, c.branch, c.space);
        let got = e.apply(&session, &op);
        let ctx_ok = m.check_ctx(&c, false).is_ok();
        let want = apply_model(&mut m, &c, &op);
        if std::env::var_os("FVSTORE_MODEL_STATS").is_some() {
            count(&op, &want, ctx_ok);
        }
        same("result", got, want).map_err(at)?;
        same("events appended (head seq)", e.store().head().0, m.seq).map_err(at)?;
        // The events this step appended: kind, record, data, actor, run and time.
        let from = history.last().map_or(0, |h| h.seq) + 1;
        let log = e.store().session().log(from, m.seq).map(|es| es.iter().map(engine::event).collect::<Vec<_>>());
        same("events appended", log.map_err(|e| kind(&e)), Ok(m.events[from as usize - 1..].to_vec())).map_err(at)?;
        same("events delivered to the subscriber", e.feed_until(m.seq), &m.events[..]).map_err(at)?;
        // Every user every few steps and at the end; the actor and user 1 in between.
        let everyone = i % 4 == 0 || i + 1 == ops::prelude().len() + steps.len();
        let users = [user, 1];
        compare_state(&m, e.store(), (!everyone).then_some(&users[..])).map_err(at)?;
        history.push(m.clone());
    }
    compare_history(&m, e.store()).map_err(|w| format!("at the end: {w}"))?;
    // The chain verifies, and a full replay of the log gives the live state's hash.
    let v = e.store().verify().map_err(|w| format!("verify at the end: {w}"))?;
    same("state hash of a full replay at the end", v.state_hash, e.store().state_hash())?;
    same("events verified at the end", v.events, m.seq)?;
    Ok(())
}

thread_local! {
    /// How often each operation succeeded or failed with each kind (FVSTORE_MODEL_STATS=1),
    /// to see what the generator reaches.
    pub static STATS: std::cell::RefCell<BTreeMap<String, usize>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

fn count(op: &Op, result: &R<Obs>, ctx_ok: bool) {
    let name = format!("{op:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_string();
    let outcome = match result {
        Ok(_) => "ok".to_string(),
        Err(k) if ctx_ok => (*k).to_string(),
        Err(k) => format!("{k} (context)"),
    };
    STATS.with(|s| *s.borrow_mut().entry(format!("{name:>15} {outcome}")).or_insert(0) += 1);
}
