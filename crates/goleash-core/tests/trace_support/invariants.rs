//! What must hold of whatever [`trace::read`] makes of any bytes, checked alike by the
//! property tests (`tests/trace_fuzz.rs`) and the fuzz target (`fuzz/fuzz_targets/trace.rs`):
//! no panic; memory in proportion to the input; errors that point inside the input; and a
//! model whose facts agree with each other and with what `trace::Goroutine` documents.
//!
//! Needs the counting allocator of `memory.rs` as the sibling module `memory`.

use std::borrow::Cow;
use std::io::Read;

use goleash_core::Tables;
use goleash_core::trace::{self, GoState, Goroutine, Trace, TraceError, TraceOptions};

use crate::memory;

/// A fixed allowance (empty tables and maps) plus a constant factor of the input: each
/// byte can become at most a few interned bytes, and every goroutine record takes at least
/// the few bytes of the event that created it.
pub fn allowance(len: usize) -> usize {
    (1 << 20) + 64 * len
}

/// Reads `bytes` as `goleash test` reads a trace file, checks everything above, and
/// returns the most memory the read and the use of its result held at once.
pub fn check_read(bytes: &[u8]) -> usize {
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    // What the reader parses: errors point into it, and memory is in proportion to it.
    let plain = if gzipped {
        let mut plain = Vec::new();
        let limit = TraceOptions::default().max_bytes;
        // A damaged stream still decompresses up to the damage, as it does for the reader.
        let _ = flate2::read::MultiGzDecoder::new(bytes)
            .take(limit + 1)
            .read_to_end(&mut plain);
        Cow::Owned(plain)
    } else {
        Cow::Borrowed(bytes)
    };
    let peak = memory::peak_during(|| {
        let mut tables = Tables::new();
        match trace::read(bytes, &TraceOptions::default(), &mut tables) {
            Ok(t) => check_trace(plain.len(), &t, &tables),
            Err(e) => check_error(plain.len(), &e, gzipped),
        }
    });
    assert!(
        peak <= allowance(plain.len()),
        "{peak} bytes held for {} bytes of input",
        plain.len()
    );
    peak
}

fn check_error(len: usize, e: &TraceError, gzipped: bool) {
    let len = len as u64;
    match e {
        TraceError::Truncated { offset, .. }
        | TraceError::Malformed { offset, .. }
        | TraceError::Inconsistent { offset, .. } => {
            assert!(*offset <= len, "{e}: at byte {offset} of {len}");
        }
        // About the header, at byte 0, or about the whole input.
        TraceError::NotATrace
        | TraceError::OldVersion(_)
        | TraceError::UnknownVersion(_)
        | TraceError::NoData => {}
        TraceError::Io(_) => assert!(gzipped, "reading bytes in memory failed: {e}"),
        TraceError::TooLarge { .. } => panic!("{e}, for {len} bytes"),
    }
}

fn check_trace(len: usize, t: &Trace, tables: &Tables) {
    match &t.incomplete {
        Some(
            e @ (TraceError::Truncated { .. }
            | TraceError::Malformed { .. }
            | TraceError::Inconsistent { .. }),
        ) => check_error(len, e, false),
        Some(e) => panic!("reading stopped halfway for {e}"),
        None => assert!(t.generations > 0, "a complete trace of no generation"),
    }
    assert!(
        t.start_time <= t.end_time,
        "{} > {}",
        t.start_time,
        t.end_time
    );
    assert!(
        t.goroutines.windows(2).all(|w| w[0].id < w[1].id),
        "goroutines out of order, or one twice"
    );
    for g in &t.goroutines {
        check_goroutine(t, g, tables);
    }
    // The model must be usable, not just built.
    trace::attribute(t, tables, &trace::test_events(b"=== RUN   TestX\n"));
}

fn check_goroutine(t: &Trace, g: &Goroutine, tables: &Tables) {
    let traced = t.start_time..=t.end_time;
    assert!(
        traced.contains(&g.since),
        "{g:?}: changed state outside the trace"
    );
    if let Some(creation) = g.creation {
        assert!(
            traced.contains(&creation.time) && creation.time <= g.since,
            "{g:?}: created outside the trace or after its last change"
        );
    }
    for (what, time) in [("first ran", g.first_run), ("last blocked", g.last_blocked)] {
        if let Some(time) = time {
            assert!(
                time <= g.since && g.creation.is_none_or(|c| c.time <= time),
                "{g:?}: {what} before its creation or after its last change"
            );
        }
    }
    match g.state {
        GoState::NotStarted => assert!(
            g.creation.is_some() && g.first_run.is_none(),
            "{g:?}: not started, yet not created while traced or ran"
        ),
        GoState::Running | GoState::Exited => assert!(
            g.stack.is_none() && g.reason.is_none(),
            "{g:?}: running or exited, with a stack or a reason"
        ),
        GoState::Runnable | GoState::Syscall | GoState::Blocked => {}
    }
    if g.reason.is_some() {
        assert!(
            matches!(g.state, GoState::Blocked | GoState::Runnable),
            "{g:?}: a reason for a state that has none"
        );
    }
    // Everything it names is in the tables.
    for stack in g.stacks() {
        for &frame in tables.frames(stack) {
            let frame = tables.get_frame(frame);
            tables.bytes(frame.function);
            tables.bytes(frame.file);
        }
    }
    if let Some(reason) = g.reason {
        tables.bytes(reason);
    }
    let creators = t.creators(g.id);
    let mut distinct = creators.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        !creators.contains(&g.id) && distinct.len() == creators.len(),
        "{g:?}: creators {creators:?} loop"
    );
    g.blocking_frame(tables);
    g.is_runtime(tables);
}
