//! The text of `goleash test`: per leaking test, its leftover goroutines grouped by stack,
//! then the tests that failed, then one line saying whether the run passed. The leaking
//! test's name comes first in each block; the line of the program's own code and the fix
//! follow, as `goleash check` shows them.

use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::code::origin_of;
use goleash_core::exits::PeerRole;
use goleash_core::trace::FailureKind;

use super::{
    INDENT, Paths, TextOptions, plural, thousands, verdict_label, wrap, write_exits, write_hint,
    write_stack,
};
use crate::doc::test::{At, Leftover, Link, NO_TEST, Place, Stuck, TestDoc};
use crate::gate::GateOutcome;
use crate::render::style::Style;

/// The groups one test left, as the text shows them together.
struct Test<'a> {
    groups: Vec<&'a Leftover>,
}

impl<'a> Test<'a> {
    fn name(&self) -> &'a str {
        self.groups[0].test_name()
    }

    fn failing(&self) -> impl Iterator<Item = &'a Leftover> + '_ {
        self.groups.iter().copied().filter(|g| g.fails())
    }

    /// The groups judged at the end of the test (it ended).
    fn judged(&self) -> impl Iterator<Item = &'a Leftover> + '_ {
        self.groups.iter().copied().filter(|g| g.test_finished)
    }

    /// How many goroutines it leaked (its failing groups).
    fn leaked(&self) -> u64 {
        self.failing().map(|g| g.count).sum()
    }
}

/// The groups of `package`, one entry per test (and whether it finished), in order.
fn tests_of<'a>(doc: &'a TestDoc, package: &str) -> Vec<Test<'a>> {
    let mut tests: Vec<Test<'a>> = Vec::new();
    for group in doc.groups.iter().filter(|g| g.package == package) {
        match tests.last_mut() {
            Some(last)
                if last.groups[0].test == group.test
                    && last.groups[0].test_finished == group.test_finished =>
            {
                last.groups.push(group);
            }
            _ => tests.push(Test {
                groups: vec![group],
            }),
        }
    }
    tests
}

/// Writes the text report; with `options.all`, every group a test left (not only the
/// failing ones) and the goroutines not judged.
pub fn write(
    out: &mut dyn Write,
    doc: &TestDoc,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    for package in &doc.packages {
        let tests = tests_of(doc, &package.package);
        let leaking: Vec<&Test<'_>> = tests.iter().filter(|t| t.leaked() > 0).collect();
        // Subtests of a table often leak the same way: one block, every test named.
        let mut shown = vec![false; leaking.len()];
        for (i, test) in leaking.iter().enumerate() {
            if shown[i] {
                continue;
            }
            let key: Vec<_> = test.failing().map(|g| g.signature).collect();
            let mut same = Vec::new();
            for j in i + 1..leaking.len() {
                let other: Vec<_> = leaking[j].failing().map(|g| g.signature).collect();
                if !shown[j] && other == key {
                    shown[j] = true;
                    same.push((leaking[j].name(), leaking[j].leaked()));
                }
            }
            writeln!(out)?;
            write_test(out, &package.package, test, &same, style, options.all)?;
        }
        if options.all {
            for test in tests.iter().filter(|t| t.leaked() == 0) {
                let left: u64 = test.judged().map(|g| g.count).sum();
                if left == 0 {
                    continue;
                }
                writeln!(out)?;
                writeln!(
                    out,
                    "{}  {}  {}",
                    style.bold(test.name()),
                    package.package,
                    style.dim(&format!(
                        "· left {}, none failing",
                        plural(left, "goroutine", "goroutines")
                    )),
                )?;
                let paths = Paths::of_groups(test.judged().map(|g| &g.shown));
                for group in test.judged() {
                    write_group(out, group, &paths, style)?;
                }
            }
        }
    }
    write_failures(out, doc, style)?;
    if options.all {
        write_unjudged(out, doc, style)?;
    }
    write_notes(out, doc, style, options.all)?;
    writeln!(out)?;
    writeln!(out, "{}", verdict_line(doc, style))
}

