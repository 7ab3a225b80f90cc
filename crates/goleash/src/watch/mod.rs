//! `goleash watch`: sample live services, keep their history, and tell a leak from noise.
//!
//! A scheduler thread ([`engine`]) owns every target's state and the history database; a
//! bounded pool of workers ([`fetch`]) does the HTTP requests, at most one per target at a
//! time. Each target is sampled on a ladder of sources, cheapest first ([`sources`]): the
//! count alone at the base interval, the `debug=0` profile (per-stack counts) no more often
//! than its measured cost allows, and `debug=2` dumps only when a stack rises.

pub mod engine;
pub mod fetch;
pub mod sources;
pub mod target;
pub mod view;

pub use engine::{WatchOptions, run};
pub use fetch::Timeouts;
