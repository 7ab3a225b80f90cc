//! The integration tests of goleash: one binary, one module per area.

mod captures;
mod ci_formats;
mod exits;
mod fleet;
mod goker;
mod golden;
mod gotest;
mod output;
mod realworld;
mod relay;
mod shared_history;
mod support;
mod verdicts;
mod watch;
mod watch_prometheus;
