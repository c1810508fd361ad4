//! Checks on events read from a log or an export: each is stamped at least 1 ms after the one
//! before, every record it names exists when it is folded, and no event leaves a reference
//! dangling (a link to a deleted host, a value of a deleted feature). Commands check all
//! of this before they draft (SPEC §8, validation before append), so only a damaged or forged
//! log fails here; events drafted against this very state skip it (`fold_live`). Permissions
//! and the other rules of SPEC §5 are the commands' to check; a log is replayed as written,
//! and no log an earlier engine wrote may stop opening: the repeats and the run deletion the
//! engines before `670dd13` (the project's first hour) could draft are left to the commands.

use super::fold::FoldError;
use super::{BranchStatus, State, MAIN};
use crate::event::{Event, EventData, Host, RecordType};

impl State {
    /// Checks `e` against the state it is about to be folded into.
    pub(super) fn check_refs(&self, e: &Event) -> Result<(), FoldError> {
        // SPEC §8: timestamps never go backwards, each at least 1 ms after the one before
        // (saturating, as the stamping does, so a clock stuck at the end of time still opens).
        // Every engine since the first commit stamped so; `seq_at_time` relies on it.
        if self.seq > 0 && e.at < self.last_at.saturating_add(1000) {
            return Err(format!(
                "event is stamped at {} µs, less than 1 ms after the event before it ({} µs)",
                e.at, self.last_at
            ));
        }
        if !self.users.contains_key(&e.actor) {
            return Err(format!("event acts as user {}, which does not exist", e.actor));
        }
        if let Some(run) = e.run {
            if !self.runs.contains_key(&run) {
                return Err(format!("event is made under run {run}, which does not exist"));
            }
        }
        let id = e.record.id;
        match &e.data {
            EventData::CreateUser { .. }
            | EventData::CreateSpace { .. }
            | EventData::CreateBranch { .. }
            | EventData::CreateRun { .. } => Ok(()),
            EventData::CreateFeature { branch, space, .. } | EventData::CreateArtifact { branch, space, .. } => {
                self.check_placement(*branch, *space)
            }
            EventData::CreateValue { feature, branch, space, .. } => {
                if let Some(f) = feature {
                    if !self.features.contains_key(f) {
                        return Err(format!("value {id} is created for feature {f}, which does not exist"));
                    }
                }
                self.check_placement(*branch, *space)
            }
            // Its `from` is not checked: before `670dd13` a value named twice in `add_values` was
            // restored from trash twice in one commit, the second time "from" trash again.
            EventData::BranchChange { to, .. } => {
                if !self.branches.contains_key(to) {
                    return Err(format!("branch change to branch {to}, which does not exist"));
                }
                Ok(())
            }
            EventData::SpaceChange { from, to } => {
                if !self.spaces.contains_key(to) {
                    return Err(format!("space change to space {to}, which does not exist"));
                }
                let now = match e.record.kind {
                    RecordType::Feature => self.features.get(&id).map(|f| f.space_id),
                    RecordType::Artifact => self.artifacts.get(&id).map(|a| a.space_id),
                    RecordType::Value => self.value(id).map(|v| v.space()),
                    _ => None,
                };
                match now {
                    Some(now) if now != *from => Err(format!(
                        "space change of {} {id} from space {from}, but it is in space {now}",
                        e.record.kind.as_str()
                    )),
                    // A missing record is the fold's to report.
                    _ => Ok(()),
                }
            }
            // A link of a linked pair replaces its metadata and an unlink of an unlinked one does
            // nothing, as they always have: before `670dd13` a value named twice in `add_values`
            // was linked twice, and a feature named twice in `set_values` unlinked the host's
            // other values twice.
            EventData::Link { host } => self.check_host(*host),
            EventData::Unlink { .. } => Ok(()),
            EventData::Delete => self.check_delete(e.record.kind, id),
            EventData::Merge { moved } => {
                let b = i64::try_from(id).map_err(|_| format!("branch id {id} out of range"))?;
                match self.branches.get(&b) {
                    Some(row) if b >= 4 && row.status == BranchStatus::Open => {}
                    Some(row) => {
                        return Err(format!("merge of branch {b} ({}), which is not an open user branch", row.name))
                    }
                    // A missing branch is the fold's to report.
                    None => return Ok(()),
                }
                moved.iter().try_for_each(|r| self.check_now_on(r.kind, r.id, b))
            }
            EventData::Grant { user, .. } => {
                if !self.spaces.contains_key(&id) {
                    return Err(format!("grant in space {id}, which does not exist"));
                }
                if !self.users.contains_key(user) {
                    return Err(format!("grant to user {user}, which does not exist"));
                }
                Ok(())
            }
            EventData::RunFinish => match self.runs.get(&id) {
                Some(r) if r.finished_at.is_some() => Err(format!("run {id} is finished a second time")),
                _ => Ok(()),
            },
        }
    }

