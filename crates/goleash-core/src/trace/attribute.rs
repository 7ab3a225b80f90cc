//! Which test started each goroutine still alive at the end of a test binary's trace.
//!
//! Every test, subtest and fuzz seed runs in a goroutine of its own that runs
//! `testing.tRunner` (`testing.fRunner` for fuzz targets), created by the `t.Run` of its
//! parent test, or by the main goroutine for top-level tests. Creator links lead from any
//! goroutine to the innermost such test goroutine above it: that is the test whose code
//! (directly, or through goroutines it started) ran the `go` statement.
//!
//! The trace holds no test names, so test goroutines are named from the binary's report of
//! its tests: its `=== RUN` lines, or the `run` events `go test -json` made of them. A parent runs `t.Run` for its subtests one after the
//! other, and `t.Run` prints `=== RUN   Parent/sub` before it creates the subtest's
//! goroutine, so the k-th test goroutine a test creates is the k-th `=== RUN` line naming
//! one of its direct subtests, whatever else runs in parallel. For top-level tests the
//! trace also names the test function itself: it is the frame `testing.tRunner` calls, in
//! the creation stack of every goroutine the test creates, and `pkg.TestX` runs the test
//! `TestX`. That evidence keeps the order aligned when the output misses a test or has one
//! the trace does not.
//!
//! # What it covers
//!
//! - Top-level tests, subtests at any depth, `t.Parallel` at any level, `-test.count`
//!   repeats, fuzz targets and their seed entries, `testing/synctest` bubbles (Go 1.25+),
//!   and goroutines started through any number of intermediate goroutines, including the
//!   coroutines of an `iter.Pull` never stopped.
//! - A test goroutine caught between printing its result and exiting when tracing stopped
//!   is not a leak; one that never printed a result is (see [`Leak::test_goroutine`]).
//! - `-test.timeout`: the alarm stops the trace before it panics, so the trace is complete
//!   and shows the stuck tests, each as its own leak, with what they started.
//!
//! # What it cannot do
//!
//! - Goroutines started for a test by a goroutine that is not under it (a server or pool
//!   started in `TestMain` or `init`, a `time.AfterFunc` callback, which the runtime's timer
//!   code starts) belong to whoever ran the `go` statement: they are
//!   [`Attribution::unattributed`], or the server's test if a test started the server.
//! - Goroutines that existed before tracing started (in `init`, or in `TestMain` before
//!   `m.Run`, which starts the trace) have no creation in the trace: they are left out.
//! - A panic ends the binary without stopping the trace: what was flushed before is there
//!   (with Go 1.22 often nothing but the header), and [`Trace::incomplete`] says so. The
//!   panic's own output names the test.
//! - Names come from the events: without `=== RUN` lines (no `-test.v`) test goroutines
//!   stay unnamed, except that [`TestGoroutine::function`] still shows top-level test
//!   functions. Events of several binaries mixed together misalign the order.
//! - A subtest name holding a `/` of its own (`t.Run("a/b", …)`) is nested under a
//!   sibling test literally named `a`, if one ran before it.

use rustc_hash::{FxHashMap, FxHashSet};

use super::testlog::{TestAction, TestEvent};
use super::{Goroutine, Trace};
use crate::intern::{StackId, Tables};

/// What [`attribute`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Every goroutine that ran a test, subtest or fuzz seed, in creation order.
    pub tests: Vec<TestGoroutine>,
    /// Goroutines alive at the end of the trace that a test started, by goroutine id.
    pub leaks: Vec<Leak>,
    /// Goroutines created while tracing that were alive at the end but that no test
    /// started: their creator chain reaches no test goroutine (created by `TestMain` or
    /// package code outside any test, or by a long-lived goroutine on a test's behalf).
    /// The runtime's own goroutines, the main goroutine, goroutines of package `testing`
    /// itself and goroutines that existed before tracing started are left out.
    pub unattributed: Vec<u64>,
    /// Where the trace and the output disagreed; the names involved may be wrong.
    pub warnings: Vec<String>,
}

/// A goroutine that ran a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestGoroutine {
    /// Its id.
    pub goroutine: u64,
    /// The full test name (`TestX/sub/deeper`); `None` when no `=== RUN` line matched.
    pub name: Option<String>,
    /// The test function it ran (`example.com/pkg.TestX`, `example.com/pkg.TestX.func1`),
    /// when the trace shows it.
    pub function: Option<String>,
    /// The test goroutine above it; `None` for top-level tests.
    pub parent: Option<u64>,
}

