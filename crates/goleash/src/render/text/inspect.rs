//! The text of `goleash inspect`: each dump with its verdicts summed up, then its groups,
//! problems first and largest first, the ones that are fine in a line each; then the race
//! reports.

use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::model::{CauseKind, Format, Profile, RaceSectionKind};

use super::{
    Paths, TextOptions, group_paths, plural, write_expected_line, write_frame, write_group,
};
use crate::doc::inspect::{InspectDoc, Section};
use crate::doc::{self, Dump};
use crate::render::style::Style;

/// Writes the report of every dump and race of the document.
pub fn write(
    out: &mut dyn Write,
    doc: &InspectDoc,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    for (n, section) in doc.order.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        match *section {
            Section::Dump(index) => write_dump(out, doc, &doc.dumps[index], style, options)?,
            Section::Race(index) => write_race(out, &doc.races[index], style)?,
        }
    }
    super::write_source_note(out, doc.source_note.as_deref(), style)
}

/// The runtime's `PC=0x… m=0 sigcode=0` after `SIGQUIT: quit`: where a thread happened to be
/// when someone asked for the dump, which says nothing to its reader (after a crash signal
/// the same line's `addr=` does, and stays).
fn is_quit_context(cause: &doc::Cause, detail: &str) -> bool {
    cause.kind == CauseKind::Signal
        && cause.message.starts_with("SIGQUIT")
        && detail.starts_with("PC=0x")
}

fn write_race(out: &mut dyn Write, race: &doc::Race, style: &Style) -> io::Result<()> {
    writeln!(out, "{}", style.red(&format!("{}: data race", race.source)))?;
    let paths = Paths::new(
        race.sections
            .iter()
            .flat_map(|s| s.frames.iter().map(|f| (f.file.as_str(), f.origin))),
    );
    for section in &race.sections {
        let marker = match section.kind {
            RaceSectionKind::Access { .. } => style.bold(&section.title),
            _ => section.title.clone(),
        };
        writeln!(out, "  {marker}")?;
        for frame in &section.frames {
            write_frame(out, frame, &paths, style, "    ")?;
        }
    }
    Ok(())
}

fn describe(dump: &Dump) -> String {
    let cause = &dump.cause;
    match (dump.format, dump.profile) {
        (Format::Debug1, Profile::Goroutine) => "goroutine profile (debug=1)".into(),
        (Format::Proto, Profile::Goroutine) => "goroutine profile (debug=0)".into(),
        (Format::Debug1, Profile::GoroutineLeak) => {
            "goroutineleak profile (debug=1): only goroutines the runtime proved leaked".into()
        }
        (Format::Proto, Profile::GoroutineLeak) => {
            "goroutineleak profile (debug=0): only goroutines the runtime proved leaked".into()
        }
        (Format::Traceback, _) => match cause.kind {
            CauseKind::Dump => "goroutine dump".into(),
            CauseKind::Panic => format!("panic: {}", cause.message),
            CauseKind::TestTimeout => format!("go test timeout: {}", cause.message),
            CauseKind::Fatal => format!("fatal error: {}", cause.message),
            CauseKind::Signal => cause.message.clone(),
            CauseKind::Goleak => "goleak: found unexpected goroutines".into(),
        },
    }
}

fn write_dump(
    out: &mut dyn Write,
    doc: &InspectDoc,
    dump: &Dump,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let groups: Vec<&doc::Group> = doc.groups_of(dump.index).collect();
    writeln!(
        out,
        "{}: {} · {} in {}",
        style.bold(&dump.source),
        describe(dump),
        style.bold(&plural(dump.goroutines, "goroutine", "goroutines")),
        plural(groups.len() as u64, "group", "groups"),
    )?;
    if !dump.cause.running_tests.is_empty() {
        writeln!(
            out,
            "  running tests: {}",
            dump.cause.running_tests.join(", ")
        )?;
    }
    for detail in dump
        .cause
        .details
        .iter()
        .filter(|d| !is_quit_context(&dump.cause, d))
    {
        writeln!(out, "  {detail}")?;
    }
    if dump.truncated {
        writeln!(
            out,
            "  {}",
            style.yellow(
                "the dump is cut short: the last goroutine is incomplete and some may be missing"
            )
        )?;
    }
    writeln!(out, "  {}", verdict_summary(&groups, style))?;
    let paths = group_paths(out, groups.iter().copied(), style)?;
    // Problems first, then by size; the groups that are fine come last.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| (groups[i].verdict, std::cmp::Reverse(groups[i].count), i));
    let mut expected_header = false;
    for i in order {
        let group = groups[i];
        if group.reported_with.is_some() {
            continue;
        }
        if group.verdict == Verdict::Expected && !options.all {
            if !expected_header {
                writeln!(out)?;
                writeln!(
                    out,
                    "  {}",
                    style.dim("long-lived by design (-v shows their stacks):")
                )?;
                expected_header = true;
            }
            write_expected_line(out, group, style)?;
            continue;
        }
        writeln!(out)?;
        write_group(out, group, None, &paths, style, options)?;
    }
    Ok(())
}

/// `2 leaks (250 goroutines) · 1 suspect (3) · 8 expected (21)`.
fn verdict_summary(groups: &[&doc::Group], style: &Style) -> String {
    let mut parts = Vec::new();
    for verdict in [
        Verdict::Leak,
        Verdict::Suspect,
        Verdict::Lingering,
        Verdict::Expected,
    ] {
        let (n, goroutines) = groups
            .iter()
            .filter(|g| g.verdict == verdict)
            .fold((0u64, 0u64), |(n, total), g| {
                (n + u64::from(g.reported_with.is_none()), total + g.count)
            });
        if n == 0 {
            continue;
        }
        let word = match (verdict, n) {
            (Verdict::Leak, 1) => "leak".to_string(),
            (Verdict::Leak, _) => "leaks".to_string(),
            (Verdict::Suspect, 1) => "suspect".to_string(),
            (Verdict::Suspect, _) => "suspects".to_string(),
            (v, _) => v.name().to_string(),
        };
        let text = format!(
            "{n} {word} ({})",
            plural(goroutines, "goroutine", "goroutines")
        );
        parts.push(match verdict {
            Verdict::Leak => style.red(&text),
            Verdict::Suspect => style.yellow(&text),
            _ => text,
        });
    }
    if parts.is_empty() {
        "no goroutines".into()
    } else {
        parts.join(" · ")
    }
}
