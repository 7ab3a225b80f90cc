//! What a test binary left behind: every goroutine still alive when it ended, attributed to
//! the test that started it, and either left over (to be grouped and judged) or not judged.
//!
//! [`leftovers`] reads them from the trace of a binary that stopped its trace: it ran to
//! its end, or `-test.timeout` stopped it (the alarm stops the trace before it panics). A
//! binary that panicked or crashed did not, and states in its trace may be stale: then
//! [`super::Crash::leftovers`] reads them from the goroutine dump the crash printed.
//!
//! # Settling without waiting
//!
//! A goroutine that exits a moment after its test ended (a `defer cancel()` racing the end
//! of the binary) is not a leak; one blocked for ever is. Rather than sampling until things
//! settle, each goroutine is judged by how the trace left it:
//!
//! - blocked (on a channel, a lock, a select, the network, a timer) or in a system call:
//!   left over, and judged by what it waits for;
//! - runnable or running, woken by the end of its test and not blocked since: on its way
//!   out, not judged;
//! - runnable or running but blocked again after its test ended (a ticker loop caught
//!   between two ticks): left over;
//! - never started: nothing says what it would do, so it is not judged either (in a later
//!   run, or with a later test after it, it shows where it blocks).
//!
//! Goroutines not judged are listed as such, so nothing disappears silently. (`goleash
//! test` first lets them settle, with a last test of its own, so that few are left so.)
//!
//! Examples run on the main goroutine rather than in a test goroutine: goroutines whose
//! creator chain passes through a `go` statement run by an `ExampleX` (the frame that
//! `testing.runExample` calls) are that example's.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::chain::{Link, trace_chain};
use super::record::trace_record;
use super::testlog::{TestAction, TestEvent};
use super::{GoState, Goroutine, Trace, attribute};
use crate::intern::{StackId, Tables};
use crate::model::Record;

/// What a test binary left behind, as [`leftovers`] or [`super::Crash::leftovers`] read it.
#[derive(Clone, Debug, Default)]
pub struct Leftovers {
    /// Goroutines left over, each with its test: to be grouped by stack and judged.
    pub goroutines: Vec<Leftover>,
    /// Goroutines alive at the end whose fate is not told, counted by test, state and
    /// function.
    pub unjudged: Vec<Unjudged>,
    /// Where each test that never ended was stuck, by test name. Its goroutine is also
    /// left over (not finished), so that what it waits for is judged.
    pub stuck: BTreeMap<String, Site>,
    /// Where the trace and the test events disagreed; the names involved may be wrong.
    pub warnings: Vec<String>,
}

/// A goroutine left over, ready to be grouped.
#[derive(Clone, Debug)]
pub struct Leftover {
    /// The test that started it (`TestX/sub`, or `(test goroutine N)` when the goroutine
    /// that ran it has no name); `None` when no test did.
    pub test: Option<String>,
    /// Its test ended, or no test started it. Goroutines of a test that never did (it
    /// timed out, or the binary died under it) belong with its failure, not with leaks.
    pub finished: bool,
    /// The goroutine as a record: its stack, what it waits for, who created it.
    pub record: Record,
    /// Who started it, and who started that one, up to its test.
    pub chain: Vec<Link>,
    /// Which run of its top-level test started it, from 1: with `-test.count=N` one binary
    /// runs every test N times, each run in goroutines of its own. 1 when no test did.
    pub run: u32,
}

/// Goroutines alive at the end whose fate the trace does not tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unjudged {
    /// The test that started them, if one did.
    pub test: Option<String>,
    /// [`GoState::NotStarted`], [`GoState::Runnable`] or [`GoState::Running`].
    pub state: GoState,
    /// The function they run.
    pub function: String,
    /// How many.
    pub count: u64,
    /// Where one of them was: a runnable goroutine's stack where it resumes, a crash dump's
    /// stack; `None` for goroutines running or never started, which a trace shows none for.
    pub stack: Option<StackId>,
}

/// A place in the code, and what the goroutine there was doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// What it waited for (`chan receive`, the trace's block reason), when it was blocked.
    pub state: Option<String>,
    /// The goroutine there, when it is a stuck test's own: it is also among the
    /// leftovers, with its whole stack, to be judged with what its test started.
    pub goroutine: Option<u64>,
}

