//! The values section of a snapshot image (snapshot format 2), encoded and decoded by hand.
//! Integers are LEB128 varints (signed ones zigzag), ids and times as deltas from the value
//! before, so that an int value takes about 50 bytes instead of the 107 of format 1's bincode
//! with fixed-width integers; most of what is left is the 32-byte hash.
//!
//! ```text
//! section = count varint, value*            in id order
//! value   = id − previous id (varint, ≥ 1; the first from 0), feature varint (0: none),
//!           canonical length varint, canonical bytes, hash [32], branch zigzag,
//!           created_on zigzag, space varint, created_by varint, run varint (0: none),
//!           created_at − previous created_at zigzag (the first from 0)
//! ```
//!
//! Values are decoded straight into their slots from the chunk they arrived in: scalars
//! decoded, strings, lists and dicts checked and kept as their canonical bytes.

use super::chunks::Chunks;
use crate::error::{Error, Result};
use crate::state::{NewValue, StoredValue, ValueRec};

/// The fewest bytes one value takes (one-byte varints, an empty canonical value): bounds the
/// count before anything is allocated.
const MIN_VALUE: usize = 1 + 1 + 1 + 32 + 1 + 1 + 1 + 1 + 1 + 1;

use super::varint::{put as put_var, unzigzag, zigzag};

/// Appends the section: the count, then each live value in id order.
pub(super) fn encode<'a>(values: impl Iterator<Item = (u64, &'a ValueRec)>, count: usize, out: &mut Vec<u8>) {
    put_var(count as u64, out);
    let (mut prev_id, mut prev_at) = (0u64, 0i64);
    for (id, v) in values {
        put_var(id - prev_id, out);
        put_var(v.feature().unwrap_or(0), out);
        put_var(v.canonical_len() as u64, out);
        v.canonical_into(out);
        out.extend_from_slice(&v.hash);
        put_var(zigzag(v.branch()), out);
        put_var(zigzag(v.created_on()), out);
        put_var(v.space(), out);
        put_var(v.created_by(), out);
        put_var(v.run().unwrap_or(0), out);
        put_var(zigzag(v.created_at.wrapping_sub(prev_at)), out);
        (prev_id, prev_at) = (id, v.created_at);
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::corrupt(None, format!("bad snapshot: {}", reason.into()))
}

/// A cursor over the bytes at hand; every read checks the length.
struct Reader<'a>(&'a [u8]);

