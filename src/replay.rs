//! Folding the log into a state: reading and checking events (sled's iterator, decoding, the
//! chain) on one thread while this one folds, so a replay uses both cores. Computing the event
//! hashes, the largest single cost, goes to whichever thread has room: the reader does a chunk
//! itself only while the folding thread is behind (two chunks queued), and otherwise leaves it
//! to the folder, which does it just before folding. A format 4 record's hashes are computed
//! along its chain from its stored first `prev` (sealing, `codec::seal`), an older record's are
//! checked one by one against the stored ones: either way they depend only on the record's
//! bytes, so where that happens does not change what is checked, and both threads meet the
//! events in log order, so the first problem in log order is the one reported.

use crate::codec;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::log::Log;
use crate::state::State;
use crossbeam_channel::{Receiver, Sender};
use std::ops::Range;

/// Events handed from the reading thread to the folding one at a time.
const CHUNK: usize = 1024;

/// Events whose dedup slots are read ahead together (`State::warm_dedup`): enough for the
/// processor to overlap their cache misses, few enough that the slots are still cached, and
/// their pages still in the TLB, when the events are folded.
const WARM: usize = 64;

/// Chunks queued for the folder at which the reader starts hashing them itself.
const BEHIND: usize = 2;

/// A run of events in log order, linked to each other and to what came before.
struct Chunk {
    events: Vec<Event>,
    /// Every event's hash that was read from the log was already checked against its contents.
    hashed: bool,
    /// Format 4 records (ranges of `events`) whose hashes are still to be computed and checked
    /// (`codec::seal`).
    unsealed: Vec<Range<usize>>,
}

/// Folds every event after `state.seq` up to `to` into `state`, checking order and the chain.
/// The first problem found (in log order) is the error, as in a one-thread replay.
pub(crate) fn replay(log: &Log, state: State, to: u64) -> Result<State> {
    let mut state = fold_log(log, state, to, |_| Ok(()))?;
    state.end_replay();
    Ok(state)
}

/// `replay`, calling `after` on the state after each event (an error from it stops the
/// replay there, in log order like any other), and leaving the value indexes unbuilt: the
/// caller ends the replay, or only hashes the state (`verify`).
pub(crate) fn fold_log(
    log: &Log,
    mut state: State,
    to: u64,
    mut after: impl FnMut(&State) -> Result<()>,
) -> Result<State> {
    state.begin_replay();
    let start = (state.seq, state.head);
    scan(log, start, to, |block| {
        state.warm_dedup(block);
        for e in block {
            state.fold(e).map_err(|why| Error::corrupt(Some(e.seq), why))?;
            after(&state)?;
        }
        Ok(())
    })?;
    Ok(state)
}

/// Hands `visit` every event after `start` (a seq and that event's hash) up to `to`, checked
/// as a replay checks them, in log order and in blocks of at most [`WARM`], reading them on
/// another thread. Everything before a problem is visited, then it is the error.
pub(crate) fn scan(
    log: &Log,
    start: (u64, [u8; 32]),
    to: u64,
    mut visit: impl FnMut(&[Event]) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Chunk>>(4);
        // Visited chunks go back to the reader, which drops their events: a fresh 1,024-event
        // vector is large enough for the allocator to map and fault in anew each time, and
        // glibc frees an event's contents on the thread that allocated them more cheaply.
        let (back_tx, back_rx) = crossbeam_channel::bounded::<Vec<Event>>(8);
        scope.spawn(move || read(log, start, to, &tx, &back_rx));
        // Returning early drops `rx`, which stops the reader at its next send.
        for chunk in rx.iter() {
            let Chunk { mut events, hashed, unsealed } = chunk?;
            let bad = verify(&mut events, hashed, &unsealed);
            let good = bad.as_ref().map_or(events.len(), |(i, _)| *i);
            for block in events.get(..good).unwrap_or_default().chunks(WARM) {
                visit(block)?;
            }
            if let Some((_, why)) = bad {
                return Err(why);
            }
            let _ = back_tx.try_send(events);
        }
        Ok(())
    })
}

