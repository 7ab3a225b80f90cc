//! What the traces of `fixtures/go/tracecases` must show: the goroutines each test leaks,
//! where they block, and who created them. Shared by the tests that run the fixture with
//! real toolchains and the tests on the traces committed under `tests/data/trace`.

use std::collections::BTreeSet;

use goleash_core::Tables;
use goleash_core::trace::{self, Attribution, GoState, Goroutine, TestAction, TestEvent, Trace};

const PKG: &str = "goleash.test/tracecases.";

/// A goroutine a test of the fixture leaks on purpose.
struct Expected {
    test: &'static str,
    /// The function the goroutine runs, without the package path for the fixture's own.
    start: &'static str,
    /// The states it may be in at the end; blocked leaks have exactly one.
    states: &'static [GoState],
    reason: Option<&'static str>,
    /// The innermost frame of its stack outside the runtime, without the package path.
    blocking: Option<&'static str>,
    /// Goroutines between it and its test's goroutine.
    between: usize,
}

const BLOCKED: &[GoState] = &[GoState::Blocked];

fn expected_leaks(go_minor: u32) -> Vec<Expected> {
    let leak = |test, start, reason, blocking, between| Expected {
        test,
        start,
        states: BLOCKED,
        reason: Some(reason),
        blocking: Some(blocking),
        between,
    };
    let mut leaks = vec![
        leak(
            "TestDirectLeak",
            "blockOnRecv",
            "chan receive",
            "blockOnRecv",
            0,
        ),
        leak(
            "TestNestedLeak",
            "blockOnSend",
            "chan send",
            "blockOnSend",
            1,
        ),
        leak(
            "TestSubtests/leaky",
            "blockOnMutex",
            "sync",
            "blockOnMutex",
            0,
        ),
        leak(
            "TestSubtests/nested/deeper",
            "blockOnSelect",
            "select",
            "blockOnSelect",
            0,
        ),
        leak(
            "TestParallelLeak",
            "blockOnCond",
            "sync.(*Cond).Wait",
            "blockOnCond",
            0,
        ),
        leak(
            "TestParallelSubtests/b",
            "blockForever",
            "forever",
            "blockForever",
            0,
        ),
        leak(
            "FuzzSeedLeak/seed#1",
            "blockInFuzz",
            "chan receive",
            "blockInFuzz",
            0,
        ),
        // The ticker fires every millisecond, so its loop may be caught between ticks.
        Expected {
            test: "TestTickerLoop",
            start: "leakTicker.func1",
            states: &[GoState::Blocked, GoState::Runnable, GoState::Running],
            reason: None,
            blocking: None,
            between: 0,
        },
    ];
    if go_minor >= 23 {
        // A coroutine parks with a switch, which has neither reason nor stack.
        leaks.push(Expected {
            test: "TestPullLeak",
            start: "runtime.corostart",
            states: BLOCKED,
            reason: None,
            blocking: None,
            between: 0,
        });
    }
    leaks
}

fn short(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.strip_prefix(PKG).unwrap_or(&name).to_string()
}

fn start(tables: &Tables, g: &Goroutine) -> String {
    short(g.start_function(tables).unwrap_or(b"?"))
}

/// Checks a trace of the whole fixture (its default run) and the binary's test events.
pub fn check_tracecases(trace: &Trace, tables: &Tables, events: &[TestEvent], go_minor: u32) {
    assert!(
        trace.incomplete.is_none(),
        "incomplete: {:?}",
        trace.incomplete
    );
    let attribution = trace::attribute(trace, tables, events);
    assert!(
        attribution.warnings.is_empty(),
        "{:?}",
        attribution.warnings
    );
    assert!(
        attribution.unattributed.is_empty(),
        "alive but not under a test: {:?}",
        attribution.unattributed
    );
    check_names(&attribution, events);

    let mut expected = expected_leaks(go_minor);
    for leak in &attribution.leaks {
        let g = trace.goroutine(leak.goroutine).unwrap();
        let start = start(tables, g);
        let at = expected
            .iter()
            .position(|e| e.start == start)
            .unwrap_or_else(|| panic!("unexpected leak {leak:?} running {start}: {g:?}"));
        let e = expected.remove(at);
        assert_eq!(leak.test.as_deref(), Some(e.test), "{leak:?}");
        assert!(e.states.contains(&g.state), "{start}: {g:?}");
        if let Some(reason) = e.reason {
            assert_eq!(
                g.reason.map(|r| tables.str(r)).as_deref(),
                Some(reason),
                "{g:?}"
            );
        }
        if let Some(blocking) = e.blocking {
            let frame = g
                .blocking_frame(tables)
                .expect("a blocked leak has a stack");
            assert_eq!(short(tables.bytes(frame.function)), blocking);
            assert!(
                tables.str(frame.file).ends_with("tracecases_test.go") && frame.line > 0,
                "{frame:?}"
            );
        }
        assert_eq!(leak.hops, e.between + 1, "{leak:?}");
        check_chain(trace, tables, leak.goroutine, leak.test_goroutine);
    }
    assert!(
        expected.is_empty(),
        "leaks not found: {:?}",
        expected.iter().map(|e| e.test).collect::<Vec<_>>()
    );

    // Everything else alive at the end is the runtime's, existed before the tests, or is
    // a test goroutine that reported its result and was on its way out.
    let leaked: BTreeSet<u64> = attribution.leaks.iter().map(|l| l.goroutine).collect();
    let tests: BTreeSet<u64> = attribution.tests.iter().map(|t| t.goroutine).collect();
    let mut writer = false;
    for g in trace.alive_at_end().filter(|g| !leaked.contains(&g.id)) {
        let start = g.start_function(tables);
        writer |= start.is_some_and(|f| f.starts_with(b"runtime/trace."));
        let exiting_test =
            tests.contains(&g.id) && matches!(g.state, GoState::Running | GoState::Runnable);
        assert!(
            g.is_runtime(tables) || g.creation.is_none() || exiting_test,
            "alive at the end but neither a leak nor the runtime's: {g:?} running {:?}",
            start.map(String::from_utf8_lossy)
        );
    }
    assert!(
        writer,
        "the goroutine writing the trace should still be there"
    );

    // Goroutines that ended before the binary did are not leaks.
    for clean in [
        "straggler",
        "TestSubtests.func1.1",
        "TestParallelClean.func1",
        "TestNestedLeak.func1",
    ] {
        let g = trace
            .goroutines
            .iter()
            .find(|g| start(tables, g) == clean)
            .unwrap_or_else(|| panic!("no goroutine ran {clean}"));
        assert_eq!(g.state, GoState::Exited, "{clean}: {g:?}");
        assert!(g.since > g.creation.unwrap().time && g.since <= trace.end_time);
    }
}

