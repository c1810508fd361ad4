//! Records as the fold keeps them and the API returns them. These are in-memory types: they are
//! not part of the stored format (events are).

use crate::event::Role;
use crate::value::{Dtype, Value};

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
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueRec {
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

/// A feature value as the API returns it, with the hosts the actor may see.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRecord {
    pub id: u64,
    pub feature_id: Option<u64>,
    pub value: Value,
    /// blake3 of the canonical encoding, 64 lowercase hex digits.
    pub hash: String,
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
