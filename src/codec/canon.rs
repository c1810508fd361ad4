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
        let n = self.len()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| bad("string is not UTF-8".into()))
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
