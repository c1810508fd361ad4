//! The store handle and the one write path.
//!
//! Every mutation takes the same shape: under the commit lock, a command is checked against the
//! current state and turned into events (a [`Draft`]); the events are sealed (sequence numbers,
//! time, hash chain), folded into the state, and handed to the writer thread (`writer`), which
//! appends and flushes them for every waiting caller at once. (A large durable draft is handed
//! over in parts while it is drafted, and the writer thread hashes it: see `draft`.) A call returns after its events
//! are durable (or, in buffered mode, handed over). Readers hold the state's read lock only while
//! they look, never while the disk works.

use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::error::{err, Error, Result};
use crate::event::Event;
use crate::log::{Durability, Log};
use crate::replay::replay;
use crate::snapshot;
use crate::state::State;
use crate::value::Limits;
use crate::writer::{Progress, Sealed, Subscribers, Writer, MAX_BACKLOG};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// How a store is opened.
#[derive(Clone)]
pub struct Options {
    /// Durable (default): a call returns once its events are on stable storage.
    pub durability: Durability,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    /// Write a snapshot every this many events, or every as many events as there are values
    /// and links if that is more (so the encoding cost per event stays flat), and on clean
    /// close; 0 disables the periodic ones.
    pub snapshot_every: u64,
    /// The most memory sled may keep of the log (default 16 MiB). The engine's state is in
    /// memory anyway, so the log is only written, and read back by audits and replays: with
    /// sled's own default (1 GiB) it kept every record written, ≈ 130 B per value. (16 MiB
    /// holds ≈ 2,500 records of format 4, about 600k events.)
    pub log_cache_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Durable,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            snapshot_every: 100_000,
            log_cache_bytes: 16 << 20,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("limits", &self.limits)
            .field("snapshot_every", &self.snapshot_every)
            .field("log_cache_bytes", &self.log_cache_bytes)
            .finish()
    }
}

/// A handle to an open store. Cheap to clone, `Send + Sync`; all clones share one store, which
/// closes (final snapshot, final flush) when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub log: Log,
    pub state: RwLock<State>,
    /// Serialises commands: one validates and commits at a time.
    pub commit_lock: Mutex<()>,
    /// `None` for a read-only as-of view.
    pub writer: Option<Writer>,
    pub durability: Durability,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    /// The store directory; `None` for a temporary store (no snapshots).
    pub dir: Option<PathBuf>,
    /// `Some(seq)`: a read-only view of the state after event `seq`.
    pub frozen: Option<u64>,
    pub subs: Subscribers,
    pub snapshot_every: u64,
    pub last_snapshot: AtomicU64,
    pub snapshot_jobs: Mutex<Vec<JoinHandle<()>>>,
    pub warnings: Vec<String>,
    /// The last view `as_of_kept` made, kept for the next (see `views.rs`).
    pub kept_view: Mutex<Option<Store>>,
    /// Warnings of the views `as_of_kept` made, until `take_view_warnings`.
    pub view_warnings: Mutex<Vec<String>>,
}

pub(crate) use crate::draft::Draft;
use crate::draft::{Drafted, Stamper};

/// Who acts, under which run, on which branch, in which space (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Context {
    pub user: u64,
    pub run: Option<u64>,
    pub branch: i64,
    pub space: u64,
}

impl Default for Context {
    fn default() -> Self {
        Context { user: 1, run: None, branch: 1, space: 1 }
    }
}

