//! Goroutine lifecycles from a Go execution trace (format v2: Go 1.22 through 1.27).
//!
//! A test binary run with `-test.trace=FILE` records every goroutine it creates, with the
//! stack of the `go` statement and the goroutine that ran it, every block and unblock, and
//! every exit. [`parse`] turns such a trace into one [`Goroutine`] per goroutine id: how it
//! came to be, and where it was when the trace ended. Goroutines that already existed when
//! tracing started are known from the status events the runtime writes for every live
//! goroutine in every generation of the trace.
//!
//! [`attribute`] then finds, for each goroutine still alive at the end, the test that
//! started it: it follows creator links up to the goroutine that ran the test
//! (`testing.tRunner`), and names that goroutine from the order of the binary's `=== RUN`
//! events ([`TestEvent`]: decoded from `go test -json`, or read from the binary's `-test.v`
//! output by [`test_events`]).
//!
//! [`leftovers`] goes on to what the binary left behind: each goroutine alive at the end,
//! with its test and the `go` statements that led to it, left over (as a
//! [`crate::model::Record`] saying what it waits for, to be grouped and judged) or not
//! judged, by how the trace left it. When the binary crashed and its trace stops short,
//! [`read_crash`] reads the goroutine dump the crash printed and [`Crash::leftovers`] does
//! the same from it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use goleash_core::{Tables, trace};
//!
//! let bytes = std::fs::read("pkg.trace")?;
//! let output = std::fs::read("pkg.out")?; // the binary's -test.v=test2json output
//! let mut tables = Tables::new();
//! let parsed = trace::parse(&bytes, &mut tables)?;
//! if let Some(why) = &parsed.incomplete {
//!     eprintln!("partial trace: {why}");
//! }
//! let attribution = trace::attribute(&parsed, &tables, &trace::test_events(&output));
//! for leak in &attribution.leaks {
//!     let g = parsed.goroutine(leak.goroutine).unwrap();
//!     println!(
//!         "goroutine {} ({:?}) leaked by {}",
//!         g.id,
//!         g.state,
//!         leak.test.as_deref().unwrap_or("?")
//!     );
//! }
//! # Ok(()) }
//! ```
//!
//! # Versions
//!
//! The header names the format, not the Go release: Go 1.22 writes `go 1.22`, Go 1.23 and
//! 1.24 write `go 1.23`, Go 1.25 writes `go 1.25`, Go 1.26 and 1.27 write `go 1.26`. The
//! v1 format of Go 1.21 and older is rejected with [`TraceError::OldVersion`].
//!
//! # Broken and truncated traces
//!
//! A trace is read one generation at a time (the runtime starts a new one about every
//! second). If a generation cannot be read (the program died before flushing it, or the
//! bytes are damaged) or its events contradict each other, parsing stops there and the
//! result keeps everything before that point, with the reason in [`Trace::incomplete`].
//! The states are then those of the last good point, so a goroutine may look alive that
//! in fact exited later: callers must not report leaks from an incomplete trace as
//! certain. When not even the first generation can be read, [`parse`] fails.
//!
//! No version of the format marks the end of the trace, so a trace cut exactly between
//! two generations reads as a complete, shorter one. Trust a trace only from a program
//! that stopped tracing: a test binary that exited normally, or that `-test.timeout`
//! stopped (the timeout stops the trace before it panics).
//!
//! Memory stays proportional to the input: the input is held in memory, batches and
//! strings are slices of it, and every length is checked against the runtime's own limits
//! before anything is allocated for it.

mod attribute;
mod chain;
mod crash;
mod leftovers;
mod order;
mod outcome;
mod record;
mod testlog;
mod wire;

use std::io::Read;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::intern::{Frame, FrameId, StackId, Sym, Tables};

pub use attribute::{Attribution, Leak, TestGoroutine, attribute};
pub use chain::Link;
pub use crash::{Crash, read_crash};
pub use leftovers::{Leftover, Leftovers, Site, Unjudged, leftovers};
pub use outcome::{BinaryOutcome, Evidence, FailureKind};
pub use testlog::{TestAction, TestEvent, test_events};

use order::{GStatus, Ordering, Step};
use wire::{Generation, RawFrame};

/// The trace format version named in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `go 1.22`: written by Go 1.22.
    Go122,
    /// `go 1.23`: written by Go 1.23 and 1.24. Adds coroutine switches and stacks in
    /// goroutine statuses.
    Go123,
    /// `go 1.25`: written by Go 1.25. The clock frequency moves into sync batches with a
    /// clock snapshot.
    Go125,
    /// `go 1.26`: written by Go 1.26 and 1.27. Generations end with an explicit marker.
    Go126,
}

