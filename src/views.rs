//! Read-only views of the past (SPEC §8, "the state as of any sequence number or time"): a
//! view is a store with no writer whose state is the fold of the log up to its event.

use crate::error::{err, Error, Result};
use crate::replay::replay;
use crate::snapshot;
use crate::state::State;
use crate::store::{Inner, Store};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

impl Store {
    /// A read-only view of the store as it was after event `seq`, with the same query API:
    /// the nearest snapshot at or before `seq` plus a fold of the events up to it.
    pub fn as_of(&self, seq: u64) -> Result<Store> {
        self.view_after(seq, None)
    }

    /// `as_of` for a stream of audit requests, each asking for a view again (`exec`): the last
    /// view made here is kept, answers its own seq again at no cost, and is moved forward to a
    /// later seq by folding only the events between, when no snapshot is nearer. The kept
    /// view's state stays in memory until a view of another seq replaces it or the store
    /// closes, which is why `as_of` itself keeps nothing.
    pub(crate) fn as_of_kept(&self, seq: u64) -> Result<Store> {
        let mut kept = self.inner.kept_view.lock();
        if let Some(view) = kept.as_ref().filter(|v| v.inner.frozen == Some(seq)) {
            return Ok(view.clone());
        }
        let view = self.view_after(seq, kept.take())?;
        self.inner.view_warnings.lock().extend(view.warnings().iter().cloned());
        *kept = Some(view.clone());
        Ok(view)
    }

    /// Warnings of the views `as_of_kept` made since the last call (a damaged snapshot the
    /// view started without), for `exec` to print.
    pub(crate) fn take_view_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.inner.view_warnings.lock())
    }

    /// A view of event `seq`, starting from `base` (an earlier view of this store) when it is
    /// at or before `seq`, at or after the newest snapshot there, and held nowhere else.
    fn view_after(&self, seq: u64, base: Option<Store>) -> Result<Store> {
        let head = self.read(|s| s.seq);
        if seq > head {
            return Err(err!(ValidationError, "event {seq} does not exist yet; the log ends at {head}"));
        }
        self.flush_pending()?;
        let mut warnings = Vec::new();
        let snapshot_seq = self
            .dir()
            .and_then(|dir| snapshot::list(dir).into_iter().map(|(at, _)| at).find(|at| *at <= seq))
            .unwrap_or(0);
        let start = match base.and_then(|b| b.into_state_if(|at| snapshot_seq <= at && at <= seq)) {
            Some(state) => Some(state),
            None => match self.dir() {
                Some(dir) => snapshot::newest_valid(dir, &self.inner.log, seq, false, &mut warnings)?,
                None => None,
            },
        };
        let state = replay(&self.inner.log, start.unwrap_or_default(), seq)?;
        Ok(Store {
            inner: Arc::new(Inner {
                log: self.inner.log.clone(),
                state: RwLock::new(state),
                commit_lock: Mutex::new(()),
                writer: None,
                durability: self.inner.durability,
                limits: self.inner.limits,
                clock: Arc::clone(&self.inner.clock),
                dir: None,
                frozen: Some(seq),
                subs: Arc::default(),
                snapshot_every: 0,
                last_snapshot: AtomicU64::new(0),
                snapshot_jobs: Mutex::new(Vec::new()),
                warnings,
                kept_view: Mutex::new(None),
                view_warnings: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A view's state, taken out of it, if `wanted` accepts the view's seq and nothing else
    /// holds the view (its state is then no one else's to see change).
    fn into_state_if(mut self, wanted: impl FnOnce(u64) -> bool) -> Option<State> {
        let at = self.inner.frozen?;
        if !wanted(at) {
            return None;
        }
        Arc::get_mut(&mut self.inner).map(|inner| std::mem::take(inner.state.get_mut()))
    }

    /// The sequence number of the last event at or before `micros` (0 if none), up to this
    /// store's last event (a view's, for an `as_of` view).
    ///
    /// A binary search over the log: every event is stamped at least 1 ms after the one
    /// before (SPEC §8, checked for every event read from a log), so the times ascend with
    /// the seqs. Each probe decodes one record; a scan from the first event read the whole
    /// log (≈ 0.5 s at a million events).
    pub fn seq_at_time(&self, micros: i64) -> Result<u64> {
        self.flush_pending()?;
        let (head, last_at) = self.read(|s| (s.seq, s.last_at));
        if head == 0 || micros >= last_at {
            return Ok(head);
        }
        let at = |seq: u64| -> Result<i64> {
            self.event(seq)?.map(|e| e.at).ok_or_else(|| Error::corrupt(Some(seq), "event missing from the log"))
        };
        // Invariant: every event up to `lo` is at or before `micros`, event `hi` after it.
        let (mut lo, mut hi) = (0, head);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at(mid)? <= micros {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
