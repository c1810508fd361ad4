//! Edits of features, artifacts and values (trash, permanent delete, restore, branch and space
//! moves) and the deletion of runs, by the table of SPEC §5.

use super::resolve::{self, Ref};
use super::Session;
use crate::error::{err, Result};
use crate::event::{EventData, Host, RecordRef, RecordType};
use crate::permissions::{check_edit, require_run_owner, require_write, Edit};
use crate::state::{Artifact, BranchStatus, Feature, State, ValueRecord, ARCHIVE, LOCKED, MAIN, TEMPLATE, TRASH};
use crate::store::Draft;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Trashed,
    AlreadyInTrash,
    Deleted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Trashed => "trashed",
            Outcome::AlreadyInTrash => "already_in_trash",
            Outcome::Deleted => "deleted",
        }
    }
}

/// A feature, artifact or value, as an edit returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Value(ValueRecord),
    Feature(Feature),
    Artifact(Artifact),
}

/// Where an editable record is.
struct Place {
    branch: i64,
    space: u64,
    label: String,
}

fn place(s: &State, user: u64, r: RecordRef) -> Result<Place> {
    match r.kind {
        RecordType::Value => {
            let v = resolve::value(s, user, r.id)?;
            Ok(Place { branch: v.branch(), space: v.space(), label: format!("value {}", r.id) })
        }
        RecordType::Feature => {
            let f = resolve::feature(s, user, &Ref::from(r.id))?;
            Ok(Place { branch: f.branch_id, space: f.space_id, label: format!("feature '{}'", f.name) })
        }
        RecordType::Artifact => {
            let a = resolve::artifact(s, user, r.id)?;
            Ok(Place { branch: a.branch_id, space: a.space_id, label: format!("artifact {}", r.id) })
        }
        other => Err(err!(
            ValidationError,
            "a {} has no branch or space to edit; use a value, feature or artifact",
            other.as_str()
        )),
    }
}

fn record(s: &State, user: u64, r: RecordRef) -> Result<Record> {
    Ok(match r.kind {
        RecordType::Value => Record::Value(resolve::view(s, user, r.id, resolve::value(s, user, r.id)?)),
        RecordType::Feature => Record::Feature(resolve::feature(s, user, &Ref::from(r.id))?.clone()),
        _ => Record::Artifact(resolve::artifact(s, user, r.id)?.clone()),
    })
}

