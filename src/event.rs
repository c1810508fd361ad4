//! Events: the only thing fvstore stores for good. Every mutation of every registry becomes one
//! event (SPEC §8); records, indexes and snapshots are derived from them by the fold.
//!
//! These types derive `Serialize`, which makes them part of the on-disk format: changing a
//! field or the order of a variant is a format change (docs/FORMAT.md). In-memory record types
//! live in `state` and are free to change.

use crate::value::Dtype;
use serde::{Deserialize, Serialize};

/// The kind of record an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RecordType {
    User,
    Space,
    Branch,
    Run,
    Feature,
    Artifact,
    Value,
}

impl RecordRef {
    /// The branch with this (signed) id.
    pub fn branch(id: i64) -> RecordRef {
        RecordRef { kind: RecordType::Branch, id: u64::from_ne_bytes(id.to_ne_bytes()) }
    }

    /// A branch's signed id, from the bits `id` holds.
    pub fn branch_id(&self) -> i64 {
        i64::from_ne_bytes(self.id.to_ne_bytes())
    }
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::User => "user",
            RecordType::Space => "space",
            RecordType::Branch => "branch",
            RecordType::Run => "run",
            RecordType::Feature => "feature",
            RecordType::Artifact => "artifact",
            RecordType::Value => "value",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        [
            RecordType::User,
            RecordType::Space,
            RecordType::Branch,
            RecordType::Run,
            RecordType::Feature,
            RecordType::Artifact,
            RecordType::Value,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A record named by type and id. Branch ids are positive for user branches (≥ 4); the
/// built-in state codes are never the subject of an event. A branch id is an `i64` (the trash
/// is −1): `id` holds its bits, as [`RecordRef::branch`] makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RecordRef {
    pub kind: RecordType,
    pub id: u64,
}

/// The record a link hangs on: an artifact or a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Host {
    Artifact(u64),
    Run(u64),
}

/// A role in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// What happened. The event kind of the protocol (`create`, `branch_change`, …) is derived
/// from the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventData {
    CreateUser {
        handle: String,
    },
    CreateSpace {
        name: String,
    },
    CreateBranch {
        name: String,
    },
    CreateRun {
        name: String,
    },
    CreateFeature {
        name: String,
        dtype: Dtype,
        nullable: bool,
        coerce: bool,
        branch: i64,
        space: u64,
    },
    CreateArtifact {
        key: String,
        branch: i64,
        space: u64,
    },
    /// `value` is the canonical encoding (codec::canon); `hash` is blake3 of it.
    CreateValue {
        feature: Option<u64>,
        value: Vec<u8>,
        hash: [u8; 32],
        branch: i64,
        space: u64,
    },
    BranchChange {
        from: i64,
        to: i64,
    },
    SpaceChange {
        from: u64,
        to: u64,
    },
    /// The record is the value; `host` the artifact or run it is linked to.
    Link {
        host: Host,
    },
    Unlink {
        host: Host,
    },
    /// Permanent removal of the record.
    Delete,
    /// The record is the merged branch; `moved` every record moved to main.
    Merge {
        moved: Vec<RecordRef>,
    },
    /// The record is the space; `role: None` removes the user's role.
    Grant {
        user: u64,
        role: Option<Role>,
    },
    RunFinish,
}

impl EventData {
    /// The protocol's event kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::CreateUser { .. }
            | EventData::CreateSpace { .. }
            | EventData::CreateBranch { .. }
            | EventData::CreateRun { .. }
            | EventData::CreateFeature { .. }
            | EventData::CreateArtifact { .. }
            | EventData::CreateValue { .. } => "create",
            EventData::BranchChange { .. } => "branch_change",
            EventData::SpaceChange { .. } => "space_change",
            EventData::Link { .. } => "link",
            EventData::Unlink { .. } => "unlink",
            EventData::Delete => "delete",
            EventData::Merge { .. } => "merge",
            EventData::Grant { .. } => "grant",
            EventData::RunFinish => "run_finish",
        }
    }
}

/// One event of the log. `prev` is the hash of the event before (64 zero hex digits for the
/// first); `hash` is blake3 over this event's encoding with `hash` zeroed (codec::event_hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub at: i64,
    pub actor: u64,
    pub run: Option<u64>,
    pub record: RecordRef,
    pub data: EventData,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// The events of one atomic commit, stored as one record of the log tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub events: Vec<Event>,
}
