//! One package of `goleash test`: what its test binary left (the trace and exit record
//! the exec wrapper wrote, what `go test` said), read into the goroutines each test left
//! behind, which are grouped and judged into the package's [`PackageReport`].
//!
//! The evidence is the execution trace, when the binary stopped it: it ran to its end, or
//! `-test.timeout` stopped it (the alarm stops the trace before it panics). A binary that
//! panicked or crashed did not: its trace is cut short or empty, and states in it may be
//! stale. Then the goroutine dump the crash printed (the exec wrapper sets
//! `GOTRACEBACK=all`) says which goroutines were alive and where; the trace, as far as it
//! goes, and the dump's `created by` lines say which test started them. How each goroutine
//! is settled without waiting is [`goleash_core::trace::leftovers`]'s to say.

use std::collections::HashMap;
use std::path::Path;

use goleash_core::Tables;
use goleash_core::model::CauseKind;
use goleash_core::trace::{self, Leftovers};

use super::exec::{self, Exit};
use super::failures::{deadlock, failures};
use super::judging::group_and_judge;
use super::report::{Failure, PackageReport, TestRun};
use super::run::{PackageRun, TestResult};
use super::settle;
use crate::analysis::FileSource;
use crate::gate::Gate;
use goleash_core::trace::{BinaryOutcome, Evidence, FailureKind};

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
        status: BinaryOutcome::Passed,
        elapsed: run.elapsed,
        failures: Vec::new(),
        evidence: Evidence::None,
        problem: None,
        error: None,
        tables: Tables::new(),
        tests: Vec::new(),
        unjudged: Vec::new(),
        warnings: Vec::new(),
        runs: test_runs(run),
        dumped: Vec::new(),
        proven_leaked: None,
        earlier_runs: 0,
    };
    let Some(n) = run.trace else {
        // No binary ran: it did not build, or there is nothing to test.
        if run.setup_failed {
            report.status = BinaryOutcome::BuildFailed;
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
                failed_runs: Vec::new(),
                at: None,
            });
            BinaryOutcome::BuildFailed
        } else {
            BinaryOutcome::NoTests
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
    // The deadlock watch stops the trace before it panics, as a timeout does.
    let deadlocked = crash.as_ref().is_some_and(deadlock);
    report.status = if run.finished_normally && run.result == Some(TestResult::Pass) {
        BinaryOutcome::Passed
    } else if run.finished_normally {
        BinaryOutcome::Failed
    } else if timed_out {
        BinaryOutcome::TimedOut
    } else if deadlocked {
        BinaryOutcome::Deadlocked
    } else if crash.is_some() {
        BinaryOutcome::Crashed
    } else {
        BinaryOutcome::Exited
    };

    let trace_path = exec::trace_path(cx.dir, n);
    let parsed = std::fs::File::open(&trace_path)
        .map_err(trace::TraceError::from)
        .and_then(|f| trace::read(f, &trace::TraceOptions::default(), &mut tables));
    // The test whose output holds the panic, when a test's does.
    let panicked_in = run.panicked_in.as_deref().filter(|t| !t.is_empty());
    let found = match (&parsed, run.finished_normally || timed_out || deadlocked) {
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
    // The settle test is goleash's: a timeout that caught it is no test's failure.
    let mut found = found;
    let settling = |test: &Option<String>| test.as_deref() == Some(settle::TEST);
    // So is the deadlock watch, a timer's callback while it looks.
    let watching = |frames: &[goleash_core::FrameId]| {
        frames.iter().any(|&f| {
            let function = tables.str(tables.get_frame(f).function);
            function.rsplit('.').next() == Some(settle::WATCH)
        })
    };
    found
        .goroutines
        .retain(|l| !settling(&l.test) && !watching(&l.record.frames));
    found.unjudged.retain(|u| {
        !settling(&u.test)
            && u.function.rsplit('.').next() != Some(settle::WATCH)
            && !u.stack.is_some_and(|s| watching(tables.frames(s)))
    });
    found.stuck.remove(settle::TEST);
    report.failures = failures(run, crash.as_ref(), panicked_in, &tables, &found.stuck);
    report.dumped = crash
        .iter()
        .flat_map(|c| c.stacks())
        .map(|(id, stack, reason)| (id, stack, reason.map(|r| tables.str(r).into_owned())))
        .collect();
    report.proven_leaked = crash.as_ref().filter(|c| c.has_leak_proof()).map(|c| {
        report
            .dumped
            .iter()
            .map(|(id, ..)| *id)
            .filter(|&id| c.leaked(id))
            .collect()
    });
    report.unjudged = found.unjudged;
    warnings.extend(found.warnings);
    report.warnings = warnings;
    // Trace files can be large; this one is read.
    if !cx.keep_traces {
        let _ = std::fs::remove_file(&trace_path);
        let _ = std::fs::remove_file(exec::exit_path(cx.dir, n));
    }

    let (tests, tables) = group_and_judge(found.goroutines, tables, cx.gate, cx.source);
    report.tests = tests;
    report.tables = tables;
    report
}

/// Every run of every test that started, with what `go test` said of it.
fn test_runs(run: &PackageRun) -> Vec<TestRun> {
    let of = |test: &str, result: Option<TestResult>, n: u32| TestRun {
        test: test.to_string(),
        result,
        elapsed: run.test_elapsed.get(test).copied(),
        log: run.log(test, n).unwrap_or_default().to_string(),
    };
    let mut ended: HashMap<&str, u32> = HashMap::new();
    let mut runs: Vec<TestRun> = run
        .results
        .iter()
        .map(|(test, result)| {
            let n = ended.entry(test.as_str()).or_default();
            *n += 1;
            of(test, Some(*result), *n)
        })
        .collect();
    for test in &run.unfinished {
        let n = run.logs.get(test).map_or(1, |logs| logs.len() as u32);
        runs.push(of(test, None, n));
    }
    runs
}
