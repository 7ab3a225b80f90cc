//! What one package's tests left behind: the goroutines still alive when its test binary
//! ended, each attributed to the test that started it, grouped by stack per test, and
//! judged as `goleash check` judges a snapshot.
//!
//! The evidence is the execution trace, when the binary stopped it: it ran to its end, or
//! `-test.timeout` stopped it (the alarm stops the trace before it panics). A binary that
//! panicked or crashed did not: its trace is cut short or empty, and states in it may be
//! stale. Then the goroutine dump the crash printed (the exec wrapper sets
//! `GOTRACEBACK=all`) says which goroutines were alive and where; the trace, as far as it
//! goes, and the dump's `created by` lines say which test started them.
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
//! Goroutines not judged are listed as such, so nothing disappears silently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use goleash_core::classify::{self, AssessOptions, Assessment, Moment};
use goleash_core::code::{Origin, origin};
use goleash_core::model::{
    Blocking, Cause, CauseKind, Creator, DumpInfo, RaceReport, Record, State, Warning,
};
use goleash_core::parse::{self, ParseOptions, Sink};
use goleash_core::trace::{self, GoState, Goroutine, Trace};
use goleash_core::{FrameId, GroupOptions, Grouper, Snapshot, StackId, Sym, Tables};

use super::exec::{self, Exit};
use super::run::{PackageRun, TestResult};
use crate::analysis::FileSource;
use crate::gate::{Gate, GateOutcome};

/// What goleash found in one package.
pub struct PackageReport {
    /// The import path.
    pub package: String,
    /// How its test binary did.
    pub status: Status,
    /// Seconds its binary ran, as `go test` measured them.
    pub elapsed: Option<f64>,
    /// Tests that failed, and how.
    pub failures: Vec<Failure>,
    /// What the judgement rests on.
    pub evidence: Evidence,
    /// Why the evidence is partial or missing, when it is.
    pub problem: Option<String>,
    /// Why goleash could not check the package although its binary ran to its end.
    pub error: Option<String>,
    /// The strings, frames and stacks the groups refer to.
    pub tables: Tables,
    /// Per test, the goroutines it left behind.
    pub tests: Vec<TestLeftovers>,
    /// Goroutines alive at the end that the trace cannot judge.
    pub unjudged: Vec<Unjudged>,
    /// Where the trace and the output disagreed.
    pub warnings: Vec<String>,
}

/// How a package's test binary did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every test passed.
    Passed,
    /// Some test failed; the binary ran to its end.
    Failed,
    /// `-test.timeout` stopped it.
    TimedOut,
    /// It panicked or hit a fatal error.
    Crashed,
    /// It ended without finishing its tests and without a crash report (`os.Exit` in a
    /// test, or a signal).
    Exited,
    /// It did not build.
    BuildFailed,
    /// No test files.
    NoTests,
}

impl Status {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Crashed => "crashed",
            Status::Exited => "exited",
            Status::BuildFailed => "build_failed",
            Status::NoTests => "no_tests",
        }
    }

    /// Whether the package fails the run whatever leaked.
    pub fn failed(self) -> bool {
        !matches!(self, Status::Passed | Status::NoTests)
    }
}

/// What a report rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The trace of a binary that stopped it.
    Trace,
    /// The goroutine dump of a crash, with the trace as far as it went.
    CrashDump,
    /// Nothing: no binary ran, or it left nothing readable.
    None,
}

impl Evidence {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Trace => "trace",
            Evidence::CrashDump => "crash_dump",
            Evidence::None => "none",
        }
    }
}

/// A test that failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The test; `None` when the package failed as a whole (it did not build).
    pub test: Option<String>,
    /// How.
    pub kind: FailureKind,
    /// The panic or fatal error, the timeout.
    pub message: Option<String>,
    /// Where it was: the panic's line, or where a timed-out test was stuck.
    pub at: Option<Site>,
}