impl Version {
    /// The version as the header spells it: `go 1.22`.
    pub fn name(self) -> &'static str {
        match self {
            Version::Go122 => "go 1.22",
            Version::Go123 => "go 1.23",
            Version::Go125 => "go 1.25",
            Version::Go126 => "go 1.26",
        }
    }
}

/// Why a trace could not be read, or where reading it stopped.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The input does not start with a trace header.
    #[error("not a Go execution trace: no `go 1.N trace` header")]
    NotATrace,
    /// A trace in the v1 format of Go 1.21 and older.
    #[error(
        "this trace is in the format of Go 1.{0}, which is not supported: run the program with Go 1.22 or newer"
    )]
    OldVersion(u32),
    /// A version this reader does not know.
    #[error(
        "unknown execution trace version `go 1.{0}`: supported are the versions Go 1.22 to 1.27 write (1.22, 1.23, 1.25, 1.26)"
    )]
    UnknownVersion(u32),
    /// The input ends early.
    #[error("truncated trace: {message}")]
    Truncated {
        /// Where reading stopped in the (decompressed) input: its end, or the end of the
        /// generation that lacks an event every generation has.
        offset: u64,
        /// How.
        message: String,
    },
    /// Bytes that are not a well-formed trace.
    #[error("malformed trace at byte {offset}: {message}")]
    Malformed {
        /// Offset in the (decompressed) input.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// Events that contradict each other: no scheduler could have produced them.
    #[error("inconsistent trace in generation {generation} (event at byte {offset}): {message}")]
    Inconsistent {
        /// The trace's generation number.
        generation: u64,
        /// Offset of the event in the (decompressed) input.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// The input holds a header and nothing else.
    #[error("the trace has no events: the traced program probably exited before flushing it")]
    NoData,
    /// [`read`] found more bytes than its limit.
    #[error("the trace is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the input failed.
    #[error("reading the trace failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A goroutine's state when the trace ended (or at its last event, see [`Goroutine::since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GoState {
    /// Created during the trace and never ran.
    NotStarted,
    /// Ready to run, waiting for a thread.
    Runnable,
    /// Running on a thread.
    Running,
    /// In a system call (or a cgo call).
    Syscall,
    /// Blocked: on a channel, a lock, a timer, the network …; see [`Goroutine::reason`].
    Blocked,
    /// It returned (or called `runtime.Goexit`).
    Exited,
}

impl GoState {
    /// The name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            GoState::NotStarted => "not_started",
            GoState::Runnable => "runnable",
            GoState::Running => "running",
            GoState::Syscall => "syscall",
            GoState::Blocked => "blocked",
            GoState::Exited => "exited",
        }
    }
}

/// How a goroutine came to be, for goroutines created while the trace ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creation {
    /// When, in nanoseconds on the trace clock (see [`Trace::start_time`]).
    pub time: u64,
    /// The goroutine that ran the `go` statement. `None` when the runtime created it
    /// outside any goroutine, and for the goroutines that cgo callbacks get on threads Go
    /// did not create.
    pub parent: Option<u64>,
    /// The stack of the `go` statement, innermost frame first: the first frame is the
    /// function holding the statement, at its line.
    pub stack: Option<StackId>,
}

/// One goroutine of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goroutine {
    /// The goroutine id. Go never reuses one, except for the goroutines that run cgo
    /// callbacks on threads C created: the runtime pools those, ids and all, and this record
    /// describes the latest callback.
    pub id: u64,
    /// How it was created; `None` for goroutines that existed when tracing started.
    pub creation: Option<Creation>,
    /// The function the goroutine runs, as a one-frame stack at the function's first
    /// line; from its creation event.
    pub start_stack: Option<StackId>,
    /// For goroutines that existed when tracing started: their stack then, from their
    /// first status event (Go 1.23 and newer write one for goroutines that are not running).
    pub initial_stack: Option<StackId>,
    /// Its state at the end of the trace.
    pub state: GoState,
    /// When it entered `state`, in nanoseconds on the trace clock. For goroutines that never
    /// changed state while traced, the time of their first status event.
    pub since: u64,
    /// Why it is in `state`: the block reason for [`GoState::Blocked`] (`chan receive`,
    /// `sync`, `select`, `sleep` …, the runtime's trace block reasons), the stop reason for
    /// a goroutine that was preempted or yielded (`preempted`, `GoSched`). `None` when the
    /// trace does not say, such as for goroutines that blocked before tracing started.
    pub reason: Option<Sym>,
    /// Where it is, innermost frame first, when the trace has it: the stack at the block
    /// for [`GoState::Blocked`], at the stop or where it will resume for
    /// [`GoState::Runnable`], at the system call for [`GoState::Syscall`], the status stack
    /// for goroutines that never changed state. `None` for running and exited goroutines.
    pub stack: Option<StackId>,
    /// When it first ran while traced.
    pub first_run: Option<u64>,
    /// When it last blocked while traced. With [`Goroutine::since`] this tells a goroutine
    /// woken once (by the end of its test, say) from one that keeps blocking and waking (a
    /// ticker loop) when both are caught runnable at the end.
    pub last_blocked: Option<u64>,
}

