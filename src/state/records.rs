//! Records as the fold keeps them and the API returns them. These are in-memory types: they are
//! not part of the stored format (events are).

use crate::event::Role;
use crate::value::{Dtype, Value, ValueHash};

/// A user. Handles are unique ignoring case.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: u64,
    pub handle: String,
    pub created_at: i64,
}

/// A space: the unit of read/write permission.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub id: u64,
    pub name: String,
    pub created_by_id: u64,
    pub created_at: i64,
}

/// Whether a branch can still be worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchStatus {
    Open,
    Merged,
}

impl BranchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BranchStatus::Open => "open",
            BranchStatus::Merged => "merged",
        }
    }
}

/// A branch row: the five built-in state codes (-1..=3) and user branches (4 and up).
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub id: i64,
    pub name: String,
    pub created_by_id: u64,
    pub created_at: i64,
    pub status: BranchStatus,
}

/// A run: the provenance of records created under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: u64,
    pub name: String,
    pub created_by_id: u64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A feature: a named, typed slot for values.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: u64,
    pub name: String,
    pub dtype: Dtype,
    pub nullable: bool,
    pub coerce: bool,
    pub branch_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    pub created_at: i64,
}

/// An artifact (a dataset): a host for values.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub id: u64,
    pub key: String,
    pub branch_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    pub created_at: i64,
}

/// A feature value as the state keeps it (links live in the link index).
///
/// Laid out in two cache lines, a million of them in one `Vec`: the first holds what a
/// dedup hit confirms and checks (id, feature, hash, space, branch), so a hit costs one miss
/// into the records and the second line comes with it; the rest of the view is in the second.
/// The optional feature and run are stored as 0 for none (both count from 1), which saves the
/// 16 bytes that kept the record at 144 bytes over three lines.
#[derive(Debug, Clone, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct ValueRec {
    pub id: u64,
    feature: u64,
    pub hash: [u8; 32],
    pub space: u64,
    pub branch: i64,
    pub value: Value,
    pub created_on: i64,
    pub created_by: u64,
    run: u64,
    pub created_at: i64,
}

const _: () = assert!(std::mem::size_of::<Option<ValueRec>>() == 128);

/// Everything a value record is made from.
pub(crate) struct NewValue {
    pub id: u64,
    pub feature: Option<u64>,
    pub value: Value,
    pub hash: [u8; 32],
    pub branch: i64,
    pub created_on: i64,
    pub space: u64,
    pub created_by: u64,
    pub run: Option<u64>,
    pub created_at: i64,
}

impl ValueRec {
    /// The record; `None` if the feature or the run is 0, which no id is (a damaged input).
    pub fn new(v: NewValue) -> Option<ValueRec> {
        if v.feature == Some(0) || v.run == Some(0) {
            return None;
        }
        Some(ValueRec {
            id: v.id,
            feature: v.feature.unwrap_or(0),
            hash: v.hash,
            space: v.space,
            branch: v.branch,
            value: v.value,
            created_on: v.created_on,
            created_by: v.created_by,
            run: v.run.unwrap_or(0),
            created_at: v.created_at,
        })
    }

    pub fn feature(&self) -> Option<u64> {
        (self.feature != 0).then_some(self.feature)
    }

    pub fn run(&self) -> Option<u64> {
        (self.run != 0).then_some(self.run)
    }
}

/// A feature value as the API returns it, with the hosts the actor may see.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRecord {
    pub id: u64,
    pub feature_id: Option<u64>,
    pub value: Value,
    /// blake3 of the canonical encoding; displays as 64 lowercase hex digits.
    pub hash: ValueHash,
    pub branch_id: i64,
    pub created_on_id: i64,
    pub space_id: u64,
    pub created_by_id: u64,
    pub run_id: Option<u64>,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub artifact_ids: Vec<u64>,
    pub run_ids: Vec<u64>,
}

/// A role grant as returned by `grant`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub space_id: u64,
    pub user_id: u64,
    pub role: Option<Role>,
}
