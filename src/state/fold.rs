//! The fold: applies one event to the state. It is pure (no I/O, no clock, no randomness) and
//! never fails on an event the command layer produced; an `Err` means the log holds an event
//! that does not fit the state, i.e. the stored log (or an imported export) is damaged or
//! forged. Events read from a log or an export are first checked for the records they name
//! (`refs`).

use super::id_set::IdSet;
use super::links::LinkMeta;
use super::records::*;
use super::NewValue;
use super::{dedup_key, State, ValueIndex, WordMap, MAIN};
use crate::event::{Event, EventData, RecordType};

/// Why an event could not be folded.
pub(crate) type FoldError = String;

fn expect_id(kind: &str, got: u64, next: u64) -> Result<(), FoldError> {
    if got == next {
        Ok(())
    } else {
        Err(format!("{kind} created with id {got}, but the next {kind} id is {next}"))
    }
}

impl State {
    /// Folds one event read from the log. On error the state may be partially changed; callers
    /// treat it as corruption and discard the state.
    pub(crate) fn fold(&mut self, e: &Event) -> Result<(), FoldError> {
        self.apply(e, true)
    }

    /// Folds an event the command layer has just drafted against this very state: the checks
    /// that only a forged log can fail (a value's dedup key is new, the records it names exist)
    /// were made before the event existed, and repeating the first cost a random probe of the
    /// dedup table per created value. The resulting state is the same. (That a value's hash
    /// is its content's is checked where events are decoded, from the log or an export, for
    /// both.)
    pub(crate) fn fold_live(&mut self, e: &Event) -> Result<(), FoldError> {
        self.apply(e, false)
    }

