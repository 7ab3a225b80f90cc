//! The bytes of a v2 execution trace: the header, batches, generations, and the string and
//! stack tables of each generation.
//!
//! The layout follows the Go sources that define it (`internal/trace/tracev2` and
//! `internal/trace/{batch,generation}.go` of Go 1.27, `internal/trace/v2` of Go 1.22): a
//! 16-byte header `go 1.N trace\0\0\0`, then generations, each a run of batches. A batch is
//! `EvEventBatch gen m time size data[size]` (or `EvExperimentalBatch exp gen m time size
//! data[size]`); all numbers are unsigned LEB128 varints. Before Go 1.26 a generation ends
//! where a batch of the next generation begins; from Go 1.26 on it ends with an
//! `EvEndOfGeneration` byte.
//!
//! Nothing here trusts a length: every read is checked against the input, and the
//! runtime's own limits (64 KiB batches, 1 KiB strings, 128 frames) are enforced, so a
//! hostile input costs at most a constant factor of its size in memory.

use rustc_hash::FxHashMap;

use super::{TraceError, Version};

// Event types, numbered as in `internal/trace/tracev2/events.go`. The numbering has only
// grown across releases, so one table serves every version.
pub(crate) const EV_EVENT_BATCH: u8 = 1;
pub(crate) const EV_STACKS: u8 = 2;
pub(crate) const EV_STACK: u8 = 3;
pub(crate) const EV_STRINGS: u8 = 4;
pub(crate) const EV_STRING: u8 = 5;
pub(crate) const EV_CPU_SAMPLES: u8 = 6;
pub(crate) const EV_FREQUENCY: u8 = 8;
pub(crate) const EV_PROCS_CHANGE: u8 = 9;
pub(crate) const EV_PROC_START: u8 = 10;
pub(crate) const EV_PROC_STOP: u8 = 11;
pub(crate) const EV_PROC_STEAL: u8 = 12;
pub(crate) const EV_PROC_STATUS: u8 = 13;
pub(crate) const EV_GO_CREATE: u8 = 14;
pub(crate) const EV_GO_CREATE_SYSCALL: u8 = 15;
pub(crate) const EV_GO_START: u8 = 16;
pub(crate) const EV_GO_DESTROY: u8 = 17;
pub(crate) const EV_GO_DESTROY_SYSCALL: u8 = 18;
pub(crate) const EV_GO_STOP: u8 = 19;
pub(crate) const EV_GO_BLOCK: u8 = 20;
pub(crate) const EV_GO_UNBLOCK: u8 = 21;
pub(crate) const EV_GO_SYSCALL_BEGIN: u8 = 22;
pub(crate) const EV_GO_SYSCALL_END: u8 = 23;
pub(crate) const EV_GO_SYSCALL_END_BLOCKED: u8 = 24;
pub(crate) const EV_GO_STATUS: u8 = 25;
pub(crate) const EV_GO_SWITCH: u8 = 45;
pub(crate) const EV_GO_SWITCH_DESTROY: u8 = 46;
pub(crate) const EV_GO_CREATE_BLOCKED: u8 = 47;
pub(crate) const EV_GO_STATUS_STACK: u8 = 48;
pub(crate) const EV_EXPERIMENTAL_BATCH: u8 = 49;
pub(crate) const EV_SYNC: u8 = 50;
pub(crate) const EV_CLOCK_SNAPSHOT: u8 = 51;
pub(crate) const EV_END_OF_GENERATION: u8 = 52;

/// The runtime's limits (`tracev2.MaxBatchSize` and friends). A value above them is not
/// something Go writes, so it is rejected rather than allocated for.
const MAX_BATCH_SIZE: u64 = 64 << 10;
const MAX_STRING_SIZE: u64 = 1 << 10;
const MAX_FRAMES_PER_STACK: u64 = 128;

