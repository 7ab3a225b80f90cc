//! The lines before a dump that say why it was printed: `panic: …`, `fatal error: …`,
//! `SIGQUIT: quit`, a test timeout with its running tests, a goleak message.
//!
//! Such lines are held back until it is known whether a dump follows them: if one does, they
//! become its [`Cause`]; if not, they are passed through like any other text. In a log they
//! carry the same line prefix as the dump (a timestamp, `host app[pid]: `), which is
//! stripped from them as it is from the goroutines.

use std::io;

use memchr::memmem::Finder;

use crate::intern::Tables;
use crate::model::{Cause, CauseKind};
use crate::parse::lines::{Line, trim_line_end};
use crate::parse::text::dump::Prefix;
use crate::parse::{Sink, race, traceback};

/// Preamble lines held back while waiting to see whether a dump follows them.
const MAX_HELD_LINES: usize = 256;
const MAX_HELD_BYTES: usize = 256 << 10;
/// How far into a line a log prefix may reach before the message that starts a preamble.
const MAX_PREFIX_LEN: usize = 256;

/// The lines held back, as they were read.
#[derive(Default)]
pub(super) struct Preamble {
    held: Vec<u8>,
    lines: usize,
    /// Where the first held line starts.
    offset: u64,
    /// A `runtime stack:` line was held: frames follow it.
    runtime_stack: bool,
    /// Inside a panic message: the value's text runs until a blank line, over as many
    /// lines as it has (Go before 1.23 does not indent the lines after the first).
    in_panic_value: bool,
    /// What stands before the message on every held line.
    prefix: Prefix,
}

impl Preamble {
    /// Whether any line is held.
    pub fn is_held(&self) -> bool {
        self.lines > 0
    }

    /// Whether the only line held is the rule that opens a race report whose lines carry
    /// `prefix`.
    pub fn is_race_rule(&self, prefix: &[u8]) -> bool {
        self.lines == 1
            && self
                .prefix
                .strip(trim_line_end(&self.held))
                .is_some_and(|rule| rule == race::RULE)
            && self.prefix.bytes.len() == prefix.len()
            && self.prefix.begins(prefix)
    }

    /// Whether the held lines carry a prefix that `dump_prefix`, the prefix of the dump's
    /// first header, starts with: only then are they the dump's preamble.
    pub fn fits(&self, dump_prefix: &[u8]) -> bool {
        self.prefix.begins(dump_prefix)
    }

    /// Whether a line carries on the held preamble.
    pub fn continues(&mut self, line: &[u8]) -> bool {
        let Some(text) = self.prefix.strip(line) else {
            return false;
        };
        if text.is_empty() {
            self.in_panic_value = false;
            return true;
        }
        if self.in_panic_value {
            return true;
        }
        if text == b"runtime stack:" {
            self.runtime_stack = true;
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

    /// Holds back a line that starts a preamble after a prefix of `prefix_len` bytes, with
    /// what is held already when it carries the same prefix.
    pub fn start(
        &mut self,
        line: &Line<'_>,
        prefix_len: usize,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        let prefix = &line.text[..prefix_len];
        if self.lines > 0 && !(self.prefix.bytes.len() == prefix_len && self.prefix.begins(prefix))
        {
            self.flush(sink)?;
        }
        if self.lines == 0 {
            self.prefix = Prefix {
                bytes: prefix.to_vec(),
            };
        }
        let message = &line.text[prefix_len..];
        self.in_panic_value = message.starts_with(b"panic: ");
        self.hold(line, sink)
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
        self.in_panic_value = false;
        self.prefix.bytes.clear();
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
            // Every held line carries the prefix: `continues` and `start` saw to it.
            let text = self.prefix.strip(trim_line_end(raw)).unwrap_or_default();
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

/// Where a preamble starts in a line that can begin one: at its start, or after a log
/// prefix ending in a space (`2024-01-01T00:00:00Z `, `Feb 07 04:53:48 host app[1]: `).
pub(super) fn start(text: &[u8]) -> Option<usize> {
    if message(text).is_some()
        || text.starts_with(b"runtime: ")
        || text.starts_with(b"unexpected fault address")
        || text == race::RULE
    {
        return Some(0);
    }
    let head = &text[..text.len().min(MAX_PREFIX_LEN)];
    memchr::memchr_iter(b' ', head)
        .map(|space| space + 1)
        .find(|&at| {
            let rest = &text[at..];
            runtime_message(rest).is_some()
                || rest == race::RULE
                || rest.starts_with(b"runtime: ")
                || rest.starts_with(b"unexpected fault address")
        })
}

/// The kind and message of a preamble's first line.
pub(super) fn message(text: &[u8]) -> Option<(CauseKind, String)> {
    if let Some(message) = runtime_message(text) {
        return Some(message);
    }
    static GOLEAK: std::sync::LazyLock<Finder<'static>> =
        std::sync::LazyLock::new(|| Finder::new(b"found unexpected goroutines:"));
    if GOLEAK.find(text).is_some() {
        return Some((CauseKind::Goleak, "found unexpected goroutines".into()));
    }
    None
}

/// The line the runtime prints first when it dumps the goroutines on its own: a panic, a
/// fatal error or a signal.
fn runtime_message(text: &[u8]) -> Option<(CauseKind, String)> {
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
    // A terminal echoes the Ctrl-\ that sent SIGQUIT in front of the runtime's line.
    let signal = text.strip_prefix(b"^\\").unwrap_or(text);
    if signal.starts_with(b"SIG") {
        let name_len = signal[3..]
            .iter()
            .take_while(|b| b.is_ascii_uppercase())
            .count();
        if name_len > 0 && signal[3 + name_len..].starts_with(b": ") {
            return Some((CauseKind::Signal, lossy(signal)));
        }
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
