//! Property tests mirroring the fuzz target (`fuzz/fuzz_targets/read.rs`), so stable CI
//! exercises them: any bytes, and real dumps mangled in the ways transport and logging mangle
//! them, never panic, never take memory out of proportion to the input, and always give a
//! model that adds up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use goleash_core::{Capture, ParseError, ReadOptions};
use proptest::prelude::*;

/// Counts the bytes this thread has allocated and not freed, and the peak, so a test can
/// bound what a parse costs while other tests run on other threads.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; the bookkeeping touches only const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + layout.size() as isize;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Reads `bytes`, returning the result and the peak bytes allocated while reading.
fn read_measured(bytes: &[u8]) -> (Result<Capture, ParseError>, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let result = goleash_core::read(bytes, &ReadOptions::default(), None);
    let peak = PEAK.with(Cell::get) - start;
    (result, peak.max(0) as usize)
}

/// The bound: the parser's fixed buffers, plus a constant factor of the input.
fn allowed(len: usize) -> usize {
    (4 << 20) + 100 * len
}

fn check(bytes: &[u8]) {
    let (result, peak) = read_measured(bytes);
    assert!(
        peak <= allowed(bytes.len()),
        "{peak} bytes for {} bytes of input",
        bytes.len()
    );
    if let Ok(capture) = result {
        for snapshot in &capture.snapshots {
            let sum: u64 = snapshot.groups.iter().map(|g| g.count).sum();
            assert_eq!(sum, snapshot.total);
            for group in &snapshot.groups {
                assert!(
                    group.count > 0
                        || snapshot.info.format != goleash_core::model::Format::Traceback
                );
                assert!(group.ids.windows(2).all(|w| w[0] <= w[1]));
                for &(place, _) in &group.parents {
                    if let goleash_core::group::ParentRef::Group(i) = place {
                        assert!(i < snapshot.groups.len());
                    }
                }
            }
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/corpus");
    [
        "go1.27/crash/panic_error_GOTRACEBACK-crash.txt",
        "go1.27/crash/gotest_timeout_2s.txt",
        "go1.27/crash/gotest_race.txt",
        "go1.27/crash/ancestors_tracebackancestors-5_GOTRACEBACK-all.txt",
        "public/go-profiler-notes/2.net.http.pprof.goroutine.debug1.txt",
        "public/go-profiler-notes/2.net.http.pprof.goroutine.debug0.pb.gz",
        "public/panicparse_context_test_vectors.txt",
    ]
    .iter()
    .map(|rel| std::fs::read(corpus.join(rel)).unwrap())
    .collect()
}

/// The protobuf profile inside a gzipped seed, to mangle the protobuf itself.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[derive(Debug, Clone)]
enum Mangle {
    Flip { at: usize, bit: u8 },
    Cut { at: usize },
    Splice { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Prefix(String),
    Crlf,
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mangle::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mangle::Cut { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mangle::Splice { at, bytes }),
        (any::<usize>(), 1usize..200).prop_map(|(at, len)| Mangle::Delete { at, len }),
        "[ -~]{0,24}".prop_map(Mangle::Prefix),
        Just(Mangle::Crlf),
    ]
}

fn apply(mut bytes: Vec<u8>, mangles: &[Mangle]) -> Vec<u8> {
    for m in mangles {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mangle::Flip { at, bit } => {
                let i = at % bytes.len();
                bytes[i] ^= 1 << bit;
            }
            Mangle::Cut { at } => bytes.truncate(at % bytes.len()),
            Mangle::Splice { at, bytes: more } => {
                let i = at % bytes.len();
                bytes.splice(i..i, more.iter().copied());
            }
            Mangle::Delete { at, len } => {
                let i = at % bytes.len();
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mangle::Prefix(prefix) => {
                let mut out = Vec::with_capacity(bytes.len() * 2);
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    out.extend_from_slice(prefix.as_bytes());
                    out.extend_from_slice(line);
                }
                bytes = out;
            }
            Mangle::Crlf => {
                let mut out = Vec::with_capacity(bytes.len() * 2);
                for &b in &bytes {
                    if b == b'\n' {
                        out.push(b'\r');
                    }
                    out.push(b);
                }
                bytes = out;
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_text_lines(lines in prop::collection::vec(
        prop_oneof![
            "goroutine [0-9]{1,3} \\[[a-z ]{0,12}(, [0-9] minutes)?\\]:",
            "[a-z./()*]{1,30}\\([0-9a-fx?, .{}]{0,20}\\)",
            "\t/[a-z/]{1,20}\\.go:[0-9]{1,4}( \\+0x[0-9a-f]{1,4})?",
            "created by [a-z.]{1,20}( in goroutine [0-9]{1,3})?",
            "\\[originating from goroutine [0-9]{1,3}\\]:",
            "\\.\\.\\.[0-9]{1,3} frames elided\\.\\.\\.",
            "[0-9]{1,3} @( 0x[0-9a-f]{1,6}){0,5}",
            "#\t0x[0-9a-f]{1,6}\t[a-z.]{1,12}\\+0x[0-9a-f]{1,3}\t/[a-z]{1,8}\\.go:[0-9]{1,3}",
            "goroutine profile: total [0-9]{1,3}",
            "(panic|fatal error): [a-z ]{0,20}",
            "",
            "[ -~]{0,40}",
        ],
        0..80,
    )) {
        check(lines.join("\n").as_bytes());
    }

    #[test]
    fn mangled_real_dumps(seed in 0usize..7, mangles in prop::collection::vec(mangle(), 1..4)) {
        let seeds = seeds();
        check(&apply(seeds[seed % seeds.len()].clone(), &mangles));
    }

    #[test]
    fn mangled_protobuf(mangles in prop::collection::vec(mangle(), 1..4)) {
        let seeds = seeds();
        let proto = gunzip(&seeds[5]);
        check(&apply(proto, &mangles));
    }
}

#[test]
fn a_gzip_bomb_is_refused_without_expanding_it() {
    use std::io::Write;
    // 64 MiB of text compresses to about 64 KiB; with a 1 MiB limit the parse must stop at
    // the limit and say so.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let lines = b"not a dump\n".repeat(1 << 17);
    for _ in 0..48 {
        encoder.write_all(&lines).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let options = ReadOptions {
        parse: goleash_core::ParseOptions {
            max_decompressed_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let result = goleash_core::read(&bomb[..], &options, None);
    let peak = (PEAK.with(Cell::get) - start) as usize;
    assert!(
        matches!(result, Err(ParseError::TooLarge { limit, .. }) if limit == 1 << 20),
        "{:?}",
        result.err()
    );
    assert!(peak < 8 << 20, "peak {peak} bytes");
}

/// A stored capture: its path, its bytes and the totals of its dumps.
type StoredDump = (String, Vec<u8>, Vec<u64>);

/// Every stored text capture that reads as dumps, but for the garbled ones (whose dumps are
/// broken on purpose).
fn stored_text_dumps() -> &'static [StoredDump] {
    static DUMPS: std::sync::OnceLock<Vec<StoredDump>> = std::sync::OnceLock::new();
    DUMPS.get_or_init(|| {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "txt")
                    && !path.to_string_lossy().contains("interleaved")
                {
                    out.push(path);
                }
            }
        }
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
        let mut paths = Vec::new();
        walk(&data, &mut paths);
        paths.sort();
        let dumps: Vec<_> = paths
            .into_iter()
            .filter_map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                let totals = totals(&bytes)?;
                Some((path.to_string_lossy().into_owned(), bytes, totals))
            })
            .collect();
        assert!(dumps.len() > 90, "{} stored dumps", dumps.len());
        dumps
    })
}

fn totals(bytes: &[u8]) -> Option<Vec<u64>> {
    goleash_core::read(bytes, &ReadOptions::default(), None)
        .ok()
        .map(|c| c.snapshots.iter().map(|s| s.total).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Two dumps appended to one file, with nothing between them (two `?debug=2` fetches,
    /// two crashes in one log), read as the two dumps they are: none double counted, none
    /// merged into the other.
    #[test]
    fn two_stored_dumps_back_to_back_are_read_as_both(a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let dumps = stored_text_dumps();
        let (name_a, bytes_a, totals_a) = &dumps[a.index(dumps.len())];
        let (name_b, bytes_b, totals_b) = &dumps[b.index(dumps.len())];
        let mut both = bytes_a.clone();
        if !both.ends_with(b"\n") {
            both.push(b'\n');
        }
        both.extend_from_slice(bytes_b);
        let mut expected = totals_a.clone();
        expected.extend(totals_b);
        prop_assert_eq!(totals(&both), Some(expected), "{} then {}", name_a, name_b);
    }
}
