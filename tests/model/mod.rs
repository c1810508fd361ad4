//! A plain in-memory model of SPEC §1–7 and the harness that runs random operations against
//! it and the engine. Included (with `#[path]`) by `tests/model.rs` and by the fuzz target
//! `fuzz/fuzz_targets/model.rs`, so both drive the same operations through the same checks.
#![allow(dead_code)]

pub mod commands;
pub mod engine;
pub mod obs;
pub mod ops;
pub mod queries;
pub mod run;
pub mod spec;
pub mod values;