impl Store {
    /// Opens the store in `dir`, creating it if needed, durable by default.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(dir, Options::default())
    }

    /// Opens with explicit options: loads the newest valid snapshot and folds the events after
    /// it (or replays the whole log when no snapshot checks out).
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("cannot create store {}: {e}", dir.display())))?;
        let log = Log::open(&dir.join("log"), options.durability, options.log_cache_bytes)?;
        let mut warnings = Vec::new();
        let start = snapshot::newest_valid(dir, &log, u64::MAX, true, &mut warnings)?;
        let from_snapshot = start.as_ref().map_or(0, |s| s.seq);
        let state = match start {
            Some(s) => match replay(&log, s, u64::MAX) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!(
                        "replay after snapshot {from_snapshot} failed ({}); replaying the whole log",
                        e.message()
                    ));
                    replay(&log, State::new(), u64::MAX)?
                }
            },
            None => replay(&log, State::new(), u64::MAX)?,
        };
        Self::build(log, state, options, Some(dir.to_path_buf()), warnings, from_snapshot)
    }

    /// Opens a store whose log was just built from the events folded into `state` (an import),
    /// so nothing is replayed: the state is what a replay of that log gives.
    pub(crate) fn open_folded(dir: &Path, options: Options, mut state: State) -> Result<Store> {
        let log = Log::open(&dir.join("log"), options.durability, options.log_cache_bytes)?;
        state.end_replay();
        Self::build(log, state, options, Some(dir.to_path_buf()), Vec::new(), 0)
    }

    /// Opens a store that must already exist (for tools: a wrong path is an error, not a new
    /// empty store).
    pub fn open_existing(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        let dir = dir.as_ref();
        if !dir.join("log").join("db").is_file() {
            return Err(Error::Io(format!(
                "no fvstore store at {} (create one with `fvstore init {}`)",
                dir.display(),
                dir.display()
            )));
        }
        Self::open_with(dir, options)
    }

    /// A store in memory (backed by a temporary directory removed on drop): for tests and
    /// fuzzing. It takes no snapshots.
    pub fn temporary() -> Result<Store> {
        Self::temporary_with(Options::default())
    }

    /// A temporary store with explicit options.
    pub fn temporary_with(options: Options) -> Result<Store> {
        let log = Log::temporary()?;
        Self::build(log, State::new(), options, None, Vec::new(), 0)
    }

    fn build(
        log: Log,
        state: State,
        options: Options,
        dir: Option<PathBuf>,
        warnings: Vec<String>,
        last_snapshot: u64,
    ) -> Result<Store> {
        if options.limits.max_depth > codec::MAX_NESTING {
            return Err(err!(ValidationError, "max_depth may be at most {}", codec::MAX_NESTING));
        }
        let subs: Subscribers = Arc::default();
        log.opened_at(state.seq);
        let writer = Writer::start(log.clone(), options.durability, state.seq, Arc::clone(&subs))?;
        Ok(Store {
            inner: Arc::new(Inner {
                log,
                state: RwLock::new(state),
                commit_lock: Mutex::new(()),
                writer: Some(writer),
                durability: options.durability,
                limits: options.limits,
                clock: options.clock,
                dir,
                frozen: None,
                subs,
                snapshot_every: options.snapshot_every,
                last_snapshot: AtomicU64::new(last_snapshot),
                snapshot_jobs: Mutex::new(Vec::new()),
                warnings,
                kept_view: Mutex::new(None),
                view_warnings: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Failure injection for tests: the next write to the log fails as if the disk had refused
    /// it, which poisons the store. Not for production use.
    #[doc(hidden)]
    pub fn inject_write_failure(&self) {
        if let Some(w) = &self.inner.writer {
            w.progress.fail_next_write();
        }
    }

    /// Test hook: closes the store the way a crash leaves it: no closing flush or snapshot, and
    /// every commit after the last explicit sync (in durable mode: every commit whose call
    /// returned is synced; in buffered mode: `flush`, `snapshot`, periodic snapshots and opening)
    /// dropped from the log, as a power loss may drop it. Needs the only handle; returns the
    /// last event kept. Not for production use.
    #[doc(hidden)]
    pub fn simulate_crash(self) -> Result<u64> {
        let mut inner = Arc::try_unwrap(self.inner)
            .map_err(|_| err!(ValidationError, "simulate_crash needs the only handle to the store"))?;
        if let Some(w) = inner.writer.as_mut() {
            w.progress.crash();
            w.stop();
        }
        for job in inner.snapshot_jobs.get_mut().drain(..) {
            let _ = job.join();
        }
        let kept = inner.log.drop_unsynced()?;
        // No closing snapshot: a crash writes nothing more.
        inner.dir = None;
        Ok(kept)
    }

    /// Warnings from opening (snapshots skipped and why).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Acts as user 1 (`anonymous`) on main in space 1.
    pub fn session(&self) -> crate::Session {
        crate::Session::new(self.clone(), Context::default())
    }

    /// Acts as the user with this handle (case-insensitive).
    pub fn as_user(&self, handle: &str) -> Result<crate::Session> {
        let id = self.read(|s| s.user_by_handle.get(&handle.to_lowercase()).copied());
        let id = id.ok_or_else(|| err!(DoesNotExist, "no user with handle '{handle}'"))?;
        Ok(crate::Session::new(self.clone(), Context { user: id, ..Context::default() }))
    }

    /// Acts in an explicit context.
    pub fn with_context(&self, ctx: Context) -> crate::Session {
        crate::Session::new(self.clone(), ctx)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Runs `f` on a consistent state.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.read())
    }

    /// Waits until everything this reader may have seen is durable, so that an answer built
    /// on a commit still in flight is never given out before that commit is safe.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<()> {
        match (&self.inner.writer, self.inner.durability) {
            (Some(w), Durability::Durable) if w.progress.durable() < seq => w.progress.wait(seq),
            _ => Ok(()),
        }
    }

    /// Buffered mode: once the writer thread is more than `MAX_BACKLOG` events behind, the
    /// caller waits for it to catch up. Without the bound a fast loader queued events faster
    /// than sled took them (76k commits behind in a 1M-value load), and memory grew with it.
    /// It then waits until the writer is only half as far behind: waking at the limit itself
    /// put the caller to sleep again at every commit, a futex round trip per event.
    fn throttle(&self, writer: &Writer, last: u64) -> Result<()> {
        if self.inner.durability == Durability::Buffered && writer.progress.durable() < last.saturating_sub(MAX_BACKLOG)
        {
            writer.progress.wait(last.saturating_sub(MAX_BACKLOG / 2))?;
        }
        Ok(())
    }

    /// The one write path. `build` checks the command and drafts its events; `finish` computes
    /// the answer from the state after they are folded. Nothing is written if `build` fails.
    pub(crate) fn commit<P, T>(
        &self,
        ctx: &Context,
        build: impl FnOnce(&State, &mut Draft) -> Result<P>,
        finish: impl FnOnce(&State, P) -> Result<T>,
    ) -> Result<T> {
        let Some(writer) = &self.inner.writer else {
            return Err(err!(
                ValidationError,
                "this is a read-only view as of event {}",
                self.inner.frozen.unwrap_or(0)
            ));
        };
        let mut pending = Some(writer.progress.enter());
        let guard = self.inner.commit_lock.lock();
        writer.progress.check()?;
        let (plan, events) = {
            let s = self.inner.state.read();
            let mut draft = match self.inner.durability {
                // A large durable draft goes to the writer thread in parts while it is drafted.
                Durability::Durable => Draft::streaming(&s, ctx, writer, &*self.inner.clock),
                Durability::Buffered => Draft::default(),
            };
            let plan = build(&s, &mut draft)?;
            let events = match draft.end()? {
                Drafted::Own(events) => Drafted::Own(self.seal(&s, ctx, events)),
                parts => parts,
            };
            (plan, events)
        };
        let seqs = events.seqs();
        let last = seqs.map(|(_, last)| last);
        let mut gate = match (&events, seqs) {
            (Drafted::Parts(_), Some((first, last))) => {
                // Handed over: the writer need not wait for this caller to gather its group.
                pending = None;
                Some(FoldGate { progress: &writer.progress, first, last, told: false })
            }
            _ => None,
        };
        let mut s: RwLockWriteGuard<'_, State> = self.inner.state.write();
        let fail_at = writer.progress.take_fold_failure().then(|| events.len() / 2);
        for (i, e) in events.iter().enumerate() {
            let folded = if fail_at == Some(i) { Err("injected fold failure".to_string()) } else { s.fold_live(e) };
            if let Err(why) = folded {
                // A command drafted an event its own state cannot fold: a bug, not bad input.
                if let Some(g) = gate.take() {
                    g.failed(e.seq);
                }
                writer.progress.poison(format!("event {} could not be folded: {why}", e.seq));
                return Err(Error::corrupt(Some(e.seq), format!("internal error folding a new event: {why}")));
            }
        }
        if let Some(g) = gate.take() {
            let (first, last) = (g.first, g.last);
            g.folded();
            // The fold took the unhashed events' zero hashes: the head is the writer's. The
            // write lock is held meanwhile, so no reader sees a wrong head; if the writer has
            // not begun hashing them soon (it is flushing an earlier group, or it stopped),
            // this thread does, rather than keep readers waiting.
            s.head = writer
                .progress
                .wait_hashed(last, first, HASH_PATIENCE)
                .or_else(|| events.chain_end())
                .unwrap_or(s.head);
        }
        let s = RwLockWriteGuard::downgrade(s);
        // A streamed commit is with the writer already.
        if let Drafted::Own(events) = events {
            if !events.is_empty() {
                writer.submit(Sealed::Own(events))?;
            }
        }
        drop(pending);
        let out = finish(&s, plan);
        let snap = self.snapshot_due(&s);
        // Even a command that wrote nothing may answer with records of a commit still in
        // flight: wait for everything it could have seen.
        let seen = s.seq;
        drop(s);
        drop(guard);
        self.wait_durable(seen.max(last.unwrap_or(0)))?;
        if let Some(last) = last {
            self.throttle(writer, last)?;
        }
        if let Some((seq, bytes)) = snap {
            self.spawn_snapshot(seq, bytes);
        }
        out
    }

    /// Stamps a draft's events (seq, time, actor, run) and chains their hashes from the
    /// state's head.
    fn seal(&self, s: &State, ctx: &Context, mut events: Vec<Event>) -> Vec<Event> {
        // A draft sized for the most its command could make may hold far fewer (add_values of
        // values mostly linked already): what waits in the writer's queue keeps only its events.
        if events.capacity() - events.len() > 64 && events.capacity() > events.len().saturating_mul(2) {
            events.shrink_to_fit();
        }
        Stamper::new(s.seq, s.last_at, self.inner.clock.now_micros(), ctx).stamp(&mut events);
        codec::chain(&mut events, s.head);
        events
    }

    /// Test hook: the next commit's fold fails midway, as if a command had drafted an event
    /// its own state cannot fold (a bug), which poisons the store. Not for production use.
    #[doc(hidden)]
    pub fn inject_fold_failure(&self) {
        if let Some(w) = &self.inner.writer {
            w.progress.fail_next_fold();
        }
    }

    /// A periodic snapshot is due: encode it now (the state cannot change under the commit
    /// lock); writing it happens off the write path.
    fn snapshot_due(&self, s: &State) -> Option<(u64, Vec<u8>)> {
        let every = self.inner.snapshot_every;
        self.inner.dir.as_ref()?;
        let last = self.inner.last_snapshot.load(Ordering::Acquire);
        // Encoding costs time in proportion to the state, and writers wait for it: space the
        // snapshots at least a state's size (values and links) of events apart, so the cost
        // per event stays flat.
        let spacing = every.max((s.value_count + s.links.len()) as u64);
        if every == 0 || s.seq < last.saturating_add(spacing) {
            return None;
        }
        self.inner.last_snapshot.store(s.seq, Ordering::Release);
        Some((s.seq, snapshot::encode(s)))
    }

    fn spawn_snapshot(&self, seq: u64, bytes: Vec<u8>) {
        let Some(dir) = self.inner.dir.clone() else { return };
        let progress = self.inner.writer.as_ref().map(|w| Arc::clone(&w.progress));
        let (log, durability) = (self.inner.log.clone(), self.inner.durability);
        let job = std::thread::spawn(move || {
            let _ = write_snapshot(progress.as_deref(), &log, durability, &dir, seq, &bytes);
        });
        self.inner.snapshot_jobs.lock().push(job);
    }

    /// Writes a snapshot of the current state now and returns its sequence number.
    pub fn snapshot(&self) -> Result<u64> {
        let dir =
            self.inner.dir.clone().ok_or_else(|| err!(ValidationError, "a temporary store takes no snapshots"))?;
        if self.inner.frozen.is_some() {
            return Err(err!(ValidationError, "a read-only view takes no snapshots"));
        }
        let (seq, bytes) = {
            let _g = self.inner.commit_lock.lock();
            let s = self.inner.state.read();
            (s.seq, snapshot::encode(&s))
        };
        let progress = self.inner.writer.as_ref().map(|w| w.progress.as_ref());
        write_snapshot(progress, &self.inner.log, self.inner.durability, &dir, seq, &bytes)?;
        self.inner.last_snapshot.fetch_max(seq, Ordering::AcqRel);
        Ok(seq)
    }

    /// The sequence number and hash of the last event.
    pub fn head(&self) -> (u64, [u8; 32]) {
        self.read(|s| (s.seq, s.head))
    }

    /// The state hash: blake3 of the canonical snapshot image of the current state.
    pub fn state_hash(&self) -> [u8; 32] {
        self.read(codec::state_hash)
    }

    /// The events `from..=to` that `keep` accepts, holding only those (a record's history
    /// among a million events is a few of them). They are read and checked on another thread,
    /// as a replay reads them: a history scan of a million events took 0.53–0.58 s on one
    /// thread, 0.25–0.27 s on two.
    pub(crate) fn events_where(&self, from: u64, to: u64, mut keep: impl FnMut(&Event) -> bool) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.scan_events(from, to, |block| {
            out.extend(block.iter().filter(|e| keep(e)).cloned());
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands `visit` the events from `from` to `to` — never past an `as_of` view's seq — in
    /// log order and in blocks, read on a second thread and checked as a replay checks them.
    pub(crate) fn scan_events(&self, from: u64, to: u64, visit: impl FnMut(&[Event]) -> Result<()>) -> Result<()> {
        let to = to.min(self.inner.frozen.unwrap_or(u64::MAX));
        self.flush_pending()?;
        // The scan checks the chain from the event before `from`.
        let start = match from.max(1) - 1 {
            0 => (0, [0; 32]),
            before => match self.event(before)? {
                Some(e) => (before, e.hash),
                None => return Ok(()),
            },
        };
        crate::replay::scan(&self.inner.log, start, to, visit)
    }

    /// Event `seq` from the log, read alone (its record is decoded and checked); `None` past
    /// the log's end, `Corruption` for a gap.
    pub(crate) fn event(&self, seq: u64) -> Result<Option<Event>> {
        match self.inner.log.read_range(seq, seq).next().transpose()? {
            Some(e) if e.seq == seq => Ok(Some(e)),
            Some(_) => Err(Error::corrupt(Some(seq), "event missing from the log")),
            None => Ok(None),
        }
    }

    /// Waits until the writer thread has put every folded event into sled.
    pub(crate) fn flush_pending(&self) -> Result<()> {
        if let Some(w) = &self.inner.writer {
            let seq = self.read(|s| s.seq);
            w.progress.wait(seq)?;
        }
        Ok(())
    }

    /// Makes every event so far durable (needed only in buffered mode).
    pub fn flush(&self) -> Result<()> {
        self.flush_pending()?;
        self.inner.log.sync()
    }

    /// Bytes the store takes on disk, as sled reports them.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.log.size_on_disk()
    }

    pub(crate) fn log(&self) -> &Log {
        &self.inner.log
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// Every committed event from `from` on, in order with no gaps: the backlog first, then
    /// live as commits are written.
    pub fn subscribe(&self, from: u64) -> Result<crossbeam_channel::Receiver<Event>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut next = from.max(1);
        // The backlog up to what the writer has published is read first without the
        // subscriber lock, which the writer holds from each group's append to its publication:
        // reading a long backlog under it held up every commit meanwhile.
        if let Some(writer) = &self.inner.writer {
            let published = writer.progress.durable();
            for e in self.inner.log.read_range(next, published) {
                let e = e?;
                if e.seq > published {
                    break;
                }
                next = e.seq + 1;
                let _ = tx.send(e);
            }
        }
        // The rest under the lock: the log then holds only published groups, and every later
        // one is published to this subscriber, so nothing is missed or sent twice.
        let mut subs = self.inner.subs.lock();
        for e in self.inner.log.read_from(next) {
            let _ = tx.send(e?);
        }
        subs.push((from, tx));
        Ok(rx)
    }
}

/// How long the caller of a streamed commit waits, after its fold, for the writer thread to
/// begin hashing it before it hashes the events itself (≈ 0.25 µs an event). The writer has
/// usually hashed all but the last part while the command drafted, and that part within this.
const HASH_PATIENCE: std::time::Duration = std::time::Duration::from_micros(300);

/// Tells the writer thread how the fold of a commit it already holds ended. Dropped without
/// a verdict (a panic in the fold) it reports a failure, so the writer never syncs the
/// commit, nor waits for it forever.
struct FoldGate<'a> {
    progress: &'a Progress,
    first: u64,
    last: u64,
    told: bool,
}

impl FoldGate<'_> {
    fn folded(mut self) {
        self.told = true;
        self.progress.fold_ended(self.last, None);
    }

    fn failed(mut self, seq: u64) {
        self.told = true;
        self.progress.fold_ended(self.last, Some(seq));
    }
}

impl Drop for FoldGate<'_> {
    fn drop(&mut self) {
        if !self.told {
            self.progress.fold_ended(self.last, Some(self.first));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            w.stop();
        }
        for job in self.snapshot_jobs.get_mut().drain(..) {
            let _ = job.join();
        }
        // A clean close leaves a snapshot of the final state, so the next open is fast. Like
        // every snapshot, only of durable events (buffered mode syncs them here): an intact
        // snapshot past the log's end then always means the log lost events.
        let poisoned = self.writer.as_ref().is_some_and(|w| w.progress.check().is_err());
        if let (Some(dir), false) = (&self.dir, poisoned) {
            let s = self.state.get_mut();
            if s.seq > *self.last_snapshot.get_mut()
                && (self.durability == Durability::Durable || self.log.sync().is_ok())
            {
                let _ = snapshot::write(dir, s.seq, &snapshot::encode(s));
            }
        }
    }
}

