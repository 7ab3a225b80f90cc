//! What the parsers produce: one [`Record`] per goroutine (tracebacks) or per distinct
//! stack (aggregated profiles), plus the facts about the dump it came from.
//!
//! Records are handed to a [`crate::Sink`] one at a time and reused by the parser, so
//! reading a dump never needs memory in proportion to its size; a sink keeps what it
//! needs (see [`crate::group::Grouper`]).

use crate::intern::{FrameId, LabelSetId, StackId, Sym};

/// A goroutine's state: as the traceback header prints it, taken apart, or as an execution
/// trace left it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The wait reason or status without annotations: `chan receive`, `IO wait`, `running`,
    /// `chan receive (nil chan)`. `(leaked)`, `(scan)` and `(durable)` are in the flags.
    /// `None` where the input has no words for it (an execution trace).
    pub reason: Option<Sym>,
    /// What the goroutine waits for, where the input says so as an operation rather than in
    /// words: an execution trace's block reason, read with the stack. Classification
    /// prefers it to `reason` and the stack. Tracebacks leave it `None`.
    pub blocking: Option<Blocking>,
    /// `(leaked)`: the runtime's goroutine leak detector proved it can never run again.
    pub leaked: bool,
    /// `(scan)`: the GC was scanning its stack.
    pub scan: bool,
    /// `(durable)`: durably blocked inside a `testing/synctest` bubble.
    pub durable: bool,
    /// `, locked to thread`.
    pub locked_to_thread: bool,
    /// `, N minutes`. The runtime stamps this at GC time, so it is a coarse lower bound at
    /// best; see `docs/formats.md`.
    pub wait_minutes: Option<u32>,
    /// `, synctest bubble N`.
    pub synctest_bubble: Option<u64>,
}

/// What a goroutine is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blocking {
    /// `<-ch`.
    ChanReceive,
    /// `ch <- v`.
    ChanSend,
    /// A send or a receive: debug=1 hides the runtime frames that would tell which.
    ChanOp,
    /// A receive on a nil channel: forever.
    ChanReceiveNil,
    /// A send on a nil channel: forever.
    ChanSendNil,
    /// `select` with cases.
    Select,
    /// `select {}`: forever.
    SelectNoCases,
    /// `sync.WaitGroup.Wait`.
    WaitGroup,
    /// `sync.Mutex.Lock`.
    Mutex,
    /// `sync.RWMutex.RLock`.
    RWMutexRead,
    /// `sync.RWMutex.Lock`.
    RWMutexWrite,
    /// `sync.Cond.Wait`.
    Cond,
    /// Another semaphore.
    Semaphore,
    /// `time.Sleep`.
    Sleep,
    /// Waiting for the network poller: sockets, pipes.
    IoWait,
    /// In a system call or C code.
    Syscall,
    /// Running on a thread.
    Running,
    /// Ready to run.
    Runnable,
    /// One of the runtime's own waits (GC, finalizers, scavenger…).
    Runtime,
    /// Not known.
    Unknown,
}

impl Blocking {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Blocking::ChanReceive => "chan receive",
            Blocking::ChanSend => "chan send",
            Blocking::ChanOp => "chan send or receive",
            Blocking::ChanReceiveNil => "chan receive (nil chan)",
            Blocking::ChanSendNil => "chan send (nil chan)",
            Blocking::Select => "select",
            Blocking::SelectNoCases => "select (no cases)",
            Blocking::WaitGroup => "sync.WaitGroup.Wait",
            Blocking::Mutex => "sync.Mutex.Lock",
            Blocking::RWMutexRead => "sync.RWMutex.RLock",
            Blocking::RWMutexWrite => "sync.RWMutex.Lock",
            Blocking::Cond => "sync.Cond.Wait",
            Blocking::Semaphore => "semacquire",
            Blocking::Sleep => "sleep",
            Blocking::IoWait => "IO wait",
            Blocking::Syscall => "syscall",
            Blocking::Running => "running",
            Blocking::Runnable => "runnable",
            Blocking::Runtime => "runtime",
            Blocking::Unknown => "unknown",
        }
    }

    /// Whether nothing but another goroutine can end the wait: channels, selects and sync
    /// primitives, not timers, I/O or system calls.
    pub fn needs_another_goroutine(self) -> bool {
        matches!(
            self,
            Blocking::ChanReceive
                | Blocking::ChanSend
                | Blocking::ChanOp
                | Blocking::ChanReceiveNil
                | Blocking::ChanSendNil
                | Blocking::Select
                | Blocking::SelectNoCases
                | Blocking::WaitGroup
                | Blocking::Mutex
                | Blocking::RWMutexRead
                | Blocking::RWMutexWrite
                | Blocking::Cond
        )
    }

    /// Whether the wait can never end, whatever other goroutines do.
    pub fn is_forever(self) -> bool {
        matches!(
            self,
            Blocking::ChanReceiveNil | Blocking::ChanSendNil | Blocking::SelectNoCases
        )
    }
}

