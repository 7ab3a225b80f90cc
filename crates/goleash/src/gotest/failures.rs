//! Which tests of a package failed, and how: from what `go test` said about them, the
//! crash the binary printed, and where the trace saw stuck tests.

use std::collections::{BTreeMap, HashMap};

use goleash_core::Tables;
use goleash_core::model::CauseKind;
use goleash_core::trace::{Crash, Site};

use super::report::Failure;
use super::run::{PackageRun, TestResult};
use super::settle;
use goleash_core::trace::FailureKind;

/// Which tests failed and how, from the test events and the crash.
pub fn failures(
    run: &PackageRun,
    crash: Option<&Crash>,
    panicked_in: Option<&str>,
    tables: &Tables,
    stuck: &BTreeMap<String, Site>,
) -> Vec<Failure> {
    // Each test's runs in the order they ended: `-count=N` runs every test N times.
    let mut failed: Vec<(&str, Vec<u32>)> = Vec::new();
    let mut ended: HashMap<&str, u32> = HashMap::new();
    for (test, result) in &run.results {
        let n = ended.entry(test.as_str()).or_default();
        *n += 1;
        if *result != TestResult::Fail {
            continue;
        }
        match failed.iter_mut().find(|(t, _)| t == test) {
            Some((_, runs)) => runs.push(*n),
            None => failed.push((test.as_str(), vec![*n])),
        }
    }
    // A parent fails with its subtests: name the ones that failed themselves.
    let leaf = |t: &str| {
        !failed.iter().any(|(other, _)| {
            other.len() > t.len() && other.starts_with(t) && other[t.len()..].starts_with('/')
        })
    };
    let mut out = Vec::new();
    // A timeout or the deadlock watch stopped the binary: its panic is no test's.
    let stopped = crash.is_some_and(|c| c.cause.kind == CauseKind::TestTimeout || deadlock(c));
    for (test, runs) in failed.iter().filter(|(t, _)| leaf(t)) {
        let test = *test;
        let panicked = panicked_in == Some(test) && crash.is_some() && !stopped;
        let message = if panicked {
            crash.map(|c| c.cause.message.clone())
        } else if run.tracing_conflicts.iter().any(|t| t == test) {
            Some(format!(
                "it starts an execution trace of its own, which cannot run while goleash traces the binary: run it without goleash, or skip it (-- -skip '^{}$')",
                test.split('/').next().unwrap_or(test)
            ))
        } else {
            runs.first()
                .and_then(|&n| run.log(test, n))
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
            failed_runs: runs.clone(),
            at: if panicked {
                crash.and_then(|c| c.panic_site(tables))
            } else {
                None
            },
        });
    }
    if let (Some(test), Some(c)) = (panicked_in, crash)
        && !stopped
        && !failed.iter().any(|(t, _)| *t == test)
    {
        out.push(Failure {
            test: Some(test.to_string()),
            kind: FailureKind::Panicked,
            message: Some(c.cause.message.clone()),
            failed_runs: vec![last_run(run, test)],
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
        let at = stuck.get(test);
        // The runtime's proof is of the test's own goroutine, as the dump marks it.
        let proven = crash.is_some_and(|c| {
            deadlock(c) && at.and_then(|s| s.goroutine).is_some_and(|g| c.leaked(g))
        });
        let kind = if timed_out.contains(&test.as_str()) {
            FailureKind::TimedOut
        } else if proven {
            FailureKind::Deadlocked
        } else {
            FailureKind::Interrupted
        };
        out.push(Failure {
            test: Some(test.clone()),
            kind,
            message: match (kind, crash) {
                (FailureKind::TimedOut, Some(c)) => Some(c.cause.message.clone()),
                (FailureKind::Deadlocked, _) => Some(
                    "the runtime proved its goroutine blocked forever (the goroutineleak profile), so goleash test ended the binary instead of waiting for -timeout".to_string(),
                ),
                _ => None,
            },
            failed_runs: vec![last_run(run, test)],
            at: at.cloned(),
        });
    }
    out
}

/// Whether `crash` is the deadlock watch's: it ended the binary on the runtime's proof.
pub fn deadlock(crash: &Crash) -> bool {
    crash.cause.kind == CauseKind::Panic && crash.cause.message.starts_with(settle::DEADLOCK)
}

/// The run of `test` that started last: the one a crash or a timeout cut short.
fn last_run(run: &PackageRun, test: &str) -> u32 {
    run.logs
        .get(test)
        .map_or(1, |logs| logs.len().max(1) as u32)
}