/// Why a value could not be decoded from the bytes at hand.
enum Stop {
    /// They end inside it: join the next chunk and try again.
    Short,
    Bad(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Bad(e)
    }
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.0.len() < n {
            return Err(Stop::Short);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn var(&mut self) -> Result<u64, Stop> {
        super::varint::take(&mut self.0).map_err(|e| match e {
            super::varint::Bad::Short => Stop::Short,
            super::varint::Bad::Malformed => Stop::Bad(bad("malformed varint")),
        })
    }

    fn opt(&mut self) -> Result<Option<u64>, Stop> {
        Ok(Some(self.var()?).filter(|v| *v != 0))
    }
}

/// Decodes the section from `chunks` into `values` (index = id - 1; empty before, `slots`
/// long after, `None` for deleted ids); returns how many live values it held, leaving
/// `chunks` after the section. Records are pushed, not written into pre-filled slots: filling
/// hundreds of megabytes with `None` first was a pass over memory of its own at open.
pub(super) fn decode(chunks: &mut Chunks, values: &mut Vec<Option<ValueRec>>, slots: usize) -> Result<usize> {
    let count = next(chunks, |r| r.var())?;
    let count = usize::try_from(count)
        .ok()
        .filter(|n| n.checked_mul(MIN_VALUE).is_some_and(|need| need <= chunks.remaining()))
        .ok_or_else(|| bad(format!("{count} values cannot fit in the file")))?;
    let mut prev = (0u64, 0i64);
    for _ in 0..count {
        let (id, rec) = next(chunks, |r| one(r, prev, slots))?;
        prev = (id, rec.created_at);
        // `one` checked 1 <= id <= slots.
        let idx = (id - 1) as usize;
        // Ids ascend, so the ids skipped since the last one are deleted values.
        values.resize_with(idx, || None);
        values.push(Some(rec));
    }
    values.resize_with(slots, || None);
    Ok(count)
}

/// Reads one item with `read` from the bytes at hand, joining the next chunk to them while
/// they end inside it.
fn next<T>(chunks: &mut Chunks, mut read: impl FnMut(&mut Reader) -> Result<T, Stop>) -> Result<T> {
    loop {
        let at_hand = chunks.avail();
        let mut r = Reader(at_hand);
        match read(&mut r) {
            Ok(item) => {
                let used = at_hand.len() - r.0.len();
                chunks.advance(used);
                return Ok(item);
            }
            Err(Stop::Short) if chunks.more() => {}
            Err(Stop::Short) => return Err(bad("truncated value image")),
            Err(Stop::Bad(e)) => return Err(e),
        }
    }
}

/// One value record after the one with `prev` (id, created_at); its id is at most `slots`.
fn one(r: &mut Reader, (prev_id, prev_at): (u64, i64), slots: usize) -> Result<(u64, ValueRec), Stop> {
    let id = prev_id.checked_add(r.var()?).filter(|id| *id > prev_id).ok_or_else(|| bad("value ids out of order"))?;
    let feature = r.opt()?;
    let len = usize::try_from(r.var()?).map_err(|_| bad("value length out of range"))?;
    let canonical = r.take(len)?;
    let hash: [u8; 32] = r.take(32)?.try_into().map_err(|_| bad("truncated value image"))?;
    let (branch, created_on) = (unzigzag(r.var()?), unzigzag(r.var()?));
    let (space, created_by, run) = (r.var()?, r.var()?, r.opt()?);
    let created_at = prev_at.wrapping_add(unzigzag(r.var()?));
    if usize::try_from(id).map_or(true, |id| id > slots) {
        return Err(Stop::Bad(bad(format!("value id {id} beyond the value count"))));
    }
    // Decoded last: the record is known to be whole before its value is built.
    let value = StoredValue::from_canonical(canonical)?;
    let rec = NewValue { id, feature, value, hash, branch, created_on, space, created_by, run, created_at };
    Ok((id, ValueRec::new(rec).map_err(bad)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn round_trip_and_truncation() {
        let ids = [1u64, 2, 5, 300, 301];
        let recs: Vec<ValueRec> = ids
            .into_iter()
            .map(|i| {
                ValueRec::new(NewValue {
                    id: i,
                    feature: (i % 2 == 0).then_some(i * 1000),
                    value: if i == 5 { Value::from(vec!["a", "bc"]) } else { Value::Int(i as i64 - 3) }.into(),
                    hash: [i as u8; 32],
                    branch: i as i64 - 4,
                    created_on: -1,
                    space: i,
                    created_by: u64::from(u32::MAX),
                    run: (i % 3 == 0).then_some(99),
                    created_at: if i == 2 { i64::MIN } else { i64::MAX - i as i64 },
                })
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let mut got = Vec::new();
        encode(ids.into_iter().zip(&recs), recs.len(), &mut got);
        got.push(42);
        // Every chunk size, so that records are cut at every byte.
        for chunk in 1..=got.len() {
            let (n, slots, rest) = decode_in(&got, chunk, 301).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((n, &rest[..]), (5, &[42u8][..]), "chunks of {chunk}");
            assert_eq!(slots.len(), 301);
            assert_eq!(slots.iter().flatten().cloned().collect::<Vec<_>>(), recs, "chunks of {chunk}");
            assert_eq!(
                slots.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|_| i as u64 + 1)).collect::<Vec<_>>(),
                [1, 2, 5, 300, 301]
            );
        }
        for cut in 0..got.len() - 1 {
            for chunk in [1, 7, 4096] {
                assert!(decode_in(&got[..cut], chunk, 301).is_err(), "cut at {cut}, chunks of {chunk}");
            }
        }
        assert!(decode_in(&got, 4096, 300).is_err(), "an id beyond the slots");
    }

    /// Decodes `bytes` handed over in chunks of `chunk`: the count, the slots, what is left.
    fn decode_in(bytes: &[u8], chunk: usize, slots: usize) -> Result<(usize, Vec<Option<ValueRec>>, Vec<u8>)> {
        let mut parts = bytes.chunks(chunk).map(<[u8]>::to_vec).collect::<Vec<_>>().into_iter();
        let mut chunks = Chunks::new(bytes.len(), &mut parts);
        let mut values = Vec::new();
        let n = decode(&mut chunks, &mut values, slots)?;
        Ok((n, values, chunks.rest().to_vec()))
    }

    #[test]
    fn varints_and_zigzag() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut b = Vec::new();
            put_var(v, &mut b);
            assert_eq!(Reader(&b).var().ok(), Some(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert!(Reader(&[0xff; 11]).var().is_err());
    }
}
