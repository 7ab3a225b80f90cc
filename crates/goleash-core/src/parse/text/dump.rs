//! What a dump being read has, whichever its format: its line prefix, whether it was cut
//! short, and the record in progress.

use std::io;

use crate::intern::Tables;
use crate::model::{DumpInfo, Record, Warning};
use crate::parse::{Sink, traceback};

/// A line prefix stripped from every line of a dump: what stood before the first header.
#[derive(Default)]
pub(super) struct Prefix {
    pub bytes: Vec<u8>,
}

/// Two bytes of a line prefix in the same place agree: equal, or both part of a number
/// (timestamps change from line to line; a space pads a one-digit day).
#[inline]
fn same_shape(a: u8, b: u8) -> bool {
    a == b || ((a.is_ascii_digit() || a == b' ') && (b.is_ascii_digit() || b == b' '))
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
        if line.len() >= k
            && line[..k]
                .iter()
                .zip(&self.bytes)
                .all(|(&a, &b)| same_shape(a, b))
        {
            return Some(&line[k..]);
        }
        // Loggers often drop the prefix from empty lines, or the spaces that end it.
        if line.trim_ascii().is_empty() || self.is_bare(line) {
            return Some(b"");
        }
        // An indentation prefix may have been eaten from an empty-looking line only.
        None
    }

    /// Whether `line` is the prefix alone without its trailing spaces: an empty line of a
    /// log whose writer trims line ends.
    fn is_bare(&self, line: &[u8]) -> bool {
        let trimmed = self.bytes.trim_ascii_end();
        !trimmed.is_empty()
            && trimmed.len() < self.bytes.len()
            && line.len() == trimmed.len()
            && line.iter().zip(trimmed).all(|(&a, &b)| same_shape(a, b))
    }

    /// Whether `other` starts with a prefix of this one's shape.
    pub fn begins(&self, other: &[u8]) -> bool {
        other.len() >= self.bytes.len()
            && other
                .iter()
                .zip(&self.bytes)
                .all(|(&a, &b)| same_shape(a, b))
    }

    /// The prefix a dump really has when its first header came after a log message on the
    /// same line (`<log prefix>runtime error: …: goroutine 40 [running]:`) or after text
    /// printed without a newline: the longest start of this prefix, ending at a word, that
    /// `line` also carries and after which `line` is a function line. `None` when `line`
    /// is no frame under any such prefix.
    pub fn shortened_for(&self, line: &[u8]) -> Option<usize> {
        let common = line
            .iter()
            .zip(&self.bytes)
            .take_while(|&(&a, &b)| same_shape(a, b))
            .count();
        (0..=common.min(self.bytes.len().saturating_sub(1)))
            .rev()
            .filter(|&at| at == 0 || self.bytes[at - 1] == b' ')
            .find(|&at| traceback::split_function_line(&line[at..]).is_some())
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
    /// The dump's start, not yet handed to the sink: its prefix is only known for sure once
    /// the line after its first header has been read.
    unstarted: Option<DumpInfo>,
    /// Dumps opened so far.
    pub dumps: u64,
    /// Records handed to the sink so far.
    pub records: u64,
}

impl Dump {
    /// Starts a dump whose lines carry `prefix`; `info.prefix` is filled in from it when the
    /// sink is told, before the first record.
    pub fn open(&mut self, info: DumpInfo, prefix: Vec<u8>) {
        self.prefix = Prefix { bytes: prefix };
        self.offset = info.offset;
        self.truncated = false;
        self.dumps += 1;
        self.unstarted = Some(info);
    }

    /// Keeps the first `len` bytes of the prefix: the rest was part of the line's text.
    pub fn shorten_prefix(&mut self, len: usize) {
        self.prefix.bytes.truncate(len);
    }

    /// Tells the sink the dump started, if it has not been told yet.
    fn start(&mut self, tables: &Tables, sink: &mut dyn Sink) -> io::Result<()> {
        match self.unstarted.take() {
            Some(mut info) => {
                let prefix = &self.prefix.bytes;
                info.prefix =
                    (!prefix.is_empty()).then(|| String::from_utf8_lossy(prefix).into_owned());
                sink.dump_start(tables, &info)
            }
            None => Ok(()),
        }
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
        self.start(tables, sink)?;
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
        self.start(tables, sink)?;
        self.prefix = Prefix::default();
        sink.dump_end(tables, self.truncated)
    }
}
