//! `goleash test`: run a Go test suite with an execution trace per test binary, and find
//! the goroutines each test left behind.
//!
//! - [`exec`]: the program `go test -exec` runs for every test binary: it adds the trace.
//! - [`run`]: runs `go test -json`, follows its events package by package, shows the user
//!   the output `go test` would have shown, and hands each finished package on.
//! - [`leftovers`]: reads a package's trace (or, when the binary crashed, its goroutine
//!   dump), attributes what was left over to tests, groups and judges it.

pub mod exec;
pub mod leftovers;
pub mod run;