/// The reading thread: sends the events after `start` up to `to` in chunks, then the first
/// problem found, if any, after every event before it.
fn read(log: &Log, start: (u64, [u8; 32]), to: u64, tx: &Sender<Result<Chunk>>, back: &Receiver<Vec<Event>>) {
    let mut last = start;
    let mut cursor = log.cursor(start.0 + 1, to);
    cursor.defer_sealing();
    let mut events = Vec::with_capacity(CHUNK + CHUNK / 2);
    loop {
        let new = events.len();
        let linked = cursor.next_into(&mut events).map(|more| {
            // Link the new events, and leave out those past `to`. An unsealed record links by
            // its first event's `prev` and its last event's hash, the two it keeps whole; the
            // events between are linked by sealing it.
            let unsealed = cursor.left_unsealed(new);
            let mut bad = None;
            let mut keep = events.len();
            for (i, e) in events.iter().enumerate().skip(new) {
                if e.seq > to {
                    keep = i;
                    break;
                }
                if i == new || !unsealed {
                    if let Err(why) = check_order(last, e) {
                        keep = i;
                        bad = Some(why);
                        break;
                    }
                }
                last = (e.seq, e.hash);
            }
            let end = keep < events.len() || !more;
            events.truncate(keep);
            (end, bad)
        });
        let (end, bad) = match linked {
            Ok(x) => x,
            Err(why) => (true, Some(why)),
        };
        if end || events.len() >= CHUNK {
            // Everything before a problem is folded first, then it is reported, unless
            // hashing that part finds an earlier one.
            let (hashed, mut unsealed) = (!cursor.take_unhashed(), cursor.take_unsealed());
            // A record that did not link is left out whole.
            unsealed.retain(|r| r.end <= events.len());
            if !send(tx, std::mem::take(&mut events), hashed, unsealed) {
                return;
            }
            if end {
                if let Some(why) = bad {
                    let _ = tx.send(Err(why));
                }
                return;
            }
            // The events are dropped here, on the thread that allocated their contents, their
            // values' vectors kept for the next records.
            events = match back.try_recv() {
                Ok(mut used) => {
                    cursor.recycle(&mut used);
                    used
                }
                Err(_) => Vec::with_capacity(CHUNK + CHUNK / 2),
            };
        }
    }
}

/// Sends a chunk, sealing and hashing it first if it needs it and the folder is behind. False
/// when the reader should stop: a hash did not match (sent after the events before it), or
/// the folder is gone.
fn send(tx: &Sender<Result<Chunk>>, mut events: Vec<Event>, hashed: bool, unsealed: Vec<Range<usize>>) -> bool {
    if (hashed && unsealed.is_empty()) || tx.len() < BEHIND {
        return tx.send(Ok(Chunk { events, hashed, unsealed })).is_ok();
    }
    let Some((at, why)) = verify(&mut events, hashed, &unsealed) else {
        return tx.send(Ok(Chunk { events, hashed: true, unsealed: Vec::new() })).is_ok();
    };
    events.truncate(at);
    let _ = tx.send(Ok(Chunk { events, hashed: true, unsealed: Vec::new() }));
    let _ = tx.send(Err(why));
    false
}

/// Seals a chunk's unsealed records, and unless `hashed` checks every hash read from the log:
/// the index and error of the first problem in log order, if any.
fn verify(events: &mut [Event], hashed: bool, unsealed: &[Range<usize>]) -> Option<(usize, Error)> {
    let mut bad = None;
    for r in unsealed {
        let record = events.get_mut(r.clone()).unwrap_or_default();
        let first = record.first().map_or(0, |e| e.seq);
        if let Err(why) = codec::seal(record) {
            // Sealing names the event; a record's events have consecutive seqs.
            let at = why.at().map_or(0, |seq| seq.saturating_sub(first) as usize);
            bad = Some((r.start + at, why));
            break;
        }
    }
    if !hashed {
        let end = bad.as_ref().map_or(events.len(), |(i, _)| *i);
        let mut earlier = events.get(..end).unwrap_or_default().iter().enumerate();
        if let Some(found) = earlier.find_map(|(i, e)| check_hash(e).err().map(|why| (i, why))) {
            bad = Some(found);
        }
    }
    bad
}

/// Is `e` the valid next event after `state`: the next seq, chained, and hashing to itself?
pub(crate) fn check_next(state: &State, e: &Event) -> Result<()> {
    check_order((state.seq, state.head), e)?;
    check_hash(e)
}

/// Does `e` follow the event `(seq, hash)`: the next seq, and its `prev` that event's hash?
fn check_order((seq, head): (u64, [u8; 32]), e: &Event) -> Result<()> {
    if e.seq != seq + 1 {
        return Err(Error::corrupt(Some(seq + 1), format!("expected event {}, found {}", seq + 1, e.seq)));
    }
    if e.prev != head {
        return Err(Error::corrupt(Some(e.seq), "hash chain broken: prev does not match the previous event's hash"));
    }
    Ok(())
}

