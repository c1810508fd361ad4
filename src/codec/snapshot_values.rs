//! The values section of a snapshot image, encoded and decoded by hand. It is byte for byte
//! what bincode (serde, fixed-width little-endian integers) writes for the sequence of
//!
//! ```text
//! ValueImg = id u64, feature Option<u64>, canonical Vec<u8>, hash [u8; 32], branch i64,
//!            created_on i64, space u64, created_by u64, run Option<u64>, created_at i64
//! ```
//!
//! (a u64 count, then each image; `Option` a 0/1 byte then the value; `Vec<u8>` a u64 length
//! then the bytes; an array its bytes), so the format and every state hash stay as they were.
//! Going through serde cost a `Vec<u8>` per value both ways and an intermediate `Vec` of a
//! million images on load; here values are encoded from the records and decoded straight into
//! their slots, borrowing the canonical bytes from the file.

use super::canon::encode_value;
use super::MAX_NESTING;
use crate::error::{Error, Result};
use crate::state::{NewValue, ValueRec};

/// The fewest bytes one image takes (both options `None`, an empty value): bounds the count
/// before anything is allocated.
const MIN_IMAGE: usize = 8 + 1 + 8 + 32 + 8 + 8 + 8 + 8 + 1 + 8;

fn put_opt(v: Option<u64>, out: &mut Vec<u8>) {
    match v {
        None => out.push(0),
        Some(x) => {
            out.push(1);
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Appends the section: the count, then each live value in id order.
pub(super) fn encode<'a>(values: impl Iterator<Item = &'a ValueRec>, count: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(count as u64).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.id.to_le_bytes());
        put_opt(v.feature(), out);
        // The length goes before the bytes: reserve it, encode, then fill it in.
        let at = out.len();
        out.extend_from_slice(&[0; 8]);
        encode_value(&v.value, out);
        let len = (out.len() - at - 8) as u64;
        if let Some(slot) = out.get_mut(at..at + 8) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&v.hash);
        out.extend_from_slice(&v.branch.to_le_bytes());
        out.extend_from_slice(&v.created_on.to_le_bytes());
        out.extend_from_slice(&v.space.to_le_bytes());
        out.extend_from_slice(&v.created_by.to_le_bytes());
        put_opt(v.run(), out);
        out.extend_from_slice(&v.created_at.to_le_bytes());
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::corrupt(None, format!("bad snapshot: {}", reason.into()))
}

/// A cursor over the section's bytes; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated value image"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| bad("truncated value image"))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }

    fn opt(&mut self) -> Result<Option<u64>> {
        match self.arr::<1>()? {
            [0] => Ok(None),
            [1] => Ok(Some(self.u64()?)),
            [b] => Err(bad(format!("option tag {b}"))),
        }
    }
}

/// Decodes the section at the start of `bytes` into `slots` (index = id - 1, all `None`
/// before); returns how many live values it held and the bytes after the section.
pub(super) fn decode<'a>(bytes: &'a [u8], slots: &mut [Option<ValueRec>]) -> Result<(usize, &'a [u8])> {
    let mut r = Reader(bytes);
    let count = r.u64()?;
    let count = usize::try_from(count)
        .ok()
        .filter(|n| n.checked_mul(MIN_IMAGE).is_some_and(|need| need <= r.0.len()))
        .ok_or_else(|| bad(format!("{count} values cannot fit in the file")))?;
    for _ in 0..count {
        let id = r.u64()?;
        let feature = r.opt()?;
        let len = usize::try_from(r.u64()?).map_err(|_| bad("value length out of range"))?;
        let value = super::decode_value(r.take(len)?, MAX_NESTING)?;
        let hash = r.arr::<32>()?;
        let (branch, created_on, space, created_by) = (r.i64()?, r.i64()?, r.u64()?, r.u64()?);
        let (run, created_at) = (r.opt()?, r.i64()?);
        let idx = usize::try_from(id.wrapping_sub(1)).map_err(|_| bad("value id out of range"))?;
        let slot = slots.get_mut(idx).ok_or_else(|| bad(format!("value id {id} beyond the value count")))?;
        if slot.is_some() {
            return Err(bad(format!("value id {id} appears twice")));
        }
        let rec = NewValue { id, feature, value, hash, branch, created_on, space, created_by, run, created_at };
        *slot = Some(ValueRec::new(rec).ok_or_else(|| bad(format!("value {id} has a feature or run id of 0")))?);
    }
    Ok((count, r.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use serde::Serialize;

    /// The serde image this section replaced: the hand encoding must stay byte-identical.
    #[derive(Serialize)]
    struct ValueImg(u64, Option<u64>, Vec<u8>, [u8; 32], i64, i64, u64, u64, Option<u64>, i64);

    #[test]
    fn same_bytes_as_bincode_and_back() {
        let recs: Vec<ValueRec> = (1..=5u64)
            .filter_map(|i| {
                ValueRec::new(NewValue {
                    id: i * 2,
                    feature: (i % 2 == 0).then_some(i),
                    value: if i == 3 { Value::from(vec!["a", "bc"]) } else { Value::Int(i as i64 - 3) },
                    hash: [i as u8; 32],
                    branch: i as i64 - 2,
                    created_on: 1,
                    space: i,
                    created_by: 7,
                    run: (i % 3 == 0).then_some(99),
                    created_at: -(i as i64),
                })
            })
            .collect();
        let imgs: Vec<ValueImg> = recs
            .iter()
            .map(|v| {
                let canon = super::super::canonical(&v.value);
                ValueImg(
                    v.id,
                    v.feature(),
                    canon,
                    v.hash,
                    v.branch,
                    v.created_on,
                    v.space,
                    v.created_by,
                    v.run(),
                    v.created_at,
                )
            })
            .collect();
        let want = bincode::serde::encode_to_vec(&imgs, super::super::config()).unwrap_or_default();
        let mut got = Vec::new();
        encode(recs.iter(), recs.len(), &mut got);
        assert_eq!(got, want);
        got.push(42);
        let mut slots = vec![None; 10];
        let (n, rest) = decode(&got, &mut slots).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n, rest), (5, &[42u8][..]));
        assert_eq!(slots.iter().flatten().cloned().collect::<Vec<_>>(), recs);
        assert!(decode(&got[..got.len() - 9], &mut vec![None; 10]).is_err());
    }
}
