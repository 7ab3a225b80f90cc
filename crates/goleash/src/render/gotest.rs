//! The report of `goleash test`: per leaking test, its leftover goroutines grouped by
//! stack, then the tests that failed, then one line saying whether the run passed. The
//! leaking test's name comes first in each block; the line of the program's own code and
//! the fix follow, as `goleash check` shows them.

use std::io::{self, Write};

use goleash_core::classify::{self, Verdict};
use serde::Serialize;

use super::json::SCHEMA_VERSION;
use super::style::Style;
use super::text::{self, Paths, plural, thousands, verdict_label, wrap};
use crate::doc;
use crate::gate::GateOutcome;
use crate::gotest::report::{FailureKind, Judged, PackageReport, TestLeftovers};
use goleash_core::code::origin;
use goleash_core::trace::{GoState, Link, Site};

/// What the whole run came to.
pub struct Summary {
    /// Leaking tests that fail the run, as (package, test).
    pub leaking: Vec<(String, String)>,
    /// Failing groups.
    pub leaking_stacks: u64,
    /// Tests that failed (and packages that failed with no test to blame).
    pub failed: u64,
    /// Packages that did not build.
    pub unbuilt: u64,
    /// Packages where goleash could not read what it needed.
    pub errors: Vec<String>,
}

impl Summary {
    /// Tallies the reports.
    pub fn of(reports: &[PackageReport]) -> Summary {
        let mut summary = Summary {
            leaking: Vec::new(),
            leaking_stacks: 0,
            failed: 0,
            unbuilt: 0,
            errors: Vec::new(),
        };
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
            // A binary that died with no test to blame still failed; a package goleash
            // could not check is an error, counted below.
            if report.status.failed() && report.failures.is_empty() && report.error.is_none() {
                summary.failed += 1;
            }
            if let Some(error) = &report.error {
                summary.errors.push(format!("{}: {error}", report.package));
            }
        }
        summary
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.leaking.is_empty() && !self.failed() && self.errors.is_empty()
    }

    /// Whether a test failed or a package did not build.
    pub fn failed(&self) -> bool {
        self.failed > 0 || self.unbuilt > 0
    }
}

/// How goroutines no test started are named.
const NO_TEST: &str = "(no test: started outside any test)";

const INDENT: &str = "                    ";

/// Writes the text report.
pub fn write_text(
    out: &mut dyn Write,
    reports: &[PackageReport],
    summary: &Summary,
    style: &Style,
) -> io::Result<()> {
    for report in reports {
        let leaking: Vec<&TestLeftovers> = report
            .tests
            .iter()
            .filter(|t| t.judged.iter().any(Judged::fails))
            .collect();
        // Subtests of a table often leak the same way: one block, every test named.
        let mut shown = vec![false; leaking.len()];
        for (i, test) in leaking.iter().enumerate() {
            if shown[i] {
                continue;
            }
            let key = failing_signatures(test);
            let mut same = Vec::new();
            for j in i + 1..leaking.len() {
                if !shown[j] && failing_signatures(leaking[j]) == key {
                    shown[j] = true;
                    same.push((
                        leaking[j].test.as_deref().unwrap_or(NO_TEST),
                        leaked_goroutines(leaking[j]),
                    ));
                }
            }
            writeln!(out)?;
            write_test(out, report, test, &same, style)?;
        }
    }
    write_failures(out, reports, style)?;
    write_notes(out, reports, style)?;
    writeln!(out)?;
    writeln!(out, "{}", verdict_line(reports, summary, style))
}

/// How many goroutines a test leaked (its failing groups).
fn leaked_goroutines(test: &TestLeftovers) -> u64 {
    test.snapshot
        .groups
        .iter()
        .zip(&test.judged)
        .filter(|(_, j)| j.fails())
        .map(|(g, _)| g.count)
        .sum()
}

/// The stacks of a test's failing groups, in order.
fn failing_signatures(test: &TestLeftovers) -> Vec<goleash_core::Signature> {
    test.snapshot
        .groups
        .iter()
        .zip(&test.judged)
        .filter(|(_, j)| j.fails())
        .map(|(g, _)| g.signature)
        .collect()
}