/// The `gp= m= mp=` part of a level-2 traceback header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Address of the `g`.
    pub gp: u64,
    /// The M running it, `None` for `m=nil`.
    pub m: Option<u64>,
    /// Address of the M, printed when `m` is not nil.
    pub mp: Option<u64>,
}

/// The `fp= sp= pc=` suffix of a level-2 traceback file line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRegs {
    /// Frame pointer.
    pub fp: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Program counter; Go 1.10 and older do not print it.
    pub pc: Option<u64>,
}

/// Where frames were left out of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elision {
    /// Go 1.21+: `...N frames elided...` between the innermost 50 and the outermost 50
    /// frames; `after` is how many frames come before the marker.
    Middle {
        /// Frames printed before the marker.
        after: usize,
        /// How many frames were left out.
        count: u64,
    },
    /// Go ≤1.20 and ancestor sections: `...additional frames elided...`, the outermost frames
    /// are lost.
    Tail,
}

/// The `created by` of a goroutine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creator {
    /// The function holding the `go` statement, and the line of that statement.
    pub frame: FrameId,
    /// `in goroutine N` (Go 1.21+): the goroutine that ran the `go` statement. It may have
    /// exited long ago.
    pub parent: Option<u64>,
}

/// One `[originating from goroutine N]:` section (`GODEBUG=tracebackancestors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    /// The ancestor goroutine's id.
    pub id: u64,
    /// Its stack when it created the next goroutine of the chain. Lines point just after the
    /// `go` statement: the runtime records return addresses here.
    pub frames: Vec<FrameId>,
    /// The section ended with `...additional frames elided...`.
    pub elided: bool,
    /// Who created the ancestor (never carries a parent id; the next section gives it).
    pub created_by: Option<FrameId>,
}

/// One goroutine of a traceback, or one `count @ …` record of an aggregated profile.
///
/// The parser reuses one `Record` for every goroutine; clone it to keep it.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// How many goroutines this record stands for: 1 in a traceback, the sample value in
    /// debug=1 and debug=0 profiles.
    pub count: u64,
    /// The goroutine id; `None` in aggregated profiles.
    pub id: Option<u64>,
    /// The header state; `None` in aggregated profiles, which carry none.
    pub state: Option<State>,
    /// `gp= m= mp=`, printed at traceback level 2 (SIGQUIT, GOTRACEBACK=system/crash).
    pub thread: Option<ThreadInfo>,
    /// pprof labels.
    pub labels: LabelSetId,
    /// The stack, innermost first, exactly as printed.
    pub frames: Vec<FrameId>,
    /// The raw argument text of all frames, see [`Record::args`].
    pub(crate) args_text: Vec<u8>,
    /// Where each frame's arguments end in `args_text`, parallel to `frames`.
    pub(crate) args_ends: Vec<u32>,
    /// `fp= sp= pc=` of each frame, parallel to `frames` when the dump prints them (level 2);
    /// empty otherwise.
    pub regs: Vec<Option<FrameRegs>>,
    /// Program counters: the `@` list of debug=1 (return addresses, including the hidden
    /// runtime frames), or the location addresses of debug=0.
    pub pcs: Vec<u64>,
    /// Frames left out by the runtime.
    pub elided: Option<Elision>,
    /// `created by`.
    pub created_by: Option<Creator>,
    /// `[originating from goroutine N]:` sections, nearest ancestor first.
    pub ancestors: Vec<Ancestor>,
    /// `goroutine running on other thread; stack unavailable`.
    pub stack_unavailable: bool,
    /// The record was cut short: the input ended (or other text began) in the middle of it.
    pub truncated: bool,
    /// Byte offset of the record's first line in the input.
    pub offset: u64,
    /// 1-based line number of the record's first line in the input.
    pub line: u64,
}

impl Record {
    /// The raw argument text of frame `index` (`0x1?, {0x2, 0x3}`, `...` when inlined);
    /// empty where the format prints none.
    pub fn args(&self, index: usize) -> &[u8] {
        let Some(&end) = self.args_ends.get(index) else {
            return &[];
        };
        let start = if index == 0 {
            0
        } else {
            self.args_ends[index - 1]
        };
        &self.args_text[start as usize..end as usize]
    }

    #[inline]
    pub(crate) fn push_frame(&mut self, frame: FrameId, args: &[u8], regs: Option<FrameRegs>) {
        self.frames.push(frame);
        self.args_text.extend_from_slice(args);
        self.args_ends.push(self.args_text.len() as u32);
        // Level-1 dumps have no registers: keep `regs` empty rather than full of `None`.
        if regs.is_some() || !self.regs.is_empty() {
            self.regs.resize(self.frames.len() - 1, None);
            self.regs.push(regs);
        }
    }