/// A goroutine a test left running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// The goroutine.
    pub goroutine: u64,
    /// The test that started it, subtest-qualified; `None` when its test goroutine could
    /// not be named.
    pub test: Option<String>,
    /// The goroutine that ran that test. Equal to `goroutine` when the test itself never
    /// finished (no `--- PASS/FAIL/SKIP` line): a trace stopped by `-test.timeout` shows
    /// the stuck tests that way.
    pub test_goroutine: u64,
    /// How many creations separate it from `test_goroutine`: 1 when the test's own code ran
    /// the `go` statement, 0 for the test goroutine itself. The goroutines in between are
    /// the first `hops - 1` of [`Trace::creators`].
    pub hops: usize,
}

const TEST_RUNNERS: [&[u8]; 2] = [b"testing.tRunner", b"testing.fRunner"];
/// Since Go 1.25, `testing/synctest.Test` runs its function in a test goroutine of its own
/// that carries its parent's name and prints no `=== RUN` line. It is created by
/// `testing.testingSynctestTest`, which traces under the name it is linked to.
const SYNCTEST_CREATORS: [&[u8]; 2] = [
    b"testing.testingSynctestTest",
    b"testing/synctest.testingSynctestTest",
];

/// Attributes every goroutine alive at the end of `trace` to the test that started it.
/// `events` are what the same run of the test binary reported about its tests, in order.
pub fn attribute(trace: &Trace, tables: &Tables, events: &[TestEvent]) -> Attribution {
    let mut out = Attribution::default();
    let (tests, mut ancestry) = find_tests(trace, tables);
    let names = name_tests(&tests, events, &mut out.warnings);
    // A test goroutine reports its result just before it exits: one caught in between
    // when tracing stopped has finished.
    let finished: FxHashSet<&str> = events
        .iter()
        .filter(|e| e.action != TestAction::Run)
        .map(|e| e.name.as_str())
        .collect();

    let mut harness = FxHashSet::default();
    for test in tests.order.iter().map(|id| &tests.info[id]) {
        if test.parent.is_none()
            && let Some(creator) = trace.goroutine(test.id).and_then(Goroutine::parent)
        {
            harness.insert(creator);
        }
    }
    for g in trace.alive_at_end() {
        if tests.info.contains_key(&g.id) {
            let name = names.get(&g.id);
            if name.is_some_and(|n| finished.contains(n.as_str())) {
                continue;
            }
            out.leaks.push(Leak {
                goroutine: g.id,
                test: names.get(&g.id).cloned(),
                test_goroutine: g.id,
                hops: 0,
            });
            continue;
        }
        // The runtime's goroutines, the main goroutine, and the test framework's own (the
        // -test.timeout alarm, fuzzing workers) are nobody's leak.
        let start = g.start_function(tables);
        if g.is_runtime(tables)
            || harness.contains(&g.id)
            || start == Some(b"runtime.main")
            || start.is_some_and(|f| f.starts_with(b"testing."))
        {
            continue;
        }
        match ancestry.nearest_test(g.id) {
            Some((test, hops)) => out.leaks.push(Leak {
                goroutine: g.id,
                test: names.get(&test).cloned(),
                test_goroutine: test,
                hops,
            }),
            None if g.creation.is_some() => out.unattributed.push(g.id),
            None => {}
        }
    }
    out.tests = tests
        .order
        .iter()
        .map(|id| {
            let test = &tests.info[id];
            TestGoroutine {
                goroutine: test.id,
                name: names.get(&test.id).cloned(),
                function: test.function.clone(),
                parent: test.parent,
            }
        })
        .collect();
    out
}

struct TestInfo {
    id: u64,
    /// The nearest test goroutine on its creator chain.
    parent: Option<u64>,
    /// Created by `testing/synctest`: named after its parent, no `=== RUN` line.
    synctest: bool,
    function: Option<String>,
}

struct Tests {
    info: FxHashMap<u64, TestInfo>,
    /// By creation time.
    order: Vec<u64>,
}

