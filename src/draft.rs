//! A command's events as it drafts them, how they are stamped, and how a large durable one
//! leaves for the writer thread in parts while the command still drafts it.
//!
//! Streaming exists for the write path's critical section: the writer thread hashes each part
//! (serial blake3 along the chain, ≈ 0.25 µs an event) while the command drafts the next, so
//! by the time the caller has folded the commit its hashes are ready and sled has its records.
//! Parts are cut where the log cuts records ([`MAX_RECORD_BYTES`]), so each is one record.

use crate::clock::{next_stamp, Clock};
use crate::codec;
use crate::error::Result;
use crate::event::{Event, EventData, RecordRef};
use crate::log::{estimate, MAX_RECORD_BYTES};
use crate::state::State;
use crate::store::Context;
use crate::writer::{Sealed, Writer};
use std::sync::Arc;

/// The events one command makes, before they are sealed.
#[derive(Default)]
pub(crate) struct Draft<'a> {
    /// Whole events, their sequence numbers, times, actor and hashes filled in when sealed: one
    /// vector from draft to writer (a create allocating a second was part of its malloc cost).
    events: Vec<Event>,
    values_created: u64,
    /// Durable mode: the parts already handed to the writer thread.
    stream: Option<Stream<'a>>,
}

impl<'a> Draft<'a> {
    /// A draft for a durable store: once its events pass one record's worth of bytes, it
    /// hands them to the writer thread part by part (see the module doc).
    pub fn streaming(s: &State, ctx: &Context, writer: &'a Writer, clock: &'a dyn Clock) -> Draft<'a> {
        let stream = Stream {
            writer,
            clock,
            ctx: *ctx,
            at: (s.seq, s.last_at, s.head),
            stamper: None,
            bytes: 0,
            sent: Vec::new(),
            refused: None,
            ended: false,
        };
        Draft { events: Vec::new(), values_created: 0, stream: Some(stream) }
    }

    pub fn push(&mut self, record: RecordRef, data: EventData) {
        if matches!(data, EventData::CreateValue { .. }) {
            self.values_created += 1;
        }
        let e = Event { seq: 0, at: 0, actor: 0, run: None, record, data, prev: [0; 32], hash: [0; 32] };
        if let Some(stream) = &mut self.stream {
            let size = estimate(&e);
            if stream.bytes + size > MAX_RECORD_BYTES && !self.events.is_empty() {
                let room = self.events.len();
                stream.ship(std::mem::replace(&mut self.events, Vec::with_capacity(room)), false);
                stream.bytes = 0;
            }
            stream.bytes += size;
        }
        if self.events.capacity() == 0 {
            // Most commits are one event (a create, a link): a first push would make room for
            // four, 650 bytes unused a commit, held as long as the commit waits for the writer
            // (in buffered mode up to `MAX_BACKLOG` of them: 40 MB). Bigger commits reserve.
            self.events.reserve_exact(1);
        }
        self.events.push(e);
    }

    /// Room for `n` more events.
    pub fn reserve(&mut self, n: usize) {
        self.events.reserve(n);
    }

    /// The id the next value created by this draft will get.
    pub fn next_value_id(&self, s: &State) -> u64 {
        s.next_value() + self.values_created
    }

    /// The drafted events, once the command is done. A streamed draft stamps and hands over
    /// its last part and returns all of them, stamped, unhashed (`Err` if the writer thread
    /// refused one: it has stopped); any other returns its events as drafted, to be sealed.
    pub fn end(&mut self) -> Result<Drafted> {
        let events = std::mem::take(&mut self.events);
        match &mut self.stream {
            Some(stream) if !stream.sent.is_empty() => {
                stream.ship(events, true);
                stream.ended = true;
                match stream.refused.take() {
                    Some(e) => Err(e),
                    None => Ok(Drafted::Parts(std::mem::take(&mut stream.sent))),
                }
            }
            _ => Ok(Drafted::Own(events)),
        }
    }
}

impl Drop for Draft<'_> {
    /// A command that failed (or panicked) after parts of its draft left: the writer thread
    /// drops them unwritten.
    fn drop(&mut self) {
        if let Some(stream) = &self.stream {
            if !stream.sent.is_empty() && !stream.ended {
                let _ = stream.writer.submit(Sealed::Abort);
            }
        }
    }
}

/// A large draft's trip to the writer thread.
struct Stream<'a> {
    writer: &'a Writer,
    clock: &'a dyn Clock,
    ctx: Context,
    /// The state's last seq, last stamp and head when the command began.
    at: (u64, i64, [u8; 32]),
    /// Set when the first part leaves: the clock is read once a commit.
    stamper: Option<Stamper>,
    /// Estimated record bytes of the events not yet handed over.
    bytes: usize,
    sent: Vec<Arc<Vec<Event>>>,
    /// The writer thread's refusal of a part (it has stopped), reported when the draft ends.
    refused: Option<crate::error::Error>,
    ended: bool,
}

