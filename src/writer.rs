//! Group commit. Callers seal and fold their commit under the store's writer lock and hand the
//! events to one writer thread through a channel; the thread takes every commit waiting, appends
//! them to sled as one record, makes them durable with one flush + fdatasync, publishes them to
//! subscribers, and only then wakes the callers. So concurrent writers share each flush and
//! durable throughput grows with their number.
//!
//! A large durable commit comes in parts while its command still drafts it (see `draft`),
//! stamped but not hashed: the thread computes their chain hashes as they come (handing the
//! last back to the caller, whose state's head it is), writes nothing until the last part is
//! there (or drops them all on `Sealed::Abort`), then has sled insert the commit's records in
//! one batch while the caller folds it; it syncs the commit only once the caller says the fold
//! succeeded. If it failed (a bug: a drafted event its own state cannot fold), the thread
//! removes the group's records instead, so nothing unfoldable reaches stable storage.
//!
//! A failed append or flush poisons the store: the thread stops accepting work and every
//! waiting and later writer gets an `Io` error saying so.

use crate::error::{Error, Result};
use crate::event::Event;
use crate::log::{Durability, Log};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most events written as one sled record; a bigger backlog is split (between commits).
const MAX_GROUP: usize = 1 << 16;

/// Buffered mode: how many events callers may run ahead of the writer thread before they wait
/// for it (about 16 MB of queued events at the fixture's 180-byte ints; a commit is never split).
pub(crate) const MAX_BACKLOG: u64 = 1 << 16;

/// Groups of several commits stop growing past one record's worth of bytes (see `log`).
const MAX_GROUP_BYTES: usize = crate::log::MAX_RECORD_BYTES;

/// How long a durable group waits for callers already on their way to submit (commit_delay
/// in PostgreSQL's terms, but only while someone is actually coming): without it the thread
/// flushed the first commit of a burst alone, and the rest waited a whole flush for the next.
const GATHER: Duration = Duration::from_micros(1000);

/// Buffered mode: how long a small group waits once for more commits while a caller is busy.
const LINGER: Duration = Duration::from_micros(100);

/// How far the log is durable, shared by the writer thread and the callers.
#[derive(Default)]
pub(crate) struct Progress {
    state: Mutex<ProgressState>,
    /// A copy of `state.durable` readable without the lock (the hit path checks it).
    durable_fast: AtomicU64,
    /// Test hook: the next write fails as if the disk had refused it.
    fail_next: AtomicBool,
    /// Test hook: a simulated crash; the thread stops without writing or flushing anything more.
    crashed: AtomicBool,
    /// Callers between entering the write path and handing their events over: the durable
    /// writer waits briefly for them, so that one flush covers their commits too.
    pending: AtomicUsize,
    /// The last seq of the commits handed over while folding ([`Sealed::Part`]) whose
    /// fold has ended well, and a seq within the one whose fold failed (0: none).
    folded: AtomicU64,
    fold_failed: AtomicU64,
    /// Test hook: the next commit's fold fails as if it had met an event it cannot fold.
    fail_next_fold: AtomicBool,
    /// The writer thread, woken when a fold it may be waiting for ends.
    thread: OnceLock<std::thread::Thread>,
    /// The first event of the latest part of a streamed commit the writer thread has begun to
    /// hash.
    hashing: AtomicU64,
}

/// What callers hand the writer thread, in sequence order. `Own` is a whole commit, sealed
/// (hashed). A large durable commit comes as `Part`s while its command still drafts it (the
/// caller holds the commit lock, so nothing else comes between them): stamped, not hashed,
/// only the commit's first event's `prev` set, `true` on the last part. This thread hashes each
/// part on arrival (handing the last hash back through [`Progress::wait_hashed`]), appends the
/// commit once it is whole, and syncs it only once [`Progress::fold_ended`] says the caller's
/// fold succeeded. `Abort` voids the parts sent since the last whole commit: the command failed.
pub(crate) enum Sealed {
    Own(Vec<Event>),
    Part(Arc<Vec<Event>>, bool),
    Abort,
}

