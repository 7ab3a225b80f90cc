//! Hostile bytes: the trace reader never panics and never holds memory out of proportion
//! to its input, whether the bytes are random, damaged real traces, or made of
//! well-formed batches of random events (which get past the framing into the ordering).
//!
//! Memory is measured by a counting allocator, per thread, so the property runs in a test
//! binary of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

use goleash_core::Tables;
use goleash_core::trace;
use proptest::prelude::*;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is passed to the system allocator unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Parses `bytes` and returns the most memory held at once beyond what was held before.
fn peak_memory_of_parse(bytes: &[u8]) -> usize {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let mut tables = Tables::new();
    let result = trace::parse(bytes, &mut tables);
    if let Ok(t) = &result {
        // The model must be usable, not just built.
        for g in t.alive_at_end() {
            t.creators(g.id);
            g.blocking_frame(&tables);
        }
        trace::attribute(t, &tables, &trace::test_events(b"=== RUN   TestX\n"));
    }
    drop(result);
    drop(tables);
    PEAK.with(Cell::get) - before
}

/// A fixed allowance (empty tables and maps) plus a constant factor of the input: each
/// byte can become at most a few interned bytes, and every goroutine record takes at least
/// the few bytes of the event that created it.
fn allowance(len: usize) -> usize {
    (1 << 20) + 64 * len
}

const HEADERS: [&[u8]; 4] = [
    b"go 1.22 trace\0\0\0",
    b"go 1.23 trace\0\0\0",
    b"go 1.25 trace\0\0\0",
    b"go 1.26 trace\0\0\0",
];

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One generation's batches: the frequency (or sync), string and stack tables, and the
/// events of up to four Ms, in a random order.
fn generation(version: usize, number: u64) -> impl Strategy<Value = Vec<u8>> {
    let event = (
        prop::sample::select(vec![
            9u8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
            30, 39, 45, 46, 47, 48, 128,
        ]),
        prop::collection::vec(0u64..6, 4),
    );
    let m_batch = (0u64..4, prop::collection::vec(event, 0..24));
    (
        prop::collection::vec(m_batch, 1..5),
        Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    )
        .prop_map(move |(ms, shuffle)| {
            let mut batches: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut tables = vec![4u8]; // strings: IDs 1..3
            for id in 1..4u64 {
                tables.push(5);
                uvarint(&mut tables, id);
                uvarint(&mut tables, 3);
                tables.extend_from_slice(b"f.g");
            }
            batches.push((0, tables));
            let mut stacks = vec![2u8]; // stacks: IDs 1..3 of one or two frames
            for id in 1..4u64 {
                stacks.push(3);
                uvarint(&mut stacks, id);
                uvarint(&mut stacks, id % 2 + 1);
                for f in 0..id % 2 + 1 {
                    for v in [0x1000 + f, 1, 2, 10 + f] {
                        uvarint(&mut stacks, v);
                    }
                }
            }
            batches.push((0, stacks));
            let mut sync = Vec::new();
            if version >= 2 {
                sync.extend_from_slice(&[50, 8]);
                uvarint(&mut sync, 1_000_000_000);
                sync.push(51);
                for v in [1, 2, 3, 4] {
                    uvarint(&mut sync, v);
                }
            } else {
                sync.push(8);
                uvarint(&mut sync, 1_000_000_000);
            }
            batches.push((0, sync));
            for (m, events) in ms {
                let mut data = Vec::new();
                if number == 1 {
                    // A running P and goroutine on the M, so that events have a context.
                    data.push(13);
                    for v in [1, m, 1] {
                        uvarint(&mut data, v);
                    }
                    data.push(25);
                    for v in [1, m + 1, m, 2] {
                        uvarint(&mut data, v);
                    }
                }
                for (ty, args) in events {
                    data.push(ty);
                    uvarint(&mut data, 1);
                    let n = match ty {
                        11 | 17 | 18 | 23 | 24 | 27 => 0,
                        15 | 28 | 30 | 39 => 1,
                        12 | 14 | 21 | 25 | 47 | 128 => 3,
                        48 => 4,
                        _ => 2,
                    };
                    for &a in &args[..n] {
                        uvarint(&mut data, a);
                    }
                }
                batches.push((m, data));
            }
            let len = batches.len();
            batches.swap(0, shuffle as usize % len);
            let mut out = Vec::new();
            for (m, data) in batches {
                out.push(1);
                uvarint(&mut out, number);
                uvarint(&mut out, m);
                uvarint(&mut out, 100 * number);
                uvarint(&mut out, data.len() as u64);
                out.extend_from_slice(&data);
            }
            if version == 3 {
                out.push(52);
            }
            out
        })
}

/// Well-formed generations of random events, which get past the framing into the
/// ordering.
fn structured() -> impl Strategy<Value = Vec<u8>> {
    (0usize..4, 1u64..4).prop_flat_map(|(version, count)| {
        (1..=count)
            .map(|n| generation(version, n))
            .collect::<Vec<_>>()
            .prop_map(move |generations| {
                let mut out = HEADERS[version].to_vec();
                out.extend(generations.concat());
                out
            })
    })
}

fn real_trace() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/trace/quiet-go1.27.3.trace.gz"
    );
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// A real trace with a few bytes overwritten, inserted or removed.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let real = real_trace();
    let len = real.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..8).prop_map(move |edits| {
        let mut bytes = real.clone();
        for (at, byte, how) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match how {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        bytes
    })
}

fn random() -> impl Strategy<Value = Vec<u8>> {
    (0usize..5, prop::collection::vec(any::<u8>(), 0..4096)).prop_map(|(header, mut rest)| {
        if let Some(h) = HEADERS.get(header) {
            rest.splice(0..0, h.iter().copied());
        }
        rest
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn hostile_bytes_neither_panic_nor_hoard_memory(
        bytes in prop_oneof![random(), structured(), damaged()]
    ) {
        let peak = peak_memory_of_parse(&bytes);
        prop_assert!(
            peak <= allowance(bytes.len()),
            "{peak} bytes held for {} bytes of input", bytes.len()
        );
    }
}

/// The allowance is not so loose that real traces would never come near it.
#[test]
fn real_traces_stay_within_the_allowance() {
    let bytes = real_trace();
    let peak = peak_memory_of_parse(&bytes);
    assert!(peak <= allowance(bytes.len()), "{peak} for {}", bytes.len());
    assert!(peak > bytes.len() / 4, "the counter sees nothing: {peak}");
}
