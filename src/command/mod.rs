//! Commands: the checks of SPEC §1–6 and the events they draft. Each public method of
//! [`Session`] is one command and one atomic commit (or a read). Permissions and branch rules
//! are checked here, before an event exists.

mod edit;
mod registry;
mod resolve;
mod typed;
mod values;

pub use edit::{Outcome, Record};
pub use registry::FeatureSpec;
pub use resolve::Ref;
pub(crate) use resolve::{
    artifact as resolve_artifact, branch as resolve_branch, feature as resolve_feature, run as resolve_run,
    space as resolve_space, user as resolve_user, view,
};
pub use typed::{Answer, Command};

/// Checks the acting context for a read.
pub(crate) fn check_context(s: &crate::state::State, ctx: &Context) -> crate::error::Result<()> {
    resolve::context(s, ctx, false)
}

use crate::store::{Context, Store};

/// A store seen by one actor: a user, optionally a run, a current branch and a current space.
/// Cheap to clone; every call checks the context against the current state.
#[derive(Clone)]
pub struct Session {
    pub(crate) store: Store,
    pub(crate) ctx: Context,
}

impl Session {
    pub(crate) fn new(store: Store, ctx: Context) -> Session {
        Session { store, ctx }
    }

    /// The acting context.
    pub fn context(&self) -> Context {
        self.ctx
    }

    /// The store this session acts on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Acts under a run (only its creator or user 1 may write under it).
    pub fn with_run(mut self, run: u64) -> Session {
        self.ctx.run = Some(run);
        self
    }

    /// Acts on a current branch: 1 or an open user branch.
    pub fn on_branch(mut self, branch: i64) -> Session {
        self.ctx.branch = branch;
        self
    }

    /// Acts in a current space, where new records are created.
    pub fn in_space(mut self, space: u64) -> Session {
        self.ctx.space = space;
        self
    }
}