fn find_tests<'t>(trace: &'t Trace, tables: &Tables) -> (Tests, Ancestry<'t>) {
    let mut order: Vec<&Goroutine> = trace
        .goroutines
        .iter()
        .filter(|g| {
            g.start_function(tables)
                .is_some_and(|f| TEST_RUNNERS.contains(&f))
        })
        .collect();
    order.sort_by_key(|g| (g.creation.map(|c| c.time), g.id));
    let mut ancestry = Ancestry {
        trace,
        tests: order.iter().map(|g| g.id).collect(),
        memo: FxHashMap::default(),
    };
    let mut info = FxHashMap::default();
    for g in &order {
        let parent = ancestry.nearest_test(g.id).map(|(test, _)| test);
        let synctest = g
            .creation
            .and_then(|c| c.stack)
            .and_then(|s| tables.frames(s).first())
            .is_some_and(|&f| {
                SYNCTEST_CREATORS.contains(&tables.bytes(tables.get_frame(f).function))
            });
        let function = g.stack.and_then(|s| test_function(tables, s));
        info.insert(
            g.id,
            TestInfo {
                id: g.id,
                parent,
                synctest,
                function,
            },
        );
    }
    // A test's goroutines were created by its code, so their creation stacks show the
    // function the test goroutine runs.
    for g in &trace.goroutines {
        if let Some(parent) = g.parent()
            && let Some(test) = info.get_mut(&parent)
            && test.function.is_none()
            && let Some(function) = g.creation.and_then(|c| c.stack)
        {
            test.function = test_function(tables, function);
        }
    }
    let tests = Tests {
        info,
        order: order.iter().map(|g| g.id).collect(),
    };
    (tests, ancestry)
}

/// The nearest test goroutine above each goroutine, remembered, so that deep creator
/// chains (a pipeline of goroutines each starting the next) cost time in proportion to
/// the goroutines, not to the goroutines times the depth.
struct Ancestry<'t> {
    trace: &'t Trace,
    tests: FxHashSet<u64>,
    /// The nearest test goroutine above a goroutine, and how many creations away.
    memo: FxHashMap<u64, Option<(u64, usize)>>,
}

impl Ancestry<'_> {
    fn nearest_test(&mut self, id: u64) -> Option<(u64, usize)> {
        // Walk up to a goroutine whose answer is known or found, then hand it down.
        let mut path = Vec::new();
        let mut at = id;
        let mut answer = loop {
            if let Some(&known) = self.memo.get(&at) {
                break known;
            }
            match self.trace.goroutine(at).and_then(Goroutine::parent) {
                Some(parent) if self.tests.contains(&parent) => break Some((parent, 1)),
                // Longer than there are goroutines: a loop, which only a damaged trace
                // (reusing ids) can make.
                Some(_) if path.len() > self.trace.goroutines.len() => break None,
                Some(parent) => {
                    path.push(at);
                    at = parent;
                }
                None => break None,
            }
        };
        self.memo.insert(at, answer);
        for below in path.into_iter().rev() {
            answer = answer.map(|(test, hops)| (test, hops + 1));
            self.memo.insert(below, answer);
        }
        answer
    }
}

/// The function `testing.tRunner` called in this stack, unless it is part of `testing`
/// (a deferred cleanup, `testing.(*T).Run` of the root).
fn test_function(tables: &Tables, stack: StackId) -> Option<String> {
    let frames = tables.frames(stack);
    let runner = frames
        .iter()
        .rposition(|&f| TEST_RUNNERS.contains(&tables.bytes(tables.get_frame(f).function)))?;
    let called = tables.bytes(
        tables
            .get_frame(*frames.get(runner.checked_sub(1)?)?)
            .function,
    );
    (!called.starts_with(b"testing.")).then(|| String::from_utf8_lossy(called).into_owned())
}

/// The test a top-level test function runs: `example.com/pkg.TestX` runs `TestX`. `None`
/// for closures (`pkg.TestX.func1`), which run subtests.
fn top_level_name(function: &str) -> Option<&str> {
    let last = function.rsplit('/').next()?;
    let (_, name) = last.split_once('.')?;
    (!name.contains('.')).then_some(name)
}

/// The `=== RUN` lines as a tree: a run's parent is the latest earlier run whose name is
/// the longest prefix of its own at a `/`.
struct RunTree {
    names: Vec<String>,
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
}

