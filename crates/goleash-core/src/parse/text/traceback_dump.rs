//! Builds the records of a traceback dump (`runtime.Stack`, `?debug=2`, panics, fatal
//! errors, signal dumps, goleak messages) from its lines: a header, then function and file
//! lines, `created by`, ancestor sections and elision markers, with a blank line between
//! records.

use std::io;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::intern::{FrameId, LabelSetId, Tables};
use crate::model::{
    Ancestor, Cause, CauseKind, Creator, DumpInfo, Elision, Format, FrameRegs, Profile, State,
    Warning,
};
use crate::parse::lines::{Line, trim_line_end};
use crate::parse::text::dump::Dump;
use crate::parse::text::{Step, preamble};
use crate::parse::{Sink, traceback};

/// `runtime/pprof` cuts debug=2 output at exactly this size without saying so.
const DEBUG2_CAP: u64 = 64 << 20;
/// Entries kept in each header cache.
const CACHE_LIMIT: usize = 1 << 16;

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
    /// Frames after a line that should have been a goroutine header and was not (garbled
    /// text): they belong to no goroutine and are dropped, with a warning at their end.
    Orphans,
}

/// What the function line waiting for its file line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Frame,
    Creator,
    AncestorFrame,
    AncestorCreator,
}

/// A line inside a record that is not a frame: either a malformed frame (a file line
/// follows) or the end of the dump (it does not). Decided on the next line.
pub(super) struct Suspect {
    raw: Vec<u8>,
    /// How long the dump's line prefix is on it.
    prefix_len: usize,
    pub offset: u64,
    number: u64,
}

impl Suspect {
    /// The line as it was read.
    pub fn line(&self) -> Line<'_> {
        Line {
            raw: &self.raw,
            text: trim_line_end(&self.raw),
            offset: self.offset,
            number: self.number,
            cut: false,
        }
    }

    /// The line's text, for a warning.
    fn text(&self) -> String {
        let text = trim_line_end(&self.raw);
        String::from_utf8_lossy(&text[self.prefix_len.min(text.len())..])
            .trim()
            .to_string()
    }

    /// Whether the line had its newline: when the input ends without one, it may have been
    /// cut inside a frame.
    pub fn is_terminated(&self) -> bool {
        self.raw.ends_with(b"\n")
    }
}

/// Headers repeat the same state and label text over and over: each is parsed once.
#[derive(Default)]
struct HeaderCache {
    states: FxHashMap<u64, State>,
    labels: FxHashMap<u128, LabelSetId>,
}

impl HeaderCache {
    fn state(&mut self, tables: &mut Tables, text: &[u8]) -> State {
        // Bounded so that unique values on every goroutine cannot grow it forever.
        if self.states.len() > CACHE_LIMIT {
            self.states.clear();
        }
        let key = xxhash_rust::xxh3::xxh3_64(text);
        match self.states.get(&key) {
            Some(state) => state.clone(),
            None => {
                let state = traceback::parse_state(tables, text);
                self.states.insert(key, state.clone());
                state
            }
        }
    }

    fn labels(&mut self, tables: &mut Tables, text: &[u8]) -> LabelSetId {
        if self.labels.len() > CACHE_LIMIT {
            self.labels.clear();
        }
        let key = xxhash_rust::xxh3::xxh3_128(text);
        *self.labels.entry(key).or_insert_with(|| {
            traceback::parse_traceback_labels(tables, text).unwrap_or(LabelSetId::EMPTY)
        })
    }
}

pub(super) struct TracebackDump {
    tb: Tb,
    /// What the dump's preamble said it is.
    cause_kind: CauseKind,
    /// The function line waiting for its file line: name, hash of the name, arguments,
    /// and for `created by … in goroutine N` the parent.
    function: Vec<u8>,
    function_hash: u64,
    args: Vec<u8>,
    creator_parent: Option<u64>,
    suspect: Option<Box<Suspect>>,
    /// The lines dropped as [`Tb::Orphans`]: the line that broke the header, with its text,
    /// and the last frame line after it.
    orphans: Option<(Box<Suspect>, u64)>,
    /// The last line was blank: a header after it continues the dump.
    saw_blank: bool,
    /// The frame the last file line completed.
    last_attached: Option<FrameId>,
    /// Past the first `-----` of a GOTRACEBACK=crash signal dump: each thread's section
    /// repeats the goroutine it runs, already listed, or shows its g0. Not counted again.
    thread_sections: bool,
    /// A `-----` was read and no header since: the thread's signal lines may follow.
    section_opened: bool,
    /// The record just started is of a running goroutine after the dump's first: if its
    /// stack follows, it starts the next dump.
    running_after_first: bool,
    /// The goroutine ids the dump listed: a process lists each once, so one seen again
    /// starts the next dump (two `?debug=2` outputs appended with nothing between them).
    ids: FxHashSet<u64>,
    headers: HeaderCache,
}