impl Goroutine {
    fn new(id: u64, time: u64, state: GoState) -> Self {
        Goroutine {
            id,
            creation: None,
            start_stack: None,
            initial_stack: None,
            state,
            since: time,
            reason: None,
            stack: None,
            first_run: None,
            last_blocked: None,
        }
    }

    /// It exited before the trace ended.
    pub fn exited(&self) -> bool {
        self.state == GoState::Exited
    }

    /// The goroutine's parent, if the trace saw it being created by one.
    pub fn parent(&self) -> Option<u64> {
        self.creation.and_then(|c| c.parent)
    }

    /// Every stack the trace holds for this goroutine: creation, start, initial, current.
    pub fn stacks(&self) -> impl Iterator<Item = StackId> + '_ {
        [
            self.creation.and_then(|c| c.stack),
            self.start_stack,
            self.initial_stack,
            self.stack,
        ]
        .into_iter()
        .flatten()
    }

    /// The function the goroutine runs: the frame of [`Goroutine::start_stack`], else the
    /// outermost frame of its initial stack (below `runtime.goexit`).
    pub fn start_function<'t>(&self, tables: &'t Tables) -> Option<&'t [u8]> {
        if let Some(stack) = self.start_stack {
            return tables
                .frames(stack)
                .first()
                .map(|&f| tables.bytes(tables.get_frame(f).function));
        }
        let stack = self.initial_stack?;
        tables
            .frames(stack)
            .iter()
            .rev()
            .map(|&f| tables.bytes(tables.get_frame(f).function))
            .find(|&name| name != b"runtime.goexit")
    }

    /// A goroutine of the runtime itself (GC workers, the finalizer and cleanup goroutines,
    /// the scavenger, the trace reader …), judged by the function it runs: anything in
    /// package `runtime` but `runtime.main` and the coroutines of `iter.Pull`
    /// (`runtime.corostart`), and `runtime/trace`'s writer. Such goroutines
    /// are created by whichever goroutine happened to need them, so they are never a test's
    /// leak. `false` when the function is unknown.
    pub fn is_runtime(&self, tables: &Tables) -> bool {
        self.start_function(tables).is_some_and(is_runtime_function)
    }

    /// The innermost frame of [`Goroutine::stack`] that is not in the runtime: the code
    /// that blocked, slept or called into the system. `None` without a stack.
    pub fn blocking_frame<'t>(&self, tables: &'t Tables) -> Option<&'t Frame> {
        let stack = self.stack?;
        let frames = tables.frames(stack);
        frames
            .iter()
            .map(|&f| tables.get_frame(f))
            .find(|f| !is_runtime_internal(tables.bytes(f.function)))
            .or_else(|| frames.first().map(|&f| tables.get_frame(f)))
    }
}

/// Functions of the runtime's own goroutines. `runtime.main` runs `main.main`, and
/// `runtime.corostart` the coroutine of an `iter.Pull`: user code.
fn is_runtime_function(name: &[u8]) -> bool {
    (name.starts_with(b"runtime.") && name != b"runtime.main" && name != b"runtime.corostart")
        || name.starts_with(b"runtime/trace.")
}

/// Frames that are the machinery of blocking rather than the code that blocked: the
/// runtime and the runtime side of `sync` and `time`.
fn is_runtime_internal(name: &[u8]) -> bool {
    name.starts_with(b"runtime.") || name.starts_with(b"internal/") || name.starts_with(b"sync.")
}

/// A parsed trace: every goroutine it mentions, by id.
#[derive(Debug)]
pub struct Trace {
    /// The format version.
    pub version: Version,
    /// Every goroutine, sorted by id.
    pub goroutines: Vec<Goroutine>,
    /// When tracing started, in nanoseconds on the trace clock (a monotonic clock with an
    /// arbitrary origin; all times of the trace are on it).
    pub start_time: u64,
    /// The time of the last event read: the end of the trace.
    pub end_time: u64,
    /// How many generations were read completely.
    pub generations: u64,
    /// Why reading stopped before the end of the input, if it did: the states are then
    /// those at the point where it stopped (see the module documentation).
    pub incomplete: Option<TraceError>,
}

