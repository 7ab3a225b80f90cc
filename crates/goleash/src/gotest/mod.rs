//! `goleash test`: run a Go test suite with an execution trace per test binary, and find
//! the goroutines each test left behind.
//!
//! - [`exec`]: the program `go test -exec` runs for every test binary: it adds the trace.
//! - [`run`]: runs `go test -json`, follows its events package by package, shows the user
//!   the output `go test` would have shown, and hands each finished package on.
//! - [`package`]: reads a package's trace (or, when the binary crashed, its goroutine
//!   dump) and what its binary left (with [`goleash_core::trace`]), into a [`report`];
//!   [`failures`] says which tests failed and how, [`judging`] groups and judges what was
//!   left over.
//! - [`waits`]: what a stuck test waits on, who could end it and where they were.
//! - [`settle`]: the last test added to every binary, which lets what the tests left reach
//!   where it ends up before the trace stops.

pub mod document;
pub mod exec;
pub mod failures;
pub mod judging;
pub mod package;
pub mod report;
pub mod run;
pub mod settle;
pub mod waits;
