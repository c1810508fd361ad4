//! An example of a fuzz target a user of fvstore writes: the input bytes become a sequence of
//! calls of the public API (`fvstore::Command`, which derives `arbitrary::Arbitrary` with
//! fvstore's `arbitrary` feature) run on an in-memory store with a fixed clock, so one input
//! always gives the same answers, events and hashes. Replace the checks marked below with the
//! invariants of your own program. Run it with
//! `cargo fuzz run --sanitizer none commands` (docs/TESTING.md).
#![no_main]

use arbitrary::Arbitrary;
use fvstore::{Command, Context, Durability, FixedClock, Options, Store};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// One call and who makes it; small numbers, so that the actor, run, branch and space mostly
/// exist (arbitrary u64 ids almost never would).
#[derive(Arbitrary, Debug)]
struct Call {
    user: u8,
    run: Option<u8>,
    branch: i8,
    space: u8,
    command: Command,
}

impl Call {
    fn context(&self) -> Context {
        Context {
            user: u64::from(self.user % 4) + 1,
            run: self.run.map(|r| u64::from(r % 3) + 1),
            branch: i64::from(self.branch % 8),
            space: u64::from(self.space % 4) + 1,
        }
    }
}

fn store() -> Store {
    let options = Options {
        // Deterministic timestamps; buffered, since nothing here needs to survive a crash.
        clock: Arc::new(FixedClock(1_700_000_000_000_000)),
        durability: Durability::Buffered,
        ..Options::default()
    };
    Store::temporary_with(options).expect("a temporary store")
}

fuzz_target!(|calls: Vec<Call>| {
    let store = store();
    for call in calls.iter().take(64) {
        let before = (store.head(), store.state_hash());
        let result = call.command.run(&store.with_context(call.context()));
        // Your invariants here. fvstore's own: a failed call writes nothing, a read never writes.
        if result.is_err() || !call.command.is_mutation() {
            assert_eq!(before, (store.head(), store.state_hash()), "{call:?} changed the store: {result:?}");
        }
    }
    // The chain verifies and a full replay of the log gives the live state.
    let v = store.verify().expect("the log verifies");
    assert_eq!(v.state_hash, store.state_hash());
});
