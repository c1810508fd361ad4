//! The canonical value encoding: the bytes a value's content hash is computed from, and the
//! form in which values are stored inside events. It never changes without a format version
//! bump (docs/FORMAT.md).
//!
//! ```text
//! null      00
//! bool      01 b            (b = 00 or 01)
//! int       02 i64 BE
//! float     03 f64 bits BE  (-0.0 written as 0.0; NaN and infinities never occur)
//! string    04 u32 BE len, UTF-8 bytes
//! date      05 i32 BE days since 1970-01-01
//! datetime  06 i64 BE microseconds since 1970-01-01T00:00:00 (naive UTC)
//! list      07 u32 BE count, items
//! dict      08 u32 BE count, (u32 BE key len, key bytes, value)* with keys strictly ascending
//!           by UTF-8 bytes
//! ```
//! Decoding is strict, so a decoded value re-encodes to exactly the input bytes.

use super::MAX_NESTING;
use crate::error::{Error, Result};
use crate::value::{norm_float, Value};
use std::collections::BTreeMap;

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const STR: u8 = 4;
const DATE: u8 = 5;
const DATETIME: u8 = 6;
const LIST: u8 = 7;
const DICT: u8 = 8;

/// The tags of the values that value records keep as canonical bytes.
pub(crate) const TAG_STR: u8 = STR;
pub(crate) const TAG_LIST: u8 = LIST;
pub(crate) const TAG_DICT: u8 = DICT;

/// An int, date or datetime's canonical bytes as (tag, number), for log format 4's compact
/// form; `None` for any other value (or bytes of the wrong length for their tag).
pub(super) fn as_number(canonical: &[u8]) -> Option<(u8, i64)> {
    match canonical {
        [tag @ (INT | DATETIME), rest @ ..] => Some((*tag, i64::from_be_bytes(rest.try_into().ok()?))),
        [DATE, rest @ ..] => Some((DATE, i64::from(i32::from_be_bytes(rest.try_into().ok()?)))),
        _ => None,
    }
}

/// Whether canonical bytes starting with `tag` are a number `as_number` takes.
pub(super) fn is_number_tag(tag: u8) -> bool {
    tag == INT || tag == DATE || tag == DATETIME
}

/// Appends the canonical bytes of a number `as_number` gave to `out`; false, with nothing
/// appended, for another tag or a date out of range.
pub(super) fn number_into(tag: u8, n: i64, out: &mut Vec<u8>) -> bool {
    match tag {
        INT | DATETIME => {
            out.push(tag);
            out.extend_from_slice(&n.to_be_bytes());
        }
        DATE => match i32::try_from(n) {
            Ok(d) => {
                out.push(tag);
                out.extend_from_slice(&d.to_be_bytes());
            }
            Err(_) => return false,
        },
        _ => return false,
    }
    true
}

/// Appends the canonical encoding of `v` to `out`.
pub(crate) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.extend_from_slice(&[BOOL, u8::from(*b)]),
        Value::Int(i) => {
            out.push(INT);
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&norm_float(*f).to_bits().to_be_bytes());
        }
        Value::Str(s) => {
            out.push(STR);
            put_bytes(s.as_bytes(), out);
        }
        Value::Date(d) => {
            out.push(DATE);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::DateTime(t) => {
            out.push(DATETIME);
            out.extend_from_slice(&t.to_be_bytes());
        }
        Value::List(items) => {
            out.push(LIST);
            put_len(items.len(), out);
            for item in items {
                encode_value(item, out);
            }
        }
        Value::Dict(map) => {
            out.push(DICT);
            put_len(map.len(), out);
            // BTreeMap<String, _> iterates in UTF-8 byte order: the canonical key order.
            for (k, item) in map {
                put_bytes(k.as_bytes(), out);
                encode_value(item, out);
            }
        }
    }
}

fn put_len(n: usize, out: &mut Vec<u8>) {
    // Values are bounded far below 4 GiB by the size limit; saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_len(b.len(), out);
    out.extend_from_slice(b);
}

/// The canonical encoding as a new vector.
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_len(v));
    encode_value(v, &mut out);
    out
}