/// How many arguments follow the time delta of each timed event type, from the `Args` of
/// `tracev2.Specs()` minus the delta itself. `None` for types that are not timed events and
/// so cannot appear in an M's batch. Experimental events (128–136) are timed too.
pub(crate) fn timed_args(ty: u8) -> Option<usize> {
    Some(match ty {
        EV_PROCS_CHANGE => 2,
        EV_PROC_START => 2,
        EV_PROC_STOP => 0,
        EV_PROC_STEAL => 3,
        EV_PROC_STATUS => 2,
        EV_GO_CREATE => 3,
        EV_GO_CREATE_SYSCALL => 1,
        EV_GO_START => 2,
        EV_GO_DESTROY | EV_GO_DESTROY_SYSCALL => 0,
        EV_GO_STOP | EV_GO_BLOCK => 2,
        EV_GO_UNBLOCK => 3,
        EV_GO_SYSCALL_BEGIN => 2,
        EV_GO_SYSCALL_END | EV_GO_SYSCALL_END_BLOCKED => 0,
        EV_GO_STATUS => 3,
        26 => 2,      // STWBegin [kind, stack]
        27 => 0,      // STWEnd
        28 => 1,      // GCActive [seq]
        29 => 2,      // GCBegin [seq, stack]
        30 => 1,      // GCEnd [seq]
        31 => 1,      // GCSweepActive [p]
        32 => 1,      // GCSweepBegin [stack]
        33 => 2,      // GCSweepEnd [swept, reclaimed]
        34 => 1,      // GCMarkAssistActive [g]
        35 => 1,      // GCMarkAssistBegin [stack]
        36 => 0,      // GCMarkAssistEnd
        37 | 38 => 1, // HeapAlloc, HeapGoal [value]
        39 => 1,      // GoLabel [label]
        40 => 4,      // UserTaskBegin [task, parent, name, stack]
        41 => 2,      // UserTaskEnd [task, stack]
        42 | 43 => 3, // UserRegionBegin/End [task, name, stack]
        44 => 4,      // UserLog [task, key, value, stack]
        EV_GO_SWITCH | EV_GO_SWITCH_DESTROY => 2,
        EV_GO_CREATE_BLOCKED => 3,
        EV_GO_STATUS_STACK => 4,
        EV_CLOCK_SNAPSHOT => 3,
        128 | 129 => 3, // Span, SpanAlloc [id, npages, kindclass]
        130 => 1,       // SpanFree [id]
        131 | 132 => 2, // HeapObject, HeapObjectAlloc [id, type]
        133 => 1,       // HeapObjectFree [id]
        134 | 135 => 2, // GoroutineStack, GoroutineStackAlloc [id, order]
        136 => 1,       // GoroutineStackFree [id]
        _ => return None,
    })
}

/// The most arguments any timed event has after its time delta.
pub(crate) const MAX_ARGS: usize = 4;

/// Reads varints and bytes from a slice, remembering where the slice sits in the input so
/// that errors can say where they happened.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    /// The slice is the rest of the whole input, so running out of it means the trace was
    /// cut short; inside a batch it means the batch is malformed.
    whole_input: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        Reader {
            data,
            pos: 0,
            base,
            whole_input: false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Offset of the next byte in the whole input.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> TraceError {
        malformed(self.offset(), message)
    }

    fn end_of_data(&self, wanted: impl std::fmt::Display) -> TraceError {
        if self.whole_input {
            TraceError::Truncated {
                offset: self.offset() as u64,
                message: format!("the input ends at byte {} inside a batch", self.offset()),
            }
        } else {
            self.error(format!("{wanted} past the end of the batch"))
        }
    }

    pub(crate) fn byte(&mut self) -> Result<u8, TraceError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.end_of_data("a byte"))?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 varint, as Go's `binary.Uvarint` reads it: at most 10 bytes, and
    /// the value must fit in 64 bits.
    pub(crate) fn uvarint(&mut self) -> Result<u64, TraceError> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error("varint overflows 64 bits"))
    }

    pub(crate) fn bytes(&mut self, len: u64) -> Result<&'a [u8], TraceError> {
        let left = self.data.len() - self.pos;
        if len > left as u64 {
            return Err(self.end_of_data(format_args!("{len} bytes")));
        }
        let slice = &self.data[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(slice)
    }
}

/// Reads the header: `go 1.N trace` padded with NULs to 16 bytes.
pub(crate) fn read_header(input: &[u8]) -> Result<Version, TraceError> {
    const PREFIX: &[u8] = b"go 1.";
    let rest = input.strip_prefix(PREFIX).ok_or(TraceError::NotATrace)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 3 || !rest[digits..].starts_with(b" trace") {
        return Err(TraceError::NotATrace);
    }
    let minor: u32 = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(TraceError::NotATrace)?;
    let version = match minor {
        22 => Version::Go122,
        23 => Version::Go123,
        25 => Version::Go125,
        26 => Version::Go126,
        // The v1 format of Go 1.5–1.21.
        5..=21 => return Err(TraceError::OldVersion(minor)),
        _ => return Err(TraceError::UnknownVersion(minor)),
    };
    if !input.starts_with(format!("go 1.{minor} trace\0\0\0").as_bytes()) {
        return Err(TraceError::NotATrace);
    }
    Ok(version)
}

