//! `verify`: re-hash the chain, replay the log from scratch, and compare the result with the
//! newest snapshot and with the live state.

use crate::codec;
use crate::error::{Error, Result};
use crate::snapshot;
use crate::state::State;
use crate::store::Store;

/// What `verify` found on a sound store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events checked.
    pub events: u64,
    /// The last event's sequence number and hash.
    pub head: (u64, [u8; 32]),
    /// The state hash of the full replay.
    pub state_hash: [u8; 32],
}

impl Store {
    /// Re-hashes the whole chain, replays the log from scratch, and compares the state with the
    /// newest snapshot (at its sequence number) and with the live state. The first problem is a
    /// `Corruption` naming the sequence number where it was found.
    pub fn verify(&self) -> Result<Verification> {
        let (live_seq, live_hash) = {
            self.flush_pending()?;
            self.read(|s| (s.seq, codec::state_hash(s)))
        };
        // The newest snapshot, if one decodes; a snapshot that does not even decode is reported.
        let snap = match self.dir() {
            Some(dir) => match snapshot::list(dir).into_iter().next() {
                Some((seq, path)) => match snapshot::read_file(&path, live_seq) {
                    Ok(f) => Some((seq, codec::state_hash(&f.state), f.state.head)),
                    Err(e) => {
                        return Err(Error::corrupt(
                            Some(seq),
                            format!("newest snapshot is unreadable: {}", e.message()),
                        ))
                    }
                },
                None => None,
            },
            None => None,
        };
        let state = State::new();
        if let Some((0, hash, _)) = snap {
            check_snapshot(&state, 0, hash)?;
        }
        // The two-thread replay (reading and checking the chain beside the fold); the snapshot
        // is compared with the state when the fold reaches its event.
        let state = crate::replay::fold_log(self.log(), state, live_seq, |s| match snap {
            Some((seq, hash, _)) if seq == s.seq => check_snapshot(s, seq, hash),
            _ => Ok(()),
        })?;
        if state.seq != live_seq {
            return Err(Error::corrupt(
                Some(state.seq + 1),
                format!("the log ends at event {} but the store has folded {live_seq}", state.seq),
            ));
        }
        if let Some((seq, _, _)) = snap {
            if seq > state.seq {
                return Err(Error::corrupt(Some(seq), "the newest snapshot is ahead of the log"));
            }
        }
        let replayed = codec::state_hash(&state);
        if replayed != live_hash {
            return Err(Error::corrupt(Some(live_seq), "the live state differs from a replay of the log"));
        }
        Ok(Verification { events: state.seq, head: (state.seq, state.head), state_hash: replayed })
    }
}

fn check_snapshot(state: &State, seq: u64, snap_hash: [u8; 32]) -> Result<()> {
    if codec::state_hash(state) != snap_hash {
        return Err(Error::corrupt(Some(seq), "the snapshot at this event differs from a replay of the log"));
    }
    Ok(())
}