impl Leftovers {
    /// Counts a goroutine that is not judged; `stack` is where it was, when known.
    pub(super) fn not_judged(
        &mut self,
        test: Option<String>,
        state: GoState,
        function: String,
        stack: Option<StackId>,
    ) {
        match self
            .unjudged
            .iter_mut()
            .find(|u| u.test == test && u.state == state && u.function == function)
        {
            Some(u) => {
                u.count += 1;
                u.stack = u.stack.or(stack);
            }
            None => self.unjudged.push(Unjudged {
                test,
                state,
                function,
                count: 1,
                stack,
            }),
        }
    }
}

/// Tests that reported a result (`--- PASS/FAIL/SKIP`).
pub(super) fn finished_tests(events: &[TestEvent]) -> FxHashSet<&str> {
    events
        .iter()
        .filter(|e| e.action != TestAction::Run)
        .map(|e| e.name.as_str())
        .collect()
}

/// Names of the goroutines that ran tests, from an attribution.
pub(super) fn test_names(tests: &[super::TestGoroutine]) -> FxHashMap<u64, &str> {
    tests
        .iter()
        .filter_map(|t| Some((t.goroutine, t.name.as_deref()?)))
        .collect()
}

/// The example that started goroutine `id` (directly or through the goroutines that started
/// it), and how many `go` statements away: the creation stack of one of them runs
/// `pkg.ExampleX` (or a function literal in it) called by `testing.runExample`.
fn example_of(trace: &Trace, tables: &Tables, id: u64) -> Option<(String, usize)> {
    let chain = std::iter::once(id).chain(trace.creators(id));
    for (hops, g) in chain.enumerate() {
        let stack = trace.goroutine(g)?.creation?.stack;
        let Some(stack) = stack else { continue };
        let frames = tables.frames(stack);
        for pair in frames.windows(2) {
            let caller = tables.bytes(tables.get_frame(pair[1]).function);
            if caller != b"testing.runExample" {
                continue;
            }
            let function = tables.str(tables.get_frame(pair[0]).function);
            let short = function.rsplit('/').next().unwrap_or(&function);
            let name = short.split('.').nth(1)?;
            return name
                .starts_with("Example")
                .then(|| (name.to_string(), hops + 1));
        }
    }
    None
}

/// The run (from 1) each test goroutine belongs to: the k-th goroutine that ran a
/// top-level test is its k-th run (`-test.count` runs the whole list again, in order), and
/// subtests belong to the run of their parent.
pub(super) fn runs_of(tests: &[super::TestGoroutine]) -> FxHashMap<u64, u32> {
    let mut seen: FxHashMap<&str, u32> = FxHashMap::default();
    let mut run_of: FxHashMap<u64, u32> = FxHashMap::default();
    for test in tests {
        let run = match test.parent {
            Some(parent) => run_of.get(&parent).copied().unwrap_or(1),
            None => {
                let key = test
                    .name
                    .as_deref()
                    .or(test.function.as_deref())
                    .unwrap_or_default();
                let n = seen.entry(key).or_default();
                *n += 1;
                *n
            }
        };
        run_of.insert(test.goroutine, run);
    }
    run_of
}

/// How the trace left a goroutine.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Leftover,
    Unjudged(GoState),
}

/// How the trace left `g`; `test_end` is when the goroutine that ran its test exited,
/// `None` when that test never ended.
fn fate(g: &Goroutine, test_end: Option<u64>) -> Fate {
    match g.state {
        GoState::Blocked | GoState::Syscall => Fate::Leftover,
        GoState::NotStarted => Fate::Unjudged(GoState::NotStarted),
        GoState::Runnable | GoState::Running => match test_end {
            None => Fate::Leftover,
            Some(end) if g.last_blocked.is_some_and(|b| b > end) => Fate::Leftover,
            Some(_) => Fate::Unjudged(g.state),
        },
        GoState::Exited => Fate::Unjudged(GoState::Exited),
    }
}