    /// A new record is placed on main or an open user branch, in a space that exists.
    fn check_placement(&self, branch: i64, space: u64) -> Result<(), FoldError> {
        let usable = branch == MAIN
            || (branch >= 4 && self.branches.get(&branch).is_some_and(|b| b.status == BranchStatus::Open));
        if !usable {
            return Err(format!("record created on branch {branch}, which is not main or an open user branch"));
        }
        if !self.spaces.contains_key(&space) {
            return Err(format!("record created in space {space}, which does not exist"));
        }
        Ok(())
    }

    /// The record is on branch `from` (a missing record is the fold's to report).
    fn check_now_on(&self, kind: RecordType, id: u64, from: i64) -> Result<(), FoldError> {
        let now = match kind {
            RecordType::Feature => self.features.get(&id).map(|f| f.branch_id),
            RecordType::Artifact => self.artifacts.get(&id).map(|a| a.branch_id),
            RecordType::Value => self.value(id).map(|v| v.branch()),
            _ => None,
        };
        match now {
            Some(now) if now != from => {
                Err(format!("{} {id} is moved from branch {from}, but it is on branch {now}", kind.as_str()))
            }
            _ => Ok(()),
        }
    }

    fn check_host(&self, host: Host) -> Result<(), FoldError> {
        let exists = match host {
            Host::Artifact(a) => self.artifacts.contains_key(&a),
            Host::Run(r) => self.runs.contains_key(&r),
        };
        if exists {
            Ok(())
        } else {
            Err(format!("link to {}, which does not exist", host_name(host)))
        }
    }

    /// Nothing may refer to a record once it is deleted: a host's links go first, a feature's
    /// values go first. (That a run records were created under is never deleted is the
    /// commands' rule since `670dd13`: engines before it deleted such a run once its records
    /// were gone, and their logs must still open; a record's `run_id` outlives its run there.)
    fn check_delete(&self, kind: RecordType, id: u64) -> Result<(), FoldError> {
        let host = match kind {
            RecordType::Artifact => Host::Artifact(id),
            RecordType::Run => Host::Run(id),
            RecordType::Feature => {
                if self.feature_has_values(id) {
                    return Err(format!("feature {id} is deleted, but values of it remain"));
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        if let Some(v) = self.links.values_of(host).next() {
            return Err(format!("{} is deleted, but value {v} is still linked to it", host_name(host)));
        }
        Ok(())
    }
}

fn host_name(host: Host) -> String {
    match host {
        Host::Artifact(a) => format!("artifact {a}"),
        Host::Run(r) => format!("run {r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordRef;
    use crate::value::{Dtype, Value};

    fn event(seq: u64, kind: RecordType, id: u64, data: EventData) -> Event {
        Event {
            seq,
            at: seq as i64 * 1000,
            actor: 1,
            run: None,
            record: RecordRef { kind, id },
            data,
            prev: [0; 32],
            hash: [0; 32],
        }
    }

    /// With the value indexes kept (a replay after a snapshot) and deferred (a replay from the
    /// first event, an import), a feature is deleted only once its values are gone.
    #[test]
    fn a_feature_is_deleted_only_without_values_whether_indexes_are_deferred_or_not() -> Result<(), FoldError> {
        for deferred in [false, true] {
            let mut s = State::new();
            if deferred {
                s.begin_replay();
            }
            assert_eq!(s.defer_indexes, deferred);
            let feature = EventData::CreateFeature {
                name: "n".into(),
                dtype: Dtype::Int,
                nullable: true,
                coerce: false,
                branch: 1,
                space: 1,
            };
            s.fold(&event(1, RecordType::Feature, 1, feature))?;
            let value = crate::codec::canonical(&Value::Int(7));
            let hash = *blake3::hash(&value).as_bytes();
            let create = EventData::CreateValue { feature: Some(1), value, hash, branch: 1, space: 1 };
            s.fold(&event(2, RecordType::Value, 1, create))?;
            let early = s.fold(&event(3, RecordType::Feature, 1, EventData::Delete));
            assert!(early.is_err_and(|why| why.contains("values of it remain")), "deferred: {deferred}");
            s.fold(&event(3, RecordType::Value, 1, EventData::Delete))?;
            s.fold(&event(4, RecordType::Feature, 1, EventData::Delete))?;
            assert!(!s.features.contains_key(&1));
        }
        Ok(())
    }
}