/// How a test failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// It reported a failure.
    Failed,
    /// It panicked, and the panic ended the binary.
    Panicked,
    /// It was running when `-test.timeout` stopped the binary.
    TimedOut,
    /// It was running when the binary crashed or exited.
    Interrupted,
    /// The package did not build.
    BuildFailed,
}

impl FailureKind {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Failed => "failed",
            FailureKind::Panicked => "panicked",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Interrupted => "interrupted",
            FailureKind::BuildFailed => "build_failed",
        }
    }
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
    /// What it waited for (`chan receive`), when it was blocked.
    pub state: Option<String>,
}

/// The goroutines one test left behind.
pub struct TestLeftovers {
    /// The test (`TestX/sub`); `None` for goroutines no test started.
    pub test: Option<String>,
    /// The test ended. Goroutines of a test that never did (it timed out, or the binary
    /// died under it) are shown with its failure, not judged as leaks.
    pub finished: bool,
    /// Its goroutines, grouped by stack.
    pub snapshot: Snapshot,
    /// Per group of `snapshot`.
    pub judged: Vec<Judged>,
}

/// A group's verdict and where it came from.
pub struct Judged {
    /// The classification.
    pub assessment: Assessment,
    /// The gate's decision; `None` for goroutines of a test that never finished.
    pub outcome: Option<GateOutcome>,
    /// The reason of the suppression rule that matched.
    pub suppressed_because: Option<String>,
    /// Who started the group's first goroutine, and who started that one, up to the test.
    pub chain: Vec<Link>,
}

impl Judged {
    /// Whether the group fails the run.
    pub fn fails(&self) -> bool {
        self.outcome == Some(GateOutcome::Fail)
    }
}

/// One `go` statement of a creator chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The goroutine that ran it.
    pub goroutine: Option<u64>,
    /// That goroutine had exited when the binary ended.
    pub exited: bool,
    /// That goroutine ran this test.
    pub test: Option<String>,
}

/// Goroutines alive at the end whose fate the trace does not tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unjudged {
    /// The test that started them, if one did.
    pub test: Option<String>,
    /// `not started`, `runnable` or `running`.
    pub state: &'static str,
    /// The function they run.
    pub function: String,
    /// How many.
    pub count: u64,
}

/// Counts a goroutine that is not judged.
fn not_judged(
    unjudged: &mut Vec<Unjudged>,
    test: Option<String>,
    state: &'static str,
    function: String,
) {
    match unjudged
        .iter_mut()
        .find(|u| u.test == test && u.state == state && u.function == function)
    {
        Some(u) => u.count += 1,
        None => unjudged.push(Unjudged {
            test,
            state,
            function,
            count: 1,
        }),
    }
}

/// What [`analyse`] needs besides the package.
pub struct Context<'a> {
    /// Where the exec wrapper put traces and exit records.
    pub dir: &'a Path,
    /// Suppressions and baseline.
    pub gate: &'a Gate,
    /// Source files, for sharper verdicts.
    pub source: &'a FileSource,
    /// Leave the trace files where they are.
    pub keep_traces: bool,
}

/// What reading a trace or a crash dump found.
#[derive(Default)]
struct Found {
    leftovers: Vec<Leftover>,
    unjudged: Vec<Unjudged>,
    /// Where each test that never ended was stuck.
    stuck: HashMap<String, Site>,
    warnings: Vec<String>,
}

/// A goroutine left over, ready to be grouped.
struct Leftover {
    test: Option<String>,
    finished: bool,
    record: Record,
    chain: Vec<Link>,
}

