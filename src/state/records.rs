//! Records as the fold keeps them and the API returns them. These are in-memory types: they are
//! not part of the stored format (events are).

use crate::codec;
use crate::event::Role;
use crate::value::{Dtype, Value, ValueHash};
use thin_vec::ThinVec;

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

/// A value as a record keeps it: scalars inline, strings, lists and dicts as their canonical
/// bytes in one thin allocation (length and bytes behind one pointer). 16 bytes where a
/// [`Value`] takes 32; a dict of three keys, one of them a nested dict, takes ≈ 80 bytes of
/// heap where its tree of maps took ≈ 1.5 KB; a string value needs one allocation, not two.
#[derive(Debug, Clone)]
enum Kept {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Date(i32),
    DateTime(i64),
    /// Checked canonical bytes (`codec::check_value`) of a string, list or dict.
    Canon(ThinVec<u8>),
}

const _: () = assert!(std::mem::size_of::<Kept>() == 16);

impl Kept {
    fn new(v: Value) -> Kept {
        match v {
            Value::Null => Kept::Null,
            Value::Bool(b) => Kept::Bool(b),
            Value::Int(i) => Kept::Int(i),
            Value::Float(f) => Kept::Float(f),
            Value::Date(d) => Kept::Date(d),
            Value::DateTime(t) => Kept::DateTime(t),
            other => Kept::Canon(ThinVec::from(&codec::canonical(&other)[..])),
        }
    }

    fn get(&self) -> Value {
        match *self {
            Kept::Null => Value::Null,
            Kept::Bool(b) => Value::Bool(b),
            Kept::Int(i) => Value::Int(i),
            Kept::Float(f) => Value::Float(f),
            Kept::Date(d) => Value::Date(d),
            Kept::DateTime(t) => Value::DateTime(t),
            // Checked when kept, so this cannot fail; a null would only hide a bug that the
            // debug assertion reports.
            Kept::Canon(ref b) => {
                let v = codec::decode_value(b, codec::MAX_NESTING);
                debug_assert!(v.is_ok(), "a kept value's canonical bytes do not decode");
                v.unwrap_or(Value::Null)
            }
        }
    }
}

impl PartialEq for Kept {
    /// As the values compare (floats bitwise after normalisation).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Kept::Canon(a), Kept::Canon(b)) => a == b,
            _ => self.get() == other.get(),
        }
    }
}

/// A value on its way into a record: from a [`Value`], or from canonical bytes (an event's, a
/// snapshot's), which are checked without building the value.
pub(crate) struct StoredValue(Kept);

impl From<Value> for StoredValue {
    fn from(v: Value) -> Self {
        StoredValue(Kept::new(v))
    }
}

impl StoredValue {
    pub fn from_canonical(bytes: &[u8]) -> crate::error::Result<StoredValue> {
        Ok(StoredValue(match bytes.first() {
            Some(&codec::TAG_STR | &codec::TAG_LIST | &codec::TAG_DICT) => {
                codec::check_value(bytes, codec::MAX_NESTING)?;
                Kept::Canon(ThinVec::from(bytes))
            }
            _ => Kept::new(codec::decode_value(bytes, codec::MAX_NESTING)?),
        }))
    }
}

/// A feature value as the state keeps it (links live in the link index).
///
/// 80 bytes, a million of them in one `Vec` (it was 128, then 104, then 88: ids narrowed, no
/// alignment to two cache lines, the value in its 16-byte form, and no id of its own: its
/// place in the state's vector is its id, which every path to a record knows). What a dedup
/// hit confirms (hash, then feature, space and branch) sits at both ends, the value in
/// between. Ids are kept in 32 bits (`new` and the setters refuse larger ones, the record's
/// own too, which the dedup table holds: four billion records of one kind do not fit in
/// memory anyway), branches in 32 signed bits; the optional feature and run as 0 for none
/// (both count from 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueRec {
    pub hash: [u8; 32],
    value: Kept,
    pub created_at: i64,
    feature: u32,
    space: u32,
    branch: i32,
    created_on: i32,
    created_by: u32,
    run: u32,
}

const _: () = assert!(std::mem::size_of::<Option<ValueRec>>() == 80);

/// Everything a value record is made from.
pub(crate) struct NewValue {
    pub id: u64,
    pub feature: Option<u64>,
    pub value: StoredValue,
    pub hash: [u8; 32],
    pub branch: i64,
    pub created_on: i64,
    pub space: u64,
    pub created_by: u64,
    pub run: Option<u64>,
    pub created_at: i64,
}

fn narrow(what: &str, id: u64) -> Result<u32, String> {
    u32::try_from(id).map_err(|_| format!("{what} id {id} is beyond the 2^32 this build keeps in memory"))
}

fn narrow_branch(what: &str, b: i64) -> Result<i32, String> {
    i32::try_from(b).map_err(|_| format!("{what} {b} is beyond the 32-bit range this build keeps in memory"))
}

