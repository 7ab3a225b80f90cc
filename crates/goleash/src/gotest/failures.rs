//! Which tests of a package failed, and how: from what `go test` said about them, the
//! crash the binary printed, and where the trace saw stuck tests.

use std::collections::BTreeMap;

use goleash_core::Tables;
use goleash_core::model::CauseKind;
use goleash_core::trace::{Crash, Site};

use super::report::Failure;
use super::run::{PackageRun, TestResult};
use goleash_core::trace::FailureKind;

/// Which tests failed and how, from the test events and the crash.
pub fn failures(
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