impl RunTree {
    fn new(events: &[TestEvent]) -> Self {
        let mut tree = RunTree {
            names: Vec::new(),
            children: Vec::new(),
            roots: Vec::new(),
        };
        let mut latest: FxHashMap<String, usize> = FxHashMap::default();
        for run in events.iter().filter(|e| e.action == TestAction::Run) {
            let index = tree.names.len();
            let parent = run
                .name
                .match_indices('/')
                .rev()
                .find_map(|(i, _)| latest.get(&run.name[..i]).copied());
            match parent {
                Some(p) => tree.children[p].push(index),
                // Examples run on the main goroutine and benchmarks in goroutines of their
                // own: neither has a test goroutine to match.
                None if run.name.starts_with("Example") || run.name.starts_with("Benchmark") => {}
                None => tree.roots.push(index),
            }
            latest.insert(run.name.clone(), index);
            tree.names.push(run.name.clone());
            tree.children.push(Vec::new());
        }
        tree
    }
}

fn name_tests(
    tests: &Tests,
    events: &[TestEvent],
    warnings: &mut Vec<String>,
) -> FxHashMap<u64, String> {
    let tree = RunTree::new(events);
    // The goroutines each test created with t.Run, in creation order. Synctest goroutines
    // are transparent: the subtests they run are their parent's.
    let naming_parent = |mut id: u64| {
        // Bounded: test goroutines created by each other in a loop, which only a damaged
        // trace can hold, have no naming parent.
        for _ in 0..tests.order.len() {
            match tests.info[&id].parent {
                Some(p) if tests.info[&p].synctest => id = p,
                p => return p,
            }
        }
        None
    };
    let mut children: FxHashMap<Option<u64>, Vec<u64>> = FxHashMap::default();
    for &id in &tests.order {
        if !tests.info[&id].synctest {
            children.entry(naming_parent(id)).or_default().push(id);
        }
    }
    let mut names = FxHashMap::default();
    let mut pending = vec![(None, tree.roots.clone())];
    while let Some((parent, nodes)) = pending.pop() {
        let goroutines = children.get(&parent).map(Vec::as_slice).unwrap_or(&[]);
        let mut next = 0;
        for &g in goroutines {
            let evidence = match parent {
                None => tests.info[&g].function.as_deref().and_then(top_level_name),
                Some(_) => None,
            };
            let matched = match evidence {
                Some(name) => {
                    let found = nodes[next..].iter().position(|&n| tree.names[n] == name);
                    if found.is_none() {
                        warnings.push(format!(
                            "goroutine {g} runs {}, but no `=== RUN   {name}` line is left for it",
                            tests.info[&g].function.as_deref().unwrap_or("?")
                        ));
                    }
                    found.map(|k| next + k)
                }
                None => (next < nodes.len()).then_some(next),
            };
            let Some(k) = matched else {
                if evidence.is_none() {
                    warnings.push(format!(
                        "test goroutine {g} has no `=== RUN` line left to name it"
                    ));
                }
                continue;
            };
            for &skipped in &nodes[next..k] {
                warnings.push(format!(
                    "no test goroutine for `=== RUN   {}`",
                    tree.names[skipped]
                ));
            }
            next = k + 1;
            let node = nodes[k];
            names.insert(g, tree.names[node].clone());
            pending.push((Some(g), tree.children[node].clone()));
        }
        for &skipped in &nodes[next..] {
            warnings.push(format!(
                "no test goroutine for `=== RUN   {}`",
                tree.names[skipped]
            ));
        }
    }
    // A synctest goroutine has its parent's name.
    for &id in &tests.order {
        if tests.info[&id].synctest
            && let Some(name) = tests.info[&id].parent.and_then(|p| names.get(&p)).cloned()
        {
            names.insert(id, name);
        }
    }
    warnings.sort();
    warnings.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Frame;
    use crate::trace::{Creation, GoState, Version, test_events};

    /// A trace of goroutines given as (id, parent, start function, state).
    fn synthetic(tables: &mut Tables, goroutines: &[(u64, Option<u64>, &str, GoState)]) -> Trace {
        let mut stack = |function: &str| {
            let frame = Frame {
                function: tables.sym(function.as_bytes()),
                file: tables.sym(b"x.go"),
                line: 1,
                offset: None,
                inlined: false,
            };
            let frame = tables.frame(frame);
            tables.stack(&[frame])
        };
        let mut goroutines: Vec<Goroutine> = goroutines
            .iter()
            .map(|&(id, parent, start, state)| Goroutine {
                id,
                creation: parent.map(|p| Creation {
                    time: id,
                    parent: Some(p),
                    stack: None,
                }),
                start_stack: Some(stack(start)),
                initial_stack: None,
                state,
                since: id,
                reason: None,
                stack: None,
                first_run: None,
                last_blocked: None,
            })
            .collect();
        goroutines.sort_by_key(|g| g.id);
        Trace {
            version: Version::Go126,
            goroutines,
            start_time: 0,
            end_time: u64::MAX,
            generations: 1,
            incomplete: None,
        }
    }

    #[test]
    fn deep_chains_cost_linear_time() {
        let mut tables = Tables::new();
        let depth = 20_000u64;
        let mut gs = vec![
            (1, None, "runtime.main", GoState::Blocked),
            (2, Some(1), "testing.tRunner", GoState::Exited),
        ];
        gs.extend((3..depth + 3).map(|id| (id, Some(id - 1), "pkg.stage", GoState::Blocked)));
        let trace = synthetic(&mut tables, &gs);
        let attribution = attribute(&trace, &tables, &test_events(b"=== RUN   TestPipeline\n"));
        assert!(
            attribution.warnings.is_empty(),
            "{:?}",
            attribution.warnings
        );
        assert_eq!(attribution.leaks.len(), depth as usize);
        for leak in &attribution.leaks {
            assert_eq!(leak.test.as_deref(), Some("TestPipeline"));
            assert_eq!(leak.test_goroutine, 2);
            assert_eq!(leak.hops as u64, leak.goroutine - 2);
        }
    }

    #[test]
    fn test_goroutines_in_a_creator_loop_end() {
        let mut tables = Tables::new();
        let mut trace = synthetic(
            &mut tables,
            &[
                (5, Some(6), "testing.tRunner", GoState::Blocked),
                (6, Some(5), "testing.tRunner", GoState::Blocked),
                (7, Some(5), "testing.tRunner", GoState::Blocked),
            ],
        );
        // 5 and 6 look created by synctest, each named after the other; 7 is a subtest
        // of theirs.
        let (function, file) = (
            tables.sym(b"testing.testingSynctestTest"),
            tables.sym(b"t.go"),
        );
        let frame = tables.frame(Frame {
            function,
            file,
            line: 1,
            offset: None,
            inlined: false,
        });
        let stack = tables.stack(&[frame]);
        for g in trace.goroutines.iter_mut().filter(|g| g.id != 7) {
            g.creation.as_mut().unwrap().stack = Some(stack);
        }
        let attribution = attribute(&trace, &tables, &test_events(b"=== RUN   TestX\n"));
        assert_eq!(attribution.tests.len(), 3);
        let named: Vec<u64> = attribution
            .tests
            .iter()
            .filter(|t| t.name.is_some())
            .map(|t| t.goroutine)
            .collect();
        assert_eq!(named, [7], "only the one outside the loop can take a name");
    }

    #[test]
    fn creator_loops_in_damaged_traces_end() {
        let mut tables = Tables::new();
        let trace = synthetic(
            &mut tables,
            &[
                (5, Some(6), "pkg.a", GoState::Blocked),
                (6, Some(5), "pkg.b", GoState::Blocked),
                (7, Some(6), "pkg.c", GoState::Blocked),
            ],
        );
        assert_eq!(trace.creators(7), [6, 5]);
        let attribution = attribute(&trace, &tables, &[]);
        assert!(attribution.leaks.is_empty());
        assert_eq!(attribution.unattributed, [5, 6, 7]);
    }

    #[test]
    fn top_level_names() {
        assert_eq!(top_level_name("example.com/a/pkg.TestX"), Some("TestX"));
        assert_eq!(top_level_name("pkg_test.TestY"), Some("TestY"));
        assert_eq!(top_level_name("example.com/pkg.TestX.func1"), None);
        assert_eq!(top_level_name("TestX"), None);
    }

    #[test]
    fn run_tree_nests_by_latest_prefix() {
        let out = b"=== RUN   TestA\n=== RUN   TestA/x\n=== RUN   TestA/x/y\n=== RUN   TestA/x/y#01\n=== RUN   ExampleA\n=== RUN   TestA\n=== RUN   TestA/x\n";
        let tree = RunTree::new(&test_events(out));
        let name = |i: usize| tree.names[i].as_str();
        let roots: Vec<&str> = tree.roots.iter().map(|&i| name(i)).collect();
        assert_eq!(roots, ["TestA", "TestA"]);
        let second = tree.roots[1];
        assert_eq!(tree.children[second], [6]);
        let x = tree.children[tree.roots[0]][0];
        let xs: Vec<&str> = tree.children[x].iter().map(|&i| name(i)).collect();
        assert_eq!(xs, ["TestA/x/y", "TestA/x/y#01"]);
    }
}