/// Every v2 header is `go 1.NN trace\0\0\0`: 16 bytes.
pub(crate) const HEADER_LEN: usize = 16;

/// One batch of a generation, not yet decoded past its header.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) m: u64,
    pub(crate) time: u64,
    pub(crate) data: &'a [u8],
    /// Offset of `data` in the input.
    pub(crate) offset: usize,
}

/// What [`read_batch`] found.
enum RawBatch<'a> {
    /// A batch of events (`exp` is 0) or of experimental data.
    Batch {
        gen_id: u64,
        exp: u8,
        batch: Batch<'a>,
    },
    /// Go 1.26+: the current generation is complete.
    EndOfGeneration,
}

fn read_batch<'a>(r: &mut Reader<'a>, version: Version) -> Result<RawBatch<'a>, TraceError> {
    let ty = r.byte()?;
    if ty == EV_END_OF_GENERATION && version >= Version::Go126 {
        return Ok(RawBatch::EndOfGeneration);
    }
    let exp = match ty {
        EV_EVENT_BATCH => 0,
        EV_EXPERIMENTAL_BATCH if version >= Version::Go123 => r.byte()?,
        _ => return Err(r.error(format!("expected a batch, found event type {ty}"))),
    };
    let gen_id = r.uvarint()?;
    let m = r.uvarint()?;
    let time = r.uvarint()?;
    let size = r.uvarint()?;
    if size > MAX_BATCH_SIZE {
        return Err(r.error(format!(
            "batch of {size} bytes, the maximum is {MAX_BATCH_SIZE}"
        )));
    }
    let offset = r.offset();
    let data = r.bytes(size)?;
    Ok(RawBatch::Batch {
        gen_id,
        exp,
        batch: Batch {
            m,
            time,
            data,
            offset,
        },
    })
}

/// One generation: the batches of each M plus the tables its events refer to.
pub(crate) struct Generation<'a> {
    pub(crate) gen_id: u64,
    /// Each M's batches in input order; Ms in the order they first appear.
    pub(crate) ms: Vec<(u64, Vec<Batch<'a>>)>,
    pub(crate) strings: FxHashMap<u64, &'a [u8]>,
    pub(crate) stacks: FxHashMap<u64, RawStack<'a>>,
    /// Nanoseconds per tick of the trace clock.
    pub(crate) ns_per_tick: f64,
    /// The earliest batch time, in ticks.
    pub(crate) min_time: u64,
}

/// A stack as the generation's table holds it: `frames` is `nframes` groups of four
/// varints (PC, function string ID, file string ID, line), decoded when first used.
#[derive(Clone, Copy)]
pub(crate) struct RawStack<'a> {
    pub(crate) nframes: usize,
    pub(crate) frames: &'a [u8],
    pub(crate) offset: usize,
}

impl Generation<'_> {
    fn new(gen_id: u64) -> Self {
        Generation {
            gen_id,
            ms: Vec::new(),
            strings: FxHashMap::default(),
            stacks: FxHashMap::default(),
            ns_per_tick: 0.0,
            min_time: 0,
        }
    }
}

/// Splits the input into generations, one at a time.
pub(crate) struct Generations<'a> {
    reader: Reader<'a>,
    version: Version,
    /// Before Go 1.26: the first batch of the next generation, read while looking for the
    /// end of the current one.
    spill: Option<(u64, u8, Batch<'a>)>,
    /// An error met after a complete generation was read: reported on the next call.
    pending: Option<TraceError>,
    done: bool,
}

impl<'a> Generations<'a> {
    pub(crate) fn new(input: &'a [u8], version: Version) -> Self {
        let mut reader = Reader::new(&input[HEADER_LEN..], HEADER_LEN);
        reader.whole_input = true;
        Generations {
            reader,
            version,
            spill: None,
            pending: None,
            done: false,
        }
    }