/// Reads what one package's binary left and judges it.
pub fn analyse(run: &PackageRun, cx: &Context<'_>) -> PackageReport {
    let mut tables = Tables::new();
    let mut report = PackageReport {
        package: run.package.clone(),
        status: Status::Passed,
        elapsed: run.elapsed,
        failures: Vec::new(),
        evidence: Evidence::None,
        problem: None,
        error: None,
        tables: Tables::new(),
        tests: Vec::new(),
        unjudged: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(n) = run.trace else {
        // No binary ran: it did not build, or there is nothing to test.
        if run.setup_failed {
            report.status = Status::BuildFailed;
            report.error = Some(
                "go test could not set it up (see its message above): run goleash test inside a Go module, with package patterns go test accepts"
                    .to_string(),
            );
            return report;
        }
        report.status = if run.build_failed || run.result == Some(TestResult::Fail) {
            report.failures.push(Failure {
                test: None,
                kind: FailureKind::BuildFailed,
                message: None,
                at: None,
            });
            Status::BuildFailed
        } else {
            Status::NoTests
        };
        return report;
    };
    let exit = Exit::read(&exec::exit_path(cx.dir, n));
    let crash = if run.finished_normally {
        None
    } else {
        read_crash(&run.output, &mut tables)
    };
    let timed_out = crash
        .as_ref()
        .is_some_and(|c| c.cause.kind == CauseKind::TestTimeout);
    report.status = if run.finished_normally && run.result == Some(TestResult::Pass) {
        Status::Passed
    } else if run.finished_normally {
        Status::Failed
    } else if timed_out {
        Status::TimedOut
    } else if crash.is_some() {
        Status::Crashed
    } else {
        Status::Exited
    };

    let trace_path = exec::trace_path(cx.dir, n);
    let parsed = std::fs::File::open(&trace_path)
        .map_err(trace::TraceError::from)
        .and_then(|f| trace::read(f, &trace::ReadOptions::default(), &mut tables));
    let finished: HashSet<&str> = run.results.iter().map(|(t, _)| t.as_str()).collect();
    let mut found = Found::default();
    match (&parsed, run.finished_normally || timed_out) {
        (Ok(trace), true) => {
            report.evidence = Evidence::Trace;
            if let Some(why) = &trace.incomplete {
                report.problem = Some(format!(
                    "the trace is incomplete ({why}): goroutines that exited late may look alive"
                ));
            }
            from_trace(trace, &tables, run, &finished, &mut found);
        }
        (Err(e), true) => {
            report.error = Some(format!("its trace could not be read: {e}"));
        }
        (_, false) => {
            let why = match (crash.as_ref().map(|c| c.cause.kind), exit) {
                (Some(CauseKind::Panic), _) => "the test binary panicked".to_string(),
                (Some(CauseKind::Fatal), _) => "the test binary hit a fatal error".to_string(),
                (Some(CauseKind::Signal), _) | (_, Some(Exit::Signal(_))) => {
                    "a signal ended the test binary".to_string()
                }
                (_, Some(Exit::Code(c))) => {
                    format!("the test binary exited with status {c} before its tests finished")
                }
                _ => "the test binary did not finish".to_string(),
            };
            match &crash {
                Some(crash) => {
                    report.evidence = Evidence::CrashDump;
                    report.problem = Some(format!(
                        "{why}, so its trace stops short: goroutines are judged as the crash's goroutine dump shows them"
                    ));
                    let trace = parsed.as_ref().ok();
                    from_crash(crash, trace, &tables, run, &finished, &mut found);
                }
                None => {
                    report.problem = Some(format!(
                        "{why} without printing its goroutines (os.Exit in a test?), so leaks were not checked"
                    ));
                }
            }
        }
    }
    report.failures = failures(run, crash.as_ref(), &tables, &found.stuck);
    report.unjudged = found.unjudged;
    report.warnings = found.warnings;
    // Trace files can be large; this one is read.
    if !cx.keep_traces {
        let _ = std::fs::remove_file(&trace_path);
        let _ = std::fs::remove_file(exec::exit_path(cx.dir, n));
    }

    let (tests, tables) = judge(found.leftovers, tables, cx);
    report.tests = tests;
    report.tables = tables;
    report
}

/// Which tests failed and how, from the test events and the crash.
fn failures(
    run: &PackageRun,
    crash: Option<&Crash>,
    tables: &Tables,
    stuck: &HashMap<String, Site>,
) -> Vec<Failure> {
    let failed: Vec<&str> = run
        .results
        .iter()
        .filter(|(_, r)| *r == TestResult::Fail)
        .map(|(t, _)| t.as_str())
        .collect();
    // A parent fails with its subtests: name the ones that failed themselves.
    let leaf = |t: &str| {
        !failed.iter().any(|other| {
            other.len() > t.len() && other.starts_with(t) && other[t.len()..].starts_with('/')
        })
    };
    let crashed_in = run.panicked_in.as_deref().filter(|t| !t.is_empty());
    let mut out = Vec::new();
    let crash_kind = crash.map(|c| c.cause.kind);
    for &test in failed.iter().filter(|t| leaf(t)) {
        let panicked =
            crashed_in == Some(test) && crash_kind.is_some_and(|k| k != CauseKind::TestTimeout);
        let message = if panicked {
            crash.map(|c| c.cause.message.clone())
        } else if run.tracing_conflicts.iter().any(|t| t == test) {
            Some(format!(
                "it starts an execution trace of its own, which cannot run while goleash traces the binary: run it without goleash, or skip it (-- -skip '^{}$')",
                test.split('/').next().unwrap_or(test)
            ))
        } else {
            run.logs
                .get(test)
                .map(|log| log.trim().to_string())
                .filter(|log| !log.is_empty())
        };
        out.push(Failure {
            test: Some(test.to_string()),
            kind: if panicked {
                FailureKind::Panicked
            } else {
                FailureKind::Failed
            },
            message,
            at: if panicked {
                crash.and_then(|c| c.panic_site(tables))
            } else {
                None
            },
        });
    }
    if let (Some(test), Some(c)) = (crashed_in, crash)
        && c.cause.kind != CauseKind::TestTimeout
        && !failed.contains(&test)
    {
        out.push(Failure {
            test: Some(test.to_string()),
            kind: FailureKind::Panicked,
            message: Some(c.cause.message.clone()),
            at: c.panic_site(tables),
        });
    }
    let timed_out: Vec<&str> = match crash {
        Some(c) if c.cause.kind == CauseKind::TestTimeout => {
            c.cause.running_tests.iter().map(String::as_str).collect()
        }
        _ => Vec::new(),
    };
    for test in &run.unfinished {
        if out.iter().any(|f| f.test.as_deref() == Some(test.as_str())) {
            continue;
        }
        // A parent is still running while its subtest is stuck: name the innermost.
        let parent_of_other = run.unfinished.iter().any(|o| {
            o.len() > test.len() && o.starts_with(test.as_str()) && o[test.len()..].starts_with('/')
        });
        if parent_of_other {
            continue;
        }
        let kind = if timed_out.contains(&test.as_str()) {
            FailureKind::TimedOut
        } else {
            FailureKind::Interrupted
        };
        out.push(Failure {
            test: Some(test.clone()),
            kind,
            message: match (kind, crash) {
                (FailureKind::TimedOut, Some(c)) => Some(c.cause.message.clone()),
                _ => None,
            },
            at: stuck.get(test).cloned(),
        });
    }
    out
}

/// Which state a goroutine's fate is decided by, from the trace.
enum Fate {
    Leftover,
    Unjudged(&'static str),
}

/// How the trace left `g`; `test_end` is when the goroutine that ran its test exited,
/// `None` when that test never ended.
fn fate(g: &Goroutine, test_end: Option<u64>) -> Fate {
    match g.state {
        GoState::Blocked | GoState::Syscall => Fate::Leftover,
        GoState::NotStarted => Fate::Unjudged("not started"),
        GoState::Runnable | GoState::Running => match test_end {
            None => Fate::Leftover,
            Some(end) if g.last_blocked.is_some_and(|b| b > end) => Fate::Leftover,
            Some(_) if g.state == GoState::Running => Fate::Unjudged("running"),
            Some(_) => Fate::Unjudged("runnable"),
        },
        GoState::Exited => Fate::Unjudged("exited"),
    }
}

fn from_trace(
    trace: &Trace,
    tables: &Tables,
    run: &PackageRun,
    finished: &HashSet<&str>,
    found: &mut Found,
) {
    let attribution = trace::attribute(trace, tables, &run.test_events);
    found.warnings.extend(attribution.warnings.iter().cloned());
    let names: HashMap<u64, &str> = attribution
        .tests
        .iter()
        .filter_map(|t| Some((t.goroutine, t.name.as_deref()?)))
        .collect();
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
            // The test itself never ended: where it is stuck is its failure.
            if let (Some(test), Some(frame)) = (&leak.test, g.blocking_frame(tables)) {
                found.stuck.insert(
                    test.clone(),
                    Site {
                        function: tables.str(frame.function).into_owned(),
                        file: tables.str(frame.file).into_owned(),
                        line: frame.line,
                        state: g.reason.map(|r| tables.str(r).into_owned()),
                    },
                );
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
            Fate::Unjudged(state) => not_judged(&mut found.unjudged, test, state, start(g)),
            Fate::Leftover => found.leftovers.push(Leftover {
                test,
                finished: ended,
                record: trace_record(tables, g),
                chain: trace_chain(trace, tables, g.id, leak.hops, &names),
            }),
        }
    }
    for &id in &attribution.unattributed {
        let Some(g) = trace.goroutine(id) else {
            continue;
        };
        // Nothing ended for these: only a wait that the trace shows is judged.
        match g.state {
            GoState::Blocked | GoState::Syscall => {
                let depth = trace.creators(id).len();
                found.leftovers.push(Leftover {
                    test: None,
                    finished: true,
                    record: trace_record(tables, g),
                    chain: trace_chain(trace, tables, id, depth, &names),
                })
            }
            GoState::NotStarted => not_judged(&mut found.unjudged, None, "not started", start(g)),
            GoState::Running => not_judged(&mut found.unjudged, None, "running", start(g)),
            _ => not_judged(&mut found.unjudged, None, "runnable", start(g)),
        }
    }
}

/// A trace goroutine as a record: its stack, what the trace says it waits for, and its
/// creator (the arguments a traceback would print are not known).
fn trace_record(tables: &Tables, g: &Goroutine) -> Record {
    let stack = g.stack.or(g.start_stack);
    let frames = stack.map(|s| tables.frames(s).to_vec()).unwrap_or_default();
    let blocking = match g.state {
        GoState::Blocked => g.reason.and_then(|r| trace_blocking(tables, r, &frames)),
        GoState::Syscall => Some(Blocking::Syscall),
        GoState::Running => Some(Blocking::Running),
        // Runnable after a block: judged by the wait it will come back to, on its stack.
        _ => None,
    };
    let created_by = g.creation.and_then(|c| {
        Some(Creator {
            frame: *tables.frames(c.stack?).first()?,
            parent: c.parent,
        })
    });
    record(
        g.id,
        State {
            blocking,
            ..State::default()
        },
        frames,
        created_by,
    )
}

/// A record of one goroutine (the arguments a traceback would print are not known).
fn record(id: u64, state: State, frames: Vec<FrameId>, created_by: Option<Creator>) -> Record {
    let mut record = Record::default();
    record.count = 1;
    record.id = Some(id);
    record.state = Some(state);
    record.frames = frames;
    record.created_by = created_by;
    record
}

/// What a trace's block reason says a goroutine waits for; `None` where the stack says it
/// better (the trace has one `sync` for every lock).
fn trace_blocking(tables: &Tables, reason: Sym, frames: &[FrameId]) -> Option<Blocking> {
    let has = |function: &[u8]| {
        frames
            .iter()
            .any(|&f| tables.bytes(tables.get_frame(f).function) == function)
    };
    Some(match tables.bytes(reason) {
        b"network" => Blocking::IoWait,
        b"sync.(*Cond).Wait" => Blocking::Cond,
        // A nil channel or `select {}`: the stack tells which.
        b"forever" if has(b"runtime.block") => Blocking::SelectNoCases,
        b"forever"
            if has(b"runtime.chanrecv1")
                || has(b"runtime.chanrecv2")
                || has(b"runtime.chanrecv") =>
        {
            Blocking::ChanReceiveNil
        }
        b"forever" if has(b"runtime.chansend1") || has(b"runtime.chansend") => {
            Blocking::ChanSendNil
        }
        b"chan receive" => Blocking::ChanReceive,
        b"chan send" => Blocking::ChanSend,
        b"select" => Blocking::Select,
        b"sleep" => Blocking::Sleep,
        _ => return None,
    })
}

/// The `go` statements from the test down to goroutine `id`, innermost first: the one
/// that started `id`, the one that started its creator, and so on, `hops` of them.
fn trace_chain(
    trace: &Trace,
    tables: &Tables,
    id: u64,
    hops: usize,
    names: &HashMap<u64, &str>,
) -> Vec<Link> {
    let creators = trace.creators(id);
    let mut chain = Vec::new();
    let mut created = id;
    for &creator in creators.iter().take(hops) {
        let frame = trace
            .goroutine(created)
            .and_then(|g| g.creation)
            .and_then(|c| c.stack)
            .and_then(|s| tables.frames(s).first().copied());
        let Some(frame) = frame else { break };
        let f = tables.get_frame(frame);
        chain.push(Link {
            function: tables.str(f.function).into_owned(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            goroutine: Some(creator),
            exited: trace.goroutine(creator).is_none_or(Goroutine::exited),
            test: names.get(&creator).map(|n| n.to_string()),
        });
        created = creator;
    }
    chain
}

/// One goroutine of a crash's dump.
struct DumpGoroutine {
    id: u64,
    parent: Option<u64>,
    created_by: Option<FrameId>,
    stack: StackId,
    reason: Option<Sym>,
}

/// The goroutine dump a crash printed.
struct Crash {
    cause: Cause,
    /// In the order printed: the goroutine that crashed first.
    goroutines: Vec<DumpGoroutine>,
}

impl Crash {
    /// The line of the program's own code where the crashing goroutine was.
    fn panic_site(&self, tables: &Tables) -> Option<Site> {
        let first = self.goroutines.first()?;
        let frame = tables
            .frames(first.stack)
            .iter()
            .copied()
            .find(|&f| origin(tables, f) == Origin::User)?;
        let f = tables.get_frame(frame);
        Some(Site {
            function: tables.str(f.function).into_owned(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            state: None,
        })
    }
}

/// Keeps the last dump with a crash cause.
#[derive(Default)]
struct CrashSink {
    current: Option<Crash>,
    last: Option<Crash>,
}

impl Sink for CrashSink {
    fn dump_start(&mut self, _tables: &Tables, info: &DumpInfo) {
        self.current = Some(Crash {
            cause: info.cause.clone(),
            goroutines: Vec::new(),
        });
    }

    fn record(&mut self, tables: &mut Tables, record: &Record) {
        let (Some(current), Some(id)) = (self.current.as_mut(), record.id) else {
            return;
        };
        current.goroutines.push(DumpGoroutine {
            id,
            parent: record.created_by.and_then(|c| c.parent),
            created_by: record.created_by.map(|c| c.frame),
            stack: tables.stack(&record.frames),
            reason: record.state.as_ref().and_then(|s| s.reason),
        });
    }

    fn dump_end(&mut self, _tables: &mut Tables, _truncated: bool) {
        if let Some(dump) = self.current.take()
            && matches!(
                dump.cause.kind,
                CauseKind::Panic | CauseKind::Fatal | CauseKind::Signal | CauseKind::TestTimeout
            )
        {
            self.last = Some(dump);
        }
    }

    fn race(&mut self, _tables: &Tables, _report: RaceReport) {}

    fn warning(&mut self, _warning: Warning) {}
}

/// The dump a crashed binary printed last, if its output holds one.
fn read_crash(output: &[u8], tables: &mut Tables) -> Option<Crash> {
    let mut sink = CrashSink::default();
    parse::parse(output, &ParseOptions::default(), tables, &mut sink).ok()?;
    sink.last
}

/// The top-level test a test function or one of its closures belongs to:
/// `example.com/p.TestX.func1.2` is `TestX`.
fn test_of_function(function: &str) -> Option<String> {
    let last = function.rsplit('/').next()?;
    let (_, name) = last.split_once('.')?;
    let name = name.split('.').next()?;
    let is_test = ["Test", "Fuzz"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_lowercase()))
    });
    is_test.then(|| name.to_string())
}