/// The writer thread's side of its group of commits: sealed events, or a single streamed
/// commit's parts with the hashes this thread computed beside them (no copy: the caller is
/// still reading them).
enum Group {
    Own(Vec<Event>),
    Parts(Vec<HashedPart>),
}

/// A part of a streamed commit and its events' hashes.
type HashedPart = (Arc<Vec<Event>>, Vec<[u8; 32]>);

impl Group {
    fn slices(&self) -> impl DoubleEndedIterator<Item = &[Event]> + Clone {
        let (own, parts): (&[Event], &[HashedPart]) = match self {
            Group::Own(v) => (v, &[]),
            Group::Parts(p) => (&[], p),
        };
        std::iter::once(own).chain(parts.iter().map(|(p, _)| p.as_slice()))
    }

    fn len(&self) -> usize {
        self.slices().map(<[Event]>::len).sum()
    }

    fn bytes(&self) -> usize {
        self.slices().flatten().map(crate::log::estimate).sum()
    }

    /// The first and last sequence numbers, if the group holds any event.
    fn seqs(&self) -> Option<(u64, u64)> {
        crate::draft::seqs(self.slices())
    }

    /// The events, sealed: a streamed commit's are copied, their hashes filled in.
    fn sealed(&self) -> Vec<Event> {
        match self {
            Group::Own(v) => v.clone(),
            Group::Parts(parts) => {
                let mut prev = parts.first().and_then(|(p, _)| p.first()).map_or([0; 32], |e| e.prev);
                let mut all = Vec::with_capacity(self.len());
                for (p, hashes) in parts {
                    all.extend(crate::codec::sealed_copy(p, prev, hashes));
                    prev = hashes.last().copied().unwrap_or(prev);
                }
                all
            }
        }
    }

    /// Appends the next commit's events (a group growing).
    fn extend(&mut self, more: Group) {
        let mut own = match std::mem::replace(self, Group::Own(Vec::new())) {
            Group::Own(v) => v,
            parts => parts.sealed(),
        };
        match more {
            Group::Own(v) => own.extend(v),
            parts => own.extend(parts.sealed()),
        }
        *self = Group::Own(own);
    }

    fn append(&self, log: &Log) -> Result<()> {
        match self {
            Group::Own(v) => log.append(v),
            Group::Parts(parts) => {
                log.append_parts(&parts.iter().map(|(p, h)| (p.as_slice(), h.as_slice())).collect::<Vec<_>>())
            }
        }
    }
}

/// Takes a commit from the channel and returns it as a group, with, for a streamed one, its
/// last seq, which must be folded before the group holding it is synced; `None` for a commit
/// voided. A streamed commit's parts are hashed here as they come, so that its caller, who
/// waits for the last hash to end its fold, finds it ready.
fn receive(first: Sealed, rx: &Receiver<Sealed>, progress: &Progress) -> Option<(Group, Option<u64>)> {
    let (mut part, mut last) = match first {
        Sealed::Own(events) => return Some((Group::Own(events), None)),
        Sealed::Abort => return None,
        Sealed::Part(part, last) => (part, last),
    };
    let mut prev = part.first().map_or([0; 32], |e| e.prev);
    let mut parts = Vec::new();
    loop {
        if let Some(e) = part.first() {
            progress.hashing.fetch_max(e.seq, Ordering::AcqRel);
        }
        let hashes = crate::codec::chain_hashes(&part, prev);
        if let (Some(e), Some(hash)) = (part.last(), hashes.last()) {
            progress.hashed(e.seq, *hash);
            prev = *hash;
        }
        parts.push((part, hashes));
        if last {
            let end = parts.iter().rev().find_map(|(p, _)| p.last()).map(|e| e.seq);
            return Some((Group::Parts(parts), end));
        }
        (part, last) = match rx.recv() {
            Ok(Sealed::Part(p, l)) => (p, l),
            // Voided, or the store closed under it: none of it is written.
            Ok(Sealed::Abort) | Err(_) => return None,
            // Cannot happen (the streaming caller holds the commit lock); the whole commit is
            // written, the parts before it are not.
            Ok(Sealed::Own(events)) => return Some((Group::Own(events), None)),
        };
    }
}

