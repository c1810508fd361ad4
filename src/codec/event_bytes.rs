//! Events and commit batches, encoded and decoded by hand, byte for byte as bincode 2 (serde,
//! fixed-width little-endian integers) writes the `event` types (docs/FORMAT.md): enum tags
//! as u32, `Option` as a 0/1 byte, strings and vectors as a u64 length and their contents,
//! `[u8; 32]` as its bytes. Going through serde cost a call per field and per byte of every
//! hash; events are encoded on every commit (to hash them, then to store them) and decoded and
//! re-hashed on every replay, so this is on the write path and the open path. The bytes and
//! therefore every event hash are unchanged; unit tests check both ways against bincode.

use crate::error::{Error, Result};
use crate::event::{Batch, Event, EventData, Host, RecordRef, RecordType, Role};
use crate::value::Dtype;

fn u32_tag(t: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.to_le_bytes());
}

fn put_u64(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(v: Option<u64>, out: &mut Vec<u8>) {
    match v {
        None => out.push(0),
        Some(x) => {
            out.push(1);
            put_u64(x, out);
        }
    }
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_u64(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn put_host(h: Host, out: &mut Vec<u8>) {
    let (tag, id) = match h {
        Host::Artifact(id) => (0, id),
        Host::Run(id) => (1, id),
    };
    u32_tag(tag, out);
    put_u64(id, out);
}

fn put_record(r: RecordRef, out: &mut Vec<u8>) {
    let tag = match r.kind {
        RecordType::User => 0,
        RecordType::Space => 1,
        RecordType::Branch => 2,
        RecordType::Run => 3,
        RecordType::Feature => 4,
        RecordType::Artifact => 5,
        RecordType::Value => 6,
    };
    u32_tag(tag, out);
    put_u64(r.id, out);
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

fn put_data(d: &EventData, out: &mut Vec<u8>) {
    match d {
        EventData::CreateUser { handle } => {
            u32_tag(0, out);
            put_bytes(handle.as_bytes(), out);
        }
        EventData::CreateSpace { name } => {
            u32_tag(1, out);
            put_bytes(name.as_bytes(), out);
        }
        EventData::CreateBranch { name } => {
            u32_tag(2, out);
            put_bytes(name.as_bytes(), out);
        }
        EventData::CreateRun { name } => {
            u32_tag(3, out);
            put_bytes(name.as_bytes(), out);
        }
        EventData::CreateFeature { name, dtype, nullable, coerce, branch, space } => {
            u32_tag(4, out);
            put_bytes(name.as_bytes(), out);
            let tag = DTYPES.iter().position(|d| d == dtype).unwrap_or(0);
            u32_tag(tag as u32, out);
            out.extend_from_slice(&[u8::from(*nullable), u8::from(*coerce)]);
            put_i64(*branch, out);
            put_u64(*space, out);
        }
        EventData::CreateArtifact { key, branch, space } => {
            u32_tag(5, out);
            put_bytes(key.as_bytes(), out);
            put_i64(*branch, out);
            put_u64(*space, out);
        }
        EventData::CreateValue { feature, value, hash, branch, space } => {
            u32_tag(6, out);
            put_opt(*feature, out);
            put_bytes(value, out);
            out.extend_from_slice(hash);
            put_i64(*branch, out);
            put_u64(*space, out);
        }
        EventData::BranchChange { from, to } => {
            u32_tag(7, out);
            put_i64(*from, out);
            put_i64(*to, out);
        }
        EventData::SpaceChange { from, to } => {
            u32_tag(8, out);
            put_u64(*from, out);
            put_u64(*to, out);
        }
        EventData::Link { host } => {
            u32_tag(9, out);
            put_host(*host, out);
        }
        EventData::Unlink { host } => {
            u32_tag(10, out);
            put_host(*host, out);
        }
        EventData::Delete => u32_tag(11, out),
        EventData::Merge { moved } => {
            u32_tag(12, out);
            put_u64(moved.len() as u64, out);
            for r in moved {
                put_record(*r, out);
            }
        }
        EventData::Grant { user, role } => {
            u32_tag(13, out);
            put_u64(*user, out);
            match role {
                None => out.push(0),
                Some(r) => {
                    out.push(1);
                    let tag = ROLES.iter().position(|x| x == r).unwrap_or(0);
                    u32_tag(tag as u32, out);
                }
            }
        }
        EventData::RunFinish => u32_tag(14, out),
    }
}

/// Appends an event's body; with `zero_hash` its `hash` is written as 32 zero bytes (the
/// form the chain hash is computed over).
pub(super) fn put_event(e: &Event, zero_hash: bool, out: &mut Vec<u8>) {
    put_u64(e.seq, out);
    put_i64(e.at, out);
    put_u64(e.actor, out);
    put_opt(e.run, out);
    put_record(e.record, out);
    put_data(&e.data, out);
    out.extend_from_slice(&e.prev);
    out.extend_from_slice(if zero_hash { &[0; 32] } else { &e.hash });
}

/// Appends a batch's body: the event count, then the events.
pub(super) fn put_batch(b: &Batch, out: &mut Vec<u8>) {
    put_u64(b.events.len() as u64, out);
    for e in &b.events {
        put_event(e, false, out);
    }
}

/// A cursor over a record's body; every read checks the length.
pub(super) struct Reader<'a>(pub &'a [u8]);

fn short() -> Error {
    Error::corrupt(None, "unexpected end of the record")
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(short());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| short())
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }

    fn tag(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
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

    /// A length that the remaining bytes can hold at `min` bytes per item.
    fn len(&mut self, min: usize) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min) <= self.0.len())
            .ok_or_else(|| Error::corrupt(None, format!("length {n} exceeds the record")))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
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
            6 => EventData::CreateValue {
                feature: self.opt()?,
                value: self.bytes()?.to_vec(),
                hash: self.arr()?,
                branch: self.i64()?,
                space: self.u64()?,
            },
            7 => EventData::BranchChange { from: self.i64()?, to: self.i64()? },
            8 => EventData::SpaceChange { from: self.u64()?, to: self.u64()? },
            9 => EventData::Link { host: self.host()? },
            10 => EventData::Unlink { host: self.host()? },
            11 => EventData::Delete,
            12 => {
                // A record ref takes 12 bytes: the count cannot promise more than the record holds.
                let n = self.len(12)?;
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
        Ok(Event {
            seq: self.u64()?,
            at: self.i64()?,
            actor: self.u64()?,
            run: self.opt()?,
            record: self.record()?,
            data: self.data()?,
            prev: self.arr()?,
            hash: self.arr()?,
        })
    }

    pub fn batch(&mut self) -> Result<Batch> {
        // The smallest event (a `Delete`) takes 8+8+8+1+12+4+64 bytes.
        let n = self.len(105)?;
        let events = (0..n).map(|_| self.event()).collect::<Result<Vec<_>>>()?;
        Ok(Batch { events })
    }

    pub fn finish(&self, what: &str) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(None, format!("{} trailing bytes after a {what}", self.0.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut r = Reader(&got);
            assert_eq!(r.event().ok().as_ref(), Some(&e));
            assert!(r.finish("event").is_ok());
            for cut in 0..got.len() {
                assert!(Reader(&got[..cut]).event().is_err(), "{e:?} cut at {cut}");
            }
        }
        let b = Batch { events: events() };
        let want = bincode::serde::encode_to_vec(&b, cfg).unwrap_or_default();
        let mut got = Vec::new();
        put_batch(&b, &mut got);
        assert_eq!(got, want);
        assert_eq!(Reader(&got).batch().ok(), Some(b));
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
}
