//! `goleash watch`: sample live services, keep their history, and tell a leak from noise.
//!
//! A scheduler thread ([`engine`]) owns every target's state and the history database; a
//! bounded pool of workers ([`fetch`]) does the HTTP requests, at most one per target at a
//! time. Each target is sampled on a ladder of sources, cheapest first ([`sources`]): the
//! count alone at the base interval, the `debug=0` profile (per-stack counts) no more often
//! than its measured cost allows, the goroutineleak profile (Go 1.26+) for the runtime's
//! proof at the start and as its cost allows, and `debug=2` dumps only when a stack rises.
//! [`plan`] fits the trend windows to a `--duration`. With `--prometheus` ([`fleet`]) the
//! counts of every target come from Prometheus instead, and a target is asked for nothing
//! but the dumps its rising count wants as evidence.

pub mod engine;
pub mod fetch;
pub mod fleet;
mod live;
pub mod metrics_listen;
pub mod plan;
pub mod sources;
pub mod target;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use engine::{WatchOptions, Watched, run};
pub use fetch::Timeouts;

/// The stop flag set by Ctrl-C and SIGTERM; a second Ctrl-C exits at once.
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}
