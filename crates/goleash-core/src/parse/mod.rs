//! Parsers for every goroutine format Go emits, behind one [`Parser`] trait.
//!
//! - [`text::TextParser`] reads text: tracebacks (`runtime.Stack`, `?debug=2`, panics,
//!   fatal errors, SIGQUIT dumps, goleak messages), the `?debug=1` profile and race reports,
//!   wherever they sit in a log. The grammars live in [`traceback`], [`debug1`] and [`race`];
//!   the text parser finds them, strips line prefixes and passes other text through.
//! - [`proto::ProtoParser`] reads the `?debug=0` protobuf profile, gzipped or raw.
//!
//! [`sniff`] tells them apart from the first bytes, and [`parse`] does both steps.

pub mod debug1;
mod lines;
pub mod proto;
pub mod race;
pub mod text;
pub mod traceback;

use std::io::{self, Read};

use crate::intern::Tables;
use crate::model::{DumpInfo, RaceReport, Record, Warning};

/// Receives what a parser reads, in input order.
///
/// Every method can fail, and the first failure stops the parse: the parser reads no
/// further and returns it as [`ParseError::Sink`]. So a sink that writes what it receives
/// (the text around the dumps, to a pipe that was closed) ends the read at once instead of
/// after the rest of a large input.
///
/// ripgrep's `Sink` returns `Result<bool, Self::Error>`. There is no `bool` here, because
/// no sink can stop early with what it wants (a dump's groups are only known at its end),
/// and a stop that never happens would be dead code in every parser. And the error is a
/// fixed [`io::Error`] rather than an associated type, because the sinks that fail are those
/// that write, and a fixed type keeps `&mut dyn Sink` one type for every parser; a sink that
/// fails for another reason wraps it in [`io::Error::other`].
pub trait Sink {
    /// A dump begins.
    fn dump_start(&mut self, tables: &Tables, info: &DumpInfo) -> io::Result<()>;
    /// One goroutine (traceback) or one distinct stack (aggregated profile) of the current dump.
    fn record(&mut self, tables: &mut Tables, record: &Record) -> io::Result<()>;
    /// The current dump ended; `truncated` when it was cut short.
    fn dump_end(&mut self, tables: &mut Tables, truncated: bool) -> io::Result<()>;
    /// A data race report.
    fn race(&mut self, _tables: &Tables, _report: RaceReport) -> io::Result<()> {
        Ok(())
    }
    /// A line of input that is not part of any dump, terminator included.
    fn text(&mut self, _raw_line: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// Something in the input was wrong but the parse went on.
    fn warning(&mut self, _warning: Warning) -> io::Result<()> {
        Ok(())
    }
}

/// A [`Sink`] that keeps every record of every dump: for tools that need each goroutine's
/// own facts (ids, arguments, ancestors) rather than groups. Memory grows with the input.
#[derive(Debug, Default)]
pub struct Records {
    /// Each dump with its records in input order.
    pub dumps: Vec<(DumpInfo, Vec<Record>)>,
    /// Race reports.
    pub races: Vec<RaceReport>,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// Lines that were not part of a dump.
    pub text: Vec<u8>,
}

impl Sink for Records {
    fn dump_start(&mut self, _tables: &Tables, info: &DumpInfo) -> io::Result<()> {
        self.dumps.push((info.clone(), Vec::new()));
        Ok(())
    }
    fn record(&mut self, _tables: &mut Tables, record: &Record) -> io::Result<()> {
        if let Some((_, records)) = self.dumps.last_mut() {
            records.push(record.clone());
        }
        Ok(())
    }
    fn dump_end(&mut self, _tables: &mut Tables, _truncated: bool) -> io::Result<()> {
        Ok(())
    }
    fn race(&mut self, _tables: &Tables, report: RaceReport) -> io::Result<()> {
        self.races.push(report);
        Ok(())
    }
    fn text(&mut self, raw_line: &[u8]) -> io::Result<()> {
        self.text.extend_from_slice(raw_line);
        Ok(())
    }
    fn warning(&mut self, warning: Warning) -> io::Result<()> {
        self.warnings.push(warning);
        Ok(())
    }
}

/// Limits that keep hostile input from taking unbounded memory or time.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Longest line kept; longer lines are cut and reported. Default 1 MiB.
    pub max_line_len: usize,
    /// Largest protobuf profile accepted, after decompression: it is decoded in memory.
    /// Default 256 MiB.
    pub max_proto_bytes: u64,
    /// Most bytes a gzip stream may expand to (gzip bomb guard). Default 16 GiB.
    pub max_decompressed_bytes: u64,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_line_len: 1 << 20,
            max_proto_bytes: 256 << 20,
            max_decompressed_bytes: 16 << 30,
        }
    }
}