impl TracebackDump {
    pub fn new() -> Self {
        TracebackDump {
            tb: Tb::Between,
            cause_kind: CauseKind::Dump,
            function: Vec::new(),
            function_hash: 0,
            args: Vec::new(),
            creator_parent: None,
            suspect: None,
            orphans: None,
            saw_blank: false,
            last_attached: None,
            thread_sections: false,
            running_after_first: false,
            section_opened: false,
            ids: FxHashSet::default(),
            headers: HeaderCache::default(),
        }
    }

    /// Starts a dump at `offset`; its first header comes next.
    pub fn begin(&mut self, dump: &mut Dump, prefix: Vec<u8>, offset: u64, cause: Cause) {
        self.cause_kind = cause.kind;
        self.saw_blank = false;
        self.thread_sections = false;
        self.section_opened = false;
        self.ids.clear();
        let info = DumpInfo {
            format: Format::Traceback,
            profile: Profile::Goroutine,
            cause,
            declared_total: None,
            time_nanos: None,
            offset,
            prefix: None,
        };
        self.tb = Tb::Between;
        dump.open(info, prefix);
    }

    /// Starts a record at its `goroutine N [state]:` header.
    pub fn start_record(
        &mut self,
        dump: &mut Dump,
        header: &traceback::Header<'_>,
        line: &Line<'_>,
        tables: &mut Tables,
    ) {
        let record = &mut dump.record;
        record.clear();
        record.count = 1;
        record.id = Some(header.id);
        record.thread = header.thread;
        record.state = Some(self.headers.state(tables, header.state));
        if let Some(labels) = header.labels {
            record.labels = self.headers.labels(tables, labels);
        }
        record.offset = line.offset;
        record.line = line.number;
        if !self.thread_sections {
            self.ids.insert(header.id);
        }
        dump.record_open = true;
        self.last_attached = None;
        self.tb = Tb::Frames;
    }

