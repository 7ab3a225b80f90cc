//! The document of a `goleash test` run, from the reports of its packages.

use goleash_core::classify::{self, Verdict};
use goleash_core::trace::{FailureKind, GoState};

use super::report::PackageReport;
use super::run::TestResult;
use super::waits;
use crate::doc::test::{
    At, CaseResult, Failure, Leftover, Link, NO_TEST, Package, PackageWarning, Stuck, Summary,
    TestCase, TestDoc, Unjudged,
};
use crate::doc::{self, ExitCondition, Group, Site};

/// What the whole run came to.
fn summary(reports: &[PackageReport]) -> Summary {
    let mut summary = Summary::default();
    for report in reports {
        for test in &report.tests {
            let failing = test.judged.iter().filter(|j| j.fails()).count() as u64;
            if failing > 0 {
                summary.leaking_stacks += failing;
                summary.leaking.push((
                    report.package.clone(),
                    test.test.clone().unwrap_or_else(|| NO_TEST.to_string()),
                ));
            }
        }
        let unbuilt = report
            .failures
            .iter()
            .filter(|f| f.kind == FailureKind::BuildFailed)
            .count() as u64;
        summary.unbuilt += unbuilt;
        summary.failed += report.failures.len() as u64 - unbuilt;
        // A binary that died with no test to blame still failed; a package goleash could
        // not check is an error, counted below.
        if report.status.failed() && report.failures.is_empty() && report.error.is_none() {
            summary.failed += 1;
        }
        if let Some(error) = &report.error {
            summary.errors.push(format!("{}: {error}", report.package));
        }
    }
    summary
}

/// How a goroutine not judged is said to be: `not started`, `runnable` or `running`.
fn unjudged_state(state: GoState) -> &'static str {
    match state {
        GoState::NotStarted => "not started",
        state => state.name(),
    }
}

/// The goroutine of a test that never ended, judged: a wait only another goroutine can
/// end, still there when the binary was stopped, is the deadlock that stopped it.
fn stuck_test(
    report: &PackageReport,
    snapshot: &goleash_core::Snapshot,
    group: &goleash_core::Group,
    a: &classify::Assessment,
    goroutine: u64,
    proven: bool,
) -> Stuck {
    let tables = &report.tables;
    let (waits_on, cycle) = waits::waits_of(report, goroutine);
    let (verdict, why) = if proven {
        (
            Verdict::Leak,
            format!(
                "the test's own goroutine was blocked in {} and the runtime proved it blocked forever (the goroutineleak profile): nothing left could reach what it waited for",
                a.blocking.name()
            ),
        )
    } else if a.blocking.is_forever() || a.blocking.needs_another_goroutine() {
        (
            Verdict::Leak,
            format!(
                "the test's own goroutine was blocked in {} until the binary was stopped: only another goroutine can end that wait, and none did",
                a.blocking.name()
            ),
        )
    } else {
        (a.verdict, a.why.clone())
    };
    Stuck {
        verdict,
        why,
        frames: doc::Frame::stack(tables, tables.frames(group.stack)),
        exit_conditions: ExitCondition::all_of(a),
        waits_on,
        cycle,
        shown: Group::of(tables, snapshot, group, a, 0, &|_| None),
    }
}

