//! Users, spaces and roles, branches and merges, runs, features, artifacts.

use super::resolve::{self, Ref};
use super::Session;
use crate::error::{err, Result};
use crate::event::{EventData, RecordRef, RecordType, Role};
use crate::permissions::{require_admin, require_run_owner, require_write};
use crate::state::{Artifact, Branch, BranchStatus, Feature, Grant, Run, Space, State, User};
use crate::value::{check_name, Dtype};

/// What `create_feature` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    pub name: String,
    pub dtype: String,
    pub nullable: bool,
    pub coerce: bool,
}

impl FeatureSpec {
    /// A nullable, non-coercing feature.
    pub fn new(name: impl Into<String>, dtype: impl Into<String>) -> FeatureSpec {
        FeatureSpec { name: name.into(), dtype: dtype.into(), nullable: true, coerce: false }
    }
    pub fn nullable(mut self, yes: bool) -> Self {
        self.nullable = yes;
        self
    }
    pub fn coerce(mut self, yes: bool) -> Self {
        self.coerce = yes;
        self
    }
}

/// Longest artifact key: keys are paths, so they get more room than names.
const MAX_KEY_CHARS: usize = 1024;

fn rec(kind: RecordType, id: u64) -> RecordRef {
    RecordRef { kind, id }
}

