//! Folding the log into a state: reading and checking events (sled's iterator, decoding, the
//! chain and each event's hash) on one thread while this one folds, so a replay uses both
//! cores. Reading is the larger half: instrumented on 1M values, the folding thread waited for
//! the next chunk at nine chunks in ten.

use crate::codec;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::log::Log;
use crate::state::State;

/// Events handed from the reading thread to the folding one at a time.
const CHUNK: usize = 1024;

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
    std::thread::scope(|scope| {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<Event>>>(4);
        scope.spawn(move || {
            let mut last = start;
            let mut chunk = Vec::with_capacity(CHUNK);
            for e in log.read_from(start.0 + 1) {
                let checked = match e {
                    Ok(e) if e.seq > to => break,
                    Ok(e) => check_link(last, &e).map(|()| e),
                    Err(why) => Err(why),
                };
                let e = match checked {
                    Ok(e) => e,
                    Err(why) => {
                        // Everything before the problem is folded first, then it is reported.
                        let _ = tx.send(Ok(std::mem::take(&mut chunk)));
                        let _ = tx.send(Err(why));
                        return;
                    }
                };
                last = (e.seq, e.hash);
                chunk.push(e);
                if chunk.len() == CHUNK
                    && tx.send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))).is_err()
                {
                    return; // the folding side stopped at an error of its own
                }
            }
            let _ = tx.send(Ok(chunk));
        });
        // Returning early drops `rx`, which stops the reader at its next send.
        for events in rx.iter() {
            for e in events? {
                state.fold(&e).map_err(|why| Error::corrupt(Some(e.seq), why))?;
                after(&state)?;
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(state)
}

/// Is `e` the valid next event after `state`: the next seq, chained, and hashing to itself?
pub(crate) fn check_next(state: &State, e: &Event) -> Result<()> {
    check_link((state.seq, state.head), e)
}

/// Is `e` the valid next event after the event `(seq, hash)`?
fn check_link((seq, head): (u64, [u8; 32]), e: &Event) -> Result<()> {
    if e.seq != seq + 1 {
        return Err(Error::corrupt(Some(seq + 1), format!("expected event {}, found {}", seq + 1, e.seq)));
    }
    if e.prev != head {
        return Err(Error::corrupt(Some(e.seq), "hash chain broken: prev does not match the previous event's hash"));
    }
    if codec::event_hash(e) != e.hash {
        return Err(Error::corrupt(Some(e.seq), "event hash does not match its contents (tampered or damaged)"));
    }
    Ok(())
}
