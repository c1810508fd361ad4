//! `fvstore::Command` driven by arbitrary bytes (the `arbitrary` feature), as a user's fuzz
//! target drives it: many random inputs, each run on an in-memory store and on a store in a
//! directory, with a fixed clock. The two must give the same answers, events and state hash (a
//! fuzz input replays exactly); a failed call or a read must write nothing; at the end the log
//! verifies and the directory store reopens to the same head and state.
#![cfg(feature = "arbitrary")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arbitrary::{Arbitrary, Unstructured};
use fvstore::{Answer, Command, Context, Durability, FixedClock, Options, Store};
use std::sync::Arc;

fn options() -> Options {
    Options {
        clock: Arc::new(FixedClock(1_700_000_000_000_000)),
        durability: Durability::Buffered,
        ..Options::default()
    }
}

/// Calls from bytes; the actor, run, branch and space are folded to small numbers that exist.
fn calls(data: &[u8]) -> Vec<(Context, Command)> {
    let mut u = Unstructured::new(data);
    let mut out = Vec::new();
    while !u.is_empty() && out.len() < 64 {
        let Ok((user, run, branch, space, command)) = <(u8, Option<u8>, i8, u8, Command)>::arbitrary(&mut u) else {
            break;
        };
        let ctx = Context {
            user: u64::from(user % 4) + 1,
            run: run.map(|r| u64::from(r % 3) + 1),
            branch: i64::from(branch % 8),
            space: u64::from(space % 4) + 1,
        };
        out.push((ctx, command));
    }
    out
}

fn run(store: &Store, calls: &[(Context, Command)]) -> Vec<Result<Answer, String>> {
    calls
        .iter()
        .map(|(ctx, command)| {
            let before = (store.head(), store.state_hash());
            let result = command.run(&store.with_context(*ctx)).map_err(|e| e.to_string());
            if result.is_err() || !command.is_mutation() {
                assert_eq!(before, (store.head(), store.state_hash()), "{command:?} changed the store: {result:?}");
            }
            result
        })
        .collect()
}

/// Bytes that make sensible calls more often than uniform noise: a prelude that creates users,
/// features and an artifact, then random bytes.
fn prelude() -> Vec<(Context, Command)> {
    let c = Context::default();
    let feature = |name: &str, dtype: &str| Command::CreateFeature {
        name: name.into(),
        dtype: dtype.into(),
        nullable: true,
        coerce: false,
    };
    vec![
        (c, Command::CreateUser { handle: "ann".into() }),
        (c, Command::CreateUser { handle: "ben".into() }),
        (c, Command::CreateSpace { name: "lab".into() }),
        (c, feature("a", "int")),
        (c, feature("b", "str")),
        (c, feature("c", "dict")),
        (c, Command::CreateArtifact { key: "k".into() }),
    ]
}

#[test]
fn arbitrary_commands_replay_exactly_and_write_nothing_when_they_fail() {
    let mut rng = common::Rng::new(0xC0FF_EE00);
    let (mut ok, mut failed) = (0, 0);
    for case in 0..150 {
        let len = rng.below(1500) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        let calls: Vec<_> = prelude().into_iter().chain(calls(&data)).collect();

        let memory = Store::temporary_with(options()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let disk = Store::open_with(dir.path().join("db"), options()).unwrap();
        let answers = run(&memory, &calls);
        assert_eq!(answers, run(&disk, &calls), "case {case}: the same calls answered differently");
        assert_eq!(memory.state_hash(), disk.state_hash(), "case {case}");
        assert_eq!(memory.session().log(1, u64::MAX).unwrap(), disk.session().log(1, u64::MAX).unwrap());
        let random = &answers[prelude().len()..];
        ok += random.iter().filter(|a| a.is_ok()).count();
        failed += random.iter().filter(|a| a.is_err()).count();

        let v = disk.verify().unwrap();
        assert_eq!((v.head, v.state_hash), (disk.head(), disk.state_hash()), "case {case}");
        let before = (disk.head(), disk.state_hash());
        drop(disk);
        let reopened = common::reopen(&dir.path().join("db"), options());
        assert_eq!(before, (reopened.head(), reopened.state_hash()), "case {case}: reopen");
    }
    // The generator must reach both outcomes, or the test checks nothing.
    eprintln!("random calls: {ok} succeeded, {failed} failed");
    assert!(ok > 100 && failed > 1000, "{ok} random calls succeeded, {failed} failed");
}
