//! What a dump being read has, whichever its format: its line prefix, whether it was cut
//! short, and the record in progress.

use std::io;

use crate::intern::Tables;
use crate::model::{DumpInfo, Record, Warning};
use crate::parse::Sink;

/// A line prefix stripped from every line of a dump: what stood before the first header.
#[derive(Default)]
pub(super) struct Prefix {
    pub bytes: Vec<u8>,
}

impl Prefix {
    /// Strips the prefix from `line`; `None` when the line does not carry it (the dump
    /// ended). Timestamps change from line to line, so digits match any digit (and the
    /// space that pads a one-digit day).
    #[inline]
    pub fn strip<'a>(&self, line: &'a [u8]) -> Option<&'a [u8]> {
        let k = self.bytes.len();
        if k == 0 {
            return Some(line);
        }
        if line.len() >= k {
            let same_shape = line[..k].iter().zip(&self.bytes).all(|(&a, &b)| {
                a == b || ((a.is_ascii_digit() || a == b' ') && (b.is_ascii_digit() || b == b' '))
            });
            if same_shape {
                return Some(&line[k..]);
            }
        }
        // Loggers often drop the prefix from empty lines.
        if line.trim_ascii().is_empty() {
            return Some(b"");
        }
        // An indentation prefix may have been eaten from an empty-looking line only.
        None
    }
}

/// The dump being read. One value serves every dump of the input, so the record's buffers
/// are allocated once.
#[derive(Default)]
pub(super) struct Dump {
    pub prefix: Prefix,
    /// Where the dump starts.
    pub offset: u64,
    /// Goroutines are missing from it: a record or the dump itself was cut short.
    pub truncated: bool,
    /// The record being read; handed to the sink once it is complete.
    pub record: Record,
    pub record_open: bool,
    /// Dumps opened so far.
    pub dumps: u64,
    /// Records handed to the sink so far.
    pub records: u64,
}

impl Dump {
    /// Starts a dump whose lines carry `prefix`; `info.prefix` is filled in from it.
    pub fn open(
        &mut self,
        mut info: DumpInfo,
        prefix: Vec<u8>,
        tables: &Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        info.prefix = (!prefix.is_empty()).then(|| String::from_utf8_lossy(&prefix).into_owned());
        self.prefix = Prefix { bytes: prefix };
        self.offset = info.offset;
        self.truncated = false;
        self.dumps += 1;
        sink.dump_start(tables, &info)
    }

    /// Hands the record in progress to the sink, unless it is `repeated` (a goroutine the
    /// dump already listed).
    #[inline]
    pub fn finish_record(
        &mut self,
        repeated: bool,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        if !self.record_open {
            return Ok(());
        }
        self.record_open = false;
        if self.record.truncated {
            self.truncated = true;
            sink.warning(Warning {
                offset: self.record.offset,
                line: Some(self.record.line),
                message: match self.record.id {
                    Some(id) => {
                        format!("goroutine {id} is cut short; kept the frames that were there")
                    }
                    None => "a profile record is cut short; kept what was there".into(),
                },
            })?;
        }
        if !repeated {
            self.records += 1;
            sink.record(tables, &self.record)?;
        }
        Ok(())
    }

    /// Marks the record in progress as cut short (the input broke off).
    pub fn truncate_open_record(&mut self) {
        if self.record_open {
            self.record.truncated = true;
        }
    }

    /// Ends the dump; its record must be finished first.
    pub fn close(&mut self, tables: &mut Tables, sink: &mut dyn Sink) -> io::Result<()> {
        self.prefix = Prefix::default();
        sink.dump_end(tables, self.truncated)
    }
}
