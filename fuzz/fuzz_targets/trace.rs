//! Any bytes, read as `goleash test` reads a test binary's execution trace: never a panic,
//! never memory out of proportion to the input, errors that point inside it, and goroutines
//! whose facts agree (`crates/goleash-core/tests/trace_support/invariants.rs`, which
//! `crates/goleash-core/tests/trace_fuzz.rs` checks on stable in CI).
#![no_main]

#[path = "../../crates/goleash-core/tests/trace_support/invariants.rs"]
mod invariants;
#[path = "../../crates/goleash-core/tests/trace_support/memory.rs"]
mod memory;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    invariants::check_read(data);
});