/// One leaking test in full; `same` are the other tests that leaked the same stacks.
fn write_test(
    out: &mut dyn Write,
    package: &str,
    test: &Test<'_>,
    same: &[(&str, u64)],
    style: &Style,
    all: bool,
) -> io::Result<()> {
    let goroutines = test.leaked();
    // Over all its runs (-count=N): in how many it leaked at all.
    let mut leaked_in: Vec<u32> = test
        .failing()
        .flat_map(|g| g.leaked_in_runs.iter().copied())
        .collect();
    leaked_in.sort_unstable();
    leaked_in.dedup();
    let runs = test.failing().map(|g| g.runs).max().unwrap_or(1);
    let in_runs = crate::doc::test::in_runs("", &leaked_in, runs)
        .map(|r| format!(",{r}"))
        .unwrap_or_default();
    writeln!(
        out,
        "{}  {}  {}",
        style.red(test.name()),
        package,
        style.dim(&format!(
            "· leaked {}{in_runs}",
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
    let shown: Vec<&Leftover> = if all {
        test.judged().collect()
    } else {
        test.failing().collect()
    };
    let paths = Paths::of_groups(shown.iter().map(|g| &g.shown));
    for group in shown {
        write_group(out, group, &paths, style)?;
    }
    Ok(())
}

/// The goroutines alive at the end whose fate the trace does not tell, one line each.
fn write_unjudged(out: &mut dyn Write, doc: &TestDoc, style: &Style) -> io::Result<()> {
    if doc.unjudged.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("not judged:"))?;
    for u in &doc.unjudged {
        writeln!(
            out,
            "  {:>7} ×  {:<12} {}  {}",
            thousands(u.count),
            u.state,
            u.function,
            style.dim(&format!(
                "{} ({})",
                u.test.as_deref().unwrap_or(NO_TEST),
                u.package
            )),
        )?;
    }
    Ok(())
}

fn write_group(
    out: &mut dyn Write,
    group: &Leftover,
    paths: &Paths,
    style: &Style,
) -> io::Result<()> {
    writeln!(
        out,
        "  {}{}  {}",
        verdict_label(group.verdict, style),
        style.bold(&format!("{:>7} ×", thousands(group.count))),
        style.yellow(&group.state),
    )?;
    writeln!(out, "{INDENT}{}", style.dim(&group.why))?;
    if let Some(runs) = group.in_runs() {
        writeln!(out, "{INDENT}{}", style.dim(&runs))?;
    }
    write_stack(out, &group.shown, paths, style, INDENT, false)?;
    write_exits(
        out,
        group.shown.source_mismatch.as_deref(),
        group.shown.exit_conditions.as_deref(),
        style,
        INDENT,
    )?;
    let creator = group.shown.created_by.as_ref();
    for (n, link) in group.creator_chain.iter().enumerate() {
        let lead = if n == 0 {
            "created by"
        } else {
            "← created by"
        };
        // The first link is the group's `created by` frame, whose file the paths know.
        let position = match (n, creator) {
            (0, Some(c)) => paths.position(&c.file, c.line, c.origin),
            _ => {
                let origin = origin_of(link.function.as_bytes(), link.file.as_bytes());
                format!("{}:{}", paths.shorten(&link.file, origin), link.line)
            }
        };
        writeln!(
            out,
            "{INDENT}{lead} {}{}  {}",
            link.function,
            describe_creator(link),
            style.dim(&position)
        )?;
    }
    if group.creator_chain.is_empty()
        && let Some(c) = creator
    {
        writeln!(
            out,
            "{INDENT}created by {}  {}",
            c.function,
            style.dim(&paths.position(&c.file, c.line, c.origin))
        )?;
    }
    write_hint(out, group.hint.as_deref(), style, INDENT)
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

fn write_failures(out: &mut dyn Write, doc: &TestDoc, style: &Style) -> io::Result<()> {
    let failed: Vec<_> = doc
        .packages
        .iter()
        .filter(|p| {
            doc.failures.iter().any(|f| f.package == p.package)
                || (p.status.failed() && p.error.is_none())
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("failed:"))?;
    for package in failed {
        let failures: Vec<_> = doc
            .failures
            .iter()
            .filter(|f| f.package == package.package)
            .collect();
        for failure in &failures {
            let label = match failure.kind {
                FailureKind::Failed => "FAIL",
                FailureKind::Panicked => "PANIC",
                FailureKind::TimedOut => "TIMEOUT",
                FailureKind::Deadlocked => "DEADLOCK",
                FailureKind::Interrupted => "CUT OFF",
                FailureKind::BuildFailed => "BUILD",
            };
            let test = failure.test.as_deref().unwrap_or("(package)");
            let message = match (&failure.message, failure.kind) {
                // A summary line: the failing check, the whole log is above.
                (Some(m), _) => {
                    let line = failure.headline().unwrap_or_default();
                    let more = if m.lines().nth(1).is_some() {
                        " …"
                    } else {
                        ""
                    };
                    format!(": {line}{more}")
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
                package.package,
            )?;
            if let Some(runs) = failure.in_runs() {
                writeln!(out, "             {runs}")?;
            }
            if let Some(at) = &failure.at {
                writeln!(out, "             {}", describe_at(at, failure.kind))?;
            }
            if let Some(stuck) = &failure.stuck {
                writeln!(
                    out,
                    "  {}{}",
                    verdict_label(stuck.verdict, style),
                    style.dim(&stuck.why)
                )?;
                let paths = Paths::of_groups(std::iter::once(&stuck.shown));
                write_stack(out, &stuck.shown, &paths, style, INDENT, false)?;
                write_exits(
                    out,
                    stuck.shown.source_mismatch.as_deref(),
                    stuck.shown.exit_conditions.as_deref(),
                    style,
                    INDENT,
                )?;
                write_waits(out, stuck, style)?;
            }
            // What a test that never ended had started: context, not judged.
            for group in doc.groups.iter().filter(|g| {
                g.package == package.package
                    && !g.test_finished
                    && g.test.as_deref() == failure.test.as_deref()
            }) {
                let site = group
                    .leak_site
                    .as_ref()
                    .map(|s| format!("{} line {}", s.function, s.line))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "             {}",
                    style.dim(&format!(
                        "with {} it started, in {}: {site}",
                        plural(group.count, "goroutine", "goroutines"),
                        group.blocking.name()
                    ))
                )?;
            }
        }
        if failures.is_empty() {
            writeln!(
                out,
                "  {}  {}  {}",
                style.red(&format!("{:<7}", "FAIL")),
                style.bold("(package)"),
                package.package
            )?;
        }
    }
    Ok(())
}

/// `pkg.(*T).m` as `(*T).m`: the file names the package.
fn short_function(function: &str) -> &str {
    let tail = function.rsplit('/').next().unwrap_or(function);
    tail.split_once('.').map_or(tail, |(_, f)| f)
}

/// What a stuck test waits on, who could end it and where they are; then the ring of
/// goroutines waiting on each other, when there is one.
fn write_waits(out: &mut dyn Write, stuck: &Stuck, style: &Style) -> io::Result<()> {
    let place = |p: &Place| format!("{}, {}:{}", short_function(&p.function), p.file, p.line);
    let who = |goroutine: u64, test_goroutine_of: &Option<String>, created: &Option<Place>| match (
        test_goroutine_of,
        created,
    ) {
        (Some(test), _) => format!("{test}'s own goroutine"),
        (None, Some(c)) => format!("goroutine {goroutine} (created at {}:{})", c.file, c.line),
        (None, None) => format!("goroutine {goroutine}"),
    };
    if !stuck.waits_on.is_empty() {
        writeln!(out, "{INDENT}{}", style.bold("waits on"))?;
    }
    for wait in &stuck.waits_on {
        let file = wait.file.rsplit('/').next().unwrap_or(&wait.file);
        for peer in &wait.peers {
            let function = short_function(&peer.function);
            let at = format!("`{}` ({function}, {}:{})", peer.code, peer.file, peer.line);
            let (ends, there) = match peer.role {
                PeerRole::Holds => (
                    format!("ends when whoever is past {at} unlocks"),
                    "inside it",
                ),
                _ => (format!("ends when {at} runs"), "in it"),
            };
            let text = format!("`{}` ({file}:{}) {ends}", wait.code, wait.line);
            if peer.goroutines.is_empty() {
                writeln!(
                    out,
                    "{INDENT}  {}",
                    style.dim(&format!(
                        "{text}: no goroutine was {there} (it had returned, or never started)"
                    ))
                )?;
                continue;
            }
            let text = format!("{text}; {there}:");
            writeln!(out, "{INDENT}  {text}")?;
            for g in &peer.goroutines {
                let more = if g.count > 1 {
                    format!(" and {} more like it", g.count - 1)
                } else {
                    String::new()
                };
                let r#where =
                    g.at.as_ref()
                        .map(|p| format!(" at {}", place(p)))
                        .unwrap_or_default();
                let waits = g
                    .waits_in
                    .as_ref()
                    .map(|w| format!(": `{w}`"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{INDENT}    {}{more}, in {}{where}{waits}",
                    who(g.goroutine, &g.test_goroutine_of, &g.created_at),
                    g.state,
                )?;
            }
        }
    }
    let Some(ring) = stuck.ring() else {
        return Ok(());
    };
    let text = format!("deadlock: {ring}");
    for (n, line) in wrap(&text, 96).iter().enumerate() {
        let lead = if n == 0 { "" } else { "  " };
        writeln!(out, "{INDENT}{lead}{}", style.red(line))?;
    }
    Ok(())
}

fn describe_at(at: &At, kind: FailureKind) -> String {
    let file = at.file.rsplit('/').next().unwrap_or(&at.file);
    let position = format!("{}  {file}:{}", at.function, at.line);
    match (&at.state, kind) {
        (Some(state), _) => format!("stuck in {state} at {position}"),
        (None, FailureKind::Panicked) => format!("at {position}"),
        (None, _) => format!("in {position}"),
    }
}

fn write_notes(out: &mut dyn Write, doc: &TestDoc, style: &Style, all: bool) -> io::Result<()> {
    let mut notes = Vec::new();
    for package in &doc.packages {
        if let Some(problem) = package.error.as_ref().or(package.problem.as_ref()) {
            notes.push(format!("{}: {problem}", package.package));
        }
    }
    let (mut not_failing, mut suppressed, mut baselined) = (0u64, Vec::new(), 0u64);
    for group in doc.groups.iter().filter(|g| g.test_finished) {
        match group.outcome {
            Some(GateOutcome::Suppressed) => {
                suppressed.push(group.suppressed_because.clone().unwrap_or_default())
            }
            Some(GateOutcome::Baselined) => baselined += 1,
            Some(GateOutcome::Pass)
                if matches!(group.verdict, Verdict::Suspect | Verdict::Lingering) =>
            {
                not_failing += 1
            }
            _ => {}
        }
    }
    if not_failing > 0 {
        let (they, end, look, them) = if not_failing == 1 {
            ("stack was", "itself", "looks", "it")
        } else {
            ("stacks were", "themselves", "look", "them")
        };
        let listed = if all {
            "listed above".to_string()
        } else {
            format!("-v lists {them}")
        };
        notes.push(format!(
            "{} {they} left over that may still end by {end} (lingering) or {look} stuck without proof (suspect): not failing (--strict fails on suspects; {listed})",
            thousands(not_failing),
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
    let unjudged: u64 = doc.unjudged.iter().map(|u| u.count).sum();
    if unjudged > 0 {
        let settled = doc
            .settle_ms
            .map(|ms| format!(" (after up to {ms} ms to settle)"))
            .unwrap_or_default();
        let listed: Vec<String> = if all {
            Vec::new()
        } else {
            doc.unjudged
                .iter()
                .map(|u| {
                    let at = u
                        .frames
                        .iter()
                        .find(|f| !f.function.starts_with("runtime."))
                        .map(|f| {
                            let file = f.file.rsplit('/').next().unwrap_or(&f.file);
                            format!(" at {file}:{}", f.line)
                        })
                        .unwrap_or_default();
                    // Not a finding: the tests are not named here (-v shows them in full).
                    format!(
                        "\n  {} {} in {}{at}",
                        thousands(u.count),
                        u.state,
                        u.function
                    )
                })
                .collect()
        };
        let (their, them, stacks) = if unjudged == 1 {
            ("its", "it", "stack")
        } else {
            ("their", "them", "stacks")
        };
        let shown = if all {
            " (listed above)".to_string()
        } else {
            format!(" (-v lists {them} with {their} {stacks}):")
        };
        notes.push(format!(
            "{} still running, or not yet started, when the tests ended{settled}: on {their} way out or never seen blocking, so not judged{shown}{}",
            plural(unjudged, "goroutine was", "goroutines were"),
            listed.concat()
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

fn verdict_line(doc: &TestDoc, style: &Style) -> String {
    let summary = &doc.summary;
    let packages = plural(doc.packages.len() as u64, "package", "packages");
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
