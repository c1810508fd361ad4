//! The snapshot encoding: the folded state's primary records (not its indexes, which are
//! rebuilt on load), in a deterministic order, so that equal states encode to equal bytes and
//! the state hash (blake3 of the image bytes) identifies a state.
//!
//! ```text
//! file  = version byte (2), header (bincode), image, blake3 of all before it (32 bytes)
//! header = fold_version u32, seq u64, head [32], last_at i64, state_hash [32]
//! image  = counters, users, spaces, roles, branches, runs, features, artifacts (bincode),
//!          values (`snapshot_values`: varints), links, runs_used (bincode)
//!          each a length-prefixed sequence in id (or key) order
//! ```

use super::chunks::{self, Channel, Chunks, Source, CHUNK};
use super::{config, snapshot_values, SNAPSHOT_VERSION};
use crate::error::{Error, Result};
use crate::event::{Host, Role};
use crate::state::{Artifact, Branch, BranchStatus, Feature, LinkMeta, Run, Space, State, User};
use crate::value::Dtype;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use std::io::{self, Read};

#[derive(Serialize, Deserialize)]
struct Header {
    fold_version: u32,
    seq: u64,
    head: [u8; 32],
    last_at: i64,
    state_hash: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Counters {
    next_user: u64,
    next_space: u64,
    next_branch: i64,
    next_run: u64,
    next_feature: u64,
    next_artifact: u64,
    value_slots: u64,
}

#[derive(Serialize, Deserialize)]
struct UserImg(u64, String, i64);
#[derive(Serialize, Deserialize)]
struct SpaceImg(u64, String, u64, i64);
#[derive(Serialize, Deserialize)]
struct RoleImg(u64, u64, Role);
#[derive(Serialize, Deserialize)]
struct BranchImg(i64, String, u64, i64, bool);
#[derive(Serialize, Deserialize)]
struct RunImg(u64, String, u64, i64, Option<i64>);
#[derive(Serialize, Deserialize)]
struct FeatureImg(u64, String, Dtype, bool, bool, i64, u64, u64, Option<u64>, i64);
#[derive(Serialize, Deserialize)]
struct ArtifactImg(u64, String, i64, u64, u64, Option<u64>, i64);
#[derive(Serialize, Deserialize)]
struct LinkImg(Host, u64, u64, i64, Option<u64>);

/// Serialises an iterator of known length as a sequence without collecting it.
struct Seq<I>(std::cell::RefCell<Option<I>>, usize);

impl<T: Serialize, I: Iterator<Item = T>> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.1))?;
        if let Some(iter) = self.0.borrow_mut().take() {
            for item in iter {
                seq.serialize_element(&item)?;
            }
        }
        seq.end()
    }
}

fn seq<T: Serialize, I: Iterator<Item = T>>(iter: I, len: usize) -> Seq<I> {
    Seq(std::cell::RefCell::new(Some(iter)), len)
}

