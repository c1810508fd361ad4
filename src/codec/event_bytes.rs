//! Events and commit batches, encoded and decoded by hand, in four formats (docs/FORMAT.md).
//!
//! Format 1 is byte for byte what bincode 2 (serde, fixed-width little-endian integers) writes
//! for the `event` types: enum tags as u32, `Option` as a 0/1 byte, strings and vectors as a
//! u64 length and their contents, `[u8; 32]` as its bytes. Every event hash is computed over an
//! event's format 1 bytes, whatever format stores it. Going through serde cost a call per field
//! and per byte of every hash; unit tests check both ways against bincode.
//!
//! Format 2 has the same fields with LEB128 varints for integers, lengths and tags (zigzag for
//! signed ones), and a batch leaves out what its chain implies — the sequence numbers after
//! the first, every `prev` after the first, and each timestamp but as the step from the one
//! before. Format 3 is format 2 without each created value's content hash, which the reader
//! recomputes from the value. Format 4, what the log writes, also leaves out each event's
//! hash, which the reader recomputes along the chain: it keeps 4 bytes of each (so damage is
//! still found at its event) and the last event's whole; and it writes a created int, date or
//! datetime as a zigzag varint instead of its canonical bytes. An int value's event takes
//! about 22 bytes, against 55 in format 3, 87 in format 2 and 180 in format 1.
//!
//! ```text
//! chain  = count varint (≥ 1), first seq varint, first prev [32], event2*
//! event2 = at − previous at (zigzag; the first from 0), actor, run (0/1 byte, varint),
//!          record (kind, id), data (as format 1, varints; formats 3 and 4: no value hash;
//!          format 4: a number value as 0, its tag, a zigzag varint),
//!          hash [32] (format 4: its first 4 bytes, the last event's all 32)
//! ```

use super::{canon as canonical, varint};
use crate::error::{Error, Result};
use crate::event::{Event, EventData, Host, RecordRef, RecordType, Role};
use crate::value::Dtype;

/// How a format writes integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ints {
    /// Format 1: little-endian, 8 bytes (tags 4).
    Fixed,
    /// Format 2: varints.
    Var,
}

/// An output buffer and the integer form of its format.
struct W<'a> {
    out: &'a mut Vec<u8>,
    ints: Ints,
    /// Whether a created value's content hash is written (formats 1 and 2) or left to be
    /// recomputed from the value (format 3).
    value_hashes: bool,
    /// Whether ints, dates and datetimes are written in their compact form (format 4).
    compact: bool,
}

