#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Model-based test: random sequences of operations run against the engine (public Rust API,
//! a real directory, reopened now and then) and against a plain in-memory model of SPEC §1–7
//! (`model/spec.rs`, `model/commands.rs`), compared after every step: the same result or the
//! same error kind; the same events appended (kind, record, data with the canonical value
//! bytes, actor, run, time); then the full answers of a set of queries (`filter`, `count`,
//! `get_where`), `get` of every value id, `get_values` of every host, the host filters and the
//! registry listings, for every user. `Reopen` also checks the head, the state hash, `verify`
//! and the whole log; `AsOf` compares a read-only view of an earlier step with the model then;
//! each case ends with `history` of every record as every user.
//!
//! Run longer or elsewhere with `FVSTORE_MODEL_CASES=N`, `FVSTORE_MODEL_SEED=N` and
//! `FVSTORE_MODEL_STEPS=N` (longest sequence); `FVSTORE_MODEL_STATS=1` prints how often each
//! operation succeeded or failed; `FVSTORE_MODEL_SKIP_FIXED=1` skips the patterns of fixed
//! engine bugs again.

#[path = "model/mod.rs"]
mod model;

use fvstore::Value;
use model::{ops, run, values};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn engine_matches_model() {
    let cases = env_u64("FVSTORE_MODEL_CASES", 64) as u32;
    let seed = env_u64("FVSTORE_MODEL_SEED", 0x5EED_F00D);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let steps = env_u64("FVSTORE_MODEL_STEPS", 60) as usize;
    let strategy = proptest::collection::vec(ops::step(), 1..steps);
    let result = runner.run(&strategy, |steps| run::check(&steps).map_err(TestCaseError::fail));
    run::STATS.with(|s| s.borrow().iter().for_each(|(k, n)| eprintln!("{k}: {n}")));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn model_dates_agree_with_the_engine() {
    for (y, m, d) in [(1970, 1, 1), (2024, 1, 2), (2023, 12, 31), (2000, 2, 29), (1969, 12, 31)] {
        assert_eq!(Value::date(y, m, d), values::days(i64::from(y), m, d).map(Value::Date), "{y}-{m}-{d}");
    }
    assert_eq!(values::days(2024, 2, 30), None);
}

/// The fuzz target `fuzz/fuzz_targets/model.rs` turns its input bytes into steps through the
/// same strategy (`ops::steps_from_bytes`, 8 bytes per step); a few fixed inputs (empty, all
/// zeros, all ones, a counting pattern) must give their steps and pass the whole check.
#[test]
fn fuzz_bytes_drive_the_same_strategy() {
    let inputs: [Vec<u8>; 4] = [vec![], vec![0; 64], vec![0xFF; 300], (0..=255).collect()];
    for data in inputs {
        let steps = ops::steps_from_bytes(&data, 40);
        assert_eq!(steps.len(), data.len().div_ceil(8).min(40), "steps of input {data:?}");
        if let Err(why) = run::check(&steps) {
            panic!("input {data:?}: {why}");
        }
    }
}