fn image_bytes(s: &State) -> Vec<u8> {
    let counters = Counters {
        next_user: s.next_user,
        next_space: s.next_space,
        next_branch: s.next_branch,
        next_run: s.next_run,
        next_feature: s.next_feature,
        next_artifact: s.next_artifact,
        value_slots: s.values.len() as u64,
    };
    let users = seq(s.users.values().map(|u| UserImg(u.id, u.handle.clone(), u.created_at)), s.users.len());
    let spaces =
        seq(s.spaces.values().map(|x| SpaceImg(x.id, x.name.clone(), x.created_by_id, x.created_at)), s.spaces.len());
    let roles = seq(s.roles.iter().map(|((sp, u), r)| RoleImg(*sp, *u, *r)), s.roles.len());
    let branches = seq(
        s.branches
            .values()
            .map(|b| BranchImg(b.id, b.name.clone(), b.created_by_id, b.created_at, b.status == BranchStatus::Merged)),
        s.branches.len(),
    );
    let runs = seq(
        s.runs.values().map(|r| RunImg(r.id, r.name.clone(), r.created_by_id, r.created_at, r.finished_at)),
        s.runs.len(),
    );
    let features = seq(
        s.features.values().map(|f| {
            FeatureImg(
                f.id,
                f.name.clone(),
                f.dtype,
                f.nullable,
                f.coerce,
                f.branch_id,
                f.space_id,
                f.created_by_id,
                f.run_id,
                f.created_at,
            )
        }),
        s.features.len(),
    );
    let artifacts = seq(
        s.artifacts.values().map(|a| {
            ArtifactImg(a.id, a.key.clone(), a.branch_id, a.space_id, a.created_by_id, a.run_id, a.created_at)
        }),
        s.artifacts.len(),
    );
    let links = seq(s.links.all().map(|(h, v, m)| LinkImg(h, v, m.by, m.at, m.run)), s.links.len());
    let runs_used = seq(s.runs_used.iter().copied(), s.runs_used.len());
    // The image is written in three parts: the values section in the middle by hand
    // (`snapshot_values`, compact), the rest by bincode.
    let mut out = Vec::with_capacity(s.value_count * 100);
    let head = (counters, users, spaces, roles, branches, runs, features, artifacts);
    if let Err(e) = bincode::serde::encode_into_std_write(&head, &mut out, config()) {
        panic!("encoding a snapshot image failed: {e}");
    }
    snapshot_values::encode(s.all_values(), s.value_count, &mut out);
    match bincode::serde::encode_into_std_write((links, runs_used), &mut out, config()) {
        Ok(_) => out,
        Err(e) => panic!("encoding a snapshot image failed: {e}"),
    }
}

/// The state hash: blake3 of the image encoding.
pub fn state_hash(s: &State) -> [u8; 32] {
    *blake3::hash(&image_bytes(s)).as_bytes()
}

/// Encodes a snapshot file.
pub(crate) fn encode_snapshot(s: &State, fold_version: u32) -> Vec<u8> {
    let image = image_bytes(s);
    let header = Header {
        fold_version,
        seq: s.seq,
        head: s.head,
        last_at: s.last_at,
        state_hash: *blake3::hash(&image).as_bytes(),
    };
    let mut out = vec![SNAPSHOT_VERSION];
    if let Err(e) = bincode::serde::encode_into_std_write(&header, &mut out, config()) {
        panic!("encoding a snapshot header failed: {e}");
    }
    out.extend_from_slice(&image);
    // A checksum over everything before it, so the header (seq, head, last_at) is covered too.
    let check = *blake3::hash(&out).as_bytes();
    out.extend_from_slice(&check);
    out
}

/// A decoded snapshot.
pub(crate) struct SnapshotFile {
    pub fold_version: u32,
    pub state: State,
}

/// The image up to the values section, which `snapshot_values` decodes.
type Head = (
    Counters,
    Vec<UserImg>,
    Vec<SpaceImg>,
    Vec<RoleImg>,
    Vec<BranchImg>,
    Vec<RunImg>,
    Vec<FeatureImg>,
    Vec<ArtifactImg>,
);

/// The image after the values section.
type Tail = (Vec<LinkImg>, Vec<u64>);

fn bad(reason: impl Into<String>) -> Error {
    Error::corrupt(None, format!("bad snapshot: {}", reason.into()))
}

/// The header's length: its fields are fixed-width, so the image starts at the same byte in
/// every file, and the reading thread can hash it without parsing anything.
const HEADER_LEN: usize = 4 + 8 + 32 + 8 + 32;

/// Where the image starts: after the version byte and the header.
const IMAGE_AT: usize = 1 + HEADER_LEN;

/// Decodes and checks a snapshot held in memory (tools, fuzzing, tests); see `read_snapshot`.
pub(crate) fn decode_snapshot(bytes: &[u8], max_seq: u64) -> Result<SnapshotFile> {
    read_snapshot(&mut &bytes[..], bytes.len(), max_seq)
}

/// Reads, decodes and checks a snapshot file of `len` bytes: version byte, checksum, header,
/// state hash, and the image's own consistency (ids in range). `max_seq` bounds the state it
/// may hold (the log's length, when known): every value id was made by an event, so the value
/// slots allocated are bounded by data that exists, whatever the file claims. Never panics.
///
/// A file longer than one chunk is read and hashed on a second thread while this one decodes
/// what has arrived; the verdicts are then given in the order a damaged file is best described
/// in: read error, checksum, version and header, state hash, the image's own errors.
pub(crate) fn read_snapshot(src: &mut (impl Read + Send), len: usize, max_seq: u64) -> Result<SnapshotFile> {
    read_chunked(src, len, max_seq, CHUNK)
}