/// A caller counted in [`Progress::pending`] until this is dropped.
pub(crate) struct Pending<'a>(&'a Progress);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct ProgressState {
    /// Every event up to here is in sled and, in durable mode, on stable storage.
    durable: u64,
    poisoned: Option<String>,
    /// Callers parked until the log is durable up to their seq. Each is woken on its own when
    /// it is: with a condvar, all of them woke to queue for its mutex one after another, a
    /// chain of context switches that took most of the time between two flushes at 16 writers.
    waiting: Vec<(u64, std::thread::Thread)>,
    /// The last event of the latest shared commit hashed, and its hash; and the caller
    /// waiting for it (one at most: it waits under the commit lock).
    hashed: (u64, [u8; 32]),
    hash_waiter: Option<std::thread::Thread>,
}

impl Progress {
    pub fn new(durable: u64) -> Progress {
        Progress {
            state: Mutex::new(ProgressState { durable, ..ProgressState::default() }),
            durable_fast: AtomicU64::new(durable),
            fail_next: AtomicBool::new(false),
            crashed: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            folded: AtomicU64::new(0),
            fold_failed: AtomicU64::new(0),
            fail_next_fold: AtomicBool::new(false),
            thread: OnceLock::new(),
            hashing: AtomicU64::new(0),
        }
    }

    /// A commit handed over while folding has been folded up to `last`, or failed to fold at
    /// event `failed` (then the writer drops its group instead of syncing it).
    pub fn fold_ended(&self, last: u64, failed: Option<u64>) {
        match failed {
            Some(seq) => self.fold_failed.store(seq.max(1), Ordering::Release),
            None => {
                self.folded.fetch_max(last, Ordering::AcqRel);
            }
        }
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// The hash of event `seq`, the last of a commit streamed from event `first` on, once the
    /// writer thread has hashed it; `None` if the thread stopped first (poisoned or crashed),
    /// or has not begun to hash the commit within `patience` (it may be flushing an earlier
    /// group). Once it has begun, the wait goes on: it is nearer the end than the caller would be.
    pub fn wait_hashed(&self, seq: u64, first: u64, patience: Duration) -> Option<[u8; 32]> {
        let deadline = Instant::now() + patience;
        loop {
            {
                let mut st = self.state.lock();
                if st.hashed.0 == seq {
                    return Some(st.hashed.1);
                }
                if st.poisoned.is_some() || st.hashed.0 > seq || self.crashed.load(Ordering::Acquire) {
                    return None;
                }
                st.hash_waiter = Some(std::thread::current());
            }
            // Woken by `hashed` or `poison`; the deadline also covers a simulated crash, which
            // wakes nobody.
            let left = deadline.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                std::thread::park_timeout(left);
            } else if self.hashing.load(Ordering::Acquire) >= first {
                std::thread::park_timeout(Duration::from_millis(10));
            } else {
                self.state.lock().hash_waiter = None;
                return None;
            }
        }
    }

    /// Writer thread: a shared commit ending at `seq` is hashed, its last hash `hash`.
    fn hashed(&self, seq: u64, hash: [u8; 32]) {
        let waiter = {
            let mut st = self.state.lock();
            st.hashed = (seq, hash);
            st.hash_waiter.take()
        };
        if let Some(t) = waiter {
            t.unpark();
        }
    }

