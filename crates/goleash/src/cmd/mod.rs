//! One module per subcommand.

pub mod check;
pub mod diff;
pub mod inspect;
pub mod test;