/// The fold version and seq of an intact snapshot file — its checksum checked over every
/// byte, in a fixed buffer — without decoding its image, whose size a damaged header could
/// misstate: what a snapshot named past the log's end is judged by.
pub(crate) fn read_header(src: &mut impl Read, len: usize) -> Result<(u32, u64)> {
    if len < IMAGE_AT + 32 {
        return Err(bad("shorter than its header and checksum"));
    }
    let mut first = [0u8; IMAGE_AT];
    src.read_exact(&mut first)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&first);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len - 32 - IMAGE_AT;
    while left > 0 {
        let part = buf.get_mut(..left.min(CHUNK)).ok_or_else(|| bad("buffer"))?;
        src.read_exact(part)?;
        hasher.update(part);
        left -= part.len();
    }
    let mut check = [0u8; 32];
    src.read_exact(&mut check)?;
    if *hasher.finalize().as_bytes() != check {
        return Err(bad("file checksum does not match (damaged or truncated)"));
    }
    match first.split_first() {
        Some((&SNAPSHOT_VERSION, header)) => {
            let (h, _): (Header, usize) =
                bincode::serde::decode_from_slice(header, config()).map_err(|e| bad(format!("header: {e}")))?;
            Ok((h.fold_version, h.seq))
        }
        _ => Err(bad("format version")),
    }
}

/// Buffers in flight between the reading thread and the decoder.
const POOL: usize = 4;

/// `read_snapshot` in chunks of `chunk` bytes (tests take small ones).
pub(super) fn read_chunked(
    src: &mut (impl Read + Send),
    len: usize,
    max_seq: u64,
    chunk: usize,
) -> Result<SnapshotFile> {
    if len < 32 {
        return Err(bad("shorter than its checksum"));
    }
    let content = len - 32;
    let threaded = (len > chunk)
        .then(|| {
            std::thread::scope(|scope| {
                let (tx, rx) = crossbeam_channel::bounded(POOL);
                // The buffers are made here, so that their memory is returned when the open is
                // done (made on the reading thread, it would stay in that thread's arena). The
                // reader waits at most 50 ms for one to come back and then makes a fresh one,
                // so neither side can wait on the other for good.
                let (back, spare) = crossbeam_channel::bounded(POOL + 2);
                for _ in 0..POOL {
                    let _ = back.try_send(Vec::with_capacity(chunk));
                }
                let src = &mut *src;
                let reader = std::thread::Builder::new()
                    .spawn_scoped(scope, move || {
                        let spare = || spare.recv_timeout(std::time::Duration::from_millis(50)).ok();
                        chunks::feed(src, len, IMAGE_AT, chunk, |c| tx.send(c).map_err(|e| e.0), spare)
                    })
                    .ok()?;
                // The receiving end is dropped before the join, so a reader ahead of a decoder
                // that gave up is not left waiting to send.
                let decoded = decode_chunks(content, &mut Channel { chunks: rx, spare: back }, max_seq);
                let sums = reader.join().unwrap_or_else(|_| Err(io::Error::other("the snapshot reader panicked")));
                Some((sums, decoded))
            })
        })
        .flatten();
    // One chunk, or the system refused a thread: read first, then decode.
    let (sums, decoded) = threaded.unwrap_or_else(|| {
        let mut parts = Vec::new();
        let sums = chunks::feed(
            src,
            len,
            IMAGE_AT,
            chunk,
            |c| {
                parts.push(c);
                Ok(())
            },
            || None,
        );
        (sums, decode_chunks(content, &mut parts.into_iter(), max_seq))
    });
    let sums = sums?;
    if !sums.check_ok {
        return Err(bad("file checksum does not match (damaged or truncated)"));
    }
    let (header, state) = decoded?;
    // The checksum only says the file is as written; the image must also be the state the
    // header names (a file with a recomputed checksum could claim any state hash otherwise).
    if sums.image.map(|h| *h.as_bytes()) != Some(header.state_hash) {
        return Err(bad("the image does not hash to the state hash in the header"));
    }
    Ok(SnapshotFile { fold_version: header.fold_version, state: state? })
}