/// One leaking test in full; `same` are the other tests that leaked the same stacks.
fn write_test(
    out: &mut dyn Write,
    report: &PackageReport,
    test: &TestLeftovers,
    same: &[(&str, u64)],
    style: &Style,
) -> io::Result<()> {
    let tables = &report.tables;
    let failing: Vec<usize> = (0..test.judged.len())
        .filter(|&i| test.judged[i].fails())
        .collect();
    let goroutines = leaked_goroutines(test);
    writeln!(
        out,
        "{}  {}  {}",
        style.red(test.test.as_deref().unwrap_or(NO_TEST)),
        report.package,
        style.dim(&format!(
            "· leaked {}",
            plural(goroutines, "goroutine", "goroutines")
        )),
    )?;
    if !same.is_empty() {
        const SHOWN: usize = 8;
        // The stacks are the same; the counts need not be.
        let counts_differ = same.iter().any(|&(_, n)| n != goroutines);
        let mut names = same
            .iter()
            .take(SHOWN)
            .map(|&(name, n)| {
                if counts_differ {
                    format!("{name} ({})", plural(n, "goroutine", "goroutines"))
                } else {
                    name.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if same.len() > SHOWN {
            names.push_str(&format!(" and {} more", same.len() - SHOWN));
        }
        writeln!(
            out,
            "  {}",
            style.red(&format!(
                "and the same in {}: {names}",
                plural(same.len() as u64, "more test", "more tests")
            ))
        )?;
    }
    let paths = Paths::new(failing.iter().flat_map(|&i| {
        let g = &test.snapshot.groups[i];
        tables
            .frames(g.stack)
            .iter()
            .copied()
            .chain(g.created_by)
            .map(|f| {
                let frame = tables.get_frame(f);
                (tables.str(frame.file).into_owned(), origin(tables, f))
            })
            .collect::<Vec<_>>()
    }));
    for &i in &failing {
        write_group(out, report, test, i, &paths, style)?;
    }
    Ok(())
}

fn write_group(
    out: &mut dyn Write,
    report: &PackageReport,
    test: &TestLeftovers,
    index: usize,
    paths: &Paths,
    style: &Style,
) -> io::Result<()> {
    let tables = &report.tables;
    let group = &test.snapshot.groups[index];
    let judged = &test.judged[index];
    let assessment = &judged.assessment;
    writeln!(
        out,
        "  {}{}  {}",
        verdict_label(assessment.verdict, style),
        style.bold(&format!("{:>7} ×", thousands(group.count))),
        style.yellow(&state_of(report, test, index)),
    )?;
    writeln!(out, "{INDENT}{}", style.dim(&assessment.why))?;
    let shown = doc::Group::of(tables, &test.snapshot, group, assessment, 0, &|_| None);
    text::write_stack(out, &shown, paths, style, INDENT, false)?;
    for (n, link) in judged.chain.iter().enumerate() {
        let lead = if n == 0 {
            "created by"
        } else {
            "← created by"
        };
        writeln!(
            out,
            "{INDENT}{lead} {}{}  {}",
            link.function,
            describe_creator(link),
            style.dim(&link_position(link, paths, tables, group.created_by, n))
        )?;
    }
    if judged.chain.is_empty()
        && let Some(creator) = group.created_by
    {
        let frame = tables.get_frame(creator);
        writeln!(
            out,
            "{INDENT}created by {}  {}",
            tables.str(frame.function),
            style.dim(&paths.position(
                &tables.str(frame.file),
                frame.line,
                origin(tables, creator)
            ))
        )?;
    }
    if let Some(hint) = assessment.hint() {
        for (n, line) in wrap(hint, 80).iter().enumerate() {
            let lead = if n == 0 {
                style.bold("fix: ")
            } else {
                "     ".to_string()
            };
            writeln!(out, "{INDENT}{lead}{line}")?;
        }
    }
    Ok(())
}

/// ` in goroutine 21, which ran TestX (exited)`.
fn describe_creator(link: &Link) -> String {
    let Some(goroutine) = link.goroutine else {
        return String::new();
    };
    let state = if link.exited { "exited" } else { "alive" };
    match &link.test {
        Some(test) => format!(" in goroutine {goroutine}, which ran {test} ({state})"),
        None => format!(" in goroutine {goroutine} ({state})"),
    }
}

/// The position of a link, shortened like the stack's frames: the first link is the
/// group's `created by` frame, whose file the paths know.
fn link_position(
    link: &Link,
    paths: &Paths,
    tables: &goleash_core::Tables,
    created_by: Option<goleash_core::FrameId>,
    n: usize,
) -> String {
    if n == 0
        && let Some(id) = created_by
    {
        let frame = tables.get_frame(id);
        return paths.position(&tables.str(frame.file), frame.line, origin(tables, id));
    }
    let origin = goleash_core::code::origin_of(link.function.as_bytes(), link.file.as_bytes());
    format!("{}:{}", paths.shorten(&link.file, origin), link.line)
}

/// What the goroutines were doing when the binary ended.
fn state_of(report: &PackageReport, test: &TestLeftovers, index: usize) -> String {
    let group = &test.snapshot.groups[index];
    classify::state_name(&report.tables, group, &test.judged[index].assessment).into_owned()
}

fn write_failures(out: &mut dyn Write, reports: &[PackageReport], style: &Style) -> io::Result<()> {
    let failed: Vec<&PackageReport> = reports
        .iter()
        .filter(|r| !r.failures.is_empty() || (r.status.failed() && r.error.is_none()))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("failed:"))?;
    for report in failed {
        for failure in &report.failures {
            let label = match failure.kind {
                FailureKind::Failed => "FAIL",
                FailureKind::Panicked => "PANIC",
                FailureKind::TimedOut => "TIMEOUT",
                FailureKind::Interrupted => "CUT OFF",
                FailureKind::BuildFailed => "BUILD",
            };
            let test = failure.test.as_deref().unwrap_or("(package)");
            let message = match (&failure.message, failure.kind) {
                // A summary line: the first line of a test's log, the rest is above.
                (Some(m), _) => {
                    let mut lines = m.lines();
                    let first = lines.next().unwrap_or_default().trim();
                    let more = if lines.next().is_some() { " …" } else { "" };
                    format!(": {first}{more}")
                }
                (None, FailureKind::Interrupted) => {
                    ": still running when the test binary ended".to_string()
                }
                (None, FailureKind::BuildFailed) => ": did not build".to_string(),
                _ => String::new(),
            };
            writeln!(
                out,
                "  {}  {}  {}{message}",
                style.red(&format!("{label:<7}")),
                style.bold(test),
                report.package,
            )?;
            if let Some(site) = &failure.at {
                writeln!(out, "             {}", describe_site(site, failure.kind))?;
            }
            // What a test that never ended had started: context, not judged.
            for left in report
                .tests
                .iter()
                .filter(|t| !t.finished && t.test.as_deref() == failure.test.as_deref())
            {
                for (group, judged) in left.snapshot.groups.iter().zip(&left.judged) {
                    let site = judged
                        .assessment
                        .leak_site
                        .map(|f| {
                            let frame = report.tables.get_frame(f);
                            format!("{} line {}", report.tables.str(frame.function), frame.line)
                        })
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "             {}",
                        style.dim(&format!(
                            "with {} it started, in {}: {site}",
                            plural(group.count, "goroutine", "goroutines"),
                            judged.assessment.blocking.name()
                        ))
                    )?;
                }
            }
        }
        if report.failures.is_empty() {
            writeln!(
                out,
                "  {}  {}  {}",
                style.red(&format!("{:<7}", "FAIL")),
                style.bold("(package)"),
                report.package
            )?;
        }
    }
    Ok(())
}

fn describe_site(site: &Site, kind: FailureKind) -> String {
    let file = site.file.rsplit('/').next().unwrap_or(&site.file);
    let position = format!("{}  {file}:{}", site.function, site.line);
    match (&site.state, kind) {
        (Some(state), _) => format!("stuck in {state} at {position}"),
        (None, FailureKind::Panicked) => format!("at {position}"),
        (None, _) => format!("in {position}"),
    }
}

fn write_notes(out: &mut dyn Write, reports: &[PackageReport], style: &Style) -> io::Result<()> {
    let mut notes = Vec::new();
    for report in reports {
        if let Some(problem) = report.error.as_ref().or(report.problem.as_ref()) {
            notes.push(format!("{}: {problem}", report.package));
        }
    }
    let (mut not_failing, mut suppressed, mut baselined) = (0u64, Vec::new(), 0u64);
    for report in reports {
        for test in report.tests.iter().filter(|t| t.finished) {
            for judged in &test.judged {
                match judged.outcome {
                    Some(GateOutcome::Suppressed) => {
                        suppressed.push(judged.suppressed_because.clone().unwrap_or_default())
                    }
                    Some(GateOutcome::Baselined) => baselined += 1,
                    Some(GateOutcome::Pass)
                        if matches!(
                            judged.assessment.verdict,
                            Verdict::Suspect | Verdict::Lingering
                        ) =>
                    {
                        not_failing += 1
                    }
                    _ => {}
                }
            }
        }
    }
    if not_failing > 0 {
        notes.push(format!(
            "{} left over that may still end by themselves (lingering) or look stuck without proof (suspect): not failing (--strict fails on suspects; --format json lists them)",
            plural(not_failing, "stack was", "stacks were")
        ));
    }
    suppressed.sort();
    suppressed.dedup();
    for reason in suppressed {
        notes.push(format!("suppressed by .goleash.toml: {reason}"));
    }
    if baselined > 0 {
        notes.push(format!(
            "{} accepted by the baseline",
            plural(baselined, "leaking stack", "leaking stacks")
        ));
    }
    let unjudged: u64 = reports
        .iter()
        .flat_map(|r| &r.unjudged)
        .map(|u| u.count)
        .sum();
    if unjudged > 0 {
        notes.push(format!(
            "{} still running, or not yet started, when their test binary ended: on their way out or never seen blocking, so not judged (--format json lists them)",
            plural(unjudged, "goroutine was", "goroutines were")
        ));
    }
    if notes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for note in notes {
        writeln!(out, "{}", style.dim(&format!("note: {note}")))?;
    }
    Ok(())
}

fn verdict_line(reports: &[PackageReport], summary: &Summary, style: &Style) -> String {
    let packages = plural(reports.len() as u64, "package", "packages");
    if summary.passed() {
        return format!("goleash test: passed: no test leaked goroutines ({packages})");
    }
    let mut parts = Vec::new();
    if !summary.leaking.is_empty() {
        let mut names: Vec<&str> = summary.leaking.iter().map(|(_, t)| t.as_str()).collect();
        let more = names.len().saturating_sub(6);
        names.truncate(6);
        let mut list = names.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        parts.push(format!(
            "{} leaked goroutines ({list})",
            plural(summary.leaking.len() as u64, "test", "tests")
        ));
    }
    if summary.failed > 0 {
        parts.push(format!(
            "{} failed",
            plural(summary.failed, "test", "tests")
        ));
    }
    if summary.unbuilt > 0 {
        parts.push(format!(
            "{} did not build",
            plural(summary.unbuilt, "package", "packages")
        ));
    }
    if !summary.errors.is_empty() {
        parts.push(format!(
            "{} could not be checked",
            plural(summary.errors.len() as u64, "package", "packages")
        ));
    }
    style.red(&format!(
        "goleash test: FAILED: {} ({packages})",
        parts.join("; ")
    ))
}

/// `goleash test --format json`.
#[derive(Serialize)]
pub struct TestDoc {
    schema_version: u32,
    passed: bool,
    strict: bool,
    packages: Vec<PackageJson>,
    failures: Vec<FailureJson>,
    leaks: Vec<LeakJson>,
    unjudged: Vec<UnjudgedJson>,
    warnings: Vec<WarningJson>,
}

#[derive(Serialize)]
struct PackageJson {
    package: String,
    status: &'static str,
    elapsed: Option<f64>,
    evidence: &'static str,
    problem: Option<String>,
    error: Option<String>,
    expected_goroutines: u64,
}

#[derive(Serialize)]
struct FailureJson {
    package: String,
    test: Option<String>,
    kind: &'static str,
    message: Option<String>,
    at: Option<AtJson>,
}

#[derive(Serialize)]
struct AtJson {
    function: String,
    file: String,
    line: u32,
    state: Option<String>,
}

#[derive(Serialize)]
struct LeakJson {
    package: String,
    test: Option<String>,
    test_finished: bool,
    signature: String,
    count: u64,
    state: String,
    blocking: &'static str,
    verdict: &'static str,
    why: String,
    frames: Vec<doc::Frame>,
    leak_site: Option<doc::Site>,
    creator_chain: Vec<LinkJson>,
    ids: Vec<u64>,
    pattern: Option<&'static str>,
    hint: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_conditions: Option<Vec<crate::doc::ExitCondition>>,
    outcome: &'static str,
    suppressed_because: Option<String>,
}

#[derive(Serialize)]
struct LinkJson {
    function: String,
    file: String,
    line: u32,
    goroutine: Option<u64>,
    exited: bool,
    test: Option<String>,
}

#[derive(Serialize)]
struct UnjudgedJson {
    package: String,
    test: Option<String>,
    state: &'static str,
    function: String,
    count: u64,
}

#[derive(Serialize)]
struct WarningJson {
    package: String,
    message: String,
}

/// How a goroutine not judged is said to be: `not started`, `runnable` or `running`.
fn unjudged_state(state: GoState) -> &'static str {
    match state {
        GoState::NotStarted => "not started",
        state => state.name(),
    }
}