    /// Resets the record for reuse, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.count = 0;
        self.id = None;
        self.state = None;
        self.thread = None;
        self.labels = LabelSetId::EMPTY;
        self.frames.clear();
        self.args_text.clear();
        self.args_ends.clear();
        self.regs.clear();
        self.pcs.clear();
        self.elided = None;
        self.created_by = None;
        self.ancestors.clear();
        self.stack_unavailable = false;
        self.truncated = false;
        self.offset = 0;
        self.line = 0;
    }
}

/// Which Go output a dump was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Traceback text: `runtime.Stack`, `?debug=2`, panics, fatal errors, SIGQUIT, goleak
    /// messages.
    Traceback,
    /// The aggregated `?debug=1` text profile.
    Debug1,
    /// The `?debug=0` protobuf profile (profile.proto), gzipped or raw.
    Proto,
}

impl Format {
    /// The name used in JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Traceback => "traceback",
            Format::Debug1 => "debug1",
            Format::Proto => "proto",
        }
    }
}

/// Which profile an aggregated dump holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// All goroutines.
    #[default]
    Goroutine,
    /// Go 1.26+ `goroutineleak`: in debug=0/1 only the goroutines the runtime proved leaked.
    GoroutineLeak,
}

/// Why a traceback was printed, read from the lines before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cause {
    /// What happened.
    pub kind: CauseKind,
    /// The first line of the message: the panic value, the fatal error, the signal.
    pub message: String,
    /// Further preamble lines (`\tpanic: …` of nested panics, `[signal …]`, `running tests:`),
    /// trimmed.
    pub details: Vec<String>,
    /// Tests named under `running tests:` by `go test -timeout`.
    pub running_tests: Vec<String>,
    /// The `runtime stack:` of a fatal error: the system stack of the thread that threw.
    pub runtime_stack: Option<StackId>,
}

/// The kinds of [`Cause`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CauseKind {
    /// No preamble: `runtime.Stack`, `?debug=2`.
    #[default]
    Dump,
    /// `panic: …`.
    Panic,
    /// `panic: test timed out after …` from `go test -timeout`.
    TestTimeout,
    /// `fatal error: …`, including `all goroutines are asleep - deadlock!`.
    Fatal,
    /// A fatal signal: `SIGQUIT: quit`, `SIGSEGV: segmentation violation`.
    Signal,
    /// goleak's `found unexpected goroutines:` message.
    Goleak,
}

impl CauseKind {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::Dump => "dump",
            CauseKind::Panic => "panic",
            CauseKind::TestTimeout => "test_timeout",
            CauseKind::Fatal => "fatal_error",
            CauseKind::Signal => "signal",
            CauseKind::Goleak => "goleak",
        }
    }
}

/// Facts about one dump, given to the sink when the dump starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpInfo {
    /// The format.
    pub format: Format,
    /// Which profile (aggregated formats).
    pub profile: Profile,
    /// The preamble, for tracebacks.
    pub cause: Cause,
    /// `goroutine profile: total N` / the sum of a profile's samples: the runtime's own count.
    pub declared_total: Option<u64>,
    /// Capture time of a protobuf profile, nanoseconds since the Unix epoch.
    pub time_nanos: Option<i64>,
    /// Byte offset where the dump starts.
    pub offset: u64,
    /// Line prefix that was stripped from every line of the dump (timestamps, indentation).
    pub prefix: Option<String>,
}

/// A data race report from the race detector (`WARNING: DATA RACE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceReport {
    /// The sections of the report in order: the two accesses, then where each goroutine was
    /// created, and any location notes.
    pub sections: Vec<RaceSection>,
    /// Byte offset of the report.
    pub offset: u64,
}

/// One section of a [`RaceReport`]: a title line followed by a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceSection {
    /// The title line without its trailing colon: `Write at 0x00c000100018 by goroutine 10`.
    pub title: String,
    /// What the section says.
    pub kind: RaceSectionKind,
    /// The goroutine the section is about, when it names one (`main goroutine` is 1).
    pub goroutine: Option<u64>,
    /// The stack printed under the title, innermost first.
    pub stack: StackId,
}

/// The kinds of [`RaceSection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaceSectionKind {
    /// A memory access: `Write at …`, `Previous read at …`.
    Access {
        /// A write, not a read.
        write: bool,
        /// `Previous …`: the earlier of the two accesses.
        previous: bool,
    },
    /// `Goroutine N (running|finished) created at:`.
    Creation {
        /// The goroutine had finished when the race was reported.
        finished: bool,
    },
    /// Anything else (`Location is heap block …`).
    Other,
}

/// A problem with the input that did not stop the parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Byte offset in the input.
    pub offset: u64,
    /// 1-based line number, when the input is text.
    pub line: Option<u64>,
    /// What happened and what was salvaged.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => write!(f, "byte {}: {}", self.offset, self.message),
        }
    }
}
