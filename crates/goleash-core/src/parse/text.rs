//! Finds goroutine dumps, debug=1 profiles and race reports in any text, and reads them.
//!
//! Go writes its dumps into whatever else a process prints: `go test` output, logs with a
//! timestamp on every line, goleak messages indented by `testing`. The scanner looks for a
//! goroutine header anywhere in a line; what stands before it becomes the dump's line
//! prefix, stripped from the following lines for as long as they carry one of the same
//! shape. Lines that are not part of a dump go to [`Sink::text`] unchanged.

use std::io::Read;

use memchr::memmem::Finder;

use crate::intern::{FrameId, LabelSetId, Tables};
use crate::model::{
    Ancestor, Cause, CauseKind, Creator, DumpInfo, Elision, Format, FrameRegs, Profile, RaceReport,
    RaceSection, RaceSectionKind, Record, Warning,
};
use crate::parse::lines::{Line, LineReader};
use crate::parse::{ParseError, ParseOptions, Parser, Sink, Summary, debug1, race, traceback};

/// `runtime/pprof` cuts debug=2 output at exactly this size without saying so.
const DEBUG2_CAP: u64 = 64 << 20;
/// Preamble lines held back while waiting to see whether a dump follows them.
const MAX_HELD_LINES: usize = 256;
const MAX_HELD_BYTES: usize = 256 << 10;
/// Entries kept in each parse cache.
const CACHE_LIMIT: usize = 1 << 16;

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
                Ok(Some(line)) => scanner.line(&line, tables, sink),
                Ok(None) => break,
                Err(e) => {
                    // With nothing salvaged, the read error is the whole story.
                    if scanner.summary.dumps == 0 && scanner.summary.races == 0 {
                        return Err(ParseError::Io(e));
                    }
                    // Salvage: a truncated gzip stream or a dropped connection still leaves
                    // everything read so far.
                    scanner.truncate_open_record();
                    sink.warning(Warning {
                        offset: reader.position(),
                        line: None,
                        message: format!("input stopped early ({e}); kept what was read before it"),
                    });
                    break;
                }
            }
        }
        let end = reader.position();
        scanner.finish(end, tables, sink);
        scanner.summary.bytes = end;
        if scanner.summary.dumps == 0 && scanner.summary.races == 0 {
            if end == 0 {
                return Err(ParseError::Empty);
            }
            if scanner.binary_lines * 2 > scanner.lines {
                return Err(ParseError::Binary);
            }
            if scanner.looks_like_html {
                return Err(ParseError::Html);
            }
            return Err(ParseError::NoDump {
                lines: scanner.lines,
            });
        }
        Ok(scanner.summary)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Outside,
    Traceback,
    Debug1,
    Race,
}

/// Where the traceback grammar is inside a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tb {
    /// Expecting a frame, `created by`, an ancestor section, an elision marker or a blank.
    Frames,
    /// Inside an `[originating from goroutine N]:` section.
    Ancestor,
    /// A function line was read; its file line comes next.
    FileOf(Pending),
    /// After the blank line that ends a record.
    Between,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Frame,
    Creator,
    AncestorFrame,
    AncestorCreator,
}

/// A line prefix stripped from every line of a dump: what stood before the first header.
#[derive(Default)]
struct Prefix {
    bytes: Vec<u8>,
}

impl Prefix {
    /// Strips the prefix from `line`; `None` when the line does not carry it (the dump
    /// ended). Timestamps change from line to line, so digits match any digit (and the
    /// space that pads a one-digit day).
    fn strip<'a>(&self, line: &'a [u8]) -> Option<&'a [u8]> {
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

struct Scanner {
    mode: Mode,
    tb: Tb,
    prefix: Prefix,
    goroutine_finder: Finder<'static>,

    held: Vec<u8>,
    held_lines: usize,
    held_offset: u64,
    held_runtime_stack: bool,

