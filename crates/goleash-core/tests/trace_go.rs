//! Execution traces of real Go test binaries, built and run with every toolchain the
//! project installs: the leaks of `fixtures/go/tracecases` must be found and attributed,
//! and what goleash reads from every trace must agree, goroutine by goroutine, with what
//! Go's own trace reader reads from it.

#[path = "trace_support/expect.rs"]
mod expect;
#[path = "trace_support/go.rs"]
mod go;

use std::collections::BTreeSet;
use std::path::Path;

use goleash_core::trace::{self, GoState, Trace};
use goleash_core::{StackId, Tables};

fn parse(bytes: &[u8]) -> (Trace, Tables) {
    let mut tables = Tables::new();
    let trace = trace::parse(bytes, &mut tables).unwrap();
    (trace, tables)
}

fn tracecases(version: &str) {
    let minor = go::minor(version);
    let binary = go::build(version, "tracecases");

    let framed = go::run(&binary, "tracecases-json", &["-test.v=test2json"], &[]);
    assert!(
        framed.success,
        "{}",
        String::from_utf8_lossy(&framed.output)
    );
    let (trace, tables) = parse(&framed.trace);
    expect::check_tracecases(&trace, &tables, &trace::test_events(&framed.output), minor);
    // The same run, named from the JSON events `go test -json` would show.
    let json = go::test2json(version, &framed.output);
    assert!(json.starts_with(b"{"));
    expect::check_tracecases(&trace, &tables, &go::json_events(&json), minor);
    compare_with_go(&framed.trace_path, &trace, &tables);

    let plain = go::run(&binary, "tracecases-v", &["-test.v"], &[]);
    assert!(plain.success, "{}", String::from_utf8_lossy(&plain.output));
    let (trace, tables) = parse(&plain.trace);
    expect::check_tracecases(&trace, &tables, &trace::test_events(&plain.output), minor);

    let hang = go::run(
        &binary,
        "tracecases-hang",
        &[
            "-test.v=test2json",
            "-test.run=TestHangs",
            "-test.timeout=1s",
        ],
        &[("TRACECASES_HANG", "1")],
    );
    assert!(!hang.success, "the hanging test should time out");
    let (trace, tables) = parse(&hang.trace);
    expect::check_hang(&trace, &tables, &trace::test_events(&hang.output));
    compare_with_go(&hang.trace_path, &trace, &tables);
}

/// A busy trace over several generations: every goroutine's state must match Go's reader.
fn churn(version: &str) {
    let binary = go::build(version, "tracechurn");
    let run = go::run(&binary, "tracechurn", &["-test.v"], &[]);
    assert!(run.success, "{}", String::from_utf8_lossy(&run.output));
    let (trace, tables) = parse(&run.trace);
    assert!(trace.incomplete.is_none(), "{:?}", trace.incomplete);
    assert!(trace.generations >= 3, "{} generations", trace.generations);
    assert!(trace.goroutines.len() > 1000, "{}", trace.goroutines.len());
    compare_with_go(&run.trace_path, &trace, &tables);

    // Blocked in the first generation and never touched again: later generations know
    // them only from their statuses.
    let attribution = trace::attribute(&trace, &tables, &trace::test_events(&run.output));
    assert!(
        attribution.warnings.is_empty(),
        "{:?}",
        attribution.warnings
    );
    let mut leaks: Vec<&str> = attribution
        .leaks
        .iter()
        .map(|l| l.test.as_deref().unwrap())
        .collect();
    leaks.sort();
    let mut expected = vec!["TestChurn"; 3];
    if go::minor(version) >= 23 {
        expected.push("TestCoroutines");
    }
    assert_eq!(leaks, expected);
    let first_generation_ends = trace.start_time + 1_000_000_000;
    for leak in attribution
        .leaks
        .iter()
        .filter(|l| l.test.as_deref() == Some("TestChurn"))
    {
        let g = trace.goroutine(leak.goroutine).unwrap();
        assert_eq!(g.state, GoState::Blocked);
        assert_eq!(tables.str(g.reason.unwrap()), "chan receive");
        assert!(g.since < first_generation_ends, "{g:?}");
        let frame = g.blocking_frame(&tables).unwrap();
        assert_eq!(tables.str(frame.function), "goleash.test/tracechurn.parked");
    }
}