/// What a parse found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Dumps found.
    pub dumps: u64,
    /// Records handed to the sink.
    pub records: u64,
    /// Race reports found.
    pub races: u64,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The sink failed (see [`Sink`]); the parse stopped there.
    #[error("passing on what was read failed: {0}")]
    Sink(#[source] io::Error),
    /// Nothing to read.
    #[error("the input is empty")]
    Empty,
    /// The input is an HTML page.
    #[error(
        "the input is an HTML page, not a goroutine dump (a wrong URL path? the profile is at /debug/pprof/goroutine)"
    )]
    Html,
    /// Binary data that is neither gzip nor a protobuf profile.
    #[error("the input is binary data, not a goroutine dump or profile")]
    Binary,
    /// Text with no dump in it.
    #[error("no goroutine dump found in {lines} lines of text")]
    NoDump {
        /// Lines read.
        lines: u64,
    },
    /// A protobuf profile that does not decode.
    #[error("invalid protobuf profile at byte {offset}: {message}")]
    Proto {
        /// Where decoding failed.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// A protobuf profile of another kind (heap, CPU …).
    #[error("this is a {kind:?} profile, not a goroutine profile")]
    WrongProfile {
        /// The profile's sample type.
        kind: String,
    },
    /// The input is larger than a limit.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What hit the limit.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A gzip stream that does not decode.
    #[error("invalid gzip data: {message}")]
    Gzip {
        /// What was wrong.
        message: String,
    },
}

/// One input format's parser.
pub trait Parser {
    /// Reads `input` to its end, handing what it finds to `sink`.
    fn parse(
        &mut self,
        input: &mut dyn Read,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> Result<Summary, ParseError>;
}

/// What the first bytes of an input look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nothing at all.
    Empty,
    /// A gzip stream: decompress, then sniff again.
    Gzip,
    /// A raw protobuf profile.
    Proto,
    /// An HTML page.
    Html,
    /// Binary data of no known kind.
    Binary,
    /// Text (possibly with some stray non-UTF-8 bytes).
    Text,
}

/// Guesses the kind of input from its first bytes (64 are plenty).
pub fn sniff(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    if proto::looks_like_profile(head) {
        return Kind::Proto;
    }
    let trimmed = head.trim_ascii_start();
    let lower: Vec<u8> = trimmed
        .iter()
        .take(16)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return Kind::Html;
    }
    if is_binary(head) {
        return Kind::Binary;
    }
    Kind::Text
}

/// Control bytes other than whitespace do not occur in text; a few stray ones (a binary
/// blob in a log) are tolerated.
pub(crate) fn is_binary(sample: &[u8]) -> bool {
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b))
        .count();
    control * 10 > sample.len()
}

/// How many bytes [`parse`] reads before sniffing. Small, so that live `go test` output
/// piped in is passed through without waiting for a buffer to fill.
const SNIFF_LEN: usize = 64;

/// Reads any supported input: sniffs it, decompresses gzip, and runs the right parser.
pub fn parse(
    input: impl Read,
    options: &ParseOptions,
    tables: &mut Tables,
    sink: &mut dyn Sink,
) -> Result<Summary, ParseError> {
    let mut input = input;
    let head = read_head(&mut input)?;
    match sniff(&head) {
        Kind::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(io::Cursor::new(head).chain(input));
            let mut limited = GzipLimit {
                inner: decoder,
                read: 0,
                limit: options.max_decompressed_bytes,
            };
            let head = read_head(&mut limited).map_err(|e| gzip_error(e, options))?;
            let kind = match sniff(&head) {
                // Gzip inside gzip is not something Go writes.
                Kind::Gzip => Kind::Binary,
                kind => kind,
            };
            let mut stream = io::Cursor::new(head).chain(limited);
            dispatch(kind, &mut stream, options, tables, sink).map_err(|e| gzip_error(e, options))
        }
        kind => {
            let mut stream = io::Cursor::new(head).chain(input);
            dispatch(kind, &mut stream, options, tables, sink)
        }
    }
}