    /// The next complete generation, `Ok(None)` at the clean end of the trace.
    pub(crate) fn next_generation(&mut self) -> Result<Option<Generation<'a>>, TraceError> {
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        let result = if self.version >= Version::Go126 {
            self.read_marked()
        } else {
            self.read_spilled()
        };
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// Go 1.26+: batches up to an `EvEndOfGeneration`.
    fn read_marked(&mut self) -> Result<Option<Generation<'a>>, TraceError> {
        if self.reader.is_empty() {
            return Ok(None);
        }
        let mut generation: Option<Generation<'a>> = None;
        loop {
            if self.reader.is_empty() {
                return Err(TraceError::Truncated {
                    offset: self.reader.offset() as u64,
                    message: "the last generation has no end marker".into(),
                });
            }
            let start = self.reader.offset();
            match read_batch(&mut self.reader, self.version)? {
                RawBatch::EndOfGeneration => break,
                RawBatch::Batch { gen_id, exp, batch } => {
                    let g = generation.get_or_insert_with(|| Generation::new(gen_id));
                    if gen_id == 0 || gen_id != g.gen_id {
                        return Err(malformed(
                            start,
                            format!(
                                "batch of generation {gen_id} inside generation {}",
                                g.gen_id
                            ),
                        ));
                    }
                    add_batch(g, exp, batch, self.version)?;
                }
            }
        }
        match generation {
            Some(g) => finish(g, self.reader.offset()).map(Some),
            None => Err(malformed(self.reader.offset(), "empty generation")),
        }
    }

    /// Before Go 1.26: batches up to the first one of the next generation, which is kept
    /// for the next call. A read error after some batches ends the generation; the error
    /// is reported on the next call, as Go's reader does (a trace cut in the first batch of
    /// a new generation still has its earlier generations intact).
    fn read_spilled(&mut self) -> Result<Option<Generation<'a>>, TraceError> {
        let mut generation: Option<Generation<'a>> = None;
        if let Some((gen_id, exp, batch)) = self.spill.take() {
            let mut g = Generation::new(gen_id);
            add_batch(&mut g, exp, batch, self.version)?;
            generation = Some(g);
        }
        // The end of the generation's last batch so far (the spilled one ends where the
        // reader is now).
        let mut end = self.reader.offset();
        while !self.reader.is_empty() {
            let start = self.reader.offset();
            let (gen_id, exp, batch) = match read_batch(&mut self.reader, self.version) {
                Ok(RawBatch::Batch { gen_id, exp, batch }) => (gen_id, exp, batch),
                // read_batch knows the marker only from Go 1.26 on.
                Ok(RawBatch::EndOfGeneration) => {
                    return Err(malformed(
                        start,
                        "an end-of-generation marker before Go 1.26",
                    ));
                }
                Err(e) if generation.is_some() => {
                    self.pending = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            if gen_id == 0 {
                return Err(malformed(start, "batch of generation 0"));
            }
            let g = generation.get_or_insert_with(|| Generation::new(gen_id));
            if gen_id == g.gen_id.wrapping_add(1) {
                self.spill = Some((gen_id, exp, batch));
                break;
            }
            if gen_id != g.gen_id {
                return Err(malformed(
                    start,
                    format!(
                        "batch of generation {gen_id} inside generation {}",
                        g.gen_id
                    ),
                ));
            }
            add_batch(g, exp, batch, self.version)?;
            end = self.reader.offset();
        }
        match generation {
            Some(g) => {
                let result = finish(g, end);
                // A generation that does not hold together after a read error is the
                // truncation showing; the read error says more.
                match (result, self.pending.take()) {
                    (Err(_), Some(pending)) => Err(pending),
                    (result, pending) => {
                        self.pending = pending;
                        result.map(Some)
                    }
                }
            }
            None => Ok(None),
        }
    }
}

fn malformed(offset: usize, message: impl Into<String>) -> TraceError {
    TraceError::Malformed {
        offset: offset as u64,
        message: message.into(),
    }
}

/// Files a batch under what its first byte says it is.
fn add_batch<'a>(
    g: &mut Generation<'a>,
    exp: u8,
    batch: Batch<'a>,
    version: Version,
) -> Result<(), TraceError> {
    if g.min_time == 0 || batch.time < g.min_time {
        g.min_time = batch.time;
    }
    if exp != 0 {
        // Experimental data (heap and stack allocation events) says nothing about
        // goroutine lifecycles.
        return Ok(());
    }
    match batch.data.first().copied() {
        Some(EV_STRINGS) => add_strings(g, batch),
        Some(EV_STACKS) => add_stacks(g, batch),
        Some(EV_CPU_SAMPLES) => Ok(()),
        Some(EV_FREQUENCY) if version < Version::Go125 => add_sync(g, batch, version),
        Some(EV_SYNC) if version >= Version::Go125 => add_sync(g, batch, version),
        _ => {
            match g.ms.iter_mut().find(|(m, _)| *m == batch.m) {
                Some((_, batches)) => batches.push(batch),
                None => g.ms.push((batch.m, vec![batch])),
            }
            Ok(())
        }
    }
}