impl Trace {
    /// The goroutine with this id.
    pub fn goroutine(&self, id: u64) -> Option<&Goroutine> {
        self.goroutines
            .binary_search_by_key(&id, |g| g.id)
            .ok()
            .map(|i| &self.goroutines[i])
    }

    /// Goroutines that had not exited when the trace ended.
    pub fn alive_at_end(&self) -> impl Iterator<Item = &Goroutine> {
        self.goroutines.iter().filter(|g| !g.exited())
    }

    /// The chain of creators of goroutine `id`: its parent, the parent's parent, and so on
    /// up to a goroutine whose creation the trace did not see (one that existed when
    /// tracing started). Empty for such goroutines themselves and for unknown ids.
    pub fn creators(&self, id: u64) -> Vec<u64> {
        let mut chain = Vec::new();
        // A creator exists before what it creates, so chains end; only a damaged trace
        // that reuses ids can make a loop.
        let mut seen = FxHashSet::default();
        seen.insert(id);
        let mut current = self.goroutine(id);
        while let Some(parent) = current.and_then(Goroutine::parent) {
            if !seen.insert(parent) {
                break;
            }
            chain.push(parent);
            current = self.goroutine(parent);
        }
        chain
    }

    /// Goroutines any of whose stacks ([`Goroutine::stacks`]) has a frame of `function`,
    /// named as Go prints it (`testing.tRunner`, `net/http.(*Server).Serve`).
    pub fn with_function<'a>(
        &'a self,
        tables: &'a Tables,
        function: &'a str,
    ) -> impl Iterator<Item = &'a Goroutine> + 'a {
        self.goroutines.iter().filter(move |g| {
            g.stacks()
                .any(|s| stack_has_function(tables, s, function.as_bytes()))
        })
    }
}

/// Whether a stack has a frame of `function`.
pub fn stack_has_function(tables: &Tables, stack: StackId, function: &[u8]) -> bool {
    tables
        .frames(stack)
        .iter()
        .any(|&f| tables.bytes(tables.get_frame(f).function) == function)
}

/// Limits for [`read`].
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// Largest trace accepted, after decompression: it is parsed in memory. Default 1 GiB.
    pub max_bytes: u64,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions { max_bytes: 1 << 30 }
    }
}

/// Reads a whole trace, gzipped or not, and parses it (see [`parse`]).
pub fn read(
    input: impl Read,
    options: &TraceOptions,
    tables: &mut Tables,
) -> Result<Trace, TraceError> {
    let mut input = input;
    let mut head = [0u8; 2];
    let mut len = 0;
    while len < head.len() {
        match input.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let chained = std::io::Cursor::new(head[..len].to_vec()).chain(input);
    let mut bytes = Vec::new();
    let limit = options.max_bytes;
    if head[..len] == [0x1f, 0x8b] {
        flate2::read::MultiGzDecoder::new(chained)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)?;
    } else {
        chained
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > limit {
        return Err(TraceError::TooLarge { limit });
    }
    parse(&bytes, tables)
}

/// Parses a trace held in memory. Stacks and strings are interned in `tables`.
///
/// Fails only when the input is not a supported trace or holds no readable generation;
/// any later problem stops the parse and is reported in [`Trace::incomplete`].
pub fn parse(input: &[u8], tables: &mut Tables) -> Result<Trace, TraceError> {
    let version = wire::read_header(input)?;
    let mut generations = wire::Generations::new(input, version);
    let mut ordering = Ordering::default();
    let mut builder = Builder::new(tables);
    let mut trace = Trace {
        version,
        goroutines: Vec::new(),
        start_time: 0,
        end_time: 0,
        generations: 0,
        incomplete: None,
    };
    let mut read_any = false;
    let mut last_time = 0;
    loop {
        let generation = match generations.next_generation() {
            Ok(Some(generation)) => generation,
            Ok(None) => break,
            Err(e) => {
                trace.incomplete = Some(e);
                break;
            }
        };
        if !read_any {
            trace.start_time = wire::ticks_to_ns(generation.min_time, generation.ns_per_tick);
            last_time = trace.start_time;
            read_any = true;
        }
        builder.stack_cache.clear();
        builder.string_cache.clear();
        let ordered = order::order_generation(
            &mut ordering,
            &generation,
            &mut last_time,
            |time, offset, step| builder.apply(&generation, time, offset, step),
        );
        if let Err(e) = ordered {
            trace.incomplete = Some(e);
            break;
        }
        trace.generations += 1;
    }
    if !read_any {
        return Err(trace.incomplete.unwrap_or(TraceError::NoData));
    }
    trace.end_time = last_time;
    trace.goroutines = builder.finish();
    Ok(trace)
}

/// Applies ordered steps to the goroutine records.
struct Builder<'t> {
    tables: &'t mut Tables,
    goroutines: Vec<Goroutine>,
    index: FxHashMap<u64, usize>,
    /// The generation's stack and string IDs already interned.
    stack_cache: FxHashMap<u64, StackId>,
    string_cache: FxHashMap<u64, Sym>,
    raw_frames: Vec<RawFrame>,
    frame_ids: Vec<FrameId>,
}

