//! The engine side: a store in a temporary directory, reopened on `Reopen`, and every
//! operation's answer turned into an `Obs`.

use super::obs::{hex, vkey, AObs, FObs, Kind, Obs, RunObs, VObs, R};
use super::ops::{dtype_for, feature_name, value, Op, BRANCHES, FEATURES, HANDLES, KEYS, RUNS, SPACES};
use super::spec::{host_record, MEvent, T0};
use fvstore::{
    Artifact, BranchStatus, Durability, Error, Event, EventData, Feature, FeatureSpec, FixedClock, Options, Outcome,
    Record, RecordType, Run, Session, Store, ValueRecord,
};
use std::sync::Arc;

/// A store's head (seq, hash) and state hash.
type Identity = ((u64, [u8; 32]), [u8; 32]);

pub struct Engine {
    pub store: Option<Store>,
    /// A subscription from event 1 on (renewed at every reopen), and the events it delivered.
    pub feed: Option<crossbeam_channel::Receiver<Event>>,
    pub delivered: Vec<MEvent>,
    /// Declared last, so dropped last: the store's closing snapshot must not land in (and
    /// re-create) a directory that was already removed.
    pub dir: tempfile::TempDir,
}

fn options() -> Options {
    // Small snapshot interval: reopening then loads a snapshot and folds the tail after it.
    Options {
        durability: Durability::Buffered,
        clock: Arc::new(FixedClock(T0)),
        snapshot_every: 7,
        ..Options::default()
    }
}

pub fn kind(e: &Error) -> Kind {
    e.kind()
}

impl Engine {
    pub fn new() -> Engine {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_with(dir.path().join("db"), options()).expect("open a fresh store");
        let feed = Some(store.subscribe(1).expect("subscribe"));
        Engine { store: Some(store), feed, delivered: Vec::new(), dir }
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("open store")
    }