    dump_open: bool,
    dump_offset: u64,
    dump_truncated: bool,
    cause_kind: CauseKind,
    record: Record,
    record_open: bool,
    saw_blank: bool,
    func_buf: Vec<u8>,
    func_hash: u64,
    args_buf: Vec<u8>,
    creator_parent: Option<u64>,
    /// A line inside a record that is not a frame: either a malformed frame (a file line
    /// follows) or the end of the dump (it does not). Decided on the next line.
    suspect: Option<Suspect>,
    /// The last line read had no newline: the input may have been cut inside it.
    last_unterminated: bool,
    /// Headers repeat the same state and label text over and over: parse each once.
    state_cache: rustc_hash::FxHashMap<u64, crate::model::State>,
    label_cache: rustc_hash::FxHashMap<u128, LabelSetId>,
    /// The PC of the last debug=1 frame line of the record.
    debug1_last_pc: Option<u64>,
    /// The frame the last file line completed.
    last_attached: Option<FrameId>,
    /// Past the first `-----` of a GOTRACEBACK=crash signal dump: each thread's section
    /// repeats the goroutine it runs, already listed, or shows its g0. Not counted again.
    thread_sections: bool,

    race: Option<RaceReport>,
    race_title: Option<(String, RaceSectionKind, Option<u64>)>,
    race_frames: Vec<crate::intern::FrameId>,

