//! Finds goroutine dumps, debug=1 profiles and race reports in any text, and reads them.
//!
//! Go writes its dumps into whatever else a process prints: `go test` output, logs with a
//! timestamp on every line, goleak messages indented by `testing`. The scanner looks for a
//! goroutine header anywhere in a line; what stands before it becomes the dump's line
//! prefix, stripped from the following lines for as long as they carry one of the same
//! shape. Lines that are not part of a dump go to [`Sink::text`] unchanged.
//!
//! The scanner here only finds where things start and passes the rest through; a reader
//! per kind takes the lines from there until it hands them back: `traceback_dump`,
//! `debug1_dump` and `race_report`, with what both dump formats share in `dump`. The
//! messages that explain a dump come before it, so `preamble` holds lines that may be one
//! until it is known whether a dump follows.

mod debug1_dump;
mod dump;
mod preamble;
mod race_report;
mod traceback_dump;

use std::io::{self, Read};

use memchr::memmem::Finder;

use crate::intern::Tables;
use crate::model::Warning;
use crate::parse::lines::{Line, LineReader};
use crate::parse::{ParseError, ParseOptions, Parser, Sink, Summary, debug1, race, traceback};

use debug1_dump::Debug1Dump;
use dump::Dump;
use preamble::Preamble;
use race_report::RaceReader;
use traceback_dump::{Suspect, TracebackDump};

/// Reads tracebacks, debug=1 profiles and race reports from text.
pub struct TextParser {
    options: ParseOptions,
}

impl TextParser {
    /// A parser with the given limits.
    pub fn new(options: ParseOptions) -> Self {
        TextParser { options }
    }
}

impl Parser for TextParser {
    fn parse(
        &mut self,
        input: &mut dyn Read,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> Result<Summary, ParseError> {
        let mut reader = LineReader::new(input, self.options.max_line_len);
        let mut scanner = Scanner::new();
        loop {
            match reader.next_line() {
                Ok(Some(line)) => scanner
                    .line(&line, tables, sink)
                    .map_err(ParseError::Sink)?,
                Ok(None) => break,
                Err(e) => {
                    // With nothing salvaged, the read error is the whole story.
                    if !scanner.found_any() {
                        return Err(ParseError::Io(e));
                    }
                    // Salvage: a truncated gzip stream or a dropped connection still leaves
                    // everything read so far.
                    scanner.dump.truncate_open_record();
                    sink.warning(Warning {
                        offset: reader.position(),
                        line: None,
                        message: format!("input stopped early ({e}); kept what was read before it"),
                    })
                    .map_err(ParseError::Sink)?;
                    break;
                }
            }
        }
        let end = reader.position();
        scanner
            .finish(end, tables, sink)
            .map_err(ParseError::Sink)?;
        if !scanner.found_any() {
            return Err(scanner.looks.why_no_dump(end));
        }
        Ok(Summary {
            bytes: end,
            dumps: scanner.dump.dumps,
            records: scanner.dump.records,
            races: scanner.races.reports,
        })
    }
}

/// Who reads the next line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Outside,
    Traceback,
    Debug1,
    Race,
}

/// What a reader did with a line.
enum Step {
    /// The line is part of what the reader reads; the next line goes to it too.
    Taken,
    /// The line is the last of it.
    Last,
    /// It ended before this line, which is read again from outside.
    Ended,
    /// It ended before the suspect, a line held back to see what followed it: that line
    /// and then this one are read again from outside. Boxed, so that the step returned for
    /// every line stays two words.
    EndedBefore(Box<Suspect>),
}

/// What the first lines of a text look like, to say what it is when no dump is found.
#[derive(Default)]
struct Looks {
    lines: u64,
    binary_lines: u64,
    html: bool,
}

impl Looks {
    fn see(&mut self, line: &Line<'_>) {
        self.lines += 1;
        if self.lines <= 64 {
            if crate::parse::is_binary(line.text) {
                self.binary_lines += 1;
            }
            let lower = line.text.trim_ascii_start();
            if lower.len() >= 5
                && (lower[..5].eq_ignore_ascii_case(b"<html")
                    || lower.starts_with(b"<!DOCTYPE")
                    || lower.starts_with(b"<!doctype"))
            {
                self.html = true;
            }
        }
    }