impl<'t> Builder<'t> {
    fn new(tables: &'t mut Tables) -> Self {
        Builder {
            tables,
            goroutines: Vec::new(),
            index: FxHashMap::default(),
            stack_cache: FxHashMap::default(),
            string_cache: FxHashMap::default(),
            raw_frames: Vec::new(),
            frame_ids: Vec::new(),
        }
    }

    fn finish(mut self) -> Vec<Goroutine> {
        self.goroutines.sort_by_key(|g| g.id);
        self.goroutines
    }

    /// A fresh record for `id`, replacing an exited one.
    fn create(&mut self, id: u64, time: u64, state: GoState) -> &mut Goroutine {
        let record = Goroutine::new(id, time, state);
        let i = match self.index.get(&id) {
            Some(&i) => {
                self.goroutines[i] = record;
                i
            }
            None => {
                self.goroutines.push(record);
                self.index.insert(id, self.goroutines.len() - 1);
                self.goroutines.len() - 1
            }
        };
        &mut self.goroutines[i]
    }

    fn apply(
        &mut self,
        generation: &Generation<'_>,
        time: u64,
        offset: usize,
        step: &Step,
    ) -> Result<(), TraceError> {
        let at = At {
            gen_id: generation.gen_id,
            offset: offset as u64,
        };
        match *step {
            Step::Status { g, status, stack } => {
                let stack = self.stack(generation, stack, at)?;
                let state = match status {
                    GStatus::Runnable => GoState::Runnable,
                    GStatus::Running => GoState::Running,
                    GStatus::Syscall => GoState::Syscall,
                    GStatus::Waiting => GoState::Blocked,
                };
                // Go writes a status stack only for goroutines that are not running; a
                // running or exited goroutine is nowhere, whatever damaged bytes say.
                let somewhere = |state| !matches!(state, GoState::Running | GoState::Exited);
                match self.index.get(&g) {
                    Some(&i) => {
                        let record = &mut self.goroutines[i];
                        if record.stack.is_none() && somewhere(record.state) {
                            record.stack = stack;
                        }
                    }
                    None => {
                        let record = self.create(g, time, state);
                        record.initial_stack = stack;
                        record.stack = stack.filter(|_| somewhere(state));
                    }
                }
            }
            Step::Create {
                g,
                parent,
                start_stack,
                stack,
                blocked,
            } => {
                let start_stack = self.stack(generation, start_stack, at)?;
                let stack = self.stack(generation, stack, at)?;
                let state = if blocked {
                    GoState::Blocked
                } else {
                    GoState::NotStarted
                };
                let record = self.create(g, time, state);
                record.creation = Some(Creation {
                    time,
                    parent,
                    stack,
                });
                record.start_stack = start_stack;
            }
            Step::CreateSyscall { g } => {
                self.create(g, time, GoState::Syscall).creation = Some(Creation {
                    time,
                    parent: None,
                    stack: None,
                });
            }
            Step::Start { g } => {
                let record = self.get(g, at)?;
                record.first_run.get_or_insert(time);
                set(record, time, GoState::Running, None, None);
            }
            Step::Block { g, reason, stack } | Step::Stop { g, reason, stack } => {
                let reason = self.string(generation, reason, at)?;
                let stack = self.stack(generation, stack, at)?;
                let blocked = matches!(step, Step::Block { .. });
                let state = if blocked {
                    GoState::Blocked
                } else {
                    GoState::Runnable
                };
                let record = self.get(g, at)?;
                if blocked {
                    record.last_blocked = Some(time);
                }
                set(record, time, state, reason, stack);
            }
            Step::Unblock { g } | Step::SyscallEndBlocked { g } => {
                // It will resume where it stopped: keep the stack.
                let record = self.get(g, at)?;
                let stack = record.stack;
                set(record, time, GoState::Runnable, None, stack);
            }
            Step::Destroy { g } => set(self.get(g, at)?, time, GoState::Exited, None, None),
            Step::SyscallBegin { g, stack } => {
                let stack = self.stack(generation, stack, at)?;
                set(self.get(g, at)?, time, GoState::Syscall, None, stack);
            }
            Step::SyscallEnd { g } => set(self.get(g, at)?, time, GoState::Running, None, None),
        }
        Ok(())
    }