    /// Writer thread: waits until the commits handed over up to `last` are folded; false if
    /// one of them failed. Commits are folded one at a time in order, so a failure after
    /// `last` means every commit up to it was folded.
    fn wait_folded(&self, last: u64) -> bool {
        loop {
            if self.folded.load(Ordering::Acquire) >= last {
                return true;
            }
            let failed = self.fold_failed.load(Ordering::Acquire);
            if failed != 0 && failed <= last {
                return false;
            }
            // Woken by `fold_ended`; the timeout only guards against a lost wake-up.
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// Test hook: true once, for the commit that should fail to fold.
    pub fn take_fold_failure(&self) -> bool {
        // A load first: the swap, a locked instruction, on every commit would cost the hot path.
        self.fail_next_fold.load(Ordering::Relaxed) && self.fail_next_fold.swap(false, Ordering::AcqRel)
    }

    /// Makes the next commit's fold fail (failure injection for tests).
    pub fn fail_next_fold(&self) {
        self.fail_next_fold.store(true, Ordering::Release);
    }

    /// Counts the caller as about to submit events until the guard is dropped.
    pub fn enter(&self) -> Pending<'_> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Pending(self)
    }

    /// Waits until event `seq` is durable.
    pub fn wait(&self, seq: u64) -> Result<()> {
        loop {
            {
                let mut st = self.state.lock();
                if let Some(why) = &st.poisoned {
                    return Err(poisoned(why));
                }
                if st.durable >= seq {
                    return Ok(());
                }
                st.waiting.push((seq, std::thread::current()));
            }
            // An unpark that came between the unlock and here is kept, so this returns at once.
            // A spurious return registers again: a second entry costs one extra unpark.
            std::thread::park();
        }
    }

    pub fn durable(&self) -> u64 {
        self.durable_fast.load(Ordering::Acquire)
    }

    pub fn check(&self) -> Result<()> {
        match &self.state.lock().poisoned {
            Some(why) => Err(poisoned(why)),
            None => Ok(()),
        }
    }

    /// Publishes `seq` as durable; returns how many waiting callers it woke.
    fn advance(&self, seq: u64) -> usize {
        let woken = {
            let mut st = self.state.lock();
            st.durable = seq;
            self.durable_fast.store(seq, Ordering::Release);
            wake(&mut st.waiting, seq)
        };
        woken.iter().for_each(std::thread::Thread::unpark);
        woken.len()
    }

    /// Makes the writer thread's next write fail (failure injection for tests).
    pub fn fail_next_write(&self) {
        self.fail_next.store(true, Ordering::Release);
    }

    /// Simulates a crash: the writer thread writes and flushes nothing more.
    pub fn crash(&self) {
        self.crashed.store(true, Ordering::Release);
    }

    pub fn poison(&self, why: String) {
        let woken = {
            let mut st = self.state.lock();
            if st.poisoned.is_none() {
                st.poisoned = Some(why);
            }
            let mut woken = wake(&mut st.waiting, u64::MAX);
            woken.extend(st.hash_waiter.take());
            woken
        };
        woken.iter().for_each(std::thread::Thread::unpark);
    }
}

/// Takes the waiters whose seq is now durable (all of them for `u64::MAX`), to be unparked
/// once the lock is released.
fn wake(waiting: &mut Vec<(u64, std::thread::Thread)>, upto: u64) -> Vec<std::thread::Thread> {
    let mut woken = Vec::new();
    waiting.retain(|(seq, t)| {
        if *seq <= upto {
            woken.push(t.clone());
        }
        *seq > upto
    });
    woken
}

fn poisoned(why: &str) -> Error {
    Error::Io(format!("the store is poisoned and accepts no more writes (reopen it to recover): {why}"))
}

/// Subscribers to committed events, each with the first seq it wants: one may subscribe from
/// an event not yet written, and the group that brings it may start before it.
pub(crate) type Subscribers = Arc<Mutex<Vec<(u64, Sender<Event>)>>>;

/// The writer thread and the channel into it.
pub(crate) struct Writer {
    tx: Option<Sender<Sealed>>,
    handle: Option<JoinHandle<()>>,
    pub progress: Arc<Progress>,
}

impl Writer {
    pub fn start(log: Log, durability: Durability, durable: u64, subs: Subscribers) -> Result<Writer> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let progress = Arc::new(Progress::new(durable));
        let p = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name("fvstore-writer".into())
            .spawn(move || run(&rx, &log, durability, &p, &subs))
            .map_err(|e| Error::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { tx: Some(tx), handle: Some(handle), progress })
    }