/// Decodes the content (the file less its checksum) from `parts`: the header, checked, and
/// then the state of its image, or the image's error.
fn decode_chunks(content: usize, parts: &mut dyn Source, max_seq: u64) -> Result<(Header, Result<State>)> {
    let mut chunks = Chunks::new(content, parts);
    if chunks.avail().is_empty() {
        chunks.more();
    }
    let version = *chunks.avail().first().ok_or_else(|| bad("empty file"))?;
    if version != SNAPSHOT_VERSION {
        return Err(bad(format!("format version {version}, this build reads {SNAPSHOT_VERSION}")));
    }
    chunks.advance(1);
    let header: Header = chunks.item().map_err(|e| bad(format!("header: {e}")))?;
    if content - chunks.remaining() != IMAGE_AT {
        return Err(bad("the header is not of its fixed length"));
    }
    if header.seq > max_seq {
        return Err(bad(format!("it holds the state after event {}, beyond event {max_seq}", header.seq)));
    }
    let state = image(&mut chunks, &header);
    Ok((header, state))
}

/// The state the image holds (indexes rebuilt).
fn image(chunks: &mut Chunks, header: &Header) -> Result<State> {
    let head: Head = chunks.item().map_err(|e| bad(format!("image: {e}")))?;
    let (mut s, slots) = build(head, header.seq)?;
    let live = snapshot_values::decode(chunks, &mut s.values, slots)?;
    let rest = chunks.rest();
    let ((links, runs_used), used): (Tail, usize) =
        bincode::serde::decode_from_slice(rest, config()).map_err(|e| bad(format!("image: {e}")))?;
    if used != rest.len() {
        return Err(bad("trailing bytes after the image"));
    }
    s.value_count = live;
    s.runs_used = runs_used.into_iter().collect();
    s.rebuild_value_indexes(true);
    for LinkImg(host, value, by, at, run) in links {
        s.links.insert(value, host, LinkMeta { by, at, run });
    }
    s.seq = header.seq;
    s.head = header.head;
    s.last_at = header.last_at;
    Ok(s)
}