    summary: Summary,
    lines: u64,
    binary_lines: u64,
    looks_like_html: bool,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            mode: Mode::Outside,
            tb: Tb::Between,
            prefix: Prefix::default(),
            goroutine_finder: Finder::new(b"goroutine"),
            held: Vec::new(),
            held_lines: 0,
            held_offset: 0,
            held_runtime_stack: false,
            dump_open: false,
            dump_offset: 0,
            dump_truncated: false,
            cause_kind: CauseKind::Dump,
            record: Record::default(),
            record_open: false,
            saw_blank: false,
            func_buf: Vec::new(),
            func_hash: 0,
            args_buf: Vec::new(),
            creator_parent: None,
            suspect: None,
            last_unterminated: false,
            last_attached: None,
            debug1_last_pc: None,
            state_cache: Default::default(),
            label_cache: Default::default(),
            thread_sections: false,
            race: None,
            race_title: None,
            race_frames: Vec::new(),
            summary: Summary::default(),
            lines: 0,
            binary_lines: 0,
            looks_like_html: false,
        }
    }

    fn line(&mut self, line: &Line<'_>, tables: &mut Tables, sink: &mut dyn Sink) {
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
                self.looks_like_html = true;
            }
        }
        self.last_unterminated = !line.raw.ends_with(b"\n");
        if line.cut {
            sink.warning(Warning {
                offset: line.offset,
                line: Some(line.number),
                message: "line longer than the limit; only its start was read".into(),
            });
        }
        // A mode that does not take the line hands it on to the next; Outside takes all.
        loop {
            let taken = match self.mode {
                Mode::Outside => {
                    self.outside(line, tables, sink);
                    true
                }
                Mode::Traceback => self.traceback(line, tables, sink),
                Mode::Debug1 => self.debug1(line, tables, sink),
                Mode::Race => self.race_line(line.text, tables, sink),
            };
            if taken {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- outside dumps

    fn outside(&mut self, line: &Line<'_>, tables: &mut Tables, sink: &mut dyn Sink) {
        let text = line.text;
        for pos in self.goroutine_finder.find_iter(text) {
            if let Some(header) = traceback::parse_header(&text[pos..]) {
                let prefix = text[..pos].to_vec();
                self.start_traceback_dump(prefix, line.offset, tables, sink);
                self.start_record(&header, line, tables);
                return;
            }
            if let Some((profile, total)) = debug1::parse_profile_header(&text[pos..]) {
                self.start_debug1_dump(
                    text[..pos].to_vec(),
                    profile,
                    total,
                    line.offset,
                    tables,
                    sink,
                );
                return;
            }
        }
        if text == race::START {
            // The rule above the report is noise once the report is recognised.
            if self.held_lines == 1 && self.held.trim_ascii() == race::RULE {
                self.drop_held();
            }
            self.flush_held(sink);
            self.mode = Mode::Race;
            self.race = Some(RaceReport {
                sections: Vec::new(),
                offset: line.offset,
            });
            return;
        }
        if self.held_lines > 0 && self.continues_preamble(text) || starts_preamble(text) {
            self.hold(line, sink);
            return;
        }
        self.flush_held(sink);
        sink.text(line.raw);
    }

    /// Whether a line carries on a held preamble.
    fn continues_preamble(&mut self, text: &[u8]) -> bool {
        if text == b"runtime stack:" {
            self.held_runtime_stack = true;
            return true;
        }
        if text.is_empty() {
            return true;
        }
        if self.held_runtime_stack
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

    fn hold(&mut self, line: &Line<'_>, sink: &mut dyn Sink) {
        if self.held_lines == 0 {
            self.held_offset = line.offset;
        }
        if self.held_lines >= MAX_HELD_LINES || self.held.len() + line.raw.len() > MAX_HELD_BYTES {
            self.flush_held(sink);
            sink.text(line.raw);
            return;
        }
        self.held.extend_from_slice(line.raw);
        self.held_lines += 1;
    }

    fn flush_held(&mut self, sink: &mut dyn Sink) {
        if self.held_lines > 0 {
            for raw in self.held.split_inclusive(|&b| b == b'\n') {
                sink.text(raw);
            }
        }
        self.drop_held();
    }

    fn drop_held(&mut self) {
        self.held.clear();
        self.held_lines = 0;
        self.held_runtime_stack = false;
    }

    /// Turns the held preamble lines into the dump's cause and drops them.
    fn take_cause(&mut self, tables: &mut Tables) -> Cause {
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
                && let Some(message) = preamble_message(text)
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
        self.drop_held();
        cause
    }

    // ---------------------------------------------------------------- dumps

    fn start_traceback_dump(
        &mut self,
        prefix: Vec<u8>,
        offset: u64,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) {
        let cause = self.take_cause(tables);
        let start = if cause.kind == CauseKind::Dump {
            offset
        } else {
            self.held_offset.min(offset)
        };
        self.open_dump(
            prefix,
            start,
            Format::Traceback,
            Profile::Goroutine,
            cause,
            None,
            sink,
            tables,
        );
        self.mode = Mode::Traceback;
        self.tb = Tb::Between;
    }

    #[allow(clippy::too_many_arguments)]
    fn open_dump(
        &mut self,
        prefix: Vec<u8>,
        offset: u64,
        format: Format,
        profile: Profile,
        cause: Cause,
        declared_total: Option<u64>,
        sink: &mut dyn Sink,
        tables: &Tables,
    ) {
        self.cause_kind = cause.kind;
        let info = DumpInfo {
            format,
            profile,
            cause,
            declared_total,
            time_nanos: None,
            offset,
            prefix: (!prefix.is_empty()).then(|| String::from_utf8_lossy(&prefix).into_owned()),
        };
        self.prefix = Prefix { bytes: prefix };
        self.dump_open = true;
        self.dump_offset = offset;
        self.dump_truncated = false;
        self.saw_blank = false;
        self.thread_sections = false;
        self.summary.dumps += 1;
        sink.dump_start(tables, &info);
    }

    fn end_dump(&mut self, end: u64, tables: &mut Tables, sink: &mut dyn Sink) {
        self.finish_record(tables, sink);
        if self.dump_open {
            if self.mode == Mode::Traceback && end.saturating_sub(self.dump_offset) == DEBUG2_CAP {
                self.dump_truncated = true;
                sink.warning(Warning {
                    offset: end,
                    line: None,
                    message: "the dump is exactly 64 MiB: runtime/pprof cuts debug=2 output at that size, so goroutines are probably missing; the count from ?debug=1 or ?debug=0 is complete".into(),
                });
            }
            sink.dump_end(tables, self.dump_truncated);
        }
        self.dump_open = false;
        self.mode = Mode::Outside;
        self.prefix = Prefix::default();
    }

    fn start_record(
        &mut self,
        header: &traceback::Header<'_>,
        line: &Line<'_>,
        tables: &mut Tables,
    ) {
        self.record.clear();
        self.record.count = 1;
        self.record.id = Some(header.id);
        self.record.thread = header.thread;
        // Bounded so that unique label values on every goroutine cannot grow them forever.
        if self.state_cache.len() > CACHE_LIMIT {
            self.state_cache.clear();
        }
        if self.label_cache.len() > CACHE_LIMIT {
            self.label_cache.clear();
        }
        let state_key = xxhash_rust::xxh3::xxh3_64(header.state);
        let state = match self.state_cache.get(&state_key) {
            Some(state) => state.clone(),
            None => {
                let state = traceback::parse_state(tables, header.state);
                self.state_cache.insert(state_key, state.clone());
                state
            }
        };
        self.record.state = Some(state);
        if let Some(labels) = header.labels {
            let key = xxhash_rust::xxh3::xxh3_128(labels);
            self.record.labels = *self.label_cache.entry(key).or_insert_with(|| {
                traceback::parse_traceback_labels(tables, labels).unwrap_or(LabelSetId::EMPTY)
            });
        }
        self.record.offset = line.offset;
        self.record.line = line.number;
        self.record_open = true;
        self.last_attached = None;
        self.tb = Tb::Frames;
    }

    fn finish_record(&mut self, tables: &mut Tables, sink: &mut dyn Sink) {
        if let Tb::FileOf(pending) = self.tb {
            let inlined = matches!(pending, Pending::Frame | Pending::AncestorFrame)
                && traceback::is_inlined(&self.args_buf);
            let frame = traceback::intern_bare_frame(tables, &self.func_buf, inlined);
            self.attach(pending, frame, None);
            self.record.truncated = true;
        }
        if self.record_open {
            if self.record.truncated {
                self.dump_truncated = true;
                sink.warning(Warning {
                    offset: self.record.offset,
                    line: Some(self.record.line),
                    message: match self.record.id {
                        Some(id) => {
                            format!("goroutine {id} is cut short; kept the frames that were there")
                        }
                        None => "a profile record is cut short; kept what was there".into(),
                    },
                });
            }
            if !self.thread_sections {
                self.summary.records += 1;
                sink.record(tables, &self.record);
            }
            self.record_open = false;
        }
        if self.mode == Mode::Traceback {
            self.tb = Tb::Between;
        }
    }

    /// Marks the record in progress as cut short (the input broke off).
    fn truncate_open_record(&mut self) {
        if self.record_open {
            self.record.truncated = true;
        }
    }

    fn finish(&mut self, end: u64, tables: &mut Tables, sink: &mut dyn Sink) {
        if let Some(suspect) = self.suspect.take() {
            if suspect.raw.ends_with(b"\n") {
                self.replay(suspect, tables, sink);
            } else {
                // The input ends in the middle of a frame line.
                self.record.truncated = true;
            }
        }
        if self.record_open && self.mode == Mode::Traceback {
            // Every goroutine prints at least one frame: one that ends the input without any
            // was cut right after its header.
            if self.record.frames.is_empty() && !self.record.stack_unavailable {
                self.record.truncated = true;
            }
            // Every frame that is not inlined prints a `+0x` offset, so a last file line
            // without one was cut inside its line number.
            if let Some(frame) = self.last_attached.map(|f| tables.get_frame(f))
                && self.last_unterminated
                && frame.offset.is_none()
                && !frame.inlined
            {
                self.record.truncated = true;
            }
        }
        match self.mode {
            Mode::Traceback | Mode::Debug1 => self.end_dump(end, tables, sink),
            Mode::Race => self.end_race(tables, sink),
            Mode::Outside => {}
        }
        self.flush_held(sink);
    }

    // ---------------------------------------------------------------- tracebacks

    fn traceback(&mut self, line: &Line<'_>, tables: &mut Tables, sink: &mut dyn Sink) -> bool {
        let text = match self.prefix.strip(line.text) {
            Some(text) => text,
            // Text printed without a newline just before a dump (`dumping stacks...goroutine
            // 1 [running]:`) looks like a prefix until the next line lacks it.
            None if self.record_open
                && self.record.frames.is_empty()
                && self.tb == Tb::Frames
                && traceback::split_function_line(line.text).is_some() =>
            {
                self.prefix = Prefix::default();
                line.text
            }
            None => {
                self.end_dump(line.offset, tables, sink);
                return false;
            }
        };
        if let Some(suspect) = self.suspect.take() {
            if traceback::parse_file_line(text).is_some() {
                sink.warning(Warning {
                    offset: suspect.offset,
                    line: Some(suspect.number),
                    message: format!(
                        "`{}` is not a function call; skipped it and its file line",
                        String::from_utf8_lossy(trim_line_end(&suspect.raw)).trim()
                    ),
                });
                return true;
            }
            self.replay(suspect, tables, sink);
            return false;
        }
        if let Tb::FileOf(pending) = self.tb {
            let inlined = matches!(pending, Pending::Frame | Pending::AncestorFrame)
                && traceback::is_inlined(&self.args_buf);
            if let Some(raw) = traceback::split_file_line(text)
                && let Some(frame) =
                    traceback::frame_for(tables, &self.func_buf, self.func_hash, inlined, &raw)
            {
                let regs = raw.regs.and_then(traceback::parse_regs);
                self.attach(pending, frame, regs);
                self.last_attached = Some(frame);
                self.saw_blank = false;
                return true;
            }
            // No file line where one belongs: keep the function without a position. An
            // indented line that is not a file line is one cut short.
            if text.first().is_some_and(u8::is_ascii_whitespace) {
                self.record.truncated = true;
            }
            let frame = traceback::intern_bare_frame(tables, &self.func_buf, inlined);
            self.attach(pending, frame, None);
            self.last_attached = None;
        }
        if text.is_empty() {
            if self.record_open {
                self.finish_record(tables, sink);
            }
            self.saw_blank = true;
            return true;
        }
        if text[0] == b'g'
            && let Some(header) = traceback::parse_header(text)
        {
            let adjoining = self.record_open && !self.saw_blank;
            self.finish_record(tables, sink);
            if adjoining {
                // Go separates records with a blank line; a header straight after a record
                // starts another dump (two `runtime.Stack` outputs appended to one file).
                let prefix = std::mem::take(&mut self.prefix.bytes);
                self.end_dump(line.offset, tables, sink);
                self.start_traceback_dump(prefix, line.offset, tables, sink);
            }
            self.start_record(&header, line, tables);
            self.saw_blank = false;
            return true;
        }
        self.saw_blank = false;
        if self.cause_kind == CauseKind::Goleak && text == b"]" {
            self.end_dump(line.offset + line.raw.len() as u64, tables, sink);
            return true;
        }
        let taken = match self.tb {
            Tb::Frames | Tb::Ancestor if self.record_open => {
                self.frame_line(text)
                    // A register dump follows the last record of a signal dump directly.
                    || (is_interstitial(text) && {
                        self.finish_record(tables, sink);
                        true
                    })
                    || {
                        self.suspect = Some(Suspect {
                            raw: line.raw.to_vec(),
                            offset: line.offset,
                            number: line.number,
                        });
                        true
                    }
            }
            Tb::Between => is_interstitial(text),
            _ => false,
        };
        if taken && text == b"-----" {
            self.thread_sections = true;
        }
        if !taken && !line.raw.ends_with(b"\n") && !line.cut {
            // The input ends inside what would come next in the dump.
            self.dump_truncated = true;
            return true;
        }
        if !taken {
            self.end_dump(line.offset, tables, sink);
        }
        taken
    }

    /// The suspect line was not a malformed frame: the dump ended before it, and it is
    /// ordinary text (or the start of something else).
    fn replay(&mut self, suspect: Suspect, tables: &mut Tables, sink: &mut dyn Sink) {
        self.end_dump(suspect.offset, tables, sink);
        let line = Line {
            raw: &suspect.raw,
            text: trim_line_end(&suspect.raw),
            offset: suspect.offset,
            number: suspect.number,
            cut: false,
        };
        self.outside(&line, tables, sink);
    }

    /// Handles a line inside a record's body; false when the line is not part of it.
    fn frame_line(&mut self, text: &[u8]) -> bool {
        let in_ancestor = self.tb == Tb::Ancestor;
        // Most lines are function lines; the first byte rules out the other kinds cheaply.
        match text[0] {
            b'c' => {
                if let Some((function, parent)) = traceback::parse_created_by(text) {
                    self.func_buf.clear();
                    self.func_buf.extend_from_slice(function);
                    self.func_hash = traceback::function_hash(function);
                    self.creator_parent = parent;
                    self.tb = Tb::FileOf(if in_ancestor {
                        Pending::AncestorCreator
                    } else {
                        Pending::Creator
                    });
                    return true;
                }
            }
            b'[' => {
                if let Some(id) = traceback::parse_ancestor_header(text) {
                    self.record.ancestors.push(Ancestor {
                        id,
                        frames: Vec::new(),
                        elided: false,
                        created_by: None,
                    });
                    self.tb = Tb::Ancestor;
                    return true;
                }
            }
            b'.' => {
                if let Some(count) = traceback::parse_elision(text) {
                    if in_ancestor {
                        if let Some(ancestor) = self.record.ancestors.last_mut() {
                            ancestor.elided = true;
                        }
                    } else {
                        self.record.elided = Some(match count {
                            Some(count) => Elision::Middle {
                                after: self.record.frames.len(),
                                count,
                            },
                            None => Elision::Tail,
                        });
                    }
                    return true;
                }
            }
            b'\t' | b' ' => {
                if text
                    .trim_ascii_start()
                    .starts_with(b"goroutine running on other thread")
                {
                    self.record.stack_unavailable = true;
                }
                // A file line without a function line: nothing to attach it to.
                return true;
            }
            _ => {}
        }
        if let Some((function, args)) = traceback::split_function_line(text) {
            self.func_buf.clear();
            self.func_buf.extend_from_slice(function);
            self.func_hash = traceback::function_hash(function);
            self.args_buf.clear();
            self.args_buf.extend_from_slice(args);
            self.tb = Tb::FileOf(if in_ancestor {
                Pending::AncestorFrame
            } else {
                Pending::Frame
            });
            return true;
        }
        false
    }

    /// Puts the frame of the pending function line where it belongs.
    fn attach(&mut self, pending: Pending, frame: FrameId, regs: Option<FrameRegs>) {
        match pending {
            Pending::Frame => {
                self.record.push_frame(frame, &self.args_buf, regs);
                self.tb = Tb::Frames;
            }
            Pending::Creator => {
                self.record.created_by = Some(Creator {
                    frame,
                    parent: self.creator_parent,
                });
                self.tb = Tb::Frames;
            }
            Pending::AncestorFrame => {
                if let Some(ancestor) = self.record.ancestors.last_mut() {
                    ancestor.frames.push(frame);
                }
                self.tb = Tb::Ancestor;
            }
            Pending::AncestorCreator => {
                if let Some(ancestor) = self.record.ancestors.last_mut() {
                    ancestor.created_by = Some(frame);
                }
                self.tb = Tb::Ancestor;
            }
        }
    }

    // ---------------------------------------------------------------- debug=1

    fn start_debug1_dump(
        &mut self,
        prefix: Vec<u8>,
        profile: Profile,
        total: u64,
        offset: u64,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) {
        self.flush_held(sink);
        self.open_dump(
            prefix,
            offset,
            Format::Debug1,
            profile,
            Cause::default(),
            Some(total),
            sink,
            tables,
        );
        self.mode = Mode::Debug1;
    }

    fn debug1(&mut self, line: &Line<'_>, tables: &mut Tables, sink: &mut dyn Sink) -> bool {
        let Some(text) = self.prefix.strip(line.text) else {
            self.end_dump(line.offset, tables, sink);
            return false;
        };
        if text.is_empty() {
            self.finish_record(tables, sink);
            return true;
        }
        if text.first().is_some_and(u8::is_ascii_digit) {
            self.finish_record(tables, sink);
            self.record.clear();
            self.debug1_last_pc = None;
            if let Some(count) = debug1::parse_record_header(text, &mut self.record.pcs) {
                self.record.count = count;
                self.record.offset = line.offset;
                self.record.line = line.number;
                self.record_open = true;
                return true;
            }
            self.end_dump(line.offset, tables, sink);
            return false;
        }
        if self.record_open && text.starts_with(b"# labels: ") {
            match debug1::parse_labels_line(tables, text) {
                Some(labels) => self.record.labels = labels,
                None => sink.warning(Warning {
                    offset: line.offset,
                    line: Some(line.number),
                    message: "labels that do not parse; the record is kept without them".into(),
                }),
            }
            return true;
        }
        if self.record_open
            && let Some(frame_line) = debug1::parse_frame_line(text)
        {
            if !frame_line.symbolized.is_empty() {
                self.debug1_frame(frame_line, line, tables, sink);
            }
            return true;
        }
        self.end_dump(line.offset, tables, sink);
        false
    }

    fn debug1_frame(
        &mut self,
        frame_line: debug1::FrameLine<'_>,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) {
        // An inlined call repeats its caller's PC: every frame but the last of a same-PC run
        // is inlined. So a frame is known to be inlined only when the next one arrives.
        if self.debug1_last_pc == Some(frame_line.pc)
            && let Some(last) = self.record.frames.last_mut()
        {
            let mut frame = tables.get_frame(*last).clone();
            frame.inlined = true;
            *last = tables.frame(frame);
        }
        self.debug1_last_pc = Some(frame_line.pc);
        match debug1::intern_frame(tables, frame_line.symbolized, false) {
            Some(frame) => self.record.push_frame(frame, b"", None),
            None => sink.warning(Warning {
                offset: line.offset,
                line: Some(line.number),
                message: "a frame line that does not parse; skipped".into(),
            }),
        }
    }

    // ---------------------------------------------------------------- race reports

    fn race_line(&mut self, text: &[u8], tables: &mut Tables, sink: &mut dyn Sink) -> bool {
        if text == race::RULE {
            self.end_race(tables, sink);
            return true;
        }
        if text.is_empty() {
            self.finish_race_section(tables);
            return true;
        }
        if let Some((title, kind, goroutine)) = race::parse_title(text) {
            self.finish_race_section(tables);
            self.race_title = Some((String::from_utf8_lossy(title).into_owned(), kind, goroutine));
            return true;
        }
        if self.race_title.is_some() {
            if let Some(function) = race::parse_function(text) {
                self.func_buf.clear();
                self.func_buf.extend_from_slice(function);
                let frame = traceback::intern_bare_frame(tables, function, false);
                self.race_frames.push(frame);
                return true;
            }
            if let Some(file_line) = traceback::parse_file_line(text) {
                if let Some(last) = self.race_frames.last_mut() {
                    *last = traceback::intern_frame(tables, &self.func_buf, false, &file_line);
                }
                return true;
            }
            if text.starts_with(b"  ") {
                // `  [failed to restore the stack]` and the like.
                return true;
            }
        }
        self.end_race(tables, sink);
        false
    }

    fn finish_race_section(&mut self, tables: &mut Tables) {
        if let Some((title, kind, goroutine)) = self.race_title.take() {
            let stack = tables.stack(&self.race_frames);
            self.race_frames.clear();
            if let Some(report) = self.race.as_mut() {
                report.sections.push(RaceSection {
                    title,
                    kind,
                    goroutine,
                    stack,
                });
            }
        }
    }

    fn end_race(&mut self, tables: &mut Tables, sink: &mut dyn Sink) {
        self.finish_race_section(tables);
        if let Some(report) = self.race.take() {
            self.summary.races += 1;
            sink.race(tables, report);
        }
        self.mode = Mode::Outside;
    }
}

struct Suspect {
    raw: Vec<u8>,
    offset: u64,
    number: u64,
}

fn trim_line_end(raw: &[u8]) -> &[u8] {
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// Lines that can start a dump's preamble.
fn starts_preamble(text: &[u8]) -> bool {
    preamble_message(text).is_some()
        || text.starts_with(b"runtime: ")
        || text.starts_with(b"unexpected fault address")
        || text == race::RULE
}

/// The kind and message of a preamble's first line.
fn preamble_message(text: &[u8]) -> Option<(CauseKind, String)> {
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
fn is_goleak_element(text: &[u8]) -> bool {
    let body = text.trim_ascii_start();
    let body = body.strip_prefix(b"[").unwrap_or(body);
    body.starts_with(b"Goroutine ")
        && memchr::memmem::find(body, b" in state ").is_some()
        && body.ends_with(b"on top of the stack:")
}

/// Lines the runtime prints between the records of one dump.
fn is_interstitial(text: &[u8]) -> bool {
    is_goleak_element(text)
        || is_register_line(text)
        || text == b"-----"
        || text.starts_with(b"PC=")
        || text.starts_with(b"signal arrived during")
        // GOTRACEBACK=crash repeats the signal line for every thread.
        || (text.starts_with(b"SIG") && preamble_message(text).is_some())
}

/// A line of a register dump: `rax    0xca`, `r8     0x0`, `rflags 0x246`.
fn is_register_line(text: &[u8]) -> bool {
    let name_len = text
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if name_len == 0 || name_len > 8 {
        return false;
    }
    let rest = text[name_len..].trim_ascii_start();
    rest.len() < text.len() - name_len
        && rest.starts_with(b"0x")
        && rest[2..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{GroupOptions, Grouper};

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
}