/// The length of the canonical encoding, without building it.
pub fn canonical_len(v: &Value) -> usize {
    match v {
        Value::Null => 1,
        Value::Bool(_) => 2,
        Value::Int(_) | Value::Float(_) | Value::DateTime(_) => 9,
        Value::Date(_) => 5,
        Value::Str(s) => 5 + s.len(),
        Value::List(items) => 5 + items.iter().map(canonical_len).sum::<usize>(),
        Value::Dict(map) => 5 + map.iter().map(|(k, v)| 4 + k.len() + canonical_len(v)).sum::<usize>(),
    }
}

/// The content hash: blake3 of the canonical encoding.
/// Encodes into a reused per-thread buffer, so the get_or_create hit path allocates nothing.
pub fn value_hash(v: &Value) -> [u8; 32] {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        encode_value(v, &mut buf);
        let hash = *blake3::hash(&buf).as_bytes();
        // Do not keep a huge buffer alive after one big value.
        if buf.capacity() > 1 << 16 {
            *buf = Vec::new();
        }
        hash
    })
}

/// Decodes a canonical encoding strictly. `max_depth` bounds recursion, so hostile input
/// cannot exhaust the stack.
pub fn decode_value(bytes: &[u8], max_depth: usize) -> Result<Value> {
    // Ints are most values (a snapshot of a million holds a million): no reader for them.
    if let [INT, a, b, c, d, e, f, g, h] = *bytes {
        return Ok(Value::Int(i64::from_be_bytes([a, b, c, d, e, f, g, h])));
    }
    let mut r = Reader { bytes, pos: 0 };
    let v = r.value(max_depth)?;
    if r.pos != bytes.len() {
        return Err(bad(format!("{} trailing bytes after a value", bytes.len() - r.pos)));
    }
    Ok(v)
}

/// Checks that `bytes` are exactly one canonical value — what `decode_value` accepts — without
/// building it (value records keep strings, lists and dicts in this form).
pub fn check_value(bytes: &[u8], max_depth: usize) -> Result<()> {
    let mut r = Reader { bytes, pos: 0 };
    r.skip(max_depth)?;
    if r.pos != bytes.len() {
        return Err(bad(format!("{} trailing bytes after a value", bytes.len() - r.pos)));
    }
    Ok(())
}

/// The canonical bytes of the value at a dict key path inside the canonical value `bytes`, as
/// `Value::at_path` finds it; `None` when a segment is missing or not a dict (or the bytes are
/// not canonical, which value records never hold).
pub(crate) fn at_path<'a>(bytes: &'a [u8], path: &[String]) -> Option<&'a [u8]> {
    let mut cur = bytes;
    for key in path {
        let mut r = Reader { bytes: cur, pos: 0 };
        if r.array::<1>().ok()? != [DICT] {
            return None;
        }
        let mut found = None;
        for _ in 0..r.len().ok()? {
            let k = r.str_bytes().ok()?;
            let start = r.pos;
            r.skip(MAX_NESTING).ok()?;
            match k.cmp(key.as_bytes()) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    found = cur.get(start..r.pos);
                    break;
                }
                // Keys ascend: it is not there.
                std::cmp::Ordering::Greater => return None,
            }
        }
        cur = found?;
    }
    Some(cur)
}