/// What the trace of a test binary that stopped it says the binary left behind; `events`
/// are what the binary reported about its tests.
pub fn leftovers(trace: &Trace, tables: &Tables, events: &[TestEvent]) -> Leftovers {
    let mut found = Leftovers::default();
    let finished = finished_tests(events);
    let attribution = attribute(trace, tables, events);
    found.warnings.extend(attribution.warnings.iter().cloned());
    let names = test_names(&attribution.tests);
    let runs = runs_of(&attribution.tests);
    let start = |g: &Goroutine| {
        g.start_function(tables)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .unwrap_or_default()
    };
    for leak in &attribution.leaks {
        let Some(g) = trace.goroutine(leak.goroutine) else {
            continue;
        };
        let runner = trace.goroutine(leak.test_goroutine);
        if leak.hops == 0 {
            // The test itself never ended: where it is stuck is its failure, and a wait
            // there that nothing can end is the deadlock that stopped the binary.
            if let (Some(test), Some(frame)) = (&leak.test, g.blocking_frame(tables)) {
                found.stuck.insert(
                    test.clone(),
                    Site {
                        function: tables.str(frame.function).into_owned(),
                        file: tables.str(frame.file).into_owned(),
                        line: frame.line,
                        state: g.reason.map(|r| tables.str(r).into_owned()),
                        goroutine: Some(g.id),
                    },
                );
                if matches!(g.state, GoState::Blocked) {
                    found.goroutines.push(Leftover {
                        test: Some(test.clone()),
                        finished: false,
                        record: trace_record(tables, g),
                        chain: Vec::new(),
                        run: runs.get(&g.id).copied().unwrap_or(1),
                    });
                }
            }
            continue;
        }
        let runner_exited = runner.is_some_and(Goroutine::exited);
        let ended = runner_exited || leak.test.as_deref().is_some_and(|t| finished.contains(t));
        let test_end = match runner {
            Some(r) if r.exited() => Some(r.since),
            // Caught between reporting its result and exiting.
            _ if ended => Some(trace.end_time),
            _ => None,
        };
        let test = leak
            .test
            .clone()
            .or_else(|| runner.map(|r| format!("(test goroutine {})", r.id)));
        match fate(g, test_end) {
            Fate::Unjudged(state) => found.not_judged(test, state, start(g), g.stack),
            Fate::Leftover => found.goroutines.push(Leftover {
                test,
                finished: ended,
                record: trace_record(tables, g),
                chain: trace_chain(trace, tables, g.id, leak.hops, &names),
                run: runs.get(&leak.test_goroutine).copied().unwrap_or(1),
            }),
        }
    }
    for &id in &attribution.unattributed {
        let Some(g) = trace.goroutine(id) else {
            continue;
        };
        // An example runs on the main goroutine, not in a test goroutine: what it started
        // is its own, as a test's is.
        let example = example_of(trace, tables, id);
        let finished = example
            .as_ref()
            .is_none_or(|(name, _)| finished.contains(name.as_str()));
        // Nothing ended for these: only a wait that the trace shows is judged.
        match g.state {
            GoState::Blocked | GoState::Syscall => {
                let (test, depth) = match example {
                    Some((name, hops)) => (Some(name), hops),
                    None => (None, trace.creators(id).len()),
                };
                let mut chain = trace_chain(trace, tables, id, depth, &names);
                if let (Some(name), Some(last)) = (&test, chain.last_mut()) {
                    last.test = Some(name.clone());
                }
                found.goroutines.push(Leftover {
                    test,
                    finished,
                    record: trace_record(tables, g),
                    chain,
                    run: 1,
                })
            }
            GoState::NotStarted | GoState::Running => {
                found.not_judged(None, g.state, start(g), g.stack)
            }
            _ => found.not_judged(None, GoState::Runnable, start(g), g.stack),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goroutine(state: GoState, last_blocked: Option<u64>) -> Goroutine {
        let mut g = Goroutine::new(7, 0, state);
        g.last_blocked = last_blocked;
        g
    }

    #[test]
    fn fates_follow_the_rules_of_the_module() {
        use GoState::*;
        for blocked in [Blocked, Syscall] {
            assert_eq!(fate(&goroutine(blocked, None), Some(10)), Fate::Leftover);
        }
        assert_eq!(
            fate(&goroutine(NotStarted, None), None),
            Fate::Unjudged(NotStarted)
        );
        for awake in [Runnable, Running] {
            // The test never ended: whatever it started is with its failure.
            assert_eq!(fate(&goroutine(awake, Some(5)), None), Fate::Leftover);
            // Woken by the end of its test: on its way out.
            assert_eq!(
                fate(&goroutine(awake, Some(5)), Some(10)),
                Fate::Unjudged(awake)
            );
            // Blocked again after its test ended: a loop between two waits.
            assert_eq!(fate(&goroutine(awake, Some(15)), Some(10)), Fate::Leftover);
        }
    }
}