    fn apply(&mut self, e: &Event, untrusted: bool) -> Result<(), FoldError> {
        if untrusted {
            self.check_refs(e)?;
        }
        let id = e.record.id;
        if let (
            Some(run),
            EventData::CreateFeature { .. } | EventData::CreateArtifact { .. } | EventData::CreateValue { .. },
        ) = (e.run, &e.data)
        {
            self.runs_used.insert(run);
        }
        match &e.data {
            EventData::CreateUser { handle } => {
                expect_id("user", id, self.next_user)?;
                unique(&self.user_by_handle, &handle.to_lowercase(), "user handle")?;
                self.next_user += 1;
                self.user_by_handle.insert(handle.to_lowercase(), id);
                self.users.insert(id, User { id, handle: handle.clone(), created_at: e.at });
            }
            EventData::CreateSpace { name } => {
                expect_id("space", id, self.next_space)?;
                unique(&self.space_by_name, &name.to_lowercase(), "space name")?;
                self.next_space += 1;
                self.space_by_name.insert(name.to_lowercase(), id);
                self.spaces.insert(id, Space { id, name: name.clone(), created_by_id: e.actor, created_at: e.at });
                self.roles.insert((id, e.actor), crate::event::Role::Admin);
            }
            EventData::CreateBranch { name } => {
                let bid = i64::try_from(id).map_err(|_| format!("branch id {id} out of range"))?;
                if bid != self.next_branch {
                    return Err(format!("branch created with id {bid}, expected {}", self.next_branch));
                }
                unique(&self.branch_by_name, &name.to_lowercase(), "branch name")?;
                self.next_branch += 1;
                self.branch_by_name.insert(name.to_lowercase(), bid);
                self.branches.insert(
                    bid,
                    Branch {
                        id: bid,
                        name: name.clone(),
                        created_by_id: e.actor,
                        created_at: e.at,
                        status: BranchStatus::Open,
                    },
                );
            }
            EventData::CreateRun { name } => {
                expect_id("run", id, self.next_run)?;
                self.next_run += 1;
                self.runs.insert(
                    id,
                    Run { id, name: name.clone(), created_by_id: e.actor, created_at: e.at, finished_at: None },
                );
            }
            EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => {
                expect_id("feature", id, self.next_feature)?;
                unique(&self.feature_by_name, name, "feature name")?;
                self.next_feature += 1;
                self.feature_by_name.insert(name.clone(), id);
                self.features.insert(
                    id,
                    Feature {
                        id,
                        name: name.clone(),
                        dtype: *dtype,
                        nullable: *nullable,
                        coerce: *coerce,
                        branch_id: *branch,
                        space_id: *space,
                        created_by_id: e.actor,
                        run_id: e.run,
                        created_at: e.at,
                    },
                );
            }
            EventData::CreateArtifact { key, branch, space } => {
                expect_id("artifact", id, self.next_artifact)?;
                self.next_artifact += 1;
                self.artifacts.insert(
                    id,
                    Artifact {
                        id,
                        key: key.clone(),
                        branch_id: *branch,
                        space_id: *space,
                        created_by_id: e.actor,
                        run_id: e.run,
                        created_at: e.at,
                    },
                );
            }
            EventData::CreateValue { feature, value, hash, branch, space } => {
                expect_id("value", id, self.next_value())?;
                // A check no command can fail but a forged log can: the dedup key is new. (The
                // hash is the content's: decoders check or compute it.)
                if untrusted && self.find_value(*feature, hash).is_some() {
                    return Err(format!("value {id} repeats the dedup key of an existing value"));
                }
                // Debug builds still check what the command layer promised.
                debug_assert!(self.find_value(*feature, hash).is_none(), "live event repeats a dedup key");
                debug_assert!(blake3::hash(value).as_bytes() == hash, "event's hash is not its content's");
                let value = StoredValue::from_canonical(value).map_err(|e| e.message())?;
                let rec = ValueRec::new(NewValue {
                    id,
                    feature: *feature,
                    value,
                    hash: *hash,
                    branch: *branch,
                    created_on: *branch,
                    space: *space,
                    created_by: e.actor,
                    run: e.run,
                    created_at: e.at,
                })?;
                self.index_value(id, &rec);
                self.values.push(Some(rec));
                self.value_count += 1;
            }
            EventData::BranchChange { to, .. } => self.set_branch(e.record.kind, id, *to)?,
            EventData::SpaceChange { to, .. } => match e.record.kind {
                RecordType::Feature => self.feature_mut(id)?.space_id = *to,
                RecordType::Artifact => self.artifact_mut(id)?.space_id = *to,
                RecordType::Value => {
                    let from = self.value(id).ok_or_else(|| missing("value", id))?.space();
                    if !self.defer_indexes {
                        move_in(&mut self.by_space, from, *to, id);
                    }
                    self.value_mut(id).ok_or_else(|| missing("value", id))?.set_space(*to)?;
                }
                other => return Err(format!("space change of a {}", other.as_str())),
            },
            EventData::Link { host } => {
                self.value(id).ok_or_else(|| missing("value", id))?;
                self.links.insert(id, *host, LinkMeta { by: e.actor, at: e.at, run: e.run });
            }
            EventData::Unlink { host } => self.links.remove(id, *host),
            EventData::Delete => self.remove(e.record.kind, id)?,
            EventData::Merge { moved } => {
                for r in moved {
                    self.set_branch(r.kind, r.id, MAIN)?;
                }
                let bid = i64::try_from(id).map_err(|_| format!("branch id {id} out of range"))?;
                self.branches.get_mut(&bid).ok_or_else(|| missing("branch", id))?.status = BranchStatus::Merged;
            }
            EventData::Grant { user, role } => match role {
                Some(r) => {
                    self.roles.insert((id, *user), *r);
                }
                None => {
                    self.roles.remove(&(id, *user));
                }
            },
            EventData::RunFinish => {
                self.runs.get_mut(&id).ok_or_else(|| missing("run", id))?.finished_at = Some(e.at);
            }
        }
        self.seq = e.seq;
        self.head = e.hash;
        self.last_at = e.at;
        Ok(())
    }

    fn feature_mut(&mut self, id: u64) -> Result<&mut Feature, FoldError> {
        self.features.get_mut(&id).ok_or_else(|| missing("feature", id))
    }

    fn artifact_mut(&mut self, id: u64) -> Result<&mut Artifact, FoldError> {
        self.artifacts.get_mut(&id).ok_or_else(|| missing("artifact", id))
    }