    /// The events the subscription delivered, once it has delivered up to `seq` (or after a
    /// few seconds).
    pub fn feed_until(&mut self, seq: u64) -> &[MEvent] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.delivered.last().map_or(0, |e| e.seq) < seq {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            match self.feed.as_ref().expect("subscribed").recv_timeout(wait) {
                Ok(e) => self.delivered.push(event(&e)),
                Err(_) => break,
            }
        }
        while let Ok(e) = self.feed.as_ref().expect("subscribed").try_recv() {
            self.delivered.push(event(&e));
        }
        &self.delivered
    }

    /// Flushes, drops the store and opens the same directory again; the head and the state
    /// hash must survive, and `verify` (chain, full replay, newest snapshot) must pass.
    pub fn reopen(&mut self) -> Result<(), String> {
        self.store().flush().map_err(|e| format!("flush before reopen: {e}"))?;
        let before = (self.store().head(), self.store().state_hash());
        self.store = None;
        self.feed = None;
        self.open_again(Some(before))
    }

    /// Simulates a crash (`Store::simulate_crash`: the commits after the last sync are
    /// dropped, no closing snapshot) and opens the directory again; returns the last event kept.
    /// The caller compares the reopened store with the model as of that event.
    pub fn crash(&mut self) -> Result<u64, String> {
        self.feed = None;
        let store = self.store.take().ok_or("no open store")?;
        let kept = store.simulate_crash().map_err(|e| format!("simulate_crash: {e}"))?;
        self.open_again(None)?;
        let head = self.store().head().0;
        if head != kept {
            return Err(format!("the crash kept events 1..={kept}, the reopened store has 1..={head}"));
        }
        let v = self.store().verify().map_err(|e| format!("verify after the crash: {e}"))?;
        if v.events != kept || v.state_hash != self.store().state_hash() {
            return Err(format!("verify after the crash disagrees: {v:?}, head {kept}"));
        }
        Ok(kept)
    }

    /// Opens the directory (at once: the last handle waited for sled's lock to be released);
    /// checks that head and state hash equal `before` and that `verify` agrees, when given.
    fn open_again(&mut self, before: Option<Identity>) -> Result<(), String> {
        let s = Store::open_with(self.dir.path().join("db"), options()).map_err(|e| format!("reopen failed: {e}"))?;
        if let Some(before) = before {
            let after = (s.head(), s.state_hash());
            if after != before {
                return Err(format!("head and state hash before reopen {before:?}, after {after:?}"));
            }
            let v = s.verify().map_err(|e| format!("verify after reopen: {e}"))?;
            if (v.events, v.head, v.state_hash) != (before.0 .0, before.0, before.1) {
                return Err(format!("verify after reopen disagrees: {v:?}, expected {before:?}"));
            }
        }
        self.feed = Some(s.subscribe(1).map_err(|e| format!("subscribe after reopen: {e}"))?);
        self.delivered.clear();
        self.store = Some(s);
        Ok(())
    }

    /// Runs one operation (not `Reopen`) in a session.
    pub fn apply(&self, s: &Session, op: &Op) -> R<Obs> {
        let k = |e: Error| kind(&e);
        match op {
            Op::CreateUser(i) => {
                s.create_user(HANDLES[*i]).map(|u| Obs::User { id: u.id, handle: u.handle, created_at: u.created_at })
            }
            Op::CreateSpace(i) => s.create_space(SPACES[*i]).map(|x| Obs::Space {
                id: x.id,
                name: x.name,
                created_by_id: x.created_by_id,
                created_at: x.created_at,
            }),
            Op::Grant { space, user, role } => s.grant(space.clone(), user.clone(), *role).map(|g| Obs::Grant {
                space_id: g.space_id,
                user_id: g.user_id,
                role: g.role,
            }),
            Op::CreateBranch(i) => s.create_branch(BRANCHES[*i]).map(|b| Obs::Branch {
                id: b.id,
                name: b.name,
                created_by_id: b.created_by_id,
                created_at: b.created_at,
                merged: b.status == BranchStatus::Merged,
            }),
            Op::MergeBranch(b) => s.merge_branch(b.clone()).map(Obs::Count),
            Op::StartRun(i) => s.start_run(RUNS[*i]).map(|r| Obs::Run(runobs(&r))),
            Op::FinishRun(r) => s.finish_run(*r).map(|r| Obs::Run(runobs(&r))),
            Op::CreateFeature { name, dtype } => {
                let (n, _, nullable, coerce) = FEATURES[*name];
                let spec = FeatureSpec::new(n, dtype_for(*name, *dtype)).nullable(nullable).coerce(coerce);
                s.create_feature(&spec).map(|f| Obs::Feature(fobs(&f)))
            }
            Op::CreateArtifact(i) => s.create_artifact(KEYS[*i]).map(|a| Obs::Artifact(aobs(&a))),
            Op::GetOrCreate { feature, value: v } => {
                return s
                    .get_or_create(feature.clone(), value(*v))
                    .map(|(r, e)| Obs::GetOrCreate(vobs(&r), e))
                    .map_err(k)
            }
            Op::Delete { target, permanent } => s.delete(*target, *permanent).map(|o| Obs::Outcome(outcome(o))),
            Op::Restore(r) => return s.restore(*r).map(|r| record(&r)).map_err(k),
            Op::SetBranch(r, b) => return s.set_branch(*r, b.clone()).map(|r| record(&r)).map_err(k),
            Op::MoveSpace(r, sp) => return s.move_space(*r, sp.clone()).map(|r| record(&r)).map_err(k),
            Op::Link(v, h) => return s.link(*v, *h).map(|r| Obs::Value(vobs(&r))).map_err(k),
            Op::Unlink(v, h) => return s.unlink(*v, *h).map(|r| Obs::Value(vobs(&r))).map_err(k),
            Op::AddValues(h, items) => return values(s.add_values(*h, &pairs(items))),
            Op::SetValues(h, items) => return values(s.set_values(*h, &pairs(items))),
            Op::RemoveValues(h, f) => s.remove_values(*h, f.clone()).map(Obs::Count),
            Op::DeleteFeature(f, p) => {
                s.delete_feature(f.clone(), *p).map(|(id, o)| Obs::FeatureOutcome(id, outcome(o)))
            }
            Op::DeleteArtifact(a, p) => s.delete_artifact(*a, *p).map(|o| Obs::Outcome(outcome(o))),
            Op::DeleteRun(r, p) => s.delete_run(*r, *p).map(|o| Obs::Outcome(outcome(o))),
            Op::Reopen | Op::Crash | Op::Flush | Op::Snapshot | Op::AsOf(_) | Op::RestoreOffMain(..) => Ok(Obs::Unit),
        }
        .map_err(k)
    }
}

pub fn session(store: &Store, handle: &str, run: Option<u64>, branch: i64, space: u64) -> Session {
    let mut s = store.as_user(handle).expect("the actor exists");
    if let Some(r) = run {
        s = s.with_run(r);
    }
    s.on_branch(branch).in_space(space)
}