    /// Why `end` bytes of text held no dump.
    fn why_no_dump(&self, end: u64) -> ParseError {
        if end == 0 {
            ParseError::Empty
        } else if self.binary_lines * 2 > self.lines {
            ParseError::Binary
        } else if self.html {
            ParseError::Html
        } else {
            ParseError::NoDump { lines: self.lines }
        }
    }
}

struct Scanner {
    mode: Mode,
    goroutine_finder: Finder<'static>,
    preamble: Preamble,
    dump: Dump,
    tracebacks: TracebackDump,
    debug1: Debug1Dump,
    races: RaceReader,
    looks: Looks,
    /// The last line read had no newline: the input may have been cut inside it.
    last_unterminated: bool,
    /// A run of lines passed through that look like pieces of a goroutine dump but are not
    /// one (garbled text): its first line number, that line's offset, and its last line.
    fragments: Option<(u64, u64, u64)>,
    /// Lines passed through since the last one of `fragments`.
    since_fragment: u64,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            mode: Mode::Outside,
            goroutine_finder: Finder::new(b"goroutine"),
            preamble: Preamble::default(),
            dump: Dump::default(),
            tracebacks: TracebackDump::new(),
            debug1: Debug1Dump::default(),
            races: RaceReader::default(),
            looks: Looks::default(),
            last_unterminated: false,
            fragments: None,
            since_fragment: 0,
        }
    }

    fn found_any(&self) -> bool {
        self.dump.dumps > 0 || self.races.reports > 0
    }

    fn line(
        &mut self,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        self.looks.see(line);
        self.last_unterminated = !line.raw.ends_with(b"\n");
        if line.cut {
            sink.warning(Warning {
                offset: line.offset,
                line: Some(line.number),
                message: "line longer than the limit; only its start was read".into(),
            })?;
        }
        // A reader that does not take the line hands it on; outside takes all.
        loop {
            let step = match self.mode {
                Mode::Outside => return self.outside(line, tables, sink),
                Mode::Traceback => self.tracebacks.line(&mut self.dump, line, tables, sink)?,
                Mode::Debug1 => self.debug1.line(&mut self.dump, line, tables, sink)?,
                Mode::Race => self.races.line(line.text, tables),
            };
            match step {
                Step::Taken => return Ok(()),
                Step::Last => return self.end(line.offset + line.raw.len() as u64, tables, sink),
                Step::Ended => self.end(line.offset, tables, sink)?,
                Step::EndedBefore(suspect) => {
                    self.end(suspect.offset, tables, sink)?;
                    self.outside(&suspect.line(), tables, sink)?;
                }
            }
        }
    }

    /// A line outside any dump: the start of one, of a preamble, or text to pass through.
    fn outside(
        &mut self,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        let text = line.text;
        for pos in self.goroutine_finder.find_iter(text) {
            if let Some(header) = traceback::parse_header(&text[pos..]) {
                let prefix = text[..pos].to_vec();
                if !self.preamble.fits(&prefix) {
                    self.preamble.flush(sink)?;
                }
                let (cause, start) = self.preamble.take_cause(tables, line.offset);
                self.mode = Mode::Traceback;
                self.tracebacks.begin(&mut self.dump, prefix, start, cause);
                self.tracebacks
                    .start_record(&mut self.dump, &header, line, tables);
                return Ok(());
            }
            if let Some(header) = debug1::parse_profile_header(&text[pos..]) {
                self.preamble.flush(sink)?;
                let prefix = text[..pos].to_vec();
                self.mode = Mode::Debug1;
                self.debug1
                    .begin(&mut self.dump, prefix, header, line.offset);
                return Ok(());
            }
        }
        if let Some(prefix) = text.strip_suffix(race::START)
            && (prefix.is_empty() || prefix.ends_with(b" "))
        {
            // The rule above the report is noise once the report is recognised.
            if self.preamble.is_race_rule(prefix) {
                self.preamble.clear();
            }
            self.preamble.flush(sink)?;
            self.races.begin(line.offset, prefix);
            self.mode = Mode::Race;
            return Ok(());
        }
        if self.preamble.is_held() && self.preamble.continues(text) {
            return self.preamble.hold(line, sink);
        }
        if let Some(prefix_len) = preamble::start(text) {
            return self.preamble.start(line, prefix_len, sink);
        }
        self.preamble.flush(sink)?;
        // A function line carries on a run: on its own it is too common a shape to start one.
        if looks_like_fragment(text)
            || self.fragments.is_some() && traceback::split_function_line(text).is_some()
        {
            match self.fragments.as_mut() {
                Some((_, _, last)) => *last = line.number,
                None => self.fragments = Some((line.number, line.offset, line.number)),
            }
            self.since_fragment = 0;
        } else {
            // Garbled lines come with blank and broken ones between them: a few of those do
            // not end the run.
            self.since_fragment += 1;
            if self.since_fragment > FRAGMENT_GAP {
                self.report_fragments(sink)?;
            }
        }
        sink.text(line.raw)
    }

    /// Warns of the run of dump-like lines that were passed through, if any.
    fn report_fragments(&mut self, sink: &mut dyn Sink) -> io::Result<()> {
        let Some((first, offset, last)) = self.fragments.take() else {
            return Ok(());
        };
        let lines = if first == last {
            "this line looks".to_string()
        } else {
            format!("{} lines, to line {last}, look", last - first + 1)
        };
        sink.warning(Warning {
            offset,
            line: Some(first),
            message: format!(
                "{lines} like part of a goroutine dump but could not be read as one (garbled text?); not counted"
            ),
        })
    }

    /// Ends what the current reader reads, before the byte at `at`.
    fn end(&mut self, at: u64, tables: &mut Tables, sink: &mut dyn Sink) -> io::Result<()> {
        let mode = std::mem::replace(&mut self.mode, Mode::Outside);
        match mode {
            Mode::Traceback => self.tracebacks.end(&mut self.dump, at, tables, sink),
            Mode::Debug1 => self.debug1.end(&mut self.dump, tables, sink),
            Mode::Race => self.races.end(tables, sink),
            Mode::Outside => Ok(()),
        }
    }

    /// The input ended at `end`.
    fn finish(&mut self, end: u64, tables: &mut Tables, sink: &mut dyn Sink) -> io::Result<()> {
        if let Some(suspect) = self.tracebacks.take_suspect() {
            if suspect.is_terminated() {
                self.end(suspect.offset, tables, sink)?;
                self.outside(&suspect.line(), tables, sink)?;
            } else {
                // The input ends in the middle of a frame line, or of what came after the
                // last record.
                if self.dump.record_open {
                    self.dump.record.truncated = true;
                } else {
                    self.dump.truncated = true;
                }
            }
        }
        if self.mode == Mode::Traceback {
            self.tracebacks
                .check_last_record(&mut self.dump, self.last_unterminated, tables);
        }
        self.end(end, tables, sink)?;
        self.preamble.flush(sink)?;
        self.report_fragments(sink)
    }
}

