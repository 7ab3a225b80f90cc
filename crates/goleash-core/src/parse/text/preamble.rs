//! The lines before a dump that say why it was printed: `panic: …`, `fatal error: …`,
//! `SIGQUIT: quit`, a test timeout with its running tests, a goleak message.
//!
//! Such lines are held back until it is known whether a dump follows them: if one does, they
//! become its [`Cause`]; if not, they are passed through like any other text.

use std::io;

use memchr::memmem::Finder;

use crate::intern::Tables;
use crate::model::{Cause, CauseKind};
use crate::parse::lines::{Line, trim_line_end};
use crate::parse::{Sink, race, traceback};

/// Preamble lines held back while waiting to see whether a dump follows them.
const MAX_HELD_LINES: usize = 256;
const MAX_HELD_BYTES: usize = 256 << 10;

/// The lines held back, as they were read.
#[derive(Default)]
pub(super) struct Preamble {
    held: Vec<u8>,
    lines: usize,
    /// Where the first held line starts.
    offset: u64,
    /// A `runtime stack:` line was held: frames follow it.
    runtime_stack: bool,
}

impl Preamble {
    /// Whether any line is held.
    pub fn is_held(&self) -> bool {
        self.lines > 0
    }

    /// Whether the only line held is the rule that opens a race report.
    pub fn is_race_rule(&self) -> bool {
        self.lines == 1 && self.held.trim_ascii() == race::RULE
    }

    /// Whether a line carries on the held preamble.
    pub fn continues(&mut self, text: &[u8]) -> bool {
        if text == b"runtime stack:" {
            self.runtime_stack = true;
            return true;
        }
        if text.is_empty() {
            return true;
        }
        if self.runtime_stack
            && (traceback::split_function_line(text).is_some()
                || traceback::parse_file_line(text).is_some())
        {
            return true;
        }
        text.starts_with(b"\t")
            // `go test -timeout` before Go 1.23, which did not indent a panic value's lines.
            || text == b"running tests:"
            || text.starts_with(b"[signal ")
            || text.starts_with(b"PC=")
            || text.starts_with(b"signal arrived during")
            || is_goleak_element(text)
    }

    /// Holds a line back; past the limits, what is held is not a preamble after all and goes
    /// through with the line.
    pub fn hold(&mut self, line: &Line<'_>, sink: &mut dyn Sink) -> io::Result<()> {
        if self.lines == 0 {
            self.offset = line.offset;
        }
        if self.lines >= MAX_HELD_LINES || self.held.len() + line.raw.len() > MAX_HELD_BYTES {
            self.flush(sink)?;
            return sink.text(line.raw);
        }
        self.held.extend_from_slice(line.raw);
        self.lines += 1;
        Ok(())
    }

    /// Passes the held lines through: no dump followed them.
    pub fn flush(&mut self, sink: &mut dyn Sink) -> io::Result<()> {
        if self.lines > 0 {
            for raw in self.held.split_inclusive(|&b| b == b'\n') {
                sink.text(raw)?;
            }
        }
        self.clear();
        Ok(())
    }

    /// Forgets the held lines.
    pub fn clear(&mut self) {
        self.held.clear();
        self.lines = 0;
        self.runtime_stack = false;
    }

