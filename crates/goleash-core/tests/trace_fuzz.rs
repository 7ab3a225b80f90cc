//! Hostile bytes: whatever the trace reader makes of them holds together (see
//! `trace_support/invariants.rs`, which the fuzz target `fuzz/fuzz_targets/trace.rs` checks
//! too), whether the bytes are random, damaged real traces of every format version, or
//! made of well-formed batches of random events (which get past the framing into the
//! ordering).
//!
//! Memory is measured by a counting allocator, per thread, so the property runs in a test
//! binary of its own.

#[path = "trace_support/invariants.rs"]
mod invariants;
#[path = "trace_support/memory.rs"]
mod memory;

use std::io::{Read, Write};
use std::path::Path;

use proptest::prelude::*;

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

/// Every real trace kept in the repository, decompressed: Go 1.22 to 1.27 from
/// `tests/data/trace`, and those a `goleash test` run of the testleaks fixture wrote.
fn real_traces() -> Vec<Vec<u8>> {
    let mut traces = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (dir, suffix) in [
        (root.join("tests/data/trace"), ".trace.gz"),
        (
            root.join("../../tests/data/go1.27/testleaks/traces"),
            ".trace",
        ),
    ] {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(suffix))
            .collect();
        paths.sort();
        for path in paths {
            let mut bytes = std::fs::read(&path).unwrap();
            if suffix.ends_with(".gz") {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                bytes = plain;
            }
            // A binary that died before flushing its trace leaves an empty file.
            if !bytes.is_empty() {
                traces.push(bytes);
            }
        }
    }
    assert!(traces.len() > 10, "{} traces", traces.len());
    traces
}

/// A real trace with a few bytes overwritten, inserted or removed, or cut short.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let traces = real_traces();
    let count = traces.len();
    (
        0..count,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
    )
        .prop_map(move |(which, edits, cut)| {
            let mut bytes = traces[which].clone();
            for (at, byte, how) in edits {
                match how {
                    0 if !bytes.is_empty() => {
                        let at = at.index(bytes.len());
                        bytes[at] = byte;
                    }
                    1 => bytes.insert(at.index(bytes.len() + 1), byte),
                    _ if !bytes.is_empty() => {
                        bytes.remove(at.index(bytes.len()));
                    }
                    _ => {}
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

fn gzip(bytes: Vec<u8>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    encoder.finish().unwrap()
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
    fn hostile_bytes_read_as_a_trace_that_holds_together(
        bytes in prop_oneof![
            3 => random(),
            3 => structured(),
            4 => damaged(),
            // The reader's own path for gzipped traces, as `go test` does not write them
            // but people do.
            1 => damaged().prop_map(gzip),
        ]
    ) {
        invariants::check_read(&bytes);
    }
}

/// The allowance is not so loose that real traces would never come near it.
#[test]
fn real_traces_hold_together_within_the_allowance() {
    for bytes in real_traces() {
        let peak = invariants::check_read(&bytes);
        assert!(peak > bytes.len() / 4, "the counter sees nothing: {peak}");
    }
}