    /// Hands sealed events (in sequence order) to the writer thread.
    pub fn submit(&self, events: Sealed) -> Result<()> {
        self.progress.check()?;
        match &self.tx {
            Some(tx) => tx.send(events).map_err(|_| poisoned("the writer thread has stopped")),
            None => Err(poisoned("the store is closing")),
        }
    }

    /// Stops the thread after it has written everything submitted.
    pub fn stop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                self.progress.poison("the writer thread panicked".into());
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(rx: &Receiver<Sealed>, log: &Log, durability: Durability, progress: &Progress, subs: &Subscribers) {
    let _ = progress.thread.set(std::thread::current());
    let mut next: Option<(Group, Option<u64>)> = None;
    // A streamed commit's first part met while gathering a group: taken after that group.
    let mut held: Option<Sealed> = None;
    // Durable mode: the callers the last flush woke, and how long the next group may wait for
    // them to come back with their next commit (a quarter of that flush: a caller who misses
    // the group waits a whole flush more).
    let (mut woken, mut straggle) = (0usize, Duration::ZERO);
    loop {
        // `gate`: the last seq of a commit in the group that is still being folded.
        let (mut group, mut gate) = match next.take() {
            Some(commit) => commit,
            None => {
                let Some(commit) = held.take().or_else(|| rx.recv().ok()) else { break };
                match receive(commit, rx, progress) {
                    Some(commit) => commit,
                    None => continue,
                }
            }
        };
        let mut bytes = group.bytes();
        // Take every commit waiting, up to the group limits; a commit is never split. Before a
        // flush, also wait (briefly) for callers that are committing right now.
        let started = Instant::now();
        let (gather_until, straggle_until) = (started + GATHER, started + straggle);
        let mut lingered = false;
        let mut commits = 1;
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(part @ Sealed::Part(..)) => {
                    // Its caller is still drafting: this group need not wait for it.
                    held = Some(part);
                    break;
                }
                Ok(more) => {
                    let Some((more, more_gate)) = receive(more, rx, progress) else { continue };
                    let more_bytes = more.bytes();
                    if bytes + more_bytes > MAX_GROUP_BYTES {
                        next = Some((more, more_gate));
                        break;
                    }
                    bytes += more_bytes;
                    gate = more_gate.or(gate);
                    group.extend(more);
                    commits += 1;
                }
                Err(_)
                    if durability == Durability::Durable && {
                        let now = Instant::now();
                        (progress.pending.load(Ordering::Acquire) > 0 && now < gather_until)
                            || (commits < woken && now < straggle_until)
                    } =>
                {
                    std::thread::yield_now()
                }
                Err(_)
                    if durability == Durability::Buffered
                        && !lingered
                        && bytes < MAX_GROUP_BYTES / 2
                        && progress.pending.load(Ordering::Acquire) > 0 =>
                {
                    // A caller is committing: let a few more commits queue up rather than
                    // pay sled's per-record cost (≈ 15 µs) and a wake-up for each small one.
                    lingered = true;
                    std::thread::sleep(LINGER);
                }
                Err(_) => break,
            }
        }
        let Some((first_seq, last)) = group.seqs() else {
            continue;
        };
        if progress.crashed.load(Ordering::Acquire) {
            return;
        }
        // The subscriber list stays locked from append to publish, so a new subscriber's
        // backlog read (under the same lock) and the live feed never overlap or leave a gap.
        let mut s = subs.lock();
        let published = if s.is_empty() { Vec::new() } else { group.sealed() };
        let injected = progress.fail_next.swap(false, Ordering::AcqRel);
        let written = if injected { Err(Error::Io("injected write failure".into())) } else { Ok(()) };
        let written = written.and_then(|()| group.append(log));
        if written.is_ok() && gate.is_some_and(|g| !progress.wait_folded(g)) {
            // Nothing of a group with an unfoldable event may become durable. Every group
            // before it is synced, so its records are all from `first_seq` on.
            let removed = log.remove_from(first_seq).and_then(|()| log.sync());
            let why = removed.err().map_or(String::new(), |e| format!("; removing them failed: {}", e.message()));
            progress.poison(format!("a commit in events {first_seq}..={last} could not be folded{why}"));
            return;
        }
        let written = written.and_then(|()| match durability {
            Durability::Durable => {
                let flush = Instant::now();
                log.sync()?;
                straggle = (flush.elapsed() / 4).min(GATHER);
                Ok(())
            }
            Durability::Buffered => Ok(()),
        });
        if let Err(e) = written {
            progress.poison(format!("writing events up to {last} failed: {}", e.message()));
            return;
        }
        if !published.is_empty() {
            s.retain(|(from, tx)| published.iter().filter(|e| e.seq >= *from).all(|e| tx.send(e.clone()).is_ok()));
        }
        drop(s);
        woken = progress.advance(last);
    }
    // Channel closed: a clean close. Make the buffered tail durable too.
    if progress.crashed.load(Ordering::Acquire) {
        return;
    }
    if let Err(e) = log.sync() {
        progress.poison(format!("final flush failed: {}", e.message()));
    }
}