/// Writes the snapshot of the state after event `seq` once every event up to `seq` is durable:
/// the writer has put them into sled (and, in durable mode, synced them); in buffered mode the
/// log is synced here, since a snapshot ahead of the durable log is useless after a crash.
fn write_snapshot(
    progress: Option<&Progress>,
    log: &Log,
    durability: Durability,
    dir: &Path,
    seq: u64,
    bytes: &[u8],
) -> Result<()> {
    if let Some(p) = progress {
        p.wait(seq)?;
    }
    if durability == Durability::Buffered {
        log.sync()?;
    }
    snapshot::write(dir, seq, bytes)
}

#[cfg(test)]
mod tests {
    use super::{Context, Draft, Drafted, Store};
    use crate::event::{EventData, Host, RecordRef, RecordType};
    use crate::{Durability, FeatureSpec, Options, Value};

    /// A large durable commit whose caller finds the writer thread stuck on an earlier group
    /// (held here by the subscriber lock, which the writer takes before each append) computes
    /// its head itself after `HASH_PATIENCE`, and that head is the one the writer chains the
    /// log by: the commit after it and the log verify, and the store's head is the log's.
    #[test]
    fn a_caller_that_outwaits_the_writer_computes_the_same_head() {
        let store = Store::temporary_with(Options { durability: Durability::Durable, ..Options::default() })
            .unwrap_or_else(|e| panic!("{e}"));
        let me = store.session();
        me.create_feature(&FeatureSpec::new("n", "int")).unwrap_or_else(|e| panic!("{e}"));
        let art = me.create_artifact("a").unwrap_or_else(|e| panic!("{e}")).id;
        let values = |from: i64| -> Vec<(String, Value)> {
            (from..from + 500).map(|i| ("n".to_string(), Value::Int(i))).collect()
        };
        let held = store.inner.subs.lock();
        let calls: Vec<_> = [0i64, 1_000]
            .into_iter()
            .map(|from| {
                let store = store.clone();
                let call = std::thread::spawn(move || store.session().add_values(Host::Artifact(art), &values(from)));
                // The first call's group holds the writer; the second waits for its hash.
                std::thread::sleep(std::time::Duration::from_millis(50));
                call
            })
            .collect();
        drop(held);
        for call in calls {
            let added = call.join().unwrap_or_else(|_| panic!("a call panicked"));
            assert_eq!(added.map(|r| r.len()).ok(), Some(500));
        }
        me.get_or_create(Some("n".into()), -1).unwrap_or_else(|e| panic!("{e}"));
        let verified = store.verify().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verified.head, store.head(), "the store's head is not the log's");
    }

    /// A draft reserved for many events but holding few is sealed into a vector of about its
    /// length (it may wait in the writer's queue), while a small draft is left as it is.
    #[test]
    fn sealing_drops_a_drafts_unused_room() {
        let store = Store::temporary().unwrap_or_else(|e| panic!("{e}"));
        let seal = |reserve: usize, events: u64| {
            let mut d = Draft::default();
            d.reserve(reserve);
            for id in 1..=events {
                d.push(RecordRef { kind: RecordType::Value, id }, EventData::Delete);
            }
            let s = store.inner.state.read();
            let Ok(Drafted::Own(events)) = d.end() else { panic!("a draft without a stream ended in parts") };
            store.seal(&s, &Context::default(), events)
        };
        let few = seal(2_000, 2);
        assert_eq!(few.len(), 2);
        assert!(few.capacity() <= 4, "2 events kept room for {}", few.capacity());
        let full = seal(2_000, 2_000);
        assert_eq!((full.len(), full.capacity()), (2_000, 2_000));
        // A little room (the W2 path: one event in a vector of a few) is not worth a realloc.
        let small = seal(10, 3);
        assert!(small.len() == 3 && small.capacity() >= 10, "a small draft was shrunk");
    }
}