/// Does `e`'s stored hash match its contents?
fn check_hash(e: &Event) -> Result<()> {
    if codec::event_hash(e) != e.hash {
        return Err(Error::corrupt(Some(e.seq), "event hash does not match its contents (tampered or damaged)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventData, RecordRef, RecordType};

    /// `n` chained user creations from seq 1, each hashing to itself.
    fn chain(n: u64) -> Vec<Event> {
        let mut prev = [0; 32];
        (1..=n)
            .map(|seq| {
                let mut e = Event {
                    seq,
                    at: seq as i64 * 1_000,
                    actor: 1,
                    run: None,
                    record: RecordRef { kind: RecordType::User, id: seq },
                    data: EventData::CreateUser { handle: format!("u{seq}") },
                    prev,
                    hash: [0; 32],
                };
                e.hash = codec::event_hash(&e);
                prev = e.hash;
                e
            })
            .collect()
    }

    /// What the folder receives after `send` of `events` with `queued` chunks already waiting.
    fn received(queued: usize, events: Vec<Event>) -> (bool, Vec<Result<(usize, bool)>>) {
        received_unsealed(queued, events, Vec::new())
    }

    fn received_unsealed(
        queued: usize,
        events: Vec<Event>,
        unsealed: Vec<Range<usize>>,
    ) -> (bool, Vec<Result<(usize, bool)>>) {
        let (tx, rx) = crossbeam_channel::bounded(8);
        for _ in 0..queued {
            assert!(tx.send(Ok(Chunk { events: Vec::new(), hashed: false, unsealed: Vec::new() })).is_ok());
        }
        let hashed = !unsealed.is_empty();
        let go_on = send(&tx, events, hashed, unsealed);
        drop(tx);
        let got = rx.iter().skip(queued).map(|c| c.map(|c| (c.events.len(), c.hashed))).collect();
        (go_on, got)
    }

    #[test]
    fn the_reader_hashes_only_when_the_folder_is_behind() {
        let (go_on, got) = received(BEHIND - 1, chain(10));
        assert!(go_on);
        assert_eq!(got.len(), 1);
        assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(10, false)));
        let (go_on, got) = received(BEHIND, chain(10));
        assert!(go_on);
        assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(10, true)));
    }

    #[test]
    fn a_bad_hash_found_by_the_reader_comes_after_the_events_before_it() {
        let mut events = chain(10);
        if let Some(e) = events.get_mut(6) {
            e.at += 1; // contents changed, stored hash kept
        }
        let (go_on, got) = received(BEHIND, events);
        assert!(!go_on, "the reader must stop at a bad hash");
        assert_eq!(got.len(), 2);
        assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(6, true)));
        match got.get(1) {
            Some(Err(Error::Corruption { at, reason })) => {
                assert_eq!(*at, Some(7));
                assert!(reason.contains("hash"), "{reason}");
            }
            other => panic!("expected a corruption at event 7, got {other:?}"),
        }
    }

    /// `chain(10)` as two format 4 records (events 1–4 and 5–10) decoded unsealed, as the
    /// reader leaves them for the folder, and their ranges.
    fn unsealed_records() -> (Vec<Event>, Vec<Range<usize>>) {
        let events = chain(10);
        let mut out = Vec::new();
        let mut ranges = Vec::new();
        for part in [&events[..4], &events[4..]] {
            let bytes = codec::encode_batch_as(&crate::event::Batch { events: part.to_vec() }, 4);
            let start = out.len();
            let got = bytes.map(|b| codec::decode_record_into(&b, &mut out, true, &mut Vec::new()));
            assert!(matches!(got, Some(Ok(codec::Hashes::Unsealed))), "{got:?}");
            ranges.push(start..out.len());
        }
        assert_ne!(out, events, "unsealed events lack their hashes");
        (out, ranges)
    }

    #[test]
    fn unsealed_records_are_sealed_by_either_thread_into_the_chain() {
        let (mut events, ranges) = unsealed_records();
        assert!(verify(&mut events, true, &ranges).is_none());
        assert_eq!(events, chain(10));
        // The reader seals them when the folder is behind, and leaves them when it is not.
        let (events, ranges) = unsealed_records();
        let (go_on, got) = received_unsealed(BEHIND, events, ranges);
        assert!(go_on);
        assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(10, true)));
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (events, ranges) = unsealed_records();
        assert!(send(&tx, events, true, ranges.clone()));
        let chunk = rx.try_recv().ok().and_then(|c| c.ok());
        assert_eq!(chunk.map(|c| c.unsealed), Some(ranges));
    }

    #[test]
    fn a_sealing_failure_names_its_event_wherever_it_is_found() {
        for queued in [0, BEHIND] {
            let (mut events, ranges) = unsealed_records();
            if let Some(e) = events.get_mut(6) {
                e.at += 1; // the bytes that event 7's check was kept for changed
            }
            let mut copy = events.clone();
            match verify(&mut copy, true, &ranges) {
                Some((6, Error::Corruption { at: Some(7), reason })) => assert!(reason.contains("hash"), "{reason}"),
                other => panic!("expected a corruption at event 7, index 6, got {other:?}"),
            }
            let (go_on, got) = received_unsealed(queued, events, ranges);
            if queued == BEHIND {
                assert!(!go_on, "the reader must stop at a bad hash");
                assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(6, true)));
                assert_eq!(got.get(1).and_then(|c| c.as_ref().err()).and_then(Error::at), Some(7));
            } else {
                // Left to the folder, whose `verify` is the one above.
                assert!(go_on);
                assert_eq!(got.first().and_then(|c| c.as_ref().ok()), Some(&(10, true)));
            }
        }
    }
}
