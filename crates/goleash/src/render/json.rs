//! The JSON renderer: a document as pretty JSON. The documents are the contract
//! (`crate::doc`, `docs/json.md`).
//!
//! The wire types below are still shared by the watch history and `goleash test`'s report,
//! until those are documents too.

use std::io::{self, Write};

use goleash_core::{FrameId, Tables};
use serde::Serialize;

use crate::history::{Creator, Frame, Site};

pub use crate::doc::SCHEMA_VERSION;

/// Writes a document as pretty JSON followed by a newline.
pub fn write(out: &mut dyn Write, doc: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}

/// A position in the program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteJson {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The source line, when the file was readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl From<&Site> for SiteJson {
    fn from(site: &Site) -> Self {
        SiteJson {
            function: site.function.clone(),
            file: site.file.clone(),
            line: site.line,
            source: site.source.clone(),
        }
    }
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameJson {
    /// The function as Go prints it.
    pub function: String,
    /// The source file; empty when unknown.
    pub file: String,
    /// The line; 0 when unknown.
    pub line: u32,
    /// The `+0x` offset, when printed.
    pub offset: Option<u32>,
    /// The call was inlined.
    pub inlined: bool,
    /// Raw arguments of the group's first goroutine, when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}

/// A recorded frame: its arguments are not recorded.
impl From<&Frame> for FrameJson {
    fn from(frame: &Frame) -> Self {
        FrameJson {
            function: frame.function.clone(),
            file: frame.file.clone(),
            line: frame.line,
            offset: frame.offset,
            inlined: frame.inlined,
            args: None,
        }
    }
}

/// A recorded creator: its parent goroutine is not recorded.
impl From<&Creator> for CreatorJson {
    fn from(creator: &Creator) -> Self {
        CreatorJson {
            function: creator.function.clone(),
            file: creator.file.clone(),
            line: creator.line,
            goroutine: None,
        }
    }
}
/// The wire form of one frame.
pub fn frame_json(tables: &Tables, id: FrameId, args: Option<&[u8]>) -> FrameJson {
    let frame = tables.get_frame(id);
    FrameJson {
        function: tables.str(frame.function).into_owned(),
        file: tables.str(frame.file).into_owned(),
        line: frame.line,
        offset: frame.offset,
        inlined: frame.inlined,
        args: args
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    }
}

/// The `created by` of a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreatorJson {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The parent goroutine id, when every goroutine of the group has the same one.
    pub goroutine: Option<u64>,
}