/// Goroutines of cgo callbacks on threads C created: they come out of a system call with
/// no creator, and the runtime pools them, ids and all, across callbacks and threads.
fn cgo(version: &str) {
    let binary = go::build(version, "tracecgo");
    let run = go::run(&binary, "tracecgo", &["-test.v=test2json"], &[]);
    assert!(run.success, "{}", String::from_utf8_lossy(&run.output));
    let (trace, tables) = parse(&run.trace);
    assert!(trace.incomplete.is_none(), "{:?}", trace.incomplete);
    compare_with_go(&run.trace_path, &trace, &tables);
    let callbacks: Vec<_> = trace
        .goroutines
        .iter()
        .filter(|g| {
            g.creation
                .is_some_and(|c| c.parent.is_none() && c.stack.is_none())
        })
        .collect();
    assert!(!callbacks.is_empty());
    for g in callbacks {
        assert_eq!(g.state, GoState::Exited, "{g:?}");
        assert!(g.first_run.is_some() || g.since > g.creation.unwrap().time);
    }
    let attribution = trace::attribute(&trace, &tables, &trace::test_events(&run.output));
    assert_eq!(attribution.tests.len(), 1);
    assert!(attribution.leaks.is_empty(), "{:?}", attribution.leaks);
    assert!(attribution.unattributed.is_empty());
    assert!(attribution.warnings.is_empty());
}

fn frames(tables: &Tables, stack: Option<StackId>) -> Vec<(String, u32)> {
    stack
        .map(|s| {
            tables
                .frames(s)
                .iter()
                .map(|&f| {
                    let f = tables.get_frame(f);
                    (tables.str(f.function).into_owned(), f.line)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every goroutine goleash read from the trace is one Go's reader read, created by the same
/// goroutine at the same stacks, and ends in the same state for the same reason at the
/// same stack.
fn compare_with_go(path: &Path, trace: &Trace, tables: &Tables) {
    let theirs = go::go_reader(path);
    let ours: BTreeSet<u64> = trace.goroutines.iter().map(|g| g.id).collect();
    assert_eq!(ours, theirs.keys().copied().collect::<BTreeSet<u64>>());
    for g in &trace.goroutines {
        let go = &theirs[&g.id];
        match go.first_from.as_str() {
            "NotExist" => {
                let creation = g.creation.unwrap_or_else(|| panic!("{g:?} vs {go:?}"));
                let creator = go.creator.filter(|&c| c >= 0).map(|c| c as u64);
                assert_eq!(creation.parent, creator, "{g:?}");
                assert_eq!(frames(tables, g.start_stack), go.start_stack, "{g:?}");
                assert_eq!(frames(tables, creation.stack), go.creation_stack, "{g:?}");
            }
            "Undetermined" => assert!(g.creation.is_none(), "{g:?} vs {go:?}"),
            other => panic!("goroutine {} first seen {other}", g.id),
        }
        let state = match g.state {
            GoState::NotStarted | GoState::Runnable => "Runnable",
            GoState::Running => "Running",
            GoState::Syscall => "Syscall",
            GoState::Blocked => "Waiting",
            GoState::Exited => "NotExist",
        };
        assert_eq!(state, go.last_to, "{g:?} vs {go:?}");
        let reason = g
            .reason
            .map(|r| tables.str(r).into_owned())
            .unwrap_or_default();
        assert_eq!(reason, go.last_reason, "{g:?} vs {go:?}");
        if !go.last_stack.is_empty() {
            assert_eq!(frames(tables, g.stack), go.last_stack, "{g:?} vs {go:?}");
        }
    }
}

#[test]
fn tracecases_go1_22() {
    tracecases(go::VERSIONS[0]);
}

#[test]
fn tracecases_go1_23() {
    tracecases(go::VERSIONS[1]);
}

#[test]
fn tracecases_go1_25() {
    tracecases(go::VERSIONS[2]);
}

#[test]
fn tracecases_go1_27() {
    tracecases(go::VERSIONS[3]);
}

#[test]
fn churn_go1_22() {
    churn(go::VERSIONS[0]);
}

#[test]
fn churn_go1_23() {
    churn(go::VERSIONS[1]);
}

#[test]
fn churn_go1_25() {
    churn(go::VERSIONS[2]);
}

#[test]
fn churn_go1_27() {
    churn(go::VERSIONS[3]);
}

#[test]
fn cgo_go1_22() {
    cgo(go::VERSIONS[0]);
}

#[test]
fn cgo_go1_23() {
    cgo(go::VERSIONS[1]);
}

#[test]
fn cgo_go1_25() {
    cgo(go::VERSIONS[2]);
}

#[test]
fn cgo_go1_27() {
    cgo(go::VERSIONS[3]);
}