fn add_strings<'a>(g: &mut Generation<'a>, batch: Batch<'a>) -> Result<(), TraceError> {
    let mut r = Reader::new(batch.data, batch.offset);
    r.byte()?; // EvStrings
    while !r.is_empty() {
        let ev = r.byte()?;
        if ev != EV_STRING {
            return Err(r.error(format!("expected a string, found event type {ev}")));
        }
        let id = r.uvarint()?;
        let len = r.uvarint()?;
        if len > MAX_STRING_SIZE {
            return Err(r.error(format!(
                "string of {len} bytes, the maximum is {MAX_STRING_SIZE}"
            )));
        }
        let bytes = r.bytes(len)?;
        if g.strings.insert(id, bytes).is_some() {
            return Err(r.error(format!("two strings with ID {id}")));
        }
    }
    Ok(())
}

fn add_stacks<'a>(g: &mut Generation<'a>, batch: Batch<'a>) -> Result<(), TraceError> {
    let mut r = Reader::new(batch.data, batch.offset);
    r.byte()?; // EvStacks
    while !r.is_empty() {
        let ev = r.byte()?;
        if ev != EV_STACK {
            return Err(r.error(format!("expected a stack, found event type {ev}")));
        }
        let id = r.uvarint()?;
        let nframes = r.uvarint()?;
        if nframes > MAX_FRAMES_PER_STACK {
            return Err(r.error(format!(
                "stack of {nframes} frames, the maximum is {MAX_FRAMES_PER_STACK}"
            )));
        }
        let start = r.pos;
        let offset = r.offset();
        for _ in 0..nframes * 4 {
            r.uvarint()?;
        }
        let stack = RawStack {
            nframes: nframes as usize,
            frames: &batch.data[start..r.pos],
            offset,
        };
        if g.stacks.insert(id, stack).is_some() {
            return Err(r.error(format!("two stacks with ID {id}")));
        }
    }
    Ok(())
}

/// The frequency of the trace clock: a lone `EvFrequency` batch before Go 1.25, an
/// `EvSync` batch with a frequency and a clock snapshot since.
fn add_sync(g: &mut Generation<'_>, batch: Batch<'_>, version: Version) -> Result<(), TraceError> {
    let mut r = Reader::new(batch.data, batch.offset);
    if version >= Version::Go125 {
        r.byte()?; // EvSync
    }
    while !r.is_empty() {
        match r.byte()? {
            EV_FREQUENCY => {
                if g.ns_per_tick != 0.0 {
                    return Err(r.error("two frequency events in one generation"));
                }
                let ticks_per_second = r.uvarint()?;
                if ticks_per_second == 0 {
                    return Err(r.error("a trace clock of 0 ticks per second"));
                }
                g.ns_per_tick = 1e9 / ticks_per_second as f64;
            }
            EV_CLOCK_SNAPSHOT if version >= Version::Go125 => {
                // [time delta, monotonic ns, wall seconds, wall ns]: wall-clock times are
                // not part of the model, but the event must be well formed.
                for _ in 0..4 {
                    r.uvarint()?;
                }
            }
            ev => {
                return Err(r.error(format!(
                    "expected a frequency or clock snapshot, found event type {ev}"
                )));
            }
        }
    }
    Ok(())
}

/// Checks that the generation ending at `end` has what every generation has.
fn finish(g: Generation<'_>, end: usize) -> Result<Generation<'_>, TraceError> {
    if g.ns_per_tick == 0.0 {
        return Err(TraceError::Truncated {
            offset: end as u64,
            message: format!("generation {} has no frequency event", g.gen_id),
        });
    }
    Ok(g)
}

/// One decoded timed event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Event {
    pub(crate) ty: u8,
    /// Nanoseconds on the trace clock.
    pub(crate) time: u64,
    pub(crate) args: [u64; MAX_ARGS],
    /// Offset of the event in the input, for errors.
    pub(crate) offset: usize,
}

/// Walks the events of one M's batches in order.
pub(crate) struct BatchCursor<'a> {
    pub(crate) m: u64,
    batches: Vec<Batch<'a>>,
    index: usize,
    pos: usize,
    last_time: u64,
    /// The event at the cursor, read ahead so the frontier can compare times.
    pub(crate) event: Event,
}

