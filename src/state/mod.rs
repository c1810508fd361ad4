//! The folded state: every registry and every index a query needs, built only by folding
//! events (`fold`). Queries read it under a read lock and never touch sled.
//!
//! Invariant: the state is a pure function of the events folded into it, in order.

mod dedup;
mod fold;
mod id_set;
mod int_set;
mod key_paths;
mod links;
mod rebuild;
mod records;
mod refs;
mod value_index;
mod word_hash;

pub(crate) use dedup::dedup_key;
pub(crate) use id_set::IdSet;
pub(crate) use key_paths::{KeyPaths, Scope as KeyPathScope};
pub(crate) use links::{LinkMeta, Links};
pub use records::{Artifact, Branch, BranchStatus, Feature, Grant, Run, Space, User, ValueRecord};
pub(crate) use records::{NewValue, StoredValue, ValueRec};
pub(crate) use value_index::ValueIndex;
pub(crate) use word_hash::WordMap;

use crate::event::{Host, Role};
use dedup::Dedup;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Built-in branch codes.
pub const TRASH: i64 = -1;
pub const ARCHIVE: i64 = 0;
pub const MAIN: i64 = 1;
pub const LOCKED: i64 = 2;
pub const TEMPLATE: i64 = 3;

/// Everything the log folds into.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub users: BTreeMap<u64, User>,
    pub user_by_handle: HashMap<String, u64>,
    pub spaces: BTreeMap<u64, Space>,
    pub space_by_name: HashMap<String, u64>,
    /// Explicit roles; space 1 additionally gives everyone `write`.
    pub roles: BTreeMap<(u64, u64), Role>,
    pub branches: BTreeMap<i64, Branch>,
    pub branch_by_name: HashMap<String, i64>,
    pub runs: BTreeMap<u64, Run>,
    pub features: BTreeMap<u64, Feature>,
    pub feature_by_name: HashMap<String, u64>,
    pub artifacts: BTreeMap<u64, Artifact>,
    /// Values by id - 1; `None` once permanently deleted (ids are never reused).
    pub values: Vec<Option<ValueRec>>,
    pub value_count: usize,
    pub dedup: Dedup,
    /// Per feature (None: values without a feature), ordered by value then id.
    pub by_feature: WordMap<Option<u64>, ValueIndex>,
    pub by_branch: WordMap<i64, IdSet>,
    pub by_space: WordMap<u64, IdSet>,
    pub by_creator: WordMap<u64, IdSet>,
    pub by_run: WordMap<u64, IdSet>,
    pub links: Links,
    /// Runs under which a feature, artifact or value was ever created: they stay protected
    /// from deletion even after those records are gone (provenance is kept).
    pub runs_used: BTreeSet<u64>,
    pub next_user: u64,
    pub next_space: u64,
    pub next_branch: i64,
    pub next_run: u64,
    pub next_feature: u64,
    pub next_artifact: u64,
    /// Sequence number and hash of the last folded event, and its time.
    pub seq: u64,
    pub head: [u8; 32],
    pub last_at: i64,
    /// While set (a replay from the first event), the fold keeps `values` and `dedup` only;
    /// `end_replay` then builds the other value indexes in one pass.
    pub defer_indexes: bool,
    /// While `defer_indexes` is set, the live values of each feature (`by_feature` is not
    /// kept then): a feature may only be deleted without values (`refs`).
    pub deferred_feature_values: WordMap<u64, u32>,
    /// Equality indexes on key paths into dicts, built by the queries that need them.
    pub key_paths: KeyPaths,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// The initial state of a fresh store: the built-in rows, no events.
    pub fn new() -> State {
        let mut s = State {
            users: BTreeMap::new(),
            user_by_handle: HashMap::new(),
            spaces: BTreeMap::new(),
            space_by_name: HashMap::new(),
            roles: BTreeMap::new(),
            branches: BTreeMap::new(),
            branch_by_name: HashMap::new(),
            runs: BTreeMap::new(),
            features: BTreeMap::new(),
            feature_by_name: HashMap::new(),
            artifacts: BTreeMap::new(),
            values: Vec::new(),
            value_count: 0,
            dedup: Dedup::default(),
            by_feature: WordMap::default(),
            by_branch: WordMap::default(),
            by_space: WordMap::default(),
            by_creator: WordMap::default(),
            by_run: WordMap::default(),
            links: Links::default(),
            runs_used: BTreeSet::new(),
            next_user: 2,
            next_space: 2,
            next_branch: 4,
            next_run: 1,
            next_feature: 1,
            next_artifact: 1,
            seq: 0,
            head: [0; 32],
            last_at: i64::MIN,
            defer_indexes: false,
            deferred_feature_values: WordMap::default(),
            key_paths: KeyPaths::default(),
        };
        s.users.insert(1, User { id: 1, handle: "anonymous".into(), created_at: 0 });
        s.user_by_handle.insert("anonymous".into(), 1);
        s.spaces.insert(1, Space { id: 1, name: "all".into(), created_by_id: 1, created_at: 0 });
        s.space_by_name.insert("all".into(), 1);
        s.roles.insert((1, 1), Role::Admin);
        for (id, name) in [(-1, "trash"), (0, "archive"), (1, "main"), (2, "locked"), (3, "template")] {
            s.branches.insert(
                id,
                Branch { id, name: name.into(), created_by_id: 1, created_at: 0, status: BranchStatus::Open },
            );
            s.branch_by_name.insert(name.into(), id);
        }
        s
    }

    pub fn value(&self, id: u64) -> Option<&ValueRec> {
        let idx = usize::try_from(id.checked_sub(1)?).ok()?;
        self.values.get(idx)?.as_ref()
    }

    pub(crate) fn value_mut(&mut self, id: u64) -> Option<&mut ValueRec> {
        let idx = usize::try_from(id.checked_sub(1)?).ok()?;
        self.values.get_mut(idx)?.as_mut()
    }

    /// The id the next created value gets.
    pub fn next_value(&self) -> u64 {
        self.values.len() as u64 + 1
    }

    /// Starts a replay from the first event: index inserts one value at a time were most of a
    /// full replay's fold (`by_feature` B-tree inserts ordered by `cmp_order`).
    pub fn begin_replay(&mut self) {
        self.defer_indexes = self.seq == 0;
    }

    /// Ends a replay: builds the indexes `begin_replay` deferred.
    pub fn end_replay(&mut self) {
        if std::mem::take(&mut self.defer_indexes) {
            self.deferred_feature_values = WordMap::default();
            self.rebuild_value_indexes(false);
        }
    }

    /// Has this feature any live value?
    pub(crate) fn feature_has_values(&self, feature: u64) -> bool {
        if self.defer_indexes {
            self.deferred_feature_values.get(&feature).is_some_and(|n| *n > 0)
        } else {
            self.by_feature.get(&Some(feature)).is_some_and(|ix| !ix.is_empty())
        }
    }

    /// Brings the dedup slots of the values these events create into the cache, all at once
    /// (see `Dedup::warm`), before they are folded one by one.
    pub fn warm_dedup(&self, events: &[crate::event::Event]) {
        self.warm_values(events.iter().filter_map(|e| match &e.data {
            crate::event::EventData::CreateValue { feature, hash, .. } => Some((*feature, hash)),
            _ => None,
        }));
    }

    /// Brings the dedup slots of these (feature, content hash) keys into the cache, all at once,
    /// before they are looked up one by one.
    pub fn warm_values<'a>(&self, keys: impl Iterator<Item = (Option<u64>, &'a [u8; 32])>) {
        std::hint::black_box(self.dedup.warm(keys.map(|(feature, hash)| dedup_key(feature, hash))));
    }

    /// The value with this dedup key, if any, and its id.
    pub fn find_value(&self, feature: Option<u64>, hash: &[u8; 32]) -> Option<(u64, &ValueRec)> {
        self.dedup
            .candidates(dedup_key(feature, hash))
            .filter_map(|id| Some((u64::from(id), self.value(u64::from(id))?)))
            .find(|(_, v)| v.feature() == feature && &v.hash == hash)
    }

    /// The actor's effective role in a space: explicit, or at least `write` in space 1.
    pub fn role(&self, user: u64, space: u64) -> Option<Role> {
        let explicit = self.roles.get(&(space, user)).copied();
        if space == 1 {
            Some(explicit.map_or(Role::Write, |r| r.max(Role::Write)))
        } else {
            explicit
        }
    }

    pub fn can_read(&self, user: u64, space: u64) -> bool {
        // Space 1 is readable by everyone: skip the role lookup on the hottest path.
        space == 1 || self.roles.contains_key(&(space, user))
    }

    /// Hosts linked to a value.
    pub fn hosts_of(&self, value: u64) -> impl Iterator<Item = Host> + '_ {
        self.links.hosts_of(value)
    }

    /// Is the value linked to anything?
    pub fn is_linked(&self, value: u64) -> bool {
        self.links.hosts_of(value).next().is_some()
    }

    /// Values linked to a host, by id.
    pub fn values_of(&self, host: Host) -> impl Iterator<Item = u64> + '_ {
        self.links.values_of(host)
    }

    /// Was any record ever created under this run?
    pub fn run_has_records(&self, run: u64) -> bool {
        self.runs_used.contains(&run)
    }

    /// Iterates live values and their ids in id order.
    pub fn all_values(&self) -> impl DoubleEndedIterator<Item = (u64, &ValueRec)> + '_ {
        with_ids(&self.values)
    }
}

/// The live records of a value vector and their ids (a record's id is its place, plus one).
fn with_ids(values: &[Option<ValueRec>]) -> impl DoubleEndedIterator<Item = (u64, &ValueRec)> {
    values.iter().enumerate().filter_map(|(i, v)| Some((i as u64 + 1, v.as_ref()?)))
}