fn bad(reason: String) -> Error {
    Error::corrupt(None, format!("bad value encoding: {reason}"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| bad(format!("truncated at byte {}", self.pos)))?;
        let s = self.bytes.get(self.pos..end).ok_or_else(|| bad("truncated".into()))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn len(&mut self) -> Result<usize> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        // Every item takes at least one byte: a count beyond the rest is a lie, refuse it
        // before allocating.
        if n > self.bytes.len().saturating_sub(self.pos) {
            return Err(bad(format!("length {n} exceeds the remaining input")));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String> {
        self.str_bytes().map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A length-prefixed UTF-8 string's bytes, borrowed.
    fn str_bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| bad("string is not UTF-8".into()))?;
        Ok(b)
    }

    /// Steps over one value, checking it as `value` does (the two must accept the same bytes:
    /// the decode fuzz target compares them).
    fn skip(&mut self, depth_left: usize) -> Result<()> {
        let [tag] = self.array::<1>()?;
        match tag {
            NULL => {}
            BOOL => match self.array::<1>()? {
                [0 | 1] => {}
                [b] => return Err(bad(format!("bool byte {b}"))),
            },
            INT | DATETIME => {
                self.take(8)?;
            }
            FLOAT => {
                let f = f64::from_bits(u64::from_be_bytes(self.array()?));
                if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) {
                    return Err(bad(format!("float {f} is not canonical")));
                }
            }
            STR => {
                self.str_bytes()?;
            }
            DATE => {
                self.take(4)?;
            }
            LIST | DICT if depth_left == 0 => return Err(bad("nesting too deep".into())),
            LIST => {
                for _ in 0..self.len()? {
                    self.skip(depth_left - 1)?;
                }
            }
            DICT => {
                let mut last: Option<&[u8]> = None;
                for _ in 0..self.len()? {
                    let k = self.str_bytes()?;
                    if last.is_some_and(|l| l >= k) {
                        return Err(bad("dict keys are not strictly ascending".into()));
                    }
                    self.skip(depth_left - 1)?;
                    last = Some(k);
                }
            }
            t => return Err(bad(format!("unknown tag {t}"))),
        }
        Ok(())
    }

    fn value(&mut self, depth_left: usize) -> Result<Value> {
        let [tag] = self.array::<1>()?;
        Ok(match tag {
            NULL => Value::Null,
            BOOL => match self.array::<1>()? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                [b] => return Err(bad(format!("bool byte {b}"))),
            },
            INT => Value::Int(i64::from_be_bytes(self.array()?)),
            FLOAT => {
                let f = f64::from_bits(u64::from_be_bytes(self.array()?));
                if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) {
                    return Err(bad(format!("float {f} is not canonical")));
                }
                Value::Float(f)
            }
            STR => Value::Str(self.string()?),
            DATE => Value::Date(i32::from_be_bytes(self.array()?)),
            DATETIME => Value::DateTime(i64::from_be_bytes(self.array()?)),
            LIST | DICT if depth_left == 0 => return Err(bad("nesting too deep".into())),
            LIST => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth_left - 1)?);
                }
                Value::List(items)
            }
            DICT => {
                let n = self.len()?;
                let mut map = BTreeMap::new();
                let mut last: Option<String> = None;
                for _ in 0..n {
                    let k = self.string()?;
                    if last.as_ref().is_some_and(|l| l.as_bytes() >= k.as_bytes()) {
                        return Err(bad("dict keys are not strictly ascending".into()));
                    }
                    let v = self.value(depth_left - 1)?;
                    last = Some(k.clone());
                    map.insert(k, v);
                }
                Value::Dict(map)
            }
            t => return Err(bad(format!("unknown tag {t}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values with dicts nested in dicts and lists, keys from a small alphabet so that paths hit.
    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1e6f64..1e6).prop_map(|f| Value::Float(norm_float(f))),
            "[a-c]{0,3}".prop_map(Value::Str),
            any::<i32>().prop_map(Value::Date),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                proptest::collection::btree_map("[a-c]{0,2}", inner, 0..4).prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        /// A path followed in the canonical bytes finds what it finds in the value.
        #[test]
        fn paths_in_bytes_find_what_paths_in_values_find(
            v in values(),
            path in proptest::collection::vec("[a-c]{0,2}", 0..3),
        ) {
            let bytes = canonical(&v);
            let got = at_path(&bytes, &path).map(|b| decode_value(b, MAX_NESTING).map_err(|e| e.message()));
            prop_assert_eq!(got, v.at_path(&path).cloned().map(Ok));
        }

        /// The checker accepts exactly what the decoder accepts: every value, every cut of it
        /// and every one-byte change.
        #[test]
        fn the_checker_accepts_what_the_decoder_accepts(v in values(), at in any::<usize>(), x in 1u8..=255) {
            let bytes = canonical(&v);
            prop_assert!(check_value(&bytes, MAX_NESTING).is_ok());
            let cut = at % (bytes.len() + 1);
            let short = bytes.get(..cut).unwrap_or_default();
            prop_assert_eq!(check_value(short, MAX_NESTING).is_ok(), decode_value(short, MAX_NESTING).is_ok());
            let mut changed = bytes.clone();
            if let Some(b) = changed.get_mut(at % bytes.len()) {
                *b ^= x;
            }
            prop_assert_eq!(check_value(&changed, MAX_NESTING).is_ok(), decode_value(&changed, MAX_NESTING).is_ok());
        }
    }
}