impl W<'_> {
    fn u64(&mut self, v: u64) {
        match self.ints {
            Ints::Fixed => self.out.extend_from_slice(&v.to_le_bytes()),
            Ints::Var => varint::put(v, self.out),
        }
    }

    fn i64(&mut self, v: i64) {
        match self.ints {
            Ints::Fixed => self.out.extend_from_slice(&v.to_le_bytes()),
            Ints::Var => varint::put(varint::zigzag(v), self.out),
        }
    }

    fn tag(&mut self, t: u32) {
        match self.ints {
            Ints::Fixed => self.out.extend_from_slice(&t.to_le_bytes()),
            Ints::Var => varint::put(u64::from(t), self.out),
        }
    }

    fn flag(&mut self, b: bool) {
        self.out.push(u8::from(b));
    }

    fn opt(&mut self, v: Option<u64>) {
        self.flag(v.is_some());
        if let Some(x) = v {
            self.u64(x);
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    /// A created value's canonical bytes; format 4 writes a number as a 0 length, its tag and
    /// its zigzag varint (an int below 64 in 3 bytes instead of 10).
    fn value(&mut self, canonical: &[u8]) {
        match canonical::as_number(canonical) {
            Some((tag, n)) if self.compact => {
                self.out.extend_from_slice(&[0, tag]);
                self.i64(n);
            }
            _ => self.bytes(canonical),
        }
    }

    /// The four kinds whose data is only a name.
    fn named(&mut self, tag: u32, name: &str) {
        self.tag(tag);
        self.bytes(name.as_bytes());
    }

    fn host(&mut self, h: Host) {
        let (tag, id) = match h {
            Host::Artifact(id) => (0, id),
            Host::Run(id) => (1, id),
        };
        self.tag(tag);
        self.u64(id);
    }

    fn record(&mut self, r: RecordRef) {
        let tag = match r.kind {
            RecordType::User => 0,
            RecordType::Space => 1,
            RecordType::Branch => 2,
            RecordType::Run => 3,
            RecordType::Feature => 4,
            RecordType::Artifact => 5,
            RecordType::Value => 6,
        };
        self.tag(tag);
        self.u64(r.id);
    }
}

const DTYPES: [Dtype; 14] = [
    Dtype::Int,
    Dtype::Float,
    Dtype::Num,
    Dtype::Str,
    Dtype::Bool,
    Dtype::Date,
    Dtype::DateTime,
    Dtype::Dict,
    Dtype::ListInt,
    Dtype::ListFloat,
    Dtype::ListStr,
    Dtype::Path,
    Dtype::Url,
    Dtype::Object,
];
const RECORD_TYPES: [RecordType; 7] = [
    RecordType::User,
    RecordType::Space,
    RecordType::Branch,
    RecordType::Run,
    RecordType::Feature,
    RecordType::Artifact,
    RecordType::Value,
];
const ROLES: [Role; 3] = [Role::Read, Role::Write, Role::Admin];

impl W<'_> {
    fn data(&mut self, d: &EventData) {
        match d {
            EventData::CreateUser { handle: name } => self.named(0, name),
            EventData::CreateSpace { name } => self.named(1, name),
            EventData::CreateBranch { name } => self.named(2, name),
            EventData::CreateRun { name } => self.named(3, name),
            EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => {
                self.tag(4);
                self.bytes(name.as_bytes());
                let tag = DTYPES.iter().position(|d| d == dtype).unwrap_or(0);
                self.tag(tag as u32);
                self.flag(*nullable);
                self.flag(*coerce);
                self.i64(*branch);
                self.u64(*space);
            }
            EventData::CreateArtifact { key, branch, space } => {
                self.tag(5);
                self.bytes(key.as_bytes());
                self.i64(*branch);
                self.u64(*space);
            }
            EventData::CreateValue { feature, value, hash, branch, space } => {
                self.tag(6);
                self.opt(*feature);
                self.value(value);
                if self.value_hashes {
                    self.out.extend_from_slice(hash);
                }
                self.i64(*branch);
                self.u64(*space);
            }
            EventData::BranchChange { from, to } => {
                self.tag(7);
                self.i64(*from);
                self.i64(*to);
            }
            EventData::SpaceChange { from, to } => {
                self.tag(8);
                self.u64(*from);
                self.u64(*to);
            }
            EventData::Link { host } => {
                self.tag(9);
                self.host(*host);
            }
            EventData::Unlink { host } => {
                self.tag(10);
                self.host(*host);
            }
            EventData::Delete => self.tag(11),
            EventData::Merge { moved } => {
                self.tag(12);
                self.u64(moved.len() as u64);
                for r in moved {
                    self.record(*r);
                }
            }
            EventData::Grant { user, role } => {
                self.tag(13);
                self.u64(*user);
                match role {
                    None => self.flag(false),
                    Some(r) => {
                        self.flag(true);
                        let tag = ROLES.iter().position(|x| x == r).unwrap_or(0);
                        self.tag(tag as u32);
                    }
                }
            }
            EventData::RunFinish => self.tag(14),
        }
    }
}

/// Appends an event's format 1 body; with `zero_hash` its `hash` is written as 32 zero bytes
/// (the form the chain hash is computed over).
pub(super) fn put_event(e: &Event, zero_hash: bool, out: &mut Vec<u8>) {
    put_event_chained(e, &e.prev, if zero_hash { &[0; 32] } else { &e.hash }, out);
}

/// `put_event` with the `prev` and `hash` given, whatever the event's own fields say.
fn put_event_chained(e: &Event, prev: &[u8; 32], hash: &[u8; 32], out: &mut Vec<u8>) {
    let mut w = W { out, ints: Ints::Fixed, value_hashes: true, compact: false };
    w.u64(e.seq);
    w.i64(e.at);
    w.u64(e.actor);
    w.opt(e.run);
    w.record(e.record);
    w.data(&e.data);
    w.out.extend_from_slice(prev);
    w.out.extend_from_slice(hash);
}

/// Appends a batch's format 1 body: the event count, then the events.
pub(super) fn put_batch(events: &[Event], out: &mut Vec<u8>) {
    out.extend_from_slice(&(events.len() as u64).to_le_bytes());
    for e in events {
        put_event(e, false, out);
    }
}

/// Can format 2 hold this batch: at least one event, consecutive sequence numbers, and each
/// `prev` the hash of the event before? (The log writes only such batches; a tampered one, as
/// tests make, may not be.)
pub(super) fn chained(events: &[Event]) -> bool {
    !events.is_empty()
        && events.windows(2).all(|p| match p {
            [a, z] => a.seq.checked_add(1) == Some(z.seq) && z.prev == a.hash,
            _ => true,
        })
}

/// Can format 4 hold these events' values: is every one that starts with a number's tag a
/// well-formed number? (Values made by commands always are; format 4 refuses the long form.)
pub(super) fn compactable(events: &[Event]) -> bool {
    events.iter().all(|e| match &e.data {
        EventData::CreateValue { value, .. } => {
            !value.first().is_some_and(|t| canonical::is_number_tag(*t)) || canonical::as_number(value).is_some()
        }
        _ => true,
    })
}

