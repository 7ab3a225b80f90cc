//! What one package's tests left behind: the goroutines still alive when its test binary
//! ended, each attributed to the test that started it, grouped by stack per test, and
//! judged as `goleash check` judges a snapshot.
//!
//! The evidence is the execution trace, when the binary stopped it: it ran to its end, or
//! `-test.timeout` stopped it (the alarm stops the trace before it panics). A binary that
//! panicked or crashed did not: its trace is cut short or empty, and states in it may be
//! stale. Then the goroutine dump the crash printed (the exec wrapper sets
//! `GOTRACEBACK=all`) says which goroutines were alive and where; the trace, as far as it
//! goes, and the dump's `created by` lines say which test started them. How each goroutine
//! is settled without waiting is [`goleash_core::trace::leftovers`]'s to say.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use goleash_core::classify::{self, AssessOptions, Assessment, Moment};
use goleash_core::model::CauseKind;
use goleash_core::trace::{self, Crash, Leftover, Leftovers, Link, Site, Unjudged};
use goleash_core::{GroupOptions, Grouper, Snapshot, Tables};

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
    let mut warnings = Vec::new();
    let crash = if run.finished_normally {
        None
    } else {
        trace::read_crash(&run.output[..], &mut tables).unwrap_or_else(|e| {
            warnings.push(format!("the crash's goroutine dump could not be read: {e}"));
            None
        })
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
    // The test whose output holds the panic, when a test's does.
    let panicked_in = run.panicked_in.as_deref().filter(|t| !t.is_empty());
    let found = match (&parsed, run.finished_normally || timed_out) {
        (Ok(trace), true) => {
            report.evidence = Evidence::Trace;
            if let Some(why) = &trace.incomplete {
                report.problem = Some(format!(
                    "the trace is incomplete ({why}): goroutines that exited late may look alive"
                ));
            }
            trace::leftovers(trace, &tables, &run.test_events)
        }
        (Err(e), true) => {
            report.error = Some(format!("its trace could not be read: {e}"));
            Leftovers::default()
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
                    crash.leftovers(trace, &tables, &run.test_events, panicked_in)
                }
                None => {
                    report.problem = Some(format!(
                        "{why} without printing its goroutines (os.Exit in a test?), so leaks were not checked"
                    ));
                    Leftovers::default()
                }
            }
        }
    };
    report.failures = failures(run, crash.as_ref(), panicked_in, &tables, &found.stuck);
    report.unjudged = found.unjudged;
    warnings.extend(found.warnings);
    report.warnings = warnings;
    // Trace files can be large; this one is read.
    if !cx.keep_traces {
        let _ = std::fs::remove_file(&trace_path);
        let _ = std::fs::remove_file(exec::exit_path(cx.dir, n));
    }

    let (tests, tables) = judge(found.goroutines, tables, cx);
    report.tests = tests;
    report.tables = tables;
    report
}

/// Which tests failed and how, from the test events and the crash.
fn failures(
    run: &PackageRun,
    crash: Option<&Crash>,
    panicked_in: Option<&str>,
    tables: &Tables,
    stuck: &BTreeMap<String, Site>,
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
    let mut out = Vec::new();
    let crash_kind = crash.map(|c| c.cause.kind);
    for &test in failed.iter().filter(|t| leaf(t)) {
        let panicked =
            panicked_in == Some(test) && crash_kind.is_some_and(|k| k != CauseKind::TestTimeout);
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
    if let (Some(test), Some(c)) = (panicked_in, crash)
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