/// The state of the image's head, and how many value slots (ids so far) the values fill; at
/// most `seq`, since each value id was made by one of the `seq` events.
fn build(head: Head, seq: u64) -> Result<(State, usize)> {
    let (c, users, spaces, roles, branches, runs, features, artifacts) = head;
    let mut s = State::new();
    s.users.clear();
    s.user_by_handle.clear();
    s.spaces.clear();
    s.space_by_name.clear();
    s.roles.clear();
    s.branches.clear();
    s.branch_by_name.clear();
    s.next_user = c.next_user;
    s.next_space = c.next_space;
    s.next_branch = c.next_branch;
    s.next_run = c.next_run;
    s.next_feature = c.next_feature;
    s.next_artifact = c.next_artifact;
    for UserImg(id, handle, at) in users {
        s.user_by_handle.insert(handle.to_lowercase(), id);
        s.users.insert(id, User { id, handle, created_at: at });
    }
    for SpaceImg(id, name, by, at) in spaces {
        s.space_by_name.insert(name.to_lowercase(), id);
        s.spaces.insert(id, Space { id, name, created_by_id: by, created_at: at });
    }
    for RoleImg(sp, u, r) in roles {
        s.roles.insert((sp, u), r);
    }
    for BranchImg(id, name, by, at, merged) in branches {
        s.branch_by_name.insert(name.to_lowercase(), id);
        let status = if merged { BranchStatus::Merged } else { BranchStatus::Open };
        s.branches.insert(id, Branch { id, name, created_by_id: by, created_at: at, status });
    }
    for RunImg(id, name, by, at, finished_at) in runs {
        s.runs.insert(id, Run { id, name, created_by_id: by, created_at: at, finished_at });
    }
    for FeatureImg(id, name, dtype, nullable, coerce, branch_id, space_id, by, run_id, at) in features {
        s.feature_by_name.insert(name.clone(), id);
        s.features.insert(
            id,
            Feature {
                id,
                name,
                dtype,
                nullable,
                coerce,
                branch_id,
                space_id,
                created_by_id: by,
                run_id,
                created_at: at,
            },
        );
    }
    for ArtifactImg(id, key, branch_id, space_id, by, run_id, at) in artifacts {
        s.artifacts.insert(id, Artifact { id, key, branch_id, space_id, created_by_id: by, run_id, created_at: at });
    }
    // Slots beyond the live values are ids of deleted values; refuse a count no log could have
    // made before allocating for it.
    let slots = usize::try_from(c.value_slots)
        .ok()
        .filter(|_| c.value_slots <= seq)
        .ok_or_else(|| bad(format!("{} value ids after only {seq} events", c.value_slots)))?;
    s.values = Vec::with_capacity(slots);
    Ok((s, slots))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot file of `s` with its head part changed by `edit`, every hash recomputed: what
    /// a hostile or confused writer could produce, not what damage does.
    fn forged(s: &State, edit: impl FnOnce(&mut Head)) -> Vec<u8> {
        let image = image_bytes(s);
        let (mut head, used): (Head, usize) =
            bincode::serde::decode_from_slice(&image, config()).unwrap_or_else(|e| panic!("{e}"));
        edit(&mut head);
        let mut forged_image = bincode::serde::encode_to_vec(&head, config()).unwrap_or_else(|e| panic!("{e}"));
        forged_image.extend_from_slice(image.get(used..).unwrap_or_default());
        let header = Header {
            fold_version: 1,
            seq: s.seq,
            head: s.head,
            last_at: s.last_at,
            state_hash: *blake3::hash(&forged_image).as_bytes(),
        };
        let mut out = vec![SNAPSHOT_VERSION];
        out.extend(bincode::serde::encode_to_vec(&header, config()).unwrap_or_else(|e| panic!("{e}")));
        out.extend_from_slice(&forged_image);
        let check = *blake3::hash(&out).as_bytes();
        out.extend_from_slice(&check);
        out
    }

    /// A store's state with users, features, artifacts, values of every kind and links.
    fn busy_state() -> State {
        let store = crate::Store::temporary().unwrap_or_else(|e| panic!("{e}"));
        let me = store.session();
        me.create_feature(&crate::FeatureSpec::new("n", "int")).unwrap_or_else(|e| panic!("{e}"));
        let art = me.create_artifact("data/a.h5ad").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..300i64 {
            let v: crate::value::Value = match i % 4 {
                0 => crate::value::Value::Str(format!("string {i}")),
                1 => crate::value::Value::Float(i as f64 / 8.0),
                2 => crate::value::Value::from(vec![format!("a{i}"), "b".into()]),
                _ => crate::value::Value::Int(i),
            };
            let feature = (i % 4 == 3).then(|| "n".into());
            let (rec, _) = me.get_or_create(feature, v).unwrap_or_else(|e| panic!("{e}"));
            if i % 3 == 0 {
                me.link(rec.id, Host::Artifact(art.id)).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        store.read(State::clone)
    }

    #[test]
    fn every_chunk_size_reads_the_same_state_and_refuses_the_same_damage() {
        let s = busy_state();
        let file = encode_snapshot(&s, 1);
        let whole = |bytes: &[u8]| read_chunked(&mut &bytes[..], bytes.len(), s.seq, bytes.len().max(1));
        let again = whole(&file).unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(encode_snapshot(&again.state, 1), file);
        // Chunks of 1 to 97 bytes and a few larger: every part of the file is cut somewhere.
        for chunk in (1..98).chain([255, 1024, 4096]) {
            let got =
                read_chunked(&mut &file[..], file.len(), s.seq, chunk).unwrap_or_else(|e| panic!("{}", e.message()));
            assert_eq!(encode_snapshot(&got.state, 1), file, "chunks of {chunk}");
        }
        // A changed byte anywhere, with and without the checksum recomputed: the same verdict
        // in chunks as in one piece.
        for at in (0..file.len() - 32).step_by(101) {
            let mut bad = file.clone();
            if let Some(b) = bad.get_mut(at) {
                *b ^= 0x41;
            }
            let mut forged = bad.clone();
            let content = forged.len() - 32;
            let check = *blake3::hash(forged.get(..content).unwrap_or_default()).as_bytes();
            forged.get_mut(content..).unwrap_or_default().copy_from_slice(&check);
            for bytes in [&bad, &forged] {
                let expect = whole(bytes).err().map(|e| e.message());
                for chunk in [3, 64] {
                    let got = read_chunked(&mut &bytes[..], bytes.len(), s.seq, chunk).err().map(|e| e.message());
                    assert_eq!(got, expect, "byte {at}, chunks of {chunk}");
                }
            }
        }
        for cut in [0, 1, 31, 32, 33, IMAGE_AT, file.len() / 2, file.len() - 1] {
            let torn = file.get(..cut).unwrap_or_default();
            for chunk in [1, 64, 4096] {
                let err = read_chunked(&mut &torn[..], torn.len(), s.seq, chunk).err().map(|e| e.message());
                assert!(err.is_some(), "cut at {cut}, chunks of {chunk}");
            }
        }
    }

    #[test]
    fn a_file_beyond_one_chunk_is_read_on_a_second_thread_and_checked_alike() {
        let mut s = State::new();
        let n = 60_000u64;
        for id in 1..=n {
            let value = crate::value::Value::Str(format!("value number {id:08}"));
            let rec = crate::state::ValueRec::new(crate::state::NewValue {
                id,
                feature: None,
                hash: crate::codec::value_hash(&value),
                value: value.into(),
                branch: 1,
                created_on: 1,
                space: 1,
                created_by: 1,
                run: None,
                created_at: 7,
            })
            .unwrap_or_else(|e| panic!("{e}"));
            s.values.push(Some(rec));
        }
        s.value_count = s.values.len();
        s.seq = n;
        let file = encode_snapshot(&s, 1);
        assert!(file.len() > 2 * CHUNK, "the file must take the threaded path");
        let back = decode_snapshot(&file, n).unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(back.state.values, s.values);
        // A changed image byte with the file checksum recomputed: the image hash (taken on the
        // reading thread) no longer matches the header's state hash.
        let mut bad = file.clone();
        let at = file.len() - 4096;
        if let Some(b) = bad.get_mut(at) {
            *b ^= 0x20;
        }
        let content = bad.len() - 32;
        let check = *blake3::hash(bad.get(..content).unwrap_or_default()).as_bytes();
        bad.get_mut(content..).unwrap_or_default().copy_from_slice(&check);
        let err = decode_snapshot(&bad, n).err().map(|e| e.message()).unwrap_or_default();
        assert!(err.contains("does not hash to the state hash"), "{err}");
        // The same byte changed without recomputing: the file checksum says so first.
        let mut torn = file;
        if let Some(b) = torn.get_mut(at) {
            *b ^= 0x20;
        }
        let err = decode_snapshot(&torn, n).err().map(|e| e.message()).unwrap_or_default();
        assert!(err.contains("checksum does not match"), "{err}");
    }

    #[test]
    fn value_slots_beyond_the_events_are_refused_before_allocating() {
        let mut s = State::new();
        s.seq = 5;
        let honest = encode_snapshot(&s, 1);
        assert!(decode_snapshot(&honest, 5).is_ok());
        // The state claims more events than the log holds.
        let err = decode_snapshot(&honest, 4).err().map(|e| e.message()).unwrap_or_default();
        assert!(err.contains("beyond event 4"), "{err}");
        // Four billion value ids after five events: refused with a message, not an allocation
        // of half a terabyte.
        let huge = forged(&s, |head| head.0.value_slots = 1 << 32);
        let err = decode_snapshot(&huge, u64::MAX).err().map(|e| e.message()).unwrap_or_default();
        assert!(err.contains("value ids after only 5 events"), "{err}");
        let fine = forged(&s, |head| head.0.value_slots = 5);
        assert_eq!(decode_snapshot(&fine, 5).map(|f| f.state.values.len()).ok(), Some(5));
    }
}