/// The document of the packages' reports, in import path order.
pub fn build(reports: &[PackageReport], strict: bool) -> TestDoc {
    let mut doc = TestDoc::new(strict, summary(reports));
    for report in reports {
        let tables = &report.tables;
        let mut expected = 0;
        // How many times a test ran: once per run it started.
        let runs_of = |test: Option<&str>| {
            let n = report
                .runs
                .iter()
                .filter(|r| Some(r.test.as_str()) == test)
                .count();
            n.max(1) as u32 + report.earlier_runs
        };
        let numbered =
            |runs: &[u32]| -> Vec<u32> { runs.iter().map(|r| r + report.earlier_runs).collect() };
        // The goroutines of stuck tests go with their failures, not with what they started.
        let stuck_goroutines: Vec<(&str, u64)> = report
            .failures
            .iter()
            .filter_map(|f| Some((f.test.as_deref()?, f.at.as_ref()?.goroutine?)))
            .collect();
        // With its state as the group names it (`sync.Mutex.Lock`, not the trace's `sync`).
        let mut stuck: Vec<(&str, Stuck, String)> = Vec::new();
        for test in &report.tests {
            for (group, judged) in test.snapshot.groups.iter().zip(&test.judged) {
                let a = &judged.assessment;
                if !test.finished
                    && let Some(&(name, id)) = stuck_goroutines.iter().find(|(name, id)| {
                        test.test.as_deref() == Some(*name) && group.ids.contains(id)
                    })
                {
                    let proven = report.failures.iter().any(|f| {
                        f.test.as_deref() == Some(name) && f.kind == FailureKind::Deadlocked
                    });
                    stuck.push((
                        name,
                        stuck_test(report, &test.snapshot, group, a, id, proven),
                        classify::state_name(tables, group, a).into_owned(),
                    ));
                    continue;
                }
                if a.verdict == Verdict::Expected {
                    expected += group.count;
                }
                doc.groups.push(Leftover {
                    package: report.package.clone(),
                    test: test.test.clone(),
                    test_finished: test.finished,
                    signature: group.signature,
                    count: group.count,
                    state: classify::state_name(tables, group, a).into_owned(),
                    blocking: a.blocking,
                    verdict: a.verdict,
                    why: a.why.clone(),
                    frames: doc::Frame::stack(tables, tables.frames(group.stack)),
                    leak_site: Site::of(tables, a),
                    creator_chain: judged
                        .chain
                        .iter()
                        .map(|l| Link {
                            function: l.function.clone(),
                            file: l.file.clone(),
                            line: l.line,
                            goroutine: l.goroutine,
                            exited: l.exited,
                            test: l.test.clone(),
                        })
                        .collect(),
                    leaked_in_runs: numbered(&judged.runs),
                    runs: runs_of(test.test.as_deref()),
                    ids: group.ids.clone(),
                    pattern: a.pattern.map(|p| p.id),
                    hint: a.hint(),
                    exit_conditions: ExitCondition::all_of(a),
                    outcome: judged.outcome,
                    suppressed_because: judged.suppressed_because.clone(),
                    shown: Group::of(tables, &test.snapshot, group, a, 0, &|_| None),
                });
            }
        }
        doc.packages.push(Package {
            package: report.package.clone(),
            status: report.status,
            elapsed: report.elapsed,
            evidence: report.evidence,
            problem: report.problem.clone(),
            error: report.error.clone(),
            expected_goroutines: expected,
        });
        for failure in &report.failures {
            let judged = stuck
                .iter()
                .find(|(name, ..)| failure.test.as_deref() == Some(*name));
            doc.failures.push(Failure {
                package: report.package.clone(),
                test: failure.test.clone(),
                kind: failure.kind,
                message: failure.message.clone(),
                failed_in_runs: numbered(&failure.failed_runs),
                runs: runs_of(failure.test.as_deref()),
                at: failure.at.as_ref().map(|s| At {
                    function: s.function.clone(),
                    file: s.file.clone(),
                    line: s.line,
                    state: judged
                        .map(|(_, _, state)| state.clone())
                        .or_else(|| s.state.clone()),
                }),
                stuck: judged.map(|(_, s, _)| s.clone()),
            });
        }
        for u in &report.unjudged {
            doc.unjudged.push(Unjudged {
                package: report.package.clone(),
                test: u.test.clone(),
                state: unjudged_state(u.state),
                function: u.function.clone(),
                count: u.count,
                frames: u
                    .stack
                    .map(|s| doc::Frame::stack(tables, tables.frames(s)))
                    .unwrap_or_default(),
            });
        }
        for w in &report.warnings {
            doc.warnings.push(PackageWarning {
                package: report.package.clone(),
                message: w.clone(),
            });
        }
        for run in &report.runs {
            doc.cases.push(TestCase {
                package: report.package.clone(),
                test: run.test.clone(),
                result: match run.result {
                    Some(TestResult::Pass) => CaseResult::Passed,
                    Some(TestResult::Fail) => CaseResult::Failed,
                    Some(TestResult::Skip) => CaseResult::Skipped,
                    None => CaseResult::Unfinished,
                },
                elapsed: run.elapsed,
                log: run.log.clone(),
            });
        }
    }
    doc
}