    #[inline]
    pub fn line(
        &mut self,
        dump: &mut Dump,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<Step> {
        let text = match dump.prefix.strip(line.text) {
            Some(text) => text,
            // A log message or text printed without a newline just before a dump
            // (`dumping stacks...goroutine 1 [running]:`) looks like part of the prefix
            // until the next line lacks it.
            None if dump.record_open
                && dump.record.frames.is_empty()
                && dump.record.ancestors.is_empty()
                && dump.record.created_by.is_none()
                && self.tb == Tb::Frames
                && let Some(len) = dump.prefix.shortened_for(line.text) =>
            {
                dump.shorten_prefix(len);
                &line.text[len..]
            }
            // A suspect line is not a frame either when the next line is not part of the dump.
            None => {
                return match self.suspect.take() {
                    Some(suspect) => Ok(Step::EndedBefore(suspect)),
                    None => Ok(Step::Ended),
                };
            }
        };
        if self.tb == Tb::Orphans {
            if is_stack_line(text) {
                if let Some((_, last)) = self.orphans.as_mut() {
                    *last = line.number;
                }
                return Ok(Step::Taken);
            }
            self.drop_orphans(sink)?;
        }
        if let Some(suspect) = self.suspect.take() {
            if dump.record_open {
                if traceback::parse_file_line(text).is_some() {
                    sink.warning(Warning {
                        offset: suspect.offset,
                        line: Some(suspect.number),
                        message: format!(
                            "`{}` is not a function call; skipped it and its file line",
                            suspect.text()
                        ),
                    })?;
                    return Ok(Step::Taken);
                }
                // The stack goes on after it: text written into the middle of the dump.
                if starts_frame(text) {
                    sink.warning(Warning {
                        offset: suspect.offset,
                        line: Some(suspect.number),
                        message: format!(
                            "`{}` is not part of a goroutine's stack (garbled text?); dropped it",
                            suspect.text()
                        ),
                    })?;
                } else {
                    return Ok(Step::EndedBefore(suspect));
                }
            } else if is_stack_line(text) {
                // Frames after the record's blank line: the header before them was garbled.
                self.orphans = Some((suspect, line.number));
                self.tb = Tb::Orphans;
                return Ok(Step::Taken);
            } else {
                return Ok(Step::EndedBefore(suspect));
            }
        }
        if let Tb::FileOf(pending) = self.tb {
            let inlined = matches!(pending, Pending::Frame | Pending::AncestorFrame)
                && traceback::is_inlined(&self.args);
            if let Some(raw) = traceback::split_file_line(text)
                && let Some(frame) =
                    traceback::frame_for(tables, &self.function, self.function_hash, inlined, &raw)
            {
                if std::mem::take(&mut self.running_after_first)
                    && pending == Pending::Frame
                    && dump.record.frames.is_empty()
                    && !in_system_call(&self.function)
                {
                    self.split_before_record(dump, tables, sink)?;
                }
                let regs = raw.regs.and_then(traceback::parse_regs);
                self.attach(dump, pending, frame, regs);
                self.last_attached = Some(frame);
                self.saw_blank = false;
                return Ok(Step::Taken);
            }
            // No file line where one belongs: keep the function without a position. An
            // indented line that is not a file line is one cut short: by the end of the
            // input, or by garbling when lines follow it.
            let frame = traceback::intern_bare_frame(tables, &self.function, inlined);
            self.attach(dump, pending, frame, None);
            self.last_attached = None;
            if text.first().is_some_and(u8::is_ascii_whitespace) {
                if line.raw.ends_with(b"\n") {
                    sink.warning(Warning {
                        offset: line.offset,
                        line: Some(line.number),
                        message: format!(
                            "`{}` is not a file line (cut short?); kept `{}` without its position",
                            String::from_utf8_lossy(text).trim(),
                            String::from_utf8_lossy(&self.function)
                        ),
                    })?;
                } else {
                    dump.record.truncated = true;
                }
                return Ok(Step::Taken);
            }
            sink.warning(Warning {
                offset: line.offset,
                line: Some(line.number),
                message: format!(
                    "`{}` has no file line before this line; kept it without its position",
                    String::from_utf8_lossy(&self.function)
                ),
            })?;
        }
        if text.is_empty() {
            if dump.record_open {
                self.finish_record(dump, tables, sink)?;
            }
            self.saw_blank = true;
            return Ok(Step::Taken);
        }
        if text[0] == b'g'
            && let Some(header) = traceback::parse_header(text)
        {
            // Go separates records with a blank line, and lists each goroutine once: a
            // header straight after a record, or of a goroutine already listed, starts
            // another dump (two `runtime.Stack` outputs appended to one file). Among the
            // thread sections of a crash, each section's one header follows its `-----` and
            // signal lines; any other header starts another dump.
            let next_dump = dump.record_open && !self.saw_blank
                || if self.thread_sections {
                    !self.section_opened
                } else {
                    self.ids.contains(&header.id)
                };
            self.finish_record(dump, tables, sink)?;
            if next_dump {
                let prefix = std::mem::take(&mut dump.prefix.bytes);
                self.end(dump, line.offset, tables, sink)?;
                self.begin(dump, prefix, line.offset, Cause::default());
            }
            // A dump lists first the goroutine that writes it, the only one running whose
            // stack it can print, but for those in a system call: another such goroutine
            // after it starts the next dump.
            self.running_after_first = !self.thread_sections
                && !self.ids.is_empty()
                && (header.state == b"running" || header.state.starts_with(b"running,"));
            self.section_opened = false;
            self.start_record(dump, &header, line, tables);
            self.saw_blank = false;
            return Ok(Step::Taken);
        }
        self.saw_blank = false;
        if self.cause_kind == CauseKind::Goleak && text == b"]" {
            return Ok(Step::Last);
        }
        let taken = match self.tb {
            Tb::Frames | Tb::Ancestor if dump.record_open => {
                if text[0] == b'\t' || text[0] == b' ' {
                    if text
                        .trim_ascii_start()
                        .starts_with(b"goroutine running on other thread")
                    {
                        dump.record.stack_unavailable = true;
                    } else {
                        sink.warning(Warning {
                            offset: line.offset,
                            line: Some(line.number),
                            message: format!(
                                "`{}` follows no function line (garbled text?); dropped it",
                                String::from_utf8_lossy(text).trim()
                            ),
                        })?;
                    }
                    return Ok(Step::Taken);
                }
                self.frame_line(dump, text)
                    // A register dump follows the last record of a signal dump directly.
                    || (self.is_interstitial(text) && {
                        self.finish_record(dump, tables, sink)?;
                        true
                    })
                    // A header at the end of a log message starts the next dump.
                    || !has_header(text) && {
                        self.suspect = Some(Box::new(Suspect {
                            raw: line.raw.to_vec(),
                            prefix_len: line.text.len() - text.len(),
                            offset: line.offset,
                            number: line.number,
                        }));
                        true
                    }
            }
            Tb::Between => {
                self.is_interstitial(text)
                    // A header at the end of a log message starts the next dump.
                    || !has_header(text) && {
                    // Whether this ends the dump or broke a header is told by the next line.
                    self.suspect = Some(Box::new(Suspect {
                        raw: line.raw.to_vec(),
                        prefix_len: line.text.len() - text.len(),
                        offset: line.offset,
                        number: line.number,
                    }));
                    true
                }
            }
            _ => false,
        };
        if taken && text == b"-----" {
            self.thread_sections = true;
            self.section_opened = true;
        }
        if taken {
            return Ok(Step::Taken);
        }
        if !line.raw.ends_with(b"\n") && !line.cut {
            // The input ends inside what would come next in the dump.
            dump.truncated = true;
            return Ok(Step::Taken);
        }
        Ok(Step::Ended)
    }

    /// Handles a line inside a record's body; false when the line is not part of it.
    #[inline]
    fn frame_line(&mut self, dump: &mut Dump, text: &[u8]) -> bool {
        let record = &mut dump.record;
        let in_ancestor = self.tb == Tb::Ancestor;
        // Most lines are function lines; the first byte rules out the other kinds cheaply.
        match text[0] {
            b'c' => {
                if let Some((function, parent)) = traceback::parse_created_by(text) {
                    self.function.clear();
                    self.function.extend_from_slice(function);
                    self.function_hash = traceback::function_hash(function);
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
                    record.ancestors.push(Ancestor {
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
                        if let Some(ancestor) = record.ancestors.last_mut() {
                            ancestor.elided = true;
                        }
                    } else {
                        record.elided = Some(match count {
                            Some(count) => Elision::Middle {
                                after: record.frames.len(),
                                count,
                            },
                            None => Elision::Tail,
                        });
                    }
                    return true;
                }
            }
            _ => {}
        }
        if let Some((function, args)) = traceback::split_function_line(text) {
            self.function.clear();
            self.function.extend_from_slice(function);
            self.function_hash = traceback::function_hash(function);
            self.args.clear();
            self.args.extend_from_slice(args);
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
    fn attach(
        &mut self,
        dump: &mut Dump,
        pending: Pending,
        frame: FrameId,
        regs: Option<FrameRegs>,
    ) {
        let record = &mut dump.record;
        match pending {
            Pending::Frame => {
                record.push_frame(frame, &self.args, regs);
                self.tb = Tb::Frames;
            }
            Pending::Creator => {
                record.created_by = Some(Creator {
                    frame,
                    parent: self.creator_parent,
                });
                self.tb = Tb::Frames;
            }
            Pending::AncestorFrame => {
                if let Some(ancestor) = record.ancestors.last_mut() {
                    ancestor.frames.push(frame);
                }
                self.tb = Tb::Ancestor;
            }
            Pending::AncestorCreator => {
                if let Some(ancestor) = record.ancestors.last_mut() {
                    ancestor.created_by = Some(frame);
                }
                self.tb = Tb::Ancestor;
            }
        }
    }

    fn finish_record(
        &mut self,
        dump: &mut Dump,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        if let Tb::FileOf(pending) = self.tb {
            let inlined = matches!(pending, Pending::Frame | Pending::AncestorFrame)
                && traceback::is_inlined(&self.args);
            let frame = traceback::intern_bare_frame(tables, &self.function, inlined);
            self.attach(dump, pending, frame, None);
            dump.record.truncated = true;
        }
        self.tb = Tb::Between;
        self.running_after_first = false;
        // Before Go 1.21 `created by` does not name the parent, but with
        // GODEBUG=tracebackancestors the first ancestor section is the goroutine that
        // started this one.
        let record = &mut dump.record;
        if let Some(creator) = record.created_by.as_mut()
            && creator.parent.is_none()
        {
            creator.parent = record.ancestors.first().map(|ancestor| ancestor.id);
        }
        dump.finish_record(self.thread_sections, tables, sink)
    }

    /// Ends the dump before the record just started, which opens the next one.
    fn split_before_record(
        &mut self,
        dump: &mut Dump,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        let offset = dump.record.offset;
        let id = dump.record.id;
        // The record and the function line read for it stay as they are.
        let tb = std::mem::replace(&mut self.tb, Tb::Between);
        dump.record_open = false;
        let prefix = std::mem::take(&mut dump.prefix.bytes);
        self.end(dump, offset, tables, sink)?;
        self.begin(dump, prefix, offset, Cause::default());
        dump.record_open = true;
        self.ids.extend(id);
        self.tb = tb;
        Ok(())
    }

    /// Warns of the frames dropped since a garbled header.
    fn drop_orphans(&mut self, sink: &mut dyn Sink) -> io::Result<()> {
        if self.tb == Tb::Orphans {
            self.tb = Tb::Between;
        }
        match self.orphans.take() {
            Some((broken, last)) => sink.warning(Warning {
                offset: broken.offset,
                line: Some(broken.number),
                message: format!(
                    "`{}` is not a goroutine header (garbled text?); dropped it and the frames after it, to line {last}",
                    broken.text()
                ),
            }),
            None => Ok(()),
        }
    }

    /// The line held back to see what follows it, if any.
    pub fn take_suspect(&mut self) -> Option<Box<Suspect>> {
        self.suspect.take()
    }

    /// At the end of the input, tells whether the record in progress was cut short, which
    /// the lines it has cannot always show.
    pub fn check_last_record(&self, dump: &mut Dump, unterminated: bool, tables: &Tables) {
        if !dump.record_open {
            return;
        }
        let record = &mut dump.record;
        // Every goroutine prints at least one frame: one that ends the input without any
        // was cut right after its header.
        if record.frames.is_empty() && !record.stack_unavailable {
            record.truncated = true;
        }
        // Every frame that is not inlined prints a `+0x` offset, so a last file line
        // without one was cut inside its line number.
        if let Some(frame) = self.last_attached.map(|f| tables.get_frame(f))
            && unterminated
            && frame.offset.is_none()
            && !frame.inlined
        {
            record.truncated = true;
        }
    }

    /// Ends the dump before the byte at `end`.
    pub fn end(
        &mut self,
        dump: &mut Dump,
        end: u64,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        self.drop_orphans(sink)?;
        self.finish_record(dump, tables, sink)?;
        if end.saturating_sub(dump.offset) == DEBUG2_CAP {
            dump.truncated = true;
            sink.warning(Warning {
                offset: end,
                line: None,
                message: "the dump is exactly 64 MiB: runtime/pprof cuts debug=2 output at that size, so goroutines are probably missing; the count from ?debug=1 or ?debug=0 is complete".into(),
            })?;
        }
        dump.close(tables, sink)
    }
}

/// Whether a goroutine's innermost function is the entry of a system call or a cgo call. Such
/// a goroutine keeps running while the world is stopped for a dump, and Go 1.27 prints it
/// `[running]` with its whole stack (`syscall.Syscall` of an HTTP connection's background
/// read): a running goroutine after the dump's writer that is not a second dump's writer.
fn in_system_call(function: &[u8]) -> bool {
    const PACKAGES: [&[u8]; 6] = [
        b"syscall.",
        b"internal/runtime/syscall.",
        b"runtime/internal/syscall.",
        b"internal/syscall/",
        b"golang.org/x/sys/unix.",
        b"golang.org/x/sys/windows.",
    ];
    PACKAGES.iter().any(|p| function.starts_with(p))
        || function == b"runtime.cgocall"
        || function == b"runtime.asmcgocall"
        || memchr::memmem::find(function, b"._Cfunc_").is_some()
}

/// A line that begins a frame: a function line or `created by`.
fn starts_frame(text: &[u8]) -> bool {
    traceback::split_function_line(text).is_some() || text.starts_with(b"created by ")
}

/// A line of a goroutine's stack other than its header.
fn is_stack_line(text: &[u8]) -> bool {
    starts_frame(text)
        || traceback::parse_file_line(text).is_some()
        || traceback::parse_ancestor_header(text).is_some()
        || traceback::parse_elision(text).is_some()
}

/// Whether a line holds a goroutine header after other text.
fn has_header(text: &[u8]) -> bool {
    memchr::memmem::find_iter(text, b"goroutine ")
        .any(|at| traceback::parse_header(&text[at..]).is_some())
}

impl TracebackDump {
    /// Lines the runtime prints between the records of one dump.
    fn is_interstitial(&self, text: &[u8]) -> bool {
        preamble::is_goleak_element(text)
            || is_register_line(text)
            || text == b"-----"
            // GOTRACEBACK=crash repeats the signal's lines for every thread after a
            // `-----`; anywhere else they start another dump.
            || self.section_opened
                && (text.starts_with(b"PC=")
                    || text.starts_with(b"signal arrived during")
                    || (text.starts_with(b"SIG") && preamble::message(text).is_some()))
    }
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