/// What a chained record (formats 2 to 4) stores beside the events' fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chain {
    /// Format 2: created values' content hashes and event hashes.
    V2,
    /// Format 3: event hashes.
    V3,
    /// Format 4: 4 bytes of each event's hash but the last's, then the last one whole.
    V4,
}

/// Bytes of an event's hash a format 4 record keeps for each event but its last.
const CHECK: usize = 4;

/// Appends a batch's body in a chained format; `chained(events)` must hold, and for format 4
/// every event's hash must be its own (`event_hash`), as the reader recomputes them.
pub(super) fn put_chain(events: &[Event], chain: Chain, out: &mut Vec<u8>) {
    let Some(first) = events.first() else { return };
    put_chain_by(events, &first.prev, |i| events.get(i).map_or([0; 32], |e| e.hash), chain, out);
}

/// `put_chain` for events whose hashes are `hash(i)`, the first following `prev`, whatever
/// their own `prev` and `hash` fields say (the writer thread hashes a shared commit beside
/// its events, which its caller is still reading).
pub(super) fn put_chain_by(
    events: &[Event],
    prev: &[u8; 32],
    hash: impl Fn(usize) -> [u8; 32],
    chain: Chain,
    out: &mut Vec<u8>,
) {
    let mut w = W { out, ints: Ints::Var, value_hashes: chain == Chain::V2, compact: chain == Chain::V4 };
    let Some(first) = events.first() else { return };
    w.u64(events.len() as u64);
    w.u64(first.seq);
    w.out.extend_from_slice(prev);
    let mut at = 0i64;
    for (i, e) in events.iter().enumerate() {
        w.i64(e.at.wrapping_sub(at));
        at = e.at;
        w.u64(e.actor);
        w.opt(e.run);
        w.record(e.record);
        w.data(&e.data);
        let whole = hash(i);
        let kept = match chain {
            Chain::V2 | Chain::V3 => &whole[..],
            // The last event's check would repeat the first bytes of the whole hash after it.
            Chain::V4 if i + 1 == events.len() => &whole[..],
            Chain::V4 => &whole[..CHECK],
        };
        w.out.extend_from_slice(kept);
    }
}

/// The chain hash of an event: blake3 over its format 1 encoding with `hash` zeroed (the
/// version byte first), encoded into a reused per-thread buffer and hashed in one call.
pub(super) fn chain_hash(e: &Event) -> [u8; 32] {
    chain_hash_after(e, &e.prev)
}

/// The chain hash `e` has after an event whose hash is `prev`, whatever its own `prev` says.
pub(super) fn chain_hash_after(e: &Event, prev: &[u8; 32]) -> [u8; 32] {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.push(super::EVENT_FORMAT);
        put_event_chained(e, prev, &[0; 32], &mut buf);
        *blake3::hash(&buf).as_bytes()
    })
}

/// Seals a format 4 record's events as [`Reader::chain_into`] left them (all of them, or the
/// first ones when the record did not decode whole): computes each event's hash along the
/// chain from the record's first `prev`, and checks it against the bytes the record kept (4,
/// or all 32 for the record's last event, which `whole` says is among these). On an error,
/// naming the event, the events before it are sealed.
pub(super) fn seal(events: &mut [Event], whole: bool) -> Result<()> {
    let n = events.len();
    let mut prev = None;
    for (i, e) in events.iter_mut().enumerate() {
        if let Some(p) = prev {
            e.prev = p;
        }
        let hash = chain_hash(e);
        let kept = if whole && i + 1 == n { 32 } else { CHECK };
        if hash.get(..kept) != e.hash.get(..kept) {
            return Err(Error::corrupt(Some(e.seq), "event hash does not match its contents (tampered or damaged)"));
        }
        e.hash = hash;
        prev = Some(hash);
    }
    Ok(())
}

/// A cursor over a record's body; every read checks the length.
pub(super) struct Reader<'a> {
    pub rest: &'a [u8],
    ints: Ints,
    /// Whether created values' content hashes are stored, or recomputed here (formats 3, 4).
    value_hashes: bool,
    /// Whether event hashes are stored whole, or recomputed here (format 4).
    event_hashes: bool,
    /// Whether numbers are in their compact form (format 4).
    compact: bool,
    /// Emptied vectors to decode created values into, instead of allocating one each (a
    /// replay hands back the values of the events it has folded).
    pub pool: Vec<Vec<u8>>,
}

fn short() -> Error {
    Error::corrupt(None, "unexpected end of the record")
}