impl ValueRec {
    /// The record; an error for a feature or run of 0, which no id is, or an id too large to
    /// keep (both only in a damaged or forged log).
    pub fn new(v: NewValue) -> Result<ValueRec, String> {
        if v.feature == Some(0) || v.run == Some(0) {
            return Err(format!("value {} names feature or run 0", v.id));
        }
        // Not kept (the record's place in the state's vector is its id), but the dedup table's
        // slots hold it in 32 bits.
        narrow("value", v.id)?;
        Ok(ValueRec {
            hash: v.hash,
            value: v.value.0,
            created_at: v.created_at,
            feature: narrow("feature", v.feature.unwrap_or(0))?,
            space: narrow("space", v.space)?,
            branch: narrow_branch("branch", v.branch)?,
            created_on: narrow_branch("branch", v.created_on)?,
            created_by: narrow("user", v.created_by)?,
            run: narrow("run", v.run.unwrap_or(0))?,
        })
    }

    /// The value: rebuilt, without allocating for a scalar, decoded from its canonical bytes
    /// for a string, list or dict.
    pub fn value(&self) -> Value {
        self.value.get()
    }

    /// The canonical bytes of the part at a non-empty key path, if the value is a dict that
    /// has it (the key-path indexes are keyed by them).
    pub fn bytes_at(&self, path: &[String]) -> Option<&[u8]> {
        match (&self.value, path) {
            (_, []) => None,
            (Kept::Canon(b), _) => codec::at_path(b, path),
            _ => None,
        }
    }

    /// The value at a dict key path (the whole value for an empty path), as `Value::at_path`
    /// finds it; only that part of a dict is decoded.
    pub fn value_at(&self, path: &[String]) -> Option<Value> {
        match (&self.value, path) {
            (_, []) => Some(self.value()),
            (Kept::Canon(b), _) => {
                let part = codec::at_path(b, path)?;
                codec::decode_value(part, codec::MAX_NESTING).ok()
            }
            _ => None,
        }
    }

    /// Whether the value is a list or a dict (known without decoding it).
    pub fn is_list_or_dict(&self) -> bool {
        match &self.value {
            Kept::Canon(b) => matches!(b.first(), Some(&codec::TAG_LIST | &codec::TAG_DICT)),
            _ => false,
        }
    }

    /// Appends the value's canonical encoding (a snapshot's values section).
    pub fn canonical_into(&self, out: &mut Vec<u8>) {
        match &self.value {
            Kept::Canon(b) => out.extend_from_slice(b),
            _ => codec::encode_value(&self.value(), out),
        }
    }

    /// The length of `canonical_into`'s bytes.
    pub fn canonical_len(&self) -> usize {
        match &self.value {
            Kept::Canon(b) => b.len(),
            _ => codec::canonical_len(&self.value()),
        }
    }

    pub fn feature(&self) -> Option<u64> {
        (self.feature != 0).then_some(u64::from(self.feature))
    }

    pub fn space(&self) -> u64 {
        u64::from(self.space)
    }

    pub fn branch(&self) -> i64 {
        i64::from(self.branch)
    }

    pub fn created_on(&self) -> i64 {
        i64::from(self.created_on)
    }

    pub fn created_by(&self) -> u64 {
        u64::from(self.created_by)
    }

    pub fn run(&self) -> Option<u64> {
        (self.run != 0).then_some(u64::from(self.run))
    }

    pub fn set_branch(&mut self, b: i64) -> Result<(), String> {
        self.branch = narrow_branch("branch", b)?;
        Ok(())
    }

    pub fn set_space(&mut self, space: u64) -> Result<(), String> {
        self.space = narrow("space", space)?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn new_value(id: u64) -> NewValue {
        NewValue {
            id,
            feature: Some(2),
            value: Value::Int(1).into(),
            hash: [0; 32],
            branch: -1,
            created_on: 4,
            space: 3,
            created_by: 5,
            run: None,
            created_at: 7,
        }
    }

    #[test]
    fn narrowed_fields_read_back_and_refuse_what_does_not_fit() {
        let top = u64::from(u32::MAX);
        let v = ValueRec::new(NewValue { run: Some(top), ..new_value(top) }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.feature(), v.space(), v.branch(), v.created_on()), (Some(2), 3, -1, 4));
        assert_eq!((v.created_by(), v.run(), v.created_at), (5, Some(top), 7));
        let refused = [
            NewValue { space: top + 1, ..new_value(1) },
            NewValue { feature: Some(top + 1), ..new_value(1) },
            NewValue { branch: i64::from(i32::MIN) - 1, ..new_value(1) },
            NewValue { created_by: u64::MAX, ..new_value(1) },
            NewValue { run: Some(0), ..new_value(1) },
            new_value(top + 1),
        ];
        for bad in refused {
            assert!(ValueRec::new(bad).is_err());
        }
        let mut v = ValueRec::new(new_value(1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(v.set_space(top + 1).is_err() && v.set_branch(i64::MAX).is_err());
        assert_eq!((v.space(), v.branch()), (3, -1));
        assert!(v.set_space(9).is_ok() && v.set_branch(2).is_ok());
        assert_eq!((v.space(), v.branch()), (9, 2));
    }
}