/// How many other lines may stand between two pieces of one garbled dump.
const FRAGMENT_GAP: u64 = 3;

/// Whether a line that is not part of a dump looks like a piece of one: a header, a
/// `created by` or a frame's file line, somewhere in it.
fn looks_like_fragment(text: &[u8]) -> bool {
    use std::sync::LazyLock;
    static CREATED_BY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"created by "));
    static HEADER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"goroutine "));
    static GO_FILE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b".go:"));
    static OFFSET: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b" +0x"));
    let digit_after = |finder: &Finder<'_>| {
        finder.find_iter(text).any(|at| {
            text.get(at + finder.needle().len())
                .is_some_and(u8::is_ascii_digit)
        })
    };
    CREATED_BY.find(text).is_some()
        || (digit_after(&HEADER) && memchr::memchr(b'[', text).is_some())
        || (digit_after(&GO_FILE) && (text.starts_with(b"\t") || OFFSET.find(text).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{GroupOptions, Grouper};
    use crate::model::CauseKind;

    #[test]
    fn crash_thread_sections_do_not_count_goroutines_again() {
        // SIGQUIT with GOTRACEBACK=crash, Go 1.27 (trimmed, GOROOT shortened): after the
        // dump, each thread prints a section of its own with the goroutine it runs (20,
        // already listed) or its g0.
        let dump = r#"SIGQUIT: quit
PC=0x410b6e m=0 sigcode=0

goroutine 0 gp=0xb86240 m=0 mp=0xb87420 [idle]:
internal/runtime/syscall/linux.Syscall6()
	/usr/local/go/src/internal/runtime/syscall/linux/asm_linux_amd64.s:36 +0xe fp=0x7ffec6402518 sp=0x7ffec6402510 pc=0x410b6e

goroutine 20 gp=0x352ab38005a0 m=2 mp=0x352ab37be808 [syscall]:
runtime.notetsleepg(0xba7d60, 0xffffffffffffffff)
	/usr/local/go/src/runtime/lock_futex.go:123 +0x29 fp=0x352ab37ba7a0 sp=0x352ab37ba778 pc=0x41dbc9
os/signal.signal_recv()
	/usr/local/go/src/runtime/sigqueue.go:152 +0x98 fp=0x352ab37ba7c0 sp=0x352ab37ba7a0 pc=0x48cd38
os/signal.loop()
	/usr/local/go/src/os/signal/signal_unix.go:23 +0x13 fp=0x352ab37ba7e0 sp=0x352ab37ba7c0 pc=0x7175d3
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1264 +0x1 fp=0x352ab37ba7e8 sp=0x352ab37ba7e0 pc=0x491b01
created by os/signal.Notify.func2.1 in goroutine 1
	/usr/local/go/src/os/signal/signal.go:164 +0x1f

rip    0x410b6e
gs     0x0

-----

SIGQUIT: quit
PC=0x493663 m=1 sigcode=0

goroutine 0 gp=0x352ab37785a0 m=1 mp=0x352ab37be008 [idle]:
runtime.futex(0xb88ee0, 0x80, 0x0, 0x352ab37a9ea0, 0x0, 0x0)
	/usr/local/go/src/runtime/sys_linux_amd64.s:576 +0x23 fp=0x352ab37a9e70 sp=0x352ab37a9e68 pc=0x493663
rip    0x493663
gs     0x0

-----

SIGQUIT: quit
PC=0x493661 m=2 sigcode=0

goroutine 20 gp=0x352ab38005a0 m=2 mp=0x352ab37be808 [syscall]:
runtime.notetsleepg(0xba7d60, 0xffffffffffffffff)
	/usr/local/go/src/runtime/lock_futex.go:123 +0x29 fp=0x352ab37ba7a0 sp=0x352ab37ba778 pc=0x41dbc9
os/signal.signal_recv()
	/usr/local/go/src/runtime/sigqueue.go:152 +0x98 fp=0x352ab37ba7c0 sp=0x352ab37ba7a0 pc=0x48cd38
os/signal.loop()
	/usr/local/go/src/os/signal/signal_unix.go:23 +0x13 fp=0x352ab37ba7e0 sp=0x352ab37ba7c0 pc=0x7175d3
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1264 +0x1 fp=0x352ab37ba7e8 sp=0x352ab37ba7e0 pc=0x491b01
created by os/signal.Notify.func2.1 in goroutine 1
	/usr/local/go/src/os/signal/signal.go:164 +0x1f
rax    0xca
gs     0x0
"#;
        let mut tables = Tables::new();
        let mut grouper = Grouper::new(GroupOptions::default(), None);
        TextParser::new(ParseOptions::default())
            .parse(&mut dump.as_bytes(), &mut tables, &mut grouper)
            .unwrap();
        let capture = grouper.finish(tables);
        assert!(capture.warnings.is_empty(), "{:?}", capture.warnings);
        assert_eq!(capture.snapshots.len(), 1);
        let snapshot = &capture.snapshots[0];
        assert_eq!(snapshot.total, 2, "goroutines 0 and 20 of the dump");
        assert_eq!(snapshot.goroutines.len(), 2);
        assert!(snapshot.groups.iter().all(|g| g.count == 1));
    }

    #[test]
    fn test_timeouts_before_go_1_23_do_not_indent_the_running_tests() {
        // `go test -timeout 2s` with Go 1.21 (trimmed, GOROOT shortened). From Go 1.23 on
        // the runtime indents the panic value's further lines: `\trunning tests:`.
        let dump = "panic: test timed out after 2s\n\
running tests:\n\
\tTestHangsForever (2s)\n\
\n\
goroutine 23 [running]:\n\
testing.(*M).startAlarm.func1()\n\
\t/usr/local/go/src/testing/testing.go:2259 +0x3b9\n\
created by time.goFunc\n\
\t/usr/local/go/src/time/sleep.go:176 +0x2d\n\
";
        let mut tables = Tables::new();
        let mut grouper = Grouper::new(GroupOptions::default(), None);
        TextParser::new(ParseOptions::default())
            .parse(&mut dump.as_bytes(), &mut tables, &mut grouper)
            .unwrap();
        let capture = grouper.finish(tables);
        let cause = &capture.snapshots[0].info.cause;
        assert_eq!(cause.kind, CauseKind::TestTimeout);
        assert_eq!(cause.message, "test timed out after 2s");
        assert_eq!(cause.running_tests, vec!["TestHangsForever".to_string()]);
        assert!(cause.details.is_empty(), "{:?}", cause.details);
    }

    #[test]
    fn a_cause_under_another_prefix_is_not_the_dump_s() {
        // A test's log line that quotes a panic, then a dump printed without a prefix: the
        // line is text, in its place, and the dump has no cause.
        let input = "    handler_test.go:12: panic: boom\n\
goroutine 1 [running]:\n\
main.main()\n\
\t/src/main.go:10 +0x1d\n";
        let mut tables = Tables::new();
        let mut records = crate::parse::Records::default();
        TextParser::new(ParseOptions::default())
            .parse(&mut input.as_bytes(), &mut tables, &mut records)
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&records.text),
            "    handler_test.go:12: panic: boom\n"
        );
        assert_eq!(records.dumps.len(), 1);
        assert_eq!(records.dumps[0].0.cause.kind, CauseKind::Dump);
    }

    #[test]
    fn a_prefixed_panic_value_runs_to_the_blank_line() {
        let input = "2024-01-01T00:00:00Z panic: not a crash\n\
2024-01-01T00:00:01Z more text\n\
\n\
2024-01-01T00:00:02Z goroutine 1 [running]:\n\
2024-01-01T00:00:02Z main.main()\n\
2024-01-01T00:00:02Z \t/src/main.go:10 +0x1d\n";
        let mut tables = Tables::new();
        let mut records = crate::parse::Records::default();
        TextParser::new(ParseOptions::default())
            .parse(&mut input.as_bytes(), &mut tables, &mut records)
            .unwrap();
        // The panic line's value runs to the blank line, then the dump follows: it is the
        // cause, with the line after it as a detail.
        let cause = &records.dumps[0].0.cause;
        assert_eq!(cause.kind, CauseKind::Panic);
        assert_eq!(cause.message, "not a crash");
        assert_eq!(cause.details, vec!["more text".to_string()]);
        assert!(records.text.is_empty());
        assert_eq!(
            records.dumps[0].0.prefix.as_deref(),
            Some("2024-01-01T00:00:02Z ")
        );
    }

    #[test]
    fn a_suspect_line_keeps_its_place_when_the_prefix_ends() {
        // `LOG some text` is not a frame; whether it ends the dump is decided on the next
        // line, which lacks the prefix. It used to be held until the end of the input and
        // passed through after the lines that followed it.
        let input = "LOG goroutine 1 [running]:\n\
LOG main.main()\n\
LOG \t/src/main.go:10 +0x1d\n\
LOG some text\n\
other line\n";
        let mut tables = Tables::new();
        let mut records = crate::parse::Records::default();
        TextParser::new(ParseOptions::default())
            .parse(&mut input.as_bytes(), &mut tables, &mut records)
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&records.text),
            "LOG some text\nother line\n"
        );
        assert_eq!(records.dumps.len(), 1);
        assert_eq!(records.dumps[0].1.len(), 1);
        assert!(records.warnings.is_empty(), "{:?}", records.warnings);
    }
}
