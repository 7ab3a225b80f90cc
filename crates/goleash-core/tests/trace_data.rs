//! Real traces kept in `tests/data/trace` (see its README): the fixture's leaks without a
//! Go toolchain, and what truncated traces read as.

#[path = "trace_support/expect.rs"]
mod expect;

use std::io::Read;
use std::path::PathBuf;

use goleash_core::Tables;
use goleash_core::trace::{self, GoState, Trace, TraceError, TraceOptions, Version};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/trace")
        .join(name)
}

fn load(name: &str) -> (Trace, Tables, Vec<u8>) {
    let mut tables = Tables::new();
    let file = std::fs::File::open(path(&format!("{name}.trace.gz"))).unwrap();
    let trace = trace::read(file, &TraceOptions::default(), &mut tables).unwrap();
    let output = std::fs::read(path(&format!("{name}.out"))).unwrap();
    (trace, tables, output)
}

fn raw(name: &str) -> Vec<u8> {
    let file = std::fs::File::open(path(&format!("{name}.trace.gz"))).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

#[test]
fn tracecases_of_every_format_version() {
    for (name, minor, version) in [
        ("tracecases-go1.22.10", 22, Version::Go122),
        ("tracecases-go1.23.9", 23, Version::Go123),
        ("tracecases-go1.25.5", 25, Version::Go125),
        ("tracecases-go1.27.3", 27, Version::Go126),
    ] {
        let (trace, tables, output) = load(name);
        assert_eq!(trace.version, version);
        expect::check_tracecases(&trace, &tables, &trace::test_events(&output), minor);
    }
}

#[test]
fn a_timed_out_run_shows_the_stuck_tests() {
    let (trace, tables, output) = load("hang-go1.27.3");
    expect::check_hang(&trace, &tables, &trace::test_events(&output));
}

#[test]
fn goroutines_blocked_across_generations() {
    for name in ["quiet-go1.22.10", "quiet-go1.27.3"] {
        let (trace, tables, output) = load(name);
        assert!(trace.incomplete.is_none());
        assert_eq!(trace.generations, 3, "{name}");
        assert!(trace.end_time - trace.start_time > 2_000_000_000);
        let attribution = trace::attribute(&trace, &tables, &trace::test_events(&output));
        assert!(
            attribution.warnings.is_empty(),
            "{:?}",
            attribution.warnings
        );
        assert_eq!(attribution.leaks.len(), 3);
        for leak in &attribution.leaks {
            assert_eq!(leak.test.as_deref(), Some("TestChurn"));
            let g = trace.goroutine(leak.goroutine).unwrap();
            assert_eq!(g.state, GoState::Blocked);
            assert_eq!(tables.str(g.reason.unwrap()), "chan receive");
            // Blocked in the first generation; the later two only restate it.
            assert!(g.since < trace.start_time + 1_000_000_000, "{g:?}");
            let frame = g.blocking_frame(&tables).unwrap();
            assert_eq!(tables.str(frame.function), "goleash.test/tracechurn.parked");
        }
    }
}

/// Cutting a trace anywhere never panics, and what a cut trace reads as is true of the
/// whole trace: goroutines are created the same way, and those that exited did exit. A
/// cut is reported unless it falls exactly between two generations, which no version of
/// the format can tell from the end of the trace.
#[test]
fn truncated_traces_keep_what_is_complete() {
    for name in ["quiet-go1.22.10", "quiet-go1.27.3", "tracecases-go1.23.9"] {
        let bytes = raw(name);
        let mut tables = Tables::new();
        let whole = trace::parse(&bytes, &mut tables).unwrap();
        let mut partial_generations = 0;
        let step = (bytes.len() / 700).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let cut_trace = match trace::parse(&bytes[..cut], &mut tables) {
                Ok(t) => t,
                Err(
                    TraceError::NotATrace
                    | TraceError::NoData
                    | TraceError::Truncated { .. }
                    | TraceError::Malformed { .. }
                    | TraceError::Inconsistent { .. },
                ) => continue,
                Err(e) => panic!("{name} cut at {cut}: {e}"),
            };
            if cut_trace.incomplete.is_none() {
                assert!(
                    cut_trace.generations < whole.generations,
                    "{name} cut at {cut}"
                );
            }
            partial_generations += cut_trace.generations;
            for g in &cut_trace.goroutines {
                let w = whole.goroutine(g.id).unwrap();
                assert_eq!(g.creation, w.creation, "{name} cut at {cut}");
                assert_eq!(g.start_stack, w.start_stack);
                if g.exited() {
                    assert!(w.exited(), "{name} cut at {cut}: {g:?} vs {w:?}");
                }
            }
        }
        if whole.generations > 1 {
            assert!(
                partial_generations > 0,
                "no cut of {name} kept a generation"
            );
        }
    }
}

#[test]
fn gzip_and_limits() {
    let mut tables = Tables::new();
    let bytes = raw("hang-go1.27.3");
    let plain = trace::read(&bytes[..], &TraceOptions::default(), &mut tables).unwrap();
    assert_eq!(
        plain.goroutines.len(),
        load("hang-go1.27.3").0.goroutines.len()
    );
    let small = TraceOptions { max_bytes: 1000 };
    assert!(matches!(
        trace::read(&bytes[..], &small, &mut tables),
        Err(TraceError::TooLarge { limit: 1000 })
    ));
    let gz = std::fs::read(path("hang-go1.27.3.trace.gz")).unwrap();
    assert!(matches!(
        trace::read(&gz[..], &small, &mut tables),
        Err(TraceError::TooLarge { .. })
    ));
    assert!(matches!(
        trace::read(&gz[..gz.len() / 2], &TraceOptions::default(), &mut tables),
        Err(TraceError::Io(_))
    ));
}

#[test]
fn rejects_what_is_not_a_v2_trace() {
    let mut tables = Tables::new();
    let mut parse = |bytes: &[u8]| trace::parse(bytes, &mut tables).map(|_| ());
    assert!(matches!(
        parse(b"go 1.21 trace\0\0\0\x00"),
        Err(TraceError::OldVersion(21))
    ));
    assert!(matches!(
        parse(b"go 1.27 trace\0\0\0"),
        Err(TraceError::UnknownVersion(27))
    ));
    assert!(matches!(
        parse(b"goroutine 1 [running]:\n"),
        Err(TraceError::NotATrace)
    ));
    assert!(matches!(parse(b""), Err(TraceError::NotATrace)));
    assert!(matches!(
        parse(b"go 1.22 trace\0\0\0"),
        Err(TraceError::NoData)
    ));
    assert!(matches!(
        parse(b"go 1.26 trace\0\0\0"),
        Err(TraceError::NoData)
    ));
    let message = parse(b"go 1.19 trace\0\0\0").unwrap_err().to_string();
    assert!(
        message.contains("Go 1.19") && message.contains("1.22"),
        "{message}"
    );
}