fn from_crash(
    crash: &Crash,
    trace: Option<&Trace>,
    tables: &Tables,
    run: &PackageRun,
    finished: &HashSet<&str>,
    found: &mut Found,
) {
    // What the trace got to see before the crash names tests (subtests too) and follows
    // creators through goroutines that had exited.
    let mut by_trace: HashMap<u64, (Option<String>, Vec<Link>)> = HashMap::new();
    if let Some(trace) = trace {
        let attribution = trace::attribute(trace, tables, &run.test_events);
        let names: HashMap<u64, &str> = attribution
            .tests
            .iter()
            .filter_map(|t| Some((t.goroutine, t.name.as_deref()?)))
            .collect();
        for leak in attribution.leaks.iter().filter(|l| l.hops > 0) {
            let chain = trace_chain(trace, tables, leak.goroutine, leak.hops, &names);
            by_trace.insert(leak.goroutine, (leak.test.clone(), chain));
        }
    }
    let alive: HashMap<u64, &DumpGoroutine> = crash.goroutines.iter().map(|g| (g.id, g)).collect();
    let is_test_goroutine = |g: &DumpGoroutine| {
        tables
            .frames(g.stack)
            .iter()
            .any(|&f| tables.bytes(tables.get_frame(f).function) == b"testing.tRunner")
    };
    let crashed_in = run.panicked_in.as_deref().filter(|t| !t.is_empty());
    for g in &crash.goroutines {
        if g.created_by.is_none() || is_test_goroutine(g) {
            continue;
        }
        let (test, chain) = match by_trace.get(&g.id) {
            Some((test, chain)) => (test.clone(), chain.clone()),
            None => dump_chain(g, &alive, tables, &is_test_goroutine),
        };
        let ended = test
            .as_deref()
            .is_some_and(|t| finished.contains(t) && Some(t) != crashed_in);
        // As in a trace: a goroutine caught running, or not yet run, shows no wait.
        let state = g.reason.map(|r| tables.bytes(r));
        if ended && matches!(state, Some(b"runnable" | b"running" | b"preempted")) {
            let start = tables
                .frames(g.stack)
                .iter()
                .rev()
                .map(|&f| tables.str(tables.get_frame(f).function))
                .find(|f| f != "runtime.goexit")
                .unwrap_or_default()
                .into_owned();
            let state = if state == Some(b"running") {
                "running"
            } else {
                "runnable"
            };
            not_judged(&mut found.unjudged, test, state, start);
            continue;
        }
        let record = record(
            g.id,
            State {
                reason: g.reason,
                ..State::default()
            },
            tables.frames(g.stack).to_vec(),
            g.created_by.map(|frame| Creator {
                frame,
                parent: g.parent,
            }),
        );
        found.leftovers.push(Leftover {
            finished: test.is_none() || ended,
            test,
            record,
            chain,
        });
    }
}