impl Session {
    /// Creates a user. Handles are unique ignoring case.
    pub fn create_user(&self, handle: &str) -> Result<User> {
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                check_name("a user handle", handle, &limits)?;
                if let Some(id) = s.user_by_handle.get(&handle.to_lowercase()) {
                    return Err(err!(IntegrityError, "a user with handle '{handle}' already exists (user {id})"));
                }
                let id = s.next_user;
                d.push(rec(RecordType::User, id), EventData::CreateUser { handle: handle.to_string() });
                Ok(id)
            },
            |s, id| s.users.get(&id).cloned().ok_or_else(|| err!(DoesNotExist, "no user {id}")),
        )
    }

    /// Creates a space; its creator becomes its admin.
    pub fn create_space(&self, name: &str) -> Result<Space> {
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                check_name("a space name", name, &limits)?;
                if let Some(id) = s.space_by_name.get(&name.to_lowercase()) {
                    return Err(err!(IntegrityError, "a space named '{name}' already exists (space {id})"));
                }
                let id = s.next_space;
                d.push(rec(RecordType::Space, id), EventData::CreateSpace { name: name.to_string() });
                Ok(id)
            },
            |s, id| s.spaces.get(&id).cloned().ok_or_else(|| err!(DoesNotExist, "no space {id}")),
        )
    }

    /// Grants `role` in a space to a user; `None` removes their role. Only the space's admins
    /// may; removing or demoting its last admin is refused.
    pub fn grant(&self, space: impl Into<Ref>, user: impl Into<Ref>, role: Option<Role>) -> Result<Grant> {
        let (space, user) = (space.into(), user.into());
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let sp = resolve::space(s, &space)?;
                let u = resolve::user(s, &user)?;
                require_admin(s, self.ctx.user, sp, "grant roles")?;
                let current = s.roles.get(&(sp, u)).copied();
                if current == Some(Role::Admin) && role != Some(Role::Admin) {
                    let admins = s.roles.iter().filter(|((x, _), r)| *x == sp && **r == Role::Admin).count();
                    if admins <= 1 {
                        return Err(err!(
                            ValidationError,
                            "user {u} is the last admin of space {sp}; grant admin to someone else first"
                        ));
                    }
                }
                if current != role {
                    d.push(rec(RecordType::Space, sp), EventData::Grant { user: u, role });
                }
                Ok(Grant { space_id: sp, user_id: u, role })
            },
            |_, g| Ok(g),
        )
    }

    /// Creates a user branch (a draft), open, with an id from 4 upward.
    pub fn create_branch(&self, name: &str) -> Result<Branch> {
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                check_name("a branch name", name, &limits)?;
                if name.eq_ignore_ascii_case("all") {
                    return Err(err!(
                        ValidationError,
                        "'all' is not a valid branch name (it means every branch in filters)"
                    ));
                }
                if let Some(id) = s.branch_by_name.get(&name.to_lowercase()) {
                    return Err(err!(IntegrityError, "a branch named '{name}' already exists (branch {id})"));
                }
                let id = s.next_branch;
                d.push(rec(RecordType::Branch, id.unsigned_abs()), EventData::CreateBranch { name: name.to_string() });
                Ok(id)
            },
            |s, id| s.branches.get(&id).cloned().ok_or_else(|| err!(DoesNotExist, "no branch {id}")),
        )
    }

    /// Merges a user branch: every feature, artifact and value on it moves to main in one
    /// `merge` event, and the branch is marked merged. Returns how many records moved.
    pub fn merge_branch(&self, branch: impl Into<Ref>) -> Result<usize> {
        let branch = branch.into();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let b = resolve::branch(s, &branch)?;
                let row = s.branches.get(&b).ok_or_else(|| err!(DoesNotExist, "no branch {b}"))?;
                if b < 4 {
                    return Err(err!(
                        ValidationError,
                        "branch {b} ({}) is not a user branch; only user branches are merged",
                        row.name
                    ));
                }
                if row.status == BranchStatus::Merged {
                    return Err(err!(ValidationError, "branch {b} ({}) is already merged", row.name));
                }
                if self.ctx.user != 1 && self.ctx.user != row.created_by_id {
                    return Err(err!(
                        PermissionDenied,
                        "only the creator of branch {b} (user {}) or user 1 may merge it",
                        row.created_by_id
                    ));
                }
                let moved = records_on(s, b);
                let n = moved.len();
                d.push(rec(RecordType::Branch, b.unsigned_abs()), EventData::Merge { moved });
                Ok(n)
            },
            |_, n| Ok(n),
        )
    }

    /// Starts a run owned by the actor.
    pub fn start_run(&self, name: &str) -> Result<Run> {
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                check_name("a run name", name, &limits)?;
                let id = s.next_run;
                d.push(rec(RecordType::Run, id), EventData::CreateRun { name: name.to_string() });
                Ok(id)
            },
            |s, id| resolve::run(s, id).cloned(),
        )
    }

    /// Finishes a run: no more writes under it.
    pub fn finish_run(&self, run: u64) -> Result<Run> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let r = resolve::run(s, run)?;
                require_run_owner(s, self.ctx.user, run, "finish this run")?;
                if r.finished_at.is_some() {
                    return Err(err!(ValidationError, "run {run} is already finished"));
                }
                d.push(rec(RecordType::Run, run), EventData::RunFinish);
                Ok(())
            },
            |s, ()| resolve::run(s, run).cloned(),
        )
    }

    /// Creates a feature, or returns the one with the same name and dtype.
    pub fn create_feature(&self, spec: &FeatureSpec) -> Result<Feature> {
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                let name = &spec.name;
                let dtype = Dtype::parse(&spec.dtype)?;
                if let Some(id) = s.feature_by_name.get(name) {
                    let f = s.features.get(id).ok_or_else(|| err!(DoesNotExist, "no feature {id}"))?;
                    resolve::context(s, &self.ctx, false)?;
                    if !s.can_read(self.ctx.user, f.space_id) {
                        return Err(err!(
                            PermissionDenied,
                            "a feature named '{name}' already exists in a space you cannot read"
                        ));
                    }
                    if f.dtype != dtype {
                        return Err(err!(
                            ValidationError,
                            "feature '{name}' already exists with dtype {}; it cannot also have dtype {dtype}",
                            f.dtype
                        ));
                    }
                    return Ok(f.id);
                }
                resolve::context(s, &self.ctx, true)?;
                check_name("a feature name", name, &limits)?;
                if name.contains("__") {
                    return Err(err!(ValidationError, "feature name '{name}' may not contain '__' (it separates a feature from an operator in filters)"));
                }
                require_write(s, self.ctx.user, self.ctx.space, "create a feature here")?;
                let id = s.next_feature;
                d.push(
                    rec(RecordType::Feature, id),
                    EventData::CreateFeature {
                        name: name.clone(),
                        dtype,
                        nullable: spec.nullable,
                        coerce: spec.coerce,
                        branch: self.ctx.branch,
                        space: self.ctx.space,
                    },
                );
                Ok(id)
            },
            |s, id| s.features.get(&id).cloned().ok_or_else(|| err!(DoesNotExist, "no feature {id}")),
        )
    }

    /// Creates an artifact on the current branch in the current space. Keys need not be unique.
    pub fn create_artifact(&self, key: &str) -> Result<Artifact> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let n = key.chars().count();
                if n == 0 || n > MAX_KEY_CHARS {
                    return Err(err!(
                        ValidationError,
                        "an artifact key must be 1 to {MAX_KEY_CHARS} characters long; got {n}"
                    ));
                }
                require_write(s, self.ctx.user, self.ctx.space, "create an artifact here")?;
                let id = s.next_artifact;
                d.push(
                    rec(RecordType::Artifact, id),
                    EventData::CreateArtifact { key: key.to_string(), branch: self.ctx.branch, space: self.ctx.space },
                );
                Ok(id)
            },
            |s, id| s.artifacts.get(&id).cloned().ok_or_else(|| err!(DoesNotExist, "no artifact {id}")),
        )
    }

    /// Every user, by id.
    pub fn users(&self) -> Result<Vec<User>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            Ok(s.users.values().cloned().collect())
        })
    }

    /// Every space, by id.
    pub fn spaces(&self) -> Result<Vec<Space>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            Ok(s.spaces.values().cloned().collect())
        })
    }

    /// Every branch (built-in and user), by id.
    pub fn branches(&self) -> Result<Vec<Branch>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            Ok(s.branches.values().cloned().collect())
        })
    }

    /// Every run, by id.
    pub fn runs(&self) -> Result<Vec<Run>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            Ok(s.runs.values().cloned().collect())
        })
    }

    /// Features the actor may read on the given branches (default: main, locked and the
    /// current user branch), by id.
    pub fn features(&self, branches: &crate::query::BranchSel) -> Result<Vec<Feature>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            let allowed = branches.resolve(s, &self.ctx)?;
            Ok(s.features
                .values()
                .filter(|f| s.can_read(self.ctx.user, f.space_id) && allowed.contains(f.branch_id))
                .cloned()
                .collect())
        })
    }

    /// Artifacts the actor may read on the given branches, by id.
    pub fn artifacts(&self, branches: &crate::query::BranchSel) -> Result<Vec<Artifact>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            let allowed = branches.resolve(s, &self.ctx)?;
            Ok(s.artifacts
                .values()
                .filter(|a| s.can_read(self.ctx.user, a.space_id) && allowed.contains(a.branch_id))
                .cloned()
                .collect())
        })
    }
}

/// Every feature, artifact and value on branch `b`, in a stable order.
fn records_on(s: &State, b: i64) -> Vec<RecordRef> {
    let mut out: Vec<RecordRef> = Vec::new();
    out.extend(s.features.values().filter(|f| f.branch_id == b).map(|f| rec(RecordType::Feature, f.id)));
    out.extend(s.artifacts.values().filter(|a| a.branch_id == b).map(|a| rec(RecordType::Artifact, a.id)));
    if let Some(ids) = s.by_branch.get(&b) {
        out.extend(ids.iter().map(|id| rec(RecordType::Value, id)));
    }
    out
}