    fn get(&mut self, g: u64, at: At) -> Result<&mut Goroutine, TraceError> {
        match self.index.get(&g) {
            Some(&i) => Ok(&mut self.goroutines[i]),
            None => Err(at.error(format!(
                "an event for goroutine {g}, which the trace never introduced"
            ))),
        }
    }

    /// A string of the generation's table, `None` for ID 0 and the empty string.
    fn string(
        &mut self,
        generation: &Generation<'_>,
        id: u64,
        at: At,
    ) -> Result<Option<Sym>, TraceError> {
        let sym = self.sym(generation, id, at)?;
        Ok((!self.tables.bytes(sym).is_empty()).then_some(sym))
    }

    /// Interns a string of the generation's table; ID 0 is the empty string.
    fn sym(&mut self, generation: &Generation<'_>, id: u64, at: At) -> Result<Sym, TraceError> {
        if let Some(&sym) = self.string_cache.get(&id) {
            return Ok(sym);
        }
        let bytes = match id {
            0 => &b""[..],
            _ => generation
                .strings
                .get(&id)
                .ok_or_else(|| at.error(format!("unknown string ID {id}")))?,
        };
        let sym = self.tables.sym(bytes);
        self.string_cache.insert(id, sym);
        Ok(sym)
    }

    fn stack(
        &mut self,
        generation: &Generation<'_>,
        id: u64,
        at: At,
    ) -> Result<Option<StackId>, TraceError> {
        if id == 0 {
            return Ok(None);
        }
        if let Some(&stack) = self.stack_cache.get(&id) {
            return Ok(Some(stack));
        }
        let raw = generation
            .stacks
            .get(&id)
            .ok_or_else(|| at.error(format!("unknown stack ID {id}")))?;
        raw.frames(&mut self.raw_frames)?;
        self.frame_ids.clear();
        for i in 0..self.raw_frames.len() {
            let raw = &self.raw_frames[i];
            let (function, file, line) = (raw.function, raw.file, raw.line);
            let frame = Frame {
                function: self.sym(generation, function, at)?,
                file: self.sym(generation, file, at)?,
                line: u32::try_from(line).unwrap_or(u32::MAX),
                // The trace has PCs but not function entries, and inlined calls look
                // like any other frame.
                offset: None,
                inlined: false,
            };
            self.frame_ids.push(self.tables.frame(frame));
        }
        let stack = self.tables.stack(&self.frame_ids);
        self.stack_cache.insert(id, stack);
        Ok(Some(stack))
    }
}

fn set(
    record: &mut Goroutine,
    time: u64,
    state: GoState,
    reason: Option<Sym>,
    stack: Option<StackId>,
) {
    record.state = state;
    record.since = time;
    record.reason = reason;
    record.stack = stack;
}

/// Where an event is, for errors about it.
#[derive(Clone, Copy)]
struct At {
    gen_id: u64,
    offset: u64,
}