    /// Turns the held lines into the cause of a dump whose first header is at `header`, and
    /// forgets them. Also returns where the dump starts: at its preamble when it has a
    /// cause, so that the dump's offset points at the message that explains it.
    pub fn take_cause(&mut self, tables: &mut Tables, header: u64) -> (Cause, u64) {
        let mut cause = Cause::default();
        let held = std::mem::take(&mut self.held);
        let mut runtime_frames = Vec::new();
        let mut in_runtime_stack = false;
        let mut in_running_tests = false;
        let mut pending_function: Option<(Vec<u8>, bool)> = None;
        for raw in held.split_inclusive(|&b| b == b'\n') {
            let text = trim_line_end(raw);
            if in_runtime_stack {
                if let Some((function, args)) = traceback::split_function_line(text) {
                    if let Some((f, inlined)) = pending_function.take() {
                        runtime_frames.push(traceback::intern_bare_frame(tables, &f, inlined));
                    }
                    pending_function = Some((function.to_vec(), traceback::is_inlined(args)));
                    continue;
                }
                if let Some(file_line) = traceback::parse_file_line(text) {
                    if let Some((f, inlined)) = pending_function.take() {
                        runtime_frames
                            .push(traceback::intern_frame(tables, &f, inlined, &file_line));
                    }
                    continue;
                }
                in_runtime_stack = false;
            }
            if text == b"runtime stack:" {
                in_runtime_stack = true;
                continue;
            }
            let trimmed = String::from_utf8_lossy(text.trim_ascii()).into_owned();
            if trimmed.is_empty() {
                continue;
            }
            if cause.kind == CauseKind::Dump
                && let Some(message) = message(text)
            {
                cause.kind = message.0;
                cause.message = message.1;
                continue;
            }
            if cause.kind == CauseKind::TestTimeout && text.starts_with(b"\t") && in_running_tests {
                // `\t\tTestName (2s)`, `\tTestName (2s)` before Go 1.23: keep the name.
                let name = trimmed
                    .rsplit_once(" (")
                    .map_or(trimmed.as_str(), |(n, _)| n);
                cause.running_tests.push(name.to_string());
                continue;
            }
            if trimmed == "running tests:" {
                in_running_tests = true;
                continue;
            }
            if is_goleak_element(text) {
                continue;
            }
            if cause.kind == CauseKind::Dump {
                continue;
            }
            cause.details.push(trimmed);
        }
        if let Some((f, inlined)) = pending_function.take() {
            runtime_frames.push(traceback::intern_bare_frame(tables, &f, inlined));
        }
        if !runtime_frames.is_empty() {
            cause.runtime_stack = Some(tables.stack(&runtime_frames));
        }
        self.held = held;
        self.clear();
        let start = if cause.kind == CauseKind::Dump {
            header
        } else {
            self.offset.min(header)
        };
        (cause, start)
    }
}

/// Lines that can start a dump's preamble.
pub(super) fn starts(text: &[u8]) -> bool {
    message(text).is_some()
        || text.starts_with(b"runtime: ")
        || text.starts_with(b"unexpected fault address")
        || text == race::RULE
}

/// The kind and message of a preamble's first line.
pub(super) fn message(text: &[u8]) -> Option<(CauseKind, String)> {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if let Some(rest) = text.strip_prefix(b"panic: ") {
        let kind = if rest.starts_with(b"test timed out after ") {
            CauseKind::TestTimeout
        } else {
            CauseKind::Panic
        };
        return Some((kind, lossy(rest)));
    }
    if let Some(rest) = text.strip_prefix(b"fatal error: ") {
        return Some((CauseKind::Fatal, lossy(rest)));
    }
    if text.starts_with(b"SIG") {
        let name_len = text[3..]
            .iter()
            .take_while(|b| b.is_ascii_uppercase())
            .count();
        if name_len > 0 && text[3 + name_len..].starts_with(b": ") {
            return Some((CauseKind::Signal, lossy(text)));
        }
    }
    static GOLEAK: std::sync::LazyLock<Finder<'static>> =
        std::sync::LazyLock::new(|| Finder::new(b"found unexpected goroutines:"));
    if GOLEAK.find(text).is_some() {
        return Some((CauseKind::Goleak, "found unexpected goroutines".into()));
    }
    None
}

/// goleak prints `[Goroutine 12 in state chan receive, with main.f on top of the stack:`
/// before each goroutine of its message.
pub(super) fn is_goleak_element(text: &[u8]) -> bool {
    let body = text.trim_ascii_start();
    let body = body.strip_prefix(b"[").unwrap_or(body);
    body.starts_with(b"Goroutine ")
        && memchr::memmem::find(body, b" in state ").is_some()
        && body.ends_with(b"on top of the stack:")
}