#[cfg(test)]
mod tests {
    use super::{Progress, MAX_BACKLOG};
    use crate::{Durability, FeatureSpec, Options, Store};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Waits (bounded) until `done` holds, so a waiter that is never woken fails the test
    /// instead of hanging it.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Each caller wakes once its own seq is durable, and not before; a poison wakes the rest
    /// with the error.
    #[test]
    fn waiters_wake_when_their_seq_is_durable_and_on_poison() {
        let p = Arc::new(Progress::new(0));
        let waiters: Vec<_> = (1..=8u64)
            .map(|seq| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || p.wait(seq * 10).map_err(|e| e.message()))
            })
            .collect();
        eventually("the waiters did not all park", || p.state.lock().waiting.len() >= 8);
        assert_eq!(p.advance(45), 4, "advance did not report the four callers it woke");
        eventually("waiters up to seq 45 were not woken", || waiters.iter().take(4).all(|w| w.is_finished()));
        std::thread::sleep(Duration::from_millis(20));
        assert!(waiters.iter().skip(4).all(|w| !w.is_finished()), "a waiter past seq 45 returned early");
        p.poison("disk gone".into());
        for (i, w) in waiters.into_iter().enumerate() {
            let got = w.join().unwrap_or_else(|_| panic!("waiter {i} panicked"));
            if i < 4 {
                assert_eq!(got, Ok(()), "waiter {i}");
            } else {
                assert!(got.as_ref().is_err_and(|m| m.contains("disk gone")), "waiter {i}: {got:?}");
            }
        }
        assert!(p.state.lock().waiting.is_empty(), "woken waiters were left registered");
    }

    /// Patience long enough for a test thread to park, short enough for a test.
    const LONG: Duration = Duration::from_millis(200);

    /// A caller waiting for its streamed commit's hash gets it once the writer publishes it,
    /// and `None` (it hashes the events itself) when the writer is poisoned or has crashed
    /// first, has published a later commit's, or has not begun its commit within the caller's
    /// patience (a part of an earlier commit does not count).
    #[test]
    fn a_streamed_commits_caller_waits_for_its_hash_or_learns_the_writer_stopped() {
        let p = Arc::new(Progress::new(0));
        let waiter = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || p.wait_hashed(7, 5, LONG))
        };
        eventually("the waiter did not park", || p.state.lock().hash_waiter.is_some());
        p.hashed(7, [9; 32]);
        assert_eq!(waiter.join().ok(), Some(Some([9; 32])));
        assert_eq!(p.wait_hashed(7, 5, LONG), Some([9; 32]), "a hash published before the wait was missed");
        assert_eq!(p.wait_hashed(3, 1, LONG), None, "a later commit's hash was taken for an earlier one");
        // A writer busy elsewhere: the wait gives up after its patience, and unregisters.
        let t = Instant::now();
        p.hashing.store(7, std::sync::atomic::Ordering::Release);
        assert_eq!(p.wait_hashed(8, 8, Duration::from_millis(30)), None, "a hash never published was returned");
        assert!(t.elapsed() >= Duration::from_millis(30), "the wait gave up early: {:?}", t.elapsed());
        assert!(p.state.lock().hash_waiter.is_none(), "a waiter that gave up stayed registered");
        // A writer that has begun to hash the commit is waited for past the patience.
        let busy = Arc::new(Progress::new(0));
        busy.hashing.store(6, std::sync::atomic::Ordering::Release);
        let waiter = {
            let busy = Arc::clone(&busy);
            std::thread::spawn(move || busy.wait_hashed(9, 6, Duration::from_millis(1)))
        };
        std::thread::sleep(Duration::from_millis(40));
        assert!(!waiter.is_finished(), "the wait gave up on a writer already hashing its commit");
        busy.hashed(9, [4; 32]);
        assert_eq!(waiter.join().ok(), Some(Some([4; 32])));

        let waiter = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || p.wait_hashed(8, 8, LONG))
        };
        eventually("the waiter did not park", || p.state.lock().hash_waiter.is_some());
        p.poison("disk gone".into());
        assert_eq!(waiter.join().ok(), Some(None), "a poison did not end the wait");

        let p = Arc::new(Progress::new(0));
        let waiter = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                let t = Instant::now();
                (p.wait_hashed(8, 8, LONG), t.elapsed())
            })
        };
        eventually("the waiter did not park", || p.state.lock().hash_waiter.is_some());
        // A crash wakes nobody: the wait notices it at its deadline.
        p.crash();
        let (got, waited) = waiter.join().unwrap_or_else(|_| panic!("the waiter panicked"));
        assert_eq!(got, None, "a crash did not end the wait");
        assert!(waited >= LONG, "the wait ended before its deadline: {waited:?}");
    }

    /// With the writer thread held up, a buffered caller stops once it is `MAX_BACKLOG` events
    /// ahead, and goes on when the writer catches up.
    #[test]
    fn buffered_callers_wait_for_a_writer_that_falls_behind() {
        let store = Store::temporary_with(Options { durability: Durability::Buffered, ..Options::default() })
            .unwrap_or_else(|e| panic!("{e}"));
        store.session().create_feature(&FeatureSpec::new("n", "int")).unwrap_or_else(|e| panic!("{e}"));
        store.flush().unwrap_or_else(|e| panic!("{e}"));
        let start = store.head().0;
        // The writer takes the subscriber lock before each append: holding it stalls the writer.
        let held = store.inner.subs.lock();
        let loader = {
            let store = store.clone();
            std::thread::spawn(move || {
                let me = store.session();
                for i in 0..MAX_BACKLOG + 1_000 {
                    me.get_or_create(Some("n".into()), i as i64).unwrap_or_else(|e| panic!("{e}"));
                }
            })
        };
        // Wait until the loader stops making progress.
        let (mut last, mut since) = (store.head().0, Instant::now());
        while since.elapsed() < Duration::from_millis(300) && !loader.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
            let now = store.head().0;
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
        assert!(!loader.is_finished(), "the loader ran {} events ahead of a stalled writer", last - start);
        assert_eq!(last, start + MAX_BACKLOG + 1, "the loader stopped at the wrong distance");
        drop(held);
        assert!(loader.join().is_ok(), "the loader panicked");
        assert_eq!(store.head().0, start + MAX_BACKLOG + 1_000);
    }
}