/// Follows `created by … in goroutine N` through a dump: up through goroutines still
/// alive, to a test that is still running, or to a creator that has exited, whose
/// function names the test when it is a test function.
fn dump_chain(
    g: &DumpGoroutine,
    alive: &HashMap<u64, &DumpGoroutine>,
    tables: &Tables,
    is_test_goroutine: &dyn Fn(&DumpGoroutine) -> bool,
) -> (Option<String>, Vec<Link>) {
    let mut chain = Vec::new();
    let mut current = g;
    // Bounded: a dump lists each goroutine once, so a longer chain is a loop.
    for _ in 0..=alive.len() {
        let Some(frame) = current.created_by else {
            break;
        };
        let f = tables.get_frame(frame);
        let function = tables.str(f.function).into_owned();
        let parent = current.parent.and_then(|p| alive.get(&p).copied());
        let mut link = Link {
            function: function.clone(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            goroutine: current.parent,
            exited: parent.is_none(),
            test: None,
        };
        match parent {
            Some(p) if is_test_goroutine(p) => {
                let test = test_of_function(&function);
                link.test = test.clone();
                chain.push(link);
                return (test, chain);
            }
            Some(p) => {
                chain.push(link);
                current = p;
            }
            None => {
                let test = test_of_function(&function);
                link.test = test.clone();
                chain.push(link);
                return (test, chain);
            }
        }
    }
    (None, chain)
}

/// Groups the leftovers of each test by stack and judges every group.
fn judge(
    leftovers: Vec<Leftover>,
    tables: Tables,
    cx: &Context<'_>,
) -> (Vec<TestLeftovers>, Tables) {
    let mut by_test: BTreeMap<(Option<String>, bool), Vec<Leftover>> = BTreeMap::new();
    for leftover in leftovers {
        by_test
            .entry((leftover.test.clone(), leftover.finished))
            .or_default()
            .push(leftover);
    }
    let mut keys = Vec::new();
    let mut records = Vec::new();
    let mut chains: Vec<HashMap<u64, Vec<Link>>> = Vec::new();
    for (key, leftovers) in by_test {
        let mut batch = Vec::new();
        let mut chain_of = HashMap::new();
        for leftover in leftovers {
            if let Some(id) = leftover.record.id {
                chain_of.insert(id, leftover.chain);
            }
            batch.push(leftover.record);
        }
        keys.push(key);
        records.push(batch);
        chains.push(chain_of);
    }
    let capture = Grouper::group_records(GroupOptions::default(), tables, &records);
    let tables = capture.tables;
    let mut tests = Vec::new();
    for (((test, finished), snapshot), mut chain_of) in
        keys.into_iter().zip(capture.snapshots).zip(chains)
    {
        let moment = if test.is_some() {
            Moment::TestEnded
        } else {
            Moment::Quiescent
        };
        let options = AssessOptions { moment };
        let judged = snapshot
            .groups
            .iter()
            .map(|group| {
                let assessment =
                    classify::assess(&tables, &snapshot, group, None, &options, cx.source);
                let (outcome, suppressed_because) = if finished {
                    let (o, r) = cx.gate.outcome(&tables, group, &assessment);
                    (Some(o), r)
                } else {
                    (None, None)
                };
                let chain = group
                    .example
                    .id
                    .and_then(|id| chain_of.remove(&id))
                    .unwrap_or_default();
                Judged {
                    assessment,
                    outcome,
                    suppressed_because,
                    chain,
                }
            })
            .collect();
        tests.push(TestLeftovers {
            test,
            finished,
            snapshot,
            judged,
        });
    }
    (tests, tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_functions_name_their_test() {
        assert_eq!(
            test_of_function("example.com/p.TestX").as_deref(),
            Some("TestX")
        );
        assert_eq!(
            test_of_function("example.com/a/p_test.TestCache.func2.1").as_deref(),
            Some("TestCache")
        );
        assert_eq!(
            test_of_function("p.FuzzParse.func1").as_deref(),
            Some("FuzzParse")
        );
        assert_eq!(test_of_function("p.Test").as_deref(), Some("Test"));
        assert_eq!(test_of_function("example.com/p.Testify"), None);
        assert_eq!(test_of_function("example.com/p.startPipeline"), None);
        assert_eq!(test_of_function("example.com/p.(*T).TestMethod"), None);
    }
}