/// Builds the JSON document.
pub fn doc(reports: &[PackageReport], summary: &Summary, strict: bool) -> TestDoc {
    let mut doc = TestDoc {
        schema_version: SCHEMA_VERSION,
        passed: summary.passed(),
        strict,
        packages: Vec::new(),
        failures: Vec::new(),
        leaks: Vec::new(),
        unjudged: Vec::new(),
        warnings: Vec::new(),
    };
    for report in reports {
        let tables = &report.tables;
        let mut expected = 0;
        for test in &report.tests {
            for (i, (group, judged)) in test.snapshot.groups.iter().zip(&test.judged).enumerate() {
                let a = &judged.assessment;
                if a.verdict == Verdict::Expected {
                    expected += group.count;
                    continue;
                }
                doc.leaks.push(LeakJson {
                    package: report.package.clone(),
                    test: test.test.clone(),
                    test_finished: test.finished,
                    signature: group.signature.to_string(),
                    count: group.count,
                    state: state_of(report, test, i),
                    blocking: a.blocking.name(),
                    verdict: a.verdict.name(),
                    why: a.why.clone(),
                    frames: doc::Frame::stack(tables, tables.frames(group.stack)),
                    leak_site: doc::Site::of(tables, a),
                    creator_chain: judged
                        .chain
                        .iter()
                        .map(|l| LinkJson {
                            function: l.function.clone(),
                            file: l.file.clone(),
                            line: l.line,
                            goroutine: l.goroutine,
                            exited: l.exited,
                            test: l.test.clone(),
                        })
                        .collect(),
                    ids: group.ids.clone(),
                    pattern: a.pattern.map(|p| p.id),
                    hint: a.hint(),
                    exit_conditions: crate::doc::ExitCondition::all_of(a),
                    outcome: match judged.outcome {
                        None => "unfinished",
                        Some(GateOutcome::Fail) => "fail",
                        Some(GateOutcome::Pass) => "pass",
                        Some(GateOutcome::Suppressed) => "suppressed",
                        Some(GateOutcome::Baselined) => "baselined",
                    },
                    suppressed_because: judged.suppressed_because.clone(),
                });
            }
        }
        doc.packages.push(PackageJson {
            package: report.package.clone(),
            status: report.status.name(),
            elapsed: report.elapsed,
            evidence: report.evidence.name(),
            problem: report.problem.clone(),
            error: report.error.clone(),
            expected_goroutines: expected,
        });
        for failure in &report.failures {
            doc.failures.push(FailureJson {
                package: report.package.clone(),
                test: failure.test.clone(),
                kind: failure.kind.name(),
                message: failure.message.clone(),
                at: failure.at.as_ref().map(|s| AtJson {
                    function: s.function.clone(),
                    file: s.file.clone(),
                    line: s.line,
                    state: s.state.clone(),
                }),
            });
        }
        for u in &report.unjudged {
            doc.unjudged.push(UnjudgedJson {
                package: report.package.clone(),
                test: u.test.clone(),
                state: unjudged_state(u.state),
                function: u.function.clone(),
                count: u.count,
            });
        }
        for w in &report.warnings {
            doc.warnings.push(WarningJson {
                package: report.package.clone(),
                message: w.clone(),
            });
        }
    }
    doc
}
