//! The model: SPEC §1–6 written as plainly as possible over BTreeMaps. Every command works on
//! a clone and only replaces the model when it succeeds, which is the spec's "each call is
//! atomic" for free. `seq` counts the events the spec says a call appends, so the engine's
//! head can be checked, and timestamps follow from it (a fixed clock: event n is stamped
//! `T0 + (n - 1) ms`).

use super::obs::{hash, vkey, AObs, FObs, Obs, RunObs, VObs, DNE, PD, R, VE};
use fvstore::{Host, RecordRef, RecordType, Ref, Role, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The fixed clock of every store in the test.
pub const T0: i64 = 1_795_000_000_000_000;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub user: u64,
    pub run: Option<u64>,
    pub branch: i64,
    pub space: u64,
}

#[derive(Debug, Clone)]
pub struct MUser {
    pub handle: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MSpace {
    pub name: String,
    pub created_by: u64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MBranch {
    pub name: String,
    pub created_by: u64,
    pub created_at: i64,
    pub merged: bool,
}

#[derive(Debug, Clone)]
pub struct MRun {
    pub name: String,
    pub created_by: u64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MFeature {
    pub name: String,
    pub dtype: String,
    pub nullable: bool,
    pub coerce: bool,
    pub branch: i64,
    pub space: u64,
    pub created_by: u64,
    pub run: Option<u64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MArtifact {
    pub key: String,
    pub branch: i64,
    pub space: u64,
    pub created_by: u64,
    pub run: Option<u64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MValue {
    pub feature: Option<u64>,
    pub value: Value,
    pub branch: i64,
    pub created_on: i64,
    pub space: u64,
    pub created_by: u64,
    pub run: Option<u64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub users: BTreeMap<u64, MUser>,
    pub spaces: BTreeMap<u64, MSpace>,
    /// Explicit roles by (space, user).
    pub roles: BTreeMap<(u64, u64), Role>,
    pub branches: BTreeMap<i64, MBranch>,
    pub runs: BTreeMap<u64, MRun>,
    pub features: BTreeMap<u64, MFeature>,
    pub artifacts: BTreeMap<u64, MArtifact>,
    pub values: BTreeMap<u64, MValue>,
    /// (value, host) pairs.
    pub links: BTreeSet<(u64, Host)>,
    /// Runs under which a feature, artifact or value was ever created (SPEC §5: such a run
    /// "cannot be deleted", even once those records are gone).
    pub runs_used: BTreeSet<u64>,
    pub next_user: u64,
    pub next_space: u64,
    pub next_branch: i64,
    pub next_run: u64,
    pub next_feature: u64,
    pub next_artifact: u64,
    pub next_value: u64,
    pub seq: u64,
    /// Every event, as `events::summary` renders the engine's.
    pub events: Vec<MEvent>,
}

/// An event as the model expects it: who, under which run, which record, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MEvent {
    pub seq: u64,
    pub at: i64,
    pub actor: u64,
    pub run: Option<u64>,
    pub record: (RecordType, u64),
    pub data: String,
    /// Other records the event touches: the host of a link or unlink, the records a merge
    /// moved, the user of a grant.
    pub also: Vec<(RecordType, u64)>,
}

/// The columns of the edit table (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Trash,
    Purge,
    Restore,
    SetState,
    ToDraft,
    Move,
    Link,
    Unlink,
}

enum Need {
    W,
    A,
    Refused,
    Invalid,
    Nothing,
}

/// The edit table of SPEC §5, row by row.
fn need(branch: i64, e: Edit) -> Need {
    use Edit::*;
    match branch {
        1 => match e {
            Restore => Need::Invalid,
            SetState => Need::A,
            Trash | Purge | Move | Link | Unlink | ToDraft => Need::W,
        },
        2 | 3 => match e {
            ToDraft => Need::Invalid,
            _ => Need::A,
        },
        0 => match e {
            Restore | SetState => Need::A,
            ToDraft => Need::Invalid,
            Trash | Purge | Move | Link | Unlink => Need::Refused,
        },
        -1 => match e {
            Trash => Need::Nothing,
            Purge | Restore | Unlink => Need::W,
            ToDraft => Need::Invalid,
            SetState | Move | Link => Need::Refused,
        },
        _ => match e {
            Trash | Restore | SetState => Need::Invalid,
            Purge | Move | Link | Unlink | ToDraft => Need::W,
        },
    }
}

fn rank(r: Option<Role>) -> u8 {
    match r {
        None => 0,
        Some(Role::Read) => 1,
        Some(Role::Write) => 2,
        Some(Role::Admin) => 3,
    }
}

/// The record a link's host is.
pub fn host_record(h: Host) -> (RecordType, u64) {
    match h {
        Host::Artifact(a) => (RecordType::Artifact, a),
        Host::Run(r) => (RecordType::Run, r),
    }
}

pub fn is_trash_or_archive(branch: i64) -> bool {
    branch == -1 || branch == 0
}

impl Model {
    pub fn new() -> Model {
        let mut m = Model {
            users: BTreeMap::new(),
            spaces: BTreeMap::new(),
            roles: BTreeMap::new(),
            branches: BTreeMap::new(),
            runs: BTreeMap::new(),
            features: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            values: BTreeMap::new(),
            links: BTreeSet::new(),
            runs_used: BTreeSet::new(),
            next_user: 2,
            next_space: 2,
            next_branch: 4,
            next_run: 1,
            next_feature: 1,
            next_artifact: 1,
            next_value: 1,
            seq: 0,
            events: Vec::new(),
        };
        m.users.insert(1, MUser { handle: "anonymous".into(), created_at: 0 });
        m.spaces.insert(1, MSpace { name: "all".into(), created_by: 1, created_at: 0 });
        m.roles.insert((1, 1), Role::Admin);
        for (id, name) in [(-1, "trash"), (0, "archive"), (1, "main"), (2, "locked"), (3, "template")] {
            m.branches.insert(id, MBranch { name: name.into(), created_by: 1, created_at: 0, merged: false });
        }
        m
    }

    /// Appends one event; returns its timestamp.
    pub fn emit(&mut self, c: &Ctx, kind: RecordType, id: u64, data: String) -> i64 {
        self.emit_touching(c, kind, id, data, Vec::new())
    }

    pub fn emit_touching(
        &mut self,
        c: &Ctx,
        kind: RecordType,
        id: u64,
        data: String,
        also: Vec<(RecordType, u64)>,
    ) -> i64 {
        self.seq += 1;
        let at = T0 + (self.seq as i64 - 1) * 1000;
        self.events.push(MEvent { seq: self.seq, at, actor: c.user, run: c.run, record: (kind, id), data, also });
        at
    }

    // ---- permissions -------------------------------------------------------------------

    pub fn role(&self, user: u64, space: u64) -> Option<Role> {
        let explicit = self.roles.get(&(space, user)).copied();
        if space == 1 && rank(explicit) < rank(Some(Role::Write)) {
            Some(Role::Write)
        } else {
            explicit
        }
    }

    pub fn can_read(&self, user: u64, space: u64) -> bool {
        self.role(user, space).is_some()
    }

    pub fn can_write(&self, user: u64, space: u64) -> bool {
        rank(self.role(user, space)) >= 2
    }

    pub fn require_write(&self, user: u64, space: u64) -> R<()> {
        if self.can_write(user, space) {
            Ok(())
        } else {
            Err(PD)
        }
    }

    /// `Ok(false)`: allowed, nothing to do.
    pub fn check_edit(&self, user: u64, branch: i64, space: u64, e: Edit) -> R<bool> {
        match need(branch, e) {
            Need::Nothing => Ok(false),
            Need::W if self.can_write(user, space) => Ok(true),
            Need::A if self.role(user, space) == Some(Role::Admin) => Ok(true),
            Need::W | Need::A | Need::Refused => Err(PD),
            Need::Invalid => Err(VE),
        }
    }

    pub fn run_owner(&self, user: u64, run: u64) -> R<()> {
        let owner = self.runs.get(&run).map(|r| r.created_by);
        if user == 1 || owner == Some(user) {
            Ok(())
        } else {
            Err(PD)
        }
    }

    /// The acting context (SPEC §4, §6): the space exists, the branch is main or an open user
    /// branch, the run exists; for a write the run is the actor's and not finished.
    pub fn check_ctx(&self, c: &Ctx, write: bool) -> R<()> {
        if !self.users.contains_key(&c.user) || !self.spaces.contains_key(&c.space) {
            return Err(DNE);
        }
        if c.branch != 1 {
            match self.branches.get(&c.branch) {
                None => return Err(DNE),
                Some(_) if c.branch < 4 => return Err(VE),
                Some(b) if b.merged => return Err(VE),
                Some(_) => {}
            }
        }
        if let Some(r) = c.run {
            let run = self.runs.get(&r).ok_or(DNE)?;
            if write {
                self.run_owner(c.user, r)?;
                if run.finished_at.is_some() {
                    return Err(VE);
                }
            }
        }
        Ok(())
    }

    // ---- naming --------------------------------------------------------------------------

    pub fn resolve_user(&self, r: &Ref) -> R<u64> {
        match r {
            Ref::Id(i) => u64::try_from(*i).ok().filter(|i| self.users.contains_key(i)),
            Ref::Name(h) => {
                self.users.iter().find(|(_, u)| u.handle.to_lowercase() == h.to_lowercase()).map(|(id, _)| *id)
            }
        }
        .ok_or(DNE)
    }

    pub fn resolve_space(&self, r: &Ref) -> R<u64> {
        match r {
            Ref::Id(i) => u64::try_from(*i).ok().filter(|i| self.spaces.contains_key(i)),
            Ref::Name(n) => {
                self.spaces.iter().find(|(_, s)| s.name.to_lowercase() == n.to_lowercase()).map(|(id, _)| *id)
            }
        }
        .ok_or(DNE)
    }

    pub fn resolve_branch(&self, r: &Ref) -> R<i64> {
        match r {
            Ref::Id(i) => Some(*i).filter(|i| self.branches.contains_key(i)),
            Ref::Name(n) => {
                self.branches.iter().find(|(_, b)| b.name.to_lowercase() == n.to_lowercase()).map(|(id, _)| *id)
            }
        }
        .ok_or(DNE)
    }

    /// A feature the user may read, by id or (case-sensitive) name.
    pub fn resolve_feature(&self, user: u64, r: &Ref) -> R<u64> {
        let id = match r {
            Ref::Id(i) => u64::try_from(*i).ok().filter(|i| self.features.contains_key(i)),
            Ref::Name(n) => self.features.iter().find(|(_, f)| &f.name == n).map(|(id, _)| *id),
        };
        id.filter(|id| self.can_read(user, self.features[id].space)).ok_or(DNE)
    }

    pub fn readable_value(&self, user: u64, id: u64) -> R<&MValue> {
        self.values.get(&id).filter(|v| self.can_read(user, v.space)).ok_or(DNE)
    }

    pub fn readable_artifact(&self, user: u64, id: u64) -> R<&MArtifact> {
        self.artifacts.get(&id).filter(|a| self.can_read(user, a.space)).ok_or(DNE)
    }

    pub fn resolve_host(&self, user: u64, h: Host) -> R<()> {
        match h {
            Host::Artifact(a) => self.readable_artifact(user, a).map(|_| ()),
            Host::Run(r) => self.runs.get(&r).map(|_| ()).ok_or(DNE),
        }
    }

    /// Links and unlinks need the right to edit the host.
    pub fn check_host(&self, user: u64, h: Host, e: Edit) -> R<()> {
        match h {
            Host::Artifact(a) => {
                let art = self.readable_artifact(user, a)?;
                self.check_edit(user, art.branch, art.space, e).map(|_| ())
            }
            Host::Run(r) => self.run_owner(user, r),
        }
    }

    /// The branch and space of an editable record the user may read.
    pub fn place(&self, user: u64, r: RecordRef) -> R<(i64, u64)> {
        match r.kind {
            RecordType::Value => self.readable_value(user, r.id).map(|v| (v.branch, v.space)),
            RecordType::Feature => {
                let id = self.resolve_feature(user, &Ref::Id(r.id as i64))?;
                Ok((self.features[&id].branch, self.features[&id].space))
            }
            RecordType::Artifact => self.readable_artifact(user, r.id).map(|a| (a.branch, a.space)),
            _ => Err(VE),
        }
    }

    pub fn set_place(&mut self, r: RecordRef, branch: Option<i64>, space: Option<u64>) {
        let (b, s) = match r.kind {
            RecordType::Value => {
                let v = self.values.get_mut(&r.id).expect("value");
                (&mut v.branch, &mut v.space)
            }
            RecordType::Feature => {
                let f = self.features.get_mut(&r.id).expect("feature");
                (&mut f.branch, &mut f.space)
            }
            _ => {
                let a = self.artifacts.get_mut(&r.id).expect("artifact");
                (&mut a.branch, &mut a.space)
            }
        };
        if let Some(x) = branch {
            *b = x;
        }
        if let Some(x) = space {
            *s = x;
        }
    }

    // ---- views ---------------------------------------------------------------------------

    pub fn vview(&self, user: u64, id: u64) -> VObs {
        let v = &self.values[&id];
        let mut artifact_ids = Vec::new();
        let mut run_ids = Vec::new();
        for (_, h) in self.links.range((id, Host::Artifact(0))..).take_while(|(x, _)| *x == id) {
            match h {
                Host::Artifact(a) if self.artifacts.get(a).is_some_and(|a| self.can_read(user, a.space)) => {
                    artifact_ids.push(*a)
                }
                Host::Artifact(_) => {}
                Host::Run(r) => run_ids.push(*r),
            }
        }
        artifact_ids.sort_unstable();
        run_ids.sort_unstable();
        VObs {
            id,
            feature_id: v.feature,
            value: vkey(&v.value),
            hash: hash(&v.value),
            branch_id: v.branch,
            created_on_id: v.created_on,
            space_id: v.space,
            created_by_id: v.created_by,
            run_id: v.run,
            created_at: v.created_at,
            artifact_ids,
            run_ids,
        }
    }

    pub fn fview(&self, id: u64) -> FObs {
        let f = &self.features[&id];
        FObs {
            id,
            name: f.name.clone(),
            dtype: f.dtype.clone(),
            nullable: f.nullable,
            coerce: f.coerce,
            branch_id: f.branch,
            space_id: f.space,
            created_by_id: f.created_by,
            run_id: f.run,
            created_at: f.created_at,
        }
    }

    pub fn aview(&self, id: u64) -> AObs {
        let a = &self.artifacts[&id];
        AObs {
            id,
            key: a.key.clone(),
            branch_id: a.branch,
            space_id: a.space,
            created_by_id: a.created_by,
            run_id: a.run,
            created_at: a.created_at,
        }
    }

    pub fn runview(&self, id: u64) -> RunObs {
        let r = &self.runs[&id];
        RunObs {
            id,
            name: r.name.clone(),
            created_by_id: r.created_by,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }

    pub fn branch_obs(&self, id: i64) -> Obs {
        let b = &self.branches[&id];
        Obs::Branch {
            id,
            name: b.name.clone(),
            created_by_id: b.created_by,
            created_at: b.created_at,
            merged: b.merged,
        }
    }

    pub fn record_obs(&self, user: u64, r: RecordRef) -> Obs {
        match r.kind {
            RecordType::Value => Obs::Value(self.vview(user, r.id)),
            RecordType::Feature => Obs::Feature(self.fview(r.id)),
            _ => Obs::Artifact(self.aview(r.id)),
        }
    }

    pub fn is_linked(&self, value: u64) -> bool {
        self.links.iter().any(|(v, _)| *v == value)
    }

    pub fn linked_to(&self, host: Host) -> Vec<u64> {
        self.links.iter().filter(|(_, h)| *h == host).map(|(v, _)| *v).collect()
    }

    /// The value with this dedup key: same feature, same typed value.
    pub fn find(&self, feature: Option<u64>, value: &Value) -> Option<u64> {
        let key = vkey(value);
        self.values.iter().find(|(_, v)| v.feature == feature && vkey(&v.value) == key).map(|(id, _)| *id)
    }
}
