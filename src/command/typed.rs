//! Every call of the session API as data: [`Command`] names one call and its arguments,
//! [`Command::run`] makes it on a [`Session`], and [`Answer`] holds what it returned. With the
//! `arbitrary` cargo feature these types (and [`Value`], [`Ref`], [`Host`], [`RecordRef`],
//! [`Role`], [`Context`]) derive `arbitrary::Arbitrary`, so a user's fuzz target can turn its
//! input bytes into calls (see `fuzz/fuzz_targets/commands.rs` and docs/TESTING.md).

use super::{FeatureSpec, Outcome, Record, Ref, Session};
use crate::audit::Verification;
use crate::error::Result;
use crate::event::{Event, Host, RecordRef, Role};
use crate::query::{BranchSel, Query};
use crate::state::{Artifact, Branch, Feature, Grant, Run, Space, User, ValueRecord};
use crate::value::Value;
use std::collections::BTreeMap;

/// One call of the [`Session`] API.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    CreateUser {
        handle: String,
    },
    CreateSpace {
        name: String,
    },
    Grant {
        space: Ref,
        user: Ref,
        role: Option<Role>,
    },
    CreateBranch {
        name: String,
    },
    MergeBranch {
        branch: Ref,
    },
    StartRun {
        name: String,
    },
    FinishRun {
        run: u64,
    },
    CreateFeature {
        name: String,
        dtype: String,
        nullable: bool,
        coerce: bool,
    },
    CreateArtifact {
        key: String,
    },
    GetOrCreate {
        feature: Option<Ref>,
        value: Value,
    },
    Get {
        id: u64,
    },
    Link {
        value: u64,
        host: Host,
    },
    Unlink {
        value: u64,
        host: Host,
    },
    AddValues {
        host: Host,
        values: Vec<(String, Value)>,
    },
    SetValues {
        host: Host,
        values: Vec<(String, Value)>,
    },
    RemoveValues {
        host: Host,
        feature: Ref,
    },
    GetValues {
        host: Host,
    },
    Delete {
        target: RecordRef,
        permanent: bool,
    },
    DeleteFeature {
        feature: Ref,
        permanent: bool,
    },
    Restore {
        target: RecordRef,
    },
    SetBranch {
        target: RecordRef,
        branch: Ref,
    },
    MoveSpace {
        target: RecordRef,
        space: Ref,
    },
    /// `filter` with these lookups (ANDed), an optional `order_by` and `limit`.
    Filter {
        lookups: Vec<(String, Value)>,
        order_by: Option<String>,
        limit: Option<u16>,
    },
    Count {
        lookups: Vec<(String, Value)>,
    },
    GetWhere {
        lookups: Vec<(String, Value)>,
    },
    FilterArtifacts {
        lookups: Vec<(String, Value)>,
    },
    FilterRuns {
        lookups: Vec<(String, Value)>,
    },
    /// `features` / `artifacts` on the default branches, or on all of them.
    Features {
        all_branches: bool,
    },
    Artifacts {
        all_branches: bool,
    },
    Users,
    Spaces,
    Branches,
    Runs,
    History {
        target: RecordRef,
    },
    Log {
        from: u64,
        to: u64,
    },
    Verify,
}

/// What a [`Command`] returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    User(User),
    Space(Space),
    Grant(Grant),
    Branch(Branch),
    Run(Run),
    Feature(Feature),
    Artifact(Artifact),
    Value(ValueRecord),
    /// get_or_create: the record and whether it existed.
    GetOrCreate(ValueRecord, bool),
    Values(Vec<ValueRecord>),
    PerFeature(BTreeMap<String, Vec<Value>>),
    Outcome(Outcome),
    FeatureOutcome(u64, Outcome),
    Record(Record),
    Count(usize),
    Users(Vec<User>),
    Spaces(Vec<Space>),
    Branches(Vec<Branch>),
    Runs(Vec<Run>),
    Features(Vec<Feature>),
    Artifacts(Vec<Artifact>),
    Events(Vec<Event>),
    Verification(Verification),
}

fn query(lookups: &[(String, Value)]) -> Query {
    lookups.iter().fold(Query::new(), |q, (k, v)| q.filter(k, v.clone()))
}

fn branches(all: bool) -> BranchSel {
    if all {
        BranchSel::All
    } else {
        BranchSel::Default
    }
}