impl At {
    fn error(self, message: String) -> TraceError {
        TraceError::Inconsistent {
            generation: self.gen_id,
            offset: self.offset,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varints(out: &mut Vec<u8>, values: &[u64]) {
        for &v in values {
            let mut v = v;
            while v >= 0x80 {
                out.push(v as u8 | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
    }

    /// A timed event: type, time delta, arguments.
    fn ev(ty: u8, dt: u64, args: &[u64]) -> Vec<u8> {
        let mut out = vec![ty];
        varints(&mut out, &[dt]);
        varints(&mut out, args);
        out
    }

    fn batch(out: &mut Vec<u8>, gen_id: u64, m: u64, time: u64, data: &[u8]) {
        out.push(wire::EV_EVENT_BATCH);
        varints(out, &[gen_id, m, time, data.len() as u64]);
        out.extend_from_slice(data);
    }

    /// The tables and clock every generation of these traces needs: strings 1 `chan
    /// receive`, 2 `main.worker`, 3 `w.go`, 4 `main.main`; stack 1 is `main.worker` at
    /// line 7, stack 2 `main.main` at line 3; a clock of one tick per nanosecond.
    fn tables_and_clock(out: &mut Vec<u8>, version: Version, gen_id: u64) {
        let mut strings = vec![wire::EV_STRINGS];
        for (id, s) in [
            (1, "chan receive"),
            (2, "main.worker"),
            (3, "w.go"),
            (4, "main.main"),
        ] {
            strings.push(wire::EV_STRING);
            varints(&mut strings, &[id, s.len() as u64]);
            strings.extend_from_slice(s.as_bytes());
        }
        batch(out, gen_id, 0, 1, &strings);
        let mut stacks = vec![wire::EV_STACKS];
        for (id, function, line) in [(1, 2, 7), (2, 4, 3)] {
            stacks.push(wire::EV_STACK);
            varints(&mut stacks, &[id, 1, 0x1000 + id, function, 3, line]);
        }
        batch(out, gen_id, 0, 1, &stacks);
        let mut sync = Vec::new();
        if version >= Version::Go125 {
            sync.extend_from_slice(&[wire::EV_SYNC, wire::EV_FREQUENCY]);
            varints(&mut sync, &[1_000_000_000]);
            sync.push(wire::EV_CLOCK_SNAPSHOT);
            varints(&mut sync, &[0, 1, 2, 3]);
        } else {
            sync.push(wire::EV_FREQUENCY);
            varints(&mut sync, &[1_000_000_000]);
        }
        batch(out, gen_id, 0, 1, &sync);
    }

    fn header(version: Version) -> Vec<u8> {
        format!("{} trace\0\0\0", version.name()).into_bytes()
    }

    /// Goroutine 1 creates goroutine 2 on M 1 and unblocks it; M 2 runs goroutine 2 until
    /// it blocks. M 1's clock runs early, so by time the unblock comes first, though it
    /// cannot happen before goroutine 2 blocked: the sequence numbers decide.
    fn skewed(version: Version) -> Vec<u8> {
        let mut out = header(version);
        tables_and_clock(&mut out, version, 1);
        let m1 = [
            ev(wire::EV_PROC_STATUS, 0, &[0, 1]),
            ev(wire::EV_GO_STATUS, 0, &[1, 1, 2]),
            ev(wire::EV_GO_CREATE, 1, &[2, 1, 2]),
            ev(wire::EV_GO_UNBLOCK, 1, &[2, 2, 2]),
        ]
        .concat();
        batch(&mut out, 1, 1, 100, &m1);
        let m2 = [
            ev(wire::EV_PROC_STATUS, 0, &[1, 1]),
            ev(wire::EV_GO_START, 3, &[2, 1]),
            ev(wire::EV_GO_BLOCK, 2, &[1, 1]),
        ]
        .concat();
        batch(&mut out, 1, 2, 100, &m2);
        if version >= Version::Go126 {
            out.push(wire::EV_END_OF_GENERATION);
        }
        out
    }

    #[test]
    fn sequence_numbers_beat_skewed_clocks() {
        for version in [
            Version::Go122,
            Version::Go123,
            Version::Go125,
            Version::Go126,
        ] {
            let mut tables = Tables::new();
            let trace = parse(&skewed(version), &mut tables).unwrap();
            assert!(trace.incomplete.is_none(), "{:?}", trace.incomplete);
            assert_eq!(trace.version, version);
            let main = trace.goroutine(1).unwrap();
            assert_eq!((main.state, main.creation), (GoState::Running, None));
            let worker = trace.goroutine(2).unwrap();
            // Blocked, then unblocked: runnable, and it will resume where it blocked.
            assert_eq!(worker.state, GoState::Runnable);
            assert_eq!(worker.reason, None);
            let blocked = worker.last_blocked.expect("it blocked");
            assert!(blocked < worker.since, "blocked, then woken");
            let resume = worker.blocking_frame(&tables).unwrap();
            assert_eq!(
                (tables.str(resume.function), resume.line),
                ("main.worker".into(), 7)
            );
            let creation = worker.creation.unwrap();
            assert_eq!(creation.parent, Some(1));
            assert_eq!(worker.start_function(&tables), Some(&b"main.worker"[..]));
            assert!(worker.first_run.unwrap() > creation.time);
            assert!(worker.since > worker.first_run.unwrap());
            assert_eq!(trace.end_time, worker.since);
            assert_eq!(trace.creators(2), [1]);
        }
    }

    #[test]
    fn later_generations_restate_but_keep_the_block() {
        for version in [Version::Go122, Version::Go126] {
            let mut bytes = skewed(version);
            // Generation 2: goroutine 1 blocks; statuses restate both goroutines, goroutine
            // 2 with a stack.
            tables_and_clock(&mut bytes, version, 2);
            let m1 = [
                ev(wire::EV_PROC_STATUS, 0, &[0, 1]),
                ev(wire::EV_GO_STATUS, 0, &[1, 1, 2]),
                ev(wire::EV_GO_STATUS_STACK, 0, &[2, u64::MAX, 1, 1]),
                ev(wire::EV_GO_BLOCK, 5, &[1, 2]),
            ]
            .concat();
            batch(&mut bytes, 2, 1, 200, &m1);
            if version >= Version::Go126 {
                bytes.push(wire::EV_END_OF_GENERATION);
            }
            let mut tables = Tables::new();
            let trace = parse(&bytes, &mut tables).unwrap();
            assert!(trace.incomplete.is_none(), "{:?}", trace.incomplete);
            assert_eq!(trace.generations, 2);
            let main = trace.goroutine(1).unwrap();
            assert_eq!(main.state, GoState::Blocked);
            assert_eq!(tables.str(main.reason.unwrap()), "chan receive");
            assert_eq!(main.since, 205);
            assert_eq!(main.last_blocked, Some(205));
            let worker = trace.goroutine(2).unwrap();
            assert_eq!(worker.state, GoState::Runnable);
            assert!(worker.since < 200, "the restatement is not a change");

            // Cut inside generation 2's last batch: what came before stands, reported
            // incomplete. (Before Go 1.26 the batches of generation 2 that were read
            // whole are used too, as Go's reader does; here they hold no events.)
            let cut = parse(&bytes[..bytes.len() - 3], &mut tables).unwrap();
            assert!(
                matches!(cut.incomplete, Some(TraceError::Truncated { .. })),
                "{:?}",
                cut.incomplete
            );
            assert_eq!(cut.goroutine(1).unwrap().state, GoState::Running);
        }
    }

    #[test]
    fn contradictions_stop_the_parse() {
        let mut bytes = header(Version::Go126);
        tables_and_clock(&mut bytes, Version::Go126, 1);
        // Goroutine 1 blocks twice.
        let m1 = [
            ev(wire::EV_PROC_STATUS, 0, &[0, 1]),
            ev(wire::EV_GO_STATUS, 0, &[1, 1, 2]),
            ev(wire::EV_GO_BLOCK, 1, &[1, 2]),
            ev(wire::EV_GO_BLOCK, 1, &[1, 2]),
        ]
        .concat();
        batch(&mut bytes, 1, 1, 100, &m1);
        bytes.push(wire::EV_END_OF_GENERATION);
        let mut tables = Tables::new();
        let trace = parse(&bytes, &mut tables).unwrap();
        assert!(matches!(
            trace.incomplete,
            Some(TraceError::Inconsistent { generation: 1, .. })
        ));
        assert_eq!(trace.generations, 0);
        assert_eq!(trace.goroutine(1).unwrap().state, GoState::Blocked);

        // A stack ID no table holds.
        let mut bytes = header(Version::Go126);
        tables_and_clock(&mut bytes, Version::Go126, 1);
        let m1 = [
            ev(wire::EV_PROC_STATUS, 0, &[0, 1]),
            ev(wire::EV_GO_STATUS, 0, &[1, 1, 2]),
            ev(wire::EV_GO_BLOCK, 1, &[1, 9]),
        ]
        .concat();
        batch(&mut bytes, 1, 1, 100, &m1);
        bytes.push(wire::EV_END_OF_GENERATION);
        let trace = parse(&bytes, &mut tables).unwrap();
        let message = trace.incomplete.unwrap().to_string();
        assert!(message.contains("unknown stack ID 9"), "{message}");
    }

    /// Found by `tests/trace_fuzz.rs`: a damaged status event gave a running goroutine a stack,
    /// which `Goroutine::stack` promises it does not have.
    #[test]
    fn a_status_stack_does_not_place_a_running_goroutine() {
        let mut bytes = header(Version::Go126);
        for gen_id in [1, 2] {
            tables_and_clock(&mut bytes, Version::Go126, gen_id);
            let m1 = [
                ev(wire::EV_PROC_STATUS, 0, &[0, 1]),
                ev(wire::EV_GO_STATUS_STACK, 0, &[1, 1, 2, 2]),
            ]
            .concat();
            batch(&mut bytes, gen_id, 1, 100 * gen_id, &m1);
            bytes.push(wire::EV_END_OF_GENERATION);
        }
        let mut tables = Tables::new();
        let trace = parse(&bytes, &mut tables).unwrap();
        assert!(trace.incomplete.is_none(), "{:?}", trace.incomplete);
        let main = trace.goroutine(1).unwrap();
        assert_eq!((main.state, main.stack), (GoState::Running, None));
        // Where it was when tracing started is still known.
        let initial = main.initial_stack.expect("the status stack");
        let frame = tables.get_frame(tables.frames(initial)[0]);
        assert_eq!(tables.str(frame.function), "main.main");
    }
}
