//! The core of goleash: an exact model of a Go program's goroutines, read from any dump or
//! profile Go emits, and grouped by stack.
//!
//! Data flows one way: bytes → [`parse`] → [`model::Record`]s → [`group::Grouper`] →
//! [`group::Snapshot`]s. Nothing here does network or file I/O beyond reading the
//! [`std::io::Read`] it is given.
//!
//! ```
//! let dump = b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n";
//! let capture = goleash_core::read(&dump[..], &Default::default(), None).unwrap();
//! assert_eq!(capture.snapshots[0].total, 1);
//! ```
#![deny(missing_docs)]

pub mod classify;
pub mod code;
pub mod diff;
pub mod exits;
pub mod group;
pub mod intern;
pub mod kb;
pub mod model;
pub mod parse;
pub mod rules;
pub mod signature;
pub mod trace;
pub mod trend;

pub use group::{Capture, Group, GroupOptions, Grouper, Similarity, Snapshot};
pub use intern::{Frame, FrameId, LabelSetId, StackId, Sym, Tables};
pub use parse::{ParseError, ParseOptions, Sink};
pub use signature::Signature;

/// Where the lines of a text input that are not part of a dump go, unchanged, as they are
/// read: each line is written whole, so line-buffered output (stdout) shows them as they
/// arrive.
pub type Passthrough<'p> = &'p mut dyn std::io::Write;

/// Options for [`read`].
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Limits for the parsers.
    pub parse: ParseOptions,
    /// How to group.
    pub group: GroupOptions,
}

/// Reads one input of any supported format and groups every dump in it.
///
/// `passthrough` receives the lines of a text input that are not part of a dump. An error
/// writing to it stops the read at once and is returned as [`ParseError::Sink`].
pub fn read(
    input: impl std::io::Read,
    options: &ReadOptions,
    passthrough: Option<Passthrough<'_>>,
) -> Result<Capture, ParseError> {
    let mut tables = Tables::new();
    let mut grouper = Grouper::new(options.group.clone(), passthrough);
    parse::parse(input, &options.parse, &mut tables, &mut grouper)?;
    Ok(grouper.finish(tables))
}