impl Command {
    /// Makes the call on `s`. Mutations are atomic: an error means nothing was written.
    pub fn run(&self, s: &Session) -> Result<Answer> {
        use Answer as A;
        Ok(match self {
            Command::CreateUser { handle } => A::User(s.create_user(handle)?),
            Command::CreateSpace { name } => A::Space(s.create_space(name)?),
            Command::Grant { space, user, role } => A::Grant(s.grant(space.clone(), user.clone(), *role)?),
            Command::CreateBranch { name } => A::Branch(s.create_branch(name)?),
            Command::MergeBranch { branch } => A::Count(s.merge_branch(branch.clone())?),
            Command::StartRun { name } => A::Run(s.start_run(name)?),
            Command::FinishRun { run } => A::Run(s.finish_run(*run)?),
            Command::CreateFeature { name, dtype, nullable, coerce } => {
                A::Feature(s.create_feature(&FeatureSpec::new(name, dtype).nullable(*nullable).coerce(*coerce))?)
            }
            Command::CreateArtifact { key } => A::Artifact(s.create_artifact(key)?),
            Command::GetOrCreate { feature, value } => {
                let (rec, existed) = s.get_or_create(feature.clone(), value.clone())?;
                A::GetOrCreate(rec, existed)
            }
            Command::Get { id } => A::Value(s.get(*id)?),
            Command::Link { value, host } => A::Value(s.link(*value, *host)?),
            Command::Unlink { value, host } => A::Value(s.unlink(*value, *host)?),
            Command::AddValues { host, values } => A::Values(s.add_values(*host, values)?),
            Command::SetValues { host, values } => A::Values(s.set_values(*host, values)?),
            Command::RemoveValues { host, feature } => A::Count(s.remove_values(*host, feature.clone())?),
            Command::GetValues { host } => A::PerFeature(s.get_values(*host)?),
            Command::Delete { target, permanent } => A::Outcome(s.delete(*target, *permanent)?),
            Command::DeleteFeature { feature, permanent } => {
                let (id, outcome) = s.delete_feature(feature.clone(), *permanent)?;
                A::FeatureOutcome(id, outcome)
            }
            Command::Restore { target } => A::Record(s.restore(*target)?),
            Command::SetBranch { target, branch } => A::Record(s.set_branch(*target, branch.clone())?),
            Command::MoveSpace { target, space } => A::Record(s.move_space(*target, space.clone())?),
            Command::Filter { lookups, order_by, limit } => {
                let mut q = query(lookups);
                if let Some(o) = order_by {
                    q = q.order_by(o);
                }
                if let Some(n) = limit {
                    q = q.limit(usize::from(*n));
                }
                A::Values(s.filter(&q)?)
            }
            Command::Count { lookups } => A::Count(s.count(&query(lookups))?),
            Command::GetWhere { lookups } => A::Value(s.get_where(&query(lookups))?),
            Command::FilterArtifacts { lookups } => A::Artifacts(s.filter_artifacts(lookups)?),
            Command::FilterRuns { lookups } => A::Runs(s.filter_runs(lookups)?),
            Command::Features { all_branches } => A::Features(s.features(&branches(*all_branches))?),
            Command::Artifacts { all_branches } => A::Artifacts(s.artifacts(&branches(*all_branches))?),
            Command::Users => A::Users(s.users()?),
            Command::Spaces => A::Spaces(s.spaces()?),
            Command::Branches => A::Branches(s.branches()?),
            Command::Runs => A::Runs(s.runs()?),
            Command::History { target } => A::Events(s.history(*target)?),
            Command::Log { from, to } => A::Events(s.log(*from, *to)?),
            Command::Verify => A::Verification(s.store().verify()?),
        })
    }

    /// Does this command write (append events when it succeeds)?
    pub fn is_mutation(&self) -> bool {
        !matches!(
            self,
            Command::Get { .. }
                | Command::GetValues { .. }
                | Command::Filter { .. }
                | Command::Count { .. }
                | Command::GetWhere { .. }
                | Command::FilterArtifacts { .. }
                | Command::FilterRuns { .. }
                | Command::Features { .. }
                | Command::Artifacts { .. }
                | Command::Users
                | Command::Spaces
                | Command::Branches
                | Command::Runs
                | Command::History { .. }
                | Command::Log { .. }
                | Command::Verify
        )
    }
}
