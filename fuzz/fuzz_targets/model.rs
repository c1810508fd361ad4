//! The model-based test of `tests/model.rs`, coverage-guided: the fuzzer's bytes drive the very
//! same proptest strategy (`tests/model/ops.rs`, `steps_from_bytes`: each 8 input bytes seed
//! the draw of one step) and the very same harness (`tests/model/run.rs`): every mutation of the spec, queries for every user, reopen, snapshot,
//! `as_of`, flush and a simulated crash that drops the unsynced tail, compared with the plain
//! in-memory model after every step; at the end `history` of every record, `verify` and a full
//! replay's state hash. A mismatch panics with the step and both answers.
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

use libfuzzer_sys::fuzz_target;

/// Longest sequence after the fixed prelude (8 input bytes per step).
const MAX_STEPS: usize = 40;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = model::run::check(&model::ops::steps_from_bytes(data, MAX_STEPS)) {
        panic!("engine and model disagree: {why}");
    }
});
