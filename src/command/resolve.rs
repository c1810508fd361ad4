//! Naming records: by id or by name, with visibility applied (records in spaces the actor may
//! not read do not exist for them).

use crate::error::{err, Result};
use crate::event::Host;
use crate::permissions::require_run_owner;
use crate::state::{Artifact, BranchStatus, Feature, Run, State, ValueRec, ValueRecord, MAIN};
use crate::store::Context;
use crate::value::ValueHash;

/// A record named by id or by name (handle for users).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Ref {
    Id(i64),
    Name(String),
}

impl From<&str> for Ref {
    fn from(s: &str) -> Self {
        Ref::Name(s.to_string())
    }
}
impl From<String> for Ref {
    fn from(s: String) -> Self {
        Ref::Name(s)
    }
}
impl From<u64> for Ref {
    fn from(i: u64) -> Self {
        Ref::Id(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Ref {
    fn from(i: i64) -> Self {
        Ref::Id(i)
    }
}
impl From<i32> for Ref {
    fn from(i: i32) -> Self {
        Ref::Id(i.into())
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Id(i) => write!(f, "{i}"),
            Ref::Name(n) => write!(f, "'{n}'"),
        }
    }
}

fn uid(i: i64) -> u64 {
    u64::try_from(i).unwrap_or(0)
}

pub(crate) fn user(s: &State, r: &Ref) -> Result<u64> {
    let found = match r {
        Ref::Id(i) => s.users.get(&uid(*i)).map(|u| u.id),
        Ref::Name(h) => s.user_by_handle.get(&h.to_lowercase()).copied(),
    };
    found.ok_or_else(|| err!(DoesNotExist, "no user {r}"))
}

pub(crate) fn space(s: &State, r: &Ref) -> Result<u64> {
    let found = match r {
        Ref::Id(i) => s.spaces.get(&uid(*i)).map(|x| x.id),
        Ref::Name(n) => s.space_by_name.get(&n.to_lowercase()).copied(),
    };
    found.ok_or_else(|| err!(DoesNotExist, "no space {r}"))
}

pub(crate) fn branch(s: &State, r: &Ref) -> Result<i64> {
    let found = match r {
        Ref::Id(i) => s.branches.get(i).map(|b| b.id),
        Ref::Name(n) => s.branch_by_name.get(&n.to_lowercase()).copied(),
    };
    found.ok_or_else(|| err!(DoesNotExist, "no branch {r}"))
}

pub(crate) fn run(s: &State, id: u64) -> Result<&Run> {
    s.runs.get(&id).ok_or_else(|| err!(DoesNotExist, "no run {id}"))
}

/// A feature the actor may read.
pub(crate) fn feature<'s>(s: &'s State, user: u64, r: &Ref) -> Result<&'s Feature> {
    let f = match r {
        Ref::Id(i) => s.features.get(&uid(*i)),
        Ref::Name(n) => s.feature_by_name.get(n).and_then(|id| s.features.get(id)),
    };
    f.filter(|f| s.can_read(user, f.space_id)).ok_or_else(|| err!(DoesNotExist, "no feature {r}"))
}

/// An artifact the actor may read.
pub(crate) fn artifact(s: &State, user: u64, id: u64) -> Result<&Artifact> {
    s.artifacts.get(&id).filter(|a| s.can_read(user, a.space_id)).ok_or_else(|| err!(DoesNotExist, "no artifact {id}"))
}

/// A value the actor may read.
pub(crate) fn value(s: &State, user: u64, id: u64) -> Result<&ValueRec> {
    s.value(id).filter(|v| s.can_read(user, v.space())).ok_or_else(|| err!(DoesNotExist, "no value {id}"))
}

/// A host the actor may see.
pub(crate) fn host(s: &State, user: u64, h: Host) -> Result<()> {
    match h {
        Host::Artifact(id) => artifact(s, user, id).map(|_| ()),
        Host::Run(id) => run(s, id).map(|_| ()),
    }
}

/// The API view of a value: hosts the actor may not read are left out.
pub(crate) fn view(s: &State, user: u64, id: u64, v: &ValueRec) -> ValueRecord {
    let mut artifact_ids = Vec::new();
    let mut run_ids = Vec::new();
    for h in s.hosts_of(id) {
        match h {
            Host::Artifact(a) if s.artifacts.get(&a).is_some_and(|a| s.can_read(user, a.space_id)) => {
                artifact_ids.push(a)
            }
            Host::Run(r) => run_ids.push(r),
            Host::Artifact(_) => {}
        }
    }
    ValueRecord {
        id,
        feature_id: v.feature(),
        value: v.value(),
        hash: ValueHash(v.hash),
        branch_id: v.branch(),
        created_on_id: v.created_on(),
        space_id: v.space(),
        created_by_id: v.created_by(),
        run_id: v.run(),
        created_at: v.created_at,
        artifact_ids,
        run_ids,
    }
}

/// Checks the acting context: the user, space and run exist and the current branch is main
/// or an open user branch. For writes, the run must be the actor's (or the actor user 1) and
/// not finished.
pub(crate) fn context(s: &State, ctx: &Context, write: bool) -> Result<()> {
    if !s.users.contains_key(&ctx.user) {
        return Err(err!(DoesNotExist, "no user {} (acting user)", ctx.user));
    }
    if !s.spaces.contains_key(&ctx.space) {
        return Err(err!(DoesNotExist, "no space {} (current space)", ctx.space));
    }
    if ctx.branch != MAIN {
        match s.branches.get(&ctx.branch) {
            None => return Err(err!(DoesNotExist, "no branch {} (current branch)", ctx.branch)),
            Some(b) if b.id < 4 => {
                return Err(err!(
                    ValidationError,
                    "branch {} ({}) cannot be the current branch; use main (1) or an open user branch",
                    b.id,
                    b.name
                ))
            }
            Some(b) if b.status == BranchStatus::Merged => {
                return Err(err!(
                    ValidationError,
                    "branch {} ({}) is merged and can no longer be current",
                    b.id,
                    b.name
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(r) = ctx.run {
        let run = run(s, r)?;
        if write {
            require_run_owner(s, ctx.user, r, "act under this run")?;
            if run.finished_at.is_some() {
                return Err(err!(ValidationError, "run {r} is finished; no more writes under it"));
            }
        }
    }
    Ok(())
}
