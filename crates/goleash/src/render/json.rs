//! The JSON renderer: a document as pretty JSON, or a watch's events as JSON lines. The
//! documents are the contract (`crate::doc`, `docs/json.md`).

use std::io::{self, Write};

use serde::Serialize;

use crate::doc::watch::{EventSink, WatchEvent};

pub use crate::doc::SCHEMA_VERSION;

/// Writes a document as pretty JSON followed by a newline.
pub fn write(out: &mut dyn Write, doc: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}

/// Writes a document on one line followed by a newline: for documents too long to read
/// pretty (a watch history holds tens of thousands of samples).
pub fn write_line(out: &mut dyn Write, doc: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, doc)?;
    writeln!(out)
}

/// `watch --format json`: one object per line, flushed as it happens.
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

impl<W: Write> EventSink for JsonLines<W> {
    fn event(&mut self, event: &WatchEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        writeln!(self.out)?;
        self.out.flush()
    }
}