fn dispatch(
    kind: Kind,
    input: &mut dyn Read,
    options: &ParseOptions,
    tables: &mut Tables,
    sink: &mut dyn Sink,
) -> Result<Summary, ParseError> {
    match kind {
        Kind::Empty => Err(ParseError::Empty),
        Kind::Html => Err(ParseError::Html),
        Kind::Binary | Kind::Gzip => Err(ParseError::Binary),
        Kind::Proto => proto::ProtoParser::new(options.clone()).parse(input, tables, sink),
        Kind::Text => text::TextParser::new(options.clone()).parse(input, tables, sink),
    }
}

fn read_head(input: &mut dyn Read) -> Result<Vec<u8>, ParseError> {
    let mut head = vec![0; SNIFF_LEN];
    let mut len = 0;
    while len < SNIFF_LEN {
        match input.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ParseError::Io(e)),
        }
    }
    head.truncate(len);
    Ok(head)
}

fn gzip_error(e: ParseError, options: &ParseOptions) -> ParseError {
    match e {
        ParseError::Io(e) if e.kind() == io::ErrorKind::FileTooLarge => ParseError::TooLarge {
            what: "the decompressed gzip stream (a gzip bomb?)",
            limit: options.max_decompressed_bytes,
        },
        ParseError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            ParseError::Gzip {
                message: e.to_string(),
            }
        }
        other => other,
    }
}

/// Stops a gzip stream from expanding past a limit.
struct GzipLimit<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for GzipLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "gzip data expands past the limit",
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_obvious() {
        assert_eq!(sniff(b""), Kind::Empty);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Kind::Gzip);
        assert_eq!(sniff(b"  <!DOCTYPE html><html>"), Kind::Html);
        assert_eq!(sniff(b"<HTML><body>404</body>"), Kind::Html);
        assert_eq!(sniff(b"goroutine 1 [running]:\nmain.main()\n"), Kind::Text);
        assert_eq!(sniff(b"\ngoroutine 1 [running]:\n"), Kind::Text);
        assert_eq!(sniff(&[0u8, 1, 2, 3, 4, 5, 6, 7, 0, 0, 3, 4]), Kind::Binary);
    }

    /// `go test` output that never ends and holds no dump, counting what was read of it.
    #[derive(Default)]
    struct EndlessLog {
        read: u64,
    }

    impl Read for EndlessLog {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            const LINE: &[u8] = b"=== RUN   TestX\n";
            for (i, b) in buf.iter_mut().enumerate() {
                *b = LINE[(self.read as usize + i) % LINE.len()];
            }
            self.read += buf.len() as u64;
            Ok(buf.len())
        }
    }

    /// Takes `lines` writes, then fails as a pipe whose reader exited does.
    struct ClosedAfter {
        lines: usize,
    }

    impl io::Write for ClosedAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.lines == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.lines -= 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_passthrough_that_fails_stops_the_read_at_once() {
        let mut log = EndlessLog::default();
        let mut out = ClosedAfter { lines: 3 };
        let err = crate::read(&mut log, &Default::default(), Some(&mut out)).unwrap_err();
        assert!(
            matches!(&err, ParseError::Sink(e) if e.kind() == io::ErrorKind::BrokenPipe),
            "{err:?}"
        );
        // One buffer of the line reader, not the rest of the input.
        assert!(log.read <= 4 << 20, "{} bytes read", log.read);
    }

    /// Fails on the first record.
    struct FullDisk;

    impl Sink for FullDisk {
        fn dump_start(&mut self, _: &Tables, _: &DumpInfo) -> io::Result<()> {
            Ok(())
        }
        fn record(&mut self, _: &mut Tables, _: &Record) -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        }
        fn dump_end(&mut self, _: &mut Tables, _: bool) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_sink_error_comes_out_of_every_parser_as_it_was() {
        let text = b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n".to_vec();
        let mut gzipped_text = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        io::Write::write_all(&mut gzipped_text, &text).unwrap();
        let gzipped_text = gzipped_text.finish().unwrap();
        let profile = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/go1.27/leakysvc/goroutine_debug0.pb.gz"
        ))
        .unwrap();
        for (name, input) in [
            ("text", text),
            ("gzipped text", gzipped_text),
            ("gzipped profile", profile),
        ] {
            let err = parse(
                &input[..],
                &ParseOptions::default(),
                &mut Tables::new(),
                &mut FullDisk,
            )
            .unwrap_err();
            assert!(
                matches!(&err, ParseError::Sink(e) if e.kind() == io::ErrorKind::StorageFull),
                "{name}: {err:?}"
            );
        }
    }
}