pub fn vobs(v: &ValueRecord) -> VObs {
    VObs {
        id: v.id,
        feature_id: v.feature_id,
        value: vkey(&v.value),
        hash: v.hash.to_string(),
        branch_id: v.branch_id,
        created_on_id: v.created_on_id,
        space_id: v.space_id,
        created_by_id: v.created_by_id,
        run_id: v.run_id,
        created_at: v.created_at,
        artifact_ids: v.artifact_ids.clone(),
        run_ids: v.run_ids.clone(),
    }
}

pub fn values(r: Result<Vec<ValueRecord>, Error>) -> R<Obs> {
    r.map(|vs| Obs::Values(vs.iter().map(vobs).collect())).map_err(|e| kind(&e))
}

pub fn record(r: &Record) -> Obs {
    match r {
        Record::Value(v) => Obs::Value(vobs(v)),
        Record::Feature(f) => Obs::Feature(fobs(f)),
        Record::Artifact(a) => Obs::Artifact(aobs(a)),
    }
}

/// An engine event in the model's terms (`MEvent`).
pub fn event(e: &Event) -> MEvent {
    let data = match &e.data {
        EventData::CreateUser { handle } => format!("create_user {handle}"),
        EventData::CreateSpace { name } => format!("create_space {name}"),
        EventData::CreateBranch { name } => format!("create_branch {name}"),
        EventData::CreateRun { name } => format!("create_run {name}"),
        EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => {
            format!("create_feature {name} {} {nullable} {coerce} {branch} {space}", dtype.as_str())
        }
        EventData::CreateArtifact { key, branch, space } => format!("create_artifact {key} {branch} {space}"),
        EventData::CreateValue { feature, value, hash: _, branch, space } => {
            format!("create_value {feature:?} {} {branch} {space}", hex(value))
        }
        EventData::BranchChange { from, to } => format!("branch_change {from} {to}"),
        EventData::SpaceChange { from, to } => format!("space_change {from} {to}"),
        EventData::Link { host } => format!("link {host:?}"),
        EventData::Unlink { host } => format!("unlink {host:?}"),
        EventData::Delete => "delete".into(),
        EventData::Merge { moved } => {
            let mut m: Vec<_> = moved.iter().map(|r| (r.kind, r.id)).collect();
            m.sort();
            format!("merge {m:?}")
        }
        EventData::Grant { user, role } => format!("grant {user} {role:?}"),
        EventData::RunFinish => "run_finish".into(),
    };
    let also = match &e.data {
        EventData::Link { host } | EventData::Unlink { host } => vec![host_record(*host)],
        EventData::Merge { moved } => {
            let mut m: Vec<_> = moved.iter().map(|r| (r.kind, r.id)).collect();
            m.sort();
            m
        }
        EventData::Grant { user, .. } => vec![(RecordType::User, *user)],
        _ => Vec::new(),
    };
    MEvent { seq: e.seq, at: e.at, actor: e.actor, run: e.run, record: (e.record.kind, e.record.id), data, also }
}

/// The items of add_values / set_values.
pub fn pairs(items: &[(usize, usize)]) -> Vec<(String, fvstore::Value)> {
    items.iter().map(|(f, v)| (feature_name(*f).to_string(), value(*v))).collect()
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Trashed => "trashed",
        Outcome::AlreadyInTrash => "already_in_trash",
        Outcome::Deleted => "deleted",
    }
}

pub fn fobs(f: &Feature) -> FObs {
    FObs {
        id: f.id,
        name: f.name.clone(),
        dtype: f.dtype.as_str().to_string(),
        nullable: f.nullable,
        coerce: f.coerce,
        branch_id: f.branch_id,
        space_id: f.space_id,
        created_by_id: f.created_by_id,
        run_id: f.run_id,
        created_at: f.created_at,
    }
}

pub fn aobs(a: &Artifact) -> AObs {
    AObs {
        id: a.id,
        key: a.key.clone(),
        branch_id: a.branch_id,
        space_id: a.space_id,
        created_by_id: a.created_by_id,
        run_id: a.run_id,
        created_at: a.created_at,
    }
}

pub fn runobs(r: &Run) -> RunObs {
    RunObs {
        id: r.id,
        name: r.name.clone(),
        created_by_id: r.created_by_id,
        created_at: r.created_at,
        finished_at: r.finished_at,
    }
}