impl Session {
    /// Trashes a record, or with `permanent` removes it for good (SPEC §5). Works on values,
    /// features (cascading to their values) and artifacts (dropping their links).
    pub fn delete(&self, r: RecordRef, permanent: bool) -> Result<Outcome> {
        if r.kind == RecordType::Run {
            return self.delete_run(r.id, permanent);
        }
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let p = place(s, self.ctx.user, r)?;
                if !permanent {
                    if !check_edit(s, self.ctx.user, &p.label, p.branch, p.space, Edit::Trash)? {
                        return Ok(Outcome::AlreadyInTrash);
                    }
                    d.push(r, EventData::BranchChange { from: p.branch, to: TRASH });
                    return Ok(Outcome::Trashed);
                }
                check_edit(s, self.ctx.user, &p.label, p.branch, p.space, Edit::Purge)?;
                match r.kind {
                    RecordType::Value => {
                        if s.is_linked(r.id) {
                            return Err(err!(ProtectedError, "value {} is still linked; unlink it first", r.id));
                        }
                    }
                    RecordType::Feature => self.cascade_feature(s, d, r.id, &p.label)?,
                    _ => {
                        for v in s.values_of(Host::Artifact(r.id)).collect::<Vec<_>>() {
                            d.push(
                                RecordRef { kind: RecordType::Value, id: v },
                                EventData::Unlink { host: Host::Artifact(r.id) },
                            );
                        }
                    }
                }
                d.push(r, EventData::Delete);
                Ok(Outcome::Deleted)
            },
            |_, o| Ok(o),
        )
    }

    /// Drafts the removal of every value of a feature; refuses if any is linked or the actor may
    /// not delete it permanently.
    fn cascade_feature(&self, s: &State, d: &mut Draft, fid: u64, label: &str) -> Result<()> {
        let mut sorted: Vec<u64> = s.by_feature.get(&Some(fid)).map(|set| set.ids().collect()).unwrap_or_default();
        sorted.sort_unstable();
        // A value the actor may not read does not exist for them (SPEC §5): errors about one
        // name neither it nor its space.
        let readable = |id: u64| s.value(id).is_some_and(|v| s.can_read(self.ctx.user, v.space()));
        if let Some(linked) = sorted.iter().find(|id| s.is_linked(**id)) {
            return Err(match readable(*linked) {
                true => {
                    err!(ProtectedError, "cannot delete {label}: its value {linked} is still linked; unlink it first")
                }
                false => err!(
                    ProtectedError,
                    "cannot delete {label}: one of its values, in a space you cannot read, is still linked"
                ),
            });
        }
        for id in &sorted {
            let v = s.value(*id).ok_or_else(|| err!(DoesNotExist, "no value {id}"))?;
            if !readable(*id) {
                return Err(err!(
                    PermissionDenied,
                    "cannot delete {label} for good: some of its values are in spaces you cannot read"
                ));
            }
            check_edit(s, self.ctx.user, &format!("value {id} of {label}"), v.branch(), v.space(), Edit::Purge)?;
        }
        for id in sorted {
            d.push(RecordRef { kind: RecordType::Value, id }, EventData::Delete);
        }
        Ok(())
    }

    /// Deletes a feature by name or id (`permanent` also removes its values).
    pub fn delete_feature(&self, feature: impl Into<Ref>, permanent: bool) -> Result<(u64, Outcome)> {
        let feature = feature.into();
        let id = self.store.read(|s| resolve::feature(s, self.ctx.user, &feature).map(|f| f.id))?;
        Ok((id, self.delete(RecordRef { kind: RecordType::Feature, id }, permanent)?))
    }

    /// Deletes an artifact (`permanent` also removes its links; the values survive).
    pub fn delete_artifact(&self, artifact: u64, permanent: bool) -> Result<Outcome> {
        self.delete(RecordRef { kind: RecordType::Artifact, id: artifact }, permanent)
    }

    /// Deletes a run for good. Runs have no trash; a run with records created under it is
    /// protected. Its links are removed; the values survive.
    pub fn delete_run(&self, run: u64, permanent: bool) -> Result<Outcome> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                resolve::run(s, run)?;
                if !permanent {
                    return Err(err!(ValidationError, "runs have no trash; delete run {run} with permanent=true"));
                }
                require_run_owner(s, self.ctx.user, run, "delete this run")?;
                if s.run_has_records(run) {
                    return Err(err!(ProtectedError, "run {run} has records created under it; its provenance is kept"));
                }
                for v in s.values_of(Host::Run(run)).collect::<Vec<_>>() {
                    d.push(RecordRef { kind: RecordType::Value, id: v }, EventData::Unlink { host: Host::Run(run) });
                }
                d.push(RecordRef { kind: RecordType::Run, id: run }, EventData::Delete);
                Ok(Outcome::Deleted)
            },
            |_, o| Ok(o),
        )
    }

    /// Moves a record back to main from trash, locked, template or archive.
    pub fn restore(&self, r: RecordRef) -> Result<Record> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let p = place(s, self.ctx.user, r)?;
                check_edit(s, self.ctx.user, &p.label, p.branch, p.space, Edit::Restore)?;
                d.push(r, EventData::BranchChange { from: p.branch, to: MAIN });
                Ok(())
            },
            |s, ()| record(s, self.ctx.user, r),
        )
    }

    /// Moves a record to another branch state or into an open user branch.
    pub fn set_branch(&self, r: RecordRef, branch: impl Into<Ref>) -> Result<Record> {
        let branch = branch.into();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let p = place(s, self.ctx.user, r)?;
                let to = resolve::branch(s, &branch)?;
                if to == p.branch {
                    return Ok(());
                }
                let edit = match to {
                    MAIN => Edit::Restore,
                    TRASH => Edit::Trash,
                    ARCHIVE | LOCKED | TEMPLATE => Edit::SetState,
                    _ => {
                        let row = s.branches.get(&to).ok_or_else(|| err!(DoesNotExist, "no branch {to}"))?;
                        if row.status == BranchStatus::Merged {
                            return Err(err!(
                                ValidationError,
                                "branch {to} ({}) is merged; nothing moves into it",
                                row.name
                            ));
                        }
                        Edit::ToDraft
                    }
                };
                if check_edit(s, self.ctx.user, &p.label, p.branch, p.space, edit)? {
                    d.push(r, EventData::BranchChange { from: p.branch, to });
                }
                Ok(())
            },
            |s, ()| record(s, self.ctx.user, r),
        )
    }

    /// Moves a record to another space (write needed there too).
    pub fn move_space(&self, r: RecordRef, space: impl Into<Ref>) -> Result<Record> {
        let space = space.into();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let p = place(s, self.ctx.user, r)?;
                let to = resolve::space(s, &space)?;
                if to == p.space {
                    return Ok(());
                }
                check_edit(s, self.ctx.user, &p.label, p.branch, p.space, Edit::Move)?;
                require_write(s, self.ctx.user, to, &format!("move {} into space {to}", p.label))?;
                d.push(r, EventData::SpaceChange { from: p.space, to });
                Ok(())
            },
            |s, ()| record(s, self.ctx.user, r),
        )
    }
}