/// Every `=== RUN` line names exactly the test goroutines, and the other way around.
fn check_names(attribution: &Attribution, events: &[TestEvent]) {
    let runs: BTreeSet<String> = events
        .iter()
        .filter(|e| e.action == TestAction::Run)
        .map(|e| e.name.clone())
        .collect();
    assert!(runs.contains("TestDirectLeak"), "{runs:?}");
    let named: BTreeSet<String> = attribution
        .tests
        .iter()
        .map(|t| t.name.clone().unwrap_or_else(|| panic!("unnamed: {t:?}")))
        .collect();
    assert_eq!(named, runs);
}

/// Creator links from `g` reach `test`, a goroutine that runs `testing.tRunner`, created by
/// `t.Run` or by the fuzzing machinery.
fn check_chain(trace: &Trace, tables: &Tables, g: u64, test: u64) {
    let chain = trace.creators(g);
    assert!(chain.contains(&test), "{g} -> {chain:?} misses {test}");
    let runners: BTreeSet<u64> = trace
        .with_function(tables, "testing.tRunner")
        .map(|g| g.id)
        .collect();
    assert!(runners.contains(&test));
    let test = trace.goroutine(test).unwrap();
    assert_eq!(test.start_function(tables), Some(&b"testing.tRunner"[..]));
    let creator = tables.frames(test.creation.unwrap().stack.unwrap())[0];
    let creator = tables.str(tables.get_frame(creator).function);
    assert!(
        creator == "testing.(*T).Run" || creator.starts_with("testing.(*F).Fuzz"),
        "{creator}"
    );
    // The chain ends at the main goroutine, which ran the tests.
    assert_eq!(chain.last().copied(), Some(1));
}

/// Checks the trace of `TRACECASES_HANG=1 -test.run=TestHangs -test.timeout=…`: the
/// timeout stops the trace before it panics, so both stuck tests are alive in it.
pub fn check_hang(trace: &Trace, tables: &Tables, events: &[TestEvent]) {
    assert!(
        trace.incomplete.is_none(),
        "incomplete: {:?}",
        trace.incomplete
    );
    let attribution = trace::attribute(trace, tables, events);
    assert!(
        attribution.warnings.is_empty(),
        "{:?}",
        attribution.warnings
    );
    assert!(
        attribution.unattributed.is_empty(),
        "{:?}",
        attribution.unattributed
    );
    let mut leaks: Vec<(String, String, bool)> = attribution
        .leaks
        .iter()
        .map(|l| {
            let g = trace.goroutine(l.goroutine).unwrap();
            (
                l.test.clone().unwrap(),
                start(tables, g),
                l.goroutine == l.test_goroutine,
            )
        })
        .collect();
    leaks.sort();
    assert_eq!(
        leaks,
        [
            ("TestHangs".into(), "testing.tRunner".into(), true),
            ("TestHangs/stuck".into(), "blockOnSend".into(), false),
            ("TestHangs/stuck".into(), "testing.tRunner".into(), true),
        ]
    );
    let stuck = attribution
        .leaks
        .iter()
        .find(|l| l.test.as_deref() == Some("TestHangs/stuck") && l.goroutine == l.test_goroutine)
        .unwrap();
    let g = trace.goroutine(stuck.goroutine).unwrap();
    assert_eq!(g.state, GoState::Blocked);
    let frame = g.blocking_frame(tables).unwrap();
    assert_eq!(short(tables.bytes(frame.function)), "blockOnRecv");
}
