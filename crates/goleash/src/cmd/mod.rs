//! One module per subcommand.

pub mod check;
pub mod demo;
pub mod diff;
pub mod inspect;
pub mod report;
pub mod test;
pub mod watch;
