//! Counts and sizes for `fvstore stats`, `replay` and the demo's summary.

use crate::codec;
use crate::error::{Error, Result};
use crate::replay::replay;
use crate::snapshot;
use crate::state::State;
use crate::store::Store;
use std::collections::BTreeMap;

/// Counts per registry and branch state, and the log's and snapshots' extent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    pub users: usize,
    pub spaces: usize,
    pub branches: usize,
    pub runs: usize,
    pub features: usize,
    pub artifacts: usize,
    pub values: usize,
    pub links: usize,
    /// Values per branch id (state code or user branch).
    pub values_by_branch: BTreeMap<i64, usize>,
    /// Features and artifacts per branch id.
    pub features_by_branch: BTreeMap<i64, usize>,
    pub artifacts_by_branch: BTreeMap<i64, usize>,
    /// Sequence number of the last event (the log's length).
    pub events: u64,
    /// Sequence number of the newest snapshot file, if any.
    pub snapshot_seq: Option<u64>,
    /// Bytes on disk: sled's files plus snapshot files.
    pub disk_bytes: u64,
}

pub(crate) fn counts(s: &State) -> Stats {
    let mut st = Stats {
        users: s.users.len(),
        spaces: s.spaces.len(),
        branches: s.branches.len(),
        runs: s.runs.len(),
        features: s.features.len(),
        artifacts: s.artifacts.len(),
        values: s.value_count,
        links: s.links.len(),
        events: s.seq,
        ..Stats::default()
    };
    for (b, ids) in &s.by_branch {
        st.values_by_branch.insert(*b, ids.len());
    }
    for f in s.features.values() {
        *st.features_by_branch.entry(f.branch_id).or_default() += 1;
    }
    for a in s.artifacts.values() {
        *st.artifacts_by_branch.entry(a.branch_id).or_default() += 1;
    }
    st
}

impl Store {
    /// Counts of the current state, the log, snapshots and disk use.
    pub fn stats(&self) -> Stats {
        let mut st = self.read(counts);
        if let Some(dir) = self.dir() {
            let snaps = snapshot::list(dir);
            st.snapshot_seq = snaps.first().map(|(seq, _)| *seq);
            let snap_bytes: u64 = snaps.iter().filter_map(|(_, p)| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
            st.disk_bytes = self.size_on_disk() + snap_bytes;
        } else {
            st.disk_bytes = self.size_on_disk();
        }
        st
    }

    /// Rebuilds the state from the log alone (no snapshot), up to `to` (or the end), and
    /// returns its counts and state hash. Checks the chain on the way.
    pub fn replay_log(&self, to: Option<u64>) -> Result<(Stats, [u8; 32])> {
        self.flush_pending()?;
        let state = replay(self.log(), State::new(), to.unwrap_or(u64::MAX))?;
        if let Some(t) = to {
            if state.seq < t {
                return Err(Error::InvalidInput(format!("the log ends at event {}; there is no event {t}", state.seq)));
            }
        }
        Ok((counts(&state), codec::state_hash(&state)))
    }

    /// The raw sled trees in readable form, for debugging the format: one line per record,
    /// `tree  key-hex  value-summary`. Log records are decoded when they decode.
    pub fn dump(&self, mut out: impl std::io::Write) -> Result<()> {
        self.flush_pending()?;
        let db = self.log().raw();
        for name in db.tree_names() {
            let tree = db.open_tree(&name)?;
            let tname = String::from_utf8_lossy(&name).into_owned();
            for item in tree.iter() {
                let (k, v) = item?;
                let key = codec::hex_bytes(&k);
                let summary = if tname == "log" {
                    match codec::decode_batch(&v) {
                        Ok(b) => format!(
                            "{} bytes, {} events: {}",
                            v.len(),
                            b.events.len(),
                            b.events
                                .iter()
                                .map(|e| format!(
                                    "#{} {} {} {}",
                                    e.seq,
                                    e.data.kind(),
                                    e.record.kind.as_str(),
                                    e.record.id
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        Err(e) => format!("{} bytes, undecodable: {}", v.len(), e.message()),
                    }
                } else {
                    format!("{} bytes: {}", v.len(), codec::hex_bytes(&v))
                };
                writeln!(out, "{tname}\t{key}\t{summary}")?;
            }
        }
        Ok(())
    }
}