impl<'a> Reader<'a> {
    pub fn new(rest: &'a [u8], ints: Ints) -> Reader<'a> {
        Reader { rest, ints, value_hashes: true, event_hashes: true, compact: false, pool: Vec::new() }
    }

    /// A reader of a chained format (varints).
    pub fn chained(rest: &'a [u8], chain: Chain) -> Reader<'a> {
        let v4 = chain == Chain::V4;
        Reader {
            rest,
            ints: Ints::Var,
            value_hashes: chain == Chain::V2,
            event_hashes: !v4,
            compact: v4,
            pool: Vec::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(short());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| short())
    }

    fn var(&mut self) -> Result<u64> {
        varint::take(&mut self.rest).map_err(|e| match e {
            varint::Bad::Short => short(),
            varint::Bad::Malformed => Error::corrupt(None, "malformed varint"),
        })
    }

    fn u64(&mut self) -> Result<u64> {
        match self.ints {
            Ints::Fixed => Ok(u64::from_le_bytes(self.arr()?)),
            Ints::Var => self.var(),
        }
    }

    fn i64(&mut self) -> Result<i64> {
        match self.ints {
            Ints::Fixed => Ok(i64::from_le_bytes(self.arr()?)),
            Ints::Var => Ok(varint::unzigzag(self.var()?)),
        }
    }

    fn tag(&mut self) -> Result<u32> {
        match self.ints {
            Ints::Fixed => Ok(u32::from_le_bytes(self.arr()?)),
            Ints::Var => {
                let t = self.var()?;
                u32::try_from(t).map_err(|_| Error::corrupt(None, format!("tag {t} out of range")))
            }
        }
    }

    fn flag(&mut self) -> Result<bool> {
        match self.arr::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(Error::corrupt(None, format!("invalid bool or option tag {b}"))),
        }
    }

    fn opt(&mut self) -> Result<Option<u64>> {
        Ok(if self.flag()? { Some(self.u64()?) } else { None })
    }

    /// A length that the remaining bytes can hold at `fixed` bytes per item in format 1,
    /// `var` in format 2.
    fn len(&mut self, fixed: usize, var: usize) -> Result<usize> {
        let min = if self.ints == Ints::Fixed { fixed } else { var };
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min) <= self.rest.len())
            .ok_or_else(|| Error::corrupt(None, format!("length {n} exceeds the record")))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1, 1)?;
        self.take(n)
    }

    /// A created value's canonical bytes, as `W::value` wrote them. Format 4 refuses a number
    /// in the long form, so that each value has one encoding.
    fn value(&mut self) -> Result<Vec<u8>> {
        let mut out = self.pool.pop().unwrap_or_default();
        if !self.compact {
            out.extend_from_slice(self.bytes()?);
            return Ok(out);
        }
        let n = self.len(1, 1)?;
        if n > 0 {
            let b = self.take(n)?;
            if b.first().is_some_and(|t| canonical::is_number_tag(*t)) {
                return Err(Error::corrupt(None, "a number value in the long form (format 4 writes it compact)"));
            }
            out.extend_from_slice(b);
            return Ok(out);
        }
        let [tag] = self.arr::<1>()?;
        let number = self.i64()?;
        if !canonical::number_into(tag, number, &mut out) {
            return Err(Error::corrupt(None, format!("compact value of tag {tag} holds {number}, not a number of it")));
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::corrupt(None, "a string is not valid UTF-8"))
    }

    fn pick<T: Copy>(&mut self, all: &[T], what: &str) -> Result<T> {
        let t = self.tag()?;
        usize::try_from(t)
            .ok()
            .and_then(|i| all.get(i).copied())
            .ok_or_else(|| Error::corrupt(None, format!("unknown {what} tag {t}")))
    }

    fn host(&mut self) -> Result<Host> {
        match self.tag()? {
            0 => Ok(Host::Artifact(self.u64()?)),
            1 => Ok(Host::Run(self.u64()?)),
            t => Err(Error::corrupt(None, format!("unknown host tag {t}"))),
        }
    }

    fn record(&mut self) -> Result<RecordRef> {
        let kind = self.pick(&RECORD_TYPES, "record type")?;
        Ok(RecordRef { kind, id: self.u64()? })
    }

    fn data(&mut self) -> Result<EventData> {
        Ok(match self.tag()? {
            0 => EventData::CreateUser { handle: self.string()? },
            1 => EventData::CreateSpace { name: self.string()? },
            2 => EventData::CreateBranch { name: self.string()? },
            3 => EventData::CreateRun { name: self.string()? },
            4 => EventData::CreateFeature {
                name: self.string()?,
                dtype: self.pick(&DTYPES, "dtype")?,
                nullable: self.flag()?,
                coerce: self.flag()?,
                branch: self.i64()?,
                space: self.u64()?,
            },
            5 => EventData::CreateArtifact { key: self.string()?, branch: self.i64()?, space: self.u64()? },
            6 => {
                let feature = self.opt()?;
                let value = self.value()?;
                // Format 3 leaves the hash out: it is the content's, by definition. A stored one
                // must be (only a forged log has another), and this is where that is checked,
                // once: the fold trusts every decoded event's value hash.
                let hash = *blake3::hash(&value).as_bytes();
                if self.value_hashes && self.arr::<32>()? != hash {
                    return Err(Error::corrupt(None, "a created value's stored hash is not its content's"));
                }
                EventData::CreateValue { feature, value, hash, branch: self.i64()?, space: self.u64()? }
            }
            7 => EventData::BranchChange { from: self.i64()?, to: self.i64()? },
            8 => EventData::SpaceChange { from: self.u64()?, to: self.u64()? },
            9 => EventData::Link { host: self.host()? },
            10 => EventData::Unlink { host: self.host()? },
            11 => EventData::Delete,
            12 => {
                // A record ref takes 12 bytes (2 in format 2): the count cannot promise more than the
                // record holds.
                let n = self.len(12, 2)?;
                let moved = (0..n).map(|_| self.record()).collect::<Result<Vec<_>>>()?;
                EventData::Merge { moved }
            }
            13 => {
                let user = self.u64()?;
                let role = if self.flag()? { Some(self.pick(&ROLES, "role")?) } else { None };
                EventData::Grant { user, role }
            }
            14 => EventData::RunFinish,
            t => return Err(Error::corrupt(None, format!("unknown event kind tag {t}"))),
        })
    }

    pub fn event(&mut self) -> Result<Event> {
        let seq = self.u64()?;
        Ok(Event {
            seq,
            at: self.i64()?,
            actor: self.u64()?,
            run: self.opt()?,
            record: self.record()?,
            data: self.data().map_err(|e| e.at_seq(seq))?,
            prev: self.arr()?,
            hash: self.arr()?,
        })
    }

    /// A format 1 batch.
    /// A format 1 batch, appended to `out` (partly, on an error).
    pub fn batch_into(&mut self, out: &mut Vec<Event>) -> Result<()> {
        // The smallest event (a `Delete`) takes 8+8+8+1+12+4+64 bytes.
        let n = self.len(105, 105)?;
        out.reserve(n);
        for _ in 0..n {
            out.push(self.event()?);
        }
        Ok(())
    }

    /// A format 2, 3 or 4 batch, appended to `out` (partly, on an error): sequence numbers and
    /// `prev` hashes filled in from the chain. Format 4's events come out unsealed: the first
    /// one's `prev` is the record's, the others' are zeros, and each `hash` holds the bytes the
    /// record keeps of it (then zeros) until [`seal`] computes them.
    pub fn chain_into(&mut self, out: &mut Vec<Event>) -> Result<()> {
        // The smallest event takes 1+1+1+2+1 bytes, and its hash 32 (format 4: 4; its last 32).
        let n = self.len(38, if self.event_hashes { 38 } else { 10 })?;
        if n == 0 {
            return Err(Error::corrupt(None, "a chained batch of no events"));
        }
        let first = self.u64()?;
        let mut prev: [u8; 32] = self.arr()?;
        let mut at = 0i64;
        out.reserve(n);
        for i in 0..n as u64 {
            let seq = first.checked_add(i).ok_or_else(|| Error::corrupt(None, "sequence numbers overflow"))?;
            at = at.wrapping_add(self.i64()?);
            let mut e = Event {
                seq,
                at,
                actor: self.u64()?,
                run: self.opt()?,
                record: self.record()?,
                data: self.data().map_err(|e| e.at_seq(seq))?,
                prev,
                hash: [0; 32],
            };
            if self.event_hashes {
                e.hash = self.arr()?;
                prev = e.hash;
            } else {
                let kept = self.take(if i + 1 == n as u64 { 32 } else { CHECK })?;
                e.hash.get_mut(..kept.len()).ok_or_else(short)?.copy_from_slice(kept);
                prev = [0; 32];
            }
            out.push(e);
        }
        Ok(())
    }

    pub fn finish(&self, what: &str) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(None, format!("{} trailing bytes after a {what}", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Batch;

    fn events() -> Vec<Event> {
        let datas = vec![
            EventData::CreateUser { handle: "ünï".into() },
            EventData::CreateSpace { name: "s".into() },
            EventData::CreateBranch { name: "b".into() },
            EventData::CreateRun { name: String::new() },
            EventData::CreateFeature {
                name: "f".into(),
                dtype: Dtype::ListStr,
                nullable: true,
                coerce: false,
                branch: -1,
                space: 3,
            },
            EventData::CreateArtifact { key: "k".into(), branch: 4, space: 1 },
            EventData::CreateValue {
                feature: Some(2),
                value: vec![2, 0, 0, 0, 0, 0, 0, 0, 42],
                hash: [7; 32],
                branch: 1,
                space: 1,
            },
            EventData::CreateValue { feature: None, value: vec![1, 1], hash: [8; 32], branch: 5, space: 2 },
            EventData::BranchChange { from: 1, to: -1 },
            EventData::SpaceChange { from: 1, to: 2 },
            EventData::Link { host: Host::Artifact(9) },
            EventData::Unlink { host: Host::Run(3) },
            EventData::Delete,
            EventData::Merge {
                moved: vec![
                    RecordRef { kind: RecordType::Value, id: 1 },
                    RecordRef { kind: RecordType::Feature, id: 2 },
                ],
            },
            EventData::Grant { user: 2, role: Some(Role::Admin) },
            EventData::Grant { user: 2, role: None },
            EventData::RunFinish,
        ];
        datas
            .into_iter()
            .map(|mut data| {
                // The decoders refuse a value whose stored hash is not its content's.
                if let EventData::CreateValue { value, hash, .. } = &mut data {
                    *hash = *blake3::hash(value).as_bytes();
                }
                data
            })
            .enumerate()
            .map(|(i, data)| Event {
                seq: i as u64 + 1,
                at: -5 + i as i64,
                actor: 1,
                run: (i % 2 == 0).then_some(i as u64),
                record: RecordRef { kind: RECORD_TYPES[i % 7], id: i as u64 },
                data,
                prev: [i as u8; 32],
                hash: [0xff - i as u8; 32],
            })
            .collect()
    }

    #[test]
    fn same_bytes_as_bincode_and_back() {
        let cfg = super::super::config();
        for e in events() {
            let want = bincode::serde::encode_to_vec(&e, cfg).unwrap_or_default();
            let mut got = Vec::new();
            put_event(&e, false, &mut got);
            assert_eq!(got, want, "{e:?}");
            let mut r = Reader::new(&got, Ints::Fixed);
            assert_eq!(r.event().ok().as_ref(), Some(&e));
            assert!(r.finish("event").is_ok());
            for cut in 0..got.len() {
                assert!(Reader::new(&got[..cut], Ints::Fixed).event().is_err(), "{e:?} cut at {cut}");
            }
        }
        let b = Batch { events: events() };
        let want = bincode::serde::encode_to_vec(&b, cfg).unwrap_or_default();
        let mut got = Vec::new();
        put_batch(&b.events, &mut got);
        assert_eq!(got, want);
        let mut back = Vec::new();
        assert!(Reader::new(&got, Ints::Fixed).batch_into(&mut back).is_ok());
        assert_eq!(back, b.events);
    }

    #[test]
    fn every_dtype_and_role_tag_matches() {
        let cfg = super::super::config();
        for d in DTYPES {
            assert_eq!(
                bincode::serde::encode_to_vec(d, cfg).ok(),
                Some((DTYPES.iter().position(|x| *x == d).unwrap_or(99) as u32).to_le_bytes().to_vec())
            );
        }
        for r in ROLES {
            assert_eq!(
                bincode::serde::encode_to_vec(r, cfg).ok(),
                Some((ROLES.iter().position(|x| *x == r).unwrap_or(99) as u32).to_le_bytes().to_vec())
            );
        }
    }

    /// The test events made into a chain, as the log writes them.
    fn chain() -> Batch {
        let mut events = events();
        let mut prev = [9; 32];
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = 1_000_000 + i as u64;
            e.prev = prev;
            prev = e.hash;
        }
        Batch { events }
    }

    #[test]
    fn format_2_round_trips_and_is_about_half_the_size() {
        let b = chain();
        assert!(chained(&b.events));
        let mut v2 = Vec::new();
        put_chain(&b.events, Chain::V2, &mut v2);
        let mut r = Reader::new(&v2, Ints::Var);
        let mut back = Vec::new();
        assert!(r.chain_into(&mut back).is_ok());
        assert_eq!(back, b.events);
        assert!(r.finish("batch").is_ok());
        for cut in 0..v2.len() {
            assert!(Reader::new(&v2[..cut], Ints::Var).chain_into(&mut Vec::new()).is_err(), "cut at {cut}");
        }
        let mut v1 = Vec::new();
        put_batch(&b.events, &mut v1);
        assert!(v2.len() * 10 < v1.len() * 6, "format 2 {} bytes, format 1 {}: not under 60 %", v2.len(), v1.len());
        // Extreme integers survive the varints.
        let mut big = chain();
        big.events.truncate(3);
        for (i, e) in big.events.iter_mut().enumerate() {
            e.seq = u64::MAX - 2 + i as u64;
        }
        if let Some(e) = big.events.first_mut() {
            (e.at, e.actor, e.run) = (i64::MIN, u64::MAX, Some(u64::MAX));
        }
        assert!(chained(&big.events));
        let mut v = Vec::new();
        put_chain(&big.events, Chain::V2, &mut v);
        let mut back = Vec::new();
        assert!(Reader::new(&v, Ints::Var).chain_into(&mut back).is_ok());
        assert_eq!(back, big.events);
    }

    /// The test chain's value events, and a copy with the first one's stored hash forged.
    fn forged_chain() -> (Batch, Batch, u64) {
        let b = chain();
        let mut forged = b.clone();
        let e = forged.events.iter_mut().find(|e| matches!(e.data, EventData::CreateValue { .. }));
        let Some(Event { seq, data: EventData::CreateValue { hash, .. }, .. }) = e else {
            panic!("the test chain creates values");
        };
        *hash = [7; 32];
        let seq = *seq;
        (b, forged, seq)
    }

    #[test]
    fn format_3_leaves_out_value_hashes_and_recomputes_them() {
        let b = chain();
        let values = b.events.iter().filter(|e| matches!(e.data, EventData::CreateValue { .. })).count();
        assert!(values >= 2);
        let (mut v2, mut v3) = (Vec::new(), Vec::new());
        put_chain(&b.events, Chain::V2, &mut v2);
        put_chain(&b.events, Chain::V3, &mut v3);
        assert_eq!(v3.len() + 32 * values, v2.len());
        let mut r = Reader::chained(&v3, Chain::V3);
        let mut back = Vec::new();
        assert!(r.chain_into(&mut back).is_ok());
        assert!(r.finish("batch").is_ok());
        assert_eq!(back, b.events);
        for cut in 0..v3.len() {
            assert!(Reader::chained(&v3[..cut], Chain::V3).chain_into(&mut Vec::new()).is_err(), "cut at {cut}");
        }
        // A forged hash cannot be stored in format 3: it reads back as the content's.
        let (_, forged, _) = forged_chain();
        let mut v = Vec::new();
        put_chain(&forged.events, Chain::V3, &mut v);
        let mut back = Vec::new();
        assert!(Reader::chained(&v, Chain::V3).chain_into(&mut back).is_ok());
        assert_eq!(back, b.events);
    }

    /// The test chain with real hashes, each its event's, as sealing makes them.
    fn sealed_chain() -> Batch {
        let mut b = chain();
        let mut prev = [9; 32];
        for e in &mut b.events {
            e.prev = prev;
            e.hash = chain_hash(e);
            prev = e.hash;
        }
        b
    }

    /// A format 4 body read as the log reads its records: what came back, and the verdict.
    fn read_v4_partly(body: &[u8]) -> (Vec<Event>, Result<bool>) {
        let mut record = vec![4];
        record.extend_from_slice(body);
        let mut back = Vec::new();
        let got = super::super::decode_batch_into(&record, &mut back);
        (back, got)
    }

    fn read_v4(body: &[u8]) -> Result<Vec<Event>> {
        match read_v4_partly(body) {
            (back, Ok(true)) => Ok(back),
            (_, Ok(false)) => Err(Error::corrupt(None, "format 4 hashes were not computed")),
            (_, Err(why)) => Err(why),
        }
    }

    #[test]
    fn format_4_keeps_4_bytes_of_each_hash_and_recomputes_them() {
        let b = sealed_chain();
        let (mut v3, mut v4) = (Vec::new(), Vec::new());
        put_chain(&b.events, Chain::V3, &mut v3);
        put_chain(&b.events, Chain::V4, &mut v4);
        // The one int value (42) takes 3 bytes instead of 10: a 0 length, its tag, 84 (zigzag).
        assert_eq!(v4.len() + (32 - CHECK) * (b.events.len() - 1) + 7, v3.len());
        assert_eq!(read_v4(&v4).ok(), Some(b.events.clone()));
        for cut in 0..v4.len() {
            assert!(read_v4(&v4[..cut]).is_err(), "cut at {cut}");
        }
        // One event alone: its hash whole, as format 3 keeps it.
        let one = &b.events[..1];
        let (mut v3, mut v4) = (Vec::new(), Vec::new());
        put_chain(one, Chain::V3, &mut v3);
        put_chain(one, Chain::V4, &mut v4);
        assert_eq!(v3, v4);
        assert_eq!(read_v4(&v4).ok().as_deref(), Some(one));
    }

    /// A sealed one-event chain creating a value of these canonical bytes.
    fn value_chain(value: Vec<u8>) -> Vec<Event> {
        let hash = *blake3::hash(&value).as_bytes();
        let mut e = Event {
            seq: 1,
            at: 7,
            actor: 1,
            run: None,
            record: RecordRef { kind: RecordType::Value, id: 1 },
            data: EventData::CreateValue { feature: Some(1), value, hash, branch: 1, space: 1 },
            prev: [0; 32],
            hash: [0; 32],
        };
        e.hash = chain_hash(&e);
        vec![e]
    }

    #[test]
    fn format_4_writes_numbers_compact_and_refuses_their_long_form() {
        use crate::value::Value;
        // (value, bytes in the long form: a length and the canonical bytes, in the compact one)
        let numbers = [
            (Value::Int(0), 10, 3),
            (Value::Int(-64), 10, 3),
            (Value::Int(1_000_000), 10, 5),
            (Value::Int(i64::MIN), 10, 12),
            (Value::Int(i64::MAX), 10, 12),
            (Value::Date(20_419), 6, 5),
            (Value::Date(-719_162), 6, 5),
            (Value::Date(i32::MAX), 6, 7),
            (Value::DateTime(1_764_000_000_000_000), 10, 10),
        ];
        for (v, long, compact) in numbers {
            let events = value_chain(canonical::canonical(&v));
            let (mut v3, mut v4) = (Vec::new(), Vec::new());
            put_chain(&events, Chain::V3, &mut v3);
            put_chain(&events, Chain::V4, &mut v4);
            assert_eq!(v3.len() + compact, v4.len() + long, "{v:?}: format 4 keeps {compact} bytes of its value");
            assert_eq!(read_v4(&v4).ok(), Some(events.clone()), "{v:?}");
            // The long form, as format 3 writes it, is not format 4.
            assert!(read_v4(&v3).is_err(), "{v:?} in the long form");
        }
        // Other values keep their canonical bytes, as in format 3.
        let events = value_chain(canonical::canonical(&Value::Str("x".into())));
        let (mut v3, mut v4) = (Vec::new(), Vec::new());
        put_chain(&events, Chain::V3, &mut v3);
        put_chain(&events, Chain::V4, &mut v4);
        assert_eq!(v3, v4);
        // A compact date beyond 32 bits, and a compact form of another tag, do not decode.
        let mut date = value_chain(canonical::canonical(&Value::Date(5)));
        let mut bad = Vec::new();
        put_chain(&date, Chain::V4, &mut bad);
        // The date 5 compact: a 0 length, the date tag, zigzag(5) = 10.
        let Some(at) = bad.windows(3).position(|w| w == [0, 5, 10]) else { panic!("no compact date in {bad:?}") };
        let mut tag = bad.clone();
        tag[at + 1] = 4; // a string's tag
        assert!(read_v4(&tag).is_err());
        // A malformed int (7 bytes short), hashed genuinely, cannot be written in format 4:
        // the codec falls back to format 3.
        if let Some(e) = date.first_mut() {
            if let EventData::CreateValue { value, hash, .. } = &mut e.data {
                *value = vec![2, 1];
                *hash = *blake3::hash(value).as_bytes();
            }
            e.hash = chain_hash(e);
        }
        assert!(!compactable(&date));
        let batch = Batch { events: date };
        assert_eq!(super::super::encode_batch(&batch).first(), Some(&3));
    }

    #[test]
    fn format_4_names_the_event_whose_contents_or_kept_hash_changed() {
        let b = sealed_chain();
        let mut v4 = Vec::new();
        put_chain(&b.events, Chain::V4, &mut v4);
        let mut hits = std::collections::BTreeSet::new();
        // Flip each byte after the header in turn: always noticed, the events before the
        // damage come back, and a hash that does not match names the first event not returned.
        let header = 1 + 3 + 32;
        for at in header..v4.len() {
            let mut bad = v4.clone();
            bad[at] ^= 0x20;
            let (back, got) = read_v4_partly(&bad);
            assert!(got.is_err(), "flipping byte {at} went unnoticed");
            assert_eq!(back[..], b.events[..back.len()], "events before the damage come back as they were");
            if let Err(Error::Corruption { at: Some(seq), reason }) = got {
                if reason.contains("event hash does not match") {
                    assert_eq!(seq, b.events[back.len()].seq);
                    hits.insert(seq);
                }
            }
        }
        // Every event's own check (or the last one's hash) caught a flip in it.
        assert_eq!(hits.len(), b.events.len(), "{hits:?}");
    }

    #[test]
    fn a_stored_value_hash_that_is_not_the_contents_is_refused_at_its_event() {
        let (_, forged, seq) = forged_chain();
        let mut v2 = Vec::new();
        put_chain(&forged.events, Chain::V2, &mut v2);
        let mut v1 = Vec::new();
        put_batch(&forged.events, &mut v1);
        let errors = [
            Reader::new(&v2, Ints::Var).chain_into(&mut Vec::new()).err(),
            Reader::new(&v1, Ints::Fixed).batch_into(&mut Vec::new()).err(),
        ];
        for e in errors {
            match e {
                Some(Error::Corruption { at, reason }) => {
                    assert_eq!(at, Some(seq));
                    assert!(reason.contains("stored hash is not its content"), "{reason}");
                }
                other => panic!("expected a corruption at event {seq}, got {other:?}"),
            }
        }
    }

    #[test]
    fn batches_format_2_cannot_hold_are_recognised() {
        let mut b = chain();
        assert!(!chained(&[]));
        if let Some(e) = b.events.get_mut(3) {
            e.prev = [0; 32];
        }
        assert!(!chained(&b.events), "a broken prev");
        let mut b = chain();
        if let Some(e) = b.events.get_mut(3) {
            e.seq += 1;
        }
        assert!(!chained(&b.events), "a gap in the sequence numbers");
    }
}