impl<'a> BatchCursor<'a> {
    /// A cursor on the first event, or `None` when the M has no events.
    pub(crate) fn new(
        m: u64,
        batches: Vec<Batch<'a>>,
        ns_per_tick: f64,
    ) -> Result<Option<Self>, TraceError> {
        let mut cursor = BatchCursor {
            m,
            batches,
            index: 0,
            pos: 0,
            last_time: 0,
            event: Event::default(),
        };
        Ok(cursor.advance(ns_per_tick, true)?.then_some(cursor))
    }

    /// Reads the next event into `self.event`; false when there is none.
    pub(crate) fn advance(&mut self, ns_per_tick: f64, first: bool) -> Result<bool, TraceError> {
        let mut new_batch = first;
        while self.index < self.batches.len() && self.pos >= self.batches[self.index].data.len() {
            self.index += 1;
            self.pos = 0;
            new_batch = true;
        }
        let Some(batch) = self.batches.get(self.index) else {
            return Ok(false);
        };
        if new_batch {
            self.last_time = ticks_to_ns(batch.time, ns_per_tick);
        }
        let mut r = Reader::new(&batch.data[self.pos..], batch.offset + self.pos);
        let offset = r.offset();
        let ty = r.byte()?;
        let nargs =
            timed_args(ty).ok_or_else(|| malformed(offset, format!("invalid event type {ty}")))?;
        let delta = r.uvarint()?;
        let mut args = [0; MAX_ARGS];
        for arg in args.iter_mut().take(nargs) {
            *arg = r.uvarint()?;
        }
        self.pos += r.pos;
        self.last_time = self
            .last_time
            .saturating_add(ticks_to_ns(delta, ns_per_tick));
        self.event = Event {
            ty,
            time: self.last_time,
            args,
            offset,
        };
        Ok(true)
    }
}

/// Go's `frequency.mul`: the float product, truncated.
pub(crate) fn ticks_to_ns(ticks: u64, ns_per_tick: f64) -> u64 {
    // `as` saturates, so absurd clocks in hostile input cannot overflow.
    (ticks as f64 * ns_per_tick) as u64
}

/// A frame of a raw stack, its strings still IDs.
pub(crate) struct RawFrame {
    pub(crate) function: u64,
    pub(crate) file: u64,
    pub(crate) line: u64,
}

impl RawStack<'_> {
    /// Decodes the frames, innermost first as the runtime writes them.
    pub(crate) fn frames(&self, out: &mut Vec<RawFrame>) -> Result<(), TraceError> {
        out.clear();
        let mut r = Reader::new(self.frames, self.offset);
        for _ in 0..self.nframes {
            let _pc = r.uvarint()?;
            let function = r.uvarint()?;
            let file = r.uvarint()?;
            let line = r.uvarint()?;
            out.push(RawFrame {
                function,
                file,
                line,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        let mut r = Reader::new(&[0x00, 0x7f, 0x80, 0x01, 0xff, 0xff, 0x03], 0);
        assert_eq!(r.uvarint().unwrap(), 0);
        assert_eq!(r.uvarint().unwrap(), 127);
        assert_eq!(r.uvarint().unwrap(), 128);
        assert_eq!(r.uvarint().unwrap(), 0xffff);
        assert!(r.is_empty());

        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max, 0).uvarint().unwrap(), u64::MAX);
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&over, 0).uvarint().is_err());
        let long = [0x80; 11];
        assert!(Reader::new(&long, 0).uvarint().is_err());
        assert!(Reader::new(&[0x80], 0).uvarint().is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(read_header(b"go 1.22 trace\0\0\0").unwrap(), Version::Go122);
        assert_eq!(
            read_header(b"go 1.26 trace\0\0\0rest").unwrap(),
            Version::Go126
        );
        assert!(matches!(
            read_header(b"go 1.21 trace\0\0\0"),
            Err(TraceError::OldVersion(21))
        ));
        assert!(matches!(
            read_header(b"go 1.24 trace\0\0\0"),
            Err(TraceError::UnknownVersion(24))
        ));
        assert!(matches!(
            read_header(b"go 1.99 trace\0\0\0"),
            Err(TraceError::UnknownVersion(99))
        ));
        assert!(matches!(
            read_header(b"go 1.22 trace"),
            Err(TraceError::NotATrace)
        ));
        assert!(matches!(
            read_header(b"go 1.5 trace\0\0\0\0"),
            Err(TraceError::OldVersion(5))
        ));
        assert!(matches!(
            read_header(b"goroutine 1 [running]:\n"),
            Err(TraceError::NotATrace)
        ));
    }
}