    fn set_branch(&mut self, kind: RecordType, id: u64, to: i64) -> Result<(), FoldError> {
        match kind {
            RecordType::Feature => self.feature_mut(id)?.branch_id = to,
            RecordType::Artifact => self.artifact_mut(id)?.branch_id = to,
            RecordType::Value => {
                let from = self.value(id).ok_or_else(|| missing("value", id))?.branch();
                if !self.defer_indexes {
                    move_in(&mut self.by_branch, from, to, id);
                }
                self.value_mut(id).ok_or_else(|| missing("value", id))?.set_branch(to)?;
            }
            other => return Err(format!("branch change of a {}", other.as_str())),
        }
        Ok(())
    }

    pub(crate) fn index_value(&mut self, id: u64, v: &ValueRec) {
        self.key_paths.created(id, v);
        // Ids fit 32 bits: `ValueRec::new` refused any that does not.
        self.dedup.insert(dedup_key(v.feature(), &v.hash), id as u32);
        if self.defer_indexes {
            if let Some(f) = v.feature() {
                *self.deferred_feature_values.entry(f).or_default() += 1;
            }
            return;
        }
        self.by_feature.entry(v.feature()).or_default().insert_entry(ValueIndex::entry_of(id, v));
        self.by_branch.entry(v.branch()).or_default().add(id);
        self.by_space.entry(v.space()).or_default().add(id);
        self.by_creator.entry(v.created_by()).or_default().add(id);
        if let Some(run) = v.run() {
            self.by_run.entry(run).or_default().add(id);
        }
    }

    fn remove(&mut self, kind: RecordType, id: u64) -> Result<(), FoldError> {
        match kind {
            RecordType::Value => {
                let idx = usize::try_from(id.wrapping_sub(1)).map_err(|_| missing("value", id))?;
                let v = self.values.get_mut(idx).and_then(Option::take).ok_or_else(|| missing("value", id))?;
                self.value_count -= 1;
                self.dedup.remove(dedup_key(v.feature(), &v.hash), id as u32);
                self.key_paths.deleted(id, &v);
                let hosts: Vec<_> = self.links.hosts_of(id).collect();
                for h in hosts {
                    self.links.remove(id, h);
                }
                if self.defer_indexes {
                    if let Some(n) = v.feature().and_then(|f| self.deferred_feature_values.get_mut(&f)) {
                        *n = n.saturating_sub(1);
                    }
                    return Ok(());
                }
                remove_from(&mut self.by_branch, v.branch(), id);
                remove_from(&mut self.by_space, v.space(), id);
                remove_from(&mut self.by_creator, v.created_by(), id);
                if let Some(run) = v.run() {
                    remove_from(&mut self.by_run, run, id);
                }
                let feature = v.feature();
                if let Some(set) = self.by_feature.get_mut(&feature) {
                    set.remove_entry(ValueIndex::entry_of(id, &v));
                }
            }
            RecordType::Feature => {
                let f = self.features.remove(&id).ok_or_else(|| missing("feature", id))?;
                self.feature_by_name.remove(&f.name);
            }
            RecordType::Artifact => {
                self.artifacts.remove(&id).ok_or_else(|| missing("artifact", id))?;
            }
            RecordType::Run => {
                self.runs.remove(&id).ok_or_else(|| missing("run", id))?;
            }
            other => return Err(format!("delete of a {}", other.as_str())),
        }
        Ok(())
    }
}

fn unique<K: std::hash::Hash + Eq, V>(
    map: &std::collections::HashMap<K, V>,
    key: &K,
    what: &str,
) -> Result<(), FoldError> {
    if map.contains_key(key) {
        return Err(format!("the {what} is already taken"));
    }
    Ok(())
}

fn missing(kind: &str, id: u64) -> FoldError {
    format!("event refers to {kind} {id}, which does not exist")
}

fn move_in<K: std::hash::Hash + Eq>(map: &mut WordMap<K, IdSet>, from: K, to: K, id: u64) {
    remove_from(map, from, id);
    map.entry(to).or_default().add(id);
}

fn remove_from<K: std::hash::Hash + Eq>(map: &mut WordMap<K, IdSet>, key: K, id: u64) {
    if let Some(set) = map.get_mut(&key) {
        set.take_out(id);
        if set.is_empty() {
            map.remove(&key);
        }
    }
}
