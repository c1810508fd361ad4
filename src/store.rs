//! The store handle and the one write path.
//!
//! Every mutation takes the same shape: under the writer lock, a command is checked against the
//! current state and turned into events (a [`Draft`]); the events are sealed (sequence numbers,
//! time, hash chain), appended to the log as one atomic batch, and only then folded into the
//! state. Readers hold the state's read lock only while they look, never while the disk works.

use crate::clock::{next_stamp, Clock, SystemClock};
use crate::codec;
use crate::error::{err, Error, Result};
use crate::event::{Event, EventData, RecordRef};
use crate::log::{Durability, Log};
use crate::state::State;
use crate::value::Limits;
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a store is opened.
#[derive(Clone)]
pub struct Options {
    pub durability: Durability,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Durable,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A handle to an open store. Cheap to clone, `Send + Sync`; all clones share one store.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub log: Log,
    pub state: RwLock<State>,
    /// Serialises commands: one validates and commits at a time.
    pub writer: Mutex<()>,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    /// Set when an append failed: the log's tail is unknown, so no more writes.
    pub poisoned: AtomicBool,
}

/// The events one command makes, before they are sealed.
#[derive(Default)]
pub(crate) struct Draft {
    pub events: Vec<(RecordRef, EventData)>,
    values_created: u64,
}

impl Draft {
    pub fn push(&mut self, record: RecordRef, data: EventData) {
        if matches!(data, EventData::CreateValue { .. }) {
            self.values_created += 1;
        }
        self.events.push((record, data));
    }

    /// The id the next value created by this draft will get.
    pub fn next_value_id(&self, s: &State) -> u64 {
        s.next_value() + self.values_created
    }
}

/// Who acts, under which run, on which branch, in which space (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub user: u64,
    pub run: Option<u64>,
    pub branch: i64,
    pub space: u64,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            user: 1,
            run: None,
            branch: 1,
            space: 1,
        }
    }
}

impl Store {
    /// Opens the store in `dir`, creating it if needed, durable by default.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(dir, Options::default())
    }

    /// Opens with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        let log = Log::open(dir.as_ref(), options.durability)?;
        Self::from_log(log, options)
    }

    /// A store in memory (backed by a temporary directory removed on drop): for tests and fuzzing.
    pub fn temporary() -> Result<Store> {
        Self::temporary_with(Options::default())
    }

    /// A temporary store with explicit options (the durability option is ignored).
    pub fn temporary_with(options: Options) -> Result<Store> {
        Self::from_log(Log::temporary()?, options)
    }

    fn from_log(log: Log, options: Options) -> Result<Store> {
        if options.limits.max_depth > codec::MAX_NESTING {
            return Err(err!(
                ValidationError,
                "max_depth may be at most {}",
                codec::MAX_NESTING
            ));
        }
        let state = replay(&log, State::new(), 0)?;
        Ok(Store {
            inner: Arc::new(Inner {
                log,
                state: RwLock::new(state),
                writer: Mutex::new(()),
                limits: options.limits,
                clock: options.clock,
                poisoned: AtomicBool::new(false),
            }),
        })
    }

    /// Acts as user 1 (`anonymous`) on main in space 1.
    pub fn session(&self) -> crate::Session {
        crate::Session::new(self.clone(), Context::default())
    }

    /// Acts as the user with this handle (case-insensitive).
    pub fn as_user(&self, handle: &str) -> Result<crate::Session> {
        let id = self.read(|s| s.user_by_handle.get(&handle.to_lowercase()).copied());
        let id = id.ok_or_else(|| err!(DoesNotExist, "no user with handle '{handle}'"))?;
        Ok(crate::Session::new(
            self.clone(),
            Context {
                user: id,
                ..Context::default()
            },
        ))
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

    /// The one write path. `build` checks the command and drafts its events; `finish` computes
    /// the answer from the state after they are folded. Nothing is written if `build` fails.
    pub(crate) fn commit<P, T>(
        &self,
        ctx: &Context,
        build: impl FnOnce(&State, &mut Draft) -> Result<P>,
        finish: impl FnOnce(&State, P) -> Result<T>,
    ) -> Result<T> {
        let _writer = self.inner.writer.lock();
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(Error::Io("the store is poisoned: an earlier write failed, so no further writes are accepted; reopen it".into()));
        }
        let mut draft = Draft::default();
        let (plan, events) = {
            let s = self.inner.state.read();
            let plan = build(&s, &mut draft)?;
            (plan, self.seal(&s, ctx, draft))
        };
        if !events.is_empty() {
            if let Err(e) = self.inner.log.append(&events) {
                self.inner.poisoned.store(true, Ordering::Release);
                return Err(Error::Io(format!(
                    "write failed, the store is now poisoned: {}",
                    e.message()
                )));
            }
        }
        let mut s: RwLockWriteGuard<'_, State> = self.inner.state.write();
        for e in &events {
            if let Err(why) = s.fold(e) {
                // A command drafted an event its own state cannot fold: a bug, not bad input.
                self.inner.poisoned.store(true, Ordering::Release);
                return Err(Error::corrupt(
                    Some(e.seq),
                    format!("internal error folding a new event: {why}"),
                ));
            }
        }
        let s = RwLockWriteGuard::downgrade(s);
        finish(&s, plan)
    }

    fn seal(&self, s: &State, ctx: &Context, draft: Draft) -> Vec<Event> {
        let now = self.inner.clock.now_micros();
        let mut prev = s.head;
        let mut last = s.last_at;
        let mut seq = s.seq;
        draft
            .events
            .into_iter()
            .map(|(record, data)| {
                seq += 1;
                last = next_stamp(now, last);
                let mut e = Event {
                    seq,
                    at: last,
                    actor: ctx.user,
                    run: ctx.run,
                    record,
                    data,
                    prev,
                    hash: [0; 32],
                };
                e.hash = codec::event_hash(&e);
                prev = e.hash;
                e
            })
            .collect()
    }

    /// The sequence number and hash of the last event.
    pub fn head(&self) -> (u64, [u8; 32]) {
        self.read(|s| (s.seq, s.head))
    }

    /// Events `from..=to` (inclusive), straight from the log.
    pub(crate) fn events(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for e in self.inner.log.read_from(from) {
            let e = e?;
            if e.seq > to {
                break;
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Makes every appended event durable (a no-op cost in durable mode).
    pub fn flush(&self) -> Result<()> {
        self.inner.log.sync()
    }

    /// Bytes the store takes on disk, as sled reports them.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.log.size_on_disk()
    }
}

/// Folds every event after `state.seq` into `state`, checking order and the hash chain.
pub(crate) fn replay(log: &Log, mut state: State, _from: u64) -> Result<State> {
    for e in log.read_from(state.seq + 1) {
        let e = e?;
        if e.seq != state.seq + 1 {
            return Err(Error::corrupt(
                Some(state.seq + 1),
                format!("expected event {}, found {}", state.seq + 1, e.seq),
            ));
        }
        if e.prev != state.head {
            return Err(Error::corrupt(
                Some(e.seq),
                "hash chain broken: prev does not match the previous event's hash",
            ));
        }
        if codec::event_hash(&e) != e.hash {
            return Err(Error::corrupt(
                Some(e.seq),
                "event hash does not match its contents (tampered or damaged)",
            ));
        }
        state
            .fold(&e)
            .map_err(|why| Error::corrupt(Some(e.seq), why))?;
    }
    Ok(state)
}