impl Stream<'_> {
    fn ship(&mut self, mut part: Vec<Event>, last: bool) {
        let (seq, last_at, head) = self.at;
        let (clock, ctx) = (self.clock, &self.ctx);
        let stamper = self.stamper.get_or_insert_with(|| Stamper::new(seq, last_at, clock.now_micros(), ctx));
        stamper.stamp(&mut part);
        if self.sent.is_empty() {
            if let Some(e) = part.first_mut() {
                e.prev = head;
            }
        }
        // The first part holds the room the command reserved for all of them; shrinking in
        // place costs no copy.
        part.shrink_to_fit();
        let part = Arc::new(part);
        if self.refused.is_none() {
            if let Err(e) = self.writer.submit(Sealed::Part(Arc::clone(&part), last)) {
                self.refused = Some(e);
            }
        }
        self.sent.push(part);
    }
}

/// Stamps events in commit order: sequence numbers on from the state's, each time from one
/// clock reading yet at least a millisecond after the one before (SPEC §8), the actor and run.
pub(crate) struct Stamper {
    seq: u64,
    last: i64,
    now: i64,
    actor: u64,
    run: Option<u64>,
}

impl Stamper {
    pub fn new(seq: u64, last: i64, now: i64, ctx: &Context) -> Stamper {
        Stamper { seq, last, now, actor: ctx.user, run: ctx.run }
    }

    pub fn stamp(&mut self, events: &mut [Event]) {
        for e in events {
            self.seq += 1;
            self.last = next_stamp(self.now, self.last);
            (e.seq, e.at, e.actor, e.run) = (self.seq, self.last, self.actor, self.run);
        }
    }
}

/// The first and last sequence numbers of events held in slices, if any.
pub(crate) fn seqs<'e>(slices: impl DoubleEndedIterator<Item = &'e [Event]> + Clone) -> Option<(u64, u64)> {
    let first = slices.clone().find_map(<[Event]>::first)?;
    let last = slices.rev().find_map(<[Event]>::last)?;
    Some((first.seq, last.seq))
}

/// A command's events after its draft ended: its own vector, or the parts it streamed.
pub(crate) enum Drafted {
    Own(Vec<Event>),
    Parts(Vec<Arc<Vec<Event>>>),
}

impl Drafted {
    pub fn slices(&self) -> impl DoubleEndedIterator<Item = &[Event]> + Clone {
        let (own, parts): (&[Event], &[Arc<Vec<Event>>]) = match self {
            Drafted::Own(v) => (v, &[]),
            Drafted::Parts(p) => (&[], p),
        };
        std::iter::once(own).chain(parts.iter().map(|p| p.as_slice()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.slices().flatten()
    }

    pub fn len(&self) -> usize {
        self.slices().map(<[Event]>::len).sum()
    }

    /// The first and last sequence numbers, if there are events.
    pub fn seqs(&self) -> Option<(u64, u64)> {
        seqs(self.slices())
    }

    /// The hash of the last event, chaining streamed parts from their first `prev` (what the
    /// writer thread computes for them); `None` for sealed events or none.
    pub fn chain_end(&self) -> Option<[u8; 32]> {
        let Drafted::Parts(parts) = self else { return None };
        let first = parts.iter().find_map(|p| p.first())?;
        Some(parts.iter().fold(first.prev, |prev, p| codec::chain_end(p, prev)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Draft, Drafted};
    use crate::clock::SystemClock;
    use crate::event::{EventData, RecordRef, RecordType};
    use crate::log::{estimate, Durability, Log, MAX_RECORD_BYTES};
    use crate::state::State;
    use crate::store::Context;
    use crate::writer::Writer;

    /// A durable draft stays whole up to one record's worth of events, and past it leaves in
    /// parts each as full as a record can be; one dropped before it ends is voided, so the
    /// writer thread writes none of it.
    #[test]
    fn a_durable_draft_leaves_in_record_sized_parts_and_a_dropped_one_is_voided() {
        let log = Log::temporary().unwrap_or_else(|e| panic!("{e}"));
        let mut writer =
            Writer::start(log.clone(), Durability::Durable, 0, Default::default()).unwrap_or_else(|e| panic!("{e}"));
        let (s, ctx, clock) = (State::new(), Context::default(), SystemClock);
        let push = |d: &mut Draft<'_>, n: u64| {
            for id in 1..=n {
                d.push(RecordRef { kind: RecordType::Value, id }, EventData::Delete);
            }
        };
        let per_event = {
            let mut d = Draft::default();
            push(&mut d, 1);
            match d.end() {
                Ok(Drafted::Own(events)) => events.first().map_or(0, estimate),
                _ => panic!("a draft without a stream ended in parts"),
            }
        };
        let per_part = (MAX_RECORD_BYTES / per_event) as u64;

        let mut whole = Draft::streaming(&s, &ctx, &writer, &clock);
        push(&mut whole, per_part);
        assert!(matches!(whole.end(), Ok(Drafted::Own(e)) if e.len() as u64 == per_part), "one record's worth left");

        let mut big = Draft::streaming(&s, &ctx, &writer, &clock);
        push(&mut big, 2 * per_part + 1);
        let sent: Vec<usize> =
            big.stream.as_ref().map(|st| st.sent.iter().map(|p| p.len()).collect()).unwrap_or_default();
        assert_eq!(sent, [per_part as usize; 2], "parts handed over while drafting");
        drop((whole, big));
        writer.stop();
        assert_eq!(log.read_from(1).count(), 0, "a voided draft was written");
    }
}
